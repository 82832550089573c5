"""Routing drained status events to the requests that wait for them.

A request registers its dwContext and gets a future for its next
REQUEST_COMPLETE; the future resolves with the INTERNET_ASYNC_RESULT, or
fails with WinINetError when dwResult is FALSE.  HANDLE_CLOSING ends the
registration (a future still waiting then fails with ConnectionAbortedError).
Events for contexts nobody registered are counted, never silently lost.

This module holds the routing and a plain-thread Dispatcher;
cbring.aio.Dispatcher is the asyncio flavour of the same routing.
"""

import concurrent.futures
import threading

from cbring._core import AsyncResult, InternetStatus
from cbring._errors import WinINetError

_COMPLETE = InternetStatus.REQUEST_COMPLETE
_CLOSING = InternetStatus.HANDLE_CLOSING


class _Routes:
    """The routing state, shared by the thread and asyncio dispatchers."""

    def __init__(self, new_future):
        self._new_future = new_future
        self._waiting = {}    # context -> futures for its next completions, oldest first
        self._early = {}      # context -> completions that arrived before a future asked
        self._registered = set()
        self.unknown = 0      # events whose context nobody registered
        self.dispatched = 0   # events routed to a registered context

    def register(self, context):
        """A future for the next REQUEST_COMPLETE of context (registering it if new)."""
        if not isinstance(context, int) or context < 0:
            raise ValueError(f"context must be a non-negative int, got {context!r}")
        self._registered.add(context)
        future = self._new_future()
        early = self._early.get(context)
        if early:
            self._settle(future, context, early.pop(0))
            if not early:
                del self._early[context]
        else:
            self._waiting.setdefault(context, []).append(future)
        return future

    def unregister(self, context):
        """Forgets context; its waiting futures are cancelled."""
        self._registered.discard(context)
        self._early.pop(context, None)
        for future in self._waiting.pop(context, ()):
            future.cancel()

    def dispatch(self, batch):
        """Routes every event of a batch (any iterable of StatusEvent)."""
        for event in batch:
            context = event.context
            if context not in self._registered:
                self.unknown += 1
                continue
            self.dispatched += 1
            status = event.status
            if status == _COMPLETE:
                waiting = self._waiting.get(context)
                if waiting:
                    self._settle(waiting.pop(0), context, event)
                    if not waiting:
                        del self._waiting[context]
                else:
                    self._early.setdefault(context, []).append(event)
            elif status == _CLOSING:
                self._registered.discard(context)
                self._early.pop(context, None)
                for future in self._waiting.pop(context, ()):
                    if not future.done():
                        future.set_exception(ConnectionAbortedError(
                            f"handle of context {context} closed before REQUEST_COMPLETE"))

    @staticmethod
    def _settle(future, context, event):
        if future.done():
            return
        if event.result is None:
            future.set_exception(ValueError(
                f"REQUEST_COMPLETE for context {context} carried no readable INTERNET_ASYNC_RESULT"
                f" (flags {event.flags})"))
        elif event.result:
            future.set_result(AsyncResult(event.result, event.error))
        else:
            future.set_exception(WinINetError(event.error, context))

    @property
    def pending(self):
        """Contexts registered and not yet closed."""
        return len(self._registered)


class Dispatcher(_Routes):
    """Routes a Ring's events to concurrent.futures.Future objects from a background thread.

        with Dispatcher(ring) as dispatcher:
            done = dispatcher.register(context)
            ... start the request with that context ...
            result = done.result(timeout=10)      # AsyncResult, or raises WinINetError

    register() and unregister() may be called from any thread."""

    def __init__(self, ring, *, max_events=None):
        super().__init__(concurrent.futures.Future)
        self._ring = ring
        self._max_events = max_events
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def register(self, context):
        with self._lock:
            return super().register(context)

    def unregister(self, context):
        with self._lock:
            super().unregister(context)

    def dispatch(self, batch):
        with self._lock:
            super().dispatch(batch)

    def start(self):
        """Starts the thread that waits on the ring and dispatches its batches."""
        if self._thread is not None:
            raise RuntimeError("a Dispatcher can be started only once")
        self._thread = threading.Thread(target=self._run, name="cbring-dispatcher", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            if self._ring.wait(0.1):
                self.dispatch(self._ring.drain(self._max_events))
            elif self._ring.closed:
                break
        self.dispatch(self._ring.drain())

    def stop(self):
        """Dispatches what is left and stops the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
