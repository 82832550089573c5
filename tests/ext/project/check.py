"""Run from where pip installed the project: pushes from native threads
through every C API path and checks every record."""
import sys

import c_pusher

import cbring

THREADS, PER_THREAD = 4, 20_000
for capacity in (1 << 16, 64):
    with cbring.Ring(capacity) as ring:
        assert c_pusher.push_from_threads(ring, THREADS, PER_THREAD) == THREADS * PER_THREAD
        seen = {t: 0 for t in range(THREADS)}
        total = 0
        while total < THREADS * PER_THREAD:
            assert ring.wait(5.0), f"only {total} records arrived"
            for event in ring.drain():
                t, i = event.context >> 40, event.context & ((1 << 40) - 1)
                assert i == seen[t], f"thread {t}: record {i} where {seen[t]} was due"
                assert event.status == cbring.InternetStatus.REQUEST_COMPLETE
                assert (event.result, event.error) == (i, t)
                seen[t] += 1
                total += 1
        assert len(ring.drain()) == 0 and ring.stats.dropped == 0
        assert not c_pusher.closed(ring)
    assert c_pusher.closed(ring)
print("ok", cbring.__file__, c_pusher.__file__, file=sys.stderr)
