"""Ring.fileno(): a descriptor for select and selectors, readable while events are pending."""

import select
import selectors
import struct
import threading

import numpy as np
import pytest

from cbring import _testing

PATIENCE = 30.0


def dword(v):
    return struct.pack("=I", v)


def readable(ring, timeout=0):
    r, _, _ = select.select([ring], [], [], timeout)
    return bool(r)


def test_fileno_is_a_stable_descriptor(ring):
    fd = ring.fileno()
    assert isinstance(fd, int) and fd >= 0
    assert ring.fileno() == fd


def test_not_readable_while_the_ring_is_empty(ring):
    ring.fileno()
    assert not readable(ring)


def test_readable_after_a_push_and_not_after_the_drain(ring, push):
    ring.fileno()
    push(ring, 31, dword(1))
    assert readable(ring)
    assert readable(ring)           # stays readable until drained
    assert len(ring.drain()) == 1
    assert not readable(ring)


def test_events_pushed_before_the_first_fileno_call_make_it_readable(ring, push):
    push(ring, 31, dword(1))
    ring.fileno()
    assert readable(ring)


def test_stays_readable_while_events_are_left_after_a_partial_drain(ring, push):
    ring.fileno()
    for i in range(3):
        push(ring, 31, dword(i), context=i)
    assert [e.context for e in ring.drain(1)] == [0]
    assert readable(ring)
    buf = bytearray(64)
    assert ring.drain_into(buf) == 1
    assert readable(ring)
    assert ring.drain_into(buf) == 1
    assert not readable(ring)


def test_stays_readable_while_overflowed_events_remain(make_ring, push):
    ring = make_ring(2)
    ring.fileno()
    for i in range(5):
        push(ring, 31, dword(i), context=i)
    got = []
    while readable(ring):
        batch = ring.drain()
        got += [e.context for e in batch]
        assert len(got) <= 5
    assert got == [0, 1, 2, 3, 4]


def test_wait_leaves_it_readable_when_events_are_ready(ring, push):
    ring.fileno()
    push(ring, 31, dword(1))
    assert ring.wait(0) is True
    assert readable(ring)
    ring.drain()
    assert ring.wait(0) is False
    assert not readable(ring)


def test_a_selector_reports_the_ring_when_a_native_producer_pushes(ring, selector):
    key = selector.register(ring, selectors.EVENT_READ, data="ring")
    assert key.fd == ring.fileno()
    assert selector.select(timeout=0) == []
    got = []
    with _testing.Producers(ring.status_callback, threads=1, events=6, rate=100.0):
        while len(got) < 6:
            events = selector.select(timeout=PATIENCE)
            assert [(k.data, mask) for k, mask in events] == [("ring", selectors.EVENT_READ)]
            got += [e.status for e in ring.drain()]
    assert got == [60, 10, 31, 41, 100, 70]
    assert selector.select(timeout=0) == []


def test_a_selector_wakes_when_a_python_thread_pushes(ring, selector):
    selector.register(ring, selectors.EVENT_READ)
    pusher = threading.Timer(0.05, _testing.call_status, (ring.status_callback, 1, 3, 31, dword(1)))
    pusher.start()
    try:
        assert len(selector.select(timeout=PATIENCE)) == 1
    finally:
        pusher.join()
    assert [e.context for e in ring.drain()] == [3]


def test_close_makes_it_readable_so_a_selecting_consumer_notices(ring, selector):
    selector.register(ring, selectors.EVENT_READ)
    assert selector.select(timeout=0) == []
    ring.close()
    assert len(selector.select(timeout=0)) == 1
    assert len(ring.drain()) == 0
    selector.unregister(ring)


def test_a_closed_ring_stays_readable_so_a_reader_drains_what_is_left_and_sees_the_end(ring, push):
    ring.fileno()
    push(ring, 31, dword(1), context=1)
    push(ring, 31, dword(2), context=2)
    ring.close()
    assert readable(ring)
    assert [e.context for e in ring.drain()] == [1, 2]
    assert readable(ring)
    assert len(ring.drain()) == 0   # readable and empty: the end
    assert readable(ring)


def test_fileno_first_called_after_close_is_readable(ring):
    ring.close()
    fd = ring.fileno()
    assert isinstance(fd, int) and fd >= 0
    assert readable(ring)


@pytest.mark.slow
def test_wakeups_are_coalesced_while_producers_saturate_the_ring(make_ring, selector,
                                                                 record_dtype, producer_stream):
    threads, events = 4, 1_000_000
    ring = make_ring(65536, "block", block_timeout=60)
    selector.register(ring, selectors.EVENT_READ)
    stream = producer_stream(threads, events, lossless=True)
    buf = np.zeros(65536, dtype=record_dtype)
    drains = 0
    with _testing.Producers(ring.status_callback, threads=threads, events=events) as producers:
        while True:
            finished = producers.finished()
            n = ring.drain_into(buf)
            drains += 1
            stream.check(buf[:n])
            if n == 0:
                if finished:
                    break
                # Bounded: the last push may come before finished() turns true,
                # and no push follows it to make the descriptor readable.
                selector.select(timeout=0.1)
    stream.finish()
    stats = ring.stats
    assert stats.pushed == stats.drained == threads * events
    # A producer makes the system call only for a consumer that armed the
    # descriptor, and the consumer arms it once per drain.
    assert stats.wakeups <= drains + 1


def test_one_wakeup_however_many_pushes_follow_an_armed_descriptor(make_ring, selector):
    """Coalescing, without depending on how big the drains come out: one
    arming, then a million pushes from four native threads before anything
    drains, cost one system call."""
    threads, events = 4, 250_000
    ring = make_ring(1 << 20)
    selector.register(ring, selectors.EVENT_READ)
    assert selector.select(timeout=0) == []   # arms the descriptor on an empty ring
    before = ring.stats.wakeups
    with _testing.Producers(ring.status_callback, threads=threads, events=events):
        pass
    assert len(selector.select(timeout=0)) == 1
    stats = ring.stats
    assert stats.pushed == threads * events and stats.spilled == 0
    assert stats.wakeups - before == 1
    assert len(ring.drain()) == threads * events
