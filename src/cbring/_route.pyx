# cython: language_level=3, embedsignature=True, freethreading_compatible=False
"""The dispatchers' routing state and its common paths, compiled.

Routes owns every table the routing keeps, so that registering a context,
routing a Batch (read in place, no StatusEvent per record) and a
HANDLE_CLOSING make no Python-level call except the futures' own methods.
Registrations live in a C hash table keyed by the context's 64-bit value:
a record is looked up without making an int of its context, and without
the int comparisons a dict lookup costs.  cbring.dispatch._Routes adds the
ring, the runner and the rare cases (shutting down, dropped records,
handle_closed())."""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.dict cimport PyDict_Next
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject, PyObject_Call
from libc.stdint cimport uint64_t, uintptr_t

from cbring._core cimport AsyncResult
from cbring.libcbring cimport CBR_INFO_ASYNC_RESULT, cbr_record

from collections import deque
from concurrent.futures import InvalidStateError

from cbring._core import Batch
from cbring._errors import DispatcherClosed, WinINetError

cdef extern from "Python.h":
    # no except clause: -1 with an exception set is checked by the caller
    unsigned long long _as_ull "PyLong_AsUnsignedLongLong" (object)
    bint PyLong_CheckExact(object)
    Py_ssize_t PyDict_GET_SIZE(object)
    void _incref "Py_INCREF" (PyObject *)
    void _decref "Py_DECREF" (PyObject *)
    ctypedef int (*visitproc)(PyObject *, void *) noexcept
    ctypedef int (*traverseproc)(PyObject *, visitproc, void *) noexcept
    ctypedef int (*inquiry)(PyObject *) noexcept
    ctypedef struct _GCSlots "PyTypeObject":
        traverseproc tp_traverse
        inquiry tp_clear

cdef extern from *:
    """
    /* 2**64 / the golden ratio: multiplicative hashing spreads contexts that
       differ only in their high bits (cbring._testing's producer ids) too */
    #define CBR_ROUTE_FIB UINT64_C(0x9E3779B97F4A7C15)
    """
    const uint64_t _FIB "CBR_ROUTE_FIB"

# the same values as cbring.InternetStatus; pinned by tests/test_dispatch.py
cdef enum:
    _REQUEST_COMPLETE = 100
    _HANDLE_CLOSING = 70

REQUEST_COMPLETE = _REQUEST_COMPLETE
HANDLE_CLOSING = _HANDLE_CLOSING

cdef enum:
    _FIRST_CAPACITY = 8     # slots; the table doubles when half full
    _FIRST_SHIFT = 61       # 64 - log2(_FIRST_CAPACITY)

cdef object _Deque = deque
cdef tuple _NO_ARGS = ()


cdef object _checked_context(object context):
    """context if it is an int that fits a DWORD_PTR; the errors are
    cbring.dispatch._checked_context's, which checks everything else."""
    cdef unsigned long long value
    if PyLong_CheckExact(context):
        value = _as_ull(context)
        if value == <unsigned long long>-1 and PyErr_Occurred():
            PyErr_Clear()
        elif value <= <uintptr_t>-1:
            return context
    from cbring.dispatch import _checked_context as check
    return check(context)


# A concurrent.futures.Future cancelled from another thread between done()
# and set_result() raises InvalidStateError: it was cancelled, and so takes
# nothing (its cancel() does not take the dispatcher's lock first, or its
# callbacks would run under it).  asyncio's futures are cancelled only on
# the loop's thread, so theirs never reaches here.
cdef object _Cancelled = InvalidStateError


cdef inline bint _resolve_future(future, value) except -1:
    """True if future took value; False if it was done (cancelled) first."""
    if future.done():
        return False
    try:
        future.set_result(value)
    except _Cancelled:
        return False
    return True


cdef inline bint _fail_future(future, BaseException error) except -1:
    """True if future took error; False if it was done (cancelled) first."""
    if future.done():
        return False
    try:
        future.set_exception(error)
    except _Cancelled:
        return False
    return True


cdef inline bint _nonempty(dict d) noexcept:
    # None after the collector cleared a Routes: nothing to look up then
    return d is not None and PyDict_GET_SIZE(d) != 0


cdef inline list _futures_of(entry):
    return list(entry) if type(entry) is _Deque else [entry]


ctypedef struct _Slot:
    uint64_t context
    # NULL: a free slot.  Else a reference the table owns: None (registered,
    # nobody waiting), the one future waiting (the common case: no container
    # to allocate), or a deque of them, oldest first.
    PyObject *entry


@cython.auto_pickle(False)
cdef class Routes:
    """The routing tables of one dispatcher: which contexts are registered,
    the futures waiting for each, completions kept for a later register(),
    and the futures waiting for a handle's HANDLE_CLOSING.

    The registration table is open addressing with linear probing, at most
    half full, deleted from by backward shift (no tombstones).  A slot
    pointer is used only until the next call that may run Python code (a
    future's methods, an allocation that may collect garbage), which may
    register or end registrations and so move slots; the routing loop's
    memory of the last record's context is checked against _epoch, which
    every registration that starts or ends bumps."""

    cdef _Slot *_slots
    cdef size_t _mask               # capacity - 1; capacity is a power of two
    cdef int _shift                 # 64 - log2(capacity)
    cdef size_t _used
    cdef uint64_t _epoch
    cdef Py_ssize_t _waiters
    cdef dict _unclaimed            # context -> deque of early completions (StatusEvent)
    cdef Py_ssize_t _unclaimed_count
    cdef Py_ssize_t _max_unclaimed
    cdef object _waiter_type        # with _waiter_kwargs: how register() makes a future
    cdef dict _waiter_kwargs
    cdef object _forget_waiter      # self._forget, bound once: every future shares it
    cdef object _future_type        # the type of the last future routed, and its methods:
    cdef object _future_done        # looked up once per type, not once per completion
    cdef object _future_set_result
    cdef readonly dict _closing     # handle -> futures for its HANDLE_CLOSING (cbring.dispatch)
    cdef public object _closed      # the DispatcherClosed once stopped, else None
    cdef readonly Py_ssize_t unknown
    cdef readonly Py_ssize_t dispatched
    cdef readonly Py_ssize_t discarded

    def __cinit__(self, *args, **kwargs):
        self._unclaimed = {}
        self._closing = {}
        self._max_unclaimed = 1
        self._forget_waiter = self._forget

    def __init__(self, max_unclaimed):
        self._max_unclaimed = max_unclaimed

    def __dealloc__(self):
        self._drop_table()

    cdef void _drop_table(self) noexcept:
        cdef _Slot *slots = self._slots
        cdef size_t j, capacity = self._mask + 1
        if slots == NULL:
            return
        # the table is empty before any entry goes: a finalizer may look at it
        self._slots = NULL
        self._mask = 0
        self._used = 0
        self._epoch += 1
        for j in range(capacity):
            if slots[j].entry != NULL:
                _decref(slots[j].entry)
        PyMem_Free(slots)

    cdef inline size_t _home(self, uint64_t context) noexcept:
        return <size_t>((context * _FIB) >> self._shift)

    cdef inline _Slot *_find(self, uint64_t context) noexcept:
        cdef size_t i
        cdef _Slot *slot
        if self._slots == NULL:
            return NULL
        i = self._home(context)
        while True:
            slot = &self._slots[i]
            if slot.entry == NULL:
                return NULL
            if slot.context == context:
                return slot
            i = (i + 1) & self._mask

    cdef int _grow(self) except -1:
        cdef _Slot *old = self._slots
        cdef size_t j, i, old_capacity = self._mask + 1 if old != NULL else 0
        cdef size_t capacity = 2 * old_capacity if old != NULL else _FIRST_CAPACITY
        cdef _Slot *slots = <_Slot *>PyMem_Calloc(capacity, sizeof(_Slot))
        if slots == NULL:
            raise MemoryError()
        self._slots = slots
        self._mask = capacity - 1
        self._shift = self._shift - 1 if old != NULL else _FIRST_SHIFT
        for j in range(old_capacity):
            if old[j].entry != NULL:
                i = self._home(old[j].context)
                while slots[i].entry != NULL:
                    i = (i + 1) & self._mask
                slots[i] = old[j]
        PyMem_Free(old)
        return 0

    cdef _Slot *_claim(self, uint64_t context) except NULL:
        """context's slot, registering context (entry None) if it is new."""
        cdef size_t i
        cdef _Slot *slot = self._find(context)
        if slot != NULL:
            return slot
        if 2 * (self._used + 1) > self._mask + 1:
            self._grow()
        i = self._home(context)
        while self._slots[i].entry != NULL:
            i = (i + 1) & self._mask
        slot = &self._slots[i]
        slot.context = context
        _incref(<PyObject *>None)
        slot.entry = <PyObject *>None
        self._used += 1
        self._epoch += 1
        return slot

    cdef object _take(self, _Slot *slot):
        """Ends slot's registration; its entry, which the caller now owns."""
        cdef size_t i = slot - self._slots, j = i, home
        entry = <object>slot.entry
        _decref(slot.entry)
        slot.entry = NULL
        self._used -= 1
        self._epoch += 1
        while True:
            j = (j + 1) & self._mask
            if self._slots[j].entry == NULL:
                break
            home = self._home(self._slots[j].context)
            # the hole at i may take j's entry unless its home lies cyclically in (i, j]
            if (home <= i or home > j) if i < j else (home <= i and home > j):
                self._slots[i] = self._slots[j]
                self._slots[j].entry = NULL
                i = j
        return entry

    cdef inline void _set(self, _Slot *slot, value) noexcept:
        """Replaces slot's entry; the caller holds a reference to the old one
        if it is not None, so that no finalizer runs here."""
        cdef PyObject *old = slot.entry
        _incref(<PyObject *>value)
        slot.entry = <PyObject *>value
        _decref(old)

    cdef Py_ssize_t _copy_entries(self, _Slot **out, bint take) except -1:
        """The slots whose entry is not None, copied into *out (PyMem; the
        caller frees it), each entry with a reference of its own; with take,
        the table's: the slot is left with None.  Python objects are made
        from the copy, never while scanning: that may run Python code."""
        cdef size_t j
        cdef Py_ssize_t n = 0
        cdef PyObject *entry
        out[0] = <_Slot *>PyMem_Malloc((self._used or 1) * sizeof(_Slot))
        if out[0] == NULL:
            raise MemoryError()
        if self._slots == NULL:
            return 0
        for j in range(self._mask + 1):
            entry = self._slots[j].entry
            if entry == NULL or entry == <PyObject *>None:
                continue
            out[0][n] = self._slots[j]
            n += 1
            if take:
                _incref(<PyObject *>None)
                self._slots[j].entry = <PyObject *>None
            else:
                _incref(entry)
        return n

    @property
    def pending(self):
        """Futures waiting for a REQUEST_COMPLETE."""
        return self._waiters

    @property
    def unclaimed(self):
        """Completions kept for a register() that has not come yet."""
        return self._unclaimed_count

    @property
    def closed(self):
        """True once the dispatcher has stopped; register() then raises DispatcherClosed."""
        return self._closed is not None

    @property
    def _waiting(self):
        """A snapshot: context -> the futures waiting for it, oldest first."""
        cdef _Slot *copy = NULL
        cdef Py_ssize_t j, n = 0
        snapshot = {}
        try:
            n = self._copy_entries(&copy, False)
            for j in range(n):
                futures = _futures_of(<object>copy[j].entry)
                if futures:
                    snapshot[copy[j].context] = futures
        finally:
            for j in range(n):
                _decref(copy[j].entry)
            PyMem_Free(copy)
        return snapshot

    def _take_waiting(self):
        """Every waiting future as (context, future), oldest first per context,
        taken out of the routing; the contexts stay registered."""
        cdef _Slot *copy = NULL
        cdef Py_ssize_t j, n = 0
        taken = []
        try:
            n = self._copy_entries(&copy, True)
            self._waiters = 0
            for j in range(n):
                context = copy[j].context
                taken.extend([(context, future) for future in _futures_of(<object>copy[j].entry)])
        finally:
            for j in range(n):
                _decref(copy[j].entry)
            PyMem_Free(copy)
        return taken

    def _use_waiters(self, waiter_type, dict kwargs):
        """register() makes its futures as waiter_type(**kwargs), then sets
        their _cbring_forget and _cbring_key (see _new_future())."""
        self._waiter_type = waiter_type
        self._waiter_kwargs = kwargs

    cdef object _new_waiter(self, key):
        if self._waiter_type is None:
            return self._new_future(self._forget_waiter, key)
        future = PyObject_Call(self._waiter_type, _NO_ARGS, self._waiter_kwargs)
        future._cbring_forget = self._forget_waiter
        future._cbring_key = key
        return future

    def _register(self, context):
        """A future for context's next REQUEST_COMPLETE, registering context if new."""
        cdef _Slot *slot
        cdef PyObject *entry
        key = _checked_context(context)
        cdef uint64_t value = _as_ull(key)
        if self._closed is not None:
            raise DispatcherClosed(f"register({key}) on a stopped dispatcher: "
                                   f"{self._closed}") from self._closed.__cause__
        future = self._new_waiter(key)
        if _nonempty(self._unclaimed):
            early = self._unclaimed.get(key)
            if early:
                event = early.popleft()
                self._unclaimed_count -= 1
                if not early:
                    del self._unclaimed[key]
                self._claim(value)
                self._settle(future, key, event)
                return future
        while True:
            slot = self._claim(value)
            entry = slot.entry
            if entry == <PyObject *>None:
                self._set(slot, future)
                break
            if type(<object>entry) is _Deque:
                (<object>entry).append(future)
                break
            first = <object>entry
            both = _Deque((first, future))   # may collect garbage: find the slot again
            slot = self._find(value)
            if slot != NULL and slot.entry == <PyObject *>first:
                self._set(slot, both)
                break
        self._waiters += 1
        return future

    def _forget(self, context, future):
        """A cancelled future leaves its place at once (called from its cancel())."""
        cdef uint64_t value = _as_ull(context)
        cdef _Slot *slot
        if value == <uint64_t>-1 and PyErr_Occurred():
            PyErr_Clear()     # not an int any register() was given
            return
        slot = self._find(value)
        if slot == NULL:
            return
        entry = <object>slot.entry
        if entry is future:
            self._set(slot, None)
        elif type(entry) is _Deque:
            try:
                entry.remove(future)
            except ValueError:
                return
            if not entry:
                slot = self._find(value)
                if slot != NULL and slot.entry == <PyObject *>entry:
                    self._set(slot, None)
        else:
            return
        self._waiters -= 1

    def _unregister(self, context):
        """Forgets context (a checked one) and its unclaimed completions; its waiting futures are cancelled."""
        cdef _Slot *slot = self._find(_as_ull(context))
        entry = None if slot == NULL else self._take(slot)
        self._drop_unclaimed(context)
        if entry is None:
            return
        futures = _futures_of(entry)
        self._waiters -= len(futures)
        for future in futures:
            future.cancel()

    def dispatch(self, batch):
        """Routes every event of a batch (a Batch, or any iterable of StatusEvent)."""
        if type(batch) is Batch:
            self._route_batch(batch)
        else:
            self._route_events(batch)

    cdef int _route_batch(self, batch) except -1:
        cdef Py_buffer view
        cdef const cbr_record *rec
        cdef Py_ssize_t i, n
        cdef uint64_t context = 0, epoch = 0
        cdef bint known = False, registered = False
        PyObject_GetBuffer(batch, &view, PyBUF_SIMPLE)
        try:
            n = view.len // <Py_ssize_t>sizeof(cbr_record)
            for i in range(n):
                rec = (<const cbr_record *>view.buf) + i
                # a request's records come together: one lookup for all of them
                if not known or rec.context != context or epoch != self._epoch:
                    context = rec.context
                    registered = self._find(context) != NULL
                    epoch = self._epoch
                    known = True
                if registered:
                    self.dispatched += 1
                else:
                    self.unknown += 1
                if rec.status == _REQUEST_COMPLETE:
                    self._complete(context, None, rec, batch, i, None)
                elif rec.status == _HANDLE_CLOSING:
                    self._handle_closing(context, None, rec.handle)
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int _route_events(self, events) except -1:
        cdef uint64_t context
        for event in events:
            key = _checked_context(event.context)
            context = _as_ull(key)
            status = event.status
            if self._find(context) != NULL:
                self.dispatched += 1
            else:
                self.unknown += 1
            if status == _REQUEST_COMPLETE:
                self._complete(context, key, NULL, None, 0, event)
            elif status == _HANDLE_CLOSING:
                self._handle_closing(context, key, event.handle)
        return 0

    cdef int _complete(self, uint64_t context, key, const cbr_record *rec, batch, Py_ssize_t i,
                       event) except -1:
        """Settles the oldest live future of context with a REQUEST_COMPLETE:
        the record rec of batch (at i), or event when rec is NULL; keeps it
        unclaimed if nobody waits.  key is context as an int, or None to
        make one if needed.  Each future is taken out of the table before
        any of its methods runs."""
        cdef _Slot *slot
        while True:
            slot = self._find(context)
            if slot == NULL or slot.entry == <PyObject *>None:
                break
            entry = <object>slot.entry
            if type(entry) is _Deque:
                if not entry:
                    self._set(slot, None)
                    break
                future = entry.popleft()
                if not entry:
                    self._set(slot, None)
            else:
                future = entry
                self._set(slot, None)
            self._waiters -= 1
            if type(future) is not self._future_type:
                self._future_type = type(future)
                self._future_done = self._future_type.done
                self._future_set_result = self._future_type.set_result
            if self._future_done(future):   # cancelled; cancel() could not take it out in time
                continue
            if rec != NULL and rec.kind == CBR_INFO_ASYNC_RESULT and rec.result:
                try:
                    self._future_set_result(future, AsyncResult._of(rec.result, rec.error))
                except _Cancelled:     # cancelled from another thread since done()
                    continue
                return 0
            if key is None:
                key = context
            if rec == NULL:
                settled = self._settle(future, key, event)
            elif rec.kind != CBR_INFO_ASYNC_RESULT:
                settled = self._settle(future, key, batch[i])
            else:
                settled = _fail_future(future, WinINetError(rec.error, key))
            if settled:
                return 0
        if key is None:
            key = context
        self._keep_unclaimed(key, event if rec == NULL else batch[i])
        return 0

    cdef int _handle_closing(self, uint64_t context, key, uint64_t handle) except -1:
        cdef _Slot *slot
        # what was kept for the context belonged to the handle now closing
        if _nonempty(self._unclaimed):
            if key is None:
                key = context
            self._drop_unclaimed(key)
        slot = self._find(context)
        if slot != NULL:
            entry = self._take(slot)
            if entry is not None:
                futures = _futures_of(entry)
                self._waiters -= len(futures)
                if key is None:
                    key = context
                for future in futures:
                    _fail_future(future, ConnectionAbortedError(
                        f"handle of context {key} closed before REQUEST_COMPLETE"))
        if _nonempty(self._closing):
            for future in self._closing.pop(handle, ()):
                _resolve_future(future, None)
        return 0

    cdef int _drop_unclaimed(self, key) except -1:
        if not _nonempty(self._unclaimed):
            return 0
        early = self._unclaimed.pop(key, None)
        if early:
            self._unclaimed_count -= len(early)
            self.discarded += len(early)
        return 0

    cdef int _keep_unclaimed(self, key, event) except -1:
        cdef Py_ssize_t pos = 0
        cdef PyObject *first
        cdef PyObject *kept
        if self._unclaimed_count >= self._max_unclaimed and PyDict_Next(
                self._unclaimed, &pos, &first, &kept):
            oldest = <object>first
            early = <object>kept
            early.popleft()
            if not early:
                del self._unclaimed[oldest]
            self._unclaimed_count -= 1
            self.discarded += 1
        early = self._unclaimed.get(key)
        if early is None:
            early = self._unclaimed[key] = _Deque()
        early.append(event)
        self._unclaimed_count += 1
        return 0

    def _settle(self, future, context, event):
        """Settles future with a REQUEST_COMPLETE event, unless it is done
        (cancelled); True if it took the event."""
        result = event.result
        if result is None:
            return _fail_future(future, ValueError(
                f"REQUEST_COMPLETE for context {context} carried no readable INTERNET_ASYNC_RESULT"
                f" (flags {event.flags})"))
        if result:
            return _resolve_future(future, AsyncResult(result, event.error or 0))
        return _fail_future(future, WinINetError(event.error or 0, context))

    def _resolve(self, future, value):
        """future.set_result(value), unless it is done (cancelled); True if it took value."""
        return _resolve_future(future, value)

    def _fail(self, future, BaseException error):
        """future.set_exception(error), unless it is done (cancelled); True if it took error."""
        return _fail_future(future, error)


# The garbage collector must see the futures the table holds (a future's
# cancel() refers back to its Routes): Cython's traverse and clear see only
# the object fields, so these wrap them.  They take Routes as a borrowed
# reference (a cdef function's arguments are), which is what the slots pass.
cdef traverseproc _fields_traverse = (<_GCSlots *><void *>Routes).tp_traverse
cdef inquiry _fields_clear = (<_GCSlots *><void *>Routes).tp_clear


cdef int _routes_traverse(Routes self, visitproc visit, void *arg) noexcept:
    cdef int r = _fields_traverse(<PyObject *>self, visit, arg) if _fields_traverse != NULL else 0
    cdef size_t j
    if r or self._slots == NULL:
        return r
    for j in range(self._mask + 1):
        if self._slots[j].entry != NULL:
            r = visit(self._slots[j].entry, arg)
            if r:
                return r
    return 0


cdef int _routes_clear(Routes self) noexcept:
    self._drop_table()
    return _fields_clear(<PyObject *>self) if _fields_clear != NULL else 0


(<_GCSlots *><void *>Routes).tp_traverse = <traverseproc>_routes_traverse
(<_GCSlots *><void *>Routes).tp_clear = <inquiry>_routes_clear
