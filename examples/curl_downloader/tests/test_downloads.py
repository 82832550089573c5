"""The downloader against a loopback server: every file arrives whole, every
transfer is reported in WinINet's shapes, every failure with its error."""

import asyncio
import hashlib
import os
import random
import select
import subprocess
import sys

import pytest

import cbring
from cbring import InternetStatus
from conftest import run
from curl_downloader import Downloader, Engine, wininet_error
from loopback import content

CREATED = InternetStatus.HANDLE_CREATED
RECEIVED = InternetStatus.RESPONSE_RECEIVED
COMPLETE = InternetStatus.REQUEST_COMPLETE
CLOSING = InternetStatus.HANDLE_CLOSING

ERROR_PATH_NOT_FOUND = 3
ERROR_ACCESS_DENIED = 5
ERROR_WRITE_FAULT = 29
ERROR_OPEN_FAILED = 110
ERROR_DISK_FULL = 112
ERROR_INTERNET_TIMEOUT = 12002
ERROR_INTERNET_INVALID_URL = 12005
ERROR_INTERNET_UNRECOGNIZED_SCHEME = 12006
ERROR_INTERNET_OPERATION_CANCELLED = 12017
ERROR_INTERNET_CANNOT_CONNECT = 12029
ERROR_INTERNET_CONNECTION_ABORTED = 12030
ERROR_INTERNET_CONNECTION_RESET = 12031
ERROR_HTTP_INVALID_SERVER_RESPONSE = 12152
ERROR_HTTP_REDIRECT_FAILED = 12156


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(f.read()).hexdigest()


class Recorder:
    """Keeps every event the Downloader routed, grouped by context; an
    on_batch callback, so it runs on the event loop."""

    def __init__(self):
        self.by_context = {}
        self._waiters = {}     # (context, status) -> Event

    def __call__(self, batch):
        for event in batch:
            self.by_context.setdefault(event.context, []).append(event)
            waiter = self._waiters.pop((event.context, event.status), None)
            if waiter is not None:
                waiter.set()

    async def closed(self, context):
        """Returns once the current handle of context has reported HANDLE_CLOSING."""
        events = self.by_context.get(context)
        if events and events[-1].status == CLOSING:
            return
        await self._waiters.setdefault((context, CLOSING), asyncio.Event()).wait()

    async def received(self, context):
        """Returns once the current handle of context has reported RESPONSE_RECEIVED."""
        events = self.by_context.get(context)
        if events and events[-1].status == RECEIVED:
            return
        await self._waiters.setdefault((context, RECEIVED), asyncio.Event()).wait()


def check_lifecycle(events, handle, *, error=0, size=None):
    """HANDLE_CREATED, RESPONSE_RECEIVED per chunk, REQUEST_COMPLETE, HANDLE_CLOSING, in that order."""
    statuses = [e.status for e in events]
    assert statuses[0] == CREATED and events[0].result == handle and events[0].error == 0, events[:1]
    assert statuses[-2:] == [COMPLETE, CLOSING], statuses
    assert set(statuses[1:-2]) <= {RECEIVED}, statuses
    complete, closing = events[-2:]
    assert (complete.result, complete.error) == ((0, error) if error else (1, 0))
    assert closing.info == handle
    assert {e.handle for e in events} == {handle}
    if size is not None:
        assert sum(e.info for e in events[1:-2]) == size


# ---- files arrive whole

SIZES = [0, 1, 1000, 65535, 65536, 65537, 200_000] + \
    [random.Random(5).randrange(0, 300_000) for _ in range(293)] + [4 << 20] * 4


def test_every_file_arrives_with_its_size_and_sha256_and_one_event_lifecycle(server, tmp_path):
    recorder = Recorder()
    ring = cbring.Ring()

    async def main():
        async with Downloader(ring, connections=8, on_batch=recorder) as downloader:
            gets = [downloader.get(f"{server.base}/files/{size}/{i}", tmp_path / f"{i}.bin", context=1000 + i)
                    for i, size in enumerate(SIZES)]
            return await asyncio.gather(*gets), downloader

    transfers, downloader = run(main())
    assert len(transfers) == len(SIZES)
    assert len({t.handle for t in transfers}) == len(SIZES)
    for i, (size, transfer) in enumerate(zip(SIZES, transfers)):
        path = tmp_path / f"{i}.bin"
        assert transfer.context == 1000 + i
        assert transfer.received == size == path.stat().st_size
        assert transfer.result.dwResult == 1 and transfer.result.dwError == 0
        assert file_sha256(path) == sha256(content(size, i)), f"file {i} differs"
        check_lifecycle(recorder.by_context[1000 + i], transfer.handle, size=size)
    assert downloader.engine.stats == (len(SIZES), len(SIZES), 0, 0)
    assert downloader.unknown == 0
    assert ring.stats.pushed == sum(len(events) for events in recorder.by_context.values())


@pytest.mark.parametrize("route", ["chunked", "redirect"])
def test_chunked_and_redirected_files_arrive_whole(server, tmp_path, route):
    sizes = [0, 5, 70_000, 1 << 20]

    async def main():
        async with Downloader(cbring.Ring()) as downloader:
            return await asyncio.gather(*[
                downloader.get(f"{server.base}/{route}/{size}/{i}", tmp_path / f"{i}.bin")
                for i, size in enumerate(sizes)])

    transfers = run(main())
    for i, (size, transfer) in enumerate(zip(sizes, transfers)):
        assert transfer.received == size
        assert file_sha256(tmp_path / f"{i}.bin") == sha256(content(size, i))


@pytest.mark.parametrize("step", [1, 100_000, 1 << 31], ids=["every-chunk", "100kB", "once"])
def test_response_received_carries_at_least_progress_step_bytes_and_sums_to_the_size(server, tmp_path, step):
    size = 1_000_000
    recorder = Recorder()

    async def main():
        async with Downloader(cbring.Ring(), progress_step=step, on_batch=recorder) as downloader:
            return await downloader.get(f"{server.base}/files/{size}/1", tmp_path / "out.bin", context=1)

    transfer = run(main())
    received = [e.info for e in recorder.by_context[1] if e.status == RECEIVED]
    assert sum(received) == transfer.received == size
    assert all(n >= step for n in received[:-1])
    if step == 1:      # one per chunk: no chunk is larger than the 64 KiB read buffer
        assert max(received) <= 65536 and len(received) >= size // 65536
    else:
        assert len(received) <= size // step + 1


def test_downloads_succeed_through_a_ring_of_eight_slots(server, tmp_path):
    ring = cbring.Ring(capacity=8)

    async def main():
        async with Downloader(ring, connections=4) as downloader:
            return await asyncio.gather(*[
                downloader.get(f"{server.base}/files/{300_000}/{i}", tmp_path / f"{i}.bin")
                for i in range(40)])

    transfers = run(main())
    assert [t.received for t in transfers] == [300_000] * 40
    for i in range(40):
        assert file_sha256(tmp_path / f"{i}.bin") == sha256(content(300_000, i))
    assert ring.stats.dropped == 0


def test_a_context_is_free_again_as_soon_as_its_get_returns(server, tmp_path):
    async def main():
        async with Downloader(cbring.Ring()) as downloader:
            results = []
            for i in range(60):        # every kind of ending, one after the other, one context
                url = f"{server.base}/files/{i * 1000}/{i}" if i % 3 else f"{server.base}/status/404"
                try:
                    results.append((await downloader.get(url, tmp_path / "same.bin", context=7)).received)
                except cbring.WinINetError as e:
                    results.append(e.dwError)
            return results

    assert run(main()) == [404 if i % 3 == 0 else i * 1000 for i in range(60)]


def test_get_all_returns_every_transfer_or_error_in_order_and_leaves_no_failed_file(server, tmp_path):
    recorder = Recorder()
    jobs = []
    for i in range(120):
        if i % 10 == 3:
            jobs.append((f"{server.base}/status/404", tmp_path / f"{i}.bin"))
        else:
            jobs.append((f"{server.base}/files/{i * 997}/{i}", tmp_path / f"{i}.bin"))

    async def main():
        async with Downloader(cbring.Ring(), connections=4, on_batch=recorder) as downloader:
            results = await downloader.get_all(jobs)
            empty = await downloader.get_all([])
            return results, empty, downloader

    results, empty, downloader = run(main())
    assert empty == []
    assert len(results) == len(jobs)
    assert len({r.context for r in results}) == len(jobs)
    for i, result in enumerate(results):
        path = tmp_path / f"{i}.bin"
        if i % 10 == 3:
            assert isinstance(result, cbring.WinINetError) and result.dwError == 404, result
            assert not path.exists()
            check_lifecycle(recorder.by_context[result.context], recorder.by_context[result.context][0].result,
                            error=404)
        else:
            assert result.received == i * 997 == path.stat().st_size
            assert file_sha256(path) == sha256(content(i * 997, i))
            check_lifecycle(recorder.by_context[result.context], result.handle, size=i * 997)
    assert downloader.unknown == 0


def test_at_most_max_transfers_run_and_the_rest_wait_with_no_file_open(server, tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        async with Downloader(cbring.Ring(), connections=2, max_transfers=2) as downloader:
            stalled = [asyncio.ensure_future(downloader.get(f"{server.base}/stall/10", tmp_path / f"s{i}"))
                       for i in range(3)]
            for _ in range(2):
                assert await loop.run_in_executor(None, server.stalled.acquire, True, 30)
            # two run; the third waits in the engine: not started, its file not created
            started = downloader.engine.stats[0]
            exists = (tmp_path / "s2").exists()
            for task in stalled:
                task.cancel()
            outcomes = await asyncio.gather(*stalled, return_exceptions=True)
            after = await downloader.get(f"{server.base}/files/10/1", tmp_path / "after")
            return started, exists, outcomes, after

    started, exists, outcomes, after = run(main())
    assert started == 2 and not exists
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert after.received == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after"]


def test_cancelling_get_all_cancels_the_transfers_still_running(server, tmp_path):
    recorder = Recorder()

    async def main():
        loop = asyncio.get_running_loop()
        async with Downloader(cbring.Ring(), on_batch=recorder) as downloader:
            task = asyncio.ensure_future(downloader.get_all(
                [(f"{server.base}/stall/100", tmp_path / f"{i}.bin") for i in range(3)]))
            for _ in range(3):
                assert await loop.run_in_executor(None, server.stalled.acquire, True, 30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for context in list(recorder.by_context):
                await recorder.closed(context)
        return downloader

    downloader = run(main())
    assert len(recorder.by_context) == 3
    for events in recorder.by_context.values():
        check_lifecycle(events, events[0].result, error=ERROR_INTERNET_OPERATION_CANCELLED)
    assert downloader.engine.stats == (3, 3, 3, 0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where,error", [
    ("missing/dir/out.bin", ERROR_PATH_NOT_FOUND),
    ("", ERROR_ACCESS_DENIED),              # the folder itself: not a file
    ("fifo", ERROR_OPEN_FAILED),            # a FIFO nobody reads: refused, not waited on
], ids=["missing-folder", "a-folder", "fifo-without-reader"])
def test_a_file_that_cannot_be_opened_fails_its_get_with_a_system_code(server, tmp_path, where, error):
    if where == "fifo":
        os.mkfifo(tmp_path / "fifo")
    recorder = Recorder()

    async def main():
        async with Downloader(cbring.Ring(), on_batch=recorder) as downloader:
            bad = downloader.get(f"{server.base}/files/10/1", tmp_path / where, context=1)
            good = downloader.get(f"{server.base}/files/10/2", tmp_path / "good.bin", context=2)
            return await asyncio.gather(bad, good, return_exceptions=True)

    bad, good = run(main())
    assert isinstance(bad, cbring.WinINetError) and (bad.dwError, bad.context) == (error, 1), bad
    check_lifecycle(recorder.by_context[1], recorder.by_context[1][0].result, error=error, size=0)
    assert good.received == 10
    assert tmp_path.is_dir()                 # a failure removes only a file the engine created


# ---- failures arrive with their WinINet error

FAILURES = [
    ("/status/404", 404),
    ("/status/500", 500),
    ("/status/503", 503),
    ("/truncate/100000", ERROR_INTERNET_CONNECTION_ABORTED),
    ("/reset/100000", ERROR_INTERNET_CONNECTION_RESET),
    ("/nothing", ERROR_HTTP_INVALID_SERVER_RESPONSE),
    ("/loop", ERROR_HTTP_REDIRECT_FAILED),
]


@pytest.mark.parametrize("route,error", FAILURES, ids=[f[0].split("/")[1] for f in FAILURES])
def test_a_failed_download_raises_its_error_and_leaves_no_file(server, tmp_path, route, error):
    recorder = Recorder()
    path = tmp_path / "out.bin"

    async def main():
        async with Downloader(cbring.Ring(), on_batch=recorder) as downloader:
            good = downloader.get(f"{server.base}/files/5000/3", tmp_path / "good.bin", context=2)
            bad = downloader.get(server.base + route, path, context=1)
            return await asyncio.gather(good, bad, return_exceptions=True)

    good, failure = run(main())
    assert isinstance(failure, cbring.WinINetError), failure
    assert (failure.dwError, failure.context) == (error, 1)
    assert not path.exists()
    events = recorder.by_context[1]
    check_lifecycle(events, events[0].result, error=error)
    assert good.received == 5000                 # a failure next to it does not disturb it


def test_a_refused_connection_raises_cannot_connect(refused_url, tmp_path):
    async def main():
        async with Downloader(cbring.Ring()) as downloader:
            await downloader.get(refused_url, tmp_path / "out.bin", context=9)

    with pytest.raises(cbring.WinINetError) as info:
        run(main())
    assert info.value.dwError == ERROR_INTERNET_CANNOT_CONNECT
    assert info.value.name == "ERROR_INTERNET_CANNOT_CONNECT"
    assert info.value.context == 9
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("url,error", [
    ("ftp://127.0.0.1:9/file", ERROR_INTERNET_UNRECOGNIZED_SCHEME),
    ("file:///etc/hostname", ERROR_INTERNET_UNRECOGNIZED_SCHEME),
    ("http://[::1/", ERROR_INTERNET_INVALID_URL),
], ids=["ftp", "file", "malformed"])
def test_urls_that_are_not_http_are_refused_before_any_connection(tmp_path, url, error):
    async def main():
        async with Downloader(cbring.Ring()) as downloader:
            await downloader.get(url, tmp_path / "out.bin")

    with pytest.raises(cbring.WinINetError) as info:
        run(main())
    assert info.value.dwError == error


def test_a_stalled_server_raises_timeout(server, tmp_path):
    async def main():
        async with Downloader(cbring.Ring(), timeout=0.5) as downloader:
            await downloader.get(f"{server.base}/stall/1000", tmp_path / "out.bin")

    with pytest.raises(cbring.WinINetError) as info:
        run(main())
    assert info.value.dwError == ERROR_INTERNET_TIMEOUT
    assert info.value.name == "ERROR_INTERNET_TIMEOUT"


def test_a_write_that_fails_raises_write_fault_and_the_transfer_stops(server, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = [os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)]   # lets get() open the write end
    recorder = Recorder()

    def close_reader_once_created(batch):
        recorder(batch)
        if reader and 4 in recorder.by_context:
            os.close(reader.pop())  # from here on writes fail with EPIPE (Python ignores SIGPIPE)

    async def main():
        async with Downloader(cbring.Ring(), on_batch=close_reader_once_created) as downloader:
            await downloader.get(f"{server.base}/files/1000000/1", fifo, context=4)

    with pytest.raises(cbring.WinINetError) as info:
        run(main())
    assert info.value.dwError == ERROR_WRITE_FAULT
    events = recorder.by_context[4]
    check_lifecycle(events, events[0].result, error=ERROR_WRITE_FAULT)
    assert sum(e.info for e in events[1:-2]) < 1000000        # it stopped at the first failed write


def test_curl_errors_map_to_wininet_codes():
    # CURLcode values from curl.h
    assert wininet_error(0, 200) == 0
    assert wininet_error(0, 204) == 0
    assert wininet_error(0, 304) == 304                        # a final status that is not 2xx
    assert wininet_error(22, 404) == 404                       # CURLE_HTTP_RETURNED_ERROR
    assert wininet_error(6) == 12007                           # COULDNT_RESOLVE_HOST: NAME_NOT_RESOLVED
    assert wininet_error(5) == 12007                           # COULDNT_RESOLVE_PROXY
    assert wininet_error(7) == ERROR_INTERNET_CANNOT_CONNECT
    assert wininet_error(28) == ERROR_INTERNET_TIMEOUT
    assert wininet_error(18) == ERROR_INTERNET_CONNECTION_ABORTED   # PARTIAL_FILE
    assert wininet_error(56) == ERROR_INTERNET_CONNECTION_RESET     # RECV_ERROR
    assert wininet_error(55) == ERROR_INTERNET_CONNECTION_RESET     # SEND_ERROR
    assert wininet_error(52) == ERROR_HTTP_INVALID_SERVER_RESPONSE  # GOT_NOTHING
    assert wininet_error(8) == ERROR_HTTP_INVALID_SERVER_RESPONSE   # WEIRD_SERVER_REPLY
    assert wininet_error(3) == ERROR_INTERNET_INVALID_URL
    assert wininet_error(1) == ERROR_INTERNET_UNRECOGNIZED_SCHEME
    assert wininet_error(47) == ERROR_HTTP_REDIRECT_FAILED
    assert wininet_error(42) == ERROR_INTERNET_OPERATION_CANCELLED
    assert wininet_error(35) == 12157                          # SSL_CONNECT_ERROR: SECURITY_CHANNEL_ERROR
    assert wininet_error(60) == 12045                          # PEER_FAILED_VERIFICATION: INVALID_CA
    assert wininet_error(27) == 8                              # OUT_OF_MEMORY: ERROR_NOT_ENOUGH_MEMORY
    assert wininet_error(23, 0, 28) == ERROR_DISK_FULL         # WRITE_ERROR with ENOSPC
    assert wininet_error(23, 0, 5) == ERROR_WRITE_FAULT                      # WRITE_ERROR otherwise: ERROR_WRITE_FAULT
    assert wininet_error(2) == 12004                           # anything else: INTERNAL_ERROR


# ---- cancellation and shutdown

def test_cancelling_a_get_cancels_its_transfer_and_frees_its_context(server, tmp_path):
    recorder = Recorder()
    path = tmp_path / "out.bin"

    async def main():
        loop = asyncio.get_running_loop()
        async with Downloader(cbring.Ring(), progress_step=1, on_batch=recorder) as downloader:
            task = asyncio.ensure_future(downloader.get(f"{server.base}/stall/1000", path, context=5))
            assert await loop.run_in_executor(None, server.stalled.acquire, True, 30)
            # the server has sent its one byte; cancel once it is in the file and reported
            await recorder.received(5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await recorder.closed(5)          # the context is free once its handle has closed
            return await downloader.get(f"{server.base}/files/10/1", path, context=5)

    again = run(main())
    assert again.received == 10 and again.context == 5
    events = recorder.by_context[5]
    first = events[:[e.status for e in events].index(CLOSING) + 1]
    check_lifecycle(first, first[0].result, error=ERROR_INTERNET_OPERATION_CANCELLED, size=1)
    check_lifecycle(events[len(first):], again.handle, size=10)


def test_closing_the_downloader_fails_running_gets_with_cancelled(server, tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        downloader = await Downloader(cbring.Ring()).start()
        gets = [asyncio.ensure_future(downloader.get(f"{server.base}/stall/1000", tmp_path / f"{i}.bin"))
                for i in range(3)]
        for _ in gets:
            assert await loop.run_in_executor(None, server.stalled.acquire, True, 30)
        await downloader.aclose()
        return await asyncio.gather(*gets, return_exceptions=True), downloader

    results, downloader = run(main())
    assert [getattr(r, "dwError", r) for r in results] == [ERROR_INTERNET_OPERATION_CANCELLED] * 3
    assert downloader.engine.closed and downloader.engine.stats == (3, 3, 3, 0)
    assert list(tmp_path.iterdir()) == []


def test_closing_the_ring_under_the_downloader_fails_waiting_gets(server, tmp_path):
    ring = cbring.Ring()

    async def main():
        loop = asyncio.get_running_loop()
        async with Downloader(ring) as downloader:
            task = asyncio.ensure_future(downloader.get(f"{server.base}/stall/1000", tmp_path / "x"))
            assert await loop.run_in_executor(None, server.stalled.acquire, True, 30)
            ring.close()
            with pytest.raises(RuntimeError, match="ring was closed"):
                await task

    run(main())


# ---- arguments

def test_a_context_in_use_is_refused(server, tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        async with Downloader(cbring.Ring()) as downloader:
            task = asyncio.ensure_future(downloader.get(f"{server.base}/stall/10", tmp_path / "a", context=3))
            assert await loop.run_in_executor(None, server.stalled.acquire, True, 30)
            with pytest.raises(ValueError, match="context 3 is in use"):
                await downloader.get(f"{server.base}/files/10/1", tmp_path / "b", context=3)
            with pytest.raises(ValueError, match="non-negative int"):
                await downloader.get(f"{server.base}/files/10/1", tmp_path / "b", context=-1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    run(main())


def test_a_ring_that_may_drop_or_a_non_ring_is_refused():
    with pytest.raises(ValueError, match="overflow='spill'"):
        Downloader(cbring.Ring(overflow="drop"))
    with pytest.raises(TypeError, match="cbring.Ring"):
        Downloader(object())
    with pytest.raises(TypeError, match="expected a cbring.Ring, got list"):
        Engine([])
    with pytest.raises(ValueError, match="connections"):
        Engine(cbring.Ring(), connections=0)


def test_get_before_start_and_after_close_is_refused(tmp_path):
    async def main():
        downloader = Downloader(cbring.Ring())
        with pytest.raises(RuntimeError, match="start"):
            await downloader.get("http://127.0.0.1:9/", tmp_path / "x")
        await downloader.start()
        await downloader.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await downloader.get("http://127.0.0.1:9/", tmp_path / "x")
        with pytest.raises(RuntimeError, match="closed Engine"):
            downloader.engine.submit("http://127.0.0.1:9/", 0, 1)

    run(main())


# ---- the engine thread never takes the GIL

@pytest.fixture
def server_process():
    """The loopback server in a process of its own, whose GIL is not ours."""
    here = os.path.dirname(__file__)
    proc = subprocess.Popen([sys.executable, os.path.join(here, "loopback.py")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the server process did not start"
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}"
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


def test_transfers_finish_while_python_holds_the_gil_and_every_event_is_kept(server_process, tmp_path):
    ring = cbring.Ring(capacity=16)         # far fewer slots than events: the rest must spill
    sizes = [(i * 7919) % 200_000 for i in range(50)]
    with Engine(ring, connections=4) as engine:
        handles = {}
        for i, size in enumerate(sizes):
            fd = os.open(tmp_path / f"{i}.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            handles[engine.submit(f"{server_process}/files/{size}/{i}", fd, i)] = i
        # nothing drains the ring and nothing releases the GIL until all 50 are done
        assert engine._wait_holding_gil(len(sizes), 60), "the engine thread could not finish without the GIL"
    events = list(ring.drain())
    assert ring.stats.spilled > 0 and ring.stats.dropped == 0
    by_context = {}
    for event in events:
        by_context.setdefault(event.context, []).append(event)
    for handle, i in handles.items():
        check_lifecycle(by_context[i], handle, size=sizes[i])
        assert file_sha256(tmp_path / f"{i}.bin") == sha256(content(sizes[i], i))
    assert len(events) == ring.stats.pushed
