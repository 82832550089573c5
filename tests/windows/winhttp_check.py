"""Concurrent downloads through a real WinHTTP session, from Python:
examples/winhttp_downloader over one WINHTTP_FLAG_ASYNC session whose
status callback is cbring's (Ring.register_winhttp), every request driven
only by events drained from the ring.

    python winhttp_check.py [--rounds NAMES] URL=SIZE ... [URL=refused ...]

As wininet_check.py (whose make_body it shares): the body of the k-th URL
must be bytes (j * 7 + k * 13) % 251; a URL marked "refused" points at a
closed port; a URL with /hop/N/ in it reaches its body through N + 1
redirects (tests/windows/redirect_server.py).  Standard library, cbring
and the example only; tests/windows/run-under-wine.sh runs it with the
embeddable CPython under Wine, beside winhttp_downloader/ and
wininet_check.py.

Rounds, each with a new Ring and session (--rounds, comma-separated; all by
default):
  aio     cbring.aio.WinHttpDispatcher on the default loop (Proactor on
          Windows, a worker thread waits on the ring), every event recorded
          as the dispatcher routes it;
  router  the example's own router fed by cbring.aio.batches() on a
          SelectorEventLoop (add_reader on Ring.fileno());
  ctypes  the ctypes per-event callback baseline (bodies and errors only:
          its events are not cbring's).
For the two cbring rounds, every event is checked: each is WinHTTP's with
a named status; every handle opened gets exactly one HANDLE_CLOSING, and
nothing after it; the refused request exactly one REQUEST_ERROR, decoded
as API_SEND_REQUEST and ERROR_WINHTTP_CANNOT_CONNECT; every RESOLVING_NAME,
NAME_RESOLVED, CONNECTING_TO_SERVER, CONNECTED_TO_SERVER and REDIRECT
whole text (the host, the address, each Location); every READ_COMPLETE
carrying the address it read into, inside the caller's buffer; and the
ring's counters exact (pushed == drained == events routed, nothing dropped,
late or truncated).
"""

import argparse
import asyncio
import collections
import ctypes
import faulthandler
import select
import sys
import time
import urllib.parse

import cbring
import cbring._testing
import cbring.aio
import winhttp_downloader as wd
from winhttp_downloader import _router, ctypes_callback
from wininet_check import make_body

S = cbring.WinHttpStatus
ADDRESS = "127.0.0.1"
ERROR_WINHTTP_CANNOT_CONNECT = 12029
FIONREAD = 0x4004667F  # winsock's _IOR('f', 127, u_long)
MSG_PEEK = 2
DEADLINE = 60.0  # a round; about 1 s under Wine
# trickle_server.py sends 4 KiB every 10 ms, so its reads find little at a time
TRICKLE_MIN_READS = 8
TEXT_STATUSES = (S.RESOLVING_NAME, S.NAME_RESOLVED, S.CONNECTING_TO_SERVER, S.CONNECTED_TO_SERVER,
                 S.REDIRECT)
ADDRESS_STATUSES = (S.NAME_RESOLVED, S.CONNECTING_TO_SERVER, S.CONNECTED_TO_SERVER)


class CheckFailed(AssertionError):
    pass


class Spec:
    def __init__(self, k, arg):
        self.k = k
        self.url, _, size = arg.rpartition("=")
        self.refused = size == "refused"
        self.size = 0 if self.refused else int(size)
        self.expected = make_body(k, self.size)
        path = urllib.parse.urlsplit(self.url).path
        self.hops = int(path.split("/")[2]) + 1 if path.startswith("/hop/") else 0
        self.trickled = False  # set from the command line order: the last sized URL

    def locations(self):
        """What redirect_server.py sends as Location, hop by hop, and each resolved."""
        sent, absolute, current = [], [], self.url
        path = urllib.parse.urlsplit(self.url).path
        n, target = int(path.split("/")[2]), path.split("/", 3)[3]
        for hop in range(n, -1, -1):
            location = f"/hop/{hop - 1}/{target}" if hop else f"http://{target}"
            sent.append(location)
            current = urllib.parse.urljoin(current, location)
            absolute.append(current)
        return sent, absolute


def parse(args):
    specs = [Spec(k, arg) for k, arg in enumerate(args)]
    if sum(s.hops > 0 for s in specs) != 1 or sum(s.refused for s in specs) != 1:
        raise ValueError("winhttp_check: expected one URL through /hop/N/ and one refused URL")
    # run-under-wine.sh passes the trickled URL last, as wininet_check.py's callers do
    specs[-1].trickled = True
    return specs


def fail(why):
    raise CheckFailed(why)


def check_downloads(name, specs, downloads, progress):
    for spec, d in zip(specs, downloads):
        if spec.refused:
            e = d.error
            if not isinstance(e, cbring.WinHttpError):
                fail(f"{name}: {spec.url}: expected a cbring.WinHttpError, got {e!r}")
            if (e.errno != ERROR_WINHTTP_CANNOT_CONNECT or e.api != cbring.WinHttpApi.API_SEND_REQUEST
                    or "ERROR_WINHTTP_CANNOT_CONNECT" not in str(e) or "API_SEND_REQUEST" not in str(e)
                    or getattr(e, "winerror", ERROR_WINHTTP_CANNOT_CONNECT) != ERROR_WINHTTP_CANNOT_CONNECT):
                fail(f"{name}: {spec.url}: the error does not name ERROR_WINHTTP_CANNOT_CONNECT in "
                     f"API_SEND_REQUEST: {e!r} ({e})")
            if d.received:
                fail(f"{name}: {spec.url}: refused, yet {d.received} bytes")
            continue
        if d.error is not None:
            fail(f"{name}: {spec.url}: failed: {d.error!r} ({d.error})")
        if d.status != 200 or d.content_length != spec.size:
            fail(f"{name}: {spec.url}: HTTP {d.status}, Content-Length {d.content_length}")
        if d.received != spec.size or bytes(d.body) != spec.expected:
            first = next((i for i, (a, b) in enumerate(zip(d.body, spec.expected)) if a != b), None)
            fail(f"{name}: {spec.url}: {d.received} bytes of {spec.size}, first difference at {first}")
        if len(d.redirects) != spec.hops:
            fail(f"{name}: {spec.url}: {len(d.redirects)} redirects, expected {spec.hops}: {d.redirects}")
        if spec.hops:
            sent, absolute = spec.locations()
            if d.redirects not in (sent, absolute):
                fail(f"{name}: {spec.url}: REDIRECT gave {d.redirects}; the server sent {sent}")
        if spec.trickled and d.reads < TRICKLE_MIN_READS:
            fail(f"{name}: {spec.url}: {d.reads} reads; a trickled body takes at least {TRICKLE_MIN_READS}")
        if spec.size and progress[id(d)] < d.reads:
            fail(f"{name}: {spec.url}: on_progress called {progress[id(d)]} times for {d.reads} reads")


def check_events(name, specs, downloads, session, log, ring):
    """Every event of a cbring round, in the order the ring gave them."""
    opened = {session: "the session"}
    request_of = {}
    for spec, d in zip(specs, downloads):
        if len(d.handles) != 2:
            fail(f"{name}: {spec.url}: handles {d.handles}, expected a connect and a request handle")
        opened[d.handles[0]] = f"the connect handle of {spec.url}"
        opened[d.handles[1]] = f"the request handle of {spec.url}"
        request_of[d.handles[1]] = (spec, d)
    closing = {}
    created = collections.Counter()
    reads = collections.defaultdict(list)
    errors = collections.defaultdict(list)
    redirects = collections.defaultdict(list)
    statuses = collections.Counter()
    for i, ev in enumerate(log):
        if ev.api != "winhttp" or not isinstance(ev.status, S):
            fail(f"{name}: event {i} is not a named WinHTTP status: {ev!r}")
        statuses[ev.status.name] += 1
        if ev.handle not in opened:
            fail(f"{name}: event {i} on a handle that was not opened: {ev!r}")
        if ev.handle in closing:
            fail(f"{name}: event {i} after the HANDLE_CLOSING of {opened[ev.handle]}: {ev!r}")
        if ev.status == S.HANDLE_CLOSING:
            if ev.info != ev.handle or ev.info in closing:
                fail(f"{name}: HANDLE_CLOSING {ev!r} (closed before: {sorted(closing)})")
            closing[ev.info] = i
        elif ev.status == S.HANDLE_CREATED:
            if ev.info not in opened:
                fail(f"{name}: HANDLE_CREATED of a handle nobody opened: {ev!r}")
            created[ev.info] += 1
        elif ev.status in TEXT_STATUSES:
            if not isinstance(ev.info, str) or ev.truncated or "\0" in ev.info:
                fail(f"{name}: {ev.status.name} is not whole text: {ev!r}")
            if ev.status == S.REDIRECT:
                redirects[ev.handle].append(ev.info)
            elif ev.info != ADDRESS:
                fail(f"{name}: {ev.status.name} gave {ev.info!r}; every host and address is {ADDRESS}")
        elif ev.status == S.READ_COMPLETE:
            reads[ev.handle].append(ev)
        elif ev.status == S.REQUEST_ERROR:
            errors[ev.handle].append(ev)
    for handle, what in opened.items():
        if handle not in closing:
            fail(f"{name}: no HANDLE_CLOSING for {what} ({handle:#x})")
    for handle, (spec, d) in request_of.items():
        want = [(cbring.WinHttpApi.API_SEND_REQUEST, ERROR_WINHTTP_CANNOT_CONNECT)] if spec.refused else []
        got = [(ev.result, ev.error) for ev in errors[handle]]
        if got != want:
            fail(f"{name}: {spec.url}: REQUEST_ERROR gave {got} (result, error), expected {want}")
        if redirects[handle] != d.redirects:
            fail(f"{name}: {spec.url}: REDIRECT events {redirects[handle]}, the download saw {d.redirects}")
        base = ctypes.addressof((ctypes.c_char * len(d._view)).from_buffer(d._view))
        offset = 0
        for ev in reads[handle]:
            if ev.buffer != base + offset or ev.info != ev.length:
                fail(f"{name}: {spec.url}: READ_COMPLETE {ev!r} at offset {offset}: "
                     f"expected buffer {base + offset:#x}")
            offset += ev.length
        if offset != d.received:
            fail(f"{name}: {spec.url}: READ_COMPLETE counted {offset} bytes, the download {d.received}")
    st = ring.stats
    if not (st.pushed == st.drained == len(log) and st.dropped == 0 and st.late == 0
            and st.payloads_truncated == 0):
        fail(f"{name}: ring counters {st} for {len(log)} events routed")
    return statuses, created, st


def socket_holds(fd):
    """(FIONREAD, bytes a MSG_PEEK recv returns or its WSA error) of a socket."""
    ws2 = ctypes.WinDLL("ws2_32")
    n = ctypes.c_ulong(0)
    if ws2.ioctlsocket(ctypes.c_size_t(fd), FIONREAD, ctypes.byref(n)) != 0:
        return f"error {ws2.WSAGetLastError()}", None
    buf = ctypes.create_string_buffer(8)
    got = ws2.recv(ctypes.c_size_t(fd), buf, len(buf), MSG_PEEK)
    return n.value, (got if got >= 0 else f"error {ws2.WSAGetLastError()}")


def stuck_in(name, specs, downloads, log, rings):
    """Fails with what each unfinished download last saw, and the ring's counters."""
    last = {}
    for ev in log:
        last[ev.handle] = ev
    stuck = []
    for spec, d in zip(specs, downloads):
        handles = [h for h in d.handles if h]
        seen = [repr(last[h]) for h in handles if h in last]
        stuck.append(f"{spec.url}: {d.received} of {spec.size} bytes, {d.reads} reads, error {d.error!r}, "
                     f"handles {handles}, last events {seen}")
    ring = rings[0] if rings else None
    wake = ""
    if ring is not None and not ring.closed:
        fd = ring.fileno()
        before = ring.stats
        # whether a wake-up byte sits in the socket that select() does not report
        queued, peeked = socket_holds(fd)
        readable = bool(select.select([fd], [], [], 0)[0])
        # whether the consumer's request for a signal stands: a push then signals
        cbring._testing.call_status(ring.status_callback, 1, 1, 60)
        signalled = ring.stats.wakeups - before.wakeups
        queued_after, _ = socket_holds(fd)
        readable_after = bool(select.select([fd], [], [], 0)[0])
        # whether the records waiting are written (a lost wake-up) or a
        # producer is stuck between its claim and its write
        ready = ring.wait(0)
        wake = (f"; its fileno() {'readable' if readable else 'NOT readable'} now, "
                f"FIONREAD {queued}, MSG_PEEK {peeked}; one more push signalled {signalled} "
                f"(the consumer was {'armed' if signalled else 'not armed'}), then FIONREAD "
                f"{queued_after}, readable {readable_after}; wait(0) {ready}, a drain now gets "
                f"{len(ring.drain())} records (1 of them that push)")
    fail(f"{name}: unfinished after {DEADLINE:.0f} s; {len(log)} events routed; "
         f"ring {ring.stats if ring else None}{wake}:\n  " + "\n  ".join(stuck))


async def cbring_round(name, specs, dispatcher_for):
    log = []
    downloads = [wd.Download(s.url, bytearray(max(s.size, 1))) for s in specs]
    progress = collections.Counter()
    sessions = []

    rings = []

    def register(ring, session):
        sessions.append(session)
        rings.append(ring)
        previous = ring.register_winhttp(session)
        if previous != 0:
            fail(f"{name}: register_winhttp returned {previous:#x}, expected 0 (no callback before)")

    start = time.monotonic()
    task = asyncio.ensure_future(wd.download_all(
        downloads, capacity=64, dispatcher=dispatcher_for(log), register=register,
        on_progress=lambda d: progress.update((id(d),))))
    # not wait_for: its cancellation would wait on the very events that are missing
    if not (await asyncio.wait([task], timeout=DEADLINE))[0]:
        stuck_in(name, specs, downloads, log, rings)
    ring = task.result()
    elapsed = time.monotonic() - start
    check_downloads(name, specs, downloads, progress)
    statuses, created, st = check_events(name, specs, downloads, sessions[0], log, ring)
    for spec, d in zip(specs, downloads):
        what = f"{d.error}" if d.error else f"{d.received:8} bytes, {d.reads:3} reads"
        print(f"  ok {spec.url[:72]:72} {what}" + (f", {len(d.redirects)} redirects" if d.redirects else ""))
    print(f"{name}: {len(specs)} downloads, {len(log)} events ({st.spilled} through the overflow list), "
          f"ring pushed {st.pushed} = drained {st.drained}, dropped {st.dropped}, late {st.late}; "
          f"{elapsed * 1000:.0f} ms")
    print(f"  statuses: {dict(sorted(statuses.items()))}")
    print(f"  HANDLE_CREATED for {len(created)} of {1 + 2 * len(specs)} handles opened")


def recording_dispatcher(log):
    class Recording(cbring.aio.WinHttpDispatcher):
        def dispatch(self, batch):
            batch = list(batch)
            log.extend(batch)
            super().dispatch(batch)
    return Recording


def ring_router(log):
    return lambda ring: _router.RingRouter(ring, log=log)


async def ctypes_round(name, specs):
    downloads = [wd.Download(s.url, bytearray(max(s.size, 1))) for s in specs]
    progress = collections.Counter()
    start = time.monotonic()
    task = asyncio.ensure_future(ctypes_callback.download_all_ctypes(
        downloads, on_progress=lambda d: progress.update((id(d),))))
    if not (await asyncio.wait([task], timeout=DEADLINE))[0]:
        stuck_in(name, specs, downloads, [], [])
    callback = task.result()
    check_downloads(name, specs, downloads, progress)
    print(f"{name}: {len(specs)} downloads, bodies and errors as above, {callback.calls} callbacks; "
          f"{(time.monotonic() - start) * 1000:.0f} ms")


ROUNDS = {
    "aio": ("round aio: cbring.aio.WinHttpDispatcher, default loop",
            asyncio.new_event_loop, lambda n, s: cbring_round(n, s, recording_dispatcher)),
    "router": ("round router: the example's router on cbring.aio.batches(), SelectorEventLoop",
               asyncio.SelectorEventLoop, lambda n, s: cbring_round(n, s, ring_router)),
    "ctypes": ("round ctypes: a WINFUNCTYPE callback per event, default loop",
               asyncio.new_event_loop, ctypes_round),
}


def run(urls, rounds=tuple(ROUNDS)):
    """Every round named, in order, each on a new loop; CheckFailed says what failed."""
    specs = parse(urls)
    for key in rounds:
        name, loop_factory, round_ = ROUNDS[key]
        loop = loop_factory()
        try:
            loop.run_until_complete(round_(name, specs))
        finally:
            loop.close()


def main(argv):
    if sys.platform != "win32":
        print("winhttp_check: WinHTTP exists only on Windows", file=sys.stderr)
        return 2
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", default=",".join(ROUNDS), help="comma-separated, of " + ", ".join(ROUNDS))
    p.add_argument("urls", nargs="+")
    args = p.parse_args(argv)
    rounds = args.rounds.split(",")
    if set(rounds) - set(ROUNDS):
        p.error(f"--rounds: of {', '.join(ROUNDS)}")
    print(f"winhttp_check: Python {sys.version.split()[0]}, cbring from {cbring.__file__}")
    # a hang shows every thread's stack, well before the caller's timeout
    faulthandler.dump_traceback_later(len(rounds) * DEADLINE + 30, exit=True)
    try:
        run(args.urls, rounds)
    except CheckFailed as e:
        print(f"FAIL {e}")
        return 1
    print("winhttp_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
