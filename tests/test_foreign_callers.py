"""ring.status_callback called the way other code would: from ctypes and cffi,
with WinINet's own structures, from several threads at once."""

import ctypes
import threading

import cffi
import pytest

import cbring
from cbring import AsyncResult, InternetStatus, _testing

HINTERNET = ctypes.c_void_p
DWORD_PTR = ctypes.c_size_t
DWORD = ctypes.c_uint32
INTERNET_STATUS_CALLBACK = ctypes.CFUNCTYPE(None, HINTERNET, DWORD_PTR, DWORD, ctypes.c_void_p, DWORD)


class INTERNET_ASYNC_RESULT(ctypes.Structure):
    _fields_ = [("dwResult", DWORD_PTR), ("dwError", DWORD)]


@pytest.fixture
def ctypes_callback(ring):
    """The ring's callback as a ctypes INTERNET_STATUS_CALLBACK."""
    return INTERNET_STATUS_CALLBACK(ring.status_callback)


def test_ctypes_structure_has_asyncresults_size_and_layout():
    assert ctypes.sizeof(INTERNET_ASYNC_RESULT) == AsyncResult.SIZE
    assert bytes(INTERNET_ASYNC_RESULT(5, 6)) == bytes(AsyncResult(5, 6))
    assert AsyncResult.from_bytes(INTERNET_ASYNC_RESULT(7, 8)) == AsyncResult(7, 8)


def test_a_ctypes_caller_passing_internet_async_result_gets_result_and_error(ring, ctypes_callback):
    created = INTERNET_ASYNC_RESULT(0xC0FFEE, 0)
    failed = INTERNET_ASYNC_RESULT(0, 12002)
    ctypes_callback(0xC0FFEE, 11, 60, ctypes.byref(created), ctypes.sizeof(created))
    ctypes_callback(0xC0FFEE, 11, 100, ctypes.byref(failed), ctypes.sizeof(failed))
    first, second = ring.drain()
    assert (first.status, first.handle, first.context) == (InternetStatus.HANDLE_CREATED, 0xC0FFEE, 11)
    assert (first.result, first.error) == (0xC0FFEE, 0)
    assert second.status is InternetStatus.REQUEST_COMPLETE
    assert second.async_result == AsyncResult(0, 12002)


def test_a_ctypes_caller_passing_dwords_strings_and_handles_gets_them_decoded(ring, ctypes_callback):
    sent = DWORD(512)
    host = ctypes.create_string_buffer(b"example.test")     # NUL-terminated, 13 bytes
    closing = HINTERNET(0xBEEF)
    ctypes_callback(0xBEEF, 1, 31, ctypes.byref(sent), ctypes.sizeof(sent))
    ctypes_callback(0xBEEF, 1, 10, host, ctypes.sizeof(host))
    ctypes_callback(0xBEEF, 1, 70, ctypes.byref(closing), ctypes.sizeof(closing))
    assert [(e.status, e.info) for e in ring.drain()] == [
        (InternetStatus.REQUEST_SENT, 512),
        (InternetStatus.RESOLVING_NAME, "example.test"),
        (InternetStatus.HANDLE_CLOSING, 0xBEEF),
    ]


def test_a_ctypes_caller_passing_null_gets_it_flagged(ring, ctypes_callback):
    ctypes_callback(None, 0, 100, None, ctypes.sizeof(INTERNET_ASYNC_RESULT))
    [event] = ring.drain()
    assert event.handle == 0
    assert event.flags == 2 and event.result is None


def test_a_ctypes_call_after_close_is_late(ring, ctypes_callback):
    ring.close()
    ctypes_callback(1, 0, 31, ctypes.byref(DWORD(1)), 4)
    assert ring.stats.late == 1


def test_python_threads_calling_through_ctypes_at_once_lose_nothing_and_keep_their_order(
        make_ring):
    # ctypes drops the GIL for the foreign call, so these calls really overlap.
    threads, calls = 4, 3000
    ring = make_ring(1024)        # small enough that some calls spill
    callback = INTERNET_STATUS_CALLBACK(ring.status_callback)
    start = threading.Barrier(threads)

    def caller(t):
        n = DWORD(0)
        start.wait()
        for i in range(calls):
            n.value = i
            callback(t + 1, (t << 40) | i, 41, ctypes.byref(n), 4)

    workers = [threading.Thread(target=caller, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    per_thread = {t: [] for t in range(threads)}
    while batch := ring.drain():
        for e in batch:
            t, i = e.context >> 40, e.context & (2**40 - 1)
            assert e.handle == t + 1 and e.info == i
            per_thread[t].append(i)
    assert per_thread == {t: list(range(calls)) for t in range(threads)}
    assert ring.stats.pushed == ring.stats.drained == threads * calls
    assert ring.stats.spilled > 0  # nobody drained while they ran: the overflow list was used


@pytest.fixture
def ffi():
    ffi = cffi.FFI()
    ffi.cdef("""
        typedef struct { uintptr_t dwResult; uint32_t dwError; } INTERNET_ASYNC_RESULT;
        typedef void (*INTERNET_STATUS_CALLBACK)(void *hInternet, uintptr_t dwContext,
            uint32_t dwInternetStatus, void *lpvStatusInformation,
            uint32_t dwStatusInformationLength);
    """)
    return ffi


def test_a_cffi_caller_gets_the_same_events_as_a_ctypes_caller(ring, ffi):
    callback = ffi.cast("INTERNET_STATUS_CALLBACK", ring.status_callback)
    result = ffi.new("INTERNET_ASYNC_RESULT *", {"dwResult": 0x1234, "dwError": 5})
    count = ffi.new("uint32_t *", 99)
    name = ffi.new("char[]", b"a.very.long.host.name.example")
    handle = ffi.cast("void *", 0x77)
    callback(handle, 3, 100, result, ffi.sizeof("INTERNET_ASYNC_RESULT"))
    callback(handle, 3, 41, count, 4)
    callback(handle, 3, 11, name, len(name))
    callback(handle, 3, 41, ffi.NULL, 4)
    a, b, c, d = ring.drain()
    assert ffi.sizeof("INTERNET_ASYNC_RESULT") == AsyncResult.SIZE
    assert (a.status, a.handle, a.context, a.result, a.error) == (100, 0x77, 3, 0x1234, 5)
    assert b.info == 99
    assert (c.info, c.truncated, c.length) == ("a.very.long.host.name.example", False, 30)
    assert d.flags == 2 and d.info is None


def test_native_producers_can_drive_a_ctypes_callback_with_wininet_payloads():
    # Checks _testing's payloads against the documented ones, without a ring.
    seen = {0: [], 1: []}
    lock = threading.Lock()

    @INTERNET_STATUS_CALLBACK
    def record(h, ctx, status, info, length):
        if status in (60, 100):
            payload = INTERNET_ASYNC_RESULT.from_address(info)
            payload = (payload.dwResult, payload.dwError)
        elif status in (31, 41):
            payload = DWORD.from_address(info).value
        elif status == 70:
            payload = HINTERNET.from_address(info).value
        else:
            payload = ctypes.string_at(info, length)
        with lock:
            seen[ctx >> 40].append((h, ctx & (2**40 - 1), status, length, payload))

    address = ctypes.cast(record, ctypes.c_void_p).value
    with _testing.Producers(address, threads=2, events=96):
        pass
    size = ctypes.sizeof(INTERNET_ASYNC_RESULT)
    for t, calls in seen.items():
        assert len(calls) == 96
        for k, (h, request, status, length, payload) in enumerate(calls):
            r = k // 6
            assert (h, request) == (_testing.handle(t, r), r)
            expected = [
                (60, size, (h, 0)),
                (10, len(_testing.HOST), _testing.HOST),
                (31, 4, 100 + r % 900),
                (41, 4, 4096),
                (100, size, (0, 12002) if r % 16 == 15 else (1, 0)),
                (70, ctypes.sizeof(HINTERNET), h),
            ][k % 6]
            assert (status, length, payload) == expected


def test_callback_addresses_are_usable_by_cbring_testing(ring):
    _testing.call_status(ring.status_callback, 5, 6, 320, b"\x02\0\0\0")
    [event] = ring.drain()
    assert (event.status, event.info) == (cbring.InternetStatus.COOKIE_SENT, 2)
