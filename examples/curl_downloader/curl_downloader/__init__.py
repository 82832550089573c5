"""A downloader on cbring: libcurl runs on a native thread that never takes
the GIL and reports each transfer into a cbring.Ring in WinINet's shapes;
Python awaits results through cbring.aio.Dispatcher.

    ring = cbring.Ring()
    async with Downloader(ring) as downloader:
        transfer = await downloader.get("http://127.0.0.1:8000/a.bin", "a.bin", context=7)
        transfer.received          # bytes written, from the RESPONSE_RECEIVED events

A failed download raises cbring.WinINetError: dwError is a WinINet code
mapped from libcurl's error (ERROR_INTERNET_CANNOT_CONNECT, ...), or the
HTTP status itself (404, 503, ...) when the server answered with one that
is not 2xx.  See README.md for the whole table.
"""

import asyncio
import itertools
import os
from typing import NamedTuple

import cbring
import cbring.aio

from curl_downloader._native import Engine, curl_strerror, wininet_error

__all__ = ["Downloader", "Transfer", "Engine", "wininet_error", "curl_strerror"]

_RECEIVED = cbring.InternetStatus.RESPONSE_RECEIVED
_CLOSING = cbring.InternetStatus.HANDLE_CLOSING


class Transfer(NamedTuple):
    """A finished download."""
    context: int                 # dwContext of its events
    handle: int                  # the handle id of its events (HANDLE_CREATED's dwResult)
    received: int                # bytes written to the file: the sum of its RESPONSE_RECEIVED
    result: cbring.AsyncResult   # REQUEST_COMPLETE's INTERNET_ASYNC_RESULT (dwResult TRUE)


class _Live:
    """A context between get() and its HANDLE_CLOSING."""
    __slots__ = ("handle", "received", "done", "closed", "is_closed")

    def __init__(self):
        self.handle = None
        self.received = 0
        self.done = None        # the Dispatcher's future for REQUEST_COMPLETE
        self.closed = None      # a future resolved at HANDLE_CLOSING, made only if awaited
        self.is_closed = False

    async def wait_closed(self):
        """Returns once HANDLE_CLOSING has been routed (usually in the same batch
        as REQUEST_COMPLETE, and then without suspending)."""
        if not self.is_closed:
            if self.closed is None:
                self.closed = asyncio.get_running_loop().create_future()
            await self.closed


class _Dispatcher(cbring.aio.Dispatcher):
    """cbring.aio.Dispatcher, plus what get() needs and the Dispatcher does
    not route: bytes per context and the end of each handle."""

    def __init__(self, ring, after):
        super().__init__(ring)
        self._after = after

    def dispatch(self, batch):
        super().dispatch(batch)
        self._after(batch)


class Downloader:
    """Downloads URLs into files, concurrently, with libcurl on a native thread.

    ring must have overflow="spill" (a dropped REQUEST_COMPLETE would leave
    its get() waiting); the Downloader is its only consumer.  Use it as
    ``async with Downloader(ring) as downloader:``, or call start() and
    aclose() yourself.

    connections: libcurl's limit on open connections.  max_transfers: how
    many transfers are submitted at once (default 2 * connections); further
    get() calls wait their turn, so any number of them hold at most that
    many open files.  timeout: seconds a whole transfer may take (None: no
    limit), connect_timeout: seconds to connect.  progress_step: bytes per
    RESPONSE_RECEIVED event, at least (1: one per chunk libcurl hands over;
    every event wakes the event loop, so small steps cost CPU).  on_batch:
    called with every batch of events after they are routed (progress,
    logging, tests).
    """

    def __init__(self, ring, *, connections=16, max_transfers=None, timeout=None,
                 connect_timeout=10.0, buffer_size=65536, progress_step=1 << 20, on_batch=None):
        if not isinstance(ring, cbring.Ring):
            raise TypeError(f"ring must be a cbring.Ring, got {type(ring).__name__}")
        if ring.overflow != "spill":
            raise ValueError(f"ring must have overflow='spill' so that no completion is lost, "
                             f"got {ring.overflow!r}")
        if max_transfers is None:
            max_transfers = 2 * connections
        if not (isinstance(max_transfers, int) and max_transfers >= 1):
            raise ValueError(f"max_transfers must be a positive int, got {max_transfers!r}")
        self.ring = ring
        self.engine = Engine(ring, connections=connections, timeout=timeout or 0.0,
                             connect_timeout=connect_timeout, buffer_size=buffer_size,
                             progress_step=progress_step)
        self.dispatcher = _Dispatcher(ring, self._after_dispatch)
        self._on_batch = on_batch
        self._max_transfers = max_transfers
        self._slots = None
        self._task = None
        self._closing = False
        self._live = {}                       # context -> _Live
        self._wake_scheduled = False
        self._contexts = itertools.count(1)

    async def start(self):
        """Starts routing the ring's events; get() works from then on."""
        if self._task is not None:
            raise RuntimeError("start() was already called")
        self._slots = asyncio.Semaphore(self._max_transfers)
        self._task = asyncio.get_running_loop().create_task(self.dispatcher.run())
        self._task.add_done_callback(self._dispatcher_ended)
        return self

    async def get(self, url, path, context=None):
        """Downloads url into the file at path (created or truncated) and
        returns a Transfer once the file is complete and its handle closed.

        context is the dwContext of the transfer's events: any int that fits
        a DWORD_PTR and is not in use by another transfer (ValueError), or
        None for a fresh one.  Failure raises cbring.WinINetError (and leaves
        no file at path); cancelling the call cancels the transfer."""
        if self._task is None:
            raise RuntimeError("call start(), or use 'async with Downloader(ring)', before get()")
        if self._closing:
            raise RuntimeError("get() on a closed Downloader")
        if context is None:
            context = next(self._contexts)
            while context in self._live:      # at most len(self._live) steps
                context = next(self._contexts)
        elif not isinstance(context, int) or context < 0:
            raise ValueError(f"context must be a non-negative int, got {context!r}")
        elif context in self._live:
            raise ValueError(f"context {context} is in use by a transfer whose handle has not closed")
        live = self._live[context] = _Live()
        submitted = False
        try:
            async with self._slots:
                if self._closing:
                    raise RuntimeError("the Downloader was closed while this get() waited its turn")
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
                try:
                    live.done = self.dispatcher.register(context)
                    # the engine owns fd from here on; one wake-up per loop iteration
                    live.handle = self.engine.submit(url, fd, context, wake=False)
                    submitted = True
                    if not self._wake_scheduled:
                        self._wake_scheduled = True
                        asyncio.get_running_loop().call_soon(self._wake)
                except BaseException:
                    os.close(fd)
                    self.dispatcher.unregister(context)
                    _remove(path)
                    raise
                try:
                    result = await live.done
                except asyncio.CancelledError:
                    self.engine.close_handle(live.handle)   # completes as cancelled; closes later
                    _remove(path)
                    raise
                except BaseException:
                    _remove(path)
                    await live.wait_closed()   # so that the context is free when we raise
                    raise
                await live.wait_closed()
                return Transfer(context, live.handle, live.received, result)
        finally:
            if not submitted:
                self._live.pop(context, None)

    def _wake(self):
        # after every get() that this iteration of the loop resumed has submitted
        self._wake_scheduled = False
        self.engine.wake()

    def _after_dispatch(self, batch):
        live = self._live
        for event in batch:
            entry = live.get(event.context)
            if entry is None:
                continue
            status = event.status
            if status == _RECEIVED:
                entry.received += event.info
            elif status == _CLOSING:
                del live[event.context]
                entry.is_closed = True
                if entry.closed is not None and not entry.closed.done():
                    entry.closed.set_result(None)
        if self._on_batch is not None:
            self._on_batch(batch)

    def _dispatcher_ended(self, task):
        """The ring was closed under us, or routing failed: fail every waiter
        rather than leave it waiting forever."""
        if self._closing:
            return
        error = None if task.cancelled() else task.exception()
        if error is None:
            reason = RuntimeError("the Downloader's ring was closed while transfers were running")
        else:
            reason = RuntimeError(f"the Downloader's event routing failed: {error!r}")
        self._fail_live(reason)

    def _fail_live(self, reason):
        for context, entry in list(self._live.items()):
            entry.is_closed = True             # no HANDLE_CLOSING will come: nobody waits for it
            for future in (entry.done, entry.closed):
                if future is not None and not future.done():
                    future.set_exception(reason)
            del self._live[context]

    async def aclose(self):
        """Cancels the transfers still running (their get() raises
        WinINetError ERROR_INTERNET_OPERATION_CANCELLED), stops the engine
        thread and routes its last events.  Idempotent; the ring stays open."""
        if self._closing:
            return
        self._closing = True
        # joins the engine thread: every event is in the ring afterwards
        await asyncio.get_running_loop().run_in_executor(None, self.engine.close)
        # routes the engine's last events, then fails what still waits
        try:
            await self.dispatcher.aclose()
        except Exception:
            pass   # the runner's failure already went to _dispatcher_ended
        self._fail_live(RuntimeError("the Downloader was closed"))

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.aclose()
        return False


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
