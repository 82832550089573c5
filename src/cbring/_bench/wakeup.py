"""Wake-ups: push -> wait() returning and -> an asyncio reader callback, one
event at a time; and wake-ups per 1,000 events under saturation."""

import asyncio
import statistics
import time

import cbring
from cbring import _testing
from cbring._bench import _harness as h

NAME = "wakeup"


WAKE_RATE = 2000     # events/s while measuring latency: each event finds the consumer asleep
WAKE_EVENTS = 1000


def _first_stamp(buf):
    """dwContext of the first record in buf: the producer's cbr_now_ns() at the push."""
    return memoryview(buf).cast("Q")[h.CONTEXT // 8]


def _wake_wait(name, events):
    lat = []
    with cbring.Ring(1 << 12) as ring:
        buf = bytearray(cbring.EVENT_SIZE * 256)
        producers = _testing.Producers(ring.status_callback, 1, events, rate=WAKE_RATE, stamp=True)
        producers.start()
        n = 0
        while n < events:
            if not ring.wait(2.0):
                break
            t = _testing.now_ns()
            k = ring.drain_into(buf)
            if k:
                lat.append(t - _first_stamp(buf))
                n += k
        producers.join()
        n += ring.drain_into(buf)
        stats = ring.stats
    h.check(name, n, events, stats)
    return dict(events=events, wakes=len(lat), median_us=statistics.median(lat) / 1e3,
                p99_us=_q(lat, 0.99) / 1e3, wakeups=stats.wakeups, seconds=events / WAKE_RATE)


def _q(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _wake_asyncio(name, events):
    lat = []

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        with cbring.Ring(1 << 12) as ring:
            buf = bytearray(cbring.EVENT_SIZE * 256)
            count = [0]

            def on_readable():
                t = _testing.now_ns()
                k = ring.drain_into(buf)
                if k:
                    lat.append(t - _first_stamp(buf))
                    count[0] += k
                    if count[0] >= events and not done.done():
                        done.set_result(None)

            loop.add_reader(ring.fileno(), on_readable)
            producers = _testing.Producers(ring.status_callback, 1, events, rate=WAKE_RATE, stamp=True)
            producers.start()
            try:
                await asyncio.wait_for(done, timeout=events / WAKE_RATE + 10)
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_reader(ring.fileno())
                await loop.run_in_executor(None, producers.join)
            count[0] += ring.drain_into(buf)
            return count[0], ring.stats

    n, stats = asyncio.run(main())
    h.check(name, n, events, stats)
    return dict(events=events, wakes=len(lat), median_us=statistics.median(lat) / 1e3,
                p99_us=_q(lat, 0.99) / 1e3, wakeups=stats.wakeups, seconds=events / WAKE_RATE)


def _wake_saturated(name, events, how):
    with cbring.Ring(h.E2E_CAPACITY, "block", block_timeout=30.0) as ring:
        buf = bytearray(cbring.EVENT_SIZE * h.E2E_BATCH)
        producers = _testing.Producers(ring.status_callback, 1, events)
        t0 = time.perf_counter()
        if how == "wait":
            producers.start()
            n = h.consume(ring, producers, events, lambda: ring.drain_into(buf))
        elif how == "c":
            producers.start()
            n, _ = _testing.c_consume(ring, events, h.E2E_BATCH)
        else:
            async def main():
                loop = asyncio.get_running_loop()
                done = loop.create_future()
                got = [0]

                def on_readable():
                    got[0] += ring.drain_into(buf)
                    if got[0] >= events and not done.done():
                        done.set_result(None)

                loop.add_reader(ring.fileno(), on_readable)
                producers.start()
                try:
                    await asyncio.wait_for(done, timeout=60)
                except asyncio.TimeoutError:
                    pass
                finally:
                    loop.remove_reader(ring.fileno())
                return got[0]
            n = asyncio.run(main())
        dt = time.perf_counter() - t0
        producers.join()
        n += ring.drain_into(buf)
        stats = ring.stats
    h.check(name, n, events, stats)
    return dict(events=events, seconds=dt, wakeups=stats.wakeups,
                wakeups_per_1000=stats.wakeups * 1000 / events)


def wakeup_cases(peers):
    lat_n = max(100, WAKE_EVENTS // (5 if h.settings.quick else 1))
    sat_n = h.n(4_000_000)
    return {
        "push -> wait()": ("one event every 0.5 ms; delay from the producer's stamp to wait() returning",
                           None, lambda: _wake_wait("wait", lat_n)),
        "push -> asyncio reader": ("the same through loop.add_reader(ring.fileno()) and its callback",
                                   None, lambda: _wake_asyncio("asyncio", lat_n)),
        "saturated, wait()": ("1 producer at full speed, wait()/drain_into() loop: wake-ups per 1,000 events",
                              None, lambda: _wake_saturated("saturated wait", sat_n, "wait")),
        "saturated, C consumer in wait()": (
            "1 producer at full speed, a C loop draining and waiting as wait() does: a consumer that keeps up",
            None, lambda: _wake_saturated("saturated C wait", sat_n, "c")),
        "saturated, asyncio reader": ("1 producer at full speed, asyncio reader draining",
                                      None, lambda: _wake_saturated("saturated asyncio", sat_n, "asyncio")),
    }


def cases(peers):
    return [(name, desc, fn) for name, (desc, key, fn) in wakeup_cases(peers).items()]


def render(results, w):
    if NAME not in results:
        return
    w("\nWake-ups (median of rounds [min-max])\n")
    for name, e in results[NAME].items():
        if "missing" in e:
            w(f"  {name:<28}  not available: {e['missing']}\n")
            continue
        s = e["summary"]
        if s.get("median_us"):
            w(f"  {name:<28} median {s['median_us']['median']:8.1f} us "
              f"[{s['median_us']['min']:.1f}-{s['median_us']['max']:.1f}]   p99 {s['p99_us']['median']:8.1f} us"
              f"   ({s['wakes']['median']:.0f} wakes for {s['events']['median']:.0f} events)\n")
        else:
            wk = s["wakeups_per_1000"]
            w(f"  {name:<28} {wk['median']:8.3f} wake-ups per 1,000 events [{wk['min']:.3f}-{wk['max']:.3f}]"
              f"   {h.fmt_rate(s)} events/s\n")


def targets(results, t):
    t.add("wake-up: median push -> wait() <= 25 us", h.val(results, NAME, "push -> wait()", "median_us"),
          lambda v: v <= 25, lambda v: f"{v:.1f} us")
    for case in ("saturated, wait()", "saturated, C consumer in wait()", "saturated, asyncio reader"):
        t.add(f"wake-up: <= 1 per 1,000 events under saturation ({case.split(', ')[1]})",
              h.val(results, NAME, case, "wakeups_per_1000"), lambda v: v <= 1, lambda v: f"{v:.3f}")
