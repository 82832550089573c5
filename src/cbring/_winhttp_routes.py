"""WinHTTP's routing: drained status events to the futures of each request.

WinHTTP reports each asynchronous call on the handle it was made on (the
callback's hInternet): WinHttpSendRequest with SENDREQUEST_COMPLETE,
WinHttpReceiveResponse with HEADERS_AVAILABLE, WinHttpQueryDataAvailable with
DATA_AVAILABLE, WinHttpReadData with READ_COMPLETE, WinHttpWriteData with
WRITE_COMPLETE, and a failure of any of them with REQUEST_ERROR, whose
WINHTTP_ASYNC_RESULT names the API.  HANDLE_CLOSING is a handle's last
callback.  So the routing keys on the handle, never on dwContext: WinHTTP
reports its connect handles on the session handle with context 0, and a
handle is what every caller already holds.

The state and the logic live here, shared by cbring.aio.WinHttpDispatcher
and cbring.dispatch.WinHttpDispatcher; those supply the futures
(_new_future) and the runner that drains the ring, and this module knows
neither asyncio nor threads.
"""

from __future__ import annotations

import functools
import struct
from collections import deque
from concurrent.futures import InvalidStateError
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, Optional, Tuple

from cbring._core import Ring, WinHttpApi, WinHttpStatus
from cbring._errors import DispatcherClosed, EventsDropped, WinHttpError

if TYPE_CHECKING:
    from cbring._core import StatusEvent

HANDLE_CLOSING = int(WinHttpStatus.HANDLE_CLOSING)
HEADERS_AVAILABLE = int(WinHttpStatus.HEADERS_AVAILABLE)
DATA_AVAILABLE = int(WinHttpStatus.DATA_AVAILABLE)
READ_COMPLETE = int(WinHttpStatus.READ_COMPLETE)
WRITE_COMPLETE = int(WinHttpStatus.WRITE_COMPLETE)
REQUEST_ERROR = int(WinHttpStatus.REQUEST_ERROR)
SENDREQUEST_COMPLETE = int(WinHttpStatus.SENDREQUEST_COMPLETE)

# REQUEST_ERROR's WINHTTP_ASYNC_RESULT.dwResult names the call that failed,
# and so the completion it stands for
_COMPLETION_OF_API = {
    int(WinHttpApi.API_SEND_REQUEST): SENDREQUEST_COMPLETE,
    int(WinHttpApi.API_RECEIVE_RESPONSE): HEADERS_AVAILABLE,
    int(WinHttpApi.API_QUERY_DATA_AVAILABLE): DATA_AVAILABLE,
    int(WinHttpApi.API_READ_DATA): READ_COMPLETE,
    int(WinHttpApi.API_WRITE_DATA): WRITE_COMPLETE,
}

# what a request can ask for, by the status that answers it: its name and the method that asks
_NAMES = {
    SENDREQUEST_COMPLETE: ("SENDREQUEST_COMPLETE", "send_complete"),
    HEADERS_AVAILABLE: ("HEADERS_AVAILABLE", "headers_available"),
    DATA_AVAILABLE: ("DATA_AVAILABLE", "data_available"),
    READ_COMPLETE: ("READ_COMPLETE", "read_complete"),
    WRITE_COMPLETE: ("WRITE_COMPLETE", "write_complete"),
    HANDLE_CLOSING: ("HANDLE_CLOSING", "closed"),
}
_COMPLETIONS = frozenset(_NAMES) - {HANDLE_CLOSING}
_HANDLE_MAX = (1 << (8 * struct.calcsize("P"))) - 1

ProgressHook = Callable[["StatusEvent"], object]


def _checked_handle(handle: object) -> int:
    if isinstance(handle, bool) or not isinstance(handle, int):
        raise TypeError(f"hrequest must be an int (an HINTERNET), got {type(handle).__name__}")
    if not 0 < handle <= _HANDLE_MAX:
        raise ValueError(f"hrequest must be a non-NULL HINTERNET, from 1 to {_HANDLE_MAX}, got {handle!r}")
    return handle


def _checked_hook(on_event: Optional[ProgressHook]) -> Optional[ProgressHook]:
    if on_event is not None and not callable(on_event):
        raise TypeError(f"on_event must be callable or None, got {type(on_event).__name__}")
    return on_event


def _resolve(future: Any, value: object) -> bool:
    """future.set_result(value) unless it is done; True if it took value.

    A thread flavour's future cancelled from another thread between done()
    and set_result() raises InvalidStateError: it was cancelled, so it takes
    nothing (its cancel() takes the dispatcher's lock only after cancelling,
    or its callbacks would run under the lock).  asyncio's futures are
    cancelled only on the loop's thread and never get here."""
    if future.done():
        return False
    try:
        future.set_result(value)
    except InvalidStateError:
        return False
    return True


def _fail(future: Any, error: BaseException) -> bool:
    """future.set_exception(error) unless it is done (cancelled, see _resolve); True if it took error."""
    if future.done():
        return False
    try:
        future.set_exception(error)
    except InvalidStateError:
        return False
    return True


def _dropped(lost: int, handle: int, kind: int) -> EventsDropped:
    error = EventsDropped(lost, handle)
    # EventsDropped's own message speaks of a WinINet context and REQUEST_COMPLETE
    error.args = (f"the ring dropped {lost} record(s) while WinHTTP handle {handle:#x} waited "
                  f"for {_NAMES[kind][0]}; a dropped completion cannot be routed",)
    return error


class Request:
    """One handle's futures: what WinHttpDispatcher.request() returns.

    Each method returns a new future for the next event of its kind on the
    handle; ask before starting the call it waits for.  After the handle's
    HANDLE_CLOSING, closed() returns a resolved future and the others a
    future failed with ConnectionAbortedError; request() of the same handle
    value then starts a new registration (WinHTTP reuses handle values).

    on_event, when set, is called with every other event of the handle
    (RESOLVING_NAME, REDIRECT, RESPONSE_RECEIVED, ...: its progress) as it
    is routed, on the thread that routes; an exception from it stops the
    dispatcher as any failure of its runner does."""

    __slots__ = ("_routes", "_handle", "_closed", "on_event")

    def __init__(self, routes: Routes, handle: int) -> None:
        self._routes = routes
        self._handle = handle
        self._closed = False
        self.on_event: Optional[ProgressHook] = None

    @property
    def handle(self) -> int:
        """The HINTERNET whose events this request's futures wait for."""
        return self._handle

    def _ask(self, kind: int) -> Any:
        return self._routes._ask(self, kind)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__module__}.{type(self).__qualname__} handle={self._handle:#x}{state}>"


class Routes:
    """The routing state of a WinHttpDispatcher.

    Subclasses supply _new_future() and _request_class.  A future leaves
    the routing from its own cancel() (see cbring.dispatch._Routes)."""

    _request_class: type[Request] = Request

    def __init__(self, ring: Ring, *, max_unclaimed: int) -> None:
        # both checked by the runner, a cbring.dispatch or cbring.aio Dispatcher made first
        self._ring = ring
        self._max_unclaimed = max_unclaimed
        self._requests: Dict[int, Request] = {}
        # (handle, status that answers) -> futures, oldest first
        self._waiting: Dict[Tuple[int, int], Deque[Any]] = {}
        # (handle, status) -> completions nobody asked for yet, oldest key first
        self._unclaimed: Dict[Tuple[int, int], Deque[StatusEvent]] = {}
        self._unclaimed_count = 0
        self._pending = 0
        self._closed: Optional[DispatcherClosed] = None
        self._dropped_seen = ring.stats.dropped
        self._forgetters = {kind: functools.partial(self._forget, kind) for kind in _NAMES}
        self.unknown = 0      # events for a handle nobody called request() for, or not WinHTTP's
        self.dispatched = 0   # events for a handle with a live request()
        self.discarded = 0    # completions nobody asked for, thrown away (the bound, or HANDLE_CLOSING)

    def _new_future(self, forget: Callable[[int, Any], None], key: int) -> Any:
        """A future whose cancel() calls forget(key, future) once it is cancelled."""
        raise NotImplementedError

    @property
    def pending(self) -> int:
        """Futures waiting for an event (closed() ones included)."""
        return self._pending

    @property
    def unclaimed(self) -> int:
        """Completions kept for a request that has not asked for them yet."""
        return self._unclaimed_count

    @property
    def closed(self) -> bool:
        """True once the dispatcher has stopped; request() and asking then raise DispatcherClosed."""
        return self._closed is not None

    def _stopped(self, what: str) -> DispatcherClosed:
        assert self._closed is not None
        error = DispatcherClosed(f"{what} on a stopped dispatcher: {self._closed}")
        error.__cause__ = self._closed.__cause__
        return error

    def _request(self, hrequest: object, on_event: Optional[ProgressHook]) -> Request:
        handle = _checked_handle(hrequest)
        hook = _checked_hook(on_event)
        if self._closed is not None:
            raise self._stopped(f"request({handle:#x})")
        request = self._requests.get(handle)
        if request is None:
            request = self._requests[handle] = self._request_class(self, handle)
        if hook is not None:
            request.on_event = hook
        return request

    def _ask(self, request: Request, kind: int) -> Any:
        handle = request._handle
        if self._closed is not None:
            raise self._stopped(f"{_NAMES[kind][1]}() of WinHTTP handle {handle:#x}")
        future = self._new_future(self._forgetters[kind], handle)
        if request._closed:
            if kind == HANDLE_CLOSING:
                future.set_result(None)
            else:
                future.set_exception(ConnectionAbortedError(
                    f"WinHTTP handle {handle:#x} was closed (HANDLE_CLOSING) before "
                    f"{_NAMES[kind][1]}() was asked"))
            return future
        key = (handle, kind)
        early = self._unclaimed.get(key)
        if early:
            event = early.popleft()
            self._unclaimed_count -= 1
            if not early:
                del self._unclaimed[key]
            self._settle(future, handle, kind, event)
            return future
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
        waiting.append(future)
        self._pending += 1
        return future

    def _forget(self, kind: int, handle: int, future: Any) -> None:
        """A cancelled future leaves its place at once (called from its cancel())."""
        key = (handle, kind)
        waiting = self._waiting.get(key)
        if waiting is None:
            return
        try:
            waiting.remove(future)
        except ValueError:
            return
        self._pending -= 1
        if not waiting:
            del self._waiting[key]

    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        """Routes every event of a batch (a Batch, or any iterable of StatusEvent)."""
        requests = self._requests
        for event in batch:
            if event.api != "winhttp":
                self.unknown += 1
                continue
            status = event.status_code
            handle = event.handle
            if status == HANDLE_CLOSING:
                # lpvStatusInformation names the handle that closes
                info = event.info
                if type(info) is int and info:
                    handle = info
            request = requests.get(handle)
            if request is None:
                self.unknown += 1
            else:
                self.dispatched += 1
            if status in _COMPLETIONS:
                self._complete(handle, status, event)
            elif status == REQUEST_ERROR:
                self._request_error(request, handle, event)
            elif status == HANDLE_CLOSING:
                self._handle_closing(handle)
            elif request is not None and request.on_event is not None:
                request.on_event(event)

    def _request_error(self, request: Optional[Request], handle: int, event: StatusEvent) -> None:
        api = event.result
        if api in _COMPLETION_OF_API:
            self._complete(handle, _COMPLETION_OF_API[api], event)
        elif api is None:
            # no readable WINHTTP_ASYNC_RESULT: the call that failed is unknown, so all of them did
            self._fail_handle(handle, event)
        elif request is not None and request.on_event is not None:
            request.on_event(event)   # a call no future waits for (API_GET_PROXY_FOR_URL)
        elif request is not None:
            self.discarded += 1       # unknown handles are counted in unknown already

    def _fail_handle(self, handle: int, event: StatusEvent) -> None:
        """Fails every future waiting for a completion of handle with an
        unreadable REQUEST_ERROR; counted in discarded if none waits."""
        taken = [(kind, self._waiting.pop((handle, kind), None)) for kind in _COMPLETIONS]
        failed = False
        for kind, waiting in taken:
            if not waiting:
                continue
            self._pending -= len(waiting)
            for future in waiting:
                failed = _fail(future, ValueError(
                    f"REQUEST_ERROR for WinHTTP handle {handle:#x} carried no readable "
                    f"WINHTTP_ASYNC_RESULT (flags {event.flags}) while it waited for "
                    f"{_NAMES[kind][0]}")) or failed
        if not failed and self._requests.get(handle) is not None:
            self.discarded += 1

    def _complete(self, handle: int, kind: int, event: StatusEvent) -> None:
        key = (handle, kind)
        waiting = self._waiting.get(key)
        while waiting:
            future = waiting.popleft()
            self._pending -= 1
            # False: cancelled; cancel() could not take it out in time
            if self._settle(future, handle, kind, event):
                break
        else:
            self._keep_unclaimed(key, event)
        # the settled future's callbacks may have emptied and dropped the queue, or made a new one
        if waiting is not None and not waiting and self._waiting.get(key) is waiting:
            del self._waiting[key]

    def _keep_unclaimed(self, key: Tuple[int, int], event: StatusEvent) -> None:
        if self._unclaimed_count >= self._max_unclaimed:
            oldest = next(iter(self._unclaimed))
            early = self._unclaimed[oldest]
            early.popleft()
            if not early:
                del self._unclaimed[oldest]
            self._unclaimed_count -= 1
            self.discarded += 1
        kept = self._unclaimed.get(key)
        if kept is None:
            kept = self._unclaimed[key] = deque()
        kept.append(event)
        self._unclaimed_count += 1

    def _handle_closing(self, handle: int) -> None:
        request = self._requests.pop(handle, None)
        if request is not None:
            request._closed = True
        for kind in _COMPLETIONS:
            early = self._unclaimed.pop((handle, kind), None)
            if early:
                self._unclaimed_count -= len(early)
                self.discarded += len(early)
            for future in self._waiting.pop((handle, kind), ()):
                self._pending -= 1
                _fail(future, ConnectionAbortedError(
                    f"WinHTTP handle {handle:#x} closed (HANDLE_CLOSING) before {_NAMES[kind][0]}"))
        for future in self._waiting.pop((handle, HANDLE_CLOSING), ()):
            self._pending -= 1
            _resolve(future, None)

    def _settle(self, future: Any, handle: int, kind: int, event: StatusEvent) -> bool:
        """Settles future with event unless it is done (cancelled); True if it took event."""
        if event.status_code == REQUEST_ERROR:
            return _fail(future, WinHttpError(event.error or 0, event.result or 0, handle))
        if kind == READ_COMPLETE:
            return _resolve(future, event.length)
        if kind == DATA_AVAILABLE or kind == WRITE_COMPLETE:
            info = event.info
            if isinstance(info, int):
                return _resolve(future, info)
            return _fail(future, ValueError(
                f"{_NAMES[kind][0]} for WinHTTP handle {handle:#x} carried no DWORD "
                f"(info {info!r}, flags {event.flags})"))
        return _resolve(future, None)

    def _take_waiting(self) -> Dict[Tuple[int, int], Deque[Any]]:
        """Takes every waiting future out of the routing before any is settled:
        their callbacks may cancel the others or ask for new futures, which
        then wait in a fresh table."""
        waiting, self._waiting = self._waiting, {}
        self._pending = 0
        return waiting

    def _check_drops(self) -> None:
        """Fails every waiting future when the ring has dropped records since the last look."""
        dropped = self._ring.stats.dropped
        if dropped == self._dropped_seen:
            return
        lost = dropped - self._dropped_seen
        self._dropped_seen = dropped
        for (handle, kind), waiting in self._take_waiting().items():
            for future in waiting:
                _fail(future, _dropped(lost, handle, kind))

    def _shut(self, why: str, cause: Optional[BaseException]) -> None:
        """Stops the routing: every future still waiting fails with DispatcherClosed."""
        if self._closed is None:
            closed = DispatcherClosed(why)
            closed.__cause__ = cause
            self._closed = closed
        for (handle, kind), waiting in self._take_waiting().items():
            for future in waiting:
                error = DispatcherClosed(
                    f"{self._closed} before {_NAMES[kind][0]} of WinHTTP handle {handle:#x}")
                error.__cause__ = cause
                _fail(future, error)
