# cython: language_level=3, embedsignature=True, freethreading_compatible=False
# The compiled layer: Ring, Batch, StatusEvent and AsyncResult own C state
# and translate errors; the logic lives in include/cbring.  One module, one
# file per concept, included in this order (as uvloop's loop.pyx includes
# its handles): each API's status names (_core_wininet.pxi,
# _core_winhttp.pxi), the slot table, a record's fields as Python values
# (_core_records.pxi), AsyncResult, StatusEvent, Batch, Ring, the test-only
# pause points and the fork handlers; what they share is here.  Their
# declarations stay in the files: _core.pxd, which other modules cimport,
# may not bring in the ring's headers before _slots.h (see there).

cimport cython

import collections
import enum
import math
import os
import sys
import time

from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES, PyBUF_WRITABLE
from cpython.buffer cimport PyBUF_RECORDS_RO, PyBuffer_IsContiguous
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport PyObject
from cpython.pythread cimport (NOWAIT_LOCK, WAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_release_lock, PyThread_type_lock)
from libc.stdint cimport uint8_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcpy, memset

# First, before the cimport below brings in ring.h: _slots.h interposes the
# test-only pause points on the ring code compiled into this module.
cdef extern from "_slots.h":
    pass

from cbring.libcbring cimport *
from cbring import _arguments

cdef extern from "_slots.h" nogil:
    enum:
        CBR_SLOT_COUNT
        CBR_MAX_RINGS
        CBR_PAUSE_NONE
        CBR_PAUSE_CLOSE_AFTER_TAIL
        CBR_PAUSE_DECIDER_BEFORE_COUNT
        CBR_PAUSE_DECIDER_AFTER_COUNT
        CBR_PAUSE_DECIDER_BEFORE_DONE
    void cbr_pause_arm(uint32_t where, void *field)
    uint32_t cbr_pause_reached()
    uint32_t cbr_pause_held_gil()
    int cbr_pause_resume()
    uint32_t cbr_pause_backoffs(int on)
    cbr_ring *cbr_slot_ring(int i)
    uintptr_t cbr_slot_callback(int i)
    uintptr_t cbr_slot_callback_w(int i)
    uintptr_t cbr_slot_callback_h(int i)
    int cbr_slot_register(uintptr_t hinternet, int i, uintptr_t *previous, unsigned long *error)
    int cbr_slot_register_winhttp(uintptr_t hinternet, int i, uint32_t notifications,
                                  uintptr_t *previous, unsigned long *error)

include "_core_wininet.pxi"


include "_core_winhttp.pxi"


RingStats = collections.namedtuple(
    "RingStats",
    "pushed drained dropped spilled late capacity high_water wakeups payloads_truncated",
    module="cbring",
)
RingStats.__doc__ = """Counters of a Ring; exact once its producers have stopped.

pushed: records accepted (into the ring or the overflow list);
drained: records handed to the consumer; dropped: refused when full;
spilled: of pushed, those that went through the overflow list;
late: calls after close() or collection, discarded; capacity: slots;
high_water: most records in the ring at once; wakeups: system calls that
producers made to wake a waiting consumer; payloads_truncated: of pushed,
those whose information, though within PAYLOAD_MAX, came out truncated
(no room to keep it under "drop" or a timed-out "block", or drained with
no payload buffer).  Every call to a ring's callback is counted exactly
once in pushed, dropped or late."""

EVENT_SIZE = CBR_RECORD_SIZE
EVENT_FORMAT = (<bytes>CBR_RECORD_FORMAT).decode("ascii")
MAX_CAPACITY = <Py_ssize_t>CBR_RING_MAX_CAPACITY
MAX_RINGS = CBR_MAX_RINGS
PAYLOAD_MAX = CBR_PAYLOAD_MAX

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX

# drain() grows its batch this many records at a time (4 MiB): the most it
# allocates beyond what it returns.
cdef enum:
    DRAIN_STEP = 1 << 16
_DRAIN_STEP = DRAIN_STEP

cdef object _DWORD_PTR_MAX = (<object>1 << (8 * sizeof(cbr_dword_ptr))) - 1
cdef dict _POLICIES = {"spill": CBR_OVERFLOW_SPILL, "drop": CBR_OVERFLOW_DROP, "block": CBR_OVERFLOW_BLOCK}
cdef tuple _POLICY_NAMES = ("spill", "drop", "block")
cdef cbr_record _empty_record

include "_core_slots.pxi"


cdef double _seconds(object value, str name, str alternative="") except? -1.0:
    # what time.sleep() accepts: real numbers, not text
    if isinstance(value, (str, bytes, bytearray)) or not (
            hasattr(type(value), "__float__") or hasattr(type(value), "__index__")):
        raise TypeError(f"{name} must be a number of seconds{alternative}, got {type(value).__name__}")
    return float(value)


cdef object _checked_index(object value, str name, object low, object high):
    try:
        v = value.__index__()
    except AttributeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not (low <= v <= high):
        raise ValueError(f"{name} must be between {low} and {high}, got {v}")
    return v


include "_core_records.pxi"


include "_core_async_result.pxi"


include "_core_event.pxi"


include "_core_batch.pxi"


include "_core_ring.pxi"


include "_core_pauses.pxi"


include "_core_fork.pxi"


cdef extern from "_capi.h":
    const char *CBRING_CAPSULE_NAME
    void *cbr_capi_fill(cbr_ring *(*ring_from_object)(object) except NULL)


cdef cbr_ring *_capi_ring_from_object(object ring) except NULL:
    if not isinstance(ring, Ring):
        raise TypeError(f"expected a cbring.Ring, got {type(ring).__name__}")
    return (<Ring>ring)._r


# The C API table for other extensions; see include/cbring/cbring.h.
_C_API = PyCapsule_New(cbr_capi_fill(_capi_ring_from_object), CBRING_CAPSULE_NAME, NULL)
