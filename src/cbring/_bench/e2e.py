"""End-to-end events/s: native producer threads -> Python, 1 and 2 producers.

Every path is fed by the same cbring._testing.Producers threads calling a C
status callback as WinINet does: a Ring's, a ctypes or cffi callback, or the
pywin32-shaped extension's; each run counts that every event arrived.

Two kinds of rows, each compared only with its own kind:

- Python objects: every row builds the same five-field tuple per event,
  (handle, context, status, result, error), and keeps every tuple until the
  run ends, as a downloader's bookkeeping would.  cbring through
  Batch.tuples() and through a StatusEvent loop; the peers in their callback.
  With one producer, the first request's tuples of every row are checked
  against the same expected six.
- Zero-copy: no per-event object (drain_into a buffer, numpy views of a
  Batch), compared with the C consumer: the same ring drained in C.

Rows marked "spill" use the Ring's default overflow policy; the others
use overflow="block", a bounded hand-off in which producers wait for room."""

import ctypes
import itertools
import queue
import time

import cbring
from cbring import _testing
from cbring._bench import _harness as h
from cbring._bench._peers import available

NAME = "e2e"
FIVE = ("handle", "context", "status", "result", "error")
_ASYNC_STATUSES = (60, 100)  # HANDLE_CREATED, REQUEST_COMPLETE: the INTERNET_ASYNC_RESULT carriers


class _AsyncResult(ctypes.Structure):
    _fields_ = [("dwResult", ctypes.c_size_t), ("dwError", ctypes.c_uint32)]


_AR_SIZE = ctypes.sizeof(_AsyncResult)


def _first_request():
    """The five fields of the first request of producer 0, as Batch.tuples
    gives them: what every Python-object row must have built first."""
    with cbring.Ring(64, "block") as ring:
        with _testing.Producers(ring.status_callback, 1, _testing.EVENTS_PER_REQUEST):
            pass
        return ring.drain().tuples(*FIVE)


_EXPECTED = []


def _check_sample(name, threads, first):
    if threads != 1:
        return  # with two producers the first events may be either's
    if not _EXPECTED:
        _EXPECTED.extend(_first_request())
    got = [tuple(t) for t in first[:len(_EXPECTED)]]
    if got != _EXPECTED:
        raise h.LostEvents(f"{name}: the first request's tuples are {got}, expected {_EXPECTED}")


def _five_tuples(ring, kept):
    fields = FIVE

    def take():
        b = ring.drain()
        kept.append(b.tuples(*fields))
        return len(b)
    return take


def _five_statusevents(ring, kept, code):
    if code:
        def take():
            b = ring.drain()
            kept.append([(ev.handle, ev.context, ev.status_code, ev.result, ev.error) for ev in b])
            return len(b)
    else:
        def take():
            b = ring.drain()
            kept.append([(ev.handle, ev.context, ev.status, ev.result, ev.error) for ev in b])
            return len(b)
    return take


def _zero_copy_buffer(ring, np):
    if np is not None:
        def take():
            a = np.asarray(ring.drain())
            a["status"], a["context"]  # noqa: B018 - column views, no per-event object
            return len(a)
    else:
        def take():
            return len(memoryview(ring.drain()))
    return take


def _zero_copy_into(ring, batch):
    buf = bytearray(cbring.EVENT_SIZE * batch)

    def take():
        return ring.drain_into(buf)
    return take


def _ring_run(name, threads, events, policy, mode, capacity=h.E2E_CAPACITY, batch=h.E2E_BATCH):
    total = threads * events
    kept = []
    with cbring.Ring(capacity, policy, block_timeout=30.0) as ring:
        producers = _testing.Producers(ring.status_callback, threads, events)
        if mode == "tuples":
            take = _five_tuples(ring, kept)
        elif mode in ("statusevent", "status_code"):
            take = _five_statusevents(ring, kept, mode == "status_code")
        elif mode == "buffer":
            take = _zero_copy_buffer(ring, h.numpy())
        else:
            take = _zero_copy_into(ring, batch)
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
    if kept:
        if sum(map(len, kept)) != total:
            raise h.LostEvents(f"{name}: {sum(map(len, kept)):,} tuples kept of {total:,}")
        _check_sample(name, threads, list(itertools.islice(itertools.chain.from_iterable(kept), 6)))
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
    append = received.append
    proto = ctypes.CFUNCTYPE(None, *h.CB_ARGS)
    from_address = _AsyncResult.from_address

    def on_status(handle, context, status, info, length):
        if status in _ASYNC_STATUSES and info and length >= _AR_SIZE:
            ar = from_address(info)
            append((handle, context, status, ar.dwResult, ar.dwError))
        else:
            append((handle, context, status, None, None))

    cb = proto(on_status)
    producers = _testing.Producers(ctypes.cast(cb, ctypes.c_void_p).value, threads, events,
                                   keep_thread_state=keep)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    h.check(name, len(received), total)
    _check_sample(name, threads, received)
    return dict(events=total, seconds=dt)


def _cffi_on_status(ffi, received):
    append = received.append
    cast = ffi.cast
    null = ffi.NULL

    def on_status(handle, context, status, info, length):
        if status in _ASYNC_STATUSES and info != null and length >= _AR_SIZE:
            ar = cast("INTERNET_ASYNC_RESULT *", info)
            append((int(cast("uintptr_t", handle)), context, status, ar.dwResult, ar.dwError))
        else:
            append((int(cast("uintptr_t", handle)), context, status, None, None))
    return on_status


def _callback_run(name, address, threads, events, received):
    """Native producers call the per-event callback at `address`, which
    appends one tuple to `received` per event; checks every one arrived."""
    producers = _testing.Producers(address, threads, events)
    t0 = time.perf_counter()
    producers.start()
    producers.join()
    dt = time.perf_counter() - t0
    total = threads * events
    h.check(name, len(received), total)
    _check_sample(name, threads, received)
    return dict(events=total, seconds=dt)


def _cffi_abi_run(name, threads, events):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("typedef struct { uintptr_t dwResult; uint32_t dwError; } INTERNET_ASYNC_RESULT;")
    received = []
    on_status = ffi.callback(h.CFFI_SIGNATURE)(_cffi_on_status(ffi, received))
    return _callback_run(name, int(ffi.cast("uintptr_t", on_status)), threads, events, received)


def _cffi_api_run(peers, name, threads, events):
    mod = peers.cffi_api
    received = []
    mod.ffi.def_extern(name="cbring_bench_on_status")(_cffi_on_status(mod.ffi, received))
    return _callback_run(name, mod.lib.cbring_bench_address(), threads, events, received)


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
        kept = sink
        mod.set_sink([])
    else:
        q = queue.SimpleQueue()
        mod.set_queue(q)
        producers = _testing.Producers(mod.put_callback(), threads, events)
        get = q.get
        kept = []
        append = kept.append
        t0 = time.perf_counter()
        producers.start()
        try:
            for _ in range(total):
                append(get(timeout=10.0))
        except queue.Empty:
            pass
        dt = time.perf_counter() - t0
        producers.join()
        mod.set_queue(queue.SimpleQueue())
    h.check(name, len(kept), total)
    _check_sample(name, threads, kept)
    return dict(events=total, seconds=dt)


# Python-object rows, in table order; each builds and keeps FIVE per event.
OBJECT_ROWS = ("Batch.tuples", "Batch.tuples spill", "StatusEvent loop", "StatusEvent status_code",
               "cffi callback", "cffi def_extern", "ctypes", "ctypes kept tstate", "pywin32-shaped",
               "SimpleQueue")
ZERO_COPY_ROWS = ("zero-copy drain_into", "zero-copy drain_into spill", "zero-copy buffer",
                  "zero-copy shards", "C consumer")


def e2e_cases(peers):
    """name -> (description, peer key or None, fn(threads) -> measurement)."""
    np_note = "numpy.asarray(batch) and two column views" if h.numpy() is not None else "memoryview(batch)"
    five = "(handle, context, status, result, error) per event, every tuple kept"
    return {
        "Batch.tuples": (
            f"Ring('block').drain().tuples(*five fields): {five}",
            None, lambda t: _ring_run("Batch.tuples", t, h.n(500_000 // t), "block", "tuples")),
        "Batch.tuples spill": (
            "the same with the default overflow='spill'",
            None, lambda t: _ring_run("Batch.tuples spill", t, h.n(500_000 // t), "spill", "tuples")),
        "StatusEvent loop": (
            f"for ev in Ring('block').drain(): a StatusEvent per event, {five} (status an InternetStatus)",
            None, lambda t: _ring_run("StatusEvent loop", t, h.n(500_000 // t), "block", "statusevent")),
        "StatusEvent status_code": (
            "the same loop reading ev.status_code, a plain int, for status",
            None, lambda t: _ring_run("StatusEvent status_code", t, h.n(500_000 // t), "block", "status_code")),
        "cffi callback": (
            f"cffi ABI-mode ffi.callback per event: {five}",
            "cffi", lambda t: _cffi_abi_run("cffi callback", t, h.n(150_000 // t))),
        "cffi def_extern": (
            f"cffi API-mode @ffi.def_extern per event: {five}",
            "cffi_api", lambda t: _cffi_api_run(peers, "cffi def_extern", t, h.n(100_000 // t))),
        "ctypes": (
            f"ctypes.CFUNCTYPE callback per event: {five}",
            None, lambda t: _ctypes_run("ctypes", t, h.n(20_000 // t), False)),
        "ctypes kept tstate": (
            "the same, the producer thread keeping one Python thread state",
            None, lambda t: _ctypes_run("ctypes kept tstate", t, h.n(100_000 // t), True)),
        "pywin32-shaped": (
            f"C extension: PyGILState_Ensure + the tuple built in C + list.append per event: {five}",
            "pergil", lambda t: _pergil_run(peers, "pywin32-shaped", t, h.n(150_000 // t), "list")),
        "SimpleQueue": (
            "the same C callback, queue.SimpleQueue.put per event; this thread get()s and keeps each",
            "pergil", lambda t: _pergil_run(peers, "SimpleQueue", t, h.n(100_000 // t), "queue")),
        "zero-copy drain_into": (
            "Ring('block').drain_into(bytearray) of 8192 records, wait() when empty: no per-event object",
            None, lambda t: _ring_run("zero-copy drain_into", t, h.n(4_000_000 // t), "block", "into")),
        "zero-copy drain_into spill": (
            "the same with the default overflow='spill'",
            None, lambda t: _ring_run("zero-copy drain_into spill", t, h.n(2_000_000 // t), "spill", "into")),
        "zero-copy buffer": (
            f"Ring('block').drain(), read as {np_note}: no per-event object",
            None, lambda t: _ring_run("zero-copy buffer", t, h.n(2_000_000 // t), "block", "buffer")),
        "zero-copy shards": (
            "one Ring ('block') per producer thread, drain_into each in turn: per-producer shards, "
            "order kept per producer only",
            "shards", lambda t: _sharded_run("zero-copy shards", t, h.n(4_000_000 // t), "block",
                                             h.E2E_CAPACITY, h.E2E_BATCH)),
        "C consumer": (
            "the same ring ('block') drained by the same loop in C (drain 8192, wait when empty), "
            "without Python: the floor of the hand-off",
            None, lambda t: _ring_run("C consumer", t, h.n(4_000_000 // t), "block", "c")),
    }


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


_OBJECT_PEERS = ("cffi callback", "cffi def_extern", "ctypes", "pywin32-shaped", "StatusEvent loop")
_SHORT = {"cffi callback": "cffi-abi", "cffi def_extern": "cffi-api", "ctypes": "ctypes",
          "pywin32-shaped": "pywin32", "StatusEvent loop": "SE-loop", "C consumer": "C-floor"}


def _table(results, w, rows, peers, threads):
    fam = results[NAME]
    for row in rows:
        name = f"{row}, {threads}p"
        e = fam.get(name)
        if e is None:
            continue
        if "missing" in e:
            w(f"  {name:<30}  not available: {e['missing'][:80]}\n")
            continue
        s = e["summary"]
        r = s["rate"]["median"]
        cols = ""
        for p in peers:
            pr = h.paired(results, NAME, name, f"{p}, {threads}p")
            cols += f"{pr[0]:>11.2f}x" if pr else f"{'-':>12}"
        w(f"  {name:<30}{h.fmt_rate(s):>28}{1e9 / r:>9.0f}{cols}\n")


def render(results, w):
    if NAME not in results:
        return
    w("\nEnd-to-end, native producer threads -> Python: events/s, median of rounds [min-max]; "
      "ratio = this row / the column, median of per-round ratios (rounds interleaved)\n")
    w("\n Python objects: every row builds (handle, context, status, result, error) per event and keeps it\n")
    w(f"  {'path':<30}{'events/s':>28}{'ns/ev':>9}" + "".join(f"{_SHORT[p]:>12}" for p in _OBJECT_PEERS) + "\n")
    for threads in (1, 2):
        _table(results, w, OBJECT_ROWS, _OBJECT_PEERS, threads)
    w("\n Zero-copy: no per-event object, compared with the same ring drained in C\n")
    w(f"  {'path':<30}{'events/s':>28}{'ns/ev':>9}{_SHORT['C consumer']:>12}\n")
    for threads in (1, 2):
        _table(results, w, ZERO_COPY_ROWS, ("C consumer",), threads)
    w("\n Five fields per event, every tuple kept (median of per-round ratios [min-max]):\n")
    for threads in (1, 2):
        for a, b in (("Batch.tuples", "cffi callback"), ("Batch.tuples", "StatusEvent loop"),
                     ("Batch.tuples spill", "cffi callback"), ("Batch.tuples", "cffi def_extern"),
                     ("Batch.tuples", "pywin32-shaped")):
            pr = h.paired(results, NAME, f"{a}, {threads}p", f"{b}, {threads}p")
            ra, rb = h.rate(results, NAME, f"{a}, {threads}p"), h.rate(results, NAME, f"{b}, {threads}p")
            if pr and ra and rb:
                w(f"  {threads}p  {a:<19} {ra / 1e6:6.2f}M/s = {pr[0]:5.1f}x [{pr[1]:.1f}-{pr[2]:.1f}]"
                  f" {b} ({rb / 1e6:.2f}M/s)\n")


def targets(results, t):
    m = lambda v: f"{v / 1e6:.1f}M/s"  # noqa: E731
    x = lambda v: f"{v:.2f}x"  # noqa: E731
    pct = lambda v: f"{v:.0%}"  # noqa: E731
    for threads in (1, 2):
        p = f", {threads}p"
        t.add(f"Batch.tuples, {threads}p: >= 4x a cffi ABI-mode callback, five fields kept (per-round ratio)",
              h.paired(results, NAME, "Batch.tuples" + p, "cffi callback" + p), lambda v: v >= 4, x)
        t.add(f"Batch.tuples, {threads}p: >= 4x the StatusEvent loop, five fields kept (per-round ratio)",
              h.paired(results, NAME, "Batch.tuples" + p, "StatusEvent loop" + p), lambda v: v >= 4, x)
    best = "zero-copy drain_into, 1p"
    if (h.rate(results, NAME, "zero-copy buffer, 1p") or 0) > (h.rate(results, NAME, best) or 0):
        best = "zero-copy buffer, 1p"
    label = best.rsplit(",", 1)[0]
    t.add(f"{label}, 1 producer: >= 100M events/s", h.rate(results, NAME, best), lambda v: v >= 100e6, m)
    t.add(f"{label}: >= 80% of the C consumer (per-round ratio)",
          h.paired(results, NAME, best, "C consumer, 1p"), lambda v: v >= 0.8, pct)
    t.add("StatusEvent loop, five fields kept, 1 producer: >= 3M events/s",
          h.rate(results, NAME, "StatusEvent loop, 1p"), lambda v: v >= 3e6, m)
    t.add("StatusEvent loop: >= 1.5x cffi def_extern, five fields kept (per-round ratio)",
          h.paired(results, NAME, "StatusEvent loop, 1p", "cffi def_extern, 1p"), lambda v: v >= 1.5, x)
