"""A user program of the README's asyncio and dispatch API, type-checked
with mypy --strict by tests/test_typing.py (and run by it, too)."""

from __future__ import annotations

import asyncio
import concurrent.futures

import cbring
import cbring.aio
import cbring.dispatch
from cbring import _testing


async def fetch(dispatcher: cbring.aio.Dispatcher, ring: cbring.Ring, context: int) -> int:
    done: asyncio.Future[cbring.AsyncResult] = dispatcher.register(context)
    closed: asyncio.Future[None] = dispatcher.handle_closed(context + 1)
    _testing.call_status(ring.status_callback, context + 1, context,
                         cbring.InternetStatus.REQUEST_COMPLETE, bytes(cbring.AsyncResult(1, 0)))
    _testing.call_status(ring.status_callback, context + 1, context,
                         cbring.InternetStatus.HANDLE_CLOSING, (context + 1).to_bytes(8, "little"))
    try:
        result: cbring.AsyncResult = await asyncio.wait_for(done, 10)
    except cbring.WinINetError as e:
        return -e.winerror
    except (cbring.DispatcherClosed, cbring.EventsDropped):
        return -1
    await closed
    return result.dwResult


async def main() -> list[int]:
    ring = cbring.Ring(1 << 10)
    async with cbring.aio.Dispatcher(ring, max_events=512) as dispatcher:
        results = await asyncio.gather(*(fetch(dispatcher, ring, 2 * c) for c in range(10)))
        pending: int = dispatcher.pending
        assert pending == 0 and dispatcher.unknown + dispatcher.dispatched >= 20
    _testing.call_status(ring.status_callback, 1, 99, cbring.InternetStatus.REQUEST_SENT, None)
    ring.close()
    contexts = [event.context async for batch in ring.batches(64) for event in batch]
    assert contexts == [99], contexts
    return list(results)


def threaded() -> cbring.AsyncResult:
    ring = cbring.Ring(64)
    with cbring.dispatch.Dispatcher(ring) as dispatcher:
        future: concurrent.futures.Future[cbring.AsyncResult] = dispatcher.register(7)
        _testing.call_status(ring.status_callback, 1, 7, cbring.InternetStatus.REQUEST_COMPLETE,
                             bytes(cbring.AsyncResult(3, 0)))
        result = future.result(timeout=10)
        ring.close()
    return result


if __name__ == "__main__":
    assert asyncio.run(main()) == [1] * 10
    assert threaded() == cbring.AsyncResult(3, 0)
    print("ok")
