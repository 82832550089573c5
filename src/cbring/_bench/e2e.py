"""End-to-end events/s: native producer threads -> Python, 1 and 2 producers.

Every path is fed by the same cbring._testing.Producers threads calling a C
status callback as WinINet does: a Ring's, a ctypes or cffi callback, or the
pywin32-shaped extension's; each run counts that every event arrived."""

import ctypes
import queue
import time

import cbring
from cbring import _testing
from cbring._bench import _harness as h
from cbring._bench._peers import available

NAME = "e2e"


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
    np = h.numpy()
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
            n = h.consume(ring, producers, total, take)
        dt = time.perf_counter() - t0
        producers.join()
        stats = ring.stats
    h.check(name, n, total, stats)
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
    h.check(name, n, total)
    for st in stats:
        if st.pushed != events or st.dropped or st.late:
            raise h.LostEvents(f"{name}: a shard counted {st}")
    return dict(events=total, seconds=dt, spilled=sum(st.spilled for st in stats),
                wakeups=sum(st.wakeups for st in stats))


def _ctypes_run(name, threads, events, keep):
    total = threads * events
    received = []
    proto = ctypes.CFUNCTYPE(None, *h.CB_ARGS)

    def on_status(handle, context, status, info, length):
        received.append((handle, context, status))

    cb = proto(on_status)
    producers = _testing.Producers(ctypes.cast(cb, ctypes.c_void_p).value, threads, events,
                                   keep_thread_state=keep)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    h.check(name, len(received), total)
    return dict(events=total, seconds=dt)


def _cffi_abi_run(name, threads, events):
    import cffi
    ffi = cffi.FFI()
    received = []

    @ffi.callback(h.CFFI_SIGNATURE)
    def on_status(handle, context, status, info, length):
        received.append((int(ffi.cast("uintptr_t", handle)), context, status))

    address = int(ffi.cast("uintptr_t", on_status))
    producers = _testing.Producers(address, threads, events)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    total = threads * events
    h.check(name, len(received), total)
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
    h.check(name, len(received), total)
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
    h.check(name, got, total)
    return dict(events=total, seconds=dt)


def e2e_cases(peers):
    """name -> (description, peer key or None, fn(threads) -> measurement)."""
    np_note = "numpy.asarray(batch)" if h.numpy() is not None else "memoryview(batch)"
    cases = {
        "cbring drain_into": (
            "Ring(overflow='block').drain_into(bytearray) of 8192 records, wait() when empty",
            None, lambda t: _ring_run("cbring drain_into", t, h.n(4_000_000 // t), "block", "into",
                                      h.E2E_CAPACITY, h.E2E_BATCH)),
        "cbring buffer": (
            f"Ring(overflow='block').drain(), read as {np_note}: no per-event object",
            None, lambda t: _ring_run("cbring buffer", t, h.n(2_000_000 // t), "block", "buffer",
                                      h.E2E_CAPACITY, h.E2E_BATCH)),
        "cbring StatusEvent": (
            "Ring(overflow='block').drain(), iterated: a StatusEvent per event, .context read",
            None, lambda t: _ring_run("cbring StatusEvent", t, h.n(600_000 // t), "block", "objects",
                                      h.E2E_CAPACITY, h.E2E_BATCH)),
        "cbring drain_into spill": (
            "as cbring drain_into, with the default overflow='spill'",
            None, lambda t: _ring_run("cbring drain_into spill", t, h.n(2_000_000 // t), "spill", "into",
                                      h.E2E_CAPACITY, h.E2E_BATCH)),
        "cbring shards": (
            "one Ring ('block') per producer thread, drain_into each in turn: per-producer shards, "
            "order kept per producer only",
            "shards", lambda t: _sharded_run("cbring shards", t, h.n(4_000_000 // t), "block",
                                             h.E2E_CAPACITY, h.E2E_BATCH)),
        "C consumer": (
            "the same ring ('block') drained by the same loop in C (drain 8192, wait when empty), "
            "without Python: the floor of the hand-off",
            None, lambda t: _ring_run("C consumer", t, h.n(4_000_000 // t), "block", "c",
                                      h.E2E_CAPACITY, h.E2E_BATCH)),
        "ctypes": (
            "ctypes.CFUNCTYPE callback per event (list.append of a tuple)",
            None, lambda t: _ctypes_run("ctypes", t, h.n(20_000 // t), False)),
        "ctypes kept tstate": (
            "the same, the producer thread keeping one Python thread state",
            None, lambda t: _ctypes_run("ctypes kept tstate", t, h.n(200_000 // t), True)),
        "cffi callback": (
            "cffi ABI-mode ffi.callback per event",
            "cffi", lambda t: _cffi_abi_run("cffi callback", t, h.n(150_000 // t))),
        "cffi def_extern": (
            "cffi API-mode @ffi.def_extern per event",
            "cffi_api", lambda t: _cffi_api_run(peers, "cffi def_extern", t, h.n(200_000 // t))),
        "pywin32-shaped": (
            "C extension: PyGILState_Ensure + decoded tuple + list.append per event (pywin32's shape)",
            "pergil", lambda t: _pergil_run(peers, "pywin32-shaped", t, h.n(200_000 // t), "list")),
        "SimpleQueue": (
            "the same C callback, queue.SimpleQueue.put per event; this thread get()s each",
            "pergil", lambda t: _pergil_run(peers, "SimpleQueue", t, h.n(100_000 // t), "queue")),
    }
    return cases


def cases(peers):
    """[(case name, description, fn() or None)]; a missing peer gives None
    and its reason as the description."""
    out = []
    for threads in (1, 2):
        for name, (desc, key, fn) in e2e_cases(peers).items():
            if key == "shards" and threads == 1:
                continue  # one shard is the plain ring
            label = f"{name}, {threads}p"
            if available(peers, key):
                out.append((label, desc, (lambda f=fn, t=threads: f(t))))
            else:
                out.append((label, peers.reason(key), None))
    return out


_PEERS = ["ctypes", "ctypes kept tstate", "cffi callback", "cffi def_extern", "pywin32-shaped",
          "SimpleQueue", "C consumer"]
_SHORT = {"ctypes": "ctypes", "ctypes kept tstate": "ctypes-kept", "cffi callback": "cffi-abi",
          "cffi def_extern": "cffi-api", "pywin32-shaped": "pywin32", "SimpleQueue": "SimpleQ",
          "C consumer": "C-floor"}


def render(results, w):
    if NAME not in results:
        return
    fam = results[NAME]
    w("\nEnd-to-end: native producer threads -> Python (median of rounds [min-max], ratio = this row's "
      "median / the column's median, same producer count)\n")
    w(f"  {'path':<32}{'events/s':>30}{'ns/event':>10}" + "".join(f"{_SHORT[p]:>12}" for p in _PEERS) + "\n")
    for threads in (1, 2):
        for name, e in fam.items():
            if not name.endswith(f", {threads}p"):
                continue
            if "missing" in e:
                w(f"  {name:<32}  not available: {e['missing']}\n")
                continue
            s = e["summary"]
            r = s["rate"]["median"]
            cols = ""
            for p in _PEERS:
                pr = h.rate(results, NAME, f"{p}, {threads}p")
                cols += f"{r / pr:>11.2f}x" if pr else f"{'-':>12}"
            w(f"  {name:<32}{h.fmt_rate(s):>30}{1e9 / r:>10.1f}{cols}\n")
            extra = [f"{k}={s[k]['median']:,.0f}" for k in ("spilled", "wakeups") if s.get(k)]
            if extra:
                w(f"  {'':<32}  ({', '.join(extra)}, medians)\n")
        w("\n")


def targets(results, t):
    e2e_buf = "cbring drain_into, 1p"
    if (h.rate(results, NAME, "cbring buffer, 1p") or 0) > (h.rate(results, NAME, e2e_buf) or 0):
        e2e_buf = "cbring buffer, 1p"
    cffi1 = "cffi def_extern, 1p" if h.rate(results, NAME, "cffi def_extern, 1p") else "cffi callback, 1p"
    m = lambda v: f"{v / 1e6:.1f}M/s"  # noqa: E731
    x = lambda v: f"{v:.2f}x"  # noqa: E731
    pct = lambda v: f"{v:.0%}"  # noqa: E731
    t.add(f"{e2e_buf.split(',')[0]}, 1 producer: >= 100M events/s", h.rate(results, NAME, e2e_buf),
          lambda v: v >= 100e6, m)
    t.add(f"{e2e_buf.split(',')[0]}: >= 80% of the C consumer (per-round ratio)",
          h.paired(results, NAME, e2e_buf, "C consumer, 1p"), lambda v: v >= 0.8, pct)
    t.add(f"{e2e_buf.split(',')[0]}: >= 500x ctypes (per-round ratio)",
          h.paired(results, NAME, e2e_buf, "ctypes, 1p"), lambda v: v >= 500, x)
    t.add("StatusEvent, 1 producer: >= 3M events/s", h.rate(results, NAME, "cbring StatusEvent, 1p"),
          lambda v: v >= 3e6, m)
    t.add(f"StatusEvent: >= 1.5x {cffi1.split(',')[0]} (per-round ratio)",
          h.paired(results, NAME, "cbring StatusEvent, 1p", cffi1), lambda v: v >= 1.5, x)
    t.add("StatusEvent: >= 20x ctypes (per-round ratio)",
          h.paired(results, NAME, "cbring StatusEvent, 1p", "ctypes, 1p"), lambda v: v >= 20, x)
