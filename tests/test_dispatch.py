"""The thread Dispatcher (cbring.dispatch): the same routing as the asyncio
one, on concurrent.futures futures; stop() settles every future."""

import concurrent.futures
import threading

import pytest

import cbring
from cbring import _testing
from cbring.dispatch import Dispatcher

EVENTS = _testing.EVENTS_PER_REQUEST
COMPLETE = cbring.InternetStatus.REQUEST_COMPLETE


def complete(ring, context, result=1):
    _testing.call_status(ring.status_callback, 1, context, COMPLETE, bytes(cbring.AsyncResult(result, 0)))


def test_thread_dispatcher_routes_events_from_native_threads():
    requests = 200
    ring = cbring.Ring(1 << 10)
    with Dispatcher(ring) as dispatcher:
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
    assert dispatcher.pending == 0


def test_stop_fails_every_waiting_future_with_dispatcher_closed():
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring).start()
    futures = [dispatcher.register(c) for c in range(50)]
    closed = dispatcher.handle_closed(9)
    dispatcher.stop()
    for f in futures + [closed]:
        assert isinstance(f.exception(timeout=0), cbring.DispatcherClosed)
    assert "dispatcher was stopped" in str(futures[0].exception())
    with pytest.raises(cbring.DispatcherClosed):
        dispatcher.register(1)
    dispatcher.stop()  # idempotent
    ring.close()


def test_closing_the_ring_ends_the_thread_and_fails_the_waiting_futures():
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring).start()
    futures = [dispatcher.register(c) for c in range(5)]
    ring.close()
    for f in futures:
        assert isinstance(f.exception(timeout=30), cbring.DispatcherClosed)
    assert "ring was closed and drained" in str(futures[0].exception())
    dispatcher.stop()


def test_a_cancelled_future_is_forgotten_at_once_and_the_next_register_gets_the_completion():
    ring = cbring.Ring(16)
    dispatcher = Dispatcher(ring)
    dispatcher.register(5).cancel()
    assert dispatcher.pending == 0 and dispatcher._waiting == {}
    complete(ring, 5, result=1)
    complete(ring, 5, result=9)
    dispatcher.dispatch(ring.drain())
    assert dispatcher.unclaimed == 2
    assert dispatcher.register(5).result(timeout=0) == cbring.AsyncResult(1, 0)
    assert dispatcher.register(5).result(timeout=0) == cbring.AsyncResult(9, 0)
    ring.close()


def test_unregister_cancels_waiting_futures_from_another_thread():
    ring = cbring.Ring(16)
    with Dispatcher(ring) as dispatcher:
        futures = [dispatcher.register(3) for _ in range(4)]
        t = threading.Thread(target=dispatcher.unregister, args=(3,))
        t.start()
        t.join()
        assert all(f.cancelled() for f in futures) and dispatcher.pending == 0
        ring.close()


def test_dropped_records_fail_the_threads_waiting_futures():
    ring = cbring.Ring(16, overflow="drop")
    dispatcher = Dispatcher(ring)
    futures = [dispatcher.register(c) for c in range(18)]
    for c in range(18):
        complete(ring, c)
    with dispatcher:
        for f in futures[:16]:
            assert f.result(timeout=30) == cbring.AsyncResult(1, 0)
        for c, f in enumerate(futures[16:], 16):
            error = f.exception(timeout=30)
            assert isinstance(error, cbring.EventsDropped) and error.dropped == 2 and error.context == c
        ring.close()


def test_register_rejects_a_context_that_is_not_a_dword_ptr():
    dispatcher = Dispatcher(cbring.Ring(16))
    with pytest.raises(ValueError, match="context must be a DWORD_PTR, from 0 to"):
        dispatcher.register(-1)
    with pytest.raises(TypeError, match="context must be an int"):
        dispatcher.register(False)


def test_error_names_come_from_wininet_h():
    assert cbring.error_name(12029) == "ERROR_INTERNET_CANNOT_CONNECT"
    assert cbring.error_name(4) == "error 4"
    e = cbring.WinINetError(12007, 3)
    assert isinstance(e, OSError) and "ERROR_INTERNET_NAME_NOT_RESOLVED" in str(e)


def test_the_compiled_routing_of_a_batch_and_the_python_routing_of_its_events_agree():
    from cbring import _route

    assert _route.REQUEST_COMPLETE == COMPLETE
    assert _route.HANDLE_CLOSING == cbring.InternetStatus.HANDLE_CLOSING
    requests = 64
    outcomes = []
    for as_events in (False, True):
        ring = cbring.Ring(1 << 10)
        dispatcher = Dispatcher(ring)
        futures = [dispatcher.register(_testing.context(0, r)) for r in range(0, requests, 2)]
        closed = dispatcher.handle_closed(_testing.handle(0, 4))
        futures[3].cancel()
        with _testing.Producers(ring.status_callback, threads=1, events=EVENTS * requests):
            pass
        batch = ring.drain()
        assert len(batch) == EVENTS * requests
        dispatcher.dispatch(list(batch) if as_events else batch)
        outcomes.append((
            [f.result() if f.exception() is None else repr(f.exception())
             for f in futures if not f.cancelled()],
            closed.result(timeout=0), dispatcher.pending, dispatcher.unknown,
            dispatcher.dispatched, dispatcher.unclaimed, dispatcher.discarded))
        ring.close()
    assert outcomes[0] == outcomes[1]
    results, _, pending, unknown, dispatched, unclaimed, discarded = outcomes[0]
    assert len(results) == requests // 2 - 1 and pending == 0
    assert dispatched == EVENTS * (requests // 2) and unknown == EVENTS * (requests // 2)
    # the odd requests' and the cancelled one's completions were kept until their HANDLE_CLOSING
    assert unclaimed == 0 and discarded == requests // 2 + 1


CLOSING = cbring.InternetStatus.HANDLE_CLOSING
HEADERS = 41   # RESPONSE_RECEIVED, a DWORD: any status the routing only counts


def closing(ring, context, handle=1):
    _testing.call_status(ring.status_callback, handle, context, CLOSING, handle.to_bytes(8, "little"))


def received(ring, context):
    _testing.call_status(ring.status_callback, 1, context, HEADERS, (4096).to_bytes(4, "little"))


def outcome(future):
    if not future.done():
        return "pending"
    if future.cancelled():
        return "cancelled"
    error = future.exception()
    return future.result().dwResult if error is None else f"{type(error).__name__}: {error}"


def routed(dispatcher, ring, as_events):
    """Routes what ring holds, as a Batch (the compiled loop) or as StatusEvents."""
    batch = ring.drain()
    dispatcher.dispatch(list(batch) if as_events else batch)


def counters(dispatcher):
    return (dispatcher.pending, dispatcher.unknown, dispatcher.dispatched, dispatcher.unclaimed,
            dispatcher.discarded)


@pytest.fixture(params=["batch", "events"])
def as_events(request):
    """Both ways dispatch() routes: a Batch in place, or any iterable of StatusEvent."""
    return request.param == "events"


def test_the_futures_of_one_context_settle_oldest_first_from_one_waiter_to_many_and_back(as_events):
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    alone = dispatcher.register(4)
    complete(ring, 4, result=1)
    routed(dispatcher, ring, as_events)
    many = [dispatcher.register(4) for _ in range(3)]
    assert dispatcher.pending == 3 and len(dispatcher._waiting[4]) == 3
    complete(ring, 4, result=2)
    complete(ring, 4, result=3)
    routed(dispatcher, ring, as_events)
    assert [outcome(f) for f in [alone] + many] == [1, 2, 3, "pending"]
    again = dispatcher.register(4)
    complete(ring, 4, result=4)
    complete(ring, 4, result=5)
    complete(ring, 4, result=6)
    routed(dispatcher, ring, as_events)
    assert [outcome(f) for f in (many[2], again)] == [4, 5]
    assert dispatcher._waiting == {} and counters(dispatcher) == (0, 0, 6, 1, 0)
    assert outcome(dispatcher.register(4)) == 6
    ring.close()


@pytest.mark.parametrize("waiters, cancelled", [(1, 0), (2, 0), (3, 1), (3, 2), (2, 1)])
def test_a_cancelled_future_leaves_its_place_alone_or_among_many_and_the_others_keep_their_order(
        as_events, waiters, cancelled):
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    futures = [dispatcher.register(9) for _ in range(waiters)]
    assert futures[cancelled].cancel()
    futures[cancelled].cancel()      # again: it has already left
    assert dispatcher.pending == waiters - 1
    assert dispatcher._waiting.get(9, []) == [f for f in futures if not f.cancelled()]
    for result in range(1, waiters + 1):
        complete(ring, 9, result=result)
    routed(dispatcher, ring, as_events)
    expected = list(range(1, waiters))
    expected.insert(cancelled, "cancelled")
    assert [outcome(f) for f in futures] == expected
    # the completion nobody took is kept for the next register()
    assert counters(dispatcher) == (0, 0, waiters, 1, 0)
    assert outcome(dispatcher.register(9)) == waiters
    ring.close()


def test_handle_closing_fails_every_waiter_discards_the_unclaimed_and_ends_each_registration(as_events):
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    one = dispatcher.register(1)
    two = [dispatcher.register(2) for _ in range(2)]
    dispatcher.register(3).cancel()       # registered, nobody waiting
    complete(ring, 3, result=7)           # unclaimed, on a registered context
    complete(ring, 5, result=8)           # unclaimed, on an unknown context
    for context in (1, 2, 3, 5):
        closing(ring, context)
        received(ring, context)           # after its HANDLE_CLOSING: no longer registered
    routed(dispatcher, ring, as_events)
    assert outcome(one) == "ConnectionAbortedError: handle of context 1 closed before REQUEST_COMPLETE"
    assert [outcome(f) for f in two] == [
        "ConnectionAbortedError: handle of context 2 closed before REQUEST_COMPLETE"] * 2
    # dispatched: complete(3) and three HANDLE_CLOSINGs; unknown: 5's three, and 1, 2 and 3 after closing
    assert counters(dispatcher) == (0, 6, 4, 0, 2)
    assert dispatcher._waiting == {}
    late = dispatcher.register(3)         # a new registration: nothing was kept for it
    assert outcome(late) == "pending"
    ring.close()


def test_a_callback_that_registers_while_a_batch_is_routed_gets_that_batchs_next_completion(
        as_events):
    """The thread Dispatcher's futures run their callbacks inside set_result():
    what they register counts from the next record on."""
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    later = []

    def register_more(future):
        later.append(dispatcher.register(6))      # the same context, again
        later.append(dispatcher.register(11))     # a context first seen in this batch

    first = dispatcher.register(6)
    first.add_done_callback(register_more)
    complete(ring, 6, result=1)
    received(ring, 11)
    complete(ring, 6, result=2)
    complete(ring, 11, result=3)
    with dispatcher:          # dispatch() holds the lock the callback's register() takes again
        routed(dispatcher, ring, as_events)
        assert [outcome(f) for f in [first] + later] == [1, 2, 3]
        assert counters(dispatcher) == (0, 0, 4, 0, 0)
        ring.close()


def test_a_context_closed_and_registered_again_within_one_batch_is_counted_each_time(as_events):
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    again = []
    first = dispatcher.register(8)
    first.add_done_callback(lambda f: again.append(dispatcher.register(8)))
    received(ring, 8)
    closing(ring, 8)
    received(ring, 8)        # unknown: its registration ended
    complete(ring, 8, result=1)
    routed(dispatcher, ring, as_events)
    assert outcome(first) == "ConnectionAbortedError: handle of context 8 closed before REQUEST_COMPLETE"
    assert [outcome(f) for f in again] == [1]
    # the callback's register() started a new registration before the last two records
    assert counters(dispatcher) == (0, 0, 4, 0, 0)
    ring.close()


def test_whether_a_context_is_registered_is_read_again_after_every_change_within_one_batch(
        as_events):
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    dispatcher.register(20).cancel()          # registered, nobody waiting
    received(ring, 20)
    closing(ring, 20)
    received(ring, 20)                        # unknown: HANDLE_CLOSING ended it
    closed = dispatcher.handle_closed(0x21)
    later = []
    closed.add_done_callback(lambda f: later.append(dispatcher.register(21)))
    received(ring, 21)                        # unknown
    closing(ring, 21, handle=0x21)            # unknown; its callback registers 21
    received(ring, 21)                        # dispatched
    complete(ring, 21, result=5)
    routed(dispatcher, ring, as_events)
    assert closed.result(timeout=0) is None and [outcome(f) for f in later] == [5]
    assert (dispatcher.dispatched, dispatcher.unknown) == (4, 3)
    ring.close()


def test_thousands_of_contexts_registered_and_closed_in_any_order_are_each_found(as_events):
    import random

    rng = random.Random(11)
    contexts = sorted({0, 1, (1 << 64) - 1, *(_testing.context(p, r) for p in range(3) for r in range(500)),
                       *(rng.getrandbits(64) for _ in range(1500))})
    closed = set(rng.sample(contexts, len(contexts) // 2))
    ring = cbring.Ring(1 << 13)
    dispatcher = Dispatcher(ring)
    futures = {c: [dispatcher.register(c) for _ in range(1 + c % 2)] for c in contexts}
    order = list(contexts)
    rng.shuffle(order)
    for c in order:
        if c in closed:
            closing(ring, c)
    for n, c in enumerate(contexts):
        for k in range(1 + c % 2):
            complete(ring, c, result=2 * n + k + 1)
    routed(dispatcher, ring, as_events)
    for n, c in enumerate(contexts):
        outcomes = [outcome(f) for f in futures[c]]
        if c in closed:
            assert outcomes == [f"ConnectionAbortedError: handle of context {c} closed before REQUEST_COMPLETE"
                                ] * len(outcomes)
        else:
            assert outcomes == [2 * n + k + 1 for k in range(len(outcomes))]
    waiting_on_closed = sum(1 + c % 2 for c in closed)
    assert counters(dispatcher) == (
        0, waiting_on_closed, len(closed) + sum(1 + c % 2 for c in contexts if c not in closed),
        waiting_on_closed, 0)
    # each closed context's completions came after its HANDLE_CLOSING: kept for a new registration
    for n, c in enumerate(sorted(closed)[:50]):
        assert outcome(dispatcher.register(c)) == 2 * contexts.index(c) + 1
    ring.close()


@pytest.mark.parametrize("flavour", ["thread", "asyncio"])
def test_a_dispatcher_dropped_while_futures_wait_is_garbage_collected(flavour):
    """Its futures refer back to it (cancel() leaves the routing): the
    collector must see the futures the routing table holds."""
    import asyncio
    import gc
    import weakref

    from cbring import aio

    async def registered():
        dispatcher = aio.Dispatcher(cbring.Ring(16))
        return dispatcher, [dispatcher.register(c) for c in (1, 1, 2)]

    if flavour == "thread":
        dispatcher = Dispatcher(cbring.Ring(16))
        futures = [dispatcher.register(c) for c in (1, 1, 2)]
    else:
        loop = asyncio.new_event_loop()
        dispatcher, futures = loop.run_until_complete(registered())
        loop.close()
    gone = weakref.ref(dispatcher)
    waiting = weakref.ref(futures[0])
    del dispatcher, futures
    gc.collect()
    assert gone() is None and waiting() is None


def test_a_future_cancelled_from_another_thread_between_done_and_set_result_passes_its_completion_on(
        monkeypatch, as_events):
    """A user's cancel() lands after the routing asked done() and before its
    set_result(): the next future of the context takes the completion, or it
    is kept unclaimed.  The patched done() has another thread cancel the
    future, and joins it, before it answers; that thread runs Future.cancel
    only (the state change): the rest of _ThreadWaiter.cancel waits for the
    dispatcher's lock, which the routing holds."""
    from cbring import dispatch

    done = dispatch._ThreadWaiter.done
    armed = set()

    def racing_done(self):
        answer = done(self)
        if id(self) in armed:
            armed.discard(id(self))
            canceller = threading.Thread(target=concurrent.futures.Future.cancel, args=(self,))
            canceller.start()
            canceller.join()
            assert self.cancelled()
        return answer

    monkeypatch.setattr(dispatch._ThreadWaiter, "done", racing_done)
    ring = cbring.Ring(64)
    dispatcher = Dispatcher(ring)
    racing, next_in_line = dispatcher.register(7), dispatcher.register(7)
    alone = dispatcher.register(8)
    armed.update((id(racing), id(alone)))
    complete(ring, 7, result=1)
    complete(ring, 8, result=0)          # a failed request: its future fails with WinINetError
    routed(dispatcher, ring, as_events)
    assert not armed
    assert [outcome(f) for f in (racing, next_in_line, alone)] == ["cancelled", 1, "cancelled"]
    assert counters(dispatcher) == (0, 0, 2, 1, 0)
    assert isinstance(dispatcher.register(8).exception(timeout=0), cbring.WinINetError)
    ring.close()
