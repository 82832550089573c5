"""The consumer paths side by side, and what closing or collecting a full
Ring costs the GIL.

    python bench/drain_paths.py paths [--rounds R] [--events E] [--threads T]
    python bench/drain_paths.py gil [--rounds R] [--waiting N]

paths: T native producers (cbring._testing.Producers, full speed) into a
Ring(65536, "block"), drained by numpy.asarray(ring.drain()) or by
ring.drain_into(bytearray of 8192 records, as `python -m cbring bench`
drains, or of 65536, the ring's capacity), wait() when empty, interleaved
round by round: events/s, median [min-max], and the median of
the per-round ratio drain_into / asarray.  Run it with PYTHONPATH naming
two builds to compare them; every event is counted.

gil: a Ring with N records waiting is closed and then collected, in the
ring ("block", capacity >= N) or mostly spilled ("spill", capacity 65536),
while a Python thread ticks every 0.5 ms; each gap between its ticks past
the tick and one switch interval is time the GIL was kept from it (or, on
a loaded machine, the CPU: the figure is an upper bound); the longest such
excess and their sum are printed, with the wall time of close() and of the
collection.
"""

import argparse
import gc
import statistics
import sys
import threading
import time

import numpy as np

import cbring
from cbring import _testing


def _consume(ring, producers, total, take):
    """Returns (events, calls of take, calls of take that found nothing)."""
    n = calls = empty = 0
    while n < total:
        k = take()
        calls += 1
        if k:
            n += k
        else:
            empty += 1
            if not ring.wait(0.2) and producers.finished():
                n += take()
                if not ring.wait(0.2):
                    break
    return n, calls, empty


def one_path(mode, threads, events):
    total = threads * events
    with cbring.Ring(65536, "block", block_timeout=30.0) as ring:
        if mode == "asarray":
            def take():
                a = np.asarray(ring.drain())
                a["status"]  # noqa: B018 - a column, no per-event object
                return len(a)
        else:
            buf = bytearray(cbring.EVENT_SIZE * (65536 if mode == "drain_into 65536" else 8192))

            def take():
                return ring.drain_into(buf)
        producers = _testing.Producers(ring.status_callback, threads, events)
        t0 = time.perf_counter()
        producers.start()
        n, calls, empty = _consume(ring, producers, total, take)
        dt = time.perf_counter() - t0
        producers.join()
        s = ring.stats
    if not (n == total == s.pushed == s.drained):
        raise AssertionError(f"{mode}: {n} of {total} events arrived ({s})")
    return total / dt, total / calls, empty, s.wakeups


def paths(args):
    modes = ["asarray", "drain_into", "drain_into 65536"]
    rates = {m: [] for m in modes}
    detail = {m: [] for m in modes}
    ratios = []
    for r in range(args.rounds):
        order = modes[r % 3:] + modes[:r % 3]
        got = {m: one_path(m, args.threads, args.events) for m in order}
        for m, v in got.items():
            rates[m].append(v[0])
            detail[m].append(v[1:])
        ratios.append(got["drain_into"][0] / got["asarray"][0])
    print(f"cbring from {cbring.__file__}; {args.threads} producers x {args.events} events, "
          f"{args.rounds} interleaved rounds")
    for m, v in rates.items():
        per_call = statistics.median(d[0] for d in detail[m])
        empty = statistics.median(d[1] for d in detail[m])
        wakeups = statistics.median(d[2] for d in detail[m])
        print(f"  {m:16s} {statistics.median(v) / 1e6:6.1f}M/s [{min(v) / 1e6:.1f}-{max(v) / 1e6:.1f}]; "
              f"median {per_call:.0f} events a call, {empty:.0f} empty calls, {wakeups:.0f} wake-ups")
    print(f"  drain_into / asarray: median {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}-{max(ratios):.2f}]")


class Ticker:
    """A Python thread that notes the gaps between its 0.5 ms ticks."""

    def __init__(self):
        self.gaps = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        last = time.perf_counter()
        while not self.stop:
            time.sleep(0.0005)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now

    def __enter__(self):
        self.thread.start()
        time.sleep(0.05)
        self.gaps.clear()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()


def fill(ring, n):
    with _testing.Producers(ring.status_callback, threads=2, events=n // 2):
        pass
    if ring.stats.pushed != n:
        raise AssertionError(f"filled {ring.stats.pushed} of {n}")


def gil(args):
    switch = sys.getswitchinterval()
    print(f"cbring from {cbring.__file__}; {args.waiting} records waiting; "
          f"switch interval {switch * 1e3:.0f} ms; {args.rounds} rounds")
    for policy, capacity in [("block", 1 << max(1, (args.waiting - 1).bit_length())), ("spill", 65536)]:
        worst, total, close_s, collect_s = [], [], [], []
        for _ in range(args.rounds):
            ring = cbring.Ring(capacity, policy, block_timeout=60.0)
            fill(ring, args.waiting)
            gc.collect()
            with Ticker() as t:
                t0 = time.perf_counter()
                ring.close()
                t1 = time.perf_counter()
                del ring
                t2 = time.perf_counter()
                time.sleep(0.01)
            close_s.append(t1 - t0)
            collect_s.append(t2 - t1)
            # a gap past the tick and one switch interval: the GIL (or, on a
            # loaded machine, the CPU) was held from the ticker that long
            excess = [max(0.0, g - switch - 0.0005) for g in t.gaps]
            worst.append(max(excess, default=0.0))
            total.append(sum(excess))

        def fmt(v):
            return f"{statistics.median(v) * 1e3:.1f} ms [{min(v) * 1e3:.1f}-{max(v) * 1e3:.1f}]"
        print(f"  {policy:5s} capacity {capacity}: close {fmt(close_s)}, collect {fmt(collect_s)}; "
              f"GIL held longest {fmt(worst)}, in all {fmt(total)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["paths", "gil"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--events", type=int, default=2_000_000, help="paths: events per producer")
    ap.add_argument("--threads", type=int, default=2, help="paths: producer threads")
    ap.add_argument("--waiting", type=int, default=4_000_000, help="gil: records waiting")
    args = ap.parse_args(argv)
    (paths if args.what == "paths" else gil)(args)


if __name__ == "__main__":
    main()
