"""Lifecycle under fire: rings created, fed by live native producers and
closed or collected while the producers keep calling; processes that exit
while native threads still call a callback; fork() with live rings.

Every call is accounted for: while a Ring lives its stats count each call
once in pushed, dropped or late; once it is collected, _core._orphaned_calls()
holds its final pushed and dropped and every late call made to its address
since.  Scenarios that end a process run in a subprocess with a timeout, so
a hang fails the test instead of stalling the suite."""

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import cbring
from cbring import _core, _testing

POLICIES = ["spill", "drop", "block"]
SRC = os.path.dirname(os.path.dirname(cbring.__file__))
RINGS = int(os.environ.get("CBRING_LIFECYCLE_RINGS", 10_000))
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"),
                                reason="no fork() on this platform (Windows spawns processes)")


def run_script(body, timeout=120):
    """Runs body in a fresh interpreter; a hang is a failure, not a stall."""
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONFAULTHANDLER="1")
    try:
        return subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c",
                               textwrap.dedent(body)],
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the process hung for {timeout}s; its output:\n{e.stdout}\n{e.stderr}")


def test_ten_thousand_rings_closed_or_collected_under_fire_count_every_call():
    """RINGS rings, each fed by two native threads, a batch of them alive at
    once; each is closed (at once, or once its producers are well under way)
    or dropped unclosed while its producers keep calling.  A closed ring's
    pushed and dropped are final when close() returns; in all, every call
    is counted exactly once."""
    gc.collect()
    before = _core._orphaned_calls()
    calls = closed_while_calling = collected_while_calling = 0
    batch = []

    def settle():
        nonlocal calls
        for ring, producers, at_close, hold in batch:
            producers.join()
            if hold is not None:
                hold.close()
            calls += producers.total
            if at_close is not None:
                s = ring.stats
                assert (s.pushed, s.dropped) == (at_close.pushed, at_close.dropped), \
                    f"{ring!r}: pushed or dropped moved after close(): {at_close} -> {s}"
                assert s.pushed + s.dropped + s.late == producers.total
                assert s.drained + len(ring.drain()) == s.pushed
        batch.clear()

    for i in range(RINGS):
        policy = POLICIES[i % 3]
        ring = cbring.Ring(256, policy, block_timeout=0)
        # Every twelfth ring closed under way, and every twelfth collected under
        # way, has a producer held at its 300th call until the ring has gone:
        # those certainly go while their producers call (8 holds a batch of 48).
        hold = _testing.Hold(ring.status_callback, at=300) if i % 12 in (3, 9) else None
        callback = ring.status_callback if hold is None else hold.callback
        producers = _testing.Producers(callback, threads=2, events=1200).start()
        mode = (i // 3) % 4
        if mode in (1, 3):
            # under way: the ring has filled (capacity 256) and seen a few more calls
            while ring.stats.pushed + ring.stats.dropped < 264 and not producers.finished():
                pass
        if i % 5 == 0:
            ring.drain(100)
        if hold is not None:
            while not hold.held:
                pass
        if mode < 2:
            ring.close()
            closed_while_calling += not producers.finished()
            batch.append((ring, producers, ring.stats, hold))
        else:
            del ring
            collected_while_calling += not producers.finished()
            batch.append((None, producers, None, hold))
        if hold is not None:
            hold.release()
        if len(batch) == 48:
            settle()
    settle()
    ring = None  # the last one closed, if it was: let it go too
    gc.collect()
    after = _core._orphaned_calls()
    pushed, dropped, late = (a - b for a, b in zip(after, before))
    assert pushed + dropped + late == calls, f"{calls} calls, {pushed} + {dropped} + {late} counted"
    assert pushed > 0 and dropped > 0 and late > 0
    # many rings went while their producers were still calling (the held ones at least)
    assert closed_while_calling >= RINGS // 12 and collected_while_calling >= RINGS // 12


def test_closing_a_ring_from_another_thread_while_it_waits_and_producers_call():
    import threading

    for policy in POLICIES:
        ring = cbring.Ring(64, policy, block_timeout=0)
        # one producer is held at the 20,000th call until the ring has closed,
        # so it is certainly still calling then
        hold = _testing.Hold(ring.status_callback, at=20_000)
        producers = _testing.Producers(hold.callback, threads=2, events=60_000,
                                       rate=60_000).start()
        drained = 0

        def consume():
            nonlocal drained
            while ring.wait(10):
                drained += len(ring.drain())
            drained += len(ring.drain())

        consumer = threading.Thread(target=consume)
        consumer.start()
        while not hold.held:
            pass
        ring.close()
        hold.release()
        consumer.join()
        producers.join()
        hold.close()
        s = ring.stats
        assert drained == s.pushed == s.drained
        assert s.pushed + s.dropped + s.late == producers.total
        assert s.late > 0


EXIT_SETUP = """
    import ctypes, gc, sys, threading
    import cbring
    from cbring import _testing

    def leak(obj):
        # WinINet's threads are not ours to join: never collect their stand-in
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
        return obj

    def calling(ring, **kw):
        p = leak(_testing.Producers(ring.status_callback, threads=2, events=10**12, **kw)).start()
        while ring.stats.pushed + ring.stats.dropped + ring.stats.late < 1024:
            pass
        return p

    def consume(ring):
        while True:
            ring.wait()
            ring.drain()

    # drained by a daemon thread until the interpreter stops it (the rate keeps
    # the spill list small for the moment nobody drains)
    spilling = cbring.Ring(1 << 12)
    threading.Thread(target=consume, args=(spilling,), daemon=True).start()
    live = cbring.Ring(64, "drop")              # open at exit, collected by finalization
    closed = cbring.Ring(64, "drop"); closed.close()
    collected = cbring.Ring(64, "block", block_timeout=0)
    producers = [calling(spilling, rate=100_000), calling(live), calling(closed), calling(collected)]
    del collected; gc.collect()
    waiter_ring = cbring.Ring(64)
    waiter = threading.Thread(target=waiter_ring.wait, daemon=True)  # blocks without the GIL
    waiter.start()
    assert not any(p.finished() for p in producers)
    print("calling", flush=True)
"""


@pytest.mark.parametrize("ending, code", [
    ("pass", 0),
    ("sys.exit(7)", 7),
    ("t = threading.Thread(target=sys.exit, args=(3,)); t.start(); t.join(); sys.exit(5)", 5),
    ("raise RuntimeError('unhandled, on purpose')", 1),
    ("t = threading.Thread(target=lambda: 1 / 0); t.start(); t.join()", 0),
], ids=["normal", "sys.exit", "sys.exit-from-thread", "unhandled-exception", "exception-in-thread"])
def test_process_exits_cleanly_while_native_threads_call(ending, code):
    """The interpreter finalizes (collecting an open ring, with one daemon
    thread blocked in wait() and another draining) and the process exits
    while eight native threads still call four rings' callbacks: no hang, no
    crash, the expected code."""
    result = run_script(textwrap.dedent(EXIT_SETUP) + ending + "\n", timeout=60)
    assert "calling" in result.stdout, result.stderr
    assert result.returncode == code, f"exit code {result.returncode}\n{result.stderr}"
    assert "Fatal Python error" not in result.stderr and "Segmentation" not in result.stderr
    if code == 1:
        assert "RuntimeError: unhandled, on purpose" in result.stderr


FORK_SCRIPT = """
    import os, select, sys, threading
    import cbring
    from cbring import _testing

    ring = cbring.Ring(64)
    fd = ring.fileno()
    producers = _testing.Producers(ring.status_callback, threads=2, events=120_000).start()
    while producers.done < 4096:
        pass
    # a consumer thread holds the consumer lock, inside wait(), at the fork
    waiting = threading.Thread(target=ring.wait, args=(1.0,))
    waiting.start()

    pid = os.fork()
    if pid == 0:
        failures = []
        def expect_error(name, call):
            try:
                call()
            except RuntimeError as e:
                if "fork()" not in str(e):
                    failures.append(f"{name}: {e}")
            else:
                failures.append(f"{name} did not raise")
        expect_error("drain", ring.drain)
        expect_error("drain_into", lambda: ring.drain_into(bytearray(640)))
        expect_error("wait", lambda: ring.wait(0))
        expect_error("fileno", ring.fileno)
        expect_error("Producers.join", producers.join)
        if not ring.closed:
            failures.append("the inherited ring is open")
        ring.close()   # allowed: it is closed already
        _testing.call_status(ring.status_callback, 1, 2, 100, None)
        fresh = cbring.Ring(16)
        for i in range(40):
            _testing.call_status(fresh.status_callback, i, i, 31, (i).to_bytes(4, "little"))
        got = [e.context for e in fresh.drain()]
        if got != list(range(40)) or fresh.stats.spilled != 24:
            failures.append(f"a fresh ring in the child: {got}, {fresh.stats}")
        with _testing.Producers(fresh.status_callback, threads=2, events=600):
            pass
        if fresh.stats.pushed != 1240:
            failures.append(f"native producers in the child: {fresh.stats}")
        print("\\n".join(failures), file=sys.stderr, flush=True)
        sys.exit(1 if failures else 0)  # a normal exit: collects the inherited ring

    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    waiting.join()
    # the parent's ring and descriptor are untouched: drain every record to the end
    drained = 0
    while not producers.finished() or drained < ring.stats.pushed:
        select.select([fd], [], [], 5.0)
        drained += len(ring.drain())
    producers.join()
    ring.close()
    drained += len(ring.drain())
    s = ring.stats
    assert drained == s.pushed == s.drained == producers.total, (drained, s)
    print("ok", flush=True)
"""


@needs_fork
def test_fork_with_a_live_ring_gives_the_child_a_clear_error_and_the_parent_keeps_working():
    result = run_script(FORK_SCRIPT)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


@needs_fork
def test_fork_while_producers_are_mid_push_never_deadlocks_the_child():
    """Producers of the parent hold claimed, unwritten positions at the fork
    (capacity 64, spilling: most pushes are mid-malloc); the child closes the
    inherited rings and exits normally, collecting them, without waiting for
    threads it does not have."""
    result = run_script("""
        import os, sys
        import cbring
        from cbring import _testing
        for i in range(30):
            rings = [cbring.Ring(64, p, block_timeout=0) for p in ("spill", "drop", "block")]
            producers = [_testing.Producers(r.status_callback, threads=2, events=60_000).start()
                         for r in rings]
            while sum(p.done for p in producers) < 8192:
                pass
            pid = os.fork()
            if pid == 0:
                for r in rings:
                    r.close()
                    assert r.closed
                sys.exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
            for r, p in zip(rings, producers):
                r.close()
                p.join()
                s = r.stats
                assert s.pushed + s.dropped + s.late == p.total, s
        print("ok", flush=True)
    """)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


@needs_fork
def test_producers_in_a_fork_child_refuse_to_join_threads_the_child_does_not_have():
    result = run_script("""
        import os, sys
        import cbring
        from cbring import _testing
        ring = cbring.Ring(1 << 12, "drop")
        producers = _testing.Producers(ring.status_callback, threads=2, events=10**7).start()
        pid = os.fork()
        if pid == 0:
            try:
                producers.join()
            except RuntimeError as e:
                assert "fork() child" in str(e), e
            else:
                sys.exit(2)
            sys.exit(0)  # a normal exit collects producers, which must not join either
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        ring.close()
        producers.join()
        print("ok", flush=True)
    """)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


@needs_fork
def test_fork_waits_for_the_wait_slices_in_progress_not_for_each_ring_in_turn():
    """Eight threads loop in wait() on eight idle rings.  A fork takes every
    consumer lock; the waiters stop taking theirs again meanwhile, so a fork
    costs about one 100 ms slice, not one slice per ring (and not a race it
    may keep losing to a waiter that takes its lock back at once)."""
    result = run_script("""
        import os, statistics, threading, time
        import cbring
        rings = [cbring.Ring(16) for _ in range(8)]
        stop = False
        def loop(ring):
            while not stop:
                ring.wait()
        threads = [threading.Thread(target=loop, args=(r,)) for r in rings]
        for t in threads:
            t.start()
        took = []
        for _ in range(5):
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            took.append(time.perf_counter() - start)
            os.waitpid(pid, 0)
        stop = True
        for r in rings:
            r.close()   # wait() returns False at once on a closed, empty ring
        for t in threads:
            t.join()
        print(statistics.median(took), max(took), flush=True)
    """)
    assert result.returncode == 0, result.stderr
    median, longest = map(float, result.stdout.split())
    assert median < 0.4, f"a fork took {median:.3f} s (median of 5), {longest:.3f} s at most"


def until(condition, what, timeout=60.0):
    """Polls a condition that a forced interleaving makes certain; the
    timeout only turns a broken pause point into a failure instead of a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.0005)


def call(address, context=0):
    _testing.call_status(address, 1, context, 31, (context & 0xFFFFFFFF).to_bytes(4, "little"))


@pytest.fixture
def pauses():
    """The pause points of _core's ring code, disarmed and every pause released at the end."""
    yield
    _core._pause_disarm()
    _core._count_backoffs(False)
    while _core._pause_resume():
        pass


def test_drain_during_a_concurrent_close_waits_for_it_instead_of_sizing_from_the_half_closed_tail(
        pauses):
    # close() is held between closing tail and storing end, the window in
    # which the claimed count reads as ~2**64; a drain() meanwhile once
    # raised MemoryError on this empty ring.
    ring = cbring.Ring(8)
    reached = _core._pauses_reached()
    _core._pause_arm(ring, "close-after-tail")
    closer = threading.Thread(target=ring.close)
    closer.start()
    until(lambda: _core._pauses_reached() > reached, "close() to close the tail")
    assert not _core._pause_held_gil()
    waits = _core._consumer_lock_waits()
    got = []

    def drain():
        try:
            got.append(len(ring.drain()))
        except BaseException as e:  # handed to the main thread
            got.append(e)

    drainer = threading.Thread(target=drain)
    drainer.start()
    until(lambda: got or _core._consumer_lock_waits() > waits, "drain() to queue behind close()")
    _core._pause_resume()
    closer.join()
    drainer.join()
    assert got == [0]
    assert ring.closed and ring.stats.late == 0


def test_a_decider_that_spans_the_reuse_of_its_ring_struct_leaves_the_next_close_waiting_for_deciders(
        pauses):
    # A "drop" producer found the first Ring full; it counts itself as
    # deciding only after that Ring's close() has looked (so close() did not
    # wait for it), and finishes on the second Ring to own the address.  Its
    # decrement must meet its own increment: a reset in between left the
    # count at -1, and the second Ring's close() then returned while a
    # producer was still deciding, so a drop could be counted after it.
    first = cbring.Ring(2, "drop")
    address = first.status_callback
    call(address, 1)
    call(address, 2)
    reached = _core._pauses_reached()
    _core._pause_arm(first, "decider-before-count")
    decider = threading.Thread(target=call, args=(address, 3))
    decider.start()
    until(lambda: _core._pauses_reached() == reached + 1, "the producer to find the ring full")
    first.close()
    del first
    gc.collect()
    _core._pause_arm(address, "decider-after-count")
    _core._pause_resume()
    until(lambda: _core._pauses_reached() == reached + 2, "the producer to count itself deciding")
    for _ in range(2 * cbring.MAX_RINGS):
        second = cbring.Ring(2, "drop")
        if second.status_callback == address:
            break
        second.close()
        del second
    else:
        pytest.fail("the address never came back")
    _core._pause_resume()
    decider.join()   # it found the second ring with room: one record pushed there
    assert second.stats.pushed == 1

    call(address, 4)   # full again
    _core._pause_arm(second, "decider-after-count")
    late_decider = threading.Thread(target=call, args=(address, 5))
    late_decider.start()
    until(lambda: _core._pauses_reached() == reached + 3, "a producer to decide on the second ring")
    spins = _core._count_backoffs(True)
    closer = threading.Thread(target=second.close)
    closer.start()
    until(lambda: not closer.is_alive() or _core._count_backoffs(True) > spins,
          "close() to return or to wait for the deciding producer")
    returned_while_deciding = not closer.is_alive()
    _core._count_backoffs(False)
    _core._pause_resume()
    late_decider.join()
    closer.join()
    assert not returned_while_deciding, "close() returned while a producer was still deciding"
    s = second.stats
    assert (s.pushed, s.dropped, s.late) == (2, 0, 1)   # the decider saw the close: late
    assert [e.context for e in second.drain()] == [3, 4]
    second.close()


def test_collecting_a_ring_closes_and_frees_it_without_holding_the_gil(pauses):
    box = [cbring.Ring(8, "spill")]
    for i in range(20):            # 8 in the ring, 12 spilled: both are freed
        call(box[0].status_callback, i)
    gc.collect()
    before = _core._orphaned_calls()
    reached = _core._pauses_reached()
    _core._pause_arm(box[0], "close-after-tail")
    collector = threading.Thread(target=box.clear)   # the last reference goes there
    collector.start()
    until(lambda: _core._pauses_reached() > reached, "the collection to close the ring")
    held_gil = _core._pause_held_gil()
    if not held_gil:
        # the GIL is free while __dealloc__ waits: this thread runs Python meanwhile
        sum(range(1000))
        _core._pause_resume()
    collector.join()
    assert not held_gil, "__dealloc__ closed the ring with the GIL held"
    after = _core._orphaned_calls()
    assert (after[0] - before[0], after[1] - before[1]) == (20, 0)
