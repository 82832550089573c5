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

import pytest

import cbring
from cbring import _core, _testing

POLICIES = ["spill", "drop", "block"]
SRC = os.path.dirname(os.path.dirname(cbring.__file__))
RINGS = int(os.environ.get("CBRING_LIFECYCLE_RINGS", 10_000))


def orphaned():
    return sum(_core._orphaned_calls())


def run_script(body, timeout=120):
    """Runs body in a fresh interpreter; a hang is a failure, not a stall."""
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONFAULTHANDLER="1")
    try:
        return subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c",
                               textwrap.dedent(body)],
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the process hung for {timeout}s; its output:\n{e.stdout}\n{e.stderr}")


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


def test_fork_with_a_live_ring_gives_the_child_a_clear_error_and_the_parent_keeps_working():
    result = run_script(FORK_SCRIPT)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr


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
