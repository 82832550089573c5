"""cbring against a ctypes callback per event: the same WinHTTP downloads,
interleaved rounds, medians and spread.

    python bench.py --shim winhttp_timing_shim.dll [--rounds N] URL=SIZE ... [URL=refused]

Every round runs each variant once, in a rotating order, each with a new
session and all the URLs at once:
  cbring+dispatcher  Ring.winhttp_callback, cbring.aio.WinHttpDispatcher;
  cbring+router      Ring.winhttp_callback, the example's router fed by
                     cbring.aio.batches() (the routing of the ctypes variant);
  ctypes             a WINFUNCTYPE callback that decodes each event and posts
                     it with call_soon_threadsafe to the same router.
The status callback WinHTTP calls is the timing shim (timing_shim.c), which
calls the variant's callback and times it with the TSC on WinHTTP's
threads, so both are timed the same way, from the same place.  Measured
per variant and round: downloads/s (the round's downloads over its wall
time), callbacks/s, the time WinHTTP's threads spent inside the callback
(per call, and in all), and the shim's floor (an empty callback timed the
same way).  Every body is checked as winhttp_check.py checks it (a failed
check stops the run), so no variant gets faster by doing less.
Windows only (tests/windows/run-under-wine.sh runs it under Wine)."""

import argparse
import asyncio
import ctypes
import statistics
import sys
import time

import cbring
import winhttp_downloader as wd
from winhttp_downloader import _router, _winhttp, ctypes_callback

ERROR_WINHTTP_CANNOT_CONNECT = 12029
MAX_SAMPLES = 1 << 20


class Shim:
    def __init__(self, path):
        dll = ctypes.CDLL(path)
        for name, restype, argtypes in [
            ("timing_shim_reset", ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint64]),
            ("timing_shim_inflight", ctypes.c_int64, []),
            ("timing_shim_calls", ctypes.c_uint64, []),
            ("timing_shim_total_ticks", ctypes.c_uint64, []),
            ("timing_shim_samples", ctypes.POINTER(ctypes.c_uint32), []),
            ("timing_shim_tsc", ctypes.c_uint64, []),
        ]:
            f = getattr(dll, name)
            f.restype, f.argtypes = restype, argtypes
        self.dll = dll
        self.callback = ctypes.cast(dll.timing_shim_callback, ctypes.c_void_p).value
        self.noop = ctypes.cast(dll.timing_shim_noop, ctypes.c_void_p).value
        self.t0 = (dll.timing_shim_tsc(), time.perf_counter_ns())

    def wrap(self, inner):
        if not self.dll.timing_shim_reset(inner, MAX_SAMPLES):
            raise MemoryError("timing_shim_reset")
        return self.callback

    def collect(self):
        """(calls, total ticks, per-call ticks) once no callback is inside the shim."""
        deadline = time.monotonic() + 10
        while self.dll.timing_shim_inflight():
            if time.monotonic() > deadline:
                raise RuntimeError("a WinHTTP callback is still inside the timing shim after 10 s")
            time.sleep(0.001)
        calls = self.dll.timing_shim_calls()
        samples = self.dll.timing_shim_samples()[:min(calls, MAX_SAMPLES)]
        return calls, self.dll.timing_shim_total_ticks(), samples

    def floor(self, n=20000):
        """The per-call ticks the shim measures around an empty callback."""
        self.wrap(self.noop)
        call = _winhttp.WINHTTP_STATUS_CALLBACK(self.callback)
        for _ in range(n):
            call(None, 0, 0, None, 0)
        return statistics.median(self.collect()[2])

    def ns_per_tick(self):
        tsc, ns = self.dll.timing_shim_tsc(), time.perf_counter_ns()
        return (ns - self.t0[1]) / (tsc - self.t0[0])


def set_callback(session, address):
    previous = _winhttp.load().WinHttpSetStatusCallback(
        session, address, _winhttp.WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS, 0)
    if previous == _winhttp.WINHTTP_INVALID_STATUS_CALLBACK:
        raise ctypes.WinError(ctypes.get_last_error(), "WinHttpSetStatusCallback failed")


async def run_cbring(shim, downloads, dispatcher):
    def register(ring, session):
        set_callback(session, shim.wrap(ring.winhttp_callback))
    ring = await wd.download_all(downloads, dispatcher=dispatcher, register=register)
    st = ring.stats
    if not (st.pushed == st.drained and st.dropped == 0 and st.late == 0):
        raise RuntimeError(f"ring counters {st}")


async def run_ctypes(shim, downloads, keep):
    # its Python function times itself too (two perf_counter_ns calls): the
    # rest of the shim's time is the thunk's, mostly waiting for the GIL
    keep.append(await ctypes_callback.download_all_ctypes(downloads, wrap=shim.wrap, time_body=True))


VARIANTS = {
    "cbring+dispatcher": lambda shim, d, keep: run_cbring(shim, d, None),
    "cbring+router": lambda shim, d, keep: run_cbring(shim, d, _router.RingRouter),
    "ctypes": run_ctypes,
}


def check(specs, downloads):
    for (url, size, k), d in zip(specs, downloads):
        if size is None:
            if not (isinstance(d.error, cbring.WinHttpError) and d.error.errno == ERROR_WINHTTP_CANNOT_CONNECT):
                raise RuntimeError(f"{url}: expected ERROR_WINHTTP_CANNOT_CONNECT, got {d.error!r}")
        elif d.error is not None or bytes(d.body) != make_body(k, size):
            raise RuntimeError(f"{url}: {d!r}")


def make_body(k, size):
    period = bytes((j * 7 + k * 13) % 251 for j in range(251))
    return (period * (size // 251 + 1))[:size]


def spread(values, fmt="{:.0f}"):
    return (f"{fmt.format(statistics.median(values))} "
            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shim", required=True, help="winhttp_timing_shim.dll")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of " + ", ".join(VARIANTS))
    p.add_argument("--switch-interval", type=float, default=None,
                   help="sys.setswitchinterval() first (default: the interpreter's, 0.005 s)")
    p.add_argument("urls", nargs="+")
    args = p.parse_args(argv)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    specs = []
    for k, arg in enumerate(args.urls):
        url, _, size = arg.rpartition("=")
        specs.append((url, None if size == "refused" else int(size), k))
    shim = Shim(args.shim)
    floor = shim.floor()
    keep = []   # the ctypes thunks: WinHTTP may be returning from one when its round ends
    names = args.variants.split(",")
    if "ctypes" not in names or "cbring+router" not in names or set(names) - set(VARIANTS):
        p.error(f"--variants: ctypes and cbring+router, and any of {', '.join(VARIANTS)}")
    results = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            downloads = [wd.Download(url, bytearray(max(size or 0, 1))) for url, size, _ in specs]
            loop = asyncio.new_event_loop()
            try:
                t0 = time.perf_counter_ns()
                loop.run_until_complete(VARIANTS[name](shim, downloads, keep))
                wall = time.perf_counter_ns() - t0
            finally:
                loop.close()
            calls, ticks, samples = shim.collect()
            check(specs, downloads)
            results[name].append((wall, calls, ticks, statistics.median(samples),
                                  sorted(samples)[int(len(samples) * 0.99)]))
    per_tick = shim.ns_per_tick()
    print(f"bench: {len(specs)} downloads a round ({sum(s or 0 for _, s, _ in specs)} bytes), "
          f"{args.rounds} interleaved rounds; Ring capacity 256 (download_all's default), "
          f"WinHttpReadData of at most {wd.DEFAULT_READ_SIZE} bytes; TSC {1 / per_tick:.3f} GHz; "
          f"the shim's floor (an empty callback) {floor * per_tick:.0f} ns a call; "
          f"switch interval {sys.getswitchinterval() * 1000:g} ms")
    print("median [min-max] over the rounds:")
    print(f"{'variant':18} {'downloads/s':>16} {'callbacks':>14} {'callbacks/s':>20} "
          f"{'ns/callback':>16} {'p99 ns':>18} {'ms in callbacks':>20}")
    for name, rows in results.items():
        walls = [w / 1e9 for w, *_ in rows]
        print(f"{name:18} {spread([len(specs) / w for w in walls], '{:.1f}'):>16} "
              f"{spread([c for _, c, *_ in rows]):>14} "
              f"{spread([c / (w / 1e9) for w, c, *_ in rows]):>20} "
              f"{spread([m * per_tick for *_, m, _ in rows]):>16} "
              f"{spread([q * per_tick for *_, q in rows]):>18} "
              f"{spread([t * per_tick / 1e6 for _, _, t, *_ in rows], '{:.2f}'):>20}")
    base = results["cbring+router"]
    bodies = [statistics.median(k.body_ns) for k in keep]
    decodes = [statistics.median(k.decode_ns) for k in keep]
    print(f"ctypes: its Python function's own time, median per call, {spread(bodies)} ns, "
          f"of which decoding the event {spread(decodes)} ns and the rest call_soon_threadsafe "
          f"(the loop's self-pipe write, which releases and retakes the GIL); the rest of "
          f"ns/callback is ctypes' thunk, taking the GIL first")
    ratio = [c[2] / b[2] for c, b in zip(results["ctypes"], base)]
    speed = [b[0] / c[0] for c, b in zip(results["ctypes"], base)]
    print(f"ctypes / cbring+router, per round: time in callbacks x{spread(ratio, '{:.1f}')}, "
          f"downloads/s x{spread(speed, '{:.2f}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
