"""Ring.drain_into(buffer): whole records straight into a caller's buffer;
and what drain() allocates for the records it returns."""

import array
import os
import struct
import subprocess
import tracemalloc

import numpy as np
import pytest

import cbring
from cbring import _testing

RECORD = struct.Struct("=QQQIIIIHBB20s")


def dword(v):
    return struct.pack("=I", v)


@pytest.fixture
def spilled_ten(make_ring, push):
    """A capacity-4 ring holding ten events, contexts 0..9: four in the ring, six spilled."""
    ring = make_ring(4)
    for i in range(10):
        push(ring, 41, dword(i * 10), context=i)
    assert ring.stats.spilled == 6
    return ring


def contexts(buf, n):
    return [RECORD.unpack_from(buf, i * 64)[1] for i in range(n)]


def test_fills_a_bytearray_with_whole_records_in_record_h_layout(ring, push):
    push(ring, 41, dword(4096), handle=0xAA, context=5)
    push(ring, 10, b"a.test\0", handle=0xAA, context=5)
    buf = bytearray(64 * 4)
    assert ring.drain_into(buf) == 2
    first, second = RECORD.unpack_from(buf, 0), RECORD.unpack_from(buf, 64)
    assert first[:3] == (0xAA, 5, 4096) and first[4:7] == (41, 0, 4)
    assert second[4] == 10 and second[9:] == (6, b"a.test" + bytes(14))  # text, without its NUL
    assert buf[128:] == bytes(128)
    assert ring.stats.drained == 2


def test_takes_at_most_as_many_records_as_fit_and_leaves_the_rest_in_order(spilled_ten):
    buf = bytearray(64 * 3 + 63)
    buf[192:] = b"\xee" * 63
    assert spilled_ten.drain_into(buf) == 3
    assert contexts(buf, 3) == [0, 1, 2]
    assert buf[192:] == b"\xee" * 63  # the partial record's room is left alone
    assert spilled_ten.drain_into(buf) == 3
    assert contexts(buf, 3) == [3, 4, 5]
    assert spilled_ten.drain_into(buf) == 3
    assert contexts(buf, 3) == [6, 7, 8]
    assert spilled_ten.drain_into(buf) == 1
    assert contexts(buf, 1) == [9]


def test_takes_ring_and_overflowed_records_together_when_there_is_room(spilled_ten):
    buf = bytearray(64 * 16)
    assert spilled_ten.drain_into(buf) == 10
    assert contexts(buf, 10) == list(range(10))
    assert spilled_ten.drain_into(buf) == 0


def test_returns_zero_and_leaves_the_buffer_alone_when_nothing_is_ready(ring):
    buf = bytearray(b"\x5a" * 128)
    assert ring.drain_into(buf) == 0
    assert buf == bytearray(b"\x5a" * 128)


@pytest.mark.parametrize("make", [
    pytest.param(lambda n: memoryview(bytearray(64 * n)), id="memoryview"),
    pytest.param(lambda n: array.array("B", bytes(64 * n)), id="array-B"),
    pytest.param(lambda n: np.zeros(64 * n, dtype=np.uint8), id="numpy-uint8"),
    pytest.param(lambda n: np.zeros((n, 64), dtype=np.uint8), id="numpy-2d-uint8"),
    pytest.param(lambda n: np.zeros(n, dtype="V64"), id="numpy-void64"),
])
def test_accepts_any_writable_c_contiguous_buffer_of_bytes_or_records(spilled_ten, make):
    buf = make(16)
    assert spilled_ten.drain_into(buf) == 10
    assert contexts(bytes(memoryview(buf).cast("B") if not isinstance(buf, np.ndarray)
                          else buf.tobytes()), 10) == list(range(10))


def test_fills_a_numpy_structured_array_field_by_field(spilled_ten, record_dtype):
    records = np.zeros(16, dtype=record_dtype)
    n = spilled_ten.drain_into(records)
    assert n == 10
    got = records[:n]
    assert got["context"].tolist() == list(range(10))
    assert got["result"].tolist() == [i * 10 for i in range(10)]
    assert got["status"].tolist() == [41] * 10
    assert got["flags"].tolist() == [0] * 4 + [8] * 6  # the six that went through the overflow list
    assert (got["seq"][4:] == 0).all() and (got["seq"][:4] != 0).all()


def test_matches_what_drain_would_have_returned(make_ring, push, record_dtype):
    a, b = make_ring(64), make_ring(64)
    for ring in (a, b):
        push(ring, 100, bytes(cbring.AsyncResult(1, 2)), handle=9, context=1)
        push(ring, 110, b"https://example.test/a/long/redirect", handle=9, context=1)
        push(ring, 70, None, length=8, handle=9, context=1)
    batch = a.drain()
    from_drain = np.asarray(batch)
    into = np.zeros(8, dtype=record_dtype)
    payloads = bytearray(cbring.PAYLOAD_MAX)  # the redirect is longer than a record's 20 bytes
    assert b.drain_into(into, payloads) == 3
    for name in record_dtype.names:
        if name != "seq":  # positions differ between rings
            assert (from_drain[name] == into[:3][name]).all(), name
    assert bytes(payloads[:36]) == batch.payload(1) == b"https://example.test/a/long/redirect"


def refused(ring, buffer, error, match):
    """drain_into(buffer) raises error, and the ring keeps all it held."""
    before = ring.stats
    with pytest.raises(error, match=match):
        ring.drain_into(buffer)
    assert ring.stats.drained == before.drained
    got = []
    while batch := ring.drain():
        got += [e.context for e in batch]
    return got


READ_ONLY = [
    pytest.param(lambda: bytes(64 * 16), id="bytes"),
    pytest.param(lambda: memoryview(bytes(64 * 16)), id="memoryview-of-bytes"),
    pytest.param(lambda: memoryview(bytearray(64 * 16)).toreadonly(), id="readonly-memoryview"),
]


@pytest.mark.parametrize("make", READ_ONLY)
def test_a_read_only_buffer_raises_type_error_and_nothing_is_lost(spilled_ten, make):
    assert refused(spilled_ten, make(), TypeError, "writable") == list(range(10))


def test_a_read_only_numpy_array_raises_type_error_and_nothing_is_lost(spilled_ten, record_dtype):
    records = np.zeros(16, dtype=record_dtype)
    records.flags.writeable = False
    assert refused(spilled_ten, records, TypeError, "writable") == list(range(10))


def test_a_batch_is_not_a_buffer_to_drain_into(spilled_ten, make_ring, push):
    other = make_ring(4)
    push(other, 31, dword(0))
    batch = other.drain()
    assert refused(spilled_ten, batch, (TypeError, BufferError), None) == list(range(10))


NON_CONTIGUOUS = [
    pytest.param(lambda dt: memoryview(bytearray(64 * 32))[::2], id="memoryview-step-2"),
    pytest.param(lambda dt: np.zeros(32, dtype=dt)[::2], id="numpy-records-step-2"),
    pytest.param(lambda dt: np.zeros((64, 16), dtype=np.uint8, order="F"), id="numpy-fortran"),
    pytest.param(lambda dt: np.zeros((16, 128), dtype=np.uint8)[:, :64], id="numpy-column-slice"),
]


@pytest.mark.parametrize("make", NON_CONTIGUOUS)
def test_a_non_contiguous_buffer_raises_value_error_and_nothing_is_lost(spilled_ten, record_dtype,
                                                                        make):
    assert refused(spilled_ten, make(record_dtype), ValueError, "C-contiguous") == list(range(10))


@pytest.mark.parametrize("size", [0, 1, 63])
def test_a_buffer_smaller_than_one_record_raises_value_error_and_nothing_is_lost(spilled_ten, size):
    match = f"room for at least one 64-byte record, got {size} bytes"
    assert refused(spilled_ten, bytearray(size), ValueError, match) == list(range(10))


@pytest.mark.parametrize("make, itemsize", [
    pytest.param(lambda: array.array("i", [0] * 256), 4, id="array-int"),
    pytest.param(lambda: np.zeros(128, dtype=np.float64), 8, id="numpy-float64"),
    pytest.param(lambda: np.zeros(32, dtype="V32"), 32, id="numpy-void32"),
    pytest.param(lambda: np.zeros(8, dtype="V128"), 128, id="numpy-void128"),
])
def test_a_buffer_of_any_item_size_is_taken_as_bytes(spilled_ten, make, itemsize):
    buf = make()
    assert memoryview(buf).itemsize == itemsize
    assert spilled_ten.drain_into(buf) == 10
    assert contexts(memoryview(buf).cast("B"), 10) == list(range(10))


@pytest.mark.parametrize("thing", [None, [0] * 64, "x" * 64, 64])
def test_an_object_without_a_buffer_raises_type_error_and_nothing_is_lost(spilled_ten, thing):
    assert refused(spilled_ten, thing, TypeError, None) == list(range(10))


def test_on_a_closed_ring_gives_what_was_left_then_nothing(spilled_ten, push):
    spilled_ten.close()
    push(spilled_ten, 41, dword(0), context=99)  # late
    buf = bytearray(64 * 16)
    assert spilled_ten.drain_into(buf) == 10
    assert contexts(buf, 10) == list(range(10))
    assert spilled_ten.drain_into(buf) == 0
    assert spilled_ten.stats.late == 1


def traced_peak(fn):
    """fn()'s result and the most memory it had allocated at once, by tracemalloc."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_drain_without_a_limit_allocates_at_most_a_step_more_than_it_returns(make_ring):
    # Position 0 is claimed and unwritten (a producer preempted mid-push),
    # 199,999 records wait behind it: the claimed count says 200,000, and a
    # drain that allocated for it returned nothing from 12.8 MB.
    ring = make_ring(1 << 18, "spill")
    waiting = 200_000
    position = _testing.claim_unwritten(ring)
    try:
        with _testing.Producers(ring.status_callback, threads=1, events=waiting - 1):
            pass
        # a step of records, and the payload buffer a drain starts with
        slack = cbring._core._DRAIN_STEP * cbring.EVENT_SIZE + cbring.PAYLOAD_MAX + 4096
        batch, peak = traced_peak(ring.drain)
        assert len(batch) == 0
        assert peak <= slack, f"allocated {peak} bytes for an empty batch"
    finally:
        _testing.write_claimed(ring, position, context=7)   # else close() would wait for it
    batch, peak = traced_peak(ring.drain)
    assert len(batch) == waiting and batch[0].context == 7
    assert peak <= waiting * cbring.EVENT_SIZE + slack
    assert ring.stats.drained == waiting


def test_drain_with_a_limit_takes_at_most_the_limit_in_steps(make_ring, push):
    ring = make_ring(1 << 18, "spill")
    with _testing.Producers(ring.status_callback, threads=1, events=150_000):
        pass
    step = cbring._core._DRAIN_STEP
    got = [len(ring.drain(step + 5)), len(ring.drain(3)), len(ring.drain())]
    assert got == [step + 5, 3, 150_000 - step - 8]
    assert len(ring.drain()) == 0


def test_a_build_for_a_target_with_32_bit_sizes_is_refused(tmp_path, c_compiler):
    # drain() sizes its batch as records * 64 bytes in size_t, which a
    # 32-bit target would wrap; ring.h refuses such targets, as atomics.h
    # refuses 32-bit Windows.  The target is simulated by its SIZE_MAX.
    include = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "include")
    if not os.path.isdir(include):
        include = cbring.get_include()
    source = tmp_path / "wide.c"
    for size_max, refused in [("UINT64_MAX", False), ("UINT32_MAX", True)]:
        source.write_text(
            "#include <stdint.h>\n#undef SIZE_MAX\n"
            f"#define SIZE_MAX {size_max}\n#include <cbring/ring.h>\nint main(void) {{ return 0; }}\n")
        result = subprocess.run(c_compiler + ["-std=c11", "-D_GNU_SOURCE", "-fsyntax-only", "-I", include, str(source)],
                                capture_output=True, text=True)
        assert (result.returncode != 0) == refused, result.stderr
        assert ("64-bit targets only" in result.stderr) == refused, result.stderr


def test_drain_without_a_limit_stops_at_what_was_claimed_when_it_began(make_ring):
    """Producers that refill the ring as fast as drain() copies must not keep
    one drain going (with the GIL held) for as long as they run: under "drop"
    no more than the capacity is ever claimed and undrained, so a drain that
    stops at what was claimed when it began returns at most the capacity."""
    ring = make_ring(1 << 12, "drop")
    with _testing.Producers(ring.status_callback, threads=2, events=2_000_000) as producers:
        while ring.stats.pushed < ring.capacity:
            pass
        batch = ring.drain()
        assert 0 < len(batch) <= ring.capacity
    assert producers.finished()
