"""asyncio integration: ``async for batch in ring.batches()`` and a Dispatcher
whose futures are asyncio futures.

The event loop never blocks.  Where the loop has add_reader (the selector
loops: Linux, macOS, and Windows' SelectorEventLoop) the ring's fileno() is
watched directly; on loops without it (Windows' default ProactorEventLoop)
a worker thread waits on the ring and wakes the loop."""

import asyncio

from cbring import dispatch as _dispatch


def _has_reader(loop):
    try:
        loop.add_reader
    except AttributeError:
        return False
    return not isinstance(loop, getattr(asyncio, "ProactorEventLoop", ()))


async def batches(ring, max_events=None):
    """Yields non-empty batches from ring as records arrive, until the ring is
    closed and drained.  Prefer ``ring.batches()``."""
    loop = asyncio.get_running_loop()
    if _has_reader(loop):
        ready = asyncio.Event()
        fd = ring.fileno()
        loop.add_reader(fd, ready.set)

        async def arrival():
            ready.clear()
            await ready.wait()

        def stop():
            loop.remove_reader(fd)
    else:
        async def arrival():
            await loop.run_in_executor(None, ring.wait, 0.25)

        def stop():
            pass
    try:
        while True:
            batch = ring.drain(max_events)
            if len(batch):
                yield batch
            elif ring.closed:
                return
            else:
                await arrival()
    finally:
        stop()


class Dispatcher(_dispatch._Routes):
    """Routes a Ring's events to asyncio futures.

        dispatcher = Dispatcher(ring)
        task = asyncio.create_task(dispatcher.run())
        done = dispatcher.register(context)
        ... start the request ...
        result = await done      # AsyncResult, or raises WinINetError

    run() consumes ring.batches() until the ring is closed and drained.
    register() must be called from the event loop's thread."""

    def __init__(self, ring, *, max_events=None):
        super().__init__(lambda: asyncio.get_running_loop().create_future())
        self._ring = ring
        self._max_events = max_events

    async def run(self):
        async for batch in batches(self._ring, self._max_events):
            self.dispatch(batch)
