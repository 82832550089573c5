"""asyncio integration and the Dispatchers: every event arrives, futures
resolve with the right result or error, unknown contexts are counted."""

import asyncio
import concurrent.futures

import pytest

import cbring
from cbring import _testing, aio
from cbring.dispatch import Dispatcher as ThreadDispatcher

EVENTS = _testing.EVENTS_PER_REQUEST


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture(params=["add_reader", "worker_thread"])
def loop_flavour(request, monkeypatch):
    """Both ways batches() waits: the ring's descriptor, or a worker thread (Windows' proactor)."""
    if request.param == "worker_thread":
        monkeypatch.setattr(aio, "_has_reader", lambda loop: False)
    return request.param


def test_async_for_yields_every_event_and_ends_when_the_ring_closes(loop_flavour):
    async def main():
        ring = cbring.Ring(1 << 12)
        producers = _testing.Producers(ring.status_callback, threads=2, events=60_000).start()
        seen = 0
        async for batch in ring.batches():
            assert len(batch) > 0
            seen += len(batch)
            if seen == 120_000:
                producers.join()
                ring.close()
        return ring, seen

    ring, seen = run(main())
    assert seen == 120_000 == ring.stats.pushed == ring.stats.drained


def test_async_for_on_a_closed_empty_ring_ends_at_once(loop_flavour):
    async def main():
        ring = cbring.Ring(16)
        ring.close()
        return [b async for b in ring.batches()]

    assert run(main()) == []


def test_asyncio_dispatcher_resolves_completions_and_raises_wininet_errors(loop_flavour):
    requests = 64

    async def main():
        ring = cbring.Ring(1 << 12)
        dispatcher = aio.Dispatcher(ring)
        task = asyncio.create_task(dispatcher.run())
        futures = {r: dispatcher.register(_testing.context(0, r)) for r in range(requests)}
        producers = _testing.Producers(ring.status_callback, threads=2, events=EVENTS * requests).start()
        outcomes = {}
        for r, future in futures.items():
            try:
                outcomes[r] = await future
            except cbring.WinINetError as e:
                outcomes[r] = e
        producers.join()
        ring.close()
        await task
        return dispatcher, outcomes

    dispatcher, outcomes = run(main())
    for r, outcome in outcomes.items():
        if r % 16 == 15:
            assert isinstance(outcome, cbring.WinINetError)
            assert outcome.dwError == _testing.ERROR_INTERNET_TIMEOUT == outcome.winerror
            assert outcome.name == "ERROR_INTERNET_TIMEOUT"
            assert outcome.context == _testing.context(0, r)
        else:
            assert outcome == cbring.AsyncResult(1, 0)
    # thread 1's events were never registered: counted, not lost
    assert dispatcher.unknown == EVENTS * requests
    assert dispatcher.dispatched == EVENTS * requests
    assert dispatcher.pending == 0  # HANDLE_CLOSING ended every registration


def test_handle_closing_before_completion_fails_the_waiting_future():
    async def main():
        ring = cbring.Ring(16)
        dispatcher = aio.Dispatcher(ring)
        task = asyncio.create_task(dispatcher.run())
        future = dispatcher.register(7)
        _testing.call_status(ring.status_callback, 1, 7, cbring.InternetStatus.HANDLE_CLOSING,
                             (1).to_bytes(8, "little"))
        with pytest.raises(ConnectionAbortedError, match="context 7 closed"):
            await future
        ring.close()
        await task

    run(main())


def test_a_completion_that_arrives_before_register_is_kept_for_it():
    ring = cbring.Ring(16)
    dispatcher = ThreadDispatcher(ring)
    dispatcher.register(5).cancel()
    _testing.call_status(ring.status_callback, 1, 5, cbring.InternetStatus.REQUEST_COMPLETE,
                         bytes(cbring.AsyncResult(1, 0)))
    _testing.call_status(ring.status_callback, 1, 5, cbring.InternetStatus.REQUEST_COMPLETE,
                         bytes(cbring.AsyncResult(9, 0)))
    dispatcher.dispatch(ring.drain())
    assert dispatcher.register(5).result(timeout=0) == cbring.AsyncResult(9, 0)


def test_thread_dispatcher_routes_events_from_native_threads():
    requests = 200
    ring = cbring.Ring(1 << 10)
    with ThreadDispatcher(ring) as dispatcher:
        futures = [dispatcher.register(_testing.context(1, r)) for r in range(requests)]
        with _testing.Producers(ring.status_callback, threads=2, events=EVENTS * requests):
            pass
        done, not_done = concurrent.futures.wait(futures, timeout=30)
        assert not not_done
        ring.close()
    failures = [f for f in futures if f.exception() is not None]
    assert len(failures) == requests // 16
    assert all(isinstance(f.exception(), cbring.WinINetError) for f in failures)
    assert dispatcher.unknown == EVENTS * requests


def test_register_rejects_a_context_that_is_not_a_dword_ptr():
    dispatcher = ThreadDispatcher(cbring.Ring(16))
    with pytest.raises(ValueError, match="context must be a non-negative int, got -1"):
        dispatcher.register(-1)


def test_error_names_come_from_wininet_h():
    assert cbring.error_name(12029) == "ERROR_INTERNET_CANNOT_CONNECT"
    assert cbring.error_name(4) == "error 4"
    e = cbring.WinINetError(12007, 3)
    assert isinstance(e, OSError) and "ERROR_INTERNET_NAME_NOT_RESOLVED" in str(e)
