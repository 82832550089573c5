"""The soak: native producer threads against one consumer for a long time,
on every overflow policy, with the consumer stalling at random.

Four threads make WinINet-style calls (cbring._testing.Producers) while the
consumer drains with drain_into() into a numpy buffer and checks every
record with numpy (ProducerStream in tests/conftest.py): each thread's
events in order, each at most once (exactly once where the policy is
lossless), every field as sent, ring positions without gaps; at the end the
counters must add up exactly.  Stalls are load shaping, never
synchronisation: most are short random sleeps, and now and then the
consumer stays away until the ring has overflowed (a polled condition).

test_soak_short runs by default (CI).  test_soak is the long version, marked
`soak` and deselected unless pytest is given --soak: 2.5 * 10**8 calls for
each of the four cases, 10**9 in all.  CBRING_SOAK_EVENTS sets the calls
per case, CBRING_SOAK_RATE the calls per second of each thread (paced so
that the consumer keeps up between stalls: an unpaced "spill" run on two
cores outgrows memory, by design) and CBRING_SOAK_SEED the stalls.
tests/soak/RESULTS.md has the measured figures."""

import os
import random
import time

try:
    import resource
except ImportError:  # Windows has no getrusage(): the soak's figures leave max RSS out
    resource = None

import numpy as np
import pytest

import cbring
from cbring import _testing

THREADS = 4
CHUNK = 1 << 18            # records per drain_into: 16 MiB
CONDITION_TIMEOUT = 120.0

# policy, capacity, block_timeout, lossless
POLICIES = {
    "spill": ("spill", 1 << 12, 1.0, True),
    "drop": ("drop", 1 << 12, 1.0, False),
    "block": ("block", 1 << 12, 60.0, True),
    "block-then-drop": ("block", 1 << 12, 0.0005, False),
}


def overflowed(policy, before):
    """A condition: the ring has overflowed since the stats `before`."""
    if policy == "spill":
        # More waiting than the ring holds: the rest is in overflow segments,
        # or, past the segment directory's reach, producers wait for slots
        # (then spilled stops growing, and waiting for it would deadlock).
        return lambda s: s.spilled > before.spilled or s.pushed - s.drained > s.capacity
    if policy == "drop":
        return lambda s: s.dropped > before.dropped
    return lambda s: s.pushed - s.drained >= s.capacity  # block: full, producers waiting


def soak(case, events, rate, seed, record_dtype, producer_stream):
    policy, capacity, block_timeout, lossless = POLICIES[case]
    rng = random.Random(seed)
    # rounded up to whole requests, so that the total is never less than asked
    per_thread = -(-events // (THREADS * _testing.EVENTS_PER_REQUEST)) * _testing.EVENTS_PER_REQUEST
    total = per_thread * THREADS
    ring = cbring.Ring(capacity, policy, block_timeout=block_timeout)
    stream = producer_stream(THREADS, per_thread, lossless=lossless)
    buf = np.zeros(CHUNK, dtype=record_dtype)
    drains = stalls = overflow_stalls = 0
    start = time.monotonic()
    producers = _testing.Producers(ring.status_callback, threads=THREADS, events=per_thread,
                                   rate=rate).start()
    try:
        while True:
            finished = producers.finished()
            n = ring.drain_into(buf)
            drains += 1
            stream.check(buf[:n])
            if n == 0 and finished:
                break
            roll = rng.random()
            if (drains == 1 or roll < 0.002) and not finished:
                # stay away until the ring overflows (or the producers are done)
                overflow_stalls += 1
                condition = overflowed(policy, ring.stats)
                deadline = time.monotonic() + CONDITION_TIMEOUT
                while not condition(ring.stats) and not producers.finished():
                    assert time.monotonic() < deadline, f"{case}: the ring never overflowed"
                    time.sleep(0.001)
            elif roll < 0.02:
                stalls += 1
                time.sleep(rng.uniform(0, 0.005))
    except BaseException:
        ring.close()  # producers blocked on a full ring finish as late calls
        raise
    finally:
        producers.join()
    elapsed = time.monotonic() - start
    assert ring.drain_into(buf) == 0
    stream.finish()
    s = ring.stats
    assert s.late == 0
    assert s.pushed == s.drained == stream.received
    assert s.pushed + s.dropped == total
    assert s.spilled == stream.spilled and s.pushed - s.spilled == stream.ring_records
    if lossless:
        assert s.dropped == 0 and s.pushed == total
    if policy != "spill":
        assert s.spilled == 0
    ring.close()
    figures = dict(case=case, events=total, seconds=round(elapsed, 1),
                   events_per_second=round(total / elapsed), drained=s.drained,
                   spilled=s.spilled, dropped=s.dropped, high_water=s.high_water,
                   wakeups=s.wakeups, drains=drains, stalls=stalls,
                   overflow_stalls=overflow_stalls, seed=seed,
                   max_rss_mib=resource and resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    print("\nsoak:", figures)
    return figures


@pytest.mark.parametrize("case", list(POLICIES))
def test_soak_short(case, record_dtype, producer_stream):
    figures = soak(case, 2_400_000, 5e5, 1, record_dtype, producer_stream)
    assert figures["overflow_stalls"] > 0


@pytest.mark.soak
@pytest.mark.parametrize("case", list(POLICIES))
def test_soak(case, record_dtype, producer_stream):
    events = int(float(os.environ.get("CBRING_SOAK_EVENTS", 2.5e8)))
    rate = float(os.environ.get("CBRING_SOAK_RATE", 4e5))  # calls/s per thread
    seed = int(os.environ.get("CBRING_SOAK_SEED", 20260101))
    soak(case, events, rate, seed, record_dtype, producer_stream)
