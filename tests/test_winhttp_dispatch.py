"""WinHTTP's dispatchers (cbring.aio.WinHttpDispatcher and
cbring.dispatch.WinHttpDispatcher): a download written as straight-line code
over futures routed by request handle, fed the records WinHTTP's callback
makes (Ring.winhttp_callback, called from C as WinHTTP's worker threads
call it), in the order Wine's WinHTTP sends them.  Every future settles
however the dispatcher stops, a cancelled future never takes a completion,
and every event is counted.  Every loop runs in asyncio's debug mode."""

import asyncio
import concurrent.futures
import ctypes
import os
import re
import struct
import threading

import pytest

import cbring
from cbring import _testing, aio
from cbring import dispatch as thread_dispatch

S = cbring.WinHttpStatus
API = cbring.WinHttpApi
ERROR_WINHTTP_TIMEOUT = 12002
ERROR_WINHTTP_OPERATION_CANCELLED = 12017
ERROR_WINHTTP_CANNOT_CONNECT = 12029
REQUEST = 0x5A5A0010
HANDLE_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_void_p))) - 1
README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")
COMPLETION_OF = {
    API.API_SEND_REQUEST: "send_complete",
    API.API_RECEIVE_RESPONSE: "headers_available",
    API.API_QUERY_DATA_AVAILABLE: "data_available",
    API.API_READ_DATA: "read_complete",
    API.API_WRITE_DATA: "write_complete",
}
ASKS = [*COMPLETION_OF.values(), "closed"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60), debug=True)


@pytest.fixture(params=["add_reader", "worker_thread"])
def loop_flavour(request, monkeypatch):
    """Both ways the runner waits: the ring's descriptor, or a worker thread (Windows' proactor)."""
    if request.param == "worker_thread":
        monkeypatch.setattr(aio, "_has_reader", lambda loop: False)
    return request.param


# void CALLBACK (HINTERNET, DWORD_PTR, DWORD, LPVOID, DWORD); CALLBACK is the
# platform's default convention on x64 and arm64
WINHTTP_STATUS_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32,
                                           ctypes.c_void_p, ctypes.c_uint32)


def emit(ring, handle, status, info=None, length=None, context=0):
    """One call of the ring's WINHTTP_STATUS_CALLBACK, from C."""
    _testing.call_status(ring.winhttp_callback, handle, context, status, info, length)


def dword(value):
    return struct.pack("=I", value)


def pointer(value):
    return struct.pack("P", value)


def wide(text):
    return text.encode("utf-16-le") + b"\0\0"


def request_error(ring, handle, api, error):
    # WINHTTP_ASYNC_RESULT has INTERNET_ASYNC_RESULT's layout
    emit(ring, handle, S.REQUEST_ERROR, bytes(cbring.AsyncResult(api, error)))


def closing(ring, handle):
    emit(ring, handle, S.HANDLE_CLOSING, pointer(handle))


class WinHttp:
    """What WinHTTP sends for GETs, in Wine's order: each call's events go
    through the ring's callback before the call returns, as they may from
    WinHTTP's thread pool."""

    def __init__(self, ring, bodies, *, chunk=4096, redirects=None, fail=None):
        self.ring = ring
        self.bodies = bodies                   # handle -> the body the server sends
        self.read = {h: 0 for h in bodies}     # handle -> bytes the client has read
        self.chunk = chunk
        self.redirects = redirects or {}       # handle -> URLs it is redirected to
        self.fail = fail or {}                 # handle -> (API, error) for its first call of that API

    def _failed(self, handle, api):
        if self.fail.get(handle, (None,))[0] == api:
            request_error(self.ring, handle, api, self.fail.pop(handle)[1])
            return True
        return False

    def WinHttpSendRequest(self, handle, headers, headers_length, optional, optional_length,
                           total_length, context):
        if self._failed(handle, API.API_SEND_REQUEST):
            return True
        emit(self.ring, handle, S.SENDING_REQUEST)
        emit(self.ring, handle, S.REQUEST_SENT, dword(78))
        emit(self.ring, handle, S.SENDREQUEST_COMPLETE)
        return True

    def WinHttpReceiveResponse(self, handle, reserved):
        if self._failed(handle, API.API_RECEIVE_RESPONSE):
            return True
        for url in self.redirects.get(handle, ()):
            emit(self.ring, handle, S.RECEIVING_RESPONSE)
            emit(self.ring, handle, S.RESPONSE_RECEIVED, dword(120))
            emit(self.ring, handle, S.REDIRECT, wide(url), len(url))
            emit(self.ring, handle, S.SENDING_REQUEST)
            emit(self.ring, handle, S.REQUEST_SENT, dword(78))
        emit(self.ring, handle, S.RECEIVING_RESPONSE)
        emit(self.ring, handle, S.RESPONSE_RECEIVED, dword(160))
        emit(self.ring, handle, S.HEADERS_AVAILABLE)
        return True

    def WinHttpQueryDataAvailable(self, handle, available):
        if self._failed(handle, API.API_QUERY_DATA_AVAILABLE):
            return True
        left = len(self.bodies[handle]) - self.read[handle]
        emit(self.ring, handle, S.DATA_AVAILABLE, dword(min(left, self.chunk)))
        return True

    def WinHttpReadData(self, handle, buffer, size, read):
        if self._failed(handle, API.API_READ_DATA):
            return True
        body, start = self.bodies[handle], self.read[handle]
        piece = body[start:start + size]
        view = memoryview(buffer).cast("B")
        view[:len(piece)] = piece
        self.read[handle] += len(piece)
        emit(self.ring, handle, S.READ_COMPLETE, view, len(piece))
        return True

    def WinHttpCloseHandle(self, handle):
        emit(self.ring, handle, S.HANDLE_CLOSING, pointer(handle))
        return True

    def functions(self):
        return {name: getattr(self, name) for name in (
            "WinHttpSendRequest", "WinHttpReceiveResponse", "WinHttpQueryDataAvailable",
            "WinHttpReadData", "WinHttpCloseHandle")}


async def download(d, winhttp, hrequest, progress=None):
    """The straight-line download of the README, over the stand-in."""
    req = d.request(hrequest, on_event=progress)
    sent = req.send_complete()
    winhttp.WinHttpSendRequest(hrequest, None, 0, None, 0, 0, 0)
    await sent
    headers = req.headers_available()
    winhttp.WinHttpReceiveResponse(hrequest, None)
    await headers
    body = bytearray()
    while True:
        available = req.data_available()
        winhttp.WinHttpQueryDataAvailable(hrequest, None)
        n = await available
        if n == 0:
            break
        buffer = ctypes.create_string_buffer(n)
        done = req.read_complete()
        winhttp.WinHttpReadData(hrequest, buffer, n, None)
        body += buffer.raw[:await done]
    closed = req.closed()
    winhttp.WinHttpCloseHandle(hrequest)
    await closed
    return bytes(body)


def body_of(size, seed=0):
    return bytes((seed + i * 7) & 0xFF for i in range(size))


def test_a_download_is_straight_line_code_over_the_events_winhttp_sends(loop_flavour):
    bodies = {REQUEST: body_of(10_000), REQUEST + 8: b""}
    progress = []

    async def main():
        ring = cbring.Ring(1 << 10)
        winhttp = WinHttp(ring, bodies, chunk=4096)
        async with aio.WinHttpDispatcher(ring) as d:
            got = await asyncio.gather(download(d, winhttp, REQUEST, progress.append),
                                       download(d, winhttp, REQUEST + 8))
            ring.close()
        return d, ring, got

    d, ring, got = run(main())
    assert got == [bodies[REQUEST], b""]
    assert [(e.status, e.info) for e in progress] == [
        (S.SENDING_REQUEST, None), (S.REQUEST_SENT, 78),
        (S.RECEIVING_RESPONSE, None), (S.RESPONSE_RECEIVED, 160)]
    # send 3, receive 3, the last DATA_AVAILABLE and HANDLE_CLOSING, and 2 a read: 3 for
    # 10,000 bytes, none for the empty body
    assert d.dispatched == ring.stats.pushed == (8 + 2 * 3) + 8 and d.unknown == 0
    assert d.pending == d.unclaimed == d.discarded == 0 and d._requests == {}


def test_a_read_completes_with_the_byte_count_and_the_address_of_the_callers_buffer():
    async def main():
        ring = cbring.Ring(64)
        buffer = ctypes.create_string_buffer(100)
        seen = []

        class Watched(aio.WinHttpDispatcher):
            def dispatch(self, batch):
                seen.extend(batch)
                super().dispatch(batch)

        async with Watched(ring) as d:
            done = d.request(REQUEST).read_complete()
            # as WinHTTP calls it: the buffer WinHttpReadData was given, and the bytes read
            callback = WINHTTP_STATUS_CALLBACK(ring.winhttp_callback)
            callback(REQUEST, 0, S.READ_COMPLETE, ctypes.addressof(buffer), 37)
            n = await done
            ring.close()
        return n, seen, ctypes.addressof(buffer)

    n, seen, address = run(main())
    assert n == 37
    assert [(e.api, e.status, e.buffer) for e in seen] == [("winhttp", S.READ_COMPLETE, address)]


def test_redirects_reach_the_progress_hook_with_their_urls_whole():
    urls = ["http://127.0.0.1:8080/moved", "http://127.0.0.1:8080/" + "final/" * 200]
    progress = []

    async def main():
        ring = cbring.Ring(1 << 10)
        winhttp = WinHttp(ring, {REQUEST: body_of(300)}, redirects={REQUEST: urls})
        async with aio.WinHttpDispatcher(ring) as d:
            body = await download(d, winhttp, REQUEST, progress.append)
            ring.close()
        return body

    assert run(main()) == body_of(300)
    assert [e.info for e in progress if e.status == S.REDIRECT] == urls
    assert not any(e.truncated for e in progress)
    statuses = [e.status for e in progress]
    assert statuses.count(S.SENDING_REQUEST) == 3 and statuses.count(S.RESPONSE_RECEIVED) == 3


@pytest.mark.parametrize("api", list(COMPLETION_OF))
def test_request_error_fails_the_future_of_the_api_it_names_with_winhttp_error(api):
    async def main():
        ring = cbring.Ring(64)
        async with aio.WinHttpDispatcher(ring) as d:
            req = d.request(REQUEST)
            futures = {name: getattr(req, name)() for name in ASKS}
            request_error(ring, REQUEST, api, ERROR_WINHTTP_TIMEOUT)
            with pytest.raises(cbring.WinHttpError) as failed:
                await futures[COMPLETION_OF[api]]
            others = [f for name, f in futures.items() if name != COMPLETION_OF[api]]
            assert not any(f.done() for f in others)
            assert d.pending == len(others)
            closing(ring, REQUEST)
            await req.closed()
            ring.close()
        return failed.value

    error = run(main())
    assert error.errno == ERROR_WINHTTP_TIMEOUT and error.api == api and error.handle == REQUEST
    assert "ERROR_WINHTTP_TIMEOUT" in str(error) and api.name in str(error)


def test_a_closed_port_fails_the_send_with_cannot_connect_and_the_handle_still_closes():
    async def main():
        ring = cbring.Ring(64)
        winhttp = WinHttp(ring, {REQUEST: b"never"},
                          fail={REQUEST: (API.API_SEND_REQUEST, ERROR_WINHTTP_CANNOT_CONNECT)})
        async with aio.WinHttpDispatcher(ring) as d:
            with pytest.raises(cbring.WinHttpError, match="ERROR_WINHTTP_CANNOT_CONNECT") as failed:
                await download(d, winhttp, REQUEST)
            closed = d.request(REQUEST).closed()
            winhttp.WinHttpCloseHandle(REQUEST)
            assert await closed is None
            ring.close()
        return failed.value, d

    error, d = run(main())
    assert error.errno == ERROR_WINHTTP_CANNOT_CONNECT and error.api == API.API_SEND_REQUEST
    assert d.pending == d.unclaimed == d.discarded == 0


def test_an_error_in_the_middle_of_a_body_fails_that_read_and_nothing_else():
    async def main():
        ring = cbring.Ring(1 << 10)
        winhttp = WinHttp(ring, {REQUEST: body_of(9000)}, chunk=1000)
        async with aio.WinHttpDispatcher(ring) as d:
            req = d.request(REQUEST)
            sent = req.send_complete()
            winhttp.WinHttpSendRequest(REQUEST, None, 0, None, 0, 0, 0)
            await sent
            headers = req.headers_available()
            winhttp.WinHttpReceiveResponse(REQUEST, None)
            await headers
            got = 0
            for _ in range(3):
                available = req.data_available()
                winhttp.WinHttpQueryDataAvailable(REQUEST, None)
                n = await available
                done = req.read_complete()
                winhttp.WinHttpReadData(REQUEST, ctypes.create_string_buffer(n), n, None)
                got += await done
            winhttp.fail[REQUEST] = (API.API_READ_DATA, ERROR_WINHTTP_OPERATION_CANCELLED)
            done = req.read_complete()
            winhttp.WinHttpReadData(REQUEST, ctypes.create_string_buffer(1000), 1000, None)
            with pytest.raises(cbring.WinHttpError, match="ERROR_WINHTTP_OPERATION_CANCELLED"):
                await done
            closed = req.closed()
            winhttp.WinHttpCloseHandle(REQUEST)
            await closed
            ring.close()
        return got

    assert run(main()) == 3000


def test_handle_closing_resolves_closed_fails_the_rest_and_forgets_the_handle():
    async def main():
        ring = cbring.Ring(64)
        async with aio.WinHttpDispatcher(ring) as d:
            req = d.request(REQUEST)
            futures = {name: getattr(req, name)() for name in ASKS}
            emit(ring, REQUEST, S.DATA_AVAILABLE, dword(5), context=1)  # resolves data_available()
            emit(ring, REQUEST + 8, S.DATA_AVAILABLE, dword(6))         # kept: another handle's
            closing(ring, REQUEST)
            assert await futures["closed"] is None
            assert await futures["data_available"] == 5
            for name in ("send_complete", "headers_available", "read_complete", "write_complete"):
                with pytest.raises(ConnectionAbortedError, match=r"handle 0x5a5a0010 closed"):
                    await futures[name]
            assert REQUEST not in d._requests and d.pending == 0 and d.unclaimed == 1
            # the old request knows it closed; the handle value, reused, is a new request
            assert await req.closed() is None
            with pytest.raises(ConnectionAbortedError, match="before read_complete"):
                await req.read_complete()
            again = d.request(REQUEST)
            assert again is not req and again is d.request(REQUEST)
            fresh = again.send_complete()
            emit(ring, REQUEST, S.SENDREQUEST_COMPLETE)
            assert await fresh is None
            ring.close()

    run(main())


def test_handle_closing_discards_the_completions_kept_for_that_handle_and_counts_them():
    async def main():
        ring = cbring.Ring(64)
        async with aio.WinHttpDispatcher(ring) as d:
            emit(ring, REQUEST, S.SENDREQUEST_COMPLETE)
            emit(ring, REQUEST, S.DATA_AVAILABLE, dword(3))
            emit(ring, REQUEST + 8, S.DATA_AVAILABLE, dword(4))
            while d.unclaimed < 3:
                await asyncio.sleep(0)
            closing(ring, REQUEST)
            while d.discarded < 2:
                await asyncio.sleep(0)
            assert d.unclaimed == 1
            assert await d.request(REQUEST + 8).data_available() == 4
            ring.close()
        return d

    d = run(main())
    assert d.unknown == 4 and d.dispatched == 0 and d.discarded == 2 and d.unclaimed == 0


def test_unclaimed_completions_are_kept_per_handle_and_kind_bounded_and_counted():
    ring = cbring.Ring(64)
    d = aio.WinHttpDispatcher(ring, max_unclaimed=3)
    for n in range(1, 4):
        emit(ring, REQUEST, S.DATA_AVAILABLE, dword(n))
    emit(ring, REQUEST, S.READ_COMPLETE, bytes(9), 9)
    emit(ring, REQUEST + 8, S.WRITE_COMPLETE, dword(10))
    d.dispatch(ring.drain())
    assert d.unclaimed == 3 and d.discarded == 2 and d.unknown == 5

    async def main():
        req = d.request(REQUEST)
        return [await req.data_available(), await req.read_complete(),
                await d.request(REQUEST + 8).write_complete()]

    # the oldest went first: DATA_AVAILABLE 1 and 2
    assert run(main()) == [3, 9, 10]
    assert d.unclaimed == 0
    ring.close()


def test_a_timed_out_future_leaves_at_once_and_never_takes_the_next_completion():
    async def main():
        ring = cbring.Ring(1 << 10)
        async with aio.WinHttpDispatcher(ring) as d:
            req = d.request(REQUEST)
            for _ in range(100):
                for name in ASKS:
                    with pytest.raises(asyncio.TimeoutError):
                        await asyncio.wait_for(getattr(req, name)(), 0)
            assert d.pending == 0 and d._waiting == {}
            retry = req.read_complete()
            emit(ring, REQUEST, S.READ_COMPLETE, bytes(12), 12)
            result = await retry
            ring.close()
        return result

    assert run(main()) == 12


def test_a_cancelled_future_whose_callback_has_not_run_passes_the_completion_on():
    async def main():
        ring = cbring.Ring(64)
        d = aio.WinHttpDispatcher(ring)
        req = d.request(REQUEST)
        first, second = req.data_available(), req.data_available()
        first.cancel()
        emit(ring, REQUEST, S.DATA_AVAILABLE, dword(77))
        d.dispatch(ring.drain())
        ring.close()
        return second

    assert run(main()).result() == 77


def test_closing_the_ring_fails_every_waiting_future_with_dispatcher_closed(loop_flavour):
    async def main():
        ring = cbring.Ring(64)
        d = aio.WinHttpDispatcher(ring)
        task = asyncio.create_task(d.run())
        req = d.request(REQUEST)
        futures = [getattr(req, name)() for name in ASKS]
        emit(ring, REQUEST, S.SENDREQUEST_COMPLETE)
        assert await futures[0] is None
        ring.close()
        await task
        return d, req, futures

    d, req, futures = run(main())
    errors = [f.exception() for f in futures[1:]]
    assert all(isinstance(e, cbring.DispatcherClosed) for e in errors)
    assert "ring was closed and drained before HEADERS_AVAILABLE of WinHTTP handle 0x5a5a0010" in str(
        errors[0])
    assert d.closed and d.pending == 0
    with pytest.raises(cbring.DispatcherClosed, match=r"request\(0x7\) on a stopped dispatcher"):
        d.request(7)
    with pytest.raises(cbring.DispatcherClosed, match=r"read_complete\(\) of WinHTTP handle 0x5a5a0010"):
        req.read_complete()


def test_a_cancelled_runner_fails_every_waiting_future_chained_to_its_cancellation(loop_flavour):
    async def main():
        ring = cbring.Ring(64)
        d = aio.WinHttpDispatcher(ring)
        task = asyncio.create_task(d.run())
        futures = [getattr(d.request(REQUEST + h), name)() for h in range(4) for name in ASKS]
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        ring.close()
        return futures

    for f in run(main()):
        assert isinstance(f.exception(), cbring.DispatcherClosed)
        assert "runner was cancelled" in str(f.exception())
        assert isinstance(f.exception().__cause__, asyncio.CancelledError)


def test_a_failing_runner_fails_every_waiting_future_and_aclose_reraises_its_error():
    class Broken(aio.WinHttpDispatcher):
        def dispatch(self, batch):
            raise ZeroDivisionError("routing bug")

    async def main():
        ring = cbring.Ring(64)
        d = Broken(ring)
        futures = []
        with pytest.raises(ZeroDivisionError, match="routing bug"):
            async with d:
                futures = [getattr(d.request(REQUEST), name)() for name in ASKS]
                emit(ring, REQUEST, S.SENDREQUEST_COMPLETE)
                with pytest.raises(cbring.DispatcherClosed):
                    await futures[0]
        ring.close()
        return futures

    for f in run(main()):
        assert "runner failed (ZeroDivisionError: routing bug)" in str(f.exception())
        assert isinstance(f.exception().__cause__, ZeroDivisionError)


def test_a_progress_hook_that_raises_stops_the_dispatcher_and_says_why():
    def hook(event):
        raise KeyError("progress bug")

    async def main():
        ring = cbring.Ring(64)
        d = aio.WinHttpDispatcher(ring)
        with pytest.raises(KeyError, match="progress bug"):
            async with d:
                req = d.request(REQUEST, on_event=hook)
                headers = req.headers_available()
                emit(ring, REQUEST, S.RECEIVING_RESPONSE)
                with pytest.raises(cbring.DispatcherClosed, match="runner failed .KeyError"):
                    await headers
        ring.close()

    run(main())


def test_leaving_async_with_routes_what_is_ready_then_fails_the_rest_and_keeps_its_runner():
    async def main():
        ring = cbring.Ring(64)
        async with aio.WinHttpDispatcher(ring) as d:
            task = d._runner._task
            assert isinstance(task, asyncio.Task) and not task.done()
            req = d.request(REQUEST)
            ready, waiting = req.data_available(), req.read_complete()
            emit(ring, REQUEST, S.DATA_AVAILABLE, dword(11))
        assert task.done() and d.closed and d.pending == 0
        await d.aclose()   # idempotent
        ring.close()
        return ready, waiting

    ready, waiting = run(main())
    assert ready.result() == 11
    assert isinstance(waiting.exception(), cbring.DispatcherClosed)
    assert "closed (aclose())" in str(waiting.exception())


def test_dropped_records_fail_every_waiting_future_naming_the_count():
    async def main():
        ring = cbring.Ring(16, overflow="drop")
        async with aio.WinHttpDispatcher(ring) as d:
            requests = [d.request(REQUEST + 8 * h) for h in range(20)]
            futures = [r.data_available() for r in requests]
            closed = requests[0].closed()
            for h, r in enumerate(requests):
                emit(ring, r.handle, S.DATA_AVAILABLE, dword(h))
            assert ring.stats.dropped == 4
            outcomes = await asyncio.gather(*futures, closed, return_exceptions=True)
            ring.close()
        return outcomes

    outcomes = run(main())
    assert outcomes[:16] == list(range(16))
    for h, error in enumerate(outcomes[16:20], 16):
        assert isinstance(error, cbring.EventsDropped) and error.dropped == 4
        assert f"handle {REQUEST + 8 * h:#x} waited for DATA_AVAILABLE" in str(error)
    # a dropped HANDLE_CLOSING would leave closed() waiting forever too
    assert isinstance(outcomes[20], cbring.EventsDropped)


def test_a_second_consumer_on_the_same_ring_is_refused():
    async def main():
        ring = cbring.Ring(16)
        async with aio.WinHttpDispatcher(ring) as first:
            for second in (aio.WinHttpDispatcher(ring), aio.Dispatcher(ring)):
                with pytest.raises(RuntimeError, match="already has a consumer.*WinHttpDispatcher"):
                    async with second:
                        pass
            with pytest.raises(RuntimeError, match="already has a consumer"):
                async for _ in ring.batches():
                    pass
            with pytest.raises(RuntimeError, match="already has a consumer"):
                thread_dispatch.WinHttpDispatcher(ring).start()
            assert not first.closed
        async with aio.WinHttpDispatcher(ring):
            ring.close()

    run(main())


def test_events_that_are_not_winhttps_are_counted_and_never_routed():
    async def main():
        ring = cbring.Ring(64)
        d = aio.WinHttpDispatcher(ring)
        req = d.request(REQUEST)
        closed, sent = req.closed(), req.send_complete()
        # WinINet's HANDLE_CLOSING and a WinINet status whose value is SENDREQUEST_COMPLETE's
        _testing.call_status(ring.status_callback, REQUEST, 0, cbring.InternetStatus.HANDLE_CLOSING,
                             pointer(REQUEST))
        _testing.call_status(ring.status_callback, REQUEST, 0, S.SENDREQUEST_COMPLETE)
        d.dispatch(ring.drain())
        assert not closed.done() and not sent.done()
        assert d.unknown == 2 and d.dispatched == 0 and d.unclaimed == 0
        ring.close()

    run(main())


def test_a_request_error_naming_an_api_without_a_future_is_progress():
    async def main():
        ring = cbring.Ring(64)
        progress = []
        d = aio.WinHttpDispatcher(ring)
        req = d.request(REQUEST, on_event=progress.append)
        sent = req.send_complete()
        request_error(ring, REQUEST, API.API_GET_PROXY_FOR_URL, ERROR_WINHTTP_TIMEOUT)
        d.dispatch(ring.drain())
        assert not sent.done() and d.unclaimed == 0
        assert [(e.result, e.error) for e in progress] == [(API.API_GET_PROXY_FOR_URL, ERROR_WINHTTP_TIMEOUT)]
        ring.close()

    run(main())


@pytest.mark.parametrize("bad, error, message", [
    (True, TypeError, "hrequest must be an int"),
    ("5", TypeError, "hrequest must be an int"),
    (1.0, TypeError, "hrequest must be an int"),
    (0, ValueError, "hrequest must be a non-NULL HINTERNET"),
    (-1, ValueError, "hrequest must be a non-NULL HINTERNET"),
    (HANDLE_MAX + 1, ValueError, "hrequest must be a non-NULL HINTERNET"),
])
@pytest.mark.parametrize("flavour", ["aio", "thread"])
def test_request_refuses_what_is_not_a_handle(bad, error, message, flavour):
    async def main():
        module = aio if flavour == "aio" else thread_dispatch
        d = module.WinHttpDispatcher(cbring.Ring(16))
        with pytest.raises(error, match=message):
            d.request(bad)
        assert d._requests == {}
        assert d.request(HANDLE_MAX).handle == HANDLE_MAX

    run(main())


@pytest.mark.parametrize("module", [aio, thread_dispatch])
def test_bad_constructor_and_hook_arguments_are_refused_by_name(module):
    ring = cbring.Ring(16)
    with pytest.raises(TypeError, match="ring must be a cbring.Ring"):
        module.WinHttpDispatcher(object())
    with pytest.raises(ValueError, match="max_events must be a positive int"):
        module.WinHttpDispatcher(ring, max_events=0)
    with pytest.raises(ValueError, match="max_unclaimed must be a positive int"):
        module.WinHttpDispatcher(ring, max_unclaimed=True)
    with pytest.raises(TypeError, match="on_event must be callable or None, got int"):
        module.WinHttpDispatcher(ring).request(REQUEST, on_event=5)
    ring.close()


def test_other_tasks_run_between_any_two_batches_while_native_threads_saturate_the_ring():
    total = 100_000
    calls = [(S.REQUEST_SENT, dword(1), None)]

    class Watched(aio.WinHttpDispatcher):
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
        with _testing.Replay(ring.winhttp_callback, calls, threads=2, rounds=total // 2):
            async with Watched(ring) as d:
                while sum(d.sizes) < total:
                    await asyncio.sleep(0)
                ring.close()
        spinner.cancel()
        return d

    d = run(main())
    assert sum(d.sizes) == total == d.unknown and max(d.sizes) <= 256
    seen = d.ticks_at_batch
    assert all(b > a for a, b in zip(seen, seen[1:])), "two batches with no other task between"


def flow(reads, chunk):
    """The calls WinHTTP's callback gets for one GET of reads * chunk bytes, in Wine's order."""
    calls = [(S.HANDLE_CREATED, pointer(0), None), (S.SENDING_REQUEST, None, None),
             (S.REQUEST_SENT, dword(78), None), (S.SENDREQUEST_COMPLETE, None, None),
             (S.RECEIVING_RESPONSE, None, None), (S.RESPONSE_RECEIVED, dword(160), None),
             (S.HEADERS_AVAILABLE, None, None)]
    for _ in range(reads):
        calls += [(S.DATA_AVAILABLE, dword(chunk), None), (S.READ_COMPLETE, bytes(chunk), chunk)]
    calls += [(S.DATA_AVAILABLE, dword(0), None), (S.READ_COMPLETE, bytes(1), 0)]
    return calls


def replayed_closing_calls(threads):
    # Replay's thread t reports on handle t + 1 and cannot vary its info per thread:
    # each thread's HANDLE_CLOSING comes from call_status, after the thread is done
    return {t + 1: [(S.HANDLE_CLOSING, pointer(t + 1), None)] for t in range(threads)}


def test_native_threads_replaying_downloads_settle_every_future_and_every_event_is_counted(
        loop_flavour):
    threads, reads, chunk = 8, 50, 512
    calls = flow(reads, chunk)

    async def main():
        ring = cbring.Ring(1 << 12)
        progress = {t + 1: [] for t in range(threads)}
        async with aio.WinHttpDispatcher(ring, max_events=128) as d:
            asked = {}
            for h in progress:
                req = d.request(h, on_event=progress[h].append)
                asked[h] = ([req.send_complete(), req.headers_available()],
                            [req.data_available() for _ in range(reads + 1)],
                            [req.read_complete() for _ in range(reads + 1)], req.closed())
            with _testing.Replay(ring.winhttp_callback, calls, threads=threads):
                pass
            for h in progress:
                closing(ring, h)
            for h, (first, available, read, closed) in asked.items():
                assert await asyncio.gather(*first) == [None, None]
                assert await asyncio.gather(*available) == [chunk] * reads + [0]
                assert await asyncio.gather(*read) == [chunk] * reads + [0]
                assert await closed is None
            ring.close()
        return d, ring, progress

    d, ring, progress = run(main())
    total = threads * (len(calls) + 1)
    assert ring.stats.pushed == ring.stats.drained == total
    assert d.dispatched == total and d.unknown == d.pending == d.unclaimed == d.discarded == 0
    for h, events in progress.items():
        assert [e.status for e in events] == [S.HANDLE_CREATED, S.SENDING_REQUEST, S.REQUEST_SENT,
                                              S.RECEIVING_RESPONSE, S.RESPONSE_RECEIVED]
        assert {e.handle for e in events} == {h}
        # one thread's events in its order
        assert [e.context for e in events] == sorted(e.context for e in events)


def test_native_threads_completions_nobody_asked_for_are_kept_until_asked():
    threads, reads, chunk = 4, 30, 100
    calls = flow(reads, chunk)

    async def main():
        ring = cbring.Ring(1 << 12)
        async with aio.WinHttpDispatcher(ring) as d:
            with _testing.Replay(ring.winhttp_callback, calls, threads=threads):
                pass
            while d.unknown < threads * len(calls):
                await asyncio.sleep(0)
            got = {}
            for t in range(threads):
                req = d.request(t + 1)
                await req.send_complete()
                await req.headers_available()
                got[t + 1] = [(await req.data_available(), await req.read_complete())
                              for _ in range(reads + 1)]
            ring.close()
        return d, got

    d, got = run(main())
    assert got == {t + 1: [(chunk, chunk)] * reads + [(0, 0)] for t in range(threads)}
    assert d.unknown == threads * len(calls) and d.unclaimed == 0 and d.discarded == 0


def test_the_thread_flavour_downloads_from_another_thread_and_settles_every_future():
    bodies = {REQUEST: body_of(5000, 1), REQUEST + 8: body_of(100, 2)}
    ring = cbring.Ring(1 << 10)
    winhttp = WinHttp(ring, bodies, chunk=1024, redirects={REQUEST + 8: ["http://h/next"]})
    progress = []

    def fetch(d, hrequest):
        req = d.request(hrequest, on_event=progress.append)
        sent = req.send_complete()
        winhttp.WinHttpSendRequest(hrequest, None, 0, None, 0, 0, 0)
        assert sent.result(timeout=30) is None
        headers = req.headers_available()
        winhttp.WinHttpReceiveResponse(hrequest, None)
        headers.result(timeout=30)
        body = bytearray()
        while True:
            available = req.data_available()
            winhttp.WinHttpQueryDataAvailable(hrequest, None)
            n = available.result(timeout=30)
            if not n:
                break
            buffer = ctypes.create_string_buffer(n)
            done = req.read_complete()
            winhttp.WinHttpReadData(hrequest, buffer, n, None)
            body += buffer.raw[:done.result(timeout=30)]
        closed = req.closed()
        winhttp.WinHttpCloseHandle(hrequest)
        closed.result(timeout=30)
        return bytes(body)

    with thread_dispatch.WinHttpDispatcher(ring) as d:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            got = list(pool.map(lambda h: fetch(d, h), bodies))
        waiting = d.request(REQUEST + 16).write_complete()
        ring.close()
    assert got == list(bodies.values())
    assert [e.info for e in progress if e.status == S.REDIRECT] == ["http://h/next"]
    assert isinstance(waiting.exception(timeout=30), cbring.DispatcherClosed)
    assert d.pending == d.unclaimed == d.unknown == 0


def test_the_thread_flavours_request_error_fails_the_future_of_the_api_it_names():
    ring = cbring.Ring(64)
    with thread_dispatch.WinHttpDispatcher(ring) as d:
        req = d.request(REQUEST)
        futures = {name: getattr(req, name)() for name in ASKS}
        request_error(ring, REQUEST, API.API_RECEIVE_RESPONSE, ERROR_WINHTTP_CANNOT_CONNECT)
        error = futures["headers_available"].exception(timeout=30)
        assert isinstance(error, cbring.WinHttpError) and error.api == API.API_RECEIVE_RESPONSE
        closing(ring, REQUEST)
        assert futures["closed"].result(timeout=30) is None
        for name in ("send_complete", "data_available", "read_complete", "write_complete"):
            assert isinstance(futures[name].exception(timeout=0), ConnectionAbortedError)
        ring.close()


def test_stop_fails_every_waiting_future_of_the_thread_flavour_with_dispatcher_closed():
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring).start()
    futures = [getattr(d.request(REQUEST + h), name)() for h in range(5) for name in ASKS]
    d.stop()
    for f in futures:
        assert isinstance(f.exception(timeout=0), cbring.DispatcherClosed)
    assert "dispatcher was stopped before" in str(futures[0].exception())
    with pytest.raises(cbring.DispatcherClosed):
        d.request(1)
    d.stop()   # idempotent
    ring.close()


def test_closing_the_ring_ends_the_thread_flavour_and_fails_its_waiting_futures():
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring).start()
    futures = [d.request(REQUEST).read_complete(), d.request(REQUEST).closed()]
    ring.close()
    for f in futures:
        assert isinstance(f.exception(timeout=30), cbring.DispatcherClosed)
    assert "ring was closed and drained" in str(futures[0].exception())
    d.stop()


def test_a_failing_thread_fails_every_waiting_future_chained_to_its_error():
    class Broken(thread_dispatch.WinHttpDispatcher):
        def dispatch(self, batch):
            raise ZeroDivisionError("routing bug")

    ring = cbring.Ring(64)
    errors = []
    old_hook, threading.excepthook = threading.excepthook, errors.append
    try:
        d = Broken(ring)
        future = d.request(REQUEST).send_complete()
        d.start()
        emit(ring, REQUEST, S.SENDREQUEST_COMPLETE)
        error = future.exception(timeout=30)
        d.stop()
    finally:
        threading.excepthook = old_hook
    assert isinstance(error, cbring.DispatcherClosed) and isinstance(error.__cause__, ZeroDivisionError)
    assert [type(e.exc_value) for e in errors] == [ZeroDivisionError]
    ring.close()


def test_the_thread_flavours_cancelled_future_is_forgotten_at_once():
    ring = cbring.Ring(16)
    d = thread_dispatch.WinHttpDispatcher(ring)
    req = d.request(REQUEST)
    assert req.read_complete().cancel()
    assert d.pending == 0 and d._waiting == {}
    emit(ring, REQUEST, S.READ_COMPLETE, bytes(4), 4)
    emit(ring, REQUEST, S.READ_COMPLETE, bytes(8), 8)
    d.dispatch(ring.drain())
    assert d.unclaimed == 2
    assert [req.read_complete().result(timeout=0) for _ in range(2)] == [4, 8]
    ring.close()


def test_the_thread_flavours_dropped_records_fail_its_waiting_futures():
    ring = cbring.Ring(16, overflow="drop")
    d = thread_dispatch.WinHttpDispatcher(ring)
    futures = [d.request(REQUEST + h).data_available() for h in range(18)]
    for h in range(18):
        emit(ring, REQUEST + h, S.DATA_AVAILABLE, dword(h))
    with d:
        assert [f.result(timeout=30) for f in futures[:16]] == list(range(16))
        for f in futures[16:]:
            error = f.exception(timeout=30)
            assert isinstance(error, cbring.EventsDropped) and error.dropped == 2
        ring.close()


def test_the_thread_flavours_futures_may_be_asked_for_from_any_thread_while_it_routes():
    threads, per_thread = 4, 500
    ring = cbring.Ring(1 << 12)
    with thread_dispatch.WinHttpDispatcher(ring) as d:
        def asker(t):
            req = d.request(REQUEST + t)
            results = []
            for n in range(per_thread):
                done = req.write_complete()
                emit(ring, REQUEST + t, S.WRITE_COMPLETE, dword(n))
                results.append(done.result(timeout=30))
            return results

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            got = list(pool.map(asker, range(threads)))
        ring.close()
    assert got == [list(range(per_thread))] * threads
    assert d.dispatched == threads * per_thread and d.pending == d.unclaimed == 0


def readme_section():
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("\n## WinHTTP", 1)[1].split("\n### asyncio and threads", 1)[1]
    return re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)[0]


def test_the_readmes_winhttp_flow_runs_as_written():
    bodies = {REQUEST: body_of(70_000, 3), REQUEST + 8: body_of(10, 4), REQUEST + 16: b""}
    ring = cbring.Ring(1 << 12)
    winhttp = WinHttp(ring, bodies, chunk=8192, redirects={REQUEST + 8: ["http://example.test/b"]})
    namespace = dict(winhttp.functions())
    exec(compile(readme_section(), "README.md WinHTTP asyncio", "exec"), namespace)
    got = asyncio.run(namespace["main"](ring, list(bodies)), debug=True)
    assert got == list(bodies.values())


def test_stop_settles_every_future_of_the_thread_flavour_when_a_done_callback_cancels_another():
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring)
    first = d.request(REQUEST).read_complete()
    sibling = d.request(REQUEST + 1).read_complete()
    last = d.request(REQUEST + 2).closed()
    first.add_done_callback(lambda f: sibling.cancel())
    d.stop()
    assert isinstance(first.exception(timeout=0), cbring.DispatcherClosed)
    assert sibling.cancelled()
    assert isinstance(last.exception(timeout=0), cbring.DispatcherClosed)
    assert d.pending == 0 and d._waiting == {}
    ring.close()


def test_the_thread_flavours_runner_settles_every_future_when_a_done_callback_cancels_another_at_ring_close():
    ring = cbring.Ring(64)
    errors = []
    old_hook, threading.excepthook = threading.excepthook, errors.append
    try:
        d = thread_dispatch.WinHttpDispatcher(ring).start()
        first = d.request(REQUEST).read_complete()
        sibling = d.request(REQUEST + 1).read_complete()
        last = d.request(REQUEST + 2).closed()
        first.add_done_callback(lambda f: sibling.cancel())
        ring.close()
        # the runner's own settling, before any stop(): its thread settles them
        error = last.exception(timeout=30)
        d.stop()
    finally:
        threading.excepthook = old_hook
    assert errors == []
    assert isinstance(error, cbring.DispatcherClosed) and "ring was closed and drained" in str(error)
    assert isinstance(first.exception(timeout=0), cbring.DispatcherClosed) and sibling.cancelled()


def test_a_future_asked_by_a_done_callback_while_drops_are_failed_waits_for_its_completion():
    ring = cbring.Ring(16, overflow="drop")
    d = thread_dispatch.WinHttpDispatcher(ring)
    a, b = d.request(REQUEST), d.request(REQUEST + 1)
    retries = []
    # each asks again as its future fails: one a kind nobody waited for, one the kind still being failed
    first = a.read_complete()
    first.add_done_callback(lambda f: retries.append(b.data_available()))
    second = b.read_complete()
    second.add_done_callback(lambda f: retries.append(a.read_complete()))
    for _ in range(40):
        emit(ring, 0x9999, S.RESOLVING_NAME)
    assert ring.stats.dropped == 40 - 16
    d.dispatch(ring.drain())
    for f in (first, second):
        error = f.exception(timeout=0)
        assert isinstance(error, cbring.EventsDropped) and error.dropped == 40 - 16
    assert len(retries) == 2 and not any(f.done() for f in retries)
    assert d.pending == 2
    emit(ring, REQUEST + 1, S.DATA_AVAILABLE, dword(11))
    emit(ring, REQUEST, S.READ_COMPLETE, bytes(7), 7)
    d.dispatch(ring.drain())
    assert [f.result(timeout=0) for f in retries] == [11, 7]
    assert d.pending == 0 and d._waiting == {} and d.unclaimed == 0
    ring.close()


@pytest.mark.parametrize("asks_again", [False, True])
def test_a_done_callback_that_cancels_the_last_other_future_of_its_queue_leaves_the_routing_whole(
        asks_again):
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring)
    req = d.request(REQUEST)
    first, sibling = req.data_available(), req.data_available()
    again = []

    def cancel_the_other(future):
        sibling.cancel()
        if asks_again:
            again.append(req.data_available())

    first.add_done_callback(cancel_the_other)
    emit(ring, REQUEST, S.DATA_AVAILABLE, dword(5))
    d.dispatch(ring.drain())
    assert first.result(timeout=0) == 5 and sibling.cancelled()
    assert d.pending == len(again) and d.unclaimed == 0
    later = again[0] if asks_again else req.data_available()
    emit(ring, REQUEST, S.DATA_AVAILABLE, dword(6))
    d.dispatch(ring.drain())
    assert later.result(timeout=0) == 6
    assert d.pending == 0 and d._waiting == {} and d.dispatched == 2
    ring.close()


def cancel_from_another_thread_inside_done(monkeypatch, targets):
    """The first time each of targets is asked done(), another thread cancels
    it, and is joined, before done() answers False: a user's cancel() landing
    between the routing's done() and set_result().  The other thread runs
    only Future.cancel (the state change): the rest of _ThreadWaiter.cancel
    would wait for the dispatcher's lock, which the routing holds."""
    done = thread_dispatch._ThreadWaiter.done
    armed = set(map(id, targets))

    def racing_done(self):
        answer = done(self)
        if id(self) in armed:
            armed.discard(id(self))
            canceller = threading.Thread(target=concurrent.futures.Future.cancel, args=(self,))
            canceller.start()
            canceller.join()
            assert self.cancelled()
        return answer

    monkeypatch.setattr(thread_dispatch._ThreadWaiter, "done", racing_done)
    return armed


def test_a_thread_flavours_future_cancelled_between_done_and_set_result_passes_its_completion_on(
        monkeypatch):
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring)
    a, b = d.request(REQUEST), d.request(REQUEST + 1)
    racing, next_in_line = a.read_complete(), a.read_complete()
    alone = b.send_complete()
    armed = cancel_from_another_thread_inside_done(monkeypatch, [racing, alone])
    emit(ring, REQUEST, S.READ_COMPLETE, bytes(9), 9)
    request_error(ring, REQUEST + 1, API.API_SEND_REQUEST, ERROR_WINHTTP_TIMEOUT)
    d.dispatch(ring.drain())
    assert not armed and racing.cancelled() and alone.cancelled()
    assert next_in_line.result(timeout=0) == 9
    # nobody else waited: the error is kept for the next send_complete()
    assert d.unclaimed == 1 and d.pending == 0 and d._waiting == {}
    error = b.send_complete().exception(timeout=0)
    assert isinstance(error, cbring.WinHttpError) and error.errno == ERROR_WINHTTP_TIMEOUT
    ring.close()


@pytest.mark.parametrize("info", [None, b"\x05\0\0"], ids=["null", "short"])
def test_a_request_error_without_a_readable_async_result_fails_every_future_of_its_handle(info):
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring)
    req, other = d.request(REQUEST), d.request(REQUEST + 1)
    sent, read = req.send_complete(), req.read_complete()
    closed, elsewhere = req.closed(), other.send_complete()
    emit(ring, REQUEST, S.REQUEST_ERROR, info, len(info or b""))
    d.dispatch(ring.drain())
    for f, name in ((sent, "SENDREQUEST_COMPLETE"), (read, "READ_COMPLETE")):
        error = f.exception(timeout=0)
        assert isinstance(error, ValueError)
        assert re.fullmatch(rf"REQUEST_ERROR for WinHTTP handle {REQUEST:#x} carried no readable "
                            rf"WINHTTP_ASYNC_RESULT \(flags \d+\) while it waited for {name}", str(error))
    # its HANDLE_CLOSING is still to come, and other handles are not its
    assert not closed.done() and not elsewhere.done()
    assert (d.dispatched, d.discarded, d.unclaimed, d.pending) == (1, 0, 0, 2)
    # with nobody waiting for a completion of the handle, it is counted as discarded
    emit(ring, REQUEST, S.REQUEST_ERROR, info, len(info or b""))
    d.dispatch(ring.drain())
    assert (d.dispatched, d.discarded, d.unclaimed, d.pending) == (2, 1, 0, 2)
    ring.close()


def test_a_request_error_naming_an_api_without_a_future_and_no_progress_hook_is_counted_discarded():
    ring = cbring.Ring(64)
    d = thread_dispatch.WinHttpDispatcher(ring)
    sent = d.request(REQUEST).send_complete()
    request_error(ring, REQUEST, API.API_GET_PROXY_FOR_URL, ERROR_WINHTTP_TIMEOUT)
    request_error(ring, REQUEST + 1, API.API_GET_PROXY_FOR_URL, ERROR_WINHTTP_TIMEOUT)   # no request()
    d.dispatch(ring.drain())
    assert not sent.done()
    assert (d.dispatched, d.unknown, d.discarded, d.unclaimed) == (1, 1, 1, 0)
    ring.close()
