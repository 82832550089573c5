"""``python -m cbring bench``: cbring beside every peer, measured the same way in one run.

Every path into Python is fed by the same native producer threads
(cbring._testing.Producers, calling a C status callback as WinINet does),
and every run counts that each event arrived; a run that loses one fails.

Families (each a question; bench/ holds one pytest-benchmark file per family):

  e2e      end-to-end events/s, native threads -> Python, 1 and 2 producers:
           cbring drain() into StatusEvent objects, Batch through the buffer
           protocol, drain_into() a preallocated buffer, a C consumer (the
           floor), against ctypes / cffi callbacks, a per-event GIL C
           extension shaped like pywin32's, and queue.SimpleQueue under the GIL
  cost     the producer's cost: ns per status-callback call (median, p99,
           p99.9), main thread idle and busy in pure-Python work
  wakeup   push -> wait() returning and -> an asyncio reader callback, and
           wake-ups per 1,000 events under saturation
  cring    the C ring alone against DPDK rte_ring and Concurrency Kit ck_ring

Peers that need compiling (the per-event GIL extension, cffi def_extern, the
C rings) are built from bench/peers/ when a source checkout and a compiler
are at hand; otherwise they are reported as not available.  ctypes is always
available, cffi's ABI-mode callbacks when cffi is installed.
"""

import argparse
import asyncio
import ctypes
import gc
import json
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

import cbring
from cbring import _testing

QUICK = os.environ.get("CBRING_BENCH_QUICK", "") not in ("", "0")

# What a WinINet status callback looks like to ctypes and cffi.
_CB_ARGS = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32)
_CFFI_SIGNATURE = "void(void *, uintptr_t, uint32_t, void *, uint32_t)"
_CONTEXT = 8  # offset of dwContext in a record

# -- peers -------------------------------------------------------------------------


class Peers:
    """The compiled and optional peers of one run, and why any is missing."""

    def __init__(self):
        self.pergil = None      # the per-event GIL extension module
        self.cffi_api = None    # the cffi def_extern module
        self.cring = None       # the C ring library (ctypes.CDLL)
        self.missing = {}       # peer name -> reason
        try:
            import cffi  # noqa: F401
            self.cffi = True
        except ImportError:
            self.cffi = False
            self.missing["cffi"] = "cffi is not installed"

    def reason(self, name):
        return self.missing.get(name, "not available")


def find_sources():
    """bench/peers of a source checkout, if one is at hand."""
    candidates = [os.environ.get("CBRING_BENCH_PEERS", ""),
                  os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
                      cbring.__file__)))), "bench", "peers"),
                  os.path.join(os.getcwd(), "bench", "peers")]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "pergil.c")):
            return c
    return None


def _build_extension(name, source, build_dir, quiet=True):
    from setuptools import Distribution, Extension
    dist = Distribution({"name": name, "ext_modules": [Extension(name, [source])],
                         "script_args": ["build_ext"]})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = build_dir
    cmd.build_temp = os.path.join(build_dir, "tmp")
    cmd.ensure_finalized()
    if quiet:
        with open(os.devnull, "w") as null:
            saved = os.dup(1), os.dup(2)
            try:
                os.dup2(null.fileno(), 1)
                os.dup2(null.fileno(), 2)
                cmd.run()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
    else:
        cmd.run()


def _import_from(path, name):
    import importlib.util
    for f in os.listdir(path):
        if f.startswith(name + ".") and f.endswith((".so", ".pyd")):
            spec = importlib.util.spec_from_file_location(name, os.path.join(path, f))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    raise ImportError(f"{name} was not built in {path}")


_CFFI_SOURCE = """
    static void cbring_bench_on_status(void *, uintptr_t, uint32_t, void *, uint32_t);
    static uintptr_t cbring_bench_address(void) { return (uintptr_t)&cbring_bench_on_status; }
"""


def _build_cffi_api(build_dir):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("""
        extern "Python" void cbring_bench_on_status(void *, uintptr_t, uint32_t, void *, uint32_t);
        uintptr_t cbring_bench_address(void);
    """)
    ffi.set_source("_cbring_bench_cffi", _CFFI_SOURCE)
    with open(os.devnull, "w") as null:
        saved = os.dup(1)
        try:
            os.dup2(null.fileno(), 1)
            ffi.compile(tmpdir=build_dir, verbose=False)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return _import_from(build_dir, "_cbring_bench_cffi")


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.split()


def _build_cring(source, build_dir):
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        raise OSError(f"no C compiler ({cc[0]})")
    out = os.path.join(build_dir, "libcring.so")
    base = cc + ["-O3", "-std=gnu11", "-D_GNU_SOURCE", "-shared", "-fPIC", "-I", cbring.get_include(),
                 source, "-o", out, "-lpthread"]
    notes = []
    dpdk = _pkg_config("--cflags", "libdpdk")
    extra, libs = [], []
    if dpdk is not None:
        extra += dpdk + ["-DCRING_HAVE_DPDK"]
        libs += ["-lrte_ring", "-lrte_eal"]
    else:
        notes.append("rte_ring: libdpdk not found by pkg-config (apt-get install libdpdk-dev)")
    extra.append("-DCRING_HAVE_CK")
    attempts = [(extra, libs)]
    if dpdk is not None:
        attempts.append(([e for e in extra if e not in dpdk and e != "-DCRING_HAVE_DPDK"], []))
    attempts.append(([e for e in attempts[-1][0] if e != "-DCRING_HAVE_CK"], []))
    err = ""
    for flags, ls in attempts:
        r = subprocess.run(base[:1] + flags + base[1:] + ls, capture_output=True, text=True)
        if r.returncode == 0:
            if "-DCRING_HAVE_DPDK" not in flags and dpdk is not None:
                notes.append("rte_ring: building against DPDK failed")
            if "-DCRING_HAVE_CK" not in flags:
                notes.append("ck_ring: ck_ring.h not found (apt-get install libck-dev)")
            lib = ctypes.CDLL(out)
            lib.cring_available.argtypes = [ctypes.c_int]
            lib.cring_run.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_uint64,
                                      ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_double,
                                      ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_uint64),
                                      ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]
            return lib, notes
        err = r.stderr
    raise OSError(f"compiling cring.c failed: {err.strip()[-500:]}")


def build_peers(build_dir=None, sources=None):
    """Builds what it can; returns a Peers saying what is available and why not."""
    peers = Peers()
    sources = sources or find_sources()
    if build_dir is None:
        build_dir = tempfile.mkdtemp(prefix="cbring-bench-")
    os.makedirs(build_dir, exist_ok=True)
    if sources is None:
        why = "needs compiling: run from a source checkout (bench/peers) with a C compiler"
        peers.missing.update({"pergil": why, "cffi_api": why, "cring": why})
    else:
        try:
            _build_extension("_cbring_bench_pergil", os.path.join(sources, "pergil.c"), build_dir)
            peers.pergil = _import_from(build_dir, "_cbring_bench_pergil")
        except Exception as e:  # a missing compiler shows up in many forms
            peers.missing["pergil"] = f"cannot build pergil.c: {type(e).__name__}: {e}"[:200]
        if sys.platform.startswith("linux") or sys.platform == "darwin":
            try:
                peers.cring, notes = _build_cring(os.path.join(sources, "cring.c"), build_dir)
                for n in notes:
                    peers.missing[n.split(":")[0]] = n
            except Exception as e:
                peers.missing["cring"] = f"cannot build cring.c: {e}"[:300]
        else:
            peers.missing["cring"] = "the C ring comparison builds on Linux and macOS only"
    if peers.cffi:
        try:
            peers.cffi_api = _build_cffi_api(build_dir)
        except Exception as e:
            peers.missing["cffi_api"] = f"cannot compile a cffi def_extern module: {type(e).__name__}: {e}"[:200]
    else:
        peers.missing["cffi_api"] = "cffi is not installed"
    return peers


# -- measurements ------------------------------------------------------------------


class LostEvents(AssertionError):
    """A benchmark run did not deliver every event: the benchmark is broken."""


def _check(name, got, want, stats=None):
    if got != want:
        raise LostEvents(f"{name}: {got:,} of {want:,} events arrived")
    if stats is not None and (stats.pushed != want or stats.dropped or stats.late):
        raise LostEvents(f"{name}: ring counted {stats}")


def _consume(ring, producers, total, take):
    """Drains with take() until total records arrived, waiting in wait()
    when the ring is empty.  Stops once the producers are done and nothing
    more comes."""
    n = 0
    while n < total:
        k = take()
        if k:
            n += k
        elif not ring.wait(0.2) and producers.finished():
            n += take()
            if not ring.wait(0.2):
                break
    return n


def _events_into_objects(ring):
    def take():
        k = 0
        for ev in ring.drain():
            ev.context  # noqa: B018 - reading a field, as a consumer would
            k += 1
        return k
    return take


def _events_as_buffer(ring, np):
    if np is not None:
        def take():
            a = np.asarray(ring.drain())
            a["status"]  # noqa: B018 - a column, no per-event object
            return len(a)
    else:
        def take():
            return len(memoryview(ring.drain()))
    return take


def _events_into_buffer(ring, batch):
    buf = bytearray(cbring.EVENT_SIZE * batch)

    def take():
        return ring.drain_into(buf)
    return take


def _ring_run(name, threads, events, policy, mode, capacity, batch):
    total = threads * events
    np = _numpy()
    with cbring.Ring(capacity, policy, block_timeout=30.0) as ring:
        producers = _testing.Producers(ring.status_callback, threads, events)
        if mode == "objects":
            take = _events_into_objects(ring)
        elif mode == "buffer":
            take = _events_as_buffer(ring, np)
        else:
            take = _events_into_buffer(ring, batch)
        t0 = time.perf_counter()
        producers.start()
        if mode == "c":
            n, _ = _testing.c_consume(ring, total, batch)
        else:
            n = _consume(ring, producers, total, take)
        dt = time.perf_counter() - t0
        producers.join()
        stats = ring.stats
    _check(name, n, total, stats)
    return dict(events=total, seconds=dt, spilled=stats.spilled, wakeups=stats.wakeups)


def _sharded_run(name, threads, events, policy, capacity, batch):
    """What opt-in per-producer shards would give: one Ring per producer
    thread, the consumer draining each in turn into one buffer.  Order holds
    per producer only (across shards there is none)."""
    rings = [cbring.Ring(capacity, policy, block_timeout=30.0) for _ in range(threads)]
    buf = bytearray(cbring.EVENT_SIZE * batch)
    try:
        producers = [_testing.Producers(r.status_callback, 1, events) for r in rings]
        total, n, idle = threads * events, 0, 0
        t0 = time.perf_counter()
        for p in producers:
            p.start()
        while n < total:
            k = 0
            for r in rings:
                k += r.drain_into(buf)
            n += k
            if not k:
                if all(p.finished() for p in producers) and not any(r.wait(0) for r in rings):
                    idle += 1
                    if idle > 100:
                        break
                else:
                    rings[0].wait(0.001)
        dt = time.perf_counter() - t0
        for p in producers:
            p.join()
        stats = [r.stats for r in rings]
    finally:
        for r in rings:
            r.close()
    _check(name, n, total)
    for st in stats:
        if st.pushed != events or st.dropped or st.late:
            raise LostEvents(f"{name}: a shard counted {st}")
    return dict(events=total, seconds=dt, spilled=sum(st.spilled for st in stats),
                wakeups=sum(st.wakeups for st in stats))


def _ctypes_run(name, threads, events, keep):
    total = threads * events
    received = []
    proto = ctypes.CFUNCTYPE(None, *_CB_ARGS)

    def on_status(handle, context, status, info, length):
        received.append((handle, context, status))

    cb = proto(on_status)
    producers = _testing.Producers(ctypes.cast(cb, ctypes.c_void_p).value, threads, events,
                                   keep_thread_state=keep)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    _check(name, len(received), total)
    return dict(events=total, seconds=dt)


def _cffi_abi_run(name, threads, events):
    import cffi
    ffi = cffi.FFI()
    received = []

    @ffi.callback(_CFFI_SIGNATURE)
    def on_status(handle, context, status, info, length):
        received.append((int(ffi.cast("uintptr_t", handle)), context, status))

    address = int(ffi.cast("uintptr_t", on_status))
    producers = _testing.Producers(address, threads, events)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    total = threads * events
    _check(name, len(received), total)
    return dict(events=total, seconds=dt)


def _cffi_api_run(peers, name, threads, events):
    mod = peers.cffi_api
    ffi = mod.ffi
    received = []

    @ffi.def_extern(name="cbring_bench_on_status")
    def on_status(handle, context, status, info, length):
        received.append((int(ffi.cast("uintptr_t", handle)), context, status))

    producers = _testing.Producers(mod.lib.cbring_bench_address(), threads, events)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    total = threads * events
    _check(name, len(received), total)
    return dict(events=total, seconds=dt)


def _pergil_run(peers, name, threads, events, how):
    mod = peers.pergil
    total = threads * events
    if how == "list":
        sink = []
        mod.set_sink(sink)
        producers = _testing.Producers(mod.append_callback(), threads, events)
        t0 = time.perf_counter()
        producers.start()
        producers.join()
        dt = time.perf_counter() - t0
        got = len(sink)
        mod.set_sink([])
    else:
        q = queue.SimpleQueue()
        mod.set_queue(q)
        producers = _testing.Producers(mod.put_callback(), threads, events)
        get = q.get
        got = 0
        t0 = time.perf_counter()
        producers.start()
        try:
            for _ in range(total):
                get(timeout=10.0)
                got += 1
        except queue.Empty:
            pass
        dt = time.perf_counter() - t0
        producers.join()
        mod.set_queue(queue.SimpleQueue())
    _check(name, got, total)
    return dict(events=total, seconds=dt)


def _numpy():
    try:
        import numpy
        return numpy
    except ImportError:
        return None


# Sizes: events per producer thread for one run, chosen so that a run takes
# about 0.1-0.3 s on a 2-core machine.  QUICK divides them for the smoke run.
_SCALE = 20 if QUICK else 1


def _n(events):
    return max(600, events // _SCALE)


E2E_CAPACITY = 1 << 16
E2E_BATCH = 8192


def e2e_cases(peers):
    """name -> (description, peer key or None, fn(threads) -> measurement)."""
    np_note = "numpy.asarray(batch)" if _numpy() is not None else "memoryview(batch)"
    cases = {
        "cbring drain_into": (
            "Ring(overflow='block').drain_into(bytearray) of 8192 records, wait() when empty",
            None, lambda t: _ring_run("cbring drain_into", t, _n(4_000_000 // t), "block", "into",
                                      E2E_CAPACITY, E2E_BATCH)),
        "cbring buffer": (
            f"Ring(overflow='block').drain(), read as {np_note}: no per-event object",
            None, lambda t: _ring_run("cbring buffer", t, _n(2_000_000 // t), "block", "buffer",
                                      E2E_CAPACITY, E2E_BATCH)),
        "cbring StatusEvent": (
            "Ring(overflow='block').drain(), iterated: a StatusEvent per event, .context read",
            None, lambda t: _ring_run("cbring StatusEvent", t, _n(600_000 // t), "block", "objects",
                                      E2E_CAPACITY, E2E_BATCH)),
        "cbring drain_into spill": (
            "as cbring drain_into, with the default overflow='spill'",
            None, lambda t: _ring_run("cbring drain_into spill", t, _n(2_000_000 // t), "spill", "into",
                                      E2E_CAPACITY, E2E_BATCH)),
        "cbring shards": (
            "one Ring ('block') per producer thread, drain_into each in turn: per-producer shards, "
            "order kept per producer only",
            "shards", lambda t: _sharded_run("cbring shards", t, _n(4_000_000 // t), "block",
                                             E2E_CAPACITY, E2E_BATCH)),
        "C consumer": (
            "the same ring ('block') drained by the same loop in C (drain 8192, wait when empty), "
            "without Python: the floor of the hand-off",
            None, lambda t: _ring_run("C consumer", t, _n(4_000_000 // t), "block", "c",
                                      E2E_CAPACITY, E2E_BATCH)),
        "ctypes": (
            "ctypes.CFUNCTYPE callback per event (list.append of a tuple)",
            None, lambda t: _ctypes_run("ctypes", t, _n(20_000 // t), False)),
        "ctypes kept tstate": (
            "the same, the producer thread keeping one Python thread state",
            None, lambda t: _ctypes_run("ctypes kept tstate", t, _n(200_000 // t), True)),
        "cffi callback": (
            "cffi ABI-mode ffi.callback per event",
            "cffi", lambda t: _cffi_abi_run("cffi callback", t, _n(150_000 // t))),
        "cffi def_extern": (
            "cffi API-mode @ffi.def_extern per event",
            "cffi_api", lambda t: _cffi_api_run(peers, "cffi def_extern", t, _n(200_000 // t))),
        "pywin32-shaped": (
            "C extension: PyGILState_Ensure + decoded tuple + list.append per event (pywin32's shape)",
            "pergil", lambda t: _pergil_run(peers, "pywin32-shaped", t, _n(200_000 // t), "list")),
        "SimpleQueue": (
            "the same C callback, queue.SimpleQueue.put per event; this thread get()s each",
            "pergil", lambda t: _pergil_run(peers, "SimpleQueue", t, _n(100_000 // t), "queue")),
    }
    return cases


def _available(peers, key):
    if key is None or key == "shards":
        return True
    if key == "cffi":
        return peers.cffi
    return getattr(peers, key) is not None


# -- the producer's cost -------------------------------------------------------------

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
        ring, buf = sink, bytearray(cbring.EVENT_SIZE * E2E_BATCH)
        _consume(ring, producers, events, lambda: ring.drain_into(buf))
    producers.join()
    dt = time.perf_counter() - t0
    hist = producers.histogram()
    if sum(hist) != events // group:
        raise LostEvents(f"{name}: {sum(hist) * group} of {events} calls timed")
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
    with cbring.Ring(1 << 18 if main != "draining" else E2E_CAPACITY, "block", block_timeout=30.0) as ring:
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
    _check(name, n, events)
    if stats.pushed - before != events or stats.dropped or stats.late:
        raise LostEvents(f"{name}: ring counted {stats}")
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
    _check(name, n, events)
    return r


def _cost_ctypes(name, events, main, keep=False):
    received = []
    cb = ctypes.CFUNCTYPE(None, *_CB_ARGS)(lambda h, c, s, i, ln: received.append((h, c, s)))
    r = _cost_run(name, ctypes.cast(cb, ctypes.c_void_p).value, events, main, keep=keep)
    _check(name, len(received), events)
    return r


def _cost_pergil(peers, name, events, main):
    sink = []
    peers.pergil.set_sink(sink)
    r = _cost_run(name, peers.pergil.append_callback(), events, main)
    _check(name, len(sink), events)
    peers.pergil.set_sink([])
    return r


def _cost_cffi(peers, name, events, main):
    mod = peers.cffi_api
    received = []

    @mod.ffi.def_extern(name="cbring_bench_on_status")
    def on_status(handle, context, status, info, length):
        received.append((context, status))

    r = _cost_run(name, mod.lib.cbring_bench_address(), events, main)
    _check(name, len(received), events)
    return r


COST_EVENTS = 200_000
BUSY_EVENTS = 400  # per-event callbacks wait for the GIL's switch interval (5 ms) each


def cost_cases(peers):
    n, busy = _n(COST_EVENTS), max(40, BUSY_EVENTS // (4 if QUICK else 1))
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
                              None, lambda: _cost_ctypes("ctypes idle", _n(20_000), "idle")),
        "ctypes, main busy": ("ctypes CFUNCTYPE callback, main thread running pure Python",
                              None, lambda: _cost_ctypes("ctypes busy", busy, "busy")),
        "cffi def_extern, main idle": ("cffi def_extern callback, main thread idle",
                                       "cffi_api", lambda: _cost_cffi(peers, "cffi idle", _n(100_000), "idle")),
        "cffi def_extern, main busy": ("cffi def_extern callback, main thread running pure Python",
                                       "cffi_api", lambda: _cost_cffi(peers, "cffi busy", busy, "busy")),
        "pywin32-shaped, main idle": ("per-event GIL C extension, main thread idle",
                                      "pergil", lambda: _cost_pergil(peers, "pergil idle", _n(100_000), "idle")),
        "pywin32-shaped, main busy": ("per-event GIL C extension, main thread running pure Python",
                                      "pergil", lambda: _cost_pergil(peers, "pergil busy", busy, "busy")),
        "untimed: null callback": ("mean ns per call of the bare loop (no clock reads)",
                                   None, lambda: _cost_untimed("null", _testing.null_callback, n * 5)),
        "untimed: cbring": ("mean ns per call into a ring (no clock reads)",
                            None, lambda: _cost_ring_untimed("cbring", n)),
    }


# -- wake-ups --------------------------------------------------------------------------

WAKE_RATE = 2000     # events/s while measuring latency: each event finds the consumer asleep
WAKE_EVENTS = 1000


def _first_stamp(buf):
    """dwContext of the first record in buf: the producer's cbr_now_ns() at the push."""
    return memoryview(buf).cast("Q")[_CONTEXT // 8]


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
    _check(name, n, events, stats)
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
    _check(name, n, events, stats)
    return dict(events=events, wakes=len(lat), median_us=statistics.median(lat) / 1e3,
                p99_us=_q(lat, 0.99) / 1e3, wakeups=stats.wakeups, seconds=events / WAKE_RATE)


def _wake_saturated(name, events, how):
    with cbring.Ring(E2E_CAPACITY, "block", block_timeout=30.0) as ring:
        buf = bytearray(cbring.EVENT_SIZE * E2E_BATCH)
        producers = _testing.Producers(ring.status_callback, 1, events)
        t0 = time.perf_counter()
        if how == "wait":
            producers.start()
            n = _consume(ring, producers, events, lambda: ring.drain_into(buf))
        elif how == "c":
            producers.start()
            n, _ = _testing.c_consume(ring, events, E2E_BATCH)
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
    _check(name, n, events, stats)
    return dict(events=events, seconds=dt, wakeups=stats.wakeups,
                wakeups_per_1000=stats.wakeups * 1000 / events)


def wakeup_cases(peers):
    lat_n = max(100, WAKE_EVENTS // (5 if QUICK else 1))
    sat_n = _n(4_000_000)
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


# -- the C rings -------------------------------------------------------------------------

CRING_KINDS = {"cbring": 0, "cbring spill": 1, "rte_ring": 2, "ck_ring": 3}
CRING_CAPACITY = 4096
CRING_BUDGET_S = 0.5


def _cring_run(peers, kind, producers, bulk, consumer=True):
    lib = peers.cring
    k = CRING_KINDS[kind]
    if not lib.cring_available(k):
        raise LookupError(kind)
    per = _n(2_000_000 // producers) if consumer else _n(1 << 20) // producers
    capacity = CRING_CAPACITY if consumer else 1 << ((per * producers).bit_length())
    ns, made, got, bad = ctypes.c_double(), ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
    # not pinned: on a shared machine a pinned thread waits for its one CPU
    # while the other may be free (measured: 1-9M/s pinned, 30-80M/s not)
    pin = 0
    rc = lib.cring_run(k, producers, bulk, per, int(consumer), capacity, pin, CRING_BUDGET_S / (1 if not QUICK else 4),
                       ctypes.byref(ns), ctypes.byref(made), ctypes.byref(got), ctypes.byref(bad))
    name = f"{kind} {producers}p bulk {bulk}"
    if rc != 0:
        raise LostEvents(f"{name}: cring_run returned {rc}")
    if got.value != made.value or bad.value:
        raise LostEvents(f"{name}: {got.value:,} of {made.value:,} records arrived, {bad.value} out of order")
    return dict(events=made.value, seconds=ns.value / 1e9, capped=made.value < per * producers)


def cring_cases(peers):
    out = {}
    for producers in (1, 2):
        for bulk in (1, 8, 32):
            for kind in CRING_KINDS:
                key = {"rte_ring": "rte_ring", "ck_ring": "ck_ring"}.get(kind)
                out[f"{kind}, {producers}p, bulk {bulk}"] = (
                    f"{kind}: {producers} producer(s) -> 1 consumer, {bulk} records per enqueue/dequeue",
                    ("cring", key), (lambda k=kind, p=producers, b=bulk: _cring_run(peers, k, p, b)))
    for producers in (1, 2):
        for kind in CRING_KINDS:
            key = {"rte_ring": "rte_ring", "ck_ring": "ck_ring"}.get(kind)
            out[f"{kind}, {producers}p alone"] = (
                f"{kind}: {producers} producer(s), no consumer, the ring holds every record",
                ("cring", key), (lambda k=kind, p=producers: _cring_run(peers, k, p, 1, consumer=False)))
    for producers in (1, 2):
        out[f"Ring callback, {producers}p alone"] = (
            f"{producers} Producers thread(s) into one Ring's status callback, no consumer",
            None, (lambda p=producers: _ring_alone(p)))
    return out


def _ring_alone(threads):
    per = _n(1 << 19) // threads
    with cbring.Ring(1 << 20, "block", block_timeout=30.0) as ring:
        with _testing.Producers(ring.status_callback, 1, ring.capacity):
            pass
        ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
        with _testing.Producers(ring.status_callback, threads, per) as p:
            pass
        elapsed = max(r["elapsed_ns"] for r in p.results())
        n = ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
    _check(f"Ring alone {threads}p", n, per * threads)
    return dict(events=n, seconds=elapsed / 1e9)


def _cring_available(peers, key):
    lib_key, sub = key
    if peers.cring is None:
        return False
    if sub is None:
        return True
    return peers.cring.cring_available(CRING_KINDS[sub]) == 1


# -- the engine --------------------------------------------------------------------------

FAMILIES = ("e2e", "cost", "wakeup", "cring")


def family_cases(family, peers):
    """[(case name, description, fn() -> measurement)] for one family; a
    case whose peer is missing has fn None and its reason as description."""
    out = []
    if family == "e2e":
        for threads in (1, 2):
            for name, (desc, key, fn) in e2e_cases(peers).items():
                if key == "shards" and threads == 1:
                    continue  # one shard is the plain ring
                label = f"{name}, {threads}p"
                if _available(peers, key):
                    out.append((label, desc, (lambda f=fn, t=threads: f(t))))
                else:
                    out.append((label, peers.reason(key), None))
    else:
        cases = {"cost": cost_cases, "wakeup": wakeup_cases, "cring": cring_cases}[family](peers)
        for name, (desc, key, fn) in cases.items():
            if isinstance(key, tuple):
                ok = _cring_available(peers, key)
                why = peers.reason(key[1] or "cring") if key[1] and peers.cring is not None else peers.reason("cring")
            else:
                ok = _available(peers, key)
                why = peers.reason(key)
            out.append((name, desc, fn if ok else None) if ok else (name, why, None))
    return out


def run_case(fn):
    gc.collect()
    r = fn()
    r.setdefault("rate", r["events"] / r["seconds"] if r.get("seconds") else None)
    return r


def summarize(runs):
    """Median and spread of a case's runs."""
    def med(key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if not vals:
            return None
        return dict(median=statistics.median(vals), min=min(vals), max=max(vals), n=len(vals))
    keys = set().union(*(r.keys() for r in runs)) - {"hist"}
    return {k: med(k) for k in sorted(keys) if all(isinstance(r.get(k, 0), (int, float)) for r in runs)}


def measure(families=FAMILIES, rounds=None, peers=None, progress=None):
    """Runs every case of each family `rounds` times, interleaved (round by
    round) so that the machine's noise falls on all of them alike.  Returns
    {family: {case: {"description", "runs", "summary"} or {"missing": reason}}}."""
    peers = peers or build_peers()
    rounds = rounds or (1 if QUICK else 5)
    results = {}
    for family in families:
        cases = family_cases(family, peers)
        fam = results.setdefault(family, {})
        for name, desc, fn in cases:
            fam[name] = {"description": desc, "runs": []} if fn else {"missing": desc}
        for rnd in range(rounds):
            for name, desc, fn in cases:
                if fn is None:
                    continue
                if progress:
                    progress(f"{family}: round {rnd + 1}/{rounds}: {name}")
                fam[name]["runs"].append(run_case(fn))
        for name, entry in fam.items():
            if "runs" in entry:
                entry["summary"] = summarize(entry["runs"])
                for r in entry["runs"]:
                    r.pop("hist", None)
    return results


# -- targets and tables --------------------------------------------------------------------

def _rate(results, family, case):
    e = results.get(family, {}).get(case)
    if not e or "summary" not in e or not e["summary"].get("rate"):
        return None
    return e["summary"]["rate"]["median"]


def _val(results, family, case, key):
    e = results.get(family, {}).get(case)
    if not e or "summary" not in e or not e["summary"].get(key):
        return None
    return e["summary"][key]["median"]


def _runs(results, family, case, key):
    e = results.get(family, {}).get(case)
    if not e or "runs" not in e:
        return None
    vals = [r.get(key) for r in e["runs"]]
    return vals if vals and all(v is not None for v in vals) else None


def paired(results, family, a, b, key="rate", op=lambda x, y: x / y):
    """op(a, b) round by round (rounds are interleaved, so each pair ran under
    the same load): (median, min, max), or None."""
    va, vb = _runs(results, family, a, key), _runs(results, family, b, key)
    if not va or not vb:
        return None
    vals = [op(x, y) for x, y in zip(va, vb) if y]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def targets(results):
    """The issue's targets: [(target, measured, verdict)], verdict "met",
    "missed" or "not measured"."""
    out = []

    def add(text, value, ok, fmt):
        if value is None:
            out.append((text, "not measured", "not measured"))
        elif isinstance(value, tuple):
            out.append((text, f"{fmt(value[0])} [{fmt(value[1])} to {fmt(value[2])}]",
                        "met" if ok(value[0]) else "missed"))
        else:
            out.append((text, fmt(value), "met" if ok(value) else "missed"))

    e2e_buf = "cbring drain_into, 1p"
    if (_rate(results, "e2e", "cbring buffer, 1p") or 0) > (_rate(results, "e2e", e2e_buf) or 0):
        e2e_buf = "cbring buffer, 1p"
    cffi1 = "cffi def_extern, 1p" if _rate(results, "e2e", "cffi def_extern, 1p") else "cffi callback, 1p"
    m = lambda v: f"{v / 1e6:.1f}M/s"  # noqa: E731
    x = lambda v: f"{v:.2f}x"  # noqa: E731
    pct = lambda v: f"{v:.0%}"  # noqa: E731
    ns = lambda v: f"{v:.1f} ns"  # noqa: E731
    add(f"{e2e_buf.split(',')[0]}, 1 producer: >= 100M events/s", _rate(results, "e2e", e2e_buf),
        lambda v: v >= 100e6, m)
    add(f"{e2e_buf.split(',')[0]}: >= 80% of the C consumer (per-round ratio)",
        paired(results, "e2e", e2e_buf, "C consumer, 1p"), lambda v: v >= 0.8, pct)
    add(f"{e2e_buf.split(',')[0]}: >= 500x ctypes (per-round ratio)",
        paired(results, "e2e", e2e_buf, "ctypes, 1p"), lambda v: v >= 500, x)
    add("StatusEvent, 1 producer: >= 3M events/s", _rate(results, "e2e", "cbring StatusEvent, 1p"),
        lambda v: v >= 3e6, m)
    add(f"StatusEvent: >= 1.5x {cffi1.split(',')[0]} (per-round ratio)",
        paired(results, "e2e", "cbring StatusEvent, 1p", cffi1), lambda v: v >= 1.5, x)
    add("StatusEvent: >= 20x ctypes (per-round ratio)",
        paired(results, "e2e", "cbring StatusEvent, 1p", "ctypes, 1p"), lambda v: v >= 20, x)
    sub = lambda a, b: a - b  # noqa: E731
    add("producer: median <= 10 ns per call (grouped median minus the null callback's, per round)",
        paired(results, "cost", "cbring, main idle", "harness (null callback)", "median_ns", sub),
        lambda v: v <= 10, ns)
    add("producer: mean <= 10 ns per call without clock reads (minus the bare loop's, per round)",
        paired(results, "cost", "untimed: cbring", "untimed: null callback", "mean_ns", sub),
        lambda v: v <= 10, ns)
    null = _val(results, "cost", "harness (null callback)", "median_ns")
    idle = _val(results, "cost", "cbring, main idle", "median_ns")
    busy = _val(results, "cost", "cbring, main busy", "median_ns")
    add("producer: busy main thread within 10% of idle (net medians)",
        (busy - null) / (idle - null) - 1 if busy and idle and null and idle > null else None,
        lambda v: abs(v) <= 0.10, lambda v: f"{v:+.0%}")
    add("wake-up: median push -> wait() <= 25 us", _val(results, "wakeup", "push -> wait()", "median_us"),
        lambda v: v <= 25, lambda v: f"{v:.1f} us")
    for case in ("saturated, wait()", "saturated, C consumer in wait()", "saturated, asyncio reader"):
        add(f"wake-up: <= 1 per 1,000 events under saturation ({case.split(', ')[1]})",
            _val(results, "wakeup", case, "wakeups_per_1000"), lambda v: v <= 1, lambda v: f"{v:.3f}")
    for producers in (1, 2):
        for bulk in (1, 8, 32):
            for peer in ("rte_ring", "ck_ring"):
                add(f"C ring >= {peer}, {producers}p, bulk {bulk} (per-round ratio)",
                    paired(results, "cring", f"cbring, {producers}p, bulk {bulk}",
                           f"{peer}, {producers}p, bulk {bulk}"), lambda v: v >= 1.0, x)
    return out


def _fmt_rate(s):
    if not s:
        return "-"
    r = s["rate"]
    return f"{r['median'] / 1e6:9.2f}M [{r['min'] / 1e6:.2f}-{r['max'] / 1e6:.2f}]"


def render(results, out=sys.stdout):
    w = out.write
    if "e2e" in results:
        fam = results["e2e"]
        peers = ["ctypes", "ctypes kept tstate", "cffi callback", "cffi def_extern", "pywin32-shaped",
                 "SimpleQueue", "C consumer"]
        short = {"ctypes": "ctypes", "ctypes kept tstate": "ctypes-kept", "cffi callback": "cffi-abi",
                 "cffi def_extern": "cffi-api", "pywin32-shaped": "pywin32", "SimpleQueue": "SimpleQ",
                 "C consumer": "C-floor"}
        w("\nEnd-to-end: native producer threads -> Python (median of rounds [min-max], ratio = this row's "
          "median / the column's median, same producer count)\n")
        w(f"  {'path':<32}{'events/s':>30}{'ns/event':>10}" + "".join(f"{short[p]:>12}" for p in peers) + "\n")
        for threads in (1, 2):
            for name, e in fam.items():
                if not name.endswith(f", {threads}p"):
                    continue
                if "missing" in e:
                    w(f"  {name:<32}  not available: {e['missing']}\n")
                    continue
                s = e["summary"]
                rate = s["rate"]["median"]
                cols = ""
                for p in peers:
                    pr = _rate(results, "e2e", f"{p}, {threads}p")
                    cols += f"{rate / pr:>11.2f}x" if pr else f"{'-':>12}"
                w(f"  {name:<32}{_fmt_rate(s):>30}{1e9 / rate:>10.1f}{cols}\n")
                extra = [f"{k}={s[k]['median']:,.0f}" for k in ("spilled", "wakeups") if s.get(k)]
                if extra:
                    w(f"  {'':<32}  ({', '.join(extra)}, medians)\n")
            w("\n")
    if "cost" in results:
        w("\nThe producer's cost: one producer thread, ns per status-callback call, gross (clock reads "
          f"included); fast callbacks: median over groups of {GROUP} calls, p99/p99.9 per call; "
          "median [min-max] of rounds\n")
        w(f"  {'case':<30}{'median':>22}{'p99':>12}{'p99.9':>12}{'calls':>10}\n")
        for name, e in results["cost"].items():
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
    if "wakeup" in results:
        w("\nWake-ups (median of rounds [min-max])\n")
        for name, e in results["wakeup"].items():
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
                  f"   {_fmt_rate(s)} events/s\n")
    if "cring" in results:
        w(f"\nThe C ring alone (64-byte records, capacity {CRING_CAPACITY}; threads not pinned; "
          "events/s, median [min-max]; ratio = cbring / the peer, median of per-round ratios)\n")
        fam = results["cring"]
        for name, e in fam.items():
            if "missing" in e:
                w(f"  {name:<26}  not available: {e['missing']}\n")
                continue
            s = e["summary"]
            ratio = ""
            if name.startswith(("rte_ring", "ck_ring")):
                pr = paired(results, "cring", "cbring" + name[name.index(","):], name)
                if pr:
                    ratio = f"   cbring/this = {pr[0]:.2f}x [{pr[1]:.2f}-{pr[2]:.2f}] per round"
            w(f"  {name:<26}{_fmt_rate(s):>30}{ratio}\n")
    t = targets(results)
    if t:
        w("\nTargets (issue 3)\n")
        for text, value, verdict in t:
            if verdict == "not measured" and value == "not measured":
                continue
            w(f"  {verdict.upper():<7} {text}: {value}\n")


def machine():
    return dict(python=sys.version.split()[0], implementation=platform.python_implementation(),
                platform=platform.platform(), machine=platform.machine(), cpus=os.cpu_count(),
                cbring=cbring.__version__, quick=QUICK,
                load=os.getloadavg() if hasattr(os, "getloadavg") else None)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cbring bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("families", nargs="*", metavar="FAMILY",
                        help=f"families to run, of {', '.join(FAMILIES)} (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 5, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small runs, one round: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    parser.add_argument("--peers", metavar="DIR", help="bench/peers sources to build the compiled peers from")
    args = parser.parse_args(argv)
    global QUICK, _SCALE
    if args.quick:
        QUICK, _SCALE = True, 20
    for f in args.families:
        if f not in FAMILIES:
            parser.error(f"unknown family {f!r}; choose from {', '.join(FAMILIES)}")
    families = tuple(args.families) or FAMILIES
    load = " load average %.2f %.2f %.2f," % os.getloadavg() if hasattr(os, "getloadavg") else ""
    print(f"cbring {cbring.__version__} benchmarks, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs,{load} {'quick, ' if QUICK else ''}"
          f"{args.rounds or (1 if QUICK else 5)} round(s) per case, interleaved", flush=True)
    build = tempfile.mkdtemp(prefix="cbring-bench-")
    try:
        peers = build_peers(build, args.peers)
        for name, why in sorted(peers.missing.items()):
            print(f"  not available: {name}: {why}")

        def progress(msg):
            sys.stderr.write(f"\r  {msg[:100]:<100}")
            sys.stderr.flush()
        results = measure(families, args.rounds, peers, progress=progress if sys.stderr.isatty() else None)
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 102 + "\r")
        render(results)
        if hasattr(os, "getloadavg"):
            print("\nload average at the end: %.2f %.2f %.2f" % os.getloadavg())
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(machine=machine(), results=results,
                               targets=[dict(target=t, measured=v, verdict=d) for t, v, d in targets(results)]),
                          f, indent=1)
            print(f"\nraw figures written to {args.json}")
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return 0
