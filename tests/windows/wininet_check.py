"""Concurrent downloads through a real WinINet session, from Python: a
cbring.Ring bound with Ring.register, every request driven only by the
events drained from it.

    python wininet_check.py URL=SIZE ... [URL=refused ...]

Standard library and cbring only, so that it runs under any Windows
CPython: tests/windows/run-under-wine.sh runs it with the embeddable
CPython under Wine, and test_wininet_download.py runs it under pytest on
Windows.  The body of the k-th URL must be bytes (j * 7 + k * 13) % 251
(make_body); a URL marked "refused" points at a closed port.

Three rounds, each with a new Ring and WinINet session:
  1. Ring.wait() and Ring.drain(), checking every record as
     tests/windows/wininet_download.c does: HANDLE_CREATED carrying the new
     handle, the open's REQUEST_COMPLETE with that handle (or, refused, FALSE
     and ERROR_INTERNET_CANNOT_CONNECT), each pending read's REQUEST_COMPLETE
     with TRUE, HTTP 200, every byte of the body, HANDLE_CLOSING for every
     handle created, records in ring order, and the ring's counters;
  2. cbring.aio.Dispatcher on a SelectorEventLoop, which watches
     Ring.fileno() (a socket on Windows) with add_reader;
  3. the same on the ProactorEventLoop, Windows' default, where a worker
     thread waits on the ring.
"""

import asyncio
import ctypes
import sys
import time
from ctypes import wintypes

import cbring
import cbring.aio
from cbring import InternetStatus as S

INTERNET_OPEN_TYPE_DIRECT = 1
INTERNET_FLAG_ASYNC = 0x10000000
INTERNET_FLAG_RELOAD = 0x80000000
INTERNET_FLAG_NO_CACHE_WRITE = 0x04000000
INTERNET_FLAG_PRAGMA_NOCACHE = 0x00000100
OPEN_FLAGS = INTERNET_FLAG_RELOAD | INTERNET_FLAG_NO_CACHE_WRITE | INTERNET_FLAG_PRAGMA_NOCACHE
HTTP_QUERY_STATUS_CODE = 19
HTTP_QUERY_FLAG_NUMBER = 0x20000000
ERROR_IO_PENDING = 997
ERROR_INTERNET_CANNOT_CONNECT = 12029
KIND_HANDLE = 3
READ_CHUNK = 16384
DEADLINE = 60.0


def make_body(k, size):
    """The body the k-th URL must have: byte j is (j * 7 + k * 13) % 251."""
    period = bytes((j * 7 + k * 13) % 251 for j in range(251))
    return (period * (size // 251 + 1))[:size]


class CheckFailed(AssertionError):
    pass


def _wininet():
    w = ctypes.WinDLL("wininet", use_last_error=True)
    H = ctypes.c_void_p
    D = wintypes.DWORD
    for name, res, args in [
        ("InternetOpenW", H, [wintypes.LPCWSTR, D, wintypes.LPCWSTR, wintypes.LPCWSTR, D]),
        ("InternetOpenUrlW", H, [H, wintypes.LPCWSTR, wintypes.LPCWSTR, D, D, ctypes.c_size_t]),
        ("InternetReadFile", wintypes.BOOL, [H, ctypes.c_void_p, D, ctypes.POINTER(D)]),
        ("InternetCloseHandle", wintypes.BOOL, [H]),
        ("InternetSetStatusCallbackW", ctypes.c_void_p, [H, ctypes.c_void_p]),
        ("HttpQueryInfoW", wintypes.BOOL, [H, D, ctypes.c_void_p, ctypes.POINTER(D), ctypes.POINTER(D)]),
    ]:
        f = getattr(w, name)
        f.restype, f.argtypes = res, args
    return w


wininet = _wininet() if sys.platform == "win32" else None


class Request:
    def __init__(self, k, url, size):
        self.k, self.url = k, url
        self.context = k + 1
        self.refused = size is None
        self.size = size or 0
        self.expected = make_body(k, self.size)
        self.state = "opening"
        self.handle = None
        self.created, self.closed = [], []
        self.parents = []  # the handles HANDLE_CREATED came on: InternetOpenUrl's own
        self.records = self.completes = self.pending_reads = 0
        self.buf = ctypes.create_string_buffer(READ_CHUNK)
        self.got = wintypes.DWORD(0)  # written by WinINet when a pending read completes
        self.body = bytearray()

    def fail(self, why):
        self.state = "failed"
        raise CheckFailed(f"{self.url}: {why}")

    def open(self, session):
        h = wininet.InternetOpenUrlW(session, self.url, None, 0, OPEN_FLAGS, self.context)
        if h:
            self.handle, self.state = h, "reading"  # completed at once: no REQUEST_COMPLETE
        elif ctypes.get_last_error() != ERROR_IO_PENDING:
            self.fail(f"InternetOpenUrl failed with {ctypes.get_last_error()}")

    def check_status_code(self):
        code, size = wintypes.DWORD(0), wintypes.DWORD(4)
        if not wininet.HttpQueryInfoW(self.handle, HTTP_QUERY_STATUS_CODE | HTTP_QUERY_FLAG_NUMBER,
                                      ctypes.byref(code), ctypes.byref(size), None) or code.value != 200:
            self.fail(f"HTTP status {code.value} (error {ctypes.get_last_error()})")

    def take(self, n):
        self.body += self.buf.raw[:n]
        if self.body != self.expected[:len(self.body)]:
            self.fail(f"body differs from the expected bytes within its first {len(self.body)}")

    def read(self):
        """Reads while WinINet has data; returns "pending", "eof" or "more"."""
        for _ in range(100000):
            self.got.value = 0
            if wininet.InternetReadFile(self.handle, self.buf, READ_CHUNK, ctypes.byref(self.got)):
                if self.got.value == 0:
                    if len(self.body) != self.size:
                        self.fail(f"body is {len(self.body)} bytes, expected {self.size}")
                    return "eof"
                self.take(self.got.value)
            elif ctypes.get_last_error() == ERROR_IO_PENDING:
                self.pending_reads += 1
                return "pending"
            else:
                self.fail(f"InternetReadFile failed with {ctypes.get_last_error()}")
        return "more"

    def close(self):
        self.state = "closing"
        if not wininet.InternetCloseHandle(self.handle):
            self.fail(f"InternetCloseHandle failed with {ctypes.get_last_error()}")

    def summary(self):
        extra = " (refused: ERROR_INTERNET_CANNOT_CONNECT)" if self.refused else ""
        return (f"{self.url:44} {len(self.body):9} bytes, {self.records:3} records: "
                f"HANDLE_CREATED x{len(self.created)}, REQUEST_COMPLETE x{self.completes} "
                f"({self.pending_reads} pending reads), HANDLE_CLOSING x{len(self.closed)}{extra}")


def parse(args):
    requests = []
    for k, arg in enumerate(args):
        url, _, size = arg.rpartition("=")
        requests.append(Request(k, url, None if size == "refused" else int(size)))
    return requests


def open_session(ring):
    session = wininet.InternetOpenW("cbring-wine-test", INTERNET_OPEN_TYPE_DIRECT, None, None,
                                    INTERNET_FLAG_ASYNC)
    if not session:
        raise CheckFailed(f"InternetOpen failed with {ctypes.get_last_error()}")
    previous = ring.register(session)
    if previous != 0:
        raise CheckFailed(f"Ring.register returned {previous:#x}, expected 0 (no callback before)")
    return session


def close_session(session):
    wininet.InternetSetStatusCallbackW(session, None)
    wininet.InternetCloseHandle(session)


# -- round 1: wait() and drain(), every record checked ----------------------

def on_event(r, ev):
    r.records += 1
    # InternetOpenUrl's hidden connection handle may report its closing
    # (Wine's does not), possibly after the request's own
    if (ev.status == S.HANDLE_CLOSING and ev.info in r.parents and ev.info not in r.created
            and ev.info not in r.closed and r.state in ("closing", "done")):
        r.closed.append(ev.info)
        return
    if r.state in ("done", "failed"):
        r.fail(f"{ev.status!r} after the request was done")
    if ev.status == S.HANDLE_CREATED:
        # WinINet passes the bare new handle; the docs say INTERNET_ASYNC_RESULT
        handle = ev.info if ev.result is None else ev.result
        if not handle or (ev.error or 0) != 0:
            r.fail(f"HANDLE_CREATED decoded as {ev!r}")
        r.created.append(handle)
        if ev.handle and ev.handle not in r.parents:
            r.parents.append(ev.handle)
    elif ev.status == S.REQUEST_COMPLETE:
        r.completes += 1
        if ev.async_result is None:
            r.fail(f"REQUEST_COMPLETE without an INTERNET_ASYNC_RESULT: {ev!r}")
        if r.state == "opening":
            if r.refused:
                if ev.result != 0 or ev.error != ERROR_INTERNET_CANNOT_CONNECT:
                    r.fail(f"refused open completed as {ev!r}")
                if not r.created:
                    r.state = "done"
                    return
                r.handle = r.created[0]  # the failed open's handle is still ours to close
                r.close()
                return
            if not r.created:
                r.fail("REQUEST_COMPLETE before HANDLE_CREATED")
            if ev.error != 0 or ev.result not in r.created:
                r.fail(f"open completed as {ev!r}; handles created: {r.created}")
            r.handle = ev.result
            r.check_status_code()
            r.state = "reading"
        elif r.state == "read pending":
            if ev.result != 1 or ev.error != 0:
                r.fail(f"read completed as {ev!r}")
            r.take(r.got.value)
            r.state = "reading"
        else:
            r.fail(f"REQUEST_COMPLETE while {r.state}")
    elif ev.status == S.HANDLE_CLOSING:
        if ev.info != ev.handle or ev.info not in r.created or ev.info in r.closed:
            r.fail(f"HANDLE_CLOSING {ev!r}; created {r.created}, closed {r.closed}")
        if r.state != "closing":
            r.fail(f"HANDLE_CLOSING while {r.state}")
        r.closed.append(ev.info)
        if all(h in r.closed for h in r.created):
            r.state = "done"


def round_wait_drain(requests):
    ring = cbring.Ring(capacity=64)  # small: a megabyte's events lap it many times
    session = open_session(ring)
    by_context = {r.context: r for r in requests}
    # a ring's positions go on from those of an earlier ring that had its
    # callback (as in a test suite): the first record sets where they start
    last_seq, spilled_run, events = None, 0, 0
    start = time.monotonic()

    def consume():
        nonlocal last_seq, spilled_run, events
        for ev in ring.drain():
            events += 1
            if ev.flags & 8:  # came through the overflow list, in its place
                spilled_run += 1
            else:
                if last_seq is None:
                    last_seq = ev.seq - 1 - spilled_run
                if ev.seq != last_seq + 1 + spilled_run:
                    raise CheckFailed(f"record seq {ev.seq} after {last_seq} (+{spilled_run}): out of order")
                last_seq, spilled_run = ev.seq, 0
            r = by_context.get(ev.context)
            if r is None:
                raise CheckFailed(f"record with unknown context: {ev!r}")
            on_event(r, ev)

    for r in requests:
        r.open(session)
    while time.monotonic() - start < DEADLINE:
        for r in requests:
            if r.state == "reading":
                outcome = r.read()
                if outcome == "eof":
                    r.close()
                elif outcome == "pending":
                    r.state = "read pending"
        if all(r.state == "done" for r in requests):
            break
        if ring.wait(timeout=0.2):
            consume()
    else:
        stuck = [f"{r.url}: {r.state}" for r in requests if r.state != "done"]
        raise CheckFailed(f"unfinished after {DEADLINE:.0f} s: {stuck}")
    elapsed = time.monotonic() - start
    close_session(session)
    ring.close()
    consume()
    st = ring.stats
    if not (st.pushed == st.drained == events and st.dropped == 0 and st.late == 0):
        raise CheckFailed(f"ring counters {st} for {events} records handled")
    for r in requests:
        print(f"ok {r.summary()}")
    print(f"round 1, Ring.wait/drain: {len(requests)} requests, {events} status callbacks, "
          f"{st.spilled} through the overflow list, {st.wakeups} wake-ups, {elapsed * 1000:.0f} ms")


# -- rounds 2 and 3: the asyncio Dispatcher --------------------------------

async def fetch(dispatcher, session, r):
    """One request through Dispatcher futures; returns the body's length."""
    done = dispatcher.register(r.context)
    r.open(session)
    if r.state == "opening":
        try:
            result = await done
        except cbring.WinINetError as e:
            if (r.refused and e.winerror == ERROR_INTERNET_CANNOT_CONNECT and e.context == r.context
                    and e.name == "ERROR_INTERNET_CANNOT_CONNECT"):
                return 0
            raise
        if r.refused:
            r.fail(f"refused URL opened: {result!r}")
        r.handle = result.dwResult
    else:
        dispatcher.unregister(r.context)
    r.check_status_code()
    r.state = "reading"
    while True:
        outcome = r.read()
        if outcome == "eof":
            break
        if outcome == "pending":
            result = await dispatcher.register(r.context)
            if result.dwResult != 1:
                r.fail(f"read completed as {result!r}")
            r.take(r.got.value)
    closing = dispatcher.register(r.context)  # HANDLE_CLOSING ends it
    r.close()
    try:
        await closing
    except ConnectionAbortedError:
        pass
    return len(r.body)


async def fetch_all(requests, loop_name):
    ring = cbring.Ring(capacity=64)
    session = open_session(ring)
    dispatcher = cbring.aio.Dispatcher(ring)
    runner = asyncio.ensure_future(dispatcher.run())
    start = time.monotonic()
    try:
        sizes = await asyncio.wait_for(
            asyncio.gather(*(fetch(dispatcher, session, r) for r in requests)), DEADLINE)
    finally:
        close_session(session)
        ring.close()
        await asyncio.wait_for(runner, 10)
    for r, n in zip(requests, sizes):
        if n != r.size:
            raise CheckFailed(f"{r.url}: {n} bytes, expected {r.size}")
    st = ring.stats
    if not (st.pushed == st.drained and st.dropped == 0 and st.late == 0):
        raise CheckFailed(f"ring counters {st}")
    print(f"{loop_name}: {len(requests)} requests through cbring.aio.Dispatcher, "
          f"{st.pushed} status callbacks, bodies {sum(sizes)} bytes, "
          f"{(time.monotonic() - start) * 1000:.0f} ms")


def round_asyncio(args, loop_factory, name):
    loop = loop_factory()
    try:
        loop.run_until_complete(fetch_all(parse(args), name))
    finally:
        loop.close()


def run(args):
    round_wait_drain(parse(args))
    round_asyncio(args, asyncio.SelectorEventLoop, "round 2, SelectorEventLoop (add_reader on fileno())")
    round_asyncio(args, asyncio.ProactorEventLoop, "round 3, ProactorEventLoop (worker thread)")


def main(argv):
    if sys.platform != "win32":
        print("wininet_check: WinINet exists only on Windows", file=sys.stderr)
        return 2
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"wininet_check: Python {sys.version.split()[0]} on {sys.platform}, "
          f"cbring from {cbring.__file__}")
    try:
        run(argv)
    except CheckFailed as e:
        print(f"FAIL {e}")
        return 1
    print("wininet_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
