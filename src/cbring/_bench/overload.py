"""Overload: what "spill" costs next to "block" when the consumer falls behind.

Four questions, each answered by ratios measured side by side in one run,
the compared cases interleaved round by round (the machine is shared):

1. throughput under sustained overload: 2 native producers at full speed
   into a default Ring (65536 slots), a Python consumer that copies with
   drain_into or takes numpy.asarray(drain()); "spill" against "block";
2. the producer's stall: p99.9 and maximum of one call, per policy, under
   the same overload (a second set of runs, timing every call);
3. the memory of a stalled consumer's backlog: RSS growth / records
   waiting, in a fresh process;
4. recovery: one producer paced at 8M/s, one 20 ms consumer pause: the
   time from the end of the pause until the consumer is back on the ring
   path (fewer than capacity / 2 records waiting, and the last record it
   drained came from the ring), per policy, every run;
and, single-threaded, what a record costs the consumer when it overflowed
against one that stayed in the ring.

``python -m cbring bench overload [--quick] [--rounds N]`` runs it (also
``python -m cbring._bench.overload``); run() prints the table and returns
the figures (a dict).  It needs numpy for the asarray consumer.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

import cbring
from cbring import _testing
from cbring._bench.cost import ticks_per_ns as _ticks_per_ns

SPILLED = 8  # CBR_FLAG_SPILLED
POLICIES = ("block", "spill")
TARGETS = dict(spill_vs_block=0.5, spill_vs_block_goal=0.8, backlog_bytes=72.0, recovery_s=0.100)


def _numpy():
    import numpy
    return numpy


def _spread(values):
    values = sorted(values)
    return dict(median=statistics.median(values), min=values[0], max=values[-1], n=len(values))


def _percentile_ns(hist, q):
    total = sum(hist)
    want, acc = q * total, 0
    tpn = _ticks_per_ns()
    for b, c in enumerate(hist):
        acc += c
        if c and acc >= want:
            lo, hi = _testing.hist_bucket_bounds(b)
            return lo / tpn if hi - lo <= 1 else (lo + hi) / 2 / tpn
    return 0.0


def _max_ns(hist):
    tpn = _ticks_per_ns()
    for b in range(len(hist) - 1, -1, -1):
        if hist[b]:
            return _testing.hist_bucket_bounds(b)[1] / tpn
    return 0.0


def _taker(ring, how, np, buf):
    if how == "drain_into":
        return lambda: ring.drain_into(buf)

    def take():
        a = np.asarray(ring.drain())
        return len(a)
    return take


def overload_run(policy, how, threads=2, events=2_000_000, histogram=False, batch=8192):
    """Full-speed producers into a default Ring; returns events/s and the
    share that overflowed (and per-call stall figures with histogram)."""
    np = _numpy()
    total = threads * events
    buf = np.zeros(batch, dtype=np.asarray(cbring.Ring(2).drain(0)).dtype)
    with cbring.Ring(65536, policy, block_timeout=60.0) as ring:
        take = _taker(ring, how, np, buf)
        producers = _testing.Producers(ring.status_callback, threads, events, histogram=histogram)
        n = 0
        t0 = time.perf_counter()
        producers.start()
        while n < total:
            k = take()
            if k:
                n += k
            elif not ring.wait(1.0) and producers.finished() and not ring.wait(0.5):
                break
        dt = time.perf_counter() - t0
        producers.join()
        stats = ring.stats
    if n != total or stats.pushed != total or stats.dropped or stats.late:
        raise AssertionError(f"{policy}/{how}: {n:,} of {total:,} arrived; {stats}")
    out = dict(events_per_s=total / dt, spilled_share=stats.spilled / total)
    if histogram:
        hist = producers.histogram()
        out.update(p999_ns=_percentile_ns(hist, 0.999), max_ns=_max_ns(hist))
    return out


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def backlog_child(records):
    """In a fresh process: RSS growth per record waiting behind a stalled
    consumer (nobody drains while two producers push)."""
    ring = cbring.Ring(65536, "spill")
    before = _rss_bytes()
    per = records // 2
    with _testing.Producers(ring.status_callback, 2, per):
        pass
    after = _rss_bytes()
    waiting = ring.stats.pushed - ring.stats.drained
    if waiting != 2 * per:
        raise AssertionError(f"{waiting} waiting of {2 * per}")
    print(f"{(after - before) / waiting:.3f} {waiting}")


def backlog_bytes(records=4_000_000):
    if not os.path.exists("/proc/self/statm"):
        return None
    out = subprocess.run([sys.executable, "-m", "cbring._bench.overload", "--backlog-child", str(records)],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[0])


def recovery_run(policy, rate=8e6, pause_s=0.020, warm_s=0.050, limit_s=1.0, batch=8192):
    """Seconds from the end of a consumer pause until it is back on the ring
    path, or None if it was not within limit_s."""
    np = _numpy()
    buf = np.zeros(batch, dtype=np.asarray(cbring.Ring(2).drain(0)).dtype)
    events = int(rate * (warm_s + pause_s + limit_s + 0.5))
    with cbring.Ring(65536, policy, block_timeout=60.0) as ring:
        cap = ring.capacity
        producers = _testing.Producers(ring.status_callback, 1, events, rate=rate).start()
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < warm_s:
            ring.drain_into(buf)
        time.sleep(pause_s)
        resumed = time.perf_counter()
        recovered = None
        peak = 0
        while time.perf_counter() - resumed < limit_s:
            k = ring.drain_into(buf)
            s = ring.stats
            waiting = s.pushed - s.drained
            peak = max(peak, waiting)
            if k and waiting < cap // 2 and not buf["flags"][k - 1] & SPILLED:
                recovered = time.perf_counter() - resumed
                break
        done_at = producers.done
        elapsed = time.perf_counter() - t0
        ring.close()
        producers.join()
    return dict(seconds=recovered, rate=done_at / elapsed, peak_waiting=peak)


def consumer_cost(records=262_144, rounds=5):
    """ns per record for drain_into of records that all stayed in the ring
    against records that (but two) overflowed; single-threaded."""
    np = _numpy()
    buf = np.zeros(records, dtype=np.asarray(cbring.Ring(2).drain(0)).dtype)
    per = {"ring": [], "overflow": []}
    for _ in range(rounds):
        for name, cap in (("ring", records), ("overflow", 2)):
            with cbring.Ring(cap, "spill") as ring:
                with _testing.Producers(ring.status_callback, 1, records):
                    pass
                t0 = time.perf_counter()
                n = ring.drain_into(buf)
                dt = time.perf_counter() - t0
            if n != records:
                raise AssertionError(f"{name}: {n} of {records}")
            per[name].append(dt / records * 1e9)
    return per


def run(rounds=5, quick=False, out=None):
    """Runs every question, prints the table to out (stdout) and returns the figures."""
    out = out or sys.stdout
    events = 400_000 if quick else 2_000_000
    rec_runs = 3 if quick else 10
    fig = dict(throughput={}, stall={}, backlog_bytes=None, recovery={}, consumer_ns={})
    for how in ("drain_into", "asarray"):
        for p in POLICIES:
            fig["throughput"][(p, how)] = []
    for r in range(rounds):
        for how in ("drain_into", "asarray"):
            order = POLICIES if r % 2 == 0 else POLICIES[::-1]
            for p in order:
                fig["throughput"][(p, how)].append(overload_run(p, how, events=events))
    for r in range(max(1, rounds // 2)):
        order = POLICIES if r % 2 == 0 else POLICIES[::-1]
        for p in order:
            fig["stall"].setdefault(p, []).append(
                overload_run(p, "drain_into", events=events // 2, histogram=True))
    fig["backlog_bytes"] = backlog_bytes(400_000 if quick else 4_000_000)
    for r in range(rec_runs):
        order = POLICIES if r % 2 == 0 else POLICIES[::-1]
        for p in order:
            fig["recovery"].setdefault(p, []).append(recovery_run(p))
    fig["consumer_ns"] = consumer_cost(65_536 if quick else 262_144, 3 if quick else 5)
    render(fig, out)
    return fig


def _ratio_line(fig, how):
    block = [x["events_per_s"] for x in fig["throughput"][("block", how)]]
    spill = [x["events_per_s"] for x in fig["throughput"][("spill", how)]]
    ratios = [s / b for s, b in zip(spill, block)]
    return block, spill, ratios


def render(fig, out):
    w = out.write
    w("overload: 2 native producers at full speed, default Ring (65536 slots); medians [min-max]\n")
    w(f"{'consumer':<12} {'block ev/s':>22} {'spill ev/s':>22} {'spill/block':>20} {'spilled':>8}\n")
    for how in ("drain_into", "asarray"):
        block, spill, ratios = _ratio_line(fig, how)
        b, s, q = _spread(block), _spread(spill), _spread(ratios)
        share = statistics.median(x["spilled_share"] for x in fig["throughput"][("spill", how)])
        verdict = "met" if q["median"] >= TARGETS["spill_vs_block_goal"] else (
            "met (>=0.5), goal 0.8 missed" if q["median"] >= TARGETS["spill_vs_block"] else "MISSED")
        w(f"{how:<12} {b['median']/1e6:8.1f}M [{b['min']/1e6:.1f}-{b['max']/1e6:.1f}]"
          f" {s['median']/1e6:8.1f}M [{s['min']/1e6:.1f}-{s['max']/1e6:.1f}]"
          f" {q['median']:8.2f}x [{q['min']:.2f}-{q['max']:.2f}] {share:7.0%}  target >=0.5x (goal 0.8x): {verdict}\n")
    w("producer stall per call under the same overload (timed runs), medians over runs:\n")
    for p in POLICIES:
        runs = fig["stall"].get(p, [])
        if runs:
            w(f"  {p:<6} p99.9 {statistics.median(x['p999_ns'] for x in runs)/1e3:8.2f} us"
              f"   max {statistics.median(x['max_ns'] for x in runs)/1e6:8.2f} ms"
              f" (worst {max(x['max_ns'] for x in runs)/1e6:.2f} ms)\n")
    bb = fig["backlog_bytes"]
    if bb is None:
        w("backlog: not measured (needs /proc/self/statm)\n")
    else:
        w(f"backlog of a stalled consumer: {bb:.1f} bytes/record (RSS growth / records waiting, "
          f"fresh process); target <= 72: {'met' if bb <= TARGETS['backlog_bytes'] else 'MISSED'}\n")
    w("recovery: 1 producer paced at 8M/s, 20 ms consumer pause, time back to the ring path:\n")
    for p in POLICIES:
        runs = fig["recovery"].get(p, [])
        secs = [x["seconds"] for x in runs]
        ok = [s for s in secs if s is not None and s <= TARGETS["recovery_s"]]
        shown = ", ".join("-" if s is None else f"{s*1e3:.0f}" for s in secs)
        rate = statistics.median(x["rate"] for x in runs)
        w(f"  {p:<6} ms: {shown}; within 100 ms in {len(ok)} of {len(secs)}"
          f" (producer reached {rate/1e6:.1f}M/s)\n")
    c = fig["consumer_ns"]
    if c:
        ring, ovf = _spread(c["ring"]), _spread(c["overflow"])
        ratios = _spread([o / r for o, r in zip(c["overflow"], c["ring"])])
        w(f"consumer, drain_into single-threaded: ring {ring['median']:.1f} ns/record,"
          f" overflowed {ovf['median']:.1f} ns/record: {ratios['median']:.2f}x"
          f" [{ratios['min']:.2f}-{ratios['max']:.2f}]; target <= 2x:"
          f" {'met' if ratios['median'] <= 2 else 'MISSED'}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backlog-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.backlog_child is not None:
        backlog_child(args.backlog_child)
        return
    run(rounds=1 if args.quick else args.rounds, quick=args.quick)


if __name__ == "__main__":
    main()
