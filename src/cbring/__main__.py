"""``python -m cbring``: simulated WinINet traffic from native threads, delivered
two ways, side by side.

1. cbring: the threads call a ring's C status callback; Python drains batches.
2. ctypes: the threads call a ctypes CFUNCTYPE callback, which takes the GIL
   and runs Python once per event (what per-event bindings do today).

For each it prints events/s and how long the native threads were stalled
inside the callback.  ``python -m cbring bench`` runs the benchmark table.
"""

import argparse
import ctypes
import sys
import time

import cbring
from cbring import _testing


def _progress(label, done, total, started):
    elapsed = time.perf_counter() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    sys.stdout.write(f"\r  {label}: {done:>12,} / {total:,} events  {rate / 1e6:8.2f} M/s")
    sys.stdout.flush()


def _report(label, producers, drained, started):
    elapsed = time.perf_counter() - started
    results = producers.results()
    calls = sum(r["calls"] for r in results)
    stalled = sum(r["in_callback_ns"] for r in results) / calls if calls else 0.0
    worst = max(r["max_call_ns"] for r in results)
    sys.stdout.write("\n")
    return dict(path=label, events=drained, seconds=elapsed, rate=drained / elapsed,
                mean_call_ns=stalled, max_call_ns=worst)


def run_cbring(threads, events):
    """Native threads into a Ring; this thread drains whole batches."""
    total = threads * events
    drained = 0
    with cbring.Ring(1 << 16) as ring:
        started = time.perf_counter()
        last = 0.0
        with _testing.Producers(ring.status_callback, threads, events, timed=True) as producers:
            buffer = bytearray(cbring.EVENT_SIZE * 8192)
            while drained < total:
                ring.wait(0.1)
                drained += ring.drain_into(buffer)
                now = time.perf_counter()
                if now - last > 0.25:
                    _progress("cbring", drained, total, started)
                    last = now
        _progress("cbring", drained, total, started)
        stats = ring.stats
    row = _report("cbring Ring.drain_into", producers, drained, started)
    if stats.dropped or stats.late or stats.pushed != total:
        raise SystemExit(f"cbring lost events: {stats}")
    return row


def run_ctypes(threads, events):
    """Native threads into a ctypes callback that runs Python per event."""
    total = threads * events
    received = []
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32,
                                 ctypes.c_void_p, ctypes.c_uint32)

    def on_status(handle, context, status, info, length):
        received.append((handle, context, status))

    callback = prototype(on_status)
    address = ctypes.cast(callback, ctypes.c_void_p).value
    started = time.perf_counter()
    with _testing.Producers(address, threads, events, timed=True) as producers:
        while not producers.finished():
            _progress("ctypes", len(received), total, started)
            time.sleep(0.25)
    _progress("ctypes", len(received), total, started)
    row = _report("ctypes CFUNCTYPE callback", producers, len(received), started)
    if len(received) != total:
        raise SystemExit(f"ctypes delivered {len(received)} of {total} events")
    return row


def demo(args):
    print(f"cbring {cbring.__version__}: {args.threads} native threads simulating WinINet callbacks\n")
    rows = [run_cbring(args.threads, args.events), run_ctypes(args.threads, args.ctypes_events)]
    print()
    print(f"  {'path':<28} {'events':>12} {'events/s':>12} {'mean stall':>12} {'worst stall':>12}")
    for r in rows:
        print(f"  {r['path']:<28} {r['events']:>12,} {r['rate'] / 1e6:>10.2f} M"
              f" {r['mean_call_ns']:>9.0f} ns {r['max_call_ns'] / 1e3:>9.0f} us")
    ratio = rows[0]["rate"] / rows[1]["rate"]
    print(f"\n  cbring delivered {ratio:,.0f}x the events/s of per-event ctypes callbacks,"
          f" and every event arrived.")
    print("  'stall' is the time a native thread spent inside one callback call (timing included).")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cbring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="native producer threads (default 2)")
    parser.add_argument("--events", type=int, default=2_000_000,
                        help="events per thread through cbring (default 2,000,000)")
    parser.add_argument("--ctypes-events", type=int, default=50_000,
                        help="events per thread through ctypes (default 50,000: it is slow)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="the side-by-side demo (the default)")
    bench = sub.add_parser("bench", help="the benchmark table against every peer", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # argparse's REMAINDER does not take options that come first
        # ("bench --json x"), so the benchmark's own parser gets them whole.
        from cbring import _bench
        return _bench.main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "bench":
        from cbring import _bench
        return _bench.main(args.rest)
    demo(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
