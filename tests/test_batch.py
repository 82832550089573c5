"""Ring.drain() and the Batch it returns: a sequence of StatusEvents and a
read-only buffer of 64-byte records."""

import copy
import ctypes
import gc
import pickle
import struct
import sys

import numpy as np
import pytest

import cbring
from cbring import AsyncResult, InternetStatus, StatusEvent


def dword(v):
    return struct.pack("=I", v)


@pytest.fixture
def five(ring, push):
    """A ring holding five events with contexts 0..4 (REQUEST_SENT, info = 100 + context)."""
    for i in range(5):
        push(ring, 31, dword(100 + i), handle=0x1000 + i, context=i)
    return ring


def test_drain_returns_every_ready_event_oldest_first(five):
    batch = five.drain()
    assert isinstance(batch, cbring.Batch)
    assert len(batch) == 5
    assert [e.context for e in batch] == [0, 1, 2, 3, 4]
    assert all(isinstance(e, StatusEvent) for e in batch)
    assert len(five.drain()) == 0


def test_drain_with_max_events_takes_that_many_and_leaves_the_rest_in_order(five):
    assert [e.context for e in five.drain(2)] == [0, 1]
    assert [e.context for e in five.drain(max_events=2)] == [2, 3]
    assert [e.context for e in five.drain(10)] == [4]


def test_drain_of_zero_events_takes_nothing(five):
    assert len(five.drain(0)) == 0
    assert len(five.drain()) == 5


@pytest.mark.parametrize("max_events, error", [(-1, ValueError), (1.0, TypeError),
                                               ("2", TypeError)])
def test_drain_with_a_bad_max_events_raises_and_loses_nothing(five, max_events, error):
    with pytest.raises(error, match="max_events"):
        five.drain(max_events)
    assert len(five.drain()) == 5


def test_drain_of_an_empty_ring_returns_an_empty_batch(ring):
    batch = ring.drain()
    assert len(batch) == 0
    assert list(batch) == []
    assert not batch


def test_drain_on_a_closed_ring_returns_what_was_left_then_empty_batches(five, push):
    five.close()
    push(five, 31, dword(9), context=99)  # late: not recorded
    assert [e.context for e in five.drain(3)] == [0, 1, 2]
    assert [e.context for e in five.drain()] == [3, 4]
    assert len(five.drain()) == 0
    assert len(five.drain()) == 0
    assert five.stats.late == 1


def test_indexing_accepts_negative_positions(five):
    batch = five.drain()
    assert batch[0].context == 0
    assert batch[4].context == 4
    assert batch[-1].context == 4
    assert batch[-5].context == 0
    assert batch[np.int64(2)].context == 2


@pytest.mark.parametrize("index", [5, -6, 2**70])
def test_indexing_out_of_range_raises_index_error(five, index):
    batch = five.drain()
    with pytest.raises((IndexError, OverflowError)):
        batch[index]


def test_indexing_an_empty_batch_raises_index_error(ring):
    with pytest.raises(IndexError):
        ring.drain()[0]


@pytest.mark.parametrize("index", ["0", 1.0, None])
def test_indexing_with_a_non_integer_raises_type_error(five, index):
    with pytest.raises(TypeError, match="integers or slices"):
        five.drain()[index]


def test_slicing_gives_a_batch_of_those_events(five):
    batch = five.drain()
    part = batch[1:4]
    assert isinstance(part, cbring.Batch)
    assert [e.context for e in part] == [1, 2, 3]
    assert [e.context for e in batch[::-2]] == [4, 2, 0]
    assert list(batch[1:4]) == list(batch)[1:4]
    assert len(batch[10:]) == 0 and isinstance(batch[10:], cbring.Batch)


def test_a_slice_is_a_batch_with_its_own_records(five, record_dtype):
    batch = five.drain()
    part = batch[::2]
    del batch
    gc.collect()
    a = np.asarray(part)
    assert a.dtype == record_dtype
    assert a["context"].tolist() == [0, 2, 4]
    assert memoryview(part).nbytes == 3 * cbring.EVENT_SIZE


def test_events_from_the_same_record_are_equal_and_hash_alike(five):
    batch = five.drain()
    assert batch[0] == batch[0]
    assert hash(batch[0]) == hash(batch[0])
    assert batch[0] != batch[1]
    assert batch[0] != (batch[0].handle, batch[0].context)
    assert len(set(batch) | set(batch)) == 5


def test_copy_of_a_batch_is_the_batch_itself_it_is_immutable(five):
    batch = five.drain()
    assert copy.copy(batch) is batch
    assert copy.deepcopy(batch) is batch


def test_a_batch_pickles_as_its_records(five):
    batch = five.drain()
    back = pickle.loads(pickle.dumps(batch))
    assert isinstance(back, cbring.Batch)
    assert list(back) == list(batch)
    assert bytes(memoryview(back)) == bytes(memoryview(batch))


def test_event_dtype_is_what_numpy_reads_from_a_batch(five, record_dtype):
    assert cbring.EVENT_DTYPE == record_dtype
    assert np.asarray(five.drain()).dtype == cbring.EVENT_DTYPE
    assert cbring.EVENT_DTYPE.itemsize == cbring.EVENT_SIZE


def test_iterating_twice_gives_the_same_events(five):
    batch = five.drain()
    assert [e.info for e in batch] == [e.info for e in batch] == [100, 101, 102, 103, 104]


def test_repr_gives_the_number_of_events(five):
    assert repr(five.drain()) == "<cbring.Batch of 5 events>"


def test_batches_cannot_be_created_directly():
    with pytest.raises(TypeError, match="come from Ring.drain"):
        cbring.Batch()


def test_a_batch_is_a_copy_that_outlives_its_ring(make_ring, push):
    ring = cbring.Ring(8)
    push(ring, 31, dword(7), context=1)
    batch = ring.drain()
    push(ring, 31, dword(8), context=2)
    ring.close()
    del ring
    gc.collect()
    assert [(e.context, e.info) for e in batch] == [(1, 7)]


def test_event_format_and_size_describe_the_64_byte_record():
    assert cbring.EVENT_SIZE == 64
    assert cbring.EVENT_FORMAT == ("T{Q:handle:Q:context:Q:result:I:seq:I:status:I:error:"
                                   "I:length:H:flags:B:kind:B:data_len:20s:data:}")
    assert struct.calcsize("QQQIIIIHBB20s") == cbring.EVENT_SIZE


def test_memoryview_of_a_batch_has_the_event_format_one_item_per_event(five):
    view = memoryview(five.drain())
    assert view.format == cbring.EVENT_FORMAT
    assert view.itemsize == cbring.EVENT_SIZE
    assert view.ndim == 1
    assert view.shape == (5,)
    assert view.strides == (cbring.EVENT_SIZE,)
    assert view.nbytes == 5 * cbring.EVENT_SIZE
    assert view.c_contiguous


def test_memoryview_bytes_are_the_records_in_record_h_layout(five):
    raw = memoryview(five.drain()).tobytes()
    for i in range(5):
        handle, context, result, seq, status, error, length, flags, kind, data_len, data = \
            struct.unpack_from("=QQQIIIIHBB20s", raw, i * 64)
        assert (handle, context, result, status, error, length) == (0x1000 + i, i, 100 + i, 31, 0, 4)
        assert (flags, kind, data_len, data) == (0, 2, 0, bytes(20))


def test_memoryview_of_an_empty_batch_is_empty_with_the_event_format(ring):
    view = memoryview(ring.drain())
    assert view.shape == (0,)
    assert view.format == cbring.EVENT_FORMAT
    assert view.tobytes() == b""


def test_a_batch_is_read_only_through_the_buffer_protocol(five):
    batch = five.drain()
    view = memoryview(batch)
    assert view.readonly
    with pytest.raises(TypeError, match="not writable"):
        (ctypes.c_char * 64).from_buffer(batch)  # asks for PyBUF_WRITABLE
    with pytest.raises(ValueError, match="read-only"):
        np.frombuffer(batch, dtype=np.uint8)[0] = 1
    array = np.asarray(batch)
    assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        array["context"][0] = 99
    assert batch[0].context == 0


def test_numpy_asarray_is_a_zero_copy_structured_array_with_named_fields(five, record_dtype):
    batch = five.drain()
    a = np.asarray(batch)
    b = np.asarray(batch)
    assert a.dtype == record_dtype
    assert a.shape == (5,)
    view = np.asarray(memoryview(batch))
    # All three are views of the batch's own records, not copies.
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    assert a.__array_interface__["data"][0] == view.__array_interface__["data"][0]
    assert np.shares_memory(a, b)


def test_numpy_structured_fields_hold_each_events_values(ring, push):
    push(ring, 60, bytes(AsyncResult(0xABC, 0)), handle=0xABC, context=1)
    push(ring, 10, b"downloads.example.test\0", handle=0xABC, context=1)
    push(ring, 41, dword(4096), handle=0xABC, context=1)
    push(ring, 100, bytes(AsyncResult(0, 12002)), handle=0xABC, context=1)
    push(ring, 70, (0xABC).to_bytes(8, sys.byteorder), handle=0xABC, context=1)
    push(ring, 31, None, length=4, handle=0xABC, context=1)
    a = np.asarray(ring.drain())
    assert a["status"].tolist() == [60, 10, 41, 100, 70, 31]
    assert a["handle"].tolist() == [0xABC] * 6
    assert a["context"].tolist() == [1] * 6
    # the host (22 bytes) is longer than data: whole in the batch's payloads, at offset 0
    assert a["result"].tolist() == [0xABC, 22 << 32, 4096, 0, 0xABC, 0]
    assert a["error"].tolist() == [0, 0, 0, 12002, 0, 0]
    assert a["length"].tolist() == [16, 23, 4, 16, 8, 4]
    assert a["flags"].tolist() == [0, 16, 0, 0, 0, 2]
    assert a["kind"].tolist() == [1, 5, 2, 1, 3, 0]
    assert a["data_len"].tolist() == [0, 20, 0, 0, 0, 0]
    assert a["data"].tolist() == [b"", b"downloads.example.te", b"", b"", b"", b""]
    seq = a["seq"].astype(np.int64)
    assert ((seq - seq[0]) % 2**32).tolist() == [0, 1, 2, 3, 4, 5]


def test_numpy_array_of_an_empty_batch_is_empty_with_the_record_dtype(ring, record_dtype):
    a = np.asarray(ring.drain())
    assert a.shape == (0,)
    assert a.dtype == record_dtype


def test_numpy_array_keeps_the_batch_alive(ring, push):
    push(ring, 31, dword(5), context=3)
    a = np.asarray(ring.drain())  # the batch is referenced only through the array
    gc.collect()
    junk = [bytes(64) * 8 for _ in range(1000)]  # reuse freed memory, if any
    assert (a["context"][0], a["result"][0]) == (3, 5)
    del junk


def test_statusevents_agree_with_the_numpy_view(five):
    batch = five.drain()
    a = np.asarray(batch)
    for event, record in zip(batch, a):
        assert event.status == InternetStatus(record["status"])
        assert event.context == record["context"]
        assert event.info == record["result"]
        assert event.seq == record["seq"]
        assert event.flags == record["flags"]


def test_importing_cbring_does_not_import_numpy_and_event_dtype_needs_it(run_python):
    r = run_python("""
        import sys

        class NoNumpy:
            def find_spec(self, name, path=None, target=None):
                if name == "numpy" or name.startswith("numpy."):
                    raise ImportError("numpy is blocked for this test")

        import cbring
        assert "numpy" not in sys.modules, "import cbring imported numpy"
        sys.meta_path.insert(0, NoNumpy())  # as if numpy were not installed
        assert not hasattr(cbring, "EVENT_DTYPE")
        try:
            cbring.EVENT_DTYPE
        except AttributeError as e:
            print(e)
    """)
    assert r.returncode == 0, r.stderr
    assert "EVENT_DTYPE needs numpy" in r.stdout
