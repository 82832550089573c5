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
