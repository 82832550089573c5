"""asyncio integration: every event arrives, futures resolve with the right
result or error, every future settles however the dispatcher stops, and the
event loop keeps running other tasks while producers saturate the ring.
Every loop runs in asyncio's debug mode."""

import asyncio

import pytest

import cbring
from cbring import _testing, aio
from cbring.dispatch import DEFAULT_MAX_EVENTS

EVENTS = _testing.EVENTS_PER_REQUEST
COMPLETE = cbring.InternetStatus.REQUEST_COMPLETE
CLOSING = cbring.InternetStatus.HANDLE_CLOSING


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60), debug=True)


def complete(ring, context, result=1, error=0, handle=1):
    _testing.call_status(ring.status_callback, handle, context, COMPLETE,
                         bytes(cbring.AsyncResult(result, error)))


def closing(ring, context, handle=1):
    _testing.call_status(ring.status_callback, handle, context, CLOSING, handle.to_bytes(8, "little"))


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
            assert 0 < len(batch) <= DEFAULT_MAX_EVENTS
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
        async with aio.Dispatcher(ring) as dispatcher:
            futures = {r: dispatcher.register(_testing.context(0, r)) for r in range(requests)}
            producers = _testing.Producers(ring.status_callback, threads=2,
                                           events=EVENTS * requests).start()
            outcomes = {}
            for r, future in futures.items():
                try:
                    outcomes[r] = await future
                except cbring.WinINetError as e:
                    outcomes[r] = e
            producers.join()
            ring.close()
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
    assert dispatcher.pending == 0
    # thread 1's completions were kept for a register() until their HANDLE_CLOSING
    assert dispatcher.unclaimed == 0 and dispatcher.discarded == requests


def test_closing_the_ring_fails_every_waiting_future_with_dispatcher_closed(loop_flavour):
    async def main():
        ring = cbring.Ring(64)
        dispatcher = aio.Dispatcher(ring)
        task = asyncio.create_task(dispatcher.run())
        futures = [dispatcher.register(c) for c in range(100)]
        complete(ring, 0)
        assert await futures[0] == cbring.AsyncResult(1, 0)
        ring.close()
        await task
        return dispatcher, futures

    dispatcher, futures = run(main())
    assert all(f.done() for f in futures)
    errors = [f.exception() for f in futures[1:]]
    assert all(isinstance(e, cbring.DispatcherClosed) for e in errors)
    assert "ring was closed and drained" in str(errors[0]) and "context 1" in str(errors[0])
    assert dispatcher.pending == 0 and dispatcher.closed
    with pytest.raises(cbring.DispatcherClosed, match=r"register\(5\) on a stopped dispatcher"):
        dispatcher.register(5)


def test_a_cancelled_runner_fails_every_waiting_future_chained_to_its_cancellation(loop_flavour):
    async def main():
        ring = cbring.Ring(64)
        dispatcher = aio.Dispatcher(ring)
        task = asyncio.create_task(dispatcher.run())
        futures = [dispatcher.register(c) for c in range(10)]
        await asyncio.sleep(0)   # the runner is waiting on the ring
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ring.close()
        return futures

    futures = run(main())
    for f in futures:
        error = f.exception()
        assert isinstance(error, cbring.DispatcherClosed)
        assert "runner was cancelled" in str(error)
        assert isinstance(error.__cause__, asyncio.CancelledError)


def test_a_failing_runner_fails_every_waiting_future_and_aclose_reraises_its_error():
    class Broken(aio.Dispatcher):
        def dispatch(self, batch):
            raise ZeroDivisionError("routing bug")

    async def main():
        ring = cbring.Ring(64)
        dispatcher = Broken(ring)
        futures = []
        with pytest.raises(ZeroDivisionError, match="routing bug"):
            async with dispatcher:
                futures = [dispatcher.register(c) for c in range(10)]
                complete(ring, 99)
                with pytest.raises(cbring.DispatcherClosed):
                    await futures[0]
        ring.close()
        return futures

    for f in run(main()):
        assert isinstance(f.exception(), cbring.DispatcherClosed)
        assert "runner failed (ZeroDivisionError: routing bug)" in str(f.exception())
        assert isinstance(f.exception().__cause__, ZeroDivisionError)


def test_leaving_async_with_routes_what_is_ready_then_fails_the_rest(loop_flavour):
    async def main():
        ring = cbring.Ring(64)
        async with aio.Dispatcher(ring) as dispatcher:
            ready, waiting = dispatcher.register(1), dispatcher.register(2)
            complete(ring, 1, result=7)
        assert dispatcher.closed and dispatcher.pending == 0
        await dispatcher.aclose()   # idempotent
        ring.close()
        return ready, waiting

    ready, waiting = run(main())
    assert ready.result() == cbring.AsyncResult(7, 0)
    assert isinstance(waiting.exception(), cbring.DispatcherClosed)
    assert "closed (aclose())" in str(waiting.exception())


def test_a_timed_out_register_leaves_at_once_and_never_takes_the_next_completion(loop_flavour):
    async def main():
        ring = cbring.Ring(1 << 12)
        async with aio.Dispatcher(ring) as dispatcher:
            for _ in range(100):
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(dispatcher.register(5), 0)
            assert dispatcher.pending == 0
            assert dispatcher._waiting == {}
            retry = dispatcher.register(5)
            complete(ring, 5, result=3)
            result = await retry
            ring.close()
        return result

    assert run(main()) == cbring.AsyncResult(3, 0)


def test_a_cancelled_future_whose_callback_has_not_run_passes_the_completion_on():
    async def main():
        ring = cbring.Ring(64)
        dispatcher = aio.Dispatcher(ring)
        first, second = dispatcher.register(5), dispatcher.register(5)
        first.cancel()           # its done callback runs on the next loop turn
        complete(ring, 5, result=4)
        dispatcher.dispatch(ring.drain())
        ring.close()
        return second

    assert run(main()).result() == cbring.AsyncResult(4, 0)


def test_dropped_records_fail_the_waiting_futures_naming_the_count():
    async def main():
        ring = cbring.Ring(16, overflow="drop")
        async with aio.Dispatcher(ring) as dispatcher:
            futures = [dispatcher.register(c) for c in range(20)]
            for c in range(20):
                complete(ring, c)
            assert ring.stats.dropped == 4
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            ring.close()
        return outcomes

    outcomes = run(main())
    assert outcomes[:16] == [cbring.AsyncResult(1, 0)] * 16
    for c, error in enumerate(outcomes[16:], 16):
        assert isinstance(error, cbring.EventsDropped)
        assert error.dropped == 4 and error.context == c
        assert "dropped 4 record(s)" in str(error)


def test_register_after_handle_closing_starts_a_new_registration_that_keeps_an_early_completion():
    async def main():
        ring = cbring.Ring(64)
        async with aio.Dispatcher(ring) as dispatcher:
            first = dispatcher.register(7)
            complete(ring, 7, result=1)
            assert await first == cbring.AsyncResult(1, 0)
            closing(ring, 7)
            complete(ring, 7, result=2)   # the reused context's next request, before register()
            while dispatcher.unclaimed == 0:
                await asyncio.sleep(0)
            second = await dispatcher.register(7)
            ring.close()
        return second

    assert run(main()) == cbring.AsyncResult(2, 0)


def test_unclaimed_completions_are_bounded_and_counted():
    ring = cbring.Ring(64)
    dispatcher = aio.Dispatcher(ring, max_unclaimed=3)
    for c in range(5):
        complete(ring, c, result=c + 1)
    dispatcher.dispatch(ring.drain())
    assert dispatcher.unclaimed == 3 and dispatcher.discarded == 2 and dispatcher.unknown == 5

    async def main():
        return [await dispatcher.register(c) for c in (2, 3, 4)]

    assert run(main()) == [cbring.AsyncResult(c + 1, 0) for c in (2, 3, 4)]
    assert dispatcher.unclaimed == 0
    ring.close()


def test_handle_closing_before_completion_fails_the_waiting_future():
    async def main():
        ring = cbring.Ring(16)
        async with aio.Dispatcher(ring) as dispatcher:
            future = dispatcher.register(7)
            closing(ring, 7)
            with pytest.raises(ConnectionAbortedError, match="context 7 closed"):
                await future
            ring.close()

    run(main())


def test_handle_closed_resolves_on_that_handles_closing_and_fails_when_the_dispatcher_stops():
    async def main():
        ring = cbring.Ring(16)
        async with aio.Dispatcher(ring) as dispatcher:
            mine, other = dispatcher.handle_closed(0x1234), dispatcher.handle_closed(0x99)
            closing(ring, 3, handle=0x1234)
            assert await mine is None
            assert not other.done()
        ring.close()
        return other

    error = run(main()).exception()
    assert isinstance(error, cbring.DispatcherClosed) and "handle 153" in str(error)


def test_a_second_consumer_on_the_same_ring_is_refused():
    async def main():
        ring = cbring.Ring(16)
        async with aio.Dispatcher(ring):
            with pytest.raises(RuntimeError, match="already has a consumer"):
                async with aio.Dispatcher(ring):
                    pass
            with pytest.raises(RuntimeError, match="already has a consumer"):
                async for _ in ring.batches():
                    pass
            with pytest.raises(RuntimeError, match="already has a consumer"):
                cbring.dispatch.Dispatcher(ring).start()
        # once the first has stopped, the ring may have another consumer
        async with aio.Dispatcher(ring):
            ring.close()

    run(main())


@pytest.mark.parametrize("bad, error, message", [
    (True, TypeError, "context must be an int"),
    ("5", TypeError, "context must be an int"),
    (-1, ValueError, "context must be a DWORD_PTR"),
    (1 << 64, ValueError, "context must be a DWORD_PTR"),
])
def test_register_refuses_what_is_not_a_dword_ptr(bad, error, message):
    async def main():
        dispatcher = aio.Dispatcher(cbring.Ring(16))
        with pytest.raises(error, match=message):
            dispatcher.register(bad)
        with pytest.raises(error, match=message):
            dispatcher.handle_closed(bad)
        assert not dispatcher.register((1 << 64) - 1).done()

    run(main())


def test_other_tasks_run_between_any_two_batches_while_a_native_producer_saturates_the_ring(
        loop_flavour):
    """The loop's liveness, counted: a task that only yields must have run
    between every two batches, and no batch exceeds max_events."""
    total = 200_000

    class Watched(aio.Dispatcher):
        def __init__(self, ring):
            super().__init__(ring, max_events=256)
            self.ticks_at_batch, self.sizes = [], []

        def dispatch(self, batch):
            self.ticks_at_batch.append(ticks)
            self.sizes.append(len(batch))
            super().dispatch(batch)

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    async def main():
        ring = cbring.Ring(1 << 10)
        spinner = asyncio.create_task(ticker())
        with _testing.Producers(ring.status_callback, threads=2, events=total // 2):
            async with Watched(ring) as dispatcher:
                while sum(dispatcher.sizes) < total:
                    await asyncio.sleep(0)
                ring.close()
        spinner.cancel()
        return dispatcher

    dispatcher = run(main())
    assert sum(dispatcher.sizes) == total and max(dispatcher.sizes) <= 256
    seen = dispatcher.ticks_at_batch
    assert len(seen) >= total // 256
    assert all(b > a for a, b in zip(seen, seen[1:])), "two batches with no other task between"


def test_a_timed_out_register_among_others_of_its_context_leaves_only_its_own_place():
    async def main():
        ring = cbring.Ring(64)
        async with aio.Dispatcher(ring) as dispatcher:
            first = dispatcher.register(5)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(dispatcher.register(5), 0)
            last = dispatcher.register(5)
            assert dispatcher.pending == 2 and dispatcher._waiting == {5: [first, last]}
            complete(ring, 5, result=1)
            complete(ring, 5, result=2)
            outcomes = [await first, await last]
            ring.close()
        return outcomes

    assert run(main()) == [cbring.AsyncResult(1, 0), cbring.AsyncResult(2, 0)]


def test_futures_registered_before_and_after_the_runner_starts_both_leave_when_cancelled():
    async def main():
        ring = cbring.Ring(64)
        dispatcher = aio.Dispatcher(ring)
        early = dispatcher.register(3)         # no runner yet: made for the running loop
        async with dispatcher:
            late = dispatcher.register(3)
            again = dispatcher.register(3)
            assert type(early) is type(late) is aio._Waiter
            early.cancel()
            late.cancel()
            assert dispatcher.pending == 1 and dispatcher._waiting == {3: [again]}
            complete(ring, 3, result=6)
            result = await again
            ring.close()
        return result

    assert run(main()) == cbring.AsyncResult(6, 0)
