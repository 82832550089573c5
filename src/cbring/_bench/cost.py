"""The producer's cost: ns per status-callback call (median, p99, p99.9),
with the Python main thread idle (blocked without the GIL), busy in pure
Python, or draining; per-event callbacks beside it."""

import ctypes
import statistics
import time

import cbring
from cbring import _testing
from cbring._bench import _harness as h
from cbring._bench._peers import available

NAME = "cost"


_TICKS_PER_NS = None


def ticks_per_ns():
    global _TICKS_PER_NS
    if _TICKS_PER_NS is None:
        _TICKS_PER_NS = statistics.median(_testing.ticks_per_ns(20) for _ in range(3))
    return _TICKS_PER_NS


def _percentiles(hist, qs=(0.5, 0.99, 0.999), group=1):
    tpn = ticks_per_ns() * group
    total = sum(hist)
    out = {}
    for q in qs:
        want, acc = q * total, 0
        for b, c in enumerate(hist):
            acc += c
            if c and acc >= want:
                lo, hi = _testing.hist_bucket_bounds(b)
                out[q] = (lo + hi) / 2 / tpn if hi - lo > 1 else lo / tpn
                break
    return out


def _busy_until(done):
    """Pure-Python work on this thread, holding the GIL, until done()."""
    x = 0
    while not done():
        for i in range(2000):
            x += i * i
    return x


GROUP = 16  # calls per clock reading for medians: the TSC of some VMs ticks in ~10 ns steps


def _cost_run(name, callback, events, main, keep=False, sink=None, group=1):
    """One producer thread making `events` timed calls of callback while this
    thread is idle (blocked without the GIL), busy (pure Python) or draining
    (a Ring: drain_into in a loop).  With group > 1 the clock is read around
    each group of calls and the percentiles are of per-call means in a group."""
    producers = _testing.Producers(callback, 1, events, histogram=True, group=group,
                                   keep_thread_state=keep)
    t0 = time.perf_counter()
    producers.start()
    if main == "busy":
        _busy_until(producers.finished)
    elif main == "draining":
        ring, buf = sink, bytearray(cbring.EVENT_SIZE * h.E2E_BATCH)
        h.consume(ring, producers, events, lambda: ring.drain_into(buf))
    producers.join()
    dt = time.perf_counter() - t0
    hist = producers.histogram()
    if sum(hist) != events // group:
        raise h.LostEvents(f"{name}: {sum(hist) * group} of {events} calls timed")
    pct = _percentiles(hist, group=group)
    return dict(events=events, seconds=dt, median_ns=pct[0.5], p99_ns=pct[0.99], p999_ns=pct[0.999],
                hist=hist)


def _cost_both(run):
    """A fast callback timed twice: groups of GROUP calls for the median, one
    call at a time for the tail (p99, p99.9), whose ~10 ns steps matter less."""
    grouped, single = run(GROUP), run(1)
    return dict(events=grouped["events"] + single["events"], seconds=grouped["seconds"] + single["seconds"],
                median_ns=grouped["median_ns"], p99_ns=single["p99_ns"], p999_ns=single["p999_ns"],
                single_median_ns=single["median_ns"])


def _cost_ring(name, events, main, group=1):
    with cbring.Ring(1 << 18 if main != "draining" else h.E2E_CAPACITY, "block", block_timeout=30.0) as ring:
        if main != "draining":
            # touch every slot once so that page faults are not timed
            with _testing.Producers(ring.status_callback, 1, ring.capacity):
                pass
            ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
        before = ring.stats.pushed
        r = _cost_run(name, ring.status_callback, events, main, sink=ring, group=group)
        if main != "draining":
            n = ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
        else:
            n = r["events"]
        stats = ring.stats
    h.check(name, n, events)
    if stats.pushed - before != events or stats.dropped or stats.late:
        raise h.LostEvents(f"{name}: ring counted {stats}")
    return r


def _cost_untimed(name, callback, events):
    """Mean ns per call without per-call clock reads: the loop's elapsed time."""
    with _testing.Producers(callback, 1, events) as p:
        pass
    r = p.results()[0]
    return dict(events=events, seconds=r["elapsed_ns"] / 1e9, mean_ns=r["elapsed_ns"] / events)


def _cost_ring_untimed(name, events):
    with cbring.Ring(1 << 18, "block", block_timeout=30.0) as ring:
        with _testing.Producers(ring.status_callback, 1, ring.capacity):
            pass
        ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
        r = _cost_untimed(name, ring.status_callback, events)
        n = ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
    h.check(name, n, events)
    return r


def _cost_ctypes(name, events, main, keep=False):
    received = []
    cb = ctypes.CFUNCTYPE(None, *h.CB_ARGS)(lambda h, c, s, i, ln: received.append((h, c, s)))
    r = _cost_run(name, ctypes.cast(cb, ctypes.c_void_p).value, events, main, keep=keep)
    h.check(name, len(received), events)
    return r


def _cost_pergil(peers, name, events, main):
    sink = []
    peers.pergil.set_sink(sink)
    r = _cost_run(name, peers.pergil.append_callback(), events, main)
    h.check(name, len(sink), events)
    peers.pergil.set_sink([])
    return r


def _cost_cffi(peers, name, events, main):
    mod = peers.cffi_api
    received = []

    @mod.ffi.def_extern(name="cbring_bench_on_status")
    def on_status(handle, context, status, info, length):
        received.append((context, status))

    r = _cost_run(name, mod.lib.cbring_bench_address(), events, main)
    h.check(name, len(received), events)
    return r


COST_EVENTS = 200_000
BUSY_EVENTS = 400  # per-event callbacks wait for the GIL's switch interval (5 ms) each


def cost_cases(peers):
    n, busy = h.n(COST_EVENTS), max(40, BUSY_EVENTS // (4 if h.settings.quick else 1))
    return {
        "harness (null callback)": ("the producer loop and the clock reads around an empty C callback",
                                    None, lambda: _cost_both(
                                        lambda g: _cost_run("null", _testing.null_callback, n, "idle", group=g))),
        "decode only": ("the ring's decode of the WinINet arguments into a record, no push",
                        None, lambda: _cost_both(
                            lambda g: _cost_run("decode", _testing.decode_callback, n, "idle", group=g))),
        "cbring, main idle": ("Ring.status_callback, main thread blocked without the GIL",
                              None, lambda: _cost_both(lambda g: _cost_ring("cbring idle", n, "idle", g))),
        "cbring, main busy": ("Ring.status_callback, main thread running pure Python",
                              None, lambda: _cost_both(lambda g: _cost_ring("cbring busy", n, "busy", g))),
        "cbring, main draining": ("Ring.status_callback, main thread in a wait()/drain_into() loop",
                                  None, lambda: _cost_both(lambda g: _cost_ring("cbring draining", n, "draining", g))),
        "ctypes, main idle": ("ctypes CFUNCTYPE callback, main thread blocked without the GIL",
                              None, lambda: _cost_ctypes("ctypes idle", h.n(20_000), "idle")),
        "ctypes, main busy": ("ctypes CFUNCTYPE callback, main thread running pure Python",
                              None, lambda: _cost_ctypes("ctypes busy", busy, "busy")),
        "cffi def_extern, main idle": ("cffi def_extern callback, main thread idle",
                                       "cffi_api", lambda: _cost_cffi(peers, "cffi idle", h.n(100_000), "idle")),
        "cffi def_extern, main busy": ("cffi def_extern callback, main thread running pure Python",
                                       "cffi_api", lambda: _cost_cffi(peers, "cffi busy", busy, "busy")),
        "pywin32-shaped, main idle": ("per-event GIL C extension, main thread idle",
                                      "pergil", lambda: _cost_pergil(peers, "pergil idle", h.n(100_000), "idle")),
        "pywin32-shaped, main busy": ("per-event GIL C extension, main thread running pure Python",
                                      "pergil", lambda: _cost_pergil(peers, "pergil busy", busy, "busy")),
        "untimed: null callback": ("mean ns per call of the bare loop (no clock reads)",
                                   None, lambda: _cost_untimed("null", _testing.null_callback, n * 5)),
        "untimed: cbring": ("mean ns per call into a ring (no clock reads)",
                            None, lambda: _cost_ring_untimed("cbring", n)),
    }


def cases(peers):
    out = []
    for name, (desc, key, fn) in cost_cases(peers).items():
        out.append((name, desc, fn) if available(peers, key) else (name, peers.reason(key), None))
    return out


def render(results, w):
    if NAME not in results:
        return
    w("\nThe producer's cost: one producer thread, ns per status-callback call, gross (clock reads "
      f"included); fast callbacks: median over groups of {GROUP} calls, p99/p99.9 per call; "
      "median [min-max] of rounds\n")
    w(f"  {'case':<30}{'median':>22}{'p99':>12}{'p99.9':>12}{'calls':>10}\n")
    for name, e in results[NAME].items():
        if "missing" in e:
            w(f"  {name:<30}  not available: {e['missing']}\n")
            continue
        s = e["summary"]
        if "median_ns" in s and s["median_ns"]:
            md = s["median_ns"]
            w(f"  {name:<30}{md['median']:>10.1f} [{md['min']:.1f}-{md['max']:.1f}]"
              f"{s['p99_ns']['median']:>12.1f}{s['p999_ns']['median']:>12.1f}{s['events']['median']:>10,.0f}\n")
        else:
            md = s["mean_ns"]
            w(f"  {name:<30}{md['median']:>10.1f} [{md['min']:.1f}-{md['max']:.1f}]"
              f"{'(mean)':>12}{'':>12}{s['events']['median']:>10,.0f}\n")


def targets(results, t):
    ns = lambda v: f"{v:.1f} ns"  # noqa: E731
    sub = lambda a, b: a - b  # noqa: E731
    t.add("producer: median <= 10 ns per call (grouped median minus the null callback's, per round)",
          h.paired(results, NAME, "cbring, main idle", "harness (null callback)", "median_ns", sub),
          lambda v: v <= 10, ns)
    t.add("producer: mean <= 10 ns per call without clock reads (minus the bare loop's, per round)",
          h.paired(results, NAME, "untimed: cbring", "untimed: null callback", "mean_ns", sub),
          lambda v: v <= 10, ns)
    null = h.val(results, NAME, "harness (null callback)", "median_ns")
    idle = h.val(results, NAME, "cbring, main idle", "median_ns")
    busy = h.val(results, NAME, "cbring, main busy", "median_ns")
    t.add("producer: busy main thread within 10% of idle (net medians)",
          (busy - null) / (idle - null) - 1 if busy and idle and null and idle > null else None,
          lambda v: abs(v) <= 0.10, lambda v: f"{v:+.0%}")
