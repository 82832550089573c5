"""Host names, addresses and redirect URLs through a real WinINet, whole.

    python redirect_check.py [LONG_HOST]

A download through a chain of three redirects, served by an HTTP server
in this process on 127.0.0.1, alternating between 127.0.0.1 and a
60-character host name, the last hop to a 1,500-character URL.  Twice,
each time with a new Ring, WinINet session and server port (WinINet
resolves a server's name once per session and port):

  1. Ring.register(session): InternetSetStatusCallbackW, so RESOLVING_NAME
     and REDIRECT come in UTF-16LE and the addresses in ANSI;
  2. InternetSetStatusCallbackA(session, ring.status_callback): all ANSI.

Each time, every REDIRECT's info must be exactly the Location the server
sent, in order; every RESOLVING_NAME one of the two host names, and the
long one among them; every NAME_RESOLVED, CONNECTING_TO_SERVER and
CONNECTED_TO_SERVER the server's address; none truncated, raw in the
encoding of the registration; and the body whole.

LONG_HOST defaults to a 60-character name that the resolver maps to
127.0.0.1 without a hosts entry (Wine's getaddrinfo is the system's, which
takes a dotted address with leading zeros, octal: 0...0177.0.0.1); it may
be any name that resolves to 127.0.0.1.  Standard library and cbring
only: tests/windows/run-under-wine.sh runs it with the embeddable CPython.
"""

import ctypes
import http.server
import sys
import threading
import time
from ctypes import wintypes

import cbring
from cbring import InternetStatus as S

INTERNET_OPEN_TYPE_DIRECT = 1
INTERNET_FLAG_ASYNC = 0x10000000
OPEN_FLAGS = 0x80000000 | 0x04000000 | 0x00000100  # RELOAD | NO_CACHE_WRITE | PRAGMA_NOCACHE
HTTP_QUERY_STATUS_CODE = 19
HTTP_QUERY_FLAG_NUMBER = 0x20000000
ERROR_IO_PENDING = 997
DEADLINE = 60.0
CONTEXT = 0xC0FFEE
ADDRESS = "127.0.0.1"
LONG_HOST = "0" * 50 + "0177.0.0.1"
FINAL_URL_LENGTH = 1500
ADDRESS_STATUSES = (S.NAME_RESOLVED, S.CONNECTING_TO_SERVER, S.CONNECTED_TO_SERVER)


class CheckFailed(AssertionError):
    pass


def _wininet():
    w = ctypes.WinDLL("wininet", use_last_error=True)
    H, D = ctypes.c_void_p, wintypes.DWORD
    for name, res, args in [
        ("InternetOpenW", H, [wintypes.LPCWSTR, D, wintypes.LPCWSTR, wintypes.LPCWSTR, D]),
        ("InternetOpenUrlW", H, [H, wintypes.LPCWSTR, wintypes.LPCWSTR, D, D, ctypes.c_size_t]),
        ("InternetReadFile", wintypes.BOOL, [H, ctypes.c_void_p, D, ctypes.POINTER(D)]),
        ("InternetCloseHandle", wintypes.BOOL, [H]),
        ("InternetSetStatusCallbackA", ctypes.c_void_p, [H, ctypes.c_void_p]),
        ("InternetSetStatusCallbackW", ctypes.c_void_p, [H, ctypes.c_void_p]),
        ("HttpQueryInfoW", wintypes.BOOL, [H, D, ctypes.c_void_p, ctypes.POINTER(D), ctypes.POINTER(D)]),
    ]:
        f = getattr(w, name)
        f.restype, f.argtypes = res, args
    return w


wininet = _wininet() if sys.platform == "win32" else None


class Chain(http.server.BaseHTTPRequestHandler):
    """/start -> long host /hop1 -> 127.0.0.1 /hop2/... -> long host /final/... (200)."""

    protocol_version = "HTTP/1.1"
    server_version = "cbring-redirect-check"

    def do_GET(self):
        srv = self.server
        srv.received.append((self.headers.get("Host"), self.path))
        port = srv.server_address[1]
        if self.path == "/start":
            location = f"http://{srv.long_host}:{port}/hop1"
        elif self.path == "/hop1":
            location = f"http://{ADDRESS}:{port}/hop2/" + "b" * 300
        elif self.path.startswith("/hop2/"):
            location = srv.final_url
        elif self.path == srv.final_url.split(f":{port}", 1)[1]:
            body = b"cbring redirect check: arrived at the 1,500-character URL\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            srv.body = body
            return
        else:
            self.send_error(404)
            return
        srv.locations.append(location)
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_server(long_host):
    srv = http.server.ThreadingHTTPServer((ADDRESS, 0), Chain)
    srv.daemon_threads = True
    srv.long_host, srv.received, srv.locations, srv.body = long_host, [], [], None
    head = f"http://{long_host}:{srv.server_address[1]}/final/"
    srv.final_url = head + "".join(chr(ord("a") + i % 26) for i in range(FINAL_URL_LENGTH - len(head)))
    assert len(srv.final_url) == FINAL_URL_LENGTH
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Download:
    """One InternetOpenUrl in an asynchronous session, driven by the ring's events."""

    def __init__(self, ring):
        self.ring, self.events, self.handle = ring, [], None

    def take(self):
        batch = self.ring.drain()
        self.events.extend(ev for ev in batch if ev.context == CONTEXT)
        return batch

    def wait_for(self, status, what):
        """Drains until an event of `status` arrives after those seen; returns it."""
        seen = len(self.events)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            self.ring.wait(0.2)
            self.take()
            for ev in self.events[seen:]:
                if ev.status == status:
                    return ev
            seen = len(self.events)
        raise CheckFailed(f"no {status.name} after {DEADLINE:.0f} s waiting for {what}")

    def run(self, session, url):
        h = wininet.InternetOpenUrlW(session, url, None, 0, OPEN_FLAGS, CONTEXT)
        if not h:
            if ctypes.get_last_error() != ERROR_IO_PENDING:
                raise CheckFailed(f"InternetOpenUrlW failed with {ctypes.get_last_error()}")
            done = self.wait_for(S.REQUEST_COMPLETE, "the open")
            if done.error or not done.result:
                raise CheckFailed(f"the open completed as {done!r}")
            h = done.result
        self.handle = h
        code, size = wintypes.DWORD(0), wintypes.DWORD(4)
        if not wininet.HttpQueryInfoW(h, HTTP_QUERY_STATUS_CODE | HTTP_QUERY_FLAG_NUMBER,
                                      ctypes.byref(code), ctypes.byref(size), None) or code.value != 200:
            raise CheckFailed(f"HTTP status {code.value} (error {ctypes.get_last_error()})")
        body, buf, got = bytearray(), ctypes.create_string_buffer(4096), wintypes.DWORD(0)
        while True:
            got.value = 0
            if wininet.InternetReadFile(h, buf, len(buf), ctypes.byref(got)):
                if got.value == 0:
                    break
                body += buf.raw[:got.value]
            elif ctypes.get_last_error() == ERROR_IO_PENDING:
                done = self.wait_for(S.REQUEST_COMPLETE, "a read")
                if done.result != 1:
                    raise CheckFailed(f"a read completed as {done!r}")
                body += buf.raw[:got.value]
            else:
                raise CheckFailed(f"InternetReadFile failed with {ctypes.get_last_error()}")
        wininet.InternetCloseHandle(h)
        deadline = time.monotonic() + DEADLINE
        while not any(ev.status == S.HANDLE_CLOSING and ev.info == h for ev in self.events):
            if time.monotonic() > deadline:
                raise CheckFailed("no HANDLE_CLOSING for the request's handle")
            self.ring.wait(0.2)
            self.take()
        return bytes(body)


def check_round(name, register, long_host):
    srv = start_server(long_host)
    ring = cbring.Ring(capacity=256)
    session = wininet.InternetOpenW("cbring-redirect-check", INTERNET_OPEN_TYPE_DIRECT, None, None,
                                    INTERNET_FLAG_ASYNC)
    if not session:
        raise CheckFailed(f"InternetOpenW failed with {ctypes.get_last_error()}")
    wide = register(ring, session)
    download = Download(ring)
    try:
        body = download.run(session, f"http://{ADDRESS}:{srv.server_address[1]}/start")
    finally:
        wininet.InternetSetStatusCallbackW(session, None)
        wininet.InternetCloseHandle(session)
        ring.close()
        download.take()
        srv.shutdown()
        srv.server_close()
    events = download.events

    def texts(*statuses):
        return [ev for ev in events if ev.status in statuses]

    for ev in texts(S.RESOLVING_NAME, S.REDIRECT, *ADDRESS_STATUSES):
        print(f"  {ev.status.name:21} length {ev.length:5}  {ev.info[:70]!r}"
              + ("..." if len(ev.info) > 70 else ""))
        if ev.truncated or not isinstance(ev.info, str):
            raise CheckFailed(f"{name}: not whole text: {ev!r}")
        unit = "utf-16-le" if wide and ev.status in (S.RESOLVING_NAME, S.REDIRECT) else "ascii"
        if ev.raw != ev.info.encode(unit):
            raise CheckFailed(f"{name}: {ev.status.name}'s raw bytes are not its text in {unit}: {ev.raw[:40]!r}")
    if body != srv.body:
        raise CheckFailed(f"{name}: body {body!r}, the server sent {srv.body!r}")
    redirects = [ev.info for ev in texts(S.REDIRECT)]
    if redirects != srv.locations or len(redirects) != 3:
        raise CheckFailed(f"{name}: REDIRECT gave {redirects}, the server sent {srv.locations}")
    names = [ev.info for ev in texts(S.RESOLVING_NAME)]
    if long_host not in names or set(names) - {ADDRESS, long_host}:
        raise CheckFailed(f"{name}: RESOLVING_NAME gave {names}; the hosts are {ADDRESS} and {long_host}")
    addresses = [ev.info for ev in texts(*ADDRESS_STATUSES)]
    if not addresses or set(addresses) != {ADDRESS}:
        raise CheckFailed(f"{name}: the address statuses gave {addresses}, the server is at {ADDRESS}")
    hosts = [host for host, _ in srv.received]
    if f"{long_host}:{srv.server_address[1]}" not in hosts:
        raise CheckFailed(f"{name}: no request reached the server for the long host: {hosts}")
    st = ring.stats
    if st.dropped or st.late or st.payloads_truncated or st.pushed != st.drained:
        raise CheckFailed(f"{name}: ring counters {st}")
    print(f"{name}: {len(events)} events; 3 redirects whole (the last {len(redirects[-1])} characters), "
          f"host names {sorted(set(names), key=len)}, addresses {sorted(set(addresses))}, body whole")


def register_w(ring, session):
    previous = ring.register(session)
    if previous != 0:
        raise CheckFailed(f"Ring.register returned {previous:#x}, expected 0")
    return True


def register_a(ring, session):
    previous = wininet.InternetSetStatusCallbackA(session, ring.status_callback)
    if previous:
        raise CheckFailed(f"InternetSetStatusCallbackA returned {previous:#x}, expected 0")
    return False


def main(argv):
    if sys.platform != "win32":
        print("redirect_check: WinINet exists only on Windows", file=sys.stderr)
        return 2
    long_host = argv[0] if argv else LONG_HOST
    if len(long_host) != 60:
        print(f"redirect_check: the long host name must have 60 characters, got {len(long_host)}",
              file=sys.stderr)
        return 2
    print(f"redirect_check: Python {sys.version.split()[0]}, cbring from {cbring.__file__}; "
          f"long host {long_host}")
    try:
        check_round("Ring.register (InternetSetStatusCallbackW)", register_w, long_host)
        check_round("InternetSetStatusCallbackA with Ring.status_callback", register_a, long_host)
    except CheckFailed as e:
        print(f"FAIL {e}")
        return 1
    print("redirect_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
