"""How a status callback's arguments become a StatusEvent.

lpvStatusInformation is read only as far as dwStatusInformationLength
allows, never through NULL; what could not be read is recorded in flags.
"""

import copy
import pickle
import struct
import sys

import pytest

import cbring
from cbring import AsyncResult, InternetStatus, StatusEvent

TRUNCATED, NULL_INFO, SHORT_INFO, SPILLED, PAYLOAD = 1, 2, 4, 8, 16


def dword(v):
    return struct.pack("=I", v)


def pointer(v):
    return struct.pack("=Q" if sys.maxsize > 2**32 else "=I", v)


def only_event(ring):
    batch = ring.drain()
    assert len(batch) == 1
    return batch[0]


WININET_STATUS_CODES = {
    "RESOLVING_NAME": 10, "NAME_RESOLVED": 11, "CONNECTING_TO_SERVER": 20,
    "CONNECTED_TO_SERVER": 21, "SENDING_REQUEST": 30, "REQUEST_SENT": 31,
    "RECEIVING_RESPONSE": 40, "RESPONSE_RECEIVED": 41, "CTL_RESPONSE_RECEIVED": 42,
    "PREFETCH": 43, "CLOSING_CONNECTION": 50, "CONNECTION_CLOSED": 51,
    "HANDLE_CREATED": 60, "HANDLE_CLOSING": 70, "DETECTING_PROXY": 80,
    "REQUEST_COMPLETE": 100, "REDIRECT": 110, "INTERMEDIATE_RESPONSE": 120,
    "USER_INPUT_REQUIRED": 140, "STATE_CHANGE": 200, "COOKIE_SENT": 320,
    "COOKIE_RECEIVED": 321, "PRIVACY_IMPACTED": 324, "P3P_HEADER": 325,
    "P3P_POLICYREF": 326, "COOKIE_HISTORY": 327,
}


def test_internet_status_has_wininet_h_names_and_values():
    assert {s.name: s.value for s in InternetStatus} == WININET_STATUS_CODES
    assert issubclass(InternetStatus, int)


@pytest.mark.parametrize("status", [60, 100])
def test_async_result_statuses_give_result_and_error(ring, push, status):
    push(ring, status, bytes(AsyncResult(0xCAFE, 12002)), handle=0x10, context=7)
    event = only_event(ring)
    assert event.status is InternetStatus(status)
    assert (event.handle, event.context) == (0x10, 7)
    assert (event.result, event.error) == (0xCAFE, 12002)
    assert event.async_result == AsyncResult(0xCAFE, 12002)
    assert event.info is None
    assert event.length == AsyncResult.SIZE
    assert event.flags == 0 and not event.truncated


@pytest.mark.parametrize("status", [31, 41, 200, 320, 321])
def test_dword_statuses_give_the_dword_as_info(ring, push, status):
    push(ring, status, dword(0xFEEDBEEF))
    event = only_event(ring)
    assert event.info == 0xFEEDBEEF
    assert event.result is None and event.error is None and event.async_result is None
    assert event.length == 4 and event.flags == 0


def test_handle_closing_gives_the_closed_handle_as_info(ring, push):
    push(ring, 70, pointer(2**64 - 2 if sys.maxsize > 2**32 else 2**32 - 2), handle=5)
    event = only_event(ring)
    assert event.status is InternetStatus.HANDLE_CLOSING
    assert event.info == (2**64 - 2 if sys.maxsize > 2**32 else 2**32 - 2)
    assert event.result is None and event.error is None


@pytest.mark.parametrize("status", [10, 11, 20, 21, 110])
def test_text_statuses_give_the_text_without_its_terminator(ring, push, status):
    push(ring, status, b"10.0.0.1\0")
    event = only_event(ring)
    assert event.info == "10.0.0.1" and event.raw == b"10.0.0.1"
    assert event.length == 9
    assert not event.truncated and event.flags == 0
    assert event.result is None and event.error is None


def test_length_limits_what_is_read_from_a_longer_buffer(ring, push):
    push(ring, 10, b"example.test-and-more", length=12)
    event = only_event(ring)
    assert event.info == "example.test"
    assert event.length == 12


@pytest.mark.parametrize("status", [110, 9999])
@pytest.mark.parametrize("size", [19, 20, 21, 4096])
def test_information_longer_than_20_bytes_is_kept_whole_apart_from_the_record(ring, push, status,
                                                                              size):
    text = bytes(range(33, 127)) * (size // 94 + 1)
    push(ring, status, text[:size])
    event = only_event(ring)
    assert event.raw == text[:size]
    assert event.info == (text[:size].decode("ascii") if status == 110 else text[:size])
    assert not event.truncated
    assert event.flags == (PAYLOAD if size > 20 else 0)
    assert event.length == size


@pytest.mark.parametrize("status", [0, 1, 99, 9999, 2**32 - 1])
def test_unknown_status_codes_are_plain_ints_with_bytes_info(ring, push, status):
    push(ring, status, b"\x01\x02\x03")
    event = only_event(ring)
    assert type(event.status) is int
    assert event.status == status
    assert event.info == b"\x01\x02\x03"


@pytest.mark.parametrize("status", [60, 100, 31, 41, 200, 70])
@pytest.mark.parametrize("length", [0, 4, 16, 2**32 - 1])
def test_null_information_where_a_payload_is_expected_is_flagged_not_read(ring, push, status,
                                                                          length):
    push(ring, status, None, length=length)
    event = only_event(ring)
    assert event.flags == NULL_INFO
    assert event.info is None and event.result is None and event.error is None
    assert event.length == length


def test_null_information_with_a_length_for_a_string_status_is_flagged_not_read(ring, push):
    push(ring, 10, None, length=2**32 - 1)
    event = only_event(ring)
    assert event.flags == NULL_INFO
    assert event.info is None
    assert event.length == 2**32 - 1
    assert not event.truncated


def test_null_information_with_no_length_for_a_string_status_is_not_an_error(ring, push):
    push(ring, 50, None, length=0)
    event = only_event(ring)
    assert event.flags == 0
    assert event.info is None


@pytest.mark.parametrize("status, given", [(60, 7), (100, 8), (31, 3), (41, 0), (70, 7), (70, 4)])
def test_information_shorter_than_its_status_needs_is_flagged_not_read(ring, push, status, given):
    push(ring, status, b"\xff" * 16, length=given)
    event = only_event(ring)
    assert event.flags == SHORT_INFO
    assert event.info is None and event.result is None and event.error is None
    assert event.length == given


def test_handle_created_carrying_the_bare_handle_is_recorded_as_a_handle(ring, push):
    # WinINet (and Wine) pass the new HINTERNET alone, not an INTERNET_ASYNC_RESULT
    push(ring, 60, (0x1234).to_bytes(8, "little") + b"\xff" * 8, length=8)
    event = only_event(ring)
    assert event.flags == 0
    assert event.info == 0x1234
    assert event.result is None and event.async_result is None


def test_handle_and_context_keep_all_64_bits(ring, push):
    push(ring, 31, dword(1), handle=2**64 - 1, context=2**64 - 1)
    event = only_event(ring)
    assert event.handle == 2**64 - 1
    assert event.context == 2**64 - 1


def test_seq_counts_ring_positions_and_is_zero_for_spilled_records(make_ring, push):
    ring = make_ring(4)
    for i in range(6):
        push(ring, 31, dword(i), context=i)
    events = list(ring.drain()) + list(ring.drain())
    assert [e.context for e in events] == list(range(6))
    seqs = [e.seq for e in events]
    assert [(s - seqs[0]) % 2**32 for s in seqs[:4]] == [0, 1, 2, 3]
    assert seqs[4:] == [0, 0]
    assert [e.flags for e in events] == [0, 0, 0, 0, SPILLED, SPILLED]


def test_events_cannot_be_created_directly():
    with pytest.raises(TypeError, match="come from Ring.drain"):
        cbring.StatusEvent()


def test_repr_of_an_async_result_event_names_status_handle_context_result_and_error(ring, push):
    push(ring, 100, bytes(AsyncResult(1, 12002)), handle=0xAB, context=42)
    assert repr(only_event(ring)) == (
        "StatusEvent(status=<InternetStatus.REQUEST_COMPLETE: 100>, handle=0xab, context=42, "
        "result=1, error=12002)")


def test_repr_of_a_text_event_shows_the_whole_text(ring, push):
    push(ring, 10, b"downloads.example.test\0", handle=1, context=3)
    assert repr(only_event(ring)) == (
        "StatusEvent(status=<InternetStatus.RESOLVING_NAME: 10>, handle=0x1, context=3, "
        "info='downloads.example.test')")


def test_repr_of_a_truncated_event_shows_the_prefix_and_the_full_length(ring, push):
    push(ring, 110, b"x" * (cbring.PAYLOAD_MAX + 9) + b"\0", handle=1, context=3)
    assert repr(only_event(ring)) == (
        "StatusEvent(status=<InternetStatus.REDIRECT: 110>, handle=0x1, context=3, "
        f"info='{'x' * cbring.PAYLOAD_MAX}', truncated=True, length={cbring.PAYLOAD_MAX + 10})")


def test_repr_of_an_unknown_status_shows_the_number(ring, push):
    push(ring, 777, b"x", handle=2, context=0)
    assert repr(only_event(ring)) == "StatusEvent(status=777, handle=0x2, context=0, info=b'x')"


def test_repr_of_an_event_with_nothing_read_shows_no_payload(ring, push):
    push(ring, 31, None, length=4, handle=2, context=0)
    assert repr(only_event(ring)) == (
        "StatusEvent(status=<InternetStatus.REQUEST_SENT: 31>, handle=0x2, context=0)")


def test_status_is_the_same_internet_status_member_on_every_read(ring, push):
    push(ring, 100, bytes(AsyncResult(1, 0)))
    push(ring, 100, bytes(AsyncResult(1, 0)))
    a, b = ring.drain()
    assert a.status is b.status is InternetStatus.REQUEST_COMPLETE


@pytest.mark.parametrize("status", [100, 31, 9999, 2**32 - 1])
def test_status_code_is_the_status_as_a_plain_int(ring, push, status):
    push(ring, status, dword(1))
    event = only_event(ring)
    assert type(event.status_code) is int
    assert event.status_code == event.status == status


def _events_of_every_kind(make_ring, push):
    ring = make_ring(4, "spill")
    push(ring, 100, bytes(AsyncResult(7, 12002)), handle=2**64 - 1, context=2**63)
    push(ring, 10, b"downloads.example.test\0", context=1)   # text, longer than a record
    push(ring, 11, b"\x7f\x00\x00\x01", context=2)            # text, up to its NUL
    push(ring, 31, None, length=4, context=3)                 # NULL
    push(ring, 41, dword(9), length=2, context=4)             # short, and spilled
    push(ring, 70, (5).to_bytes(8, sys.byteorder), context=5)
    return list(ring.drain())


def test_events_are_values_equal_only_to_an_event_of_the_same_record(make_ring, push):
    events = _events_of_every_kind(make_ring, push)
    again = list(events)
    for i, e in enumerate(events):
        assert e == again[i] and hash(e) == hash(again[i])
        assert all(e != other for other in events[:i] + events[i + 1:])
        assert e != e.context and not (e == (e.handle, e.context))


def test_pickle_and_copy_of_an_event_give_an_equal_event_of_every_kind(make_ring, push):
    for e in _events_of_every_kind(make_ring, push):
        back = pickle.loads(pickle.dumps(e))
        assert back == e and hash(back) == hash(e)
        assert [getattr(back, f) for f in StatusEvent.FIELDS] == [getattr(e, f) for f in StatusEvent.FIELDS]
        assert copy.copy(e) is e and copy.deepcopy(e) is e


def test_events_pickle_to_their_64_byte_record_and_back_only_from_one(make_ring, push):
    e = _events_of_every_kind(make_ring, push)[0]
    func, (record,) = e.__reduce__()
    assert len(record) == cbring.EVENT_SIZE
    assert func(record) == e
    with pytest.raises(ValueError, match="64-byte records, got 63 bytes"):
        func(record[:63])


def test_an_event_is_its_record_and_nothing_more(ring, push):
    push(ring, 31, dword(1))
    event = only_event(ring)
    assert not hasattr(event, "__dict__")
    assert sys.getsizeof(event) <= cbring.EVENT_SIZE + 32
    with pytest.raises(AttributeError):
        event.context = 5
