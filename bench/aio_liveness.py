"""Does the event loop stay live while a native producer saturates the ring?

    PYTHONPATH=src python bench/aio_liveness.py [--seconds S] [--rounds R]

A task that sleeps 10 ms in a loop measures the gap between its wake-ups
while cbring._testing.Producers (2 native threads) push as fast as they can
and a cbring.aio.Dispatcher (defaults: max_events=4096) routes everything.
Target: worst gap < 50 ms.  Cases, interleaved round by round:

selector  the loop watches ring.fileno() with add_reader (Linux, macOS, and
          Windows' SelectorEventLoop)
worker    the wait a loop without add_reader gets (Windows' default
          ProactorEventLoop): a worker thread in ring.wait().  On Linux
          there is no proactor loop; this is the same code path, forced.

with overflow "block" (producers wait for room: the ring stays full) and
"spill" (producers never wait: the overflow list grows), and a baseline
"idle" with no producer: the gaps this machine's load causes by itself.
"""

import argparse
import asyncio
import statistics
import time

import cbring
from cbring import _testing, aio

TICK = 0.010


async def trial(seconds, overflow):
    idle = overflow == "idle"
    ring = cbring.Ring(1 << 12, overflow="block" if idle else overflow)
    gaps = []
    stop = False

    async def ticker():
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    per_thread = 1_000_000 if overflow == "spill" else 50_000_000
    producers = _testing.Producers(ring.status_callback, threads=2, events=per_thread)
    async with aio.Dispatcher(ring) as dispatcher:
        tick = asyncio.create_task(ticker())
        if not idle:
            producers.start()
        await asyncio.sleep(seconds)
        stop = True
        await tick
        stats = ring.stats
        ring.close()             # the producers' remaining calls are late and return at once
        if not idle:
            await asyncio.get_running_loop().run_in_executor(None, producers.join)
    routed = dispatcher.unknown + dispatcher.dispatched
    return gaps, routed, stats


def run(flavour, overflow, seconds):
    saved = aio._has_reader
    if flavour == "worker":
        aio._has_reader = lambda loop: False
    try:
        return asyncio.run(trial(seconds, overflow))
    finally:
        aio._has_reader = saved


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases = [("selector", "idle")] + [(f, o) for o in ("block", "spill") for f in ("selector", "worker")]
    worst = {c: [] for c in cases}
    medians = {c: [] for c in cases}
    routed = {c: [] for c in cases}
    full = {c: [] for c in cases}
    for _ in range(args.rounds):
        for case in cases:
            gaps, n, stats = run(*case, args.seconds)
            worst[case].append(max(gaps))
            medians[case].append(statistics.median(gaps))
            routed[case].append(n / args.seconds)
            full[case].append(stats.high_water >= stats.capacity)
    print(f"10 ms ticker beside 2 saturating native producers, {args.seconds:g} s a trial, "
          f"{args.rounds} rounds interleaved (target: worst gap < 50 ms)")
    for case in cases:
        w = worst[case]
        print(f"  {case[0]:8} {case[1]:5}  worst gap median {statistics.median(w) * 1e3:6.1f} ms "
              f"[{min(w) * 1e3:.1f}, {max(w) * 1e3:.1f}]  typical gap "
              f"{statistics.median(medians[case]) * 1e3:5.1f} ms  routed "
              f"{statistics.median(routed[case]) / 1e3:6.0f}k events/s  ring full: "
              f"{sum(full[case])}/{len(full[case])}")


if __name__ == "__main__":
    main()
