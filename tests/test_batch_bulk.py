"""Batch.tuples() and Batch.column(): every field of every event at once,
equal to what StatusEvent gives, for every kind of status."""

import gc
import struct
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cbring
from cbring import AsyncResult, InternetStatus, StatusEvent

FIELDS = ("handle", "context", "status", "result", "error", "async_result", "info",
          "truncated", "length", "flags", "seq", "raw")
SPILLED = 8


def dword(v):
    return struct.pack("=I", v)


def pointer(v):
    return v.to_bytes(8 if sys.maxsize > 2**32 else 4, sys.byteorder)


def push_every_kind(ring, push, handle, context):
    """One event of each kind of status information, for one request."""
    push(ring, 60, bytes(AsyncResult(handle, 0)), handle=handle, context=context)    # async result
    push(ring, 10, b"downloads.example.test\0", handle=handle, context=context)      # text, longer than a record
    push(ring, 11, b"\x7f\x00\x00\x01", handle=handle, context=context)              # text to its NUL
    push(ring, 31, dword(512), handle=handle, context=context)                        # a DWORD
    push(ring, 41, dword(7), length=2, handle=handle, context=context)               # too short
    push(ring, 100, None, length=16, handle=handle, context=context)                 # NULL
    push(ring, 100, bytes(AsyncResult(0, 12002)), handle=handle, context=context)    # a failure
    push(ring, 70, pointer(handle), handle=handle, context=context)                  # a handle
    push(ring, 60, pointer(handle + 1), handle=handle, context=context)              # a bare handle
    push(ring, 9999, b"?", handle=handle, context=context)                           # unnamed code
    push(ring, 200, dword(0xFFFFFFFF), handle=handle, context=context)


@pytest.fixture
def every_kind(make_ring, push):
    """A Batch holding every kind of event, three requests of each, the last
    of them through the overflow list (a capacity-8 ring that is never drained)."""
    ring = make_ring(8, "spill")
    for request in range(3):
        push_every_kind(ring, push, handle=(1 << 40) + request, context=(1 << 63) + request)
    batch = ring.drain()
    assert len(batch) == 33
    assert any(e.flags & SPILLED for e in batch)
    kinds = {(e.flags, type(e.info), e.result is None) for e in batch}
    assert len(kinds) >= 7
    return batch


def expected(event, field):
    value = getattr(event, field)
    return int(value) if field == "status" else value


def test_statusevent_fields_lists_every_field_in_tuple_order():
    assert StatusEvent.FIELDS == FIELDS


def test_tuples_of_every_field_equal_the_statusevents_for_every_kind_of_status(every_kind):
    rows = every_kind.tuples()
    assert len(rows) == len(every_kind)
    for row, event in zip(rows, every_kind):
        assert row == tuple(expected(event, f) for f in FIELDS)
        assert [type(v) for v in row] == [type(expected(event, f)) for f in FIELDS]


@pytest.mark.parametrize("field", FIELDS)
def test_column_equals_the_statusevent_attribute_for_every_kind_of_status(every_kind, field):
    column = every_kind.column(field)
    assert column == [expected(e, field) for e in every_kind]
    assert [type(v) for v in column] == [type(expected(e, field)) for e in every_kind]


@given(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=14))
def test_tuples_of_named_fields_take_them_in_the_order_given_repeats_included(fields):
    batch = _shared_batch()
    assert batch.tuples(*fields) == [tuple(expected(e, f) for f in fields) for e in batch]


_cache = []


def _shared_batch():
    # hypothesis runs the test many times; one ring's worth of events serves them all
    if not _cache:
        from cbring import _testing
        with cbring.Ring(64, "spill") as ring:
            for request in range(3):
                push_every_kind(ring, lambda r, s, i=None, *, handle, context, length=None:
                                _testing.call_status(r.status_callback, handle, context, s, i, length),
                                handle=(1 << 40) + request, context=request)
            _cache.append(ring.drain())
    return _cache[0]


def test_status_is_a_plain_int_in_tuples_and_column(every_kind):
    for status in every_kind.column("status"):
        assert type(status) is int
    assert every_kind.column("status")[0] == InternetStatus.HANDLE_CREATED
    assert {type(row[0]) for row in every_kind.tuples("status")} == {int}


def test_tuples_are_not_tracked_by_the_garbage_collector(every_kind):
    rows = every_kind.tuples()
    assert not any(gc.is_tracked(row) for row in rows)
    assert not gc.is_tracked(AsyncResult(1, 2))  # what async_result puts in a row


def test_tuples_and_column_of_an_empty_batch_are_empty_lists(ring):
    batch = ring.drain()
    assert batch.tuples() == [] and batch.tuples("handle") == []
    assert batch.column("info") == []


def test_tuples_and_column_of_a_slice_are_those_of_its_events(every_kind):
    part = every_kind[3:20:4]
    assert part.tuples("context", "info") == [(e.context, e.info) for e in list(every_kind)[3:20:4]]
    assert part.column("seq") == every_kind.column("seq")[3:20:4]


def test_consecutive_events_with_one_handle_share_one_int_object(every_kind):
    handles = every_kind.column("handle")
    assert handles[0] is handles[1] and handles[0] == 1 << 40
    assert handles[11] == (1 << 40) + 1  # the next request's: a new value, not the cached one
    rows = every_kind.tuples("context")
    assert rows[0][0] is rows[10][0] and rows[11][0] == (1 << 63) + 1


@pytest.mark.parametrize("bad", ["Status", "dwContext", "", "handle "])
def test_an_unknown_field_raises_value_error_naming_it_and_the_valid_fields(every_kind, bad):
    for call in (lambda: every_kind.tuples("handle", bad), lambda: every_kind.column(bad)):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert repr(bad) in message
        assert ", ".join(FIELDS) in message


@pytest.mark.parametrize("bad", [0, None, b"handle"])
def test_a_field_name_that_is_not_a_str_raises_type_error(every_kind, bad):
    with pytest.raises(TypeError, match="field names are str"):
        every_kind.tuples(bad)
    with pytest.raises(TypeError, match="field names are str"):
        every_kind.column(bad)


def test_a_bad_field_leaves_the_batch_whole(every_kind):
    before = every_kind.tuples()
    with pytest.raises(ValueError):
        every_kind.tuples("context", "nope")
    assert every_kind.tuples() == before
