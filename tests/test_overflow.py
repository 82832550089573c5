"""What a full ring does under each overflow policy, and the counters that say so."""

import collections
import struct
import time

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import cbring
from cbring import _testing

SPILLED = 8


def dword(v):
    return struct.pack("=I", v)


def fill(ring, push, contexts):
    for c in contexts:
        push(ring, 31, dword(c), context=c)


def drain_all(ring):
    """Drains until a drain comes back empty; the contexts, in order."""
    got = []
    while batch := ring.drain():
        got += [e.context for e in batch]
    return got


def test_stats_is_a_ring_stats_named_tuple_with_the_documented_fields(ring):
    stats = ring.stats
    assert isinstance(stats, cbring.RingStats)
    assert isinstance(stats, tuple)
    assert stats._fields == ("pushed", "drained", "dropped", "spilled", "late",
                             "capacity", "high_water", "wakeups", "payloads_truncated")


def test_spill_keeps_every_event_in_order_after_the_ring_fills(make_ring, push):
    ring = make_ring(4, "spill")
    fill(ring, push, range(10))
    stats = ring.stats
    assert (stats.pushed, stats.drained, stats.dropped, stats.spilled, stats.late) == (10, 0, 0, 6, 0)
    assert drain_all(ring) == list(range(10))
    assert ring.stats.drained == 10


def test_spilled_events_are_flagged_and_carry_no_ring_position(make_ring, push, record_dtype):
    ring = make_ring(4, "spill")
    fill(ring, push, range(6))
    buf = np.zeros(8, dtype=record_dtype)
    assert ring.drain_into(buf) == 6
    assert buf["flags"][:6].tolist() == [0, 0, 0, 0, SPILLED, SPILLED]
    assert (buf["seq"][:4] != 0).all() and (buf["seq"][4:6] == 0).all()


def test_drain_without_a_limit_returns_ring_and_overflowed_events_together(make_ring, push):
    # drain(): "Takes up to max_events records (all that are ready if None)".
    ring = make_ring(4, "spill")
    fill(ring, push, range(10))
    assert [e.context for e in ring.drain()] == list(range(10))


def test_spill_queues_new_events_behind_overflowed_ones_even_when_the_ring_has_room(
        make_ring, push):
    ring = make_ring(4, "spill")
    fill(ring, push, range(6))          # 0-3 in the ring, 4-5 overflowed
    buf = bytearray(64 * 2)
    assert ring.drain_into(buf) == 2    # 0, 1: the ring now has room
    fill(ring, push, [6, 7])            # must not overtake 4 and 5
    assert drain_all(ring) == [2, 3, 4, 5, 6, 7]
    stats = ring.stats
    assert (stats.pushed, stats.drained, stats.dropped) == (8, 8, 0)


def test_after_the_overflow_list_drains_the_ring_is_used_again(make_ring, push):
    ring = make_ring(4, "spill")
    fill(ring, push, range(6))
    assert drain_all(ring) == list(range(6))
    fill(ring, push, range(6, 10))
    assert ring.stats.spilled == 2      # the four new events fit in the ring
    assert drain_all(ring) == [6, 7, 8, 9]


def test_drop_keeps_the_oldest_events_and_counts_the_dropped_ones(make_ring, push):
    ring = make_ring(4, "drop")
    fill(ring, push, range(10))
    stats = ring.stats
    assert (stats.pushed, stats.drained, stats.dropped, stats.spilled, stats.late) == (4, 0, 6, 0, 0)
    assert drain_all(ring) == [0, 1, 2, 3]
    fill(ring, push, [10, 11])
    assert drain_all(ring) == [10, 11]
    assert ring.stats.dropped == 6


def test_block_with_no_consumer_waits_out_block_timeout_then_drops_and_counts(make_ring, push):
    ring = make_ring(2, "block", block_timeout=0.05)
    fill(ring, push, [0, 1])
    # perf_counter: the ring's clock (QueryPerformanceCounter on Windows, where
    # monotonic() ticks in steps of about 16 ms; CLOCK_MONOTONIC elsewhere)
    start = time.perf_counter()
    fill(ring, push, [2])
    waited = time.perf_counter() - start
    assert waited >= 0.05       # it did wait (a lower bound, not a speed claim)
    assert ring.stats.dropped == 1 and ring.stats.pushed == 2
    assert drain_all(ring) == [0, 1]


def test_block_with_zero_timeout_drops_at_once_and_counts(make_ring, push):
    ring = make_ring(2, "block", block_timeout=0)
    fill(ring, push, range(5))
    assert (ring.stats.pushed, ring.stats.dropped) == (2, 3)
    assert drain_all(ring) == [0, 1]


def test_block_makes_a_producer_thread_wait_for_room_and_loses_nothing(make_ring, producer_stream,
                                                                      record_dtype):
    ring = make_ring(4, "block", block_timeout=60)
    stream = producer_stream(1, 6000, lossless=True)
    buf = np.zeros(3, dtype=record_dtype)  # drains fewer records than the ring holds
    with _testing.Producers(ring.status_callback, threads=1, events=6000) as producers:
        # Nothing drains until the producer has filled the ring, so it must
        # wait at least once, however the threads are scheduled.
        deadline = time.monotonic() + 60
        while ring.stats.pushed < 4:
            assert time.monotonic() < deadline, "the producer never filled the ring"
            time.sleep(0.0005)
        while True:
            finished = producers.finished()
            n = ring.drain_into(buf)
            stream.check(buf[:n])
            if n == 0:
                if finished:
                    break
                ring.wait(timeout=1.0)
    stream.finish()
    stats = ring.stats
    assert (stats.pushed, stats.drained, stats.dropped, stats.spilled) == (6000, 6000, 0, 0)
    assert stats.high_water == 4


def test_changing_the_policy_applies_to_the_next_push_that_finds_the_ring_full(make_ring, push):
    ring = make_ring(4, "drop")
    fill(ring, push, range(6))          # 4, 5 dropped
    ring.overflow = "spill"
    fill(ring, push, [6, 7])            # spilled
    assert (ring.stats.dropped, ring.stats.spilled) == (2, 2)
    assert drain_all(ring) == [0, 1, 2, 3, 6, 7]
    ring.overflow = "block"
    ring.overflow = "drop"
    fill(ring, push, range(8, 14))      # 12, 13 dropped
    assert drain_all(ring) == [8, 9, 10, 11]
    assert (ring.stats.dropped, ring.stats.spilled, ring.stats.pushed) == (4, 2, 10)


def test_high_water_is_the_most_events_waiting_at_once(make_ring, push):
    ring = make_ring(8, "drop")
    fill(ring, push, range(3))
    drain_all(ring)
    assert ring.stats.high_water == 3
    fill(ring, push, range(2))
    drain_all(ring)
    assert ring.stats.high_water == 3
    fill(ring, push, range(5))
    drain_all(ring)
    assert ring.stats.high_water == 5
    fill(ring, push, range(20))
    drain_all(ring)
    assert ring.stats.high_water == 8


def test_high_water_counts_events_waiting_before_any_drain(make_ring, push):
    # RingStats: "high_water: most records in the ring at once", "exact once
    # its producers have stopped".
    ring = make_ring(8, "drop")
    fill(ring, push, range(3))
    assert ring.stats.high_water == 3


def test_every_call_is_counted_once_as_pushed_dropped_or_late(make_ring, push):
    ring = make_ring(4, "drop")
    fill(ring, push, range(7))
    drain_all(ring)
    fill(ring, push, range(2))
    ring.close()
    fill(ring, push, range(5))
    stats = ring.stats
    assert (stats.pushed, stats.dropped, stats.late) == (6, 3, 5)
    assert stats.pushed + stats.dropped + stats.late == 14
    assert drain_all(ring) == [0, 1]
    assert ring.stats.drained == 6


# A model: single-threaded, a ring behaves as a FIFO queue of accepted events.
# "spill" accepts everything; "drop" (and "block" with nobody to make room)
# accepts only while fewer than capacity events are waiting.

operations = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(1, 12)),
        st.tuples(st.just("drain"), st.one_of(st.none(), st.integers(0, 12))),
        st.tuples(st.just("drain_into"), st.integers(1, 12)),
    ),
    max_size=40,
)


@given(policy=st.sampled_from(["spill", "drop", "block"]),
       capacity=st.sampled_from([1, 2, 4, 8]), ops=operations)
def test_single_threaded_pushes_and_drains_behave_like_a_fifo_queue(policy, capacity, ops):
    with cbring.Ring(capacity, policy, block_timeout=0) as ring:
        capacity = ring.capacity   # 1 is rounded up to 2
        queue = collections.deque()
        next_context = pushed = dropped = drained = 0
        for op, arg in ops:
            if op == "push":
                for _ in range(arg):
                    _testing.call_status(ring.status_callback, 1, next_context, 31, dword(0))
                    if policy == "spill" or len(queue) < capacity:
                        queue.append(next_context)
                        pushed += 1
                    else:
                        dropped += 1
                    next_context += 1
            else:
                if op == "drain":
                    got = [e.context for e in ring.drain(arg)]
                    limit = arg
                else:
                    buf = np.zeros(arg, dtype=[("handle", "=u8"), ("context", "=u8"), ("r", "V48")])
                    got = buf["context"][:ring.drain_into(buf)].tolist()
                    limit = arg
                # Oldest first, nothing skipped, at most the limit, and progress when possible.
                assert got == [queue.popleft() for _ in range(len(got))]
                if limit is not None:
                    assert len(got) <= limit
                if queue and limit != 0:
                    assert got, "events were ready but the drain returned none"
                drained += len(got)
            stats = ring.stats
            assert (stats.pushed, stats.dropped, stats.drained) == (pushed, dropped, drained)
            assert stats.spilled <= stats.pushed and stats.late == 0
        assert drain_all(ring) == list(queue)


# Overflow segments: a busy slot's record goes into the segment of its block
# of 1024 positions; the consumer reads slot or cell position by position.

SEGMENT = 1024


def test_overflow_keeps_order_across_many_segments_whatever_the_batch_size(make_ring, record_dtype):
    ring = make_ring(2, "spill")
    events = 5 * SEGMENT + 6   # whole requests of six calls, across six segments
    stream_events = events - events % _testing.EVENTS_PER_REQUEST
    with _testing.Producers(ring.status_callback, threads=1, events=stream_events):
        pass
    got, spilled = [], []
    for room in [1, 3, 1023, 1024, 1025, 4096]:
        buf = np.zeros(room, dtype=record_dtype)
        n = ring.drain_into(buf)
        got += buf["context"][:n].tolist()
        spilled += (buf["flags"][:n] & SPILLED != 0).tolist()
    rest = np.asarray(ring.drain())
    got += rest["context"].tolist()
    spilled += (rest["flags"] & SPILLED != 0).tolist()
    assert len(got) == stream_events
    assert spilled == [False, False] + [True] * (stream_events - 2)   # two slots, the rest overflowed
    requests = [c & ((1 << 40) - 1) for c in got]
    assert requests == sorted(requests)        # one producer's order, across every segment
    stats = ring.stats
    assert (stats.pushed, stats.drained, stats.spilled) == (stream_events, stream_events, stream_events - 2)


def test_a_backlog_deeper_than_a_segment_comes_out_whole_and_in_order_from_two_threads(
        make_ring, producer_stream, record_dtype):
    ring = make_ring(64, "spill")
    stream = producer_stream(2, 30_000, lossless=True)
    buf = np.zeros(777, dtype=record_dtype)   # never a whole segment, never aligned to one
    with _testing.Producers(ring.status_callback, threads=2, events=30_000) as producers:
        pass                                  # nobody drains: the backlog spans many segments
    assert producers.finished()
    while n := ring.drain_into(buf):
        stream.check(buf[:n])
    stream.finish()
    stats = ring.stats
    assert stats.pushed == stats.drained == 60_000 and stats.dropped == 0
    assert stats.spilled == 60_000 - 64 == stream.spilled


def test_the_ring_takes_records_again_after_a_backlog_of_several_segments_drains(make_ring, push):
    ring = make_ring(4, "spill")
    fill(ring, push, range(3 * SEGMENT))
    assert drain_all(ring) == list(range(3 * SEGMENT))
    before = ring.stats.spilled
    fill(ring, push, range(4))
    assert ring.stats.spilled == before      # all four took ring slots
    assert drain_all(ring) == [0, 1, 2, 3]


def test_high_water_counts_a_backlog_that_a_full_batch_finds(make_ring, push):
    ring = make_ring(4, "spill")
    fill(ring, push, range(50))
    buf = bytearray(64 * 10)
    assert ring.drain_into(buf) == 10         # a full batch: it looks how far the backlog goes
    assert ring.stats.high_water == 50
    drain_all(ring)
    fill(ring, push, range(3))
    assert ring.drain_into(bytearray(64 * 10)) == 3   # ran dry: three were waiting
    assert ring.stats.high_water == 50
