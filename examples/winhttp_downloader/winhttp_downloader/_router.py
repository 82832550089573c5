"""Routing WinHTTP events, however they arrive, to per-request futures.

The same shape as cbring.aio.WinHttpDispatcher's requests (send_complete(),
headers_available(), data_available(), read_complete(), closed()), so that
fetch() runs unchanged over either.  The baseline feeds it one event at a
time from a ctypes callback; bench.py also feeds it cbring's drained
batches, so that the two differ only in how events reach the loop."""

import asyncio
import collections

import cbring
import cbring.aio

S = cbring.WinHttpStatus
_COMPLETIONS = (S.SENDREQUEST_COMPLETE, S.HEADERS_AVAILABLE, S.DATA_AVAILABLE, S.READ_COMPLETE,
                S.WRITE_COMPLETE)
_COMPLETION_OF_API = {
    cbring.WinHttpApi.API_SEND_REQUEST: S.SENDREQUEST_COMPLETE,
    cbring.WinHttpApi.API_RECEIVE_RESPONSE: S.HEADERS_AVAILABLE,
    cbring.WinHttpApi.API_QUERY_DATA_AVAILABLE: S.DATA_AVAILABLE,
    cbring.WinHttpApi.API_READ_DATA: S.READ_COMPLETE,
    cbring.WinHttpApi.API_WRITE_DATA: S.WRITE_COMPLETE,
}


class _Request:
    __slots__ = ("_router", "handle", "on_event")

    def __init__(self, router, handle):
        self._router, self.handle, self.on_event = router, handle, None

    def send_complete(self):
        return self._router._ask(self.handle, S.SENDREQUEST_COMPLETE)

    def headers_available(self):
        return self._router._ask(self.handle, S.HEADERS_AVAILABLE)

    def data_available(self):
        return self._router._ask(self.handle, S.DATA_AVAILABLE)

    def read_complete(self):
        return self._router._ask(self.handle, S.READ_COMPLETE)

    def closed(self):
        return self._router._ask(self.handle, S.HANDLE_CLOSING)


class EventRouter:
    """Futures by (handle, status), on the loop's thread.  A completion that
    comes before it is asked for is kept for its asker; REQUEST_ERROR fails
    the future of the API it names with cbring.WinHttpError; HANDLE_CLOSING
    resolves closed() and fails what else waits on the handle."""

    def __init__(self):
        self._loop = asyncio.get_running_loop()
        self._requests = {}
        self._waiting = collections.defaultdict(collections.deque)
        self._early = collections.defaultdict(collections.deque)
        self.events = 0

    def request(self, handle, *, on_event=None):
        request = self._requests.get(handle)
        if request is None:
            request = self._requests[handle] = _Request(self, handle)
        if on_event is not None:
            request.on_event = on_event
        return request

    def _ask(self, handle, kind):
        future = self._loop.create_future()
        early = self._early.get((handle, kind))
        if early:
            self._settle(future, handle, early.popleft())
        else:
            self._waiting[(handle, kind)].append(future)
        return future

    def dispatch(self, events):
        for ev in events:
            self.events += 1
            status, handle = ev.status_code, ev.handle
            if status == S.HANDLE_CLOSING and ev.info:
                handle = ev.info
            if status in _COMPLETIONS:
                self._complete(handle, status, ev)
            elif status == S.REQUEST_ERROR and ev.result in _COMPLETION_OF_API:
                self._complete(handle, _COMPLETION_OF_API[ev.result], ev)
            elif status == S.HANDLE_CLOSING:
                self._requests.pop(handle, None)
                for kind in _COMPLETIONS:
                    self._early.pop((handle, kind), None)
                    for future in self._waiting.pop((handle, kind), ()):
                        if not future.done():
                            future.set_exception(ConnectionAbortedError(
                                f"WinHTTP handle {handle:#x} closed before {kind.name}"))
                for future in self._waiting.pop((handle, S.HANDLE_CLOSING), ()):
                    if not future.done():
                        future.set_result(None)
            else:
                request = self._requests.get(handle)
                if request is not None and request.on_event is not None:
                    request.on_event(ev)

    def _complete(self, handle, kind, ev):
        waiting = self._waiting.get((handle, kind))
        while waiting:
            future = waiting.popleft()
            if not future.done():
                self._settle(future, handle, ev)
                return
        self._early[(handle, kind)].append(ev)

    @staticmethod
    def _settle(future, handle, ev):
        if ev.status_code == S.REQUEST_ERROR:
            future.set_exception(cbring.WinHttpError(ev.error, ev.result, handle))
        elif ev.status_code == S.READ_COMPLETE:
            future.set_result(ev.length)
        elif ev.status_code in (S.DATA_AVAILABLE, S.WRITE_COMPLETE):
            future.set_result(ev.info)
        else:
            future.set_result(None)

    def close(self, why):
        for waiting in self._waiting.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(ConnectionAbortedError(why))
        self._waiting.clear()


class RingRouter:
    """EventRouter fed from a cbring ring's drained batches: usable as
    download_all(dispatcher=RingRouter), the same routing as the ctypes
    baseline's with cbring's delivery.  ``log``, if a list, gets every event."""

    def __init__(self, ring, log=None):
        self._ring, self._log = ring, log
        self._task = self.router = None

    async def _pump(self):
        async for batch in cbring.aio.batches(self._ring):
            if self._log is not None:
                self._log.extend(batch)
            self.router.dispatch(batch)

    async def __aenter__(self):
        self.router = EventRouter()
        self._task = asyncio.get_running_loop().create_task(self._pump())
        return self.router

    async def __aexit__(self, *exc_info):
        self._ring.close()  # the pump routes what the ring holds, then ends
        await self._task
        self.router.close("the ring is closed")
