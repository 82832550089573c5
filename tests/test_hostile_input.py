"""What a hostile or careless caller can hand cbring, and what cbring does
with it.  The decoder's reads are fuzzed in tests/fuzz; here the Python
surface: records pushed through the C API as the caller filled them, and
status calls at the edges of what a DWORD can say."""

import ctypes

import pytest

import cbring
from cbring import _testing


class _Api(ctypes.Structure):
    """The head of cbring_api (include/cbring/cbring.h)."""
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32),
                ("size", ctypes.c_uint32), ("record_size", ctypes.c_uint32),
                ("ring_from_object", ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)),
                ("push", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p))]


def push_raw(ring, record):
    """Pushes 64 bytes exactly as given, as any C extension may through the capsule."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    api = _Api.from_address(get(cbring._core._C_API, b"cbring._core._C_API"))
    buf = (ctypes.c_uint8 * 64).from_buffer_copy(record)
    return api.push(api.ring_from_object(ring), ctypes.addressof(buf))


def raw_record(status=10, kind=4, data_len=20, data=bytes(range(1, 21)), flags=0):
    rec = bytearray(64)
    rec[28:32] = status.to_bytes(4, "little")
    rec[40:42] = flags.to_bytes(2, "little")
    rec[42] = kind
    rec[43] = data_len
    rec[44:64] = data
    return bytes(rec)


@pytest.mark.parametrize("data_len", [21, 64, 255])
def test_info_never_reads_past_the_record_whatever_data_len_a_pusher_claims(ring, data_len):
    # data_len is one byte that a C pusher fills; the record holds 20 bytes of
    # data.  Reading data_len bytes would read up to 235 bytes of whatever
    # follows the StatusEvent in memory.
    assert push_raw(ring, raw_record(data_len=data_len)) == 0
    event = ring.drain()[0]
    assert event.info == bytes(range(1, 21))
    assert "info=" in repr(event)


@pytest.mark.parametrize("kind", [4, 5, 6])
def test_a_raw_record_claiming_a_payload_it_never_had_reads_as_its_20_data_bytes(ring, kind):
    # flag 16 and a result pointing anywhere: neither the drain nor the
    # event may follow it into memory the record does not own
    record = bytearray(raw_record(kind=kind, flags=16))
    record[16:24] = ((4000 << 32) | 12345).to_bytes(8, "little")
    assert push_raw(ring, bytes(record)) == 0
    assert push_raw(ring, bytes(record)) == 0
    event, = ring.drain(1)
    assert event.raw == bytes(range(1, 21)) and not event.flags & 16
    records, payloads = bytearray(640), bytearray(cbring.PAYLOAD_MAX)
    assert ring.drain_into(records, payloads) == 1
    assert not records[40] & 16 and payloads == bytearray(cbring.PAYLOAD_MAX)


def test_a_raw_record_with_an_unknown_kind_and_flags_reads_as_nothing(ring):
    assert push_raw(ring, raw_record(kind=200, flags=0xFFFF)) == 0
    event = ring.drain()[0]
    assert event.info is None and event.result is None and event.error is None
    assert event.flags & 0x7 == 0x7
    repr(event)


@pytest.mark.parametrize("status", [0, 60, 70, 100, 0xFFFFFFFF])
@pytest.mark.parametrize("length", [0, 1, 2**31, 2**32 - 1])
def test_a_null_pointer_is_never_read_whatever_the_length(ring, status, length):
    _testing.call_status(ring.status_callback, 1, 2, status, None, length)
    event = ring.drain()[0]
    assert event.length == length and event.info is None
    assert event.flags == (2 if length or status in (60, 70, 100) else 0)


def test_an_infinite_timeout_waits_like_none(ring, push):
    # an infinite number of seconds never passes: wait(inf) is wait(None)
    push(ring, 31, b"\1\0\0\0")
    assert ring.wait(float("inf")) is True
    ring.drain()
    ring.close()
    assert ring.wait(float("inf")) is False
