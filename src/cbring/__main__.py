"""python -m cbring: simulated WinINet traffic from native threads, delivered
two ways, side by side.

  cbring  the threads call a ring's C status callback; Python drains batches.
  ctypes  the threads call a ctypes CFUNCTYPE callback, which takes the GIL
          and runs Python once per event (what per-event bindings do today).

First it shows a few status events as they arrive in Python: host names,
addresses and a redirect URL, decoded whole, from a native thread calling
the ring's W callback (InternetSetStatusCallbackW's, which Ring.register
installs).  Then, for each way, it prints events/s and how long the
native threads were stalled inside the callback.  "python -m cbring
bench" runs the benchmark table."""

import argparse
import ctypes
import sys
import textwrap
import time

import cbring
from cbring import _testing

# one unit per column; 76 columns wide with the indent
_ROW = "  {:<18} {:>11} {:>12} {:>14} {:>15}"


class _Progress:
    """A progress line rewritten in place on a terminal, and only there; the
    final count is printed either way."""

    def __init__(self, label, total, stream):
        self.label, self.total, self.stream = label, total, stream
        self.live = stream.isatty()
        self.started = time.perf_counter()
        self.last = 0.0

    def _line(self, done):
        elapsed = time.perf_counter() - self.started
        return f"  {self.label}: {done:,} of {self.total:,} events, {elapsed:.2f} s"

    def update(self, done):
        now = time.perf_counter()
        if self.live and now - self.last > 0.25:
            self.stream.write("\r" + self._line(done).ljust(79)[:79])
            self.stream.flush()
            self.last = now

    def finish(self, done):
        line = self._line(done)
        self.stream.write(("\r" + line.ljust(79)[:79] if self.live else line) + "\n")
        self.stream.flush()


def _report(label, producers, drained, started):
    elapsed = time.perf_counter() - started
    results = producers.results()
    calls = sum(r["calls"] for r in results)
    stalled = sum(r["in_callback_ns"] for r in results) / calls if calls else 0.0
    worst = max(r["max_call_ns"] for r in results)
    return dict(path=label, events=drained, seconds=elapsed, rate=drained / elapsed,
                mean_call_ns=stalled, max_call_ns=worst)


# What WinINet passes a W registration: host names and URLs in UTF-16LE,
# addresses in ANSI, each with its NUL and dwStatusInformationLength in bytes.
_MIRROR = "mirror-eu-west.downloads.example.test"
_REDIRECT = (f"https://{_MIRROR}/releases/2026/12/cbring-0.1.0-cp311-cp311-win_amd64.whl"
             "?sig=" + "9f3c" * 24 + "&expires=1796256000")


def _wide(text):
    return (text + "\0").encode("utf-16-le")


def _ansi(text):
    return (text + "\0").encode("ascii")


_TEXT_CALLS = [
    (cbring.InternetStatus.RESOLVING_NAME, _wide("downloads.example.test"), None),
    (cbring.InternetStatus.NAME_RESOLVED, _ansi("203.0.113.17"), None),
    (cbring.InternetStatus.CONNECTED_TO_SERVER, _ansi("203.0.113.17"), None),
    (cbring.InternetStatus.REDIRECT, _wide(_REDIRECT), None),
    (cbring.InternetStatus.RESOLVING_NAME, _wide(_MIRROR), None),
    (cbring.InternetStatus.CONNECTED_TO_SERVER, _ansi("2001:db8::2:1"), None),
]


def show_text(out=sys.stdout):
    """A native thread calls the W callback with WinINet's strings; prints them as drained."""
    with cbring.Ring(64) as ring:
        with _testing.Replay(ring.status_callback_w, _TEXT_CALLS, threads=1):
            pass
        events = list(ring.drain())
    print("\n  text, as it arrives (a native thread calling ring.status_callback_w):", file=out)
    for ev in events:
        text = ev.info if len(ev.info) <= 40 else ev.info[:37] + "..."
        print(f"  {ev.status.name:<20} {text!r:<42} {len(ev.info):>4} chars", file=out)
    lost = [ev.status.name for ev in events if ev.truncated]
    if len(events) != len(_TEXT_CALLS) or lost:
        raise SystemExit(f"cbring lost text: {len(events)} of {len(_TEXT_CALLS)} events, "
                         f"truncated: {lost}")
    print("  every string whole, as str; ev.raw keeps the bytes (UTF-16LE or ANSI)", file=out)
    print(file=out)


def run_cbring(threads, events, out=sys.stdout):
    """Native threads into a Ring; this thread drains whole batches."""
    total = threads * events
    drained = 0
    progress = _Progress("cbring", total, out)
    with cbring.Ring(1 << 16) as ring:
        started = time.perf_counter()
        with _testing.Producers(ring.status_callback, threads, events, timed=True) as producers:
            buffer = bytearray(cbring.EVENT_SIZE * 8192)
            # host names longer than a record's 20 bytes come whole into this
            payloads = bytearray(64 * 1024)
            while drained < total:
                ring.wait(0.1)
                drained += ring.drain_into(buffer, payloads)
                progress.update(drained)
        progress.finish(drained)
        stats = ring.stats
    row = _report("cbring drain_into", producers, drained, started)
    if stats.dropped or stats.late or stats.payloads_truncated or stats.pushed != total:
        raise SystemExit(f"cbring lost events: {stats}")
    return row


def run_ctypes(threads, events, out=sys.stdout):
    """Native threads into a ctypes callback that runs Python per event."""
    total = threads * events
    received = []
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32,
                                 ctypes.c_void_p, ctypes.c_uint32)

    def on_status(handle, context, status, info, length):
        received.append((handle, context, status))

    callback = prototype(on_status)
    address = ctypes.cast(callback, ctypes.c_void_p).value
    progress = _Progress("ctypes", total, out)
    started = time.perf_counter()
    with _testing.Producers(address, threads, events, timed=True) as producers:
        while not producers.finished():
            progress.update(len(received))
            time.sleep(0.05)
    progress.finish(len(received))
    row = _report("ctypes callback", producers, len(received), started)
    if len(received) != total:
        raise SystemExit(f"ctypes delivered {len(received)} of {total} events")
    return row


def demo(args, out=sys.stdout):
    threads = f"{args.threads:,} native thread" + ("s" if args.threads != 1 else "")
    print(f"cbring {cbring.__version__}: {threads} simulating WinINet status callbacks", file=out)
    show_text(out)
    rows = [run_cbring(args.threads, args.events, out),
            run_ctypes(args.threads, args.ctypes_events, out)]
    print(file=out)
    print(_ROW.format("path", "events", "events/s", "mean stall ns", "worst stall ns"), file=out)
    for r in rows:
        print(_ROW.format(r["path"], f"{r['events']:,}", f"{r['rate']:,.0f}",
                          f"{r['mean_call_ns']:,.0f}", f"{r['max_call_ns']:,}"), file=out)
    ratio = rows[0]["rate"] / rows[1]["rate"]
    print(f"\n  cbring delivered {ratio:,.0f}x the events/s of per-event ctypes callbacks,\n"
          "  and every event arrived.  A stall is the time a native thread spent\n"
          "  inside one call of the callback (timing included).", file=out)


def _count(low, high=None):
    def parse(text):
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value:,}")
        return value
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own, wrapped to fit 80 columns
        self.print_usage(sys.stderr)
        self.exit(2, textwrap.fill(f"{self.prog}: error: {message}", 79, subsequent_indent="  ")
                  + "\n")


def _parser():
    parser = _Parser(prog="python -m cbring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cbring {cbring.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,bench}",
                                help="demo (the default) or bench")
    demo_parser = sub.add_parser("demo", help="the side-by-side demo (the default)",
                                 description="The side-by-side demo: cbring against per-event"
                                             " ctypes callbacks.")
    demo_parser.add_argument("--threads", type=_count(1, _testing.MAX_PRODUCERS), default=2,
                             metavar="N", help="native producer threads (default 2)")
    demo_parser.add_argument("--events", type=_count(1), default=2_000_000, metavar="N",
                             help="events per thread through cbring (default 2,000,000)")
    demo_parser.add_argument("--ctypes-events", type=_count(1), default=50_000, metavar="N",
                             help="events per thread through ctypes (default 50,000: it is slow)")
    sub.add_parser("bench", help="the benchmark table against every peer (its own --help)",
                   add_help=False)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        # the benchmark has its own parser, which takes every argument after "bench"
        from cbring import _bench
        return _bench.main(argv[1:])
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["demo", *argv]
    args = _parser().parse_args(argv)
    demo(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
