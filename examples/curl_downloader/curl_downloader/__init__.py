"""A downloader on cbring: libcurl runs on a native thread that never takes
the GIL and reports each transfer into a cbring.Ring in WinINet's shapes;
the Downloader drains the ring and a compiled Router settles a future per
download (get()) or one per set (get_all()), a drained batch at a time.

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
from typing import NamedTuple

import cbring

from curl_downloader._native import Engine, Router, curl_strerror, wininet_error

__all__ = ["Downloader", "Transfer", "Engine", "wininet_error", "curl_strerror"]


class Transfer(NamedTuple):
    """A finished download."""
    context: int                 # dwContext of its events
    handle: int                  # the handle id of its events (HANDLE_CREATED's dwResult)
    received: int                # bytes written to the file: the sum of its RESPONSE_RECEIVED
    result: cbring.AsyncResult   # REQUEST_COMPLETE's INTERNET_ASYNC_RESULT (dwResult TRUE)


class Downloader:
    """Downloads URLs into files, concurrently, with libcurl on a native thread.

    ring must have overflow="spill" (a dropped REQUEST_COMPLETE would leave
    its get() waiting); the Downloader is its only consumer.  Use it as
    ``async with Downloader(ring) as downloader:``, or call start() and
    aclose() yourself.

    connections: libcurl's limit on open connections.  max_transfers: how
    many transfers run at once (default 2 * connections); the engine keeps
    the others waiting, in order, with no file open, so any number of get()
    calls hold at most that many open files.  timeout: seconds a whole
    transfer may take (None: no limit), connect_timeout: seconds to connect.
    progress_step: bytes per RESPONSE_RECEIVED event, at least (1: one per
    chunk libcurl hands over; small steps cost events).  on_batch: called
    with every batch of events after they are routed (progress, logging,
    tests).
    """

    def __init__(self, ring, *, connections=16, max_transfers=None, timeout=None,
                 connect_timeout=10.0, buffer_size=65536, progress_step=1 << 20, on_batch=None):
        if not isinstance(ring, cbring.Ring):
            raise TypeError(f"ring must be a cbring.Ring, got {type(ring).__name__}")
        if ring.overflow != "spill":
            raise ValueError(f"ring must have overflow='spill' so that no completion is lost, "
                             f"got {ring.overflow!r}")
        self.ring = ring
        self.engine = Engine(ring, connections=connections, max_transfers=max_transfers,
                             timeout=timeout or 0.0, connect_timeout=connect_timeout,
                             buffer_size=buffer_size, progress_step=progress_step)
        self._router = Router(Transfer, cbring.WinINetError, cbring.AsyncResult)
        self._on_batch = on_batch
        self._task = None
        self._closing = False
        self._wake_scheduled = False
        self._contexts = itertools.count(1)

    @property
    def unknown(self):
        """Events routed that belong to no transfer of this Downloader."""
        return self._router.unknown

    async def start(self):
        """Starts routing the ring's events; get() works from then on."""
        if self._task is not None:
            raise RuntimeError("start() was already called")
        batches = self.ring.batches()        # claims the ring as it starts (one consumer per ring)
        self._task = asyncio.get_running_loop().create_task(self._route(batches))
        self._task.add_done_callback(self._routing_ended)
        return self

    async def _route(self, batches):
        route, on_batch = self._router.route, self._on_batch
        async for batch in batches:
            route(batch)
            if on_batch is not None:
                on_batch(batch)

    def _check_open(self):
        if self._task is None:
            raise RuntimeError("call start(), or use 'async with Downloader(ring)', before get()")
        if self._closing:
            raise RuntimeError("get() on a closed Downloader")

    def _fresh_context(self):
        context = next(self._contexts)
        while self._router.in_use(context):   # at most len(self._router) steps
            context = next(self._contexts)
        return context

    def get(self, url, path, context=None):
        """Starts downloading url into the file at path (created or
        truncated when the transfer starts) and returns an asyncio.Future
        of its Transfer, resolved once the file is complete and its handle
        closed.  The future itself, not a coroutine: gather() and
        ensure_future() use it as it is, with no task around it.

        context is the dwContext of the transfer's events: any int that fits
        a DWORD_PTR and is not in use by another transfer (ValueError), or
        None for a fresh one.  Failure raises cbring.WinINetError from the
        future (and leaves no file at path); cancelling the future cancels
        the transfer.  Call it from the event loop's thread."""
        self._check_open()
        router = self._router
        if context is None:
            context = self._fresh_context()
        elif isinstance(context, bool) or not isinstance(context, int) or context < 0:
            raise ValueError(f"context must be a non-negative int, got {context!r}")
        elif router.in_use(context):
            raise ValueError(f"context {context} is in use by a transfer whose handle has not closed")
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        engine = self.engine
        router.expect(engine.submit(url, path, context, wake=False), context, done, engine.close_handle)
        if not self._wake_scheduled:
            # one wake-up per loop iteration, after every get() it ran has submitted
            self._wake_scheduled = True
            loop.call_soon(self._wake)
        return done

    def get_all(self, jobs):
        """Starts downloading every (url, path) of jobs, as get() would,
        with fresh contexts, and returns an asyncio.Future of a list in the
        same order: the Transfer of each download, or the
        cbring.WinINetError it failed with (as asyncio.gather(...,
        return_exceptions=True) would give).  One future for the whole set:
        nothing per download runs on the event loop but the routing of its
        events.  Cancelling the future cancels the transfers still running."""
        self._check_open()
        contexts = []
        submitted = []
        for url, path in jobs:
            context = self._fresh_context()
            contexts.append(context)
            submitted.append((url, path, context))
        done = asyncio.get_running_loop().create_future()
        engine = self.engine
        self._router.expect_set(engine.submit_many(submitted), contexts, done, engine.close_handle)
        return done

    def _wake(self):
        self._wake_scheduled = False
        self.engine.wake()

    def _routing_ended(self, task):
        """The ring was closed under us, or routing failed: fail every waiter
        rather than leave it waiting forever."""
        if self._closing:
            return
        error = None if task.cancelled() else task.exception()
        if error is None:
            reason = RuntimeError("the Downloader's ring was closed while transfers were running")
        else:
            reason = RuntimeError(f"the Downloader's event routing failed: {error!r}")
            reason.__cause__ = error
        self._router.fail_all(reason)

    async def aclose(self):
        """Cancels the transfers still running (their get() raises
        WinINetError ERROR_INTERNET_OPERATION_CANCELLED), stops the engine
        thread and routes its last events.  Idempotent; the ring stays open."""
        if self._closing:
            return
        self._closing = True
        # joins the engine thread: every event is in the ring afterwards
        await asyncio.get_running_loop().run_in_executor(None, self.engine.close)
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
            failed = not task.cancelled() and task.exception() is not None
            # the router's last batches: what the engine pushed before it stopped
            while not failed:
                batch = self.ring.drain()
                if not len(batch):
                    break
                self._router.route(batch)
                if self._on_batch is not None:
                    self._on_batch(batch)
        self._router.fail_all(RuntimeError("the Downloader was closed"))

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.aclose()
        return False
