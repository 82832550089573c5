"""WinHTTP's status callback: Ring.winhttp_callback decodes by WinHTTP's table.

Every row of the table (include/cbring/winhttp.h) is called here from C,
through ctypes or cbring._testing, with what WinHTTP passes: strings in
UTF-16 whose length counts characters, REQUEST_ERROR's WINHTTP_ASYNC_RESULT,
READ_COMPLETE's read buffer (recorded, never read), the handle statuses'
pointer to an HINTERNET, statuses that carry nothing, and codes that
cbring names no payload for, kept whole as bytes.
"""

import copy
import ctypes
import pickle
import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cbring
from cbring import WinHttpApi as Api
from cbring import WinHttpSecureFailure as Secure
from cbring import WinHttpStatus as W
from cbring import _testing

TRUNCATED, NULL_INFO, SHORT_INFO, PAYLOAD, WINHTTP = 1, 2, 4, 16, 32
KIND_BUFFER = 7
POINTER = ctypes.sizeof(ctypes.c_void_p)

WINHTTP_H = {  # mingw-w64's winhttp.h, and the Windows SDK's (GETPROXYSETTINGS_COMPLETE)
    "RESOLVING_NAME": 0x00000001, "NAME_RESOLVED": 0x00000002,
    "CONNECTING_TO_SERVER": 0x00000004, "CONNECTED_TO_SERVER": 0x00000008,
    "SENDING_REQUEST": 0x00000010, "REQUEST_SENT": 0x00000020,
    "RECEIVING_RESPONSE": 0x00000040, "RESPONSE_RECEIVED": 0x00000080,
    "CLOSING_CONNECTION": 0x00000100, "CONNECTION_CLOSED": 0x00000200,
    "HANDLE_CREATED": 0x00000400, "HANDLE_CLOSING": 0x00000800,
    "DETECTING_PROXY": 0x00001000, "REDIRECT": 0x00004000,
    "INTERMEDIATE_RESPONSE": 0x00008000, "SECURE_FAILURE": 0x00010000,
    "HEADERS_AVAILABLE": 0x00020000, "DATA_AVAILABLE": 0x00040000,
    "READ_COMPLETE": 0x00080000, "WRITE_COMPLETE": 0x00100000,
    "REQUEST_ERROR": 0x00200000, "SENDREQUEST_COMPLETE": 0x00400000,
    "GETPROXYFORURL_COMPLETE": 0x01000000, "CLOSE_COMPLETE": 0x02000000,
    "SHUTDOWN_COMPLETE": 0x04000000, "GETPROXYSETTINGS_COMPLETE": 0x08000000,
    "SETTINGS_WRITE_COMPLETE": 0x10000000, "SETTINGS_READ_COMPLETE": 0x20000000,
}
DWORD_STATUSES = [W.DATA_AVAILABLE, W.WRITE_COMPLETE, W.REQUEST_SENT, W.RESPONSE_RECEIVED,
                  W.INTERMEDIATE_RESPONSE, W.SECURE_FAILURE]
TEXT_STATUSES = [W.RESOLVING_NAME, W.NAME_RESOLVED, W.CONNECTING_TO_SERVER,
                 W.CONNECTED_TO_SERVER, W.REDIRECT]
HANDLE_STATUSES = [W.HANDLE_CREATED, W.HANDLE_CLOSING]
EMPTY_STATUSES = [W.HEADERS_AVAILABLE, W.SENDREQUEST_COMPLETE, W.SENDING_REQUEST,
                  W.RECEIVING_RESPONSE, W.CLOSING_CONNECTION, W.CONNECTION_CLOSED,
                  W.DETECTING_PROXY]
BYTES_STATUSES = [W.GETPROXYFORURL_COMPLETE, W.CLOSE_COMPLETE, W.SHUTDOWN_COMPLETE,
                  W.GETPROXYSETTINGS_COMPLETE, W.SETTINGS_WRITE_COMPLETE,
                  W.SETTINGS_READ_COMPLETE]
UNNAMED_CODES = [0x00002000, 0x00800000, 0x40000000, 0x80000000, 100, 0xFFFFFFFF]

LONG_URL = "http://downloads.example.test:8080/" + "/".join(
    f"segment{i:04d}" for i in range(200))[:1965] + "?q=end"

# WINHTTP_STATUS_CALLBACK: (HINTERNET, DWORD_PTR, DWORD, LPVOID, DWORD)
CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32,
                            ctypes.c_void_p, ctypes.c_uint32)


def callback(ring):
    return CALLBACK(ring.winhttp_callback)


def call(ring, status, info=None, length=None, handle=0x1234, context=7):
    """One call of the ring's WinHTTP callback from C; info is copied into
    a block of exactly its size (a read past it would be outside it)."""
    _testing.call_status(ring.winhttp_callback, handle, context, status, info, length)


def one(ring):
    batch = ring.drain()
    assert len(batch) == 1
    return batch[0]


def wide(text):
    return text.encode("utf-16-le") + b"\0\0"


def chars(text):
    """WinHTTP's length for a string: characters, with the terminator."""
    return len(text.encode("utf-16-le")) // 2 + 1


def async_result(api, error):
    return struct.pack("=QI4x" if POINTER == 8 else "=II", api, error)


def test_winhttp_status_has_winhttp_h_names_and_values():
    assert {s.name: s.value for s in W} == WINHTTP_H
    assert W.__module__ == "cbring" and issubclass(W, int)


def test_winhttp_api_has_winhttp_h_ids():
    assert {a.name: a.value for a in Api} == {
        "API_RECEIVE_RESPONSE": 1, "API_QUERY_DATA_AVAILABLE": 2, "API_READ_DATA": 3,
        "API_WRITE_DATA": 4, "API_SEND_REQUEST": 5, "API_GET_PROXY_FOR_URL": 6}
    assert Api.__module__ == "cbring"


def test_secure_failure_flags_have_winhttp_h_bits():
    assert {f.name: f.value for f in Secure} == {
        "CERT_REV_FAILED": 0x1, "INVALID_CERT": 0x2, "CERT_REVOKED": 0x4, "INVALID_CA": 0x8,
        "CERT_CN_INVALID": 0x10, "CERT_DATE_INVALID": 0x20, "CERT_WRONG_USAGE": 0x40,
        "SECURITY_CHANNEL_ERROR": 0x80000000}
    assert Secure.__module__ == "cbring"


def test_all_notifications_is_every_bit():
    assert cbring.WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS == 0xFFFFFFFF


def test_each_ring_has_its_own_winhttp_callback_apart_from_its_wininet_ones(make_ring):
    a, b = make_ring(8), make_ring(8)
    addresses = {a.winhttp_callback, a.status_callback, a.status_callback_w,
                 b.winhttp_callback, b.status_callback, b.status_callback_w}
    assert len(addresses) == 6 and all(isinstance(x, int) and x > 0 for x in addresses)


def test_request_error_is_the_api_that_failed_and_its_error(ring):
    call(ring, W.REQUEST_ERROR, async_result(5, 12029))
    ev = one(ring)
    assert ev.api == "winhttp"
    assert ev.status is W.REQUEST_ERROR and ev.status_code == 0x200000
    assert ev.result is Api.API_SEND_REQUEST and ev.error == 12029
    assert ev.async_result == cbring.AsyncResult(5, 12029)
    assert ev.info is None and ev.buffer is None and ev.raw is None
    assert ev.flags == WINHTTP and ev.length == cbring.AsyncResult.SIZE


def test_request_error_with_an_api_id_winhttp_h_does_not_name_is_a_plain_int(ring):
    call(ring, W.REQUEST_ERROR, async_result(99, 12002))
    ev = one(ring)
    assert ev.result == 99 and type(ev.result) is int and ev.error == 12002


@pytest.mark.parametrize("info, length, flag", [(None, 0, NULL_INFO), (None, 16, NULL_INFO),
                                                (b"\1" * 15, None, SHORT_INFO),
                                                (b"", None, SHORT_INFO)])
def test_request_error_without_a_whole_async_result_is_flagged_not_read(ring, info, length, flag):
    call(ring, W.REQUEST_ERROR, info, length)
    ev = one(ring)
    assert ev.result is None and ev.error is None and ev.async_result is None
    assert ev.info is None and ev.flags == WINHTTP | flag


@pytest.mark.parametrize("status", DWORD_STATUSES)
def test_dword_statuses_are_an_int(ring, status):
    call(ring, status, struct.pack("=I", 300001))
    ev = one(ring)
    assert ev.status is status and ev.info == 300001 and ev.flags == WINHTTP
    assert ev.result is None and ev.raw is None and ev.buffer is None


@pytest.mark.parametrize("status", DWORD_STATUSES)
def test_dword_statuses_read_four_bytes_of_a_longer_block(ring, status):
    call(ring, status, struct.pack("=II", 0xFFFFFFFE, 0xDEADBEEF))
    assert one(ring).info == 0xFFFFFFFE


@pytest.mark.parametrize("status", DWORD_STATUSES)
@pytest.mark.parametrize("info, length, flag", [(None, 4, NULL_INFO), (b"\1\2\3", None, SHORT_INFO)])
def test_dword_statuses_without_a_dword_are_flagged(ring, status, info, length, flag):
    call(ring, status, info, length)
    ev = one(ring)
    assert ev.info is None and ev.flags == WINHTTP | flag


def test_secure_failure_names_its_bits(ring):
    bits = Secure.INVALID_CA | Secure.CERT_CN_INVALID | Secure.SECURITY_CHANNEL_ERROR
    call(ring, W.SECURE_FAILURE, struct.pack("=I", int(bits)))
    info = one(ring).info
    assert type(info) is Secure and info == bits
    assert Secure.SECURITY_CHANNEL_ERROR in info and Secure.INVALID_CERT not in info


def test_secure_failure_keeps_bits_winhttp_h_does_not_name(ring):
    call(ring, W.SECURE_FAILURE, struct.pack("=I", 0x00000108))
    info = one(ring).info
    assert int(info) == 0x108 and Secure.INVALID_CA in info


def test_read_complete_is_the_bytes_read_and_the_buffers_address(ring):
    buf = ctypes.create_string_buffer(b"body", 8192)
    callback(ring)(0x1234, 7, W.READ_COMPLETE, ctypes.addressof(buf), 4096)
    ev = one(ring)
    assert ev.status is W.READ_COMPLETE and ev.api == "winhttp"
    assert ev.info == 4096 and ev.length == 4096
    assert ev.buffer == ctypes.addressof(buf)
    assert ev.raw is None and ev.result is None and ev.flags == WINHTTP


def test_read_complete_never_reads_the_buffer(ring):
    # an address in the never-mapped first page: reading it would crash the test
    for address in (0x10, 0x1, 0xFF8):
        callback(ring)(0x1234, 7, W.READ_COMPLETE, address, 1 << 30)
    batch = ring.drain()
    assert [(ev.buffer, ev.info, ev.flags) for ev in batch] == [
        (a, 1 << 30, WINHTTP) for a in (0x10, 0x1, 0xFF8)]


def test_read_complete_of_zero_bytes_is_the_end_of_the_body(ring):
    buf = ctypes.create_string_buffer(16)
    callback(ring)(0x1234, 7, W.READ_COMPLETE, ctypes.addressof(buf), 0)
    ev = one(ring)
    assert ev.info == 0 and ev.buffer == ctypes.addressof(buf)


def test_read_complete_with_a_null_buffer_is_flagged(ring):
    callback(ring)(0x1234, 7, W.READ_COMPLETE, None, 10)
    ev = one(ring)
    assert ev.buffer == 0 and ev.info == 10 and ev.flags == WINHTTP | NULL_INFO


def test_read_complete_in_the_buffer_protocol_is_kind_buffer_with_the_address(ring):
    buf = ctypes.create_string_buffer(64)
    callback(ring)(0x1234, 7, W.READ_COMPLETE, ctypes.addressof(buf), 64)
    rec = memoryview(ring.drain()).cast("B")
    assert struct.unpack_from("=Q", rec, 16)[0] == ctypes.addressof(buf)  # result
    assert struct.unpack_from("=I", rec, 36)[0] == 64  # length
    assert rec[40] == WINHTTP and rec[42] == KIND_BUFFER and rec[43] == 0


@pytest.mark.parametrize("status", TEXT_STATUSES)
@pytest.mark.parametrize("text", ["127.0.0.1", "example.test", "a" * 9, "a" * 10, "a" * 11,
                                  "h\u00e9te-\u0444-\u4e2d.test", "\U0001f600.test",
                                  pytest.param(LONG_URL, id="url-2006")])
def test_text_statuses_are_whole_utf16_whose_length_counts_characters(ring, status, text):
    call(ring, status, wide(text), chars(text))
    ev = one(ring)
    assert ev.info == text and type(ev.info) is str
    assert ev.raw == text.encode("utf-16-le")
    assert ev.length == chars(text) and not ev.truncated
    assert ev.flags & ~PAYLOAD == WINHTTP


def test_resolving_name_is_not_cut_at_its_length_in_bytes(ring):
    # the report: "127.0.0.1" in 10 characters came out as "127.0"
    call(ring, W.RESOLVING_NAME, wide("127.0.0.1"), 10)
    assert one(ring).info == "127.0.0.1"


@pytest.mark.parametrize("status", TEXT_STATUSES)
def test_text_without_its_terminator_is_kept_to_twice_the_length(ring, status):
    text = "10.0.0.254:8080"
    call(ring, status, text.encode("utf-16-le"), len(text))
    ev = one(ring)
    assert ev.info == text and not ev.truncated


@pytest.mark.parametrize("status", TEXT_STATUSES)
def test_text_never_reads_past_twice_its_length(ring, status):
    # the block holds 3 characters and no terminator; a longer read is outside it
    call(ring, status, "abc".encode("utf-16-le"), 3)
    assert one(ring).info == "abc"


@pytest.mark.parametrize("status", TEXT_STATUSES)
def test_text_past_the_maximum_is_marked_truncated(ring, status):
    text = ("x" * 2083) + "YZ"  # 2,085 characters: one past PAYLOAD_MAX bytes of UTF-16
    call(ring, status, wide(text), chars(text))
    ev = one(ring)
    assert ev.truncated and ev.info == text[:cbring.PAYLOAD_MAX // 2]
    assert len(ev.raw) == cbring.PAYLOAD_MAX
    assert ring.stats.payloads_truncated == 0  # kept as far as the maximum goes, not refused


@pytest.mark.parametrize("status", TEXT_STATUSES)
def test_text_of_exactly_the_maximum_is_whole(ring, status):
    text = "q" * (cbring.PAYLOAD_MAX // 2)
    call(ring, status, wide(text), chars(text))
    ev = one(ring)
    assert ev.info == text and not ev.truncated


@pytest.mark.parametrize("status", TEXT_STATUSES)
def test_text_with_a_null_pointer_is_flagged(ring, status):
    call(ring, status, None, 12)
    ev = one(ring)
    assert ev.info is None and ev.raw is None and ev.flags == WINHTTP | NULL_INFO


@pytest.mark.parametrize("status", TEXT_STATUSES)
def test_empty_text_is_an_empty_string(ring, status):
    call(ring, status, b"\0\0", 1)
    assert one(ring).info == ""


@pytest.mark.parametrize("status", HANDLE_STATUSES)
def test_handle_statuses_are_the_handle_pointed_to(ring, status):
    call(ring, status, struct.pack("@P", 0x7F0000ABC000), POINTER, handle=0x55)
    ev = one(ring)
    assert ev.status is status and ev.handle == 0x55
    assert ev.info == 0x7F0000ABC000 and ev.result is None and ev.flags == WINHTTP


@pytest.mark.parametrize("status", HANDLE_STATUSES)
@pytest.mark.parametrize("info, length, flag", [(None, POINTER, NULL_INFO),
                                                (b"\1" * (POINTER - 1), None, SHORT_INFO)])
def test_handle_statuses_without_a_whole_handle_are_flagged(ring, status, info, length, flag):
    call(ring, status, info, length)
    ev = one(ring)
    assert ev.info is None and ev.flags == WINHTTP | flag


def test_handle_created_on_the_session_with_context_zero_is_kept_as_given(ring):
    # WinHTTP reports a connect handle's creation on the session handle, with context 0
    call(ring, W.HANDLE_CREATED, struct.pack("@P", 0xC0), POINTER, handle=0x5E55, context=0)
    ev = one(ring)
    assert (ev.handle, ev.context, ev.info) == (0x5E55, 0, 0xC0)


@pytest.mark.parametrize("status", EMPTY_STATUSES)
def test_statuses_that_carry_nothing_are_none(ring, status):
    call(ring, status, None, 0)
    ev = one(ring)
    assert ev.status is status and ev.info is None and ev.raw is None
    assert ev.flags == WINHTTP and ev.result is None and ev.buffer is None


@pytest.mark.parametrize("status", EMPTY_STATUSES)
def test_statuses_that_carry_nothing_keep_what_they_are_given_as_bytes(ring, status):
    given = bytes(range(1, 40))
    call(ring, status, given)
    ev = one(ring)
    assert ev.info == given and ev.raw == given and not ev.truncated


@pytest.mark.parametrize("status", BYTES_STATUSES + UNNAMED_CODES)
@pytest.mark.parametrize("size", [1, 20, 21, 300, 4168])
def test_other_codes_are_kept_whole_as_bytes(ring, status, size):
    given = bytes((i * 7 + 3) % 256 for i in range(size))
    call(ring, status, given)
    ev = one(ring)
    assert ev.info == given and type(ev.info) is bytes and not ev.truncated
    assert ev.status == status and ev.status_code == status


@pytest.mark.parametrize("status", UNNAMED_CODES)
def test_codes_winhttp_h_does_not_name_are_plain_ints(ring, status):
    call(ring, status, b"x")
    ev = one(ring)
    assert type(ev.status) is int and ev.status == status


def test_bytes_past_the_maximum_are_marked_truncated(ring):
    given = bytes(range(256)) * 20
    call(ring, W.GETPROXYFORURL_COMPLETE, given)
    ev = one(ring)
    assert ev.truncated and ev.raw == given[:cbring.PAYLOAD_MAX] and ev.length == len(given)


def test_a_winhttp_status_number_means_winhttps_status_not_wininets(ring):
    # 0x400 is WinHTTP's HANDLE_CREATED; to WinINet, 1024 is an unknown code
    handle = struct.pack("@P", 0xABC)
    _testing.call_status(ring.status_callback, 1, 2, 0x400, handle)
    call(ring, 0x400, handle)
    wininet, winhttp = ring.drain()
    assert wininet.api == "wininet" and wininet.status == 1024 and wininet.info == handle
    assert winhttp.api == "winhttp" and winhttp.status is W.HANDLE_CREATED
    assert winhttp.info == 0xABC


def test_wininet_events_say_so_and_keep_their_enum(ring):
    _testing.call_status(ring.status_callback, 1, 2, cbring.InternetStatus.REQUEST_COMPLETE,
                         bytes(cbring.AsyncResult(1, 0)))
    ev = one(ring)
    assert ev.api == "wininet" and ev.status is cbring.InternetStatus.REQUEST_COMPLETE
    assert ev.result == 1 and type(ev.result) is int and ev.buffer is None
    assert "api=" not in repr(ev)


def test_repr_names_the_api_status_and_what_it_carries(ring):
    call(ring, W.REQUEST_ERROR, async_result(3, 12030), handle=0xAB, context=9)
    call(ring, W.RESOLVING_NAME, wide("example.test"), chars("example.test"), handle=0xAB)
    callback(ring)(0xAB, 9, W.READ_COMPLETE, 0x5000, 12)
    err, name, read = ring.drain()
    assert repr(err) == ("StatusEvent(api='winhttp', status=<WinHttpStatus.REQUEST_ERROR: 2097152>, "
                         "handle=0xab, context=9, result=<WinHttpApi.API_READ_DATA: 3>, error=12030)")
    assert repr(name) == ("StatusEvent(api='winhttp', status=<WinHttpStatus.RESOLVING_NAME: 1>, "
                          "handle=0xab, context=7, info='example.test')")
    assert repr(read) == ("StatusEvent(api='winhttp', status=<WinHttpStatus.READ_COMPLETE: 524288>, "
                          "handle=0xab, context=9, info=12, buffer=0x5000)")


def test_repr_of_an_unnamed_winhttp_code_is_its_number(ring):
    call(ring, 0x2000, b"ab")
    assert repr(one(ring)) == ("StatusEvent(api='winhttp', status=8192, handle=0x1234, "
                               "context=7, info=b'ab')")


def winhttp_events(ring):
    call(ring, W.REQUEST_ERROR, async_result(5, 12029))
    call(ring, W.REDIRECT, wide(LONG_URL), chars(LONG_URL))
    call(ring, W.SECURE_FAILURE, struct.pack("=I", 0x80000001))
    callback(ring)(0x1234, 7, W.READ_COMPLETE, 0x7000, 99)
    call(ring, W.HANDLE_CLOSING, struct.pack("@P", 0x1234))
    call(ring, W.HEADERS_AVAILABLE, None, 0)
    call(ring, 0x40000000, bytes(range(200)))
    return ring.drain()


def test_winhttp_events_pickle_and_copy_as_values(ring):
    batch = winhttp_events(ring)
    for ev in batch:
        back = pickle.loads(pickle.dumps(ev))
        assert back == ev and hash(back) == hash(ev)
        assert (back.api, back.status, back.info, back.buffer, back.result, back.error) == \
               (ev.api, ev.status, ev.info, ev.buffer, ev.result, ev.error)
        assert copy.copy(ev) is ev and copy.deepcopy(ev) is ev
    again = pickle.loads(pickle.dumps(batch))
    assert list(again) == list(batch) and again[1].info == LONG_URL


def test_tuples_and_columns_give_winhttp_fields_as_plain_values(ring):
    batch = winhttp_events(ring)
    rows = batch.tuples("status", "result", "error", "info")
    assert rows[0] == (0x200000, 5, 12029, None)
    assert rows[1] == (0x4000, None, None, LONG_URL)
    assert rows[2] == (0x10000, None, None, 0x80000001)
    assert rows[3] == (0x80000, None, None, 99)
    assert all(type(v) in (int, str, bytes, type(None)) for row in rows for v in row)
    assert batch.column("info") == [ev.info for ev in batch]
    assert batch.column("status") == [int(ev.status) for ev in batch]


@pytest.mark.skipif(sys.platform == "win32", reason="WinHTTP exists on Windows: register_winhttp() calls it")
def test_register_winhttp_elsewhere_than_windows_is_not_implemented(ring):
    with pytest.raises(NotImplementedError, match="WinHTTP"):
        ring.register_winhttp(0x1234)
    with pytest.raises(NotImplementedError, match="winhttp_callback"):
        ring.register_winhttp(0x1234, cbring.WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS)


@pytest.mark.skipif(sys.platform != "win32", reason="WinHTTP exists only on Windows")
def test_register_winhttp_on_a_handle_winhttp_never_made_is_an_oserror_with_its_error(ring):
    ERROR_INVALID_HANDLE, ERROR_WINHTTP_INCORRECT_HANDLE_TYPE = 6, 12018  # Wine gives the first
    with pytest.raises(OSError, match="WinHttpSetStatusCallback failed") as caught:
        ring.register_winhttp(0x1234)
    assert caught.value.winerror in (ERROR_INVALID_HANDLE, ERROR_WINHTTP_INCORRECT_HANDLE_TYPE)
    assert ring.stats.pushed == 0 and not ring.closed


def test_register_winhttp_on_a_closed_ring_is_refused(ring):
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        ring.register_winhttp(0x1234)


@pytest.mark.parametrize("hinternet, notifications, error, match", [
    ("0x1234", 0, TypeError, "hinternet must be an integer"),
    (1.5, 0, TypeError, "hinternet must be an integer"),
    (-1, 0, ValueError, "hinternet must be between"),
    (1 << 64, 0, ValueError, "hinternet must be between"),
    (0x1234, None, TypeError, "notifications must be an integer"),
    (0x1234, -1, ValueError, "notifications must be between 0 and 4294967295"),
    (0x1234, 1 << 32, ValueError, "notifications must be between 0 and 4294967295"),
])
def test_register_winhttp_names_a_bad_argument(ring, hinternet, notifications, error, match):
    with pytest.raises(error, match=match):
        ring.register_winhttp(hinternet, notifications)
    assert not ring.closed


def test_register_winhttp_takes_its_arguments_by_name(ring):
    with pytest.raises(NotImplementedError if sys.platform != "win32" else OSError):
        ring.register_winhttp(hinternet=0x1234, notifications=W.REQUEST_ERROR | W.READ_COMPLETE)


def test_after_close_winhttp_calls_are_counted_late(ring):
    call(ring, W.DATA_AVAILABLE, struct.pack("=I", 5))
    ring.close()
    call(ring, W.DATA_AVAILABLE, struct.pack("=I", 6))
    callback(ring)(1, 2, W.READ_COMPLETE, 0x10, 3)
    assert ring.stats.pushed == 1 and ring.stats.late == 2
    assert [ev.info for ev in ring.drain()] == [5]


def test_winhttp_error_names_the_error_and_the_api():
    e = cbring.WinHttpError(12029, 5, handle=0xAB)
    assert isinstance(e, OSError)
    assert e.errno == 12029 and e.winerror == 12029
    assert e.api is Api.API_SEND_REQUEST and e.handle == 0xAB
    assert e.name == "ERROR_WINHTTP_CANNOT_CONNECT"
    assert "ERROR_WINHTTP_CANNOT_CONNECT (12029)" in str(e) and "API_SEND_REQUEST" in str(e)
    assert "0xab" in str(e)


def test_winhttp_error_with_unnamed_codes_says_their_numbers():
    e = cbring.WinHttpError(12345, 42)
    assert e.api == 42 and type(e.api) is int and e.handle is None
    assert "error 12345" in str(e) and "API 42" in str(e)


def test_winhttp_error_pickles():
    e = cbring.WinHttpError(12002, Api.API_READ_DATA, 0x10)
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is cbring.WinHttpError
    assert (back.errno, back.api, back.handle, str(back)) == (e.errno, e.api, e.handle, str(e))


def test_winhttp_error_names_span_winhttp_h():
    from cbring._errors import _WINHTTP_NAMES, winhttp_error_name
    assert min(_WINHTTP_NAMES) == 12001 and max(_WINHTTP_NAMES) == 12190
    assert all(name.startswith("ERROR_WINHTTP_") for name in _WINHTTP_NAMES.values())
    assert winhttp_error_name(12152) == "ERROR_WINHTTP_INVALID_SERVER_RESPONSE"
    assert winhttp_error_name(12175) == "ERROR_WINHTTP_SECURE_FAILURE"


def test_a_request_error_event_becomes_a_winhttp_error(ring):
    call(ring, W.REQUEST_ERROR, async_result(3, 12030), handle=0xBEEF)
    ev = one(ring)
    e = cbring.WinHttpError(ev.error, ev.result, ev.handle)
    assert e.api is Api.API_READ_DATA and e.name == "ERROR_WINHTTP_CONNECTION_ERROR"


def test_native_threads_each_winhttp_event_is_counted_and_in_order(make_ring):
    text = "downloads.example.test"
    calls = [
        (W.HANDLE_CREATED, struct.pack("@P", 0xC0FFEE), None),
        (W.RESOLVING_NAME, wide(text), chars(text)),
        (W.NAME_RESOLVED, wide("127.0.0.1"), chars("127.0.0.1")),
        (W.SENDREQUEST_COMPLETE, None, 0),
        (W.HEADERS_AVAILABLE, None, 0),
        (W.DATA_AVAILABLE, struct.pack("=I", 8192), None),
        (W.READ_COMPLETE, b"x" * 16, 16),
        (W.REDIRECT, wide(LONG_URL), chars(LONG_URL)),
        (W.REQUEST_ERROR, async_result(3, 12002), None),
        (W.HANDLE_CLOSING, struct.pack("@P", 0xC0FFEE), None),
    ]
    threads, rounds = 4, 50
    ring = make_ring(1024)
    replay = _testing.Replay(ring.winhttp_callback, calls, threads=threads, rounds=rounds)
    seen = []
    with replay:
        while not replay.finished():  # drained while the threads push, into a ring too small
            seen.extend(ring.drain())  # for them ("spill": nothing lost)
    seen.extend(ring.drain())
    assert len(seen) == threads * rounds * len(calls) == replay.total
    stats = ring.stats
    assert stats.pushed == replay.total and stats.dropped == stats.late == 0
    by_thread = {}
    for ev in seen:
        by_thread.setdefault(ev.handle, []).append(ev)
    assert sorted(by_thread) == [t + 1 for t in range(threads)]
    for t, events in by_thread.items():
        assert [ev.context for ev in events] == [
            _testing.replay_context(t - 1, i) for i in range(rounds * len(calls))]
        for i, ev in enumerate(events):
            status, _, _ = calls[i % len(calls)]
            assert ev.api == "winhttp" and ev.status is status
        infos = [ev.info for ev in events[:len(calls)]]
        assert infos[:3] == [0xC0FFEE, text, "127.0.0.1"]
        assert infos[3:7] == [None, None, 8192, 16]
        assert infos[7] == LONG_URL and events[8].result is Api.API_READ_DATA
        assert all(ev.buffer for ev in events if ev.status is W.READ_COMPLETE)
        assert not any(ev.truncated for ev in events)


def test_the_capsule_pushes_winhttp_statuses_as_the_callback_does(ring):
    class Api_(ctypes.Structure):
        push_status = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p,
                                       ctypes.c_uint32)
        _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                    ("size", ctypes.c_uint32), ("record_size", ctypes.c_uint32),
                    ("ring_from_object", ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)),
                    ("push", ctypes.c_void_p), ("push_batch", ctypes.c_void_p),
                    ("push_status", push_status), ("callback", ctypes.c_void_p),
                    ("closed", ctypes.c_void_p), ("push_winhttp_status", push_status)]
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api = Api_.from_address(get(cbring._core._C_API, b"cbring._core._C_API"))
    assert api.minor >= 1 and api.size >= ctypes.sizeof(Api_)
    r = api.ring_from_object(ring)
    text = wide("127.0.0.1")
    buf = ctypes.create_string_buffer(text)
    assert api.push_winhttp_status(r, 0x10, 3, W.RESOLVING_NAME, ctypes.addressof(buf), 10) == 0
    assert api.push_status(r, 0x10, 3, W.RESOLVING_NAME, ctypes.addressof(buf), 10) == 0
    winhttp, wininet = ring.drain()
    assert winhttp.api == "winhttp" and winhttp.info == "127.0.0.1"
    assert wininet.api == "wininet" and wininet.status == 1


KIND_OF = {**{s: "async" for s in [W.REQUEST_ERROR]}, **{s: "dword" for s in DWORD_STATUSES},
           **{s: "text" for s in TEXT_STATUSES}, **{s: "handle" for s in HANDLE_STATUSES}}


def model(status, info, length):
    """What winhttp.h promises for one call (READ_COMPLETE apart): (info,
    raw, result, error, flags), written from the table, not from the C."""
    kind = KIND_OF.get(status, "bytes")  # statuses that carry nothing keep what is given as bytes
    need = {"async": 16 if POINTER == 8 else 8, "dword": 4, "handle": POINTER}.get(kind, 1)
    flags = WINHTTP
    if info is None:
        return None, None, None, None, flags | (NULL_INFO if length or need > 1 else 0)
    if length < need:
        return None, None, None, None, flags | (SHORT_INFO if need > 1 else 0)
    if kind == "async":
        api, error = struct.unpack_from("=QI" if POINTER == 8 else "=II", info)
        return None, None, api, error, flags
    if kind in ("dword", "handle"):
        (value,) = struct.unpack_from("=I" if kind == "dword" else "@P", info)
        return value, None, None, None, flags
    if kind == "text":
        kept = bytes(info[:2 * length])
        for i in range(0, len(kept) - 1, 2):
            if kept[i] == kept[i + 1] == 0:
                kept = kept[:i]
                break
    else:
        kept = bytes(info[:length])
    if len(kept) > cbring.PAYLOAD_MAX:
        kept, flags = kept[:cbring.PAYLOAD_MAX], flags | TRUNCATED
    if len(kept) > 20:
        flags |= PAYLOAD
    text = kept.decode("utf-16-le", "surrogatepass") if kind == "text" else kept
    return text, kept, None, None, flags


@st.composite
def winhttp_calls(draw):
    status = draw(st.sampled_from([s for s in W if s is not W.READ_COMPLETE] + UNNAMED_CODES))
    if draw(st.booleans()):
        info = draw(st.binary(max_size=64))
    else:  # long: past data[], sometimes past PAYLOAD_MAX
        unit = draw(st.binary(min_size=1, max_size=8))
        info = unit * draw(st.integers(1, (cbring.PAYLOAD_MAX + 400) // len(unit)))
    if draw(st.integers(0, 9)) == 0:
        return status, None, draw(st.sampled_from([0, 1, 16, 1 << 31]))
    # a text status reads up to 2 x length bytes: never more than the block holds
    top = len(info) // 2 if KIND_OF.get(status) == "text" else len(info)
    return status, info, draw(st.integers(0, top))


@given(calls=st.lists(winhttp_calls(), min_size=1, max_size=8))
def test_every_winhttp_call_decodes_as_the_table_says(calls):
    with cbring.Ring(16) as ring:
        check_calls(ring, calls)


def check_calls(ring, calls):
    for status, info, length in calls:
        call(ring, status, info, length)
    batch = ring.drain()
    assert len(batch) == len(calls)
    for ev, (status, info, length) in zip(batch, calls):
        want_info, want_raw, want_result, want_error, want_flags = model(status, info, length)
        if status == W.SECURE_FAILURE and want_info is not None:
            assert type(ev.info) is Secure
        assert (ev.info, ev.raw, ev.result, ev.error, ev.flags) == \
               (want_info, want_raw, want_result, want_error, want_flags)
        assert ev.api == "winhttp" and ev.status == status and ev.length == length
        assert ev.buffer is None
        assert (type(ev.status) is W) == (status in WINHTTP_H.values())
    assert ring.stats.pushed == len(calls) and ring.stats.payloads_truncated == 0


def test_text_without_a_terminator_in_a_block_of_exactly_twice_its_length_is_read_to_its_end(make_ring):
    # Replay copies each payload into a heap block of exactly its size, so a
    # read past 2 x length bytes is outside it (ASan reports it in
    # tests/reliability's build); what comes out is the whole block.
    texts = ["127.0.0.1", "a" * 10, "x" * 2084, "y" * 2085]
    calls = [(status, text.encode("utf-16-le"), len(text))
             for status in TEXT_STATUSES for text in texts]
    ring = make_ring(256)
    with _testing.Replay(ring.winhttp_callback, calls, threads=2) as replay:
        pass
    events = list(ring.drain())
    assert len(events) == replay.total == 2 * len(calls)
    for ev in events:
        status, info, length = calls[ev.context & 0xFFFFFFFFFF]
        text = info.decode("utf-16-le")
        assert ev.status is status and ev.length == length
        assert ev.info == text[:cbring.PAYLOAD_MAX // 2]
        assert ev.truncated == (len(info) > cbring.PAYLOAD_MAX)
