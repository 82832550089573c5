"""Concurrent HTTP GETs over one asynchronous WinHTTP session, driven by
cbring: WinHTTP's status callback is cbring's native one (Ring.winhttp_callback,
installed by Ring.register_winhttp), which records each event in the ring
without the GIL; cbring.aio.WinHttpDispatcher turns the drained events into
the futures that fetch() awaits.  The WinHTTP calls themselves are ctypes
calls into winhttp.dll (_winhttp.py).

    downloads = [Download(url, bytearray(capacity)) for url in urls]
    stats = asyncio.run(download_all(downloads))
    for d in downloads:
        d.error or d.body        # a cbring.WinHttpError names what failed

Each body goes straight into the buffer its Download was given
(WinHttpReadData writes there); Download.received, .redirects and .status
are its progress, updated as the events come in, and on_progress(download)
is called after each read and each redirect."""

import asyncio
import ctypes
import urllib.parse

import cbring
import cbring.aio

from . import _winhttp

__all__ = ["Download", "DownloadFailed", "download_all", "fetch", "open_session", "run_session"]

S = cbring.WinHttpStatus
DEFAULT_READ_SIZE = 65536
USER_AGENT = "cbring-winhttp-downloader"


class DownloadFailed(OSError):
    """A download that WinHTTP did not fail but that cannot be kept: an HTTP
    status other than 200, or a body longer than the buffer given for it."""


class Download:
    """One GET, into a buffer the caller owns (any writable, contiguous buffer)."""

    def __init__(self, url, buffer):
        self.url = url
        self.buffer = buffer
        self._view = memoryview(buffer).cast("B")
        if self._view.readonly:
            raise TypeError(f"the buffer for {url} must be writable")
        self.received = 0           # bytes of the body in buffer so far
        self.redirects = []         # each REDIRECT's URL, in order
        self.status = None          # the final response's HTTP status
        self.content_length = None  # its Content-Length, if it had one
        self.reads = 0              # WinHttpReadData calls
        self.error = None           # why it failed: cbring.WinHttpError, DownloadFailed, OSError
        self.handles = []           # [connect, request] as opened

    @property
    def body(self):
        """The bytes received, a view of the caller's buffer."""
        return self._view[:self.received]

    def __repr__(self):
        state = f"error={self.error}" if self.error else f"received={self.received}"
        return f"<Download {self.url} {state} redirects={len(self.redirects)}>"


def _check(ok, dll, what, api=None, handle=None, future=None):
    """Raises if a call failed at once; future, the completion it would have
    had, is cancelled then, so that it leaves the dispatcher unawaited."""
    if ok:
        return
    error = ctypes.get_last_error()
    if future is not None:
        future.cancel()
    if api is not None:
        raise cbring.WinHttpError(error, api, handle)
    raise ctypes.WinError(error, f"{what} failed")


def open_session(dll):
    """An asynchronous session (WINHTTP_FLAG_ASYNC) without a proxy."""
    session = dll.WinHttpOpen(USER_AGENT, _winhttp.WINHTTP_ACCESS_TYPE_NO_PROXY, None, None,
                              _winhttp.WINHTTP_FLAG_ASYNC)
    _check(session, dll, "WinHttpOpen")
    return session


async def fetch(events, dll, session, download, *, read_size=DEFAULT_READ_SIZE, on_progress=None):
    """One GET of download.url on session, every step awaited through events
    (a cbring.aio.WinHttpDispatcher, or anything with its request()).
    Never raises for the download's own failure: it is kept in download.error."""
    base = (ctypes.c_char * len(download._view)).from_buffer(download._view)
    address = ctypes.addressof(base)

    def progress(ev):
        if ev.status_code == S.REDIRECT:
            download.redirects.append(ev.info)
            if on_progress is not None:
                on_progress(download)

    connect = request = None
    try:
        url = urllib.parse.urlsplit(download.url)
        target = url.path + ("?" + url.query if url.query else "")
        connect = dll.WinHttpConnect(session, url.hostname, url.port or 80, 0)
        _check(connect, dll, "WinHttpConnect")
        download.handles.append(connect)
        request = dll.WinHttpOpenRequest(connect, "GET", target or "/", None, None, None,
                                         _winhttp.WINHTTP_FLAG_REFRESH)
        _check(request, dll, "WinHttpOpenRequest")
        download.handles.append(request)
        req = events.request(request, on_event=progress)

        sent = req.send_complete()
        _check(dll.WinHttpSendRequest(request, None, 0, None, 0, 0, id(download)), dll,
               "WinHttpSendRequest", cbring.WinHttpApi.API_SEND_REQUEST, request, sent)
        await sent

        headers = req.headers_available()
        _check(dll.WinHttpReceiveResponse(request, None), dll,
               "WinHttpReceiveResponse", cbring.WinHttpApi.API_RECEIVE_RESPONSE, request, headers)
        await headers
        download.status = _winhttp.query_number(dll, request, _winhttp.WINHTTP_QUERY_STATUS_CODE)
        download.content_length = _winhttp.query_number(dll, request, _winhttp.WINHTTP_QUERY_CONTENT_LENGTH)
        if download.status != 200:
            raise DownloadFailed(f"{download.url}: HTTP status {download.status}")

        while True:
            available = req.data_available()
            _check(dll.WinHttpQueryDataAvailable(request, None), dll,
                   "WinHttpQueryDataAvailable", cbring.WinHttpApi.API_QUERY_DATA_AVAILABLE, request,
                   available)
            n = await available
            if n == 0:
                break
            room = len(download._view) - download.received
            if room == 0:
                raise DownloadFailed(f"{download.url}: the body is longer than its buffer "
                                     f"({len(download._view)} bytes)")
            n = min(n, room, read_size)
            done = req.read_complete()
            _check(dll.WinHttpReadData(request, address + download.received, n, None), dll,
                   "WinHttpReadData", cbring.WinHttpApi.API_READ_DATA, request, done)
            download.reads += 1
            got = await done
            download.received += got
            if on_progress is not None:
                on_progress(download)
            if got == 0:
                break
    except (OSError, ConnectionAbortedError) as e:
        download.error = e
    finally:
        # HANDLE_CLOSING is each handle's last callback: once it came, no
        # callback refers to the buffer or the handle any more
        for handle in (request, connect):
            if handle:
                closed = events.request(handle).closed()
                if dll.WinHttpCloseHandle(handle):
                    await closed
                else:
                    closed.cancel()
                    if download.error is None:
                        download.error = ctypes.WinError(ctypes.get_last_error(), "WinHttpCloseHandle failed")
        del base
    return download


async def run_session(events, dll, session, downloads, **options):
    """fetch() every download at once on session, then close the session and
    wait for its HANDLE_CLOSING."""
    try:
        await asyncio.gather(*(fetch(events, dll, session, d, **options) for d in downloads))
    finally:
        closed = events.request(session).closed()
        _check(dll.WinHttpCloseHandle(session), dll, "WinHttpCloseHandle", future=closed)
        await closed


def _register(ring, session):
    ring.register_winhttp(session)


async def download_all(downloads, *, capacity=256, dispatcher=None, register=_register, **options):
    """Every download at once, over one new asynchronous session whose status
    callback is a new Ring(capacity)'s.  dispatcher: the class to route with
    (cbring.aio.WinHttpDispatcher unless given); register(ring, session):
    how the callback is installed (Ring.register_winhttp unless given;
    bench.py and winhttp_check.py give others).  options go to fetch().
    Returns the ring, closed and drained, for its stats."""
    dll = _winhttp.load()
    ring = cbring.Ring(capacity=capacity)
    dispatcher = cbring.aio.WinHttpDispatcher if dispatcher is None else dispatcher
    session = open_session(dll)
    try:
        register(ring, session)
    except BaseException:
        dll.WinHttpCloseHandle(session)
        ring.close()
        raise
    try:
        async with dispatcher(ring) as events:
            await run_session(events, dll, session, downloads, **options)
    finally:
        ring.close()
    return ring
