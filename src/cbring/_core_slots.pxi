# Included by _core.pyx.  The slot table: which of _slots.h's statically
# allocated rings (and callback addresses) each Ring owns, and the calls
# counted on rings whose Ring is gone.

# Slots are handed out oldest-free-first from a queue that, with twice as
# many slots as live Rings, keeps a freed address out of use until at least
# CBR_MAX_RINGS further Rings have been created (see _slots.h).
cdef int _free_slots[CBR_SLOT_COUNT]
cdef int _free_head = 0
cdef int _free_count = 0
cdef uint64_t _orphan_late = 0
cdef uint64_t _orphan_pushed = 0
cdef uint64_t _orphan_dropped = 0
# The Ring that owns each slot (borrowed: set by __cinit__, cleared by
# __dealloc__), so that the fork handlers can reach every live Ring.
cdef PyObject *_live_rings[CBR_SLOT_COUNT]
cdef void _init_slots():
    global _free_count
    cdef int i
    for i in range(CBR_SLOT_COUNT):
        _free_slots[i] = i
    _free_count = CBR_SLOT_COUNT

_init_slots()


cdef int _take_slot() except -2:
    global _free_head, _free_count
    cdef int slot
    if CBR_SLOT_COUNT - _free_count >= CBR_MAX_RINGS:
        return -1
    slot = _free_slots[_free_head]
    _free_head = (_free_head + 1) % CBR_SLOT_COUNT
    _free_count -= 1
    return slot


cdef void _give_slot(int slot):
    global _free_count
    _free_slots[(_free_head + _free_count) % CBR_SLOT_COUNT] = slot
    _free_count += 1


cdef void _return_unused_slot(int slot):
    # a Ring that failed to start gives its slot back at the front: its
    # address was not handed out again, so it keeps its place in the queue
    global _free_head, _free_count
    _free_head = (_free_head + CBR_SLOT_COUNT - 1) % CBR_SLOT_COUNT
    _free_slots[_free_head] = slot
    _free_count += 1


def _orphaned_calls():
    """(pushed, dropped, late): the calls counted by Rings that have been
    collected, so that a test can account for every call of a Ring it no
    longer holds.  pushed and dropped are final when a Ring is collected
    (its close() has waited for every call that began before it); late
    keeps growing while producers call a collected Ring's address."""
    return _orphan_pushed, _orphan_dropped, _orphaned_late_calls()


def _orphaned_late_calls():
    """Late calls counted on the rings of collected Ring objects."""
    cdef uint64_t total = _orphan_late
    cdef cbr_ring_stats st
    cdef int i, slot
    for i in range(_free_count):
        slot = _free_slots[(_free_head + i) % CBR_SLOT_COUNT]
        if cbr_ring_closed(cbr_slot_ring(slot)):
            cbr_ring_get_stats(cbr_slot_ring(slot), &st)
            total += st.late
    return total
