"""Native producer threads against one consumer, on every overflow policy.

Four threads make a million WinINet-style calls each while the consumer
drains with drain_into() into a numpy buffer and stalls now and then.  The
stalls are load shaping: the first one lasts until the ring has overflowed
(a condition, polled), later ones are short sleeps.  Correctness is checked
record by record (see ProducerStream in conftest.py), never by timing.
"""

import contextlib
import gc
import threading
import time

import numpy as np
import pytest

import cbring
from cbring import _testing

THREADS = 4
EVENTS = 1_000_000   # calls per thread
CHUNK = 65536        # records per drain_into
STALL_EVERY = 64     # drains between short stalls
STALL_SECONDS = 0.005
CONDITION_TIMEOUT = 60.0


def stall_until(condition, what):
    """Keeps the consumer away from the ring until condition() holds."""
    deadline = time.monotonic() + CONDITION_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.001)


def consume(ring, producers, stream, buf):
    """Drains until the producers have finished and the ring is empty;
    stalls every STALL_EVERY drains.  Returns the number of drains."""
    drains = 0
    while True:
        finished = producers.finished()
        n = ring.drain_into(buf)
        drains += 1
        stream.check(buf[:n])
        if n == 0 and finished:
            return drains
        if drains % STALL_EVERY == 0:
            time.sleep(STALL_SECONDS)


@contextlib.contextmanager
def producing(ring, rate=None, hold=None):
    """Runs THREADS x EVENTS native producers for the block; joins them on exit.

    With hold (a _testing.Hold of ring.status_callback) they call through it,
    and it is released before the join.  If the block fails, the ring is
    closed before the join, so that producers blocked on a full ring finish
    as late calls instead of hanging the run."""
    callback = ring.status_callback if hold is None else hold.callback
    producers = _testing.Producers(callback, threads=THREADS, events=EVENTS, rate=rate)
    producers.start()
    try:
        yield producers
    except BaseException:
        ring.close()
        raise
    finally:
        if hold is not None:
            hold.release()
        producers.join()
        if hold is not None:
            hold.close()


def held_mid_run(ring):
    """A Hold that stops one producer thread a quarter of the way through all
    the calls, so that close() certainly comes while it has calls to make."""
    return _testing.Hold(ring.status_callback, at=THREADS * EVENTS // 4)


OVERFLOW_CASES = {
    # policy, capacity, block_timeout, the condition the first stall waits for
    "spill": ("spill", 4096, 1.0, lambda s: s.spilled > 0),
    "drop": ("drop", 4096, 1.0, lambda s: s.dropped > 0),
    # Nothing is drained during the first stall, so pushed == capacity means full.
    "block": ("block", 65536, 60.0, lambda s: s.pushed == s.capacity),
    "block-then-drop": ("block", 4096, 0.0005, lambda s: s.dropped > 0),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(OVERFLOW_CASES))
def test_every_event_arrives_once_in_thread_order_under_each_overflow_policy(
        case, make_ring, record_dtype, producer_stream):
    policy, capacity, block_timeout, overflowed = OVERFLOW_CASES[case]
    ring = make_ring(capacity, policy, block_timeout=block_timeout)
    lossless = policy == "spill" or (policy == "block" and block_timeout >= 60.0)
    stream = producer_stream(THREADS, EVENTS, lossless=lossless)
    buf = np.zeros(CHUNK, dtype=record_dtype)
    total = THREADS * EVENTS

    with producing(ring) as producers:
        stall_until(lambda: overflowed(ring.stats), f"the {case} ring to overflow")
        consume(ring, producers, stream, buf)
    assert ring.drain_into(buf) == 0
    stream.finish()

    stats = ring.stats
    assert stats.capacity == capacity
    # The first drain after the first stall found the ring full (and, under
    # "spill", more waiting on the overflow list).
    assert stats.high_water >= capacity if policy == "spill" else stats.high_water == capacity
    assert stats.late == 0
    assert stats.pushed == stats.drained == stream.received
    assert stats.pushed + stats.dropped == total
    assert stats.spilled == stream.spilled
    assert stats.pushed - stats.spilled == stream.ring_records
    if policy == "spill":
        assert stats.dropped == 0 and stats.spilled > 0
    elif lossless:
        assert stats.dropped == 0 and stats.spilled == 0
    else:
        assert stats.dropped > 0 and stats.spilled == 0


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["spill", "drop", "block"])
def test_closing_while_producers_run_keeps_what_was_pushed_and_counts_the_rest_late(
        policy, make_ring, record_dtype, producer_stream):
    ring = make_ring(4096, policy, block_timeout=60.0)
    stream = producer_stream(THREADS, EVENTS, lossless=False)
    buf = np.zeros(CHUNK, dtype=record_dtype)
    total = THREADS * EVENTS

    # One producer is held mid-run until close() has begun, so close() comes
    # while it still has calls to make; the others, paced at a million calls
    # a second, are most likely still calling too.
    hold = held_mid_run(ring)
    with producing(ring, rate=1e6, hold=hold) as producers:
        stall_until(lambda: ring.stats.pushed >= ring.capacity, "the ring to fill")
        stream.check(buf[:ring.drain_into(buf)])
        while not hold.held:   # the ring is drained meanwhile, so "block" producers get there
            stream.check(buf[:ring.drain_into(buf)])
        ring.close()
        assert not producers.finished()
        hold.release()
        while n := ring.drain_into(buf):
            stream.check(buf[:n])
    while n := ring.drain_into(buf):
        stream.check(buf[:n])

    stats = ring.stats
    assert stats.late > 0
    assert stats.pushed + stats.dropped + stats.late == total
    assert stats.drained == stats.pushed == stream.received
    if policy != "drop":
        # Each thread lost only its tail: everything up to its last record arrived.
        assert (stream.counts == stream.last + 1).all()
        assert stats.dropped == 0
    assert len(ring.drain()) == 0


@pytest.mark.slow
def test_collecting_a_ring_while_producers_call_it_counts_their_calls_as_orphaned_late():
    # "block" with nobody draining: the producers are certain to be mid-run,
    # waiting for room, when the Ring goes; every call from then on is late.
    capacity = 1024
    ring = cbring.Ring(capacity, "block", block_timeout=60.0)
    callback = ring.status_callback
    total = THREADS * EVENTS
    gc.collect()  # other tests' garbage must not land in the difference
    before = cbring._core._orphaned_late_calls()
    producers = _testing.Producers(callback, threads=THREADS, events=EVENTS).start()
    try:
        stall_until(lambda r=ring: r.stats.pushed == capacity, "the ring to fill")
    except BaseException:
        ring.close()
        producers.join()
        raise
    del ring  # the last reference: the Ring is deallocated here, mid-run
    gc.collect()
    producers.join()
    assert cbring._core._orphaned_late_calls() - before == total - capacity
    # The address still answers, and still counts, after the threads are gone.
    _testing.call_status(callback, 1, 2, 31, b"\0\0\0\0")
    assert cbring._core._orphaned_late_calls() - before == total - capacity + 1


@pytest.mark.parametrize("fault", ["lost", "repeated", "reordered", "altered"])
def test_the_stream_check_catches_a_lost_repeated_reordered_or_altered_event(
        fault, make_ring, record_dtype, producer_stream):
    # The stress tests are only as good as ProducerStream: feed it a damaged stream.
    ring = make_ring(1024)
    with _testing.Producers(ring.status_callback, threads=2, events=60):
        pass
    records = np.zeros(256, dtype=record_dtype)
    n = ring.drain_into(records)
    assert n == 120
    records = records[:n]
    producer_stream(2, 60, lossless=True).check(records)  # the undamaged stream passes
    first = np.flatnonzero(records["context"] >> np.uint64(40) == 0)
    i, j = first[10], first[11]
    if fault == "lost":
        damaged = np.delete(records, i)
    elif fault == "repeated":
        damaged = np.insert(records, i, records[i])
    elif fault == "reordered":
        damaged = records.copy()
        damaged[[i, j]] = damaged[[j, i]]
    else:
        damaged = records.copy()
        damaged["result"][i] += 1
    if fault != "altered":
        # Positions renumbered, so that the per-thread checks must find the fault.
        damaged["seq"] = np.arange(1, len(damaged) + 1, dtype=np.uint32)
    stream = producer_stream(2, 60, lossless=fault == "lost")
    with pytest.raises(AssertionError):
        stream.check(damaged)
        stream.finish()


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["spill", "block"])
def test_closing_from_another_thread_while_the_consumer_drains_loses_nothing_pushed(
        policy, make_ring, record_dtype, producer_stream):
    ring = make_ring(4096, policy, block_timeout=60.0)
    stream = producer_stream(THREADS, EVENTS, lossless=False)
    total = THREADS * EVENTS
    failures = []

    def consumer():
        buf = np.zeros(8192, dtype=record_dtype)
        try:
            while True:
                closed = ring.closed
                n = ring.drain_into(buf)   # waits while close() holds the consumer lock
                stream.check(buf[:n])
                if n == 0 and closed:
                    return
        except BaseException as e:  # handed to the main thread
            failures.append(e)

    # One producer is held mid-run until close() has begun (see held_mid_run).
    hold = held_mid_run(ring)
    with producing(ring, rate=1e6, hold=hold) as producers:
        draining = threading.Thread(target=consumer)
        draining.start()
        try:
            stall_until(lambda: (stream.received >= 8192 and hold.held) or failures,
                        "the consumer to get going and a producer to be held")
            ring.close()
            still_running = not producers.finished()
            hold.release()
        finally:
            ring.close()
            draining.join()
    if failures:
        raise failures[0]
    assert still_running
    stats = ring.stats
    assert stats.late > 0
    assert stats.pushed + stats.dropped + stats.late == total
    assert stats.drained == stats.pushed == stream.received
    assert (stream.counts == stream.last + 1).all()   # each thread lost only its tail
