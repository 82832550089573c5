"""The baseline: the same downloads with the status callback that ctypes
users write today, a WINFUNCTYPE function that WinHTTP calls on its own
threads, once per event.  Each call takes the GIL, decodes the status
information with ctypes (as cbring's C decoder does without it), and hands
the event to the loop with call_soon_threadsafe; the loop routes it to the
same futures (_router.EventRouter) that fetch() awaits.  Nothing but the
way events reach the loop differs from download_all()."""

import asyncio
import ctypes
import time

import cbring

from . import _router, _winhttp, open_session, run_session

S = cbring.WinHttpStatus


class WINHTTP_ASYNC_RESULT(ctypes.Structure):
    _fields_ = [("dwResult", ctypes.c_size_t), ("dwError", ctypes.c_uint32)]


_DWORD_STATUSES = frozenset({S.DATA_AVAILABLE, S.WRITE_COMPLETE, S.REQUEST_SENT, S.RESPONSE_RECEIVED,
                             S.INTERMEDIATE_RESPONSE, S.SECURE_FAILURE})
_TEXT_STATUSES = frozenset({S.RESOLVING_NAME, S.NAME_RESOLVED, S.CONNECTING_TO_SERVER,
                            S.CONNECTED_TO_SERVER, S.REDIRECT})
_HANDLE_STATUSES = frozenset({S.HANDLE_CREATED, S.HANDLE_CLOSING})


class Event:
    """What the callback decoded: the attributes of cbring.StatusEvent that the routing reads."""

    __slots__ = ("status_code", "handle", "context", "info", "length", "result", "error", "buffer")
    api = "winhttp"

    def __init__(self, handle, context, status, info, length):
        self.status_code, self.handle, self.context, self.length = status, handle or 0, context, length
        self.result = self.error = self.buffer = None
        if status == S.REQUEST_ERROR:
            r = WINHTTP_ASYNC_RESULT.from_address(info)
            self.result, self.error, self.info = r.dwResult, r.dwError, None
        elif status == S.READ_COMPLETE:
            self.info, self.buffer = length, info
        elif status in _DWORD_STATUSES:
            self.info = ctypes.c_uint32.from_address(info).value
        elif status in _TEXT_STATUSES:
            # length in characters; Wine counts the terminating NUL
            self.info = ctypes.wstring_at(info, length).rstrip("\0")
        elif status in _HANDLE_STATUSES:
            self.info = ctypes.c_void_p.from_address(info).value
        else:
            self.info = ctypes.string_at(info, length) if info and length else None

    @property
    def status(self):
        try:
            return S(self.status_code)
        except ValueError:
            return self.status_code


class CtypesCallback:
    """A WINFUNCTYPE callback that decodes each event on WinHTTP's thread and
    posts it to loop for router.  address: what WinHttpSetStatusCallback
    takes.  Keep this object alive until the session's HANDLE_CLOSING has
    returned: WinHTTP calls the thunk until then."""

    def __init__(self, loop, router, *, time_body=False):
        self._loop, self._router = loop, router
        self.calls = 0
        # per call: the Python function's own time, and of it the decoding
        self.body_ns = [] if time_body else None
        self.decode_ns = [] if time_body else None
        self.thunk = _winhttp.WINHTTP_STATUS_CALLBACK(self._timed if time_body else self._callback)
        self.address = ctypes.cast(self.thunk, ctypes.c_void_p).value

    def _callback(self, handle, context, status, info, length):
        self.calls += 1
        self._loop.call_soon_threadsafe(self._router.dispatch, (Event(handle, context, status, info, length),))

    def _timed(self, handle, context, status, info, length):
        t0 = time.perf_counter_ns()
        self.calls += 1
        event = Event(handle, context, status, info, length)
        t1 = time.perf_counter_ns()
        self._loop.call_soon_threadsafe(self._router.dispatch, (event,))
        t2 = time.perf_counter_ns()
        self.decode_ns.append(t1 - t0)
        self.body_ns.append(t2 - t0)


def _set_callback(dll, session, address):
    previous = dll.WinHttpSetStatusCallback(session, address,
                                            _winhttp.WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS, 0)
    if previous == _winhttp.WINHTTP_INVALID_STATUS_CALLBACK:
        raise ctypes.WinError(ctypes.get_last_error(), "WinHttpSetStatusCallback failed")


async def download_all_ctypes(downloads, *, wrap=None, time_body=False, **options):
    """download_all() with a ctypes callback per event instead of cbring.
    wrap(address) -> the address to register instead (bench.py's timing
    shim).  Returns the CtypesCallback, for its counts."""
    dll = _winhttp.load()
    router = _router.EventRouter()
    callback = CtypesCallback(asyncio.get_running_loop(), router, time_body=time_body)
    session = open_session(dll)
    _set_callback(dll, session, callback.address if wrap is None else wrap(callback.address))
    await run_session(router, dll, session, downloads, **options)
    router.close("the session is closed")
    return callback
