"""Routing drained status events to the requests that wait for them.

A request registers its dwContext and gets a future for its next
REQUEST_COMPLETE; the future resolves with the INTERNET_ASYNC_RESULT, or
fails with WinINetError when dwResult is FALSE.  HANDLE_CLOSING ends the
registration (a future still waiting then fails with ConnectionAbortedError);
register() after it starts a new one.

Every future settles.  When the ring is closed and drained, or the
dispatcher stops for any reason, the futures still waiting fail with
DispatcherClosed (chained to the runner's exception, if any).  When the ring
reports dropped records while futures wait, those futures fail with
EventsDropped: a dropped completion cannot be routed.  A cancelled future is
forgotten at once and never takes a completion meant for the next one.

A REQUEST_COMPLETE that arrives before anyone asked for it is kept for the
next register() of its context, up to max_unclaimed completions in all; past
that the oldest is discarded and counted in ``discarded``, as are the kept
completions of a context whose HANDLE_CLOSING arrives.

This module holds the routing and a plain-thread Dispatcher;
cbring.aio.Dispatcher is the asyncio flavour of the same routing.
"""

from __future__ import annotations

import concurrent.futures
import struct
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple, cast

from cbring import _route, _winhttp_routes
from cbring._core import AsyncResult, Batch, InternetStatus, Ring
from cbring._errors import DispatcherClosed, EventsDropped, WinINetError

if TYPE_CHECKING:
    from types import TracebackType

    from cbring._core import StatusEvent

__all__ = ["Dispatcher", "WinHttpDispatcher", "WinHttpRequest", "DEFAULT_MAX_EVENTS",
           "DEFAULT_MAX_UNCLAIMED"]

_COMPLETE = int(InternetStatus.REQUEST_COMPLETE)
_CLOSING = int(InternetStatus.HANDLE_CLOSING)
_DWORD_PTR_MAX = (1 << (8 * struct.calcsize("P"))) - 1

#: Events a dispatcher drains at a time: the work it does before it lets
#: anything else run (other asyncio tasks, stop()).
DEFAULT_MAX_EVENTS = 4096
#: Completions kept for contexts nobody is waiting on yet.
DEFAULT_MAX_UNCLAIMED = 65536

# One consumer per ring: a second one would take records the first waits for.
# id(ring) -> (ring, consumer); the ring is held so that its id is not reused.
_consumers: Dict[int, Tuple[Ring, object]] = {}
_consumers_lock = threading.Lock()


def _claim(ring: Ring, consumer: object) -> None:
    if not isinstance(ring, Ring):
        raise TypeError(f"ring must be a cbring.Ring, got {type(ring).__name__}")
    with _consumers_lock:
        held = _consumers.get(id(ring))
        if held is not None and held[1] is not consumer:
            raise RuntimeError(
                f"this Ring already has a consumer ({held[1]!r}); a second Dispatcher or "
                f"batches() loop would take the records the first one waits for")
        _consumers[id(ring)] = (ring, consumer)


def _release(ring: Ring, consumer: object) -> None:
    with _consumers_lock:
        held = _consumers.get(id(ring))
        if held is not None and held[1] is consumer:
            del _consumers[id(ring)]


def _checked_context(context: object) -> int:
    if isinstance(context, bool) or not isinstance(context, int):
        raise TypeError(f"context must be an int (a DWORD_PTR), got {type(context).__name__}")
    if not 0 <= context <= _DWORD_PTR_MAX:
        raise ValueError(f"context must be a DWORD_PTR, from 0 to {_DWORD_PTR_MAX}, got {context!r}")
    return context


def _checked_bound(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class _Routes:
    """The routing state, shared by the thread and asyncio dispatchers.

    Subclasses supply _new_future().  A future leaves the routing from its
    own cancel(), not from a done callback: asyncio schedules done callbacks
    through the loop, one call_soon per settled future, and until one ran a
    cancelled future would still hold its place."""

    def __init__(self, ring: Ring, *, max_events: Optional[int], max_unclaimed: int) -> None:
        self._ring = ring
        self._max_events = DEFAULT_MAX_EVENTS if max_events is None else _checked_bound(
            max_events, "max_events")
        self._max_unclaimed = _checked_bound(max_unclaimed, "max_unclaimed")
        self._waiting: Dict[int, Deque[Any]] = {}   # context -> futures, oldest first
        self._unclaimed: Dict[int, Deque[StatusEvent]] = {}  # context -> early completions
        self._unclaimed_count = 0
        self._closing: Dict[int, List[Any]] = {}    # handle -> futures for its HANDLE_CLOSING
        self._registered: set[int] = set()
        self._pending = 0
        self._closed: Optional[DispatcherClosed] = None
        self._dropped_seen = ring.stats.dropped
        self.unknown = 0      # events whose context nobody registered
        self.dispatched = 0   # events routed to a registered context
        self.discarded = 0    # unclaimed completions thrown away (the bound, or HANDLE_CLOSING)

    def _new_future(self, forget: Callable[[int, Any], None], key: int) -> Any:
        """A future whose cancel() calls forget(key, future) once it is cancelled."""
        raise NotImplementedError

    @property
    def pending(self) -> int:
        """Futures waiting for a REQUEST_COMPLETE."""
        return self._pending

    @property
    def unclaimed(self) -> int:
        """Completions kept for a register() that has not come yet."""
        return self._unclaimed_count

    @property
    def closed(self) -> bool:
        """True once the dispatcher has stopped; register() then raises DispatcherClosed."""
        return self._closed is not None

    def _register(self, context: object) -> Any:
        context = _checked_context(context)
        if self._closed is not None:
            raise DispatcherClosed(f"register({context}) on a stopped dispatcher: "
                                   f"{self._closed}") from self._closed.__cause__
        self._registered.add(context)
        future = self._new_future(self._forget, context)
        early = self._unclaimed.get(context)
        if early:
            event = early.popleft()
            self._unclaimed_count -= 1
            if not early:
                del self._unclaimed[context]
            self._settle(future, context, event)
            return future
        waiting = self._waiting.get(context)
        if waiting is None:
            waiting = self._waiting[context] = deque()
        waiting.append(future)
        self._pending += 1
        return future

    def _forget(self, context: int, future: Any) -> None:
        """A cancelled future leaves its place at once (called from its cancel())."""
        waiting = self._waiting.get(context)
        if waiting is None:
            return
        try:
            waiting.remove(future)
        except ValueError:
            return
        self._pending -= 1
        if not waiting:
            del self._waiting[context]

    def _forget_closing(self, handle: int, future: Any) -> None:
        waiters = self._closing.get(handle)
        if waiters is not None and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._closing[handle]

    def _closed_future(self, handle: object) -> Any:
        handle = _checked_context(handle)
        if self._closed is not None:
            raise DispatcherClosed(f"handle_closed({handle}) on a stopped dispatcher: "
                                   f"{self._closed}") from self._closed.__cause__
        future = self._new_future(self._forget_closing, handle)
        self._closing.setdefault(handle, []).append(future)
        return future

    def _unregister(self, context: int) -> None:
        self._registered.discard(context)
        self._drop_unclaimed(context)
        for future in self._waiting.pop(context, ()):
            self._pending -= 1
            future.cancel()

    def _drop_unclaimed(self, context: int) -> None:
        early = self._unclaimed.pop(context, None)
        if early:
            self._unclaimed_count -= len(early)
            self.discarded += len(early)

    def _keep_unclaimed(self, context: int, event: StatusEvent) -> None:
        if self._unclaimed_count >= self._max_unclaimed:
            oldest = next(iter(self._unclaimed))
            early = self._unclaimed[oldest]
            early.popleft()
            if not early:
                del self._unclaimed[oldest]
            self._unclaimed_count -= 1
            self.discarded += 1
        kept = self._unclaimed.get(context)
        if kept is None:
            kept = self._unclaimed[context] = deque()
        kept.append(event)
        self._unclaimed_count += 1

    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        """Routes every event of a batch (a Batch, or any iterable of StatusEvent)."""
        if type(batch) is Batch:
            _route.route(self, batch)
            return
        registered = self._registered
        waiting_for = self._waiting
        for event in batch:
            context = event.context
            status = event.status
            if context in registered:
                self.dispatched += 1
            else:
                self.unknown += 1
            if status == _COMPLETE:
                waiting = waiting_for.get(context)
                while waiting:
                    future = waiting.popleft()
                    self._pending -= 1
                    if not future.done():     # cancelled; cancel() could not find it in time
                        self._settle(future, context, event)
                        break
                else:
                    self._keep_unclaimed(context, event)
                if waiting is not None and not waiting:
                    del waiting_for[context]
            elif status == _CLOSING:
                self._handle_closing(context, event.handle)

    def _handle_closing(self, context: int, handle: int) -> None:
        # what was kept for the context belonged to the handle now closing
        self._drop_unclaimed(context)
        if context in self._registered:
            self._registered.discard(context)
            for future in self._waiting.pop(context, ()):
                self._pending -= 1
                self._fail(future, ConnectionAbortedError(
                    f"handle of context {context} closed before REQUEST_COMPLETE"))
        for future in self._closing.pop(handle, ()):
            self._resolve(future, None)

    def _check_drops(self) -> None:
        """Fails the waiting futures when the ring has dropped records since the last look."""
        dropped = self._ring.stats.dropped
        if dropped == self._dropped_seen:
            return
        lost = dropped - self._dropped_seen
        self._dropped_seen = dropped
        if not self._pending:
            return
        for context, waiting in self._waiting.items():
            for future in waiting:
                self._fail(future, EventsDropped(lost, context))
        self._waiting.clear()
        self._pending = 0

    def _settle(self, future: Any, context: int, event: StatusEvent) -> None:
        result = event.result
        if result is None:
            self._fail(future, ValueError(
                f"REQUEST_COMPLETE for context {context} carried no readable INTERNET_ASYNC_RESULT"
                f" (flags {event.flags})"))
        elif result:
            self._resolve(future, AsyncResult(result, event.error or 0))
        else:
            self._fail(future, WinINetError(event.error or 0, context))

    def _resolve(self, future: Any, value: object) -> None:
        if not future.done():
            future.set_result(value)

    def _fail(self, future: Any, error: BaseException) -> None:
        if not future.done():
            future.set_exception(error)

    def _shut(self, why: str, cause: Optional[BaseException]) -> None:
        """Stops the routing: every future still waiting fails with DispatcherClosed."""
        if self._closed is None:
            closed = DispatcherClosed(why)
            closed.__cause__ = cause
            self._closed = closed
        for context, waiting in self._waiting.items():
            for future in waiting:
                error = DispatcherClosed(f"{self._closed} before REQUEST_COMPLETE for context {context}")
                error.__cause__ = cause
                self._fail(future, error)
        self._waiting.clear()
        self._pending = 0
        for handle, waiters in self._closing.items():
            for future in waiters:
                error = DispatcherClosed(f"{self._closed} before HANDLE_CLOSING of handle {handle}")
                error.__cause__ = cause
                self._fail(future, error)
        self._closing.clear()


class _ThreadWaiter(concurrent.futures.Future):  # type: ignore[type-arg]
    """A concurrent.futures.Future that leaves its dispatcher when cancelled."""

    def __init__(self, lock: threading.RLock, forget: Callable[[int, Any], None], key: int) -> None:
        super().__init__()
        self._cbring_forget = (lock, forget, key)

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        lock, forget, key = self._cbring_forget
        with lock:
            forget(key, self)
        return True


class Dispatcher(_Routes):
    """Routes a Ring's events to concurrent.futures.Future objects from a background thread.

        with Dispatcher(ring) as dispatcher:
            done = dispatcher.register(context)
            ... start the request with that context ...
            result = done.result(timeout=10)      # AsyncResult, or raises WinINetError

    stop() (and leaving the with block) routes what the ring holds, then fails
    every future still waiting with DispatcherClosed.  A Dispatcher is the
    ring's only consumer: a second one, or a batches() loop, is refused.
    register(), unregister() and handle_closed() may be called from any thread."""

    def __init__(self, ring: Ring, *, max_events: Optional[int] = None,
                 max_unclaimed: int = DEFAULT_MAX_UNCLAIMED) -> None:
        if not isinstance(ring, Ring):
            raise TypeError(f"ring must be a cbring.Ring, got {type(ring).__name__}")
        super().__init__(ring, max_events=max_events, max_unclaimed=max_unclaimed)
        # reentrant: done callbacks run inside set_result() and may call register()
        self._lock: threading.RLock = threading.RLock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._failure: Optional[BaseException] = None

    def _new_future(self, forget: Callable[[int, Any], None], key: int) -> _ThreadWaiter:
        return _ThreadWaiter(self._lock, forget, key)

    def register(self, context: int) -> concurrent.futures.Future[AsyncResult]:
        """A future for the next REQUEST_COMPLETE of context (registering it if new)."""
        with self._lock:
            future: concurrent.futures.Future[AsyncResult] = self._register(context)
            return future

    def handle_closed(self, handle: int) -> concurrent.futures.Future[None]:
        """A future that resolves when HANDLE_CLOSING for handle is routed.  Ask
        before closing the handle: a HANDLE_CLOSING nobody waits for is not kept."""
        with self._lock:
            future: concurrent.futures.Future[None] = self._closed_future(handle)
            return future

    def unregister(self, context: int) -> None:
        """Forgets context and its unclaimed completions; its waiting futures are cancelled."""
        with self._lock:
            self._unregister(_checked_context(context))

    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        with self._lock:
            super().dispatch(batch)
            self._check_drops()

    def start(self) -> Dispatcher:
        """Starts the thread that waits on the ring and dispatches its batches."""
        if self._thread is not None:
            raise RuntimeError("a Dispatcher can be started only once")
        _claim(self._ring, self)
        self._thread = threading.Thread(target=self._run, name="cbring-dispatcher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        why = "the ring was closed and drained"
        cause: Optional[BaseException] = None
        try:
            while not self._stop.is_set():
                if self._ring.wait(0.1):
                    self.dispatch(self._ring.drain(self._max_events))
                elif self._ring.closed:
                    break
            if self._stop.is_set():
                why = "the dispatcher was stopped"
            self.dispatch(self._ring.drain())
        except BaseException as e:
            why, cause = f"the dispatcher's thread failed ({type(e).__name__}: {e})", e
            self._failure = e
            raise
        finally:
            with self._lock:
                self._shut(why, cause)
            _release(self._ring, self)

    def stop(self) -> None:
        """Dispatches what the ring holds, stops the thread, and fails every
        future still waiting with DispatcherClosed.  Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._shut("the dispatcher was stopped", None)

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()



class WinHttpRequest(_winhttp_routes.Request):
    """The concurrent.futures futures of one WinHTTP request handle
    (WinHttpDispatcher.request()); see cbring.aio.WinHttpRequest."""

    __slots__ = ()

    def send_complete(self) -> concurrent.futures.Future[None]:
        """WinHttpSendRequest's SENDREQUEST_COMPLETE."""
        future: concurrent.futures.Future[None] = self._ask(_winhttp_routes.SENDREQUEST_COMPLETE)
        return future

    def headers_available(self) -> concurrent.futures.Future[None]:
        """WinHttpReceiveResponse's HEADERS_AVAILABLE."""
        future: concurrent.futures.Future[None] = self._ask(_winhttp_routes.HEADERS_AVAILABLE)
        return future

    def data_available(self) -> concurrent.futures.Future[int]:
        """WinHttpQueryDataAvailable's DATA_AVAILABLE: the bytes available (0 at the end)."""
        future: concurrent.futures.Future[int] = self._ask(_winhttp_routes.DATA_AVAILABLE)
        return future

    def read_complete(self) -> concurrent.futures.Future[int]:
        """WinHttpReadData's READ_COMPLETE: the bytes read (0 at the end)."""
        future: concurrent.futures.Future[int] = self._ask(_winhttp_routes.READ_COMPLETE)
        return future

    def write_complete(self) -> concurrent.futures.Future[int]:
        """WinHttpWriteData's WRITE_COMPLETE: the bytes written."""
        future: concurrent.futures.Future[int] = self._ask(_winhttp_routes.WRITE_COMPLETE)
        return future

    def closed(self) -> concurrent.futures.Future[None]:
        """HANDLE_CLOSING, the handle's last callback (WinHttpCloseHandle)."""
        future: concurrent.futures.Future[None] = self._ask(_winhttp_routes.HANDLE_CLOSING)
        return future


class _WinHttpRunner(Dispatcher):
    """Dispatcher's thread (start(), stop(): the ring's claim, the lock, the
    shutdown) handing every batch to a WinHttpDispatcher.  It relies on the
    thread and stop() going through self.dispatch() and self._shut()."""

    def __init__(self, owner: WinHttpDispatcher, ring: Ring, max_events: Optional[int],
                 max_unclaimed: int) -> None:
        super().__init__(ring, max_events=max_events, max_unclaimed=max_unclaimed)
        self._owner = owner

    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        self._owner.dispatch(batch)

    def _shut(self, why: str, cause: Optional[BaseException]) -> None:
        super()._shut(why, cause)
        self._owner._shut(why, cause)

    def __repr__(self) -> str:
        return repr(self._owner)


class WinHttpDispatcher(_winhttp_routes.Routes):
    """Routes a Ring's WinHTTP events to concurrent.futures.Future objects, by
    request handle, from a background thread.

        with WinHttpDispatcher(ring) as d:
            req = d.request(hrequest)
            sent = req.send_complete()     # ask first,
            WinHttpSendRequest(hrequest, ...)   # then start the call
            sent.result(timeout=10)        # or raises cbring.WinHttpError

    The same guarantees as cbring.aio.WinHttpDispatcher, and stop() (and
    leaving the with block) settles every future as Dispatcher.stop() does.
    request() and the futures' methods may be called from any thread."""

    _request_class = WinHttpRequest

    def __init__(self, ring: Ring, *, max_events: Optional[int] = None,
                 max_unclaimed: int = DEFAULT_MAX_UNCLAIMED) -> None:
        self._runner = _WinHttpRunner(self, ring, max_events, max_unclaimed)
        super().__init__(ring, max_unclaimed=max_unclaimed)

    def _new_future(self, forget: Callable[[int, Any], None], key: int) -> _ThreadWaiter:
        return self._runner._new_future(forget, key)

    def request(self, hrequest: int, *,
                on_event: Optional[_winhttp_routes.ProgressHook] = None) -> WinHttpRequest:
        """The futures of request handle hrequest (the same object until its
        HANDLE_CLOSING); see cbring.aio.WinHttpDispatcher.request()."""
        with self._runner._lock:
            return cast(WinHttpRequest, self._request(hrequest, on_event))

    def _ask(self, request: _winhttp_routes.Request, kind: int) -> Any:
        with self._runner._lock:
            return super()._ask(request, kind)

    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        with self._runner._lock:
            super().dispatch(batch)
            self._check_drops()

    def start(self) -> WinHttpDispatcher:
        """Starts the thread that waits on the ring and dispatches its batches."""
        self._runner.start()
        return self

    def stop(self) -> None:
        """Dispatches what the ring holds, stops the thread, and fails every
        future still waiting with DispatcherClosed.  Idempotent."""
        self._runner.stop()

    def __enter__(self) -> WinHttpDispatcher:
        return self.start()

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()
