# cython: language_level=3, embedsignature=True, freethreading_compatible=False
# The compiled layer: Ring, Batch, StatusEvent and AsyncResult own C state
# and translate errors; the logic lives in include/cbring.

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
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport PyObject
from cpython.pythread cimport (NOWAIT_LOCK, WAIT_LOCK, PyThread_acquire_lock, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_release_lock, PyThread_type_lock)
from libc.stdint cimport uint8_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcpy, memset

from cbring.libcbring cimport *
from cbring import _arguments

cdef extern from "_slots.h" nogil:
    int CBR_SLOT_COUNT
    cbr_ring *cbr_slot_ring(int i)
    uintptr_t cbr_slot_callback(int i)
    int cbr_slot_register(uintptr_t hinternet, int i, uintptr_t *previous, unsigned long *error)

cdef extern from "cbring/wininet_compat.h":
    enum:
        INTERNET_STATUS_RESOLVING_NAME
        INTERNET_STATUS_NAME_RESOLVED
        INTERNET_STATUS_CONNECTING_TO_SERVER
        INTERNET_STATUS_CONNECTED_TO_SERVER
        INTERNET_STATUS_SENDING_REQUEST
        INTERNET_STATUS_REQUEST_SENT
        INTERNET_STATUS_RECEIVING_RESPONSE
        INTERNET_STATUS_RESPONSE_RECEIVED
        INTERNET_STATUS_CTL_RESPONSE_RECEIVED
        INTERNET_STATUS_PREFETCH
        INTERNET_STATUS_CLOSING_CONNECTION
        INTERNET_STATUS_CONNECTION_CLOSED
        INTERNET_STATUS_HANDLE_CREATED
        INTERNET_STATUS_HANDLE_CLOSING
        INTERNET_STATUS_DETECTING_PROXY
        INTERNET_STATUS_REQUEST_COMPLETE
        INTERNET_STATUS_REDIRECT
        INTERNET_STATUS_INTERMEDIATE_RESPONSE
        INTERNET_STATUS_USER_INPUT_REQUIRED
        INTERNET_STATUS_STATE_CHANGE
        INTERNET_STATUS_COOKIE_SENT
        INTERNET_STATUS_COOKIE_RECEIVED
        INTERNET_STATUS_PRIVACY_IMPACTED
        INTERNET_STATUS_P3P_HEADER
        INTERNET_STATUS_P3P_POLICYREF
        INTERNET_STATUS_COOKIE_HISTORY


InternetStatus = enum.IntEnum("InternetStatus", [
    ("RESOLVING_NAME", INTERNET_STATUS_RESOLVING_NAME),
    ("NAME_RESOLVED", INTERNET_STATUS_NAME_RESOLVED),
    ("CONNECTING_TO_SERVER", INTERNET_STATUS_CONNECTING_TO_SERVER),
    ("CONNECTED_TO_SERVER", INTERNET_STATUS_CONNECTED_TO_SERVER),
    ("SENDING_REQUEST", INTERNET_STATUS_SENDING_REQUEST),
    ("REQUEST_SENT", INTERNET_STATUS_REQUEST_SENT),
    ("RECEIVING_RESPONSE", INTERNET_STATUS_RECEIVING_RESPONSE),
    ("RESPONSE_RECEIVED", INTERNET_STATUS_RESPONSE_RECEIVED),
    ("CTL_RESPONSE_RECEIVED", INTERNET_STATUS_CTL_RESPONSE_RECEIVED),
    ("PREFETCH", INTERNET_STATUS_PREFETCH),
    ("CLOSING_CONNECTION", INTERNET_STATUS_CLOSING_CONNECTION),
    ("CONNECTION_CLOSED", INTERNET_STATUS_CONNECTION_CLOSED),
    ("HANDLE_CREATED", INTERNET_STATUS_HANDLE_CREATED),
    ("HANDLE_CLOSING", INTERNET_STATUS_HANDLE_CLOSING),
    ("DETECTING_PROXY", INTERNET_STATUS_DETECTING_PROXY),
    ("REQUEST_COMPLETE", INTERNET_STATUS_REQUEST_COMPLETE),
    ("REDIRECT", INTERNET_STATUS_REDIRECT),
    ("INTERMEDIATE_RESPONSE", INTERNET_STATUS_INTERMEDIATE_RESPONSE),
    ("USER_INPUT_REQUIRED", INTERNET_STATUS_USER_INPUT_REQUIRED),
    ("STATE_CHANGE", INTERNET_STATUS_STATE_CHANGE),
    ("COOKIE_SENT", INTERNET_STATUS_COOKIE_SENT),
    ("COOKIE_RECEIVED", INTERNET_STATUS_COOKIE_RECEIVED),
    ("PRIVACY_IMPACTED", INTERNET_STATUS_PRIVACY_IMPACTED),
    ("P3P_HEADER", INTERNET_STATUS_P3P_HEADER),
    ("P3P_POLICYREF", INTERNET_STATUS_P3P_POLICYREF),
    ("COOKIE_HISTORY", INTERNET_STATUS_COOKIE_HISTORY),
], module="cbring")
InternetStatus.__doc__ = "WinINet's INTERNET_STATUS_* codes, with the values wininet.h gives them."
_status_by_value = {int(s): s for s in InternetStatus}

RingStats = collections.namedtuple(
    "RingStats",
    "pushed drained dropped spilled late capacity high_water wakeups",
    module="cbring",
)
RingStats.__doc__ = """Counters of a Ring; exact once its producers have stopped.

pushed: records accepted (into the ring or the overflow list);
drained: records handed to the consumer; dropped: refused when full;
spilled: of pushed, those that went through the overflow list;
late: calls after close() or collection, discarded; capacity: slots;
high_water: most records in the ring at once; wakeups: system calls that
producers made to wake a waiting consumer.  Every call to a ring's callback
is counted exactly once in pushed, dropped or late."""

EVENT_SIZE = CBR_RECORD_SIZE
EVENT_FORMAT = (<bytes>CBR_RECORD_FORMAT).decode("ascii")
MAX_CAPACITY = <Py_ssize_t>CBR_RING_MAX_CAPACITY
MAX_RINGS = CBR_SLOT_COUNT

cdef object _DWORD_PTR_MAX = (<object>1 << (8 * sizeof(cbr_dword_ptr))) - 1
cdef dict _POLICIES = {"spill": CBR_OVERFLOW_SPILL, "drop": CBR_OVERFLOW_DROP, "block": CBR_OVERFLOW_BLOCK}
cdef tuple _POLICY_NAMES = ("spill", "drop", "block")
cdef cbr_record _empty_record

# Slots are handed out oldest-free-first, so that a callback address is
# reused as late as possible (see _slots.h).
cdef int _free_slots[1024]
cdef int _free_head = 0
cdef int _free_count = 0
cdef uint64_t _orphan_late = 0
cdef uint64_t _orphan_pushed = 0
cdef uint64_t _orphan_dropped = 0
# The Ring that owns each slot (borrowed: set by __cinit__, cleared by
# __dealloc__), so that the fork handlers can reach every live Ring.
cdef PyObject *_live_rings[1024]


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
    if _free_count == 0:
        return -1
    slot = _free_slots[_free_head]
    _free_head = (_free_head + 1) % CBR_SLOT_COUNT
    _free_count -= 1
    return slot


cdef void _give_slot(int slot):
    global _free_count
    _free_slots[(_free_head + _free_count) % CBR_SLOT_COUNT] = slot
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


cdef class AsyncResult:
    """WinINet's INTERNET_ASYNC_RESULT: ``{DWORD_PTR dwResult; DWORD dwError;}``.

    ``bytes(result)`` gives the native layout (``AsyncResult.SIZE`` bytes,
    padding zeroed) and ``AsyncResult.from_bytes`` reads it back, so a
    result can be handed to C code or a status callback as it is."""

    SIZE = sizeof(cbr_async_result)
    cdef cbr_async_result _c

    def __init__(self, dwResult=0, dwError=0):
        self.dwResult = dwResult
        self.dwError = dwError

    @property
    def dwResult(self):
        """The handle, count or BOOL the asynchronous call produced."""
        return self._c.dwResult

    @dwResult.setter
    def dwResult(self, value):
        self._c.dwResult = _checked_index(value, "dwResult", 0, _DWORD_PTR_MAX)

    @property
    def dwError(self):
        """The Win32 error code; ERROR_SUCCESS (0) when the call succeeded."""
        return self._c.dwError

    @dwError.setter
    def dwError(self, value):
        self._c.dwError = _checked_index(value, "dwError", 0, 0xFFFFFFFF)

    @classmethod
    def from_bytes(cls, data):
        """Reads the native layout from any bytes-like object of exactly SIZE bytes."""
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        if view.shape[0] != sizeof(cbr_async_result):
            raise ValueError(
                f"INTERNET_ASYNC_RESULT is {sizeof(cbr_async_result)} bytes, got {view.shape[0]}")
        cdef AsyncResult self = cls.__new__(cls)
        memcpy(&self._c, &view[0], sizeof(cbr_async_result))
        return self

    def __bytes__(self):
        cdef cbr_async_result c
        memset(&c, 0, sizeof(c))
        c.dwResult = self._c.dwResult
        c.dwError = self._c.dwError
        return (<char *>&c)[:sizeof(c)]

    def __eq__(self, other):
        if not isinstance(other, AsyncResult):
            return NotImplemented
        return (self._c.dwResult == (<AsyncResult>other)._c.dwResult
                and self._c.dwError == (<AsyncResult>other)._c.dwError)

    def __hash__(self):
        return hash((self._c.dwResult, self._c.dwError))

    def __repr__(self):
        return f"AsyncResult(dwResult={self._c.dwResult}, dwError={self._c.dwError})"


cdef class StatusEvent:
    """One status callback, as the ring recorded it.  Created by Batch on access."""

    cdef cbr_record _rec

    def __init__(self):
        raise TypeError("StatusEvent objects come from Ring.drain(); they cannot be created directly")

    @staticmethod
    cdef StatusEvent _from(const cbr_record *rec):
        cdef StatusEvent ev = StatusEvent.__new__(StatusEvent)
        ev._rec = rec[0]
        return ev

    @property
    def handle(self):
        """hInternet, as an integer."""
        return self._rec.handle

    @property
    def context(self):
        """dwContext, the application's value for the request."""
        return self._rec.context

    @property
    def status(self):
        """dwInternetStatus: an InternetStatus member, or a plain int for codes wininet.h does not name."""
        return _status_by_value.get(self._rec.status, self._rec.status)

    @property
    def result(self):
        """dwResult for statuses that carry an INTERNET_ASYNC_RESULT (REQUEST_COMPLETE,
        and HANDLE_CREATED when given one rather than the bare handle), else None."""
        return self._rec.result if self._rec.kind == CBR_INFO_ASYNC_RESULT else None

    @property
    def error(self):
        """dwError for statuses that carry an INTERNET_ASYNC_RESULT (REQUEST_COMPLETE,
        and HANDLE_CREATED when given one rather than the bare handle), else None."""
        return self._rec.error if self._rec.kind == CBR_INFO_ASYNC_RESULT else None

    @property
    def async_result(self):
        """The INTERNET_ASYNC_RESULT as an AsyncResult, or None for other statuses."""
        if self._rec.kind != CBR_INFO_ASYNC_RESULT:
            return None
        return AsyncResult(self._rec.result, self._rec.error)

    @property
    def info(self):
        """lpvStatusInformation decoded by status: an int for DWORD statuses
        (REQUEST_SENT, RESPONSE_RECEIVED, STATE_CHANGE, COOKIE_SENT,
        COOKIE_RECEIVED), for HANDLE_CLOSING and for a HANDLE_CREATED that
        carries only the new handle, as WinINet sends it (the handle); bytes, exactly
        as given and at most 20 of them, for strings and addresses; None for
        async results (see result and error) and when nothing could be read."""
        if self._rec.kind == CBR_INFO_DWORD or self._rec.kind == CBR_INFO_HANDLE:
            return self._rec.result
        if self._rec.kind == CBR_INFO_BYTES:
            # data_len is what the pusher wrote (a C API caller fills it): never past data
            return (<char *>self._rec.data)[:min(self._rec.data_len, CBR_RECORD_INLINE)]
        return None

    @property
    def truncated(self):
        """True when info holds only the first 20 of length bytes."""
        return bool(self._rec.flags & CBR_FLAG_TRUNCATED)

    @property
    def length(self):
        """dwStatusInformationLength, exactly as the caller gave it."""
        return self._rec.length

    @property
    def flags(self):
        """The record's flag bits: 1 truncated, 2 NULL information pointer,
        4 information too short for its status, 8 came through the overflow list."""
        return self._rec.flags

    @property
    def seq(self):
        """The ring position + 1, modulo 2**32; 0 for records that overflowed."""
        return self._rec.seq

    def __repr__(self):
        st = self.status
        parts = [f"status={st!r}" if isinstance(st, InternetStatus) else f"status={st}",
                 f"handle={self._rec.handle:#x}", f"context={self._rec.context}"]
        if self._rec.kind == CBR_INFO_ASYNC_RESULT:
            parts.append(f"result={self._rec.result}")
            parts.append(f"error={self._rec.error}")
        elif self._rec.kind != CBR_INFO_NONE:
            parts.append(f"info={self.info!r}")
        if self._rec.flags & CBR_FLAG_TRUNCATED:
            parts.append(f"truncated=True, length={self._rec.length}")
        return f"StatusEvent({', '.join(parts)})"


cdef class Batch:
    """Records drained from a Ring, oldest first.

    ``len()``, indexing and iteration give StatusEvent objects, created on
    access.  The batch also exports its records through the buffer protocol,
    read-only, with ``EVENT_FORMAT`` and items of ``EVENT_SIZE`` bytes, so
    ``numpy.asarray(batch)`` is a zero-copy structured array and
    ``memoryview(batch)`` works without numpy."""

    cdef cbr_record *_data
    cdef Py_ssize_t _n
    cdef Py_ssize_t _shape[1]
    cdef Py_ssize_t _strides[1]

    def __init__(self):
        raise TypeError("Batch objects come from Ring.drain(); they cannot be created directly")

    @staticmethod
    cdef Batch _adopt(cbr_record *data, Py_ssize_t n):
        cdef Batch b = Batch.__new__(Batch)
        b._data = data
        b._n = n
        b._shape[0] = n
        b._strides[0] = sizeof(cbr_record)
        return b

    def __dealloc__(self):
        PyMem_Free(self._data)

    def __len__(self):
        return self._n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        cdef Py_ssize_t i = _checked_position(index, self._n)
        return StatusEvent._from(&self._data[i])

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self._n):
            yield StatusEvent._from(&self._data[i])

    def __repr__(self):
        return f"<cbring.Batch of {self._n} events>"

    def __getbuffer__(self, Py_buffer *view, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("a Batch is read-only")
        view.buf = <void *>self._data if self._data != NULL else <void *>&_empty_record
        view.obj = self
        view.len = self._n * sizeof(cbr_record)
        view.readonly = 1
        view.itemsize = sizeof(cbr_record)
        view.format = <char *>CBR_RECORD_FORMAT if flags & PyBUF_FORMAT else NULL
        view.ndim = 1
        view.shape = self._shape if (flags & PyBUF_ND) == PyBUF_ND else NULL
        view.strides = self._strides if (flags & PyBUF_STRIDES) == PyBUF_STRIDES else NULL
        view.suboffsets = NULL
        view.internal = NULL


cdef Py_ssize_t _checked_position(object index, Py_ssize_t n) except -1:
    try:
        i = index.__index__()
    except AttributeError:
        raise TypeError(f"Batch indices must be integers or slices, not {type(index).__name__}") from None
    if i < 0:
        i += n
    if not (0 <= i < n):
        raise IndexError(f"Batch index {index} out of range for {n} events")
    return i


# The class docstring opens with the signature in Argument Clinic's form,
# which CPython turns into Ring.__text_signature__ for inspect.signature();
# Cython's own embedded signature would go before it (and misplaces '*').
@cython.embedsignature(False)
cdef class Ring:
    """Ring(capacity=65536, overflow='spill', *, block_timeout=1.0)
--

A lock-free ring that WinINet status callbacks write into, drained from Python in batches.

    capacity, between 1 and MAX_CAPACITY (2**24), is rounded up to a power
    of two, at least 2.  When the ring is full, overflow says what a
    producer does: "spill" puts the record on an unbounded overflow list
    that drains after the ring, in order, so nothing is lost; "drop"
    discards it and counts it in stats.dropped; "block" waits up to
    block_timeout seconds for room, then drops and counts.  Records from
    one producer thread come out in the order it pushed them, and a record
    pushed after another push returned never comes out before it.

    The ring's C callback (status_callback) never takes the GIL.  After
    close(), or once the Ring is garbage-collected, calls to it are counted
    as late and discarded; they never touch freed memory."""

    cdef cbr_ring *_r
    cdef int _slot
    cdef bint _destroyed
    cdef double _block_timeout
    # One consumer at a time: drain, drain_into, wait, fileno and close take
    # it, so a thread that closes while another waits cannot corrupt the
    # consumer's state; wait() holds it for 100 ms at the most.
    cdef PyThread_type_lock _consumer
    cdef bint _fork_held       # _before_fork holds the consumer lock
    cdef bint _inherited       # this process is a fork() child of the Ring's
    cdef object _parent_pid

    cdef int _usable(self) except -1:
        if self._inherited:
            raise RuntimeError(
                f"this Ring was inherited by fork() from process {self._parent_pid}: its producers "
                "and its records belong to that process, and the copy here is closed; "
                "create a new Ring in this process")
        return 0

    cdef int _lock(self) except -1:
        if not PyThread_acquire_lock(self._consumer, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self._consumer, WAIT_LOCK)
        return 0

    cdef inline void _unlock(self) noexcept:
        PyThread_release_lock(self._consumer)

    def __cinit__(self, *args, **kwargs):
        global _orphan_late
        cdef uint64_t base = 0
        self._slot = -1
        self._destroyed = True
        self._consumer = PyThread_allocate_lock()
        if self._consumer == NULL:
            raise MemoryError()
        arguments = _arguments.bind(Ring, args, kwargs)
        capacity = arguments["capacity"]
        overflow = arguments["overflow"]
        block_timeout = arguments["block_timeout"]
        cap = _checked_index(capacity, "capacity", 1, MAX_CAPACITY)
        if overflow not in _POLICIES:
            raise ValueError(f"overflow must be 'spill', 'drop' or 'block', got {overflow!r}")
        timeout = _seconds(block_timeout, "block_timeout")
        if not (0.0 <= timeout <= 86400.0):
            raise ValueError(f"block_timeout must be between 0 and 86400 seconds, got {block_timeout!r}")
        slot = _take_slot()
        if slot < 0:
            raise RuntimeError(
                f"at most {CBR_SLOT_COUNT} Rings can exist at once, each with its own callback address; "
                "close and release Rings you no longer need")
        self._r = cbr_slot_ring(slot)
        if cbr_ring_closed(self._r):
            # A ring used before: positions continue past its tail, so that a
            # claim a producer prepared before the close cannot win.
            base = _ring_tail(self._r) + 1
        err = cbr_ring_init(self._r, cbr_ring_round_capacity(cap), _POLICIES[overflow],
                            <uint64_t>(timeout * 1e9), base)
        if err != 0:
            _give_slot(slot)
            if err == 12:
                raise MemoryError(f"cannot allocate a ring of {cap} records")
            raise OSError(err, "cannot create the ring's wake-up descriptor")
        _orphan_late += _ring_inherited_late(self._r)
        _live_rings[slot] = <PyObject *>self
        self._slot = slot
        self._destroyed = False
        self._block_timeout = timeout

    def __init__(self, capacity=65536, overflow="spill", *, block_timeout=1.0):
        """The arguments were taken when the Ring was created (see the class)."""

    def __dealloc__(self):
        global _orphan_pushed, _orphan_dropped
        cdef cbr_ring_stats s
        if self._consumer != NULL:
            PyThread_free_lock(self._consumer)
        # _r is still NULL when the arguments were refused before __cinit__ ran
        if self._r == NULL or self._slot < 0:
            return
        if not self._destroyed:
            cbr_ring_close(self._r)
            cbr_ring_get_stats(self._r, &s)
            _orphan_pushed += s.pushed
            _orphan_dropped += s.dropped
            cbr_ring_destroy(self._r)
            self._destroyed = True
        _live_rings[self._slot] = NULL
        _give_slot(self._slot)
        self._slot = -1

    @property
    def capacity(self):
        """The number of slots, a power of two."""
        return cbr_ring_capacity(self._r)

    @property
    def overflow(self):
        """The overflow policy: "spill", "drop" or "block".  Settable; a change
        applies to pushes that find the ring full from then on."""
        return _POLICY_NAMES[_ring_policy(self._r)]

    @overflow.setter
    def overflow(self, value):
        if value not in _POLICIES:
            raise ValueError(f"overflow must be 'spill', 'drop' or 'block', got {value!r}")
        cbr_ring_set_policy(self._r, _POLICIES[value])

    @property
    def block_timeout(self):
        """Seconds a producer waits for room under the "block" policy."""
        return self._block_timeout

    @property
    def closed(self):
        """True after close()."""
        return bool(cbr_ring_closed(self._r))

    @property
    def status_callback(self):
        """The address of this ring's C status callback, with the exact
        INTERNET_STATUS_CALLBACK signature, for InternetSetStatusCallback (via
        ctypes, cffi or C).  It never takes the GIL; after close() or
        collection its calls are counted as late and discarded."""
        return cbr_slot_callback(self._slot)

    @property
    def stats(self):
        """A RingStats snapshot."""
        cdef cbr_ring_stats s
        cbr_ring_get_stats(self._r, &s)
        return RingStats(s.pushed, s.drained, s.dropped, s.spilled, s.late,
                         s.capacity, s.high_water, s.wakeups)

    def register(self, hinternet):
        """Sets this ring's callback on a WinINet handle with InternetSetStatusCallback.

        Returns the address of the handle's previous callback (0 if none).
        Raises OSError if WinINet refuses, and NotImplementedError where
        WinINet does not exist (everywhere but Windows)."""
        cdef uintptr_t previous = 0
        cdef unsigned long error = 0
        self._usable()
        if cbr_ring_closed(self._r):
            raise ValueError("register() on a closed Ring")
        h = _checked_index(hinternet, "hinternet", 0, sys.maxsize * 2 + 1)
        r = cbr_slot_register(h, self._slot, &previous, &error)
        if r < 0:
            raise NotImplementedError(
                "Ring.register needs WinINet, which exists only on Windows; elsewhere pass "
                "ring.status_callback to the code that calls status callbacks")
        if r == 0:
            raise OSError(None, f"InternetSetStatusCallback failed with error {error}", None, error)
        return previous

    cdef size_t _drain(self, cbr_record *out, size_t room) except? 0:
        # the one consumer step behind drain() and drain_into(): under the
        # consumer lock, and with fileno()'s readiness consumed and re-armed
        cdef size_t n
        self._lock()
        if self._r.notify:
            cbr_ring_notify_clear(self._r)
        n = cbr_ring_drain(self._r, out, room)
        if self._r.notify:
            cbr_ring_notify_rearm(self._r)
        self._unlock()
        return n

    def drain(self, max_events=None):
        """Takes up to max_events records (all that are ready if None), oldest first.

        Returns a Batch, possibly empty; never blocks.  On a closed ring it
        returns what was left, then empty batches."""
        cdef size_t want, size, n = 0
        cdef cbr_record *buf = NULL
        cdef cbr_record *grown
        self._usable()
        if max_events is None:
            want = <size_t>MAX_CAPACITY * 64
        else:
            want = _checked_index(max_events, "max_events", 0, sys.maxsize)
        # the hint counts every claimed position, so one allocation holds the batch
        size = min(<size_t>cbr_ring_size_hint(self._r), want)
        if size == 0:
            self._drain(NULL, 0)  # still consumes a spurious readiness of fileno()
            return Batch._adopt(NULL, 0)
        buf = <cbr_record *>PyMem_Malloc(size * sizeof(cbr_record))
        if buf == NULL:
            raise MemoryError(f"cannot allocate a batch of {size} events")
        n = self._drain(buf, size)
        if n == 0:
            PyMem_Free(buf)
            buf = NULL
        elif n < size:
            grown = <cbr_record *>PyMem_Realloc(buf, n * sizeof(cbr_record))
            if grown != NULL:
                buf = grown
        return Batch._adopt(buf, n)

    def drain_into(self, buffer):
        """Copies ready records straight into buffer and returns how many.

        buffer is any writable, C-contiguous buffer (bytearray, memoryview,
        array, numpy array) whose items are bytes or whole records; it is
        filled from the start with at most len(buffer) // EVENT_SIZE records.
        Nothing already in the ring is lost if the buffer is refused."""
        cdef Py_buffer view
        cdef size_t room
        self._usable()
        PyObject_GetBuffer(buffer, &view, PyBUF_RECORDS_RO)
        try:
            if view.readonly:
                raise TypeError(f"drain_into needs a writable buffer; {type(buffer).__name__} is read-only")
            if not PyBuffer_IsContiguous(&view, b'C'):
                raise ValueError("drain_into needs a C-contiguous buffer")
            if view.itemsize != 1 and view.itemsize != sizeof(cbr_record):
                raise ValueError(
                    f"drain_into needs a buffer of bytes or of {sizeof(cbr_record)}-byte records, "
                    f"got items of {view.itemsize} bytes")
            room = <size_t>view.len // sizeof(cbr_record)
            if room == 0:
                raise ValueError(
                    f"drain_into needs room for at least one {sizeof(cbr_record)}-byte record, "
                    f"got {view.len} bytes")
            return self._drain(<cbr_record *>view.buf, room)
        finally:
            PyBuffer_Release(&view)

    def wait(self, timeout=None):
        """Blocks, without the GIL, until records are ready or timeout seconds pass.

        Returns True when records are ready, False on timeout, and at once
        False on a closed ring with nothing left.  Signals (Ctrl-C) are
        handled within 100 ms."""
        cdef int slice_ms, r = 0
        cdef double left = 0.0
        self._usable()
        if timeout is not None:
            left = _seconds(timeout, "timeout", " or None")
            if not (left >= 0.0):
                raise ValueError(f"timeout must be non-negative, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + left
        while True:
            if deadline is None:
                slice_ms = 100
            else:
                left = deadline - time.monotonic()
                # clamped before ceil, which refuses infinity: an infinite timeout never passes
                slice_ms = <int>math.ceil(max(0.0, min(100.0, left * 1000.0)))
            _yield_to_fork()
            self._lock()
            with nogil:
                r = cbr_ring_wait(self._r, slice_ms)
            self._unlock()
            if r:
                return True
            if cbr_ring_closed(self._r):
                return False
            PyErr_CheckSignals()
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def fileno(self):
        """A descriptor (a socket on Windows) that is readable while records
        are pending, for select, selectors and asyncio's add_reader.

        From the first call on, every drain re-arms it.  It may be readable
        spuriously (a producer preempted between claiming a slot and
        writing it); drain() then returns an empty batch.  Producers
        make a system call only when the consumer has found the ring empty,
        never once per record under load.  Once the ring is closed it stays
        readable, so that a reader wakes, drains what is left and sees the end.
        The descriptor is valid until the Ring is collected."""
        self._usable()
        if not self._r.notify:
            self._lock()
            self._r.notify = 1
            cbr_ring_notify_rearm(self._r)
            self._unlock()
        return self._r.wake.rfd

    def batches(self, max_events=None):
        """An async iterator of non-empty batches, for ``async for batch in
        ring.batches()``; it ends once the ring is closed and drained.  See
        cbring.aio: the event loop never blocks."""
        from cbring.aio import batches
        return batches(self, max_events)

    def close(self):
        """Refuses further records; calls to status_callback from then on are
        counted as late.  Waits (without the GIL) for producers that are
        mid-push.  Records already pushed stay drainable.  Idempotent."""
        if self._inherited:
            return  # closed by the fork handler
        self._lock()
        with nogil:
            cbr_ring_close(self._r)
        if self._r.notify:
            cbr_wakeup_signal_(self._r)
        self._unlock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return (f"<cbring.Ring capacity={self.capacity} overflow={self.overflow!r} "
                f"{'closed' if self.closed else 'open'}>")

    def __reduce__(self):
        raise TypeError("a Ring cannot be pickled: it is bound to native callback state in this process")


cdef extern from *:
    """
    static inline uint64_t cbr_py_ring_inherited_late(cbr_ring *r) { return r->inherited_late; }
    static inline uint64_t cbr_py_ring_tail(cbr_ring *r)
    { return cbr_load_u64(&r->tail, CBR_RELAXED) & ~CBR_RING_CLOSED; }
    static inline uint32_t cbr_py_ring_policy(cbr_ring *r)
    { return cbr_load_u32(&r->policy, CBR_RELAXED); }
    static inline void cbr_py_wakeup_signal(cbr_ring *r) { cbr_wakeup_signal(&r->wake); }
    """
    uint64_t _ring_tail "cbr_py_ring_tail" (cbr_ring *r) nogil
    uint64_t _ring_inherited_late "cbr_py_ring_inherited_late" (cbr_ring *r) nogil
    uint32_t _ring_policy "cbr_py_ring_policy" (cbr_ring *r) nogil
    void cbr_wakeup_signal_ "cbr_py_wakeup_signal" (cbr_ring *r) nogil


# fork(): the child has only the forking thread.  Before the fork every live
# Ring's consumer lock is taken (waiting, without the GIL, for a drain, wait
# or close in progress: at most 100 ms for a wait), so that no consumer
# operation is half done in the child's copy; the parent then releases them.
# In the child every inherited Ring is closed at once (its producers are
# threads of the parent, so close() could never wait for them), its copy of
# the wake-up descriptor, shared with the parent, is closed, and its
# consumer calls raise RuntimeError: its records are the parent's to drain.
cdef list _fork_held = []
cdef bint _forking = False  # from _before_fork until the fork is done: wait() lets go


cdef extern from "cbring/clock.h" nogil:
    void cbr_backoff(unsigned round)


cdef void _yield_to_fork() noexcept:
    # Called with the GIL between wait()'s slices: while a fork waits for the
    # consumer locks, a looping wait() does not take its lock again, so a
    # fork waits for the slices in progress (100 ms at most), not for a race
    # it may keep losing.
    cdef unsigned round = 0
    while _forking:
        with nogil:
            cbr_backoff(round)
        if round < 40:
            round += 1


def _before_fork():
    global _forking
    cdef int i
    cdef Ring ring
    _forking = True
    while True:
        todo = []
        for i in range(CBR_SLOT_COUNT):
            if _live_rings[i] != NULL and not (<Ring>_live_rings[i])._fork_held:
                todo.append(<Ring>_live_rings[i])
        if not todo:
            return
        for ring in todo:
            ring._fork_held = True
            if not ring._inherited:  # an inherited Ring's lock is never taken again
                ring._lock()  # may release the GIL: another Ring may appear meanwhile
                _fork_held.append(ring)


cdef void _release_fork_held():
    cdef int i
    cdef Ring ring
    for ring in _fork_held:
        ring._unlock()
    _fork_held.clear()
    for i in range(CBR_SLOT_COUNT):
        if _live_rings[i] != NULL:
            (<Ring>_live_rings[i])._fork_held = False


def _after_fork_in_parent():
    global _forking
    _forking = False
    _release_fork_held()


def _after_fork_in_child():
    global _forking
    cdef int i
    _forking = False
    cdef Ring ring
    parent = os.getppid()
    for i in range(CBR_SLOT_COUNT):
        if _live_rings[i] != NULL:
            ring = <Ring>_live_rings[i]
            if not ring._inherited:
                cbr_ring_close_in_child(ring._r)
                ring._inherited = True
                ring._parent_pid = parent
    _release_fork_held()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)


cdef extern from "_capi.h":
    const char *CBRING_CAPSULE_NAME
    void *cbr_capi_fill(cbr_ring *(*ring_from_object)(object) except NULL)


cdef cbr_ring *_capi_ring_from_object(object ring) except NULL:
    if not isinstance(ring, Ring):
        raise TypeError(f"expected a cbring.Ring, got {type(ring).__name__}")
    return (<Ring>ring)._r


# The C API table for other extensions; see include/cbring/cbring.h.
_C_API = PyCapsule_New(cbr_capi_fill(_capi_ring_from_object), CBRING_CAPSULE_NAME, NULL)
