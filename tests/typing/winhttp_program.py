"""A user program of the WinHTTP dispatchers (cbring.aio.WinHttpDispatcher,
cbring.dispatch.WinHttpDispatcher), type-checked with mypy --strict by
tests/test_typing.py (and run by it, too): the records are made by the
ring's WinHTTP callback, called from C as WinHTTP would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import struct
from typing import Callable

import cbring
import cbring.aio
import cbring.dispatch
from cbring import _testing

S = cbring.WinHttpStatus


def emit(ring: cbring.Ring, handle: int, status: int, info: bytes | None = None,
         length: int | None = None) -> None:
    _testing.call_status(ring.winhttp_callback, handle, 0, status, info, length)


def progress_of(log: list[str]) -> Callable[[cbring.StatusEvent], None]:
    def hook(event: cbring.StatusEvent) -> None:
        log.append(str(event.status))
    return hook


async def fetch(d: cbring.aio.WinHttpDispatcher, ring: cbring.Ring, handle: int) -> int:
    log: list[str] = []
    req: cbring.aio.WinHttpRequest = d.request(handle, on_event=progress_of(log))
    sent: asyncio.Future[None] = req.send_complete()
    emit(ring, handle, S.SENDING_REQUEST)
    emit(ring, handle, S.SENDREQUEST_COMPLETE)
    await sent
    headers = req.headers_available()
    emit(ring, handle, S.HEADERS_AVAILABLE)
    await headers
    available: asyncio.Future[int] = req.data_available()
    emit(ring, handle, S.DATA_AVAILABLE, struct.pack("=I", 5))
    n: int = await available
    done: asyncio.Future[int] = req.read_complete()
    emit(ring, handle, S.READ_COMPLETE, bytes(n), n)
    got = await done
    written: asyncio.Future[int] = req.write_complete()
    emit(ring, handle, S.REQUEST_ERROR, bytes(cbring.AsyncResult(cbring.WinHttpApi.API_WRITE_DATA, 12002)))
    try:
        await written
    except cbring.WinHttpError as e:
        got += 0 if e.errno == 12002 else 1000
    except (cbring.DispatcherClosed, cbring.EventsDropped, ConnectionAbortedError):
        return -1
    closed: asyncio.Future[None] = req.closed()
    emit(ring, handle, S.HANDLE_CLOSING, struct.pack("P", handle))
    await closed
    assert log == [str(S.SENDING_REQUEST)], log
    return got


async def main() -> list[int]:
    ring = cbring.Ring(1 << 10)
    async with cbring.aio.WinHttpDispatcher(ring, max_events=512) as d:
        results = await asyncio.gather(*(fetch(d, ring, 8 * (h + 1)) for h in range(10)))
        pending: int = d.pending
        assert pending == 0 and d.dispatched + d.unknown + d.discarded >= 70
    await d.aclose()
    ring.close()
    return list(results)


def threaded() -> int:
    ring = cbring.Ring(64)
    with cbring.dispatch.WinHttpDispatcher(ring) as d:
        req: cbring.dispatch.WinHttpRequest = d.request(0x10)
        future: concurrent.futures.Future[int] = req.read_complete()
        emit(ring, 0x10, S.READ_COMPLETE, bytes(7), 7)
        result = future.result(timeout=10)
        ring.close()
    return result


if __name__ == "__main__":
    assert asyncio.run(main()) == [5] * 10
    assert threaded() == 7
    print("ok")
