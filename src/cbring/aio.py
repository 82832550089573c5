"""asyncio integration: ``async for batch in ring.batches()`` and a Dispatcher
whose futures are asyncio futures.

The event loop never blocks, and never starves: after every batch the
consumer yields to the loop, and a batch holds at most max_events records
(DEFAULT_MAX_EVENTS unless given), so other tasks run between batches even
while producers keep the ring full.  Where the loop has add_reader (the
selector loops: Linux, macOS, and Windows' SelectorEventLoop) the ring's
fileno() is watched directly; on loops without it (Windows' default
ProactorEventLoop) a worker thread waits on the ring and wakes the loop.

A ring has one consumer at a time: a second Dispatcher or batches() loop on
it raises RuntimeError."""

from __future__ import annotations

import asyncio
from typing import (TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator, Callable, Iterable, Optional,
                    cast)

from cbring import _winhttp_routes
from cbring import dispatch as _dispatch
from cbring._core import AsyncResult, Batch, Ring
from cbring._errors import DispatcherClosed

if TYPE_CHECKING:
    from types import TracebackType

    from cbring._core import StatusEvent

__all__ = ["Dispatcher", "DispatcherClosed", "WinHttpDispatcher", "WinHttpRequest", "batches"]

# how long the worker thread of a loop without add_reader waits at a time
_WORKER_WAIT = 0.25


def _has_reader(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        loop.add_reader
    except AttributeError:
        return False
    return not isinstance(loop, getattr(asyncio, "ProactorEventLoop", ()))


def batches(ring: Ring, max_events: Optional[int] = None) -> AsyncIterator[Batch]:
    """Yields non-empty batches of at most max_events records (default
    DEFAULT_MAX_EVENTS) from ring as records arrive, until the ring is closed
    and drained; yields to the event loop after every batch.  The ring's only
    consumer while it runs (RuntimeError if it already has one).  Prefer
    ``ring.batches()``."""
    limit = _dispatch.DEFAULT_MAX_EVENTS if max_events is None else _dispatch._checked_bound(
        max_events, "max_events")
    return _batches(ring, limit, object())


async def _batches(ring: Ring, max_events: int,
                   owner: Optional[object]) -> AsyncGenerator[Batch, None]:
    # owner: claims the ring for the generator's life; None when the caller holds it
    if owner is not None:
        _dispatch._claim(ring, owner)
    loop = asyncio.get_running_loop()
    if _has_reader(loop):
        fd = ring.fileno()
        waiter: Optional[asyncio.Future[None]] = None

        def readable() -> None:
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        async def arrival() -> None:
            nonlocal waiter
            waiter = loop.create_future()
            try:
                await waiter
            finally:
                waiter = None

        try:
            loop.add_reader(fd, readable)
        except BaseException:
            if owner is not None:
                _dispatch._release(ring, owner)
            raise

        def stop() -> None:
            loop.remove_reader(fd)
    else:
        async def arrival() -> None:
            await loop.run_in_executor(None, ring.wait, _WORKER_WAIT)

        def stop() -> None:
            pass
    try:
        while True:
            batch = ring.drain(max_events)
            if len(batch):
                yield batch
                # the loop's other tasks run between any two batches
                await asyncio.sleep(0)
            elif ring.closed:
                # a record pushed before close() may have landed after that drain
                batch = ring.drain(max_events)
                if not len(batch):
                    return
                yield batch
            else:
                await arrival()
    finally:
        stop()
        if owner is not None:
            _dispatch._release(ring, owner)


class _Waiter(asyncio.Future):  # type: ignore[type-arg]
    """An asyncio future that leaves its dispatcher the moment it is cancelled
    (asyncio.wait_for, Task.cancel): it never takes a completion, and a
    retry's register() gets the next one."""

    # set by Dispatcher._new_future: no __init__ of our own and no __dict__,
    # so that creating one costs what creating an asyncio.Future costs
    __slots__ = ("_cbring_forget",)
    _cbring_forget: tuple[Callable[[int, Any], None], int]

    def cancel(self, *args: Any, **kwargs: Any) -> bool:
        if not super().cancel(*args, **kwargs):
            return False
        forget, key = self._cbring_forget
        forget(key, self)
        return True


class Dispatcher(_dispatch._Routes):
    """Routes a Ring's events to asyncio futures.

        async with cbring.aio.Dispatcher(ring) as dispatcher:
            done = dispatcher.register(context)
            ... start the request ...
            result = await done      # AsyncResult, or raises WinINetError

    ``async with`` starts the runner task (and keeps it) and, on the way out,
    aclose()s it.  run() may be awaited instead; it consumes the ring until
    it is closed and drained.  Every future settles: when the runner ends
    for any reason (the ring closed and drained, aclose(), cancelled, an
    exception) the futures still waiting fail with DispatcherClosed, chained
    to the runner's exception; when the ring drops records they fail with
    EventsDropped.  register() and handle_closed() must be called from the
    event loop's thread."""

    def __init__(self, ring: Ring, *, max_events: Optional[int] = None,
                 max_unclaimed: int = _dispatch.DEFAULT_MAX_UNCLAIMED) -> None:
        if not isinstance(ring, Ring):
            raise TypeError(f"ring must be a cbring.Ring, got {type(ring).__name__}")
        super().__init__(ring, max_events=max_events, max_unclaimed=max_unclaimed)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._task: Optional[asyncio.Future[None]] = None
        self._closing_by_owner = False
        self._running = False

    def _new_future(self, forget: Callable[[int, Any], None], key: int) -> _Waiter:
        future = _Waiter(loop=self._loop or asyncio.get_running_loop())
        future._cbring_forget = (forget, key)
        return future

    def register(self, context: int) -> asyncio.Future[AsyncResult]:
        """A future for the next REQUEST_COMPLETE of context (registering it if
        new): its AsyncResult, or WinINetError when dwResult is FALSE.
        context is an int that fits a DWORD_PTR (TypeError, ValueError)."""
        future: asyncio.Future[AsyncResult] = self._register(context)
        return future

    def handle_closed(self, handle: int) -> asyncio.Future[None]:
        """A future that resolves when HANDLE_CLOSING for handle is routed.  Ask
        before closing the handle: a HANDLE_CLOSING nobody waits for is not kept."""
        future: asyncio.Future[None] = self._closed_future(handle)
        return future

    def unregister(self, context: int) -> None:
        """Forgets context and its unclaimed completions; its waiting futures are cancelled."""
        self._unregister(_dispatch._checked_context(context))

    async def run(self) -> None:
        """Routes the ring's batches until it is closed and drained, then fails
        every future still waiting with DispatcherClosed."""
        if self._running:
            raise RuntimeError("this Dispatcher's run() is already running")
        if self._closed is not None:
            raise DispatcherClosed(f"run() on a stopped dispatcher: {self._closed}")
        _dispatch._claim(self._ring, self)
        self._running = True
        self._loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = asyncio.current_task()
        why = "the ring was closed and drained"
        cause: Optional[BaseException] = None
        source = _batches(self._ring, self._max_events, None)
        try:
            async for batch in source:
                self.dispatch(batch)
                self._check_drops()
        except asyncio.CancelledError as e:
            why, cause = "the dispatcher's runner was cancelled", e
            raise
        except BaseException as e:
            why, cause = f"the dispatcher's runner failed ({type(e).__name__}: {e})", e
            raise
        finally:
            try:
                await source.aclose()
            finally:
                self._running = False
                if not self._closing_by_owner:  # else aclose() routes what is left, then shuts
                    self._shut(why, cause)
                    _dispatch._release(self._ring, self)

    async def aclose(self) -> None:
        """Routes what the ring holds, stops the runner, and fails every future
        still waiting with DispatcherClosed.  Re-raises the runner's exception
        if it failed.  Idempotent."""
        task = self._task
        self._closing_by_owner = True
        if task is not None:
            if not task.done():
                task.cancel()
            await asyncio.wait([task])
        if self._closed is None:
            try:
                # what is ready still reaches its futures
                self.dispatch(self._ring.drain())
                self._check_drops()
            finally:
                self._shut("the dispatcher was closed (aclose())", None)
                _dispatch._release(self._ring, self)
        if task is not None and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    async def __aenter__(self) -> Dispatcher:
        if self._task is not None:
            raise RuntimeError("a Dispatcher can be entered only once")
        _dispatch._claim(self._ring, self)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self.run(), name=f"cbring.aio.Dispatcher({self._ring!r})")
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.aclose()


class WinHttpRequest(_winhttp_routes.Request):
    """The asyncio futures of one WinHTTP request handle (WinHttpDispatcher.request()).

    Each method returns a new future for the handle's next event of its
    kind: ask first, then start the call.  A REQUEST_ERROR naming the call
    fails its future with cbring.WinHttpError; HANDLE_CLOSING resolves
    closed() and fails the others with ConnectionAbortedError."""

    __slots__ = ()

    def send_complete(self) -> asyncio.Future[None]:
        """WinHttpSendRequest's SENDREQUEST_COMPLETE."""
        future: asyncio.Future[None] = self._ask(_winhttp_routes.SENDREQUEST_COMPLETE)
        return future

    def headers_available(self) -> asyncio.Future[None]:
        """WinHttpReceiveResponse's HEADERS_AVAILABLE."""
        future: asyncio.Future[None] = self._ask(_winhttp_routes.HEADERS_AVAILABLE)
        return future

    def data_available(self) -> asyncio.Future[int]:
        """WinHttpQueryDataAvailable's DATA_AVAILABLE: the bytes available (0 at the end)."""
        future: asyncio.Future[int] = self._ask(_winhttp_routes.DATA_AVAILABLE)
        return future

    def read_complete(self) -> asyncio.Future[int]:
        """WinHttpReadData's READ_COMPLETE: the bytes read (0 at the end)."""
        future: asyncio.Future[int] = self._ask(_winhttp_routes.READ_COMPLETE)
        return future

    def write_complete(self) -> asyncio.Future[int]:
        """WinHttpWriteData's WRITE_COMPLETE: the bytes written."""
        future: asyncio.Future[int] = self._ask(_winhttp_routes.WRITE_COMPLETE)
        return future

    def closed(self) -> asyncio.Future[None]:
        """HANDLE_CLOSING, the handle's last callback (WinHttpCloseHandle)."""
        future: asyncio.Future[None] = self._ask(_winhttp_routes.HANDLE_CLOSING)
        return future


class _WinHttpRunner(Dispatcher):
    """Dispatcher's runner (run(), aclose(), async with: the ring's claim, the
    batches, the shutdown) handing every batch to a WinHttpDispatcher.  It
    relies on run() and aclose() going through self.dispatch(),
    self._check_drops() and self._shut()."""

    def __init__(self, owner: WinHttpDispatcher, ring: Ring, max_events: Optional[int],
                 max_unclaimed: int) -> None:
        super().__init__(ring, max_events=max_events, max_unclaimed=max_unclaimed)
        self._owner = owner

    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        self._owner.dispatch(batch)

    def _check_drops(self) -> None:
        self._owner._check_drops()

    def _shut(self, why: str, cause: Optional[BaseException]) -> None:
        super()._shut(why, cause)
        self._owner._shut(why, cause)

    def __repr__(self) -> str:
        return repr(self._owner)


class WinHttpDispatcher(_winhttp_routes.Routes):
    """Routes a Ring's WinHTTP events to asyncio futures, by request handle.

        async with cbring.aio.WinHttpDispatcher(ring) as d:
            req = d.request(hrequest)
            sent = req.send_complete()     # ask first,
            WinHttpSendRequest(hrequest, ...)   # then start the call
            await sent                     # or raises cbring.WinHttpError

    The same guarantees as Dispatcher: ``async with`` keeps the runner task
    and aclose()s it; every future settles (DispatcherClosed, chained to the
    runner's exception, when the runner ends for any reason; EventsDropped
    when the ring drops records); a cancelled future leaves at once; the
    ring has one consumer; the loop runs other tasks after every batch.
    A completion nobody asked for is kept for its (handle, kind), at most
    max_unclaimed in all; past that the oldest is thrown away and counted in
    ``discarded``, as are a handle's kept completions at its HANDLE_CLOSING.
    request() and the futures' methods must be called on the loop's thread."""

    _request_class = WinHttpRequest

    def __init__(self, ring: Ring, *, max_events: Optional[int] = None,
                 max_unclaimed: int = _dispatch.DEFAULT_MAX_UNCLAIMED) -> None:
        self._runner = _WinHttpRunner(self, ring, max_events, max_unclaimed)
        super().__init__(ring, max_unclaimed=max_unclaimed)

    def _new_future(self, forget: Callable[[int, Any], None], key: int) -> _Waiter:
        return self._runner._new_future(forget, key)

    def request(self, hrequest: int, *,
                on_event: Optional[_winhttp_routes.ProgressHook] = None) -> WinHttpRequest:
        """The futures of request handle hrequest (the same object until its
        HANDLE_CLOSING).  on_event, if given, becomes its progress hook: it
        is called with each of the handle's events that no future waits for
        (see WinHttpRequest.on_event).  TypeError or ValueError when hrequest
        is not a non-NULL HINTERNET; DispatcherClosed once stopped."""
        return cast(WinHttpRequest, self._request(hrequest, on_event))

    async def run(self) -> None:
        """Routes the ring's batches until it is closed and drained, then fails
        every future still waiting with DispatcherClosed (see Dispatcher.run())."""
        await self._runner.run()

    async def aclose(self) -> None:
        """Routes what the ring holds, stops the runner, and fails every future
        still waiting with DispatcherClosed.  Re-raises the runner's exception
        if it failed.  Idempotent."""
        await self._runner.aclose()

    async def __aenter__(self) -> WinHttpDispatcher:
        await self._runner.__aenter__()
        return self

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        await self.aclose()
