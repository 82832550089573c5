"""A ring's callback address outlives the Ring: calls after close() or after
collection are counted as late and touch no freed memory."""

import ctypes
import gc
import struct

import pytest

import cbring
from cbring import _testing
from cbring._core import _orphaned_late_calls

CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32,
                            ctypes.c_void_p, ctypes.c_uint32)


def dword(v):
    return struct.pack("=I", v)


def call(address, context=0, status=31, info=dword(1)):
    _testing.call_status(address, 1, context, status, info)


def test_calls_after_close_are_counted_as_late_and_not_recorded(ring):
    call(ring.status_callback, context=1)
    ring.close()
    for i in range(5):
        call(ring.status_callback, context=2 + i)
    assert ring.stats.late == 5
    assert ring.stats.pushed == 1
    assert [e.context for e in ring.drain()] == [1]
    assert len(ring.drain()) == 0


@pytest.mark.parametrize("status, info", [(60, bytes(cbring.AsyncResult(1, 0))),
                                          (10, b"x" * 100), (70, None), (9999, b"")])
def test_late_calls_of_every_kind_are_only_counted(ring, status, info):
    ring.close()
    call(ring.status_callback, status=status, info=info)
    assert ring.stats.late == 1
    assert len(ring.drain()) == 0


def test_calls_after_the_ring_is_collected_never_crash_and_count_as_orphaned_late():
    ring = cbring.Ring(8)
    address = ring.status_callback
    call(address)                   # recorded, then discarded with the Ring
    del ring
    gc.collect()
    before = _orphaned_late_calls()
    for i in range(3):
        call(address, context=i)
    CALLBACK(address)(None, 0, 100, None, 16)   # as a ctypes-using program would
    assert _orphaned_late_calls() == before + 4


def test_a_collected_ring_that_had_a_wakeup_descriptor_in_use_still_counts_late():
    ring = cbring.Ring(8)
    address = ring.status_callback
    ring.fileno()
    ring.close()
    del ring
    gc.collect()
    before = _orphaned_late_calls()
    call(address)
    assert _orphaned_late_calls() == before + 1


def test_a_closed_ring_counts_late_calls_before_and_after_collection():
    ring = cbring.Ring(8)
    address = ring.status_callback
    ring.close()
    call(address)
    assert ring.stats.late == 1
    gc.collect()  # other tests' garbage must not land in the difference
    before = _orphaned_late_calls()
    del ring
    gc.collect()
    assert _orphaned_late_calls() == before + 1   # the closed ring's late calls now count as orphaned
    call(address)
    assert _orphaned_late_calls() == before + 2


def test_a_reused_callback_address_starts_a_fresh_ring_and_orphaned_counts_survive():
    ring = cbring.Ring(8)
    address = ring.status_callback
    call(address, context=1)
    ring.close()
    call(address)
    call(address)
    del ring
    gc.collect()
    before = _orphaned_late_calls()

    # Addresses are handed out oldest-free-first: cycle until this one comes back.
    for created in range(1, 2 * cbring.MAX_RINGS + 1):
        reused = cbring.Ring(4)
        if reused.status_callback == address:
            break
        reused.close()   # rebinding releases it: its slot goes to the back of the queue
    else:
        pytest.fail("the freed address never came back")
    assert created > cbring.MAX_RINGS   # only after MAX_RINGS further Rings
    with reused:
        assert _orphaned_late_calls() == before
        assert reused.stats == cbring.RingStats(pushed=0, drained=0, dropped=0, spilled=0, late=0,
                                                capacity=4, high_water=0, wakeups=0,
                                                payloads_truncated=0)
        assert len(reused.drain()) == 0          # nothing from the earlier life
        for i in range(6):
            call(address, context=10 + i)
        events = list(reused.drain()) + list(reused.drain())
        assert [e.context for e in events] == [10, 11, 12, 13, 14, 15]
        assert reused.stats.pushed == 6 and reused.stats.spilled == 2


def test_records_pushed_before_close_stay_drainable_after_close(make_ring):
    ring = make_ring(4)
    for i in range(6):
        call(ring.status_callback, context=i)
    ring.close()
    assert ring.closed
    got = []
    while batch := ring.drain():
        got += [e.context for e in batch]
    assert got == list(range(6))


def test_a_ring_closed_by_its_context_manager_counts_later_calls_late():
    with cbring.Ring(8) as ring:
        address = ring.status_callback
    call(address)
    assert ring.stats.late == 1


@pytest.fixture
def descriptors_for_every_ring():
    """Room for MAX_RINGS live Rings' wake-up descriptors (plus pytest's own)."""
    try:
        import resource
    except ImportError:   # Windows: the wake-ups are sockets, with no such limit to raise
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * cbring.MAX_RINGS + 256   # a pipe each where there is no eventfd
    if soft != resource.RLIM_INFINITY and soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("alive", [0, 1000, cbring.MAX_RINGS - 1])
def test_a_collected_rings_address_is_reused_only_after_max_rings_further_rings(
        alive, descriptors_for_every_ring):
    """The README's guarantee, with most Rings alive (1000 alive once gave a
    collected Ring's address back after 24 creations)."""
    gc.collect()
    keep = [cbring.Ring(2) for _ in range(alive)]
    try:
        gone = cbring.Ring(2)
        address = gone.status_callback
        del gone
        gc.collect()
        seen = set()
        for created in range(1, 2 * cbring.MAX_RINGS + 1):
            ring = cbring.Ring(2)
            if ring.status_callback == address:
                break
            seen.add(ring.status_callback)
            ring.close()
            del ring      # collected at once: its address joins the queue too
        else:
            pytest.fail("the collected Ring's address never came back")
        assert created > cbring.MAX_RINGS, \
            f"the address came back after {created - 1} further Rings, with {alive} alive"
        assert address not in seen and len(seen) >= cbring.MAX_RINGS - alive
        ring.close()
    finally:
        for r in keep:
            r.close()
        del keep
        gc.collect()


def test_max_rings_rings_can_be_alive_at_once_and_one_more_is_refused(descriptors_for_every_ring):
    gc.collect()
    keep = []
    try:
        while len(keep) < cbring.MAX_RINGS:
            keep.append(cbring.Ring(2))
        assert len({r.status_callback for r in keep}) == cbring.MAX_RINGS
        with pytest.raises(RuntimeError, match=f"at most {cbring.MAX_RINGS} Rings"):
            cbring.Ring(2)
        keep.pop().close()
        gc.collect()
        keep.append(cbring.Ring(2))   # one went, so one more fits
    finally:
        for r in keep:
            r.close()
        del keep
        gc.collect()
