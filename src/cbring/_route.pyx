# cython: language_level=3, embedsignature=True, freethreading_compatible=False
"""The dispatchers' routing state and its common paths, compiled.

Routes owns every table the routing keeps, so that registering a context,
routing a Batch (read in place, no StatusEvent per record) and a
HANDLE_CLOSING make no Python-level call except the futures' own methods.
cbring.dispatch._Routes adds the ring, the runner and the rare cases
(shutting down, dropped records, handle_closed())."""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.dict cimport PyDict_GetItem, PyDict_Next
from cpython.exc cimport PyErr_Clear, PyErr_Occurred
from cpython.object cimport PyObject, PyObject_Call
from libc.stdint cimport uint64_t, uintptr_t

from cbring._core cimport AsyncResult
from cbring.libcbring cimport CBR_INFO_ASYNC_RESULT, cbr_record

from collections import deque

from cbring._core import Batch
from cbring._errors import DispatcherClosed, WinINetError

cdef extern from "Python.h":
    # no except clause: -1 with an exception set is checked by the caller
    unsigned long long _as_ull "PyLong_AsUnsignedLongLong" (object)
    bint PyLong_CheckExact(object)
    Py_ssize_t PyDict_GET_SIZE(object)

# the same values as cbring.InternetStatus; pinned by tests/test_dispatch.py
cdef enum:
    _REQUEST_COMPLETE = 100
    _HANDLE_CLOSING = 70

REQUEST_COMPLETE = _REQUEST_COMPLETE
HANDLE_CLOSING = _HANDLE_CLOSING

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


cdef inline void _resolve_future(future, value) except *:
    if not future.done():
        future.set_result(value)


cdef inline void _fail_future(future, BaseException error) except *:
    if not future.done():
        future.set_exception(error)


@cython.auto_pickle(False)
cdef class Routes:
    """The routing tables of one dispatcher: which contexts are registered,
    the futures waiting for each, completions kept for a later register(),
    and the futures waiting for a handle's HANDLE_CLOSING.

    Every table changes only through these methods, so the routing loop may
    remember the last record's context: whether it is registered changes
    only when _epoch does."""

    # context -> None (registered, nobody waiting), the one future waiting
    # (the common case: no container to allocate), or a deque of them, oldest first
    cdef dict _routes
    cdef dict _unclaimed            # context -> deque of early completions (StatusEvent)
    cdef Py_ssize_t _unclaimed_count
    cdef Py_ssize_t _max_unclaimed
    cdef Py_ssize_t _waiters
    cdef uint64_t _epoch            # bumped whenever a registration starts or ends
    cdef object _waiter_type        # with _waiter_kwargs: how register() makes a future
    cdef dict _waiter_kwargs
    cdef object _forget_waiter      # self._forget, bound once: every future shares it
    cdef readonly dict _closing     # handle -> futures for its HANDLE_CLOSING (cbring.dispatch)
    cdef public object _closed      # the DispatcherClosed once stopped, else None
    cdef readonly Py_ssize_t unknown
    cdef readonly Py_ssize_t dispatched
    cdef readonly Py_ssize_t discarded

    def __cinit__(self, *args, **kwargs):
        self._routes = {}
        self._unclaimed = {}
        self._closing = {}
        self._max_unclaimed = 1
        self._forget_waiter = self._forget

    def __init__(self, max_unclaimed):
        self._max_unclaimed = max_unclaimed

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
        return {context: list(entry) if type(entry) is _Deque else [entry]
                for context, entry in self._routes.items()
                if entry is not None and (type(entry) is not _Deque or len(entry))}

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
        cdef PyObject *found
        key = _checked_context(context)
        if self._closed is not None:
            raise DispatcherClosed(f"register({key}) on a stopped dispatcher: "
                                   f"{self._closed}") from self._closed.__cause__
        future = self._new_waiter(key)
        if PyDict_GET_SIZE(self._unclaimed):
            early = self._unclaimed.get(key)
            if early:
                event = early.popleft()
                self._unclaimed_count -= 1
                if not early:
                    del self._unclaimed[key]
                if key not in self._routes:
                    self._routes[key] = None
                    self._epoch += 1
                self._settle(future, key, event)
                return future
        found = PyDict_GetItem(self._routes, key)
        if found is NULL:
            self._routes[key] = future
            self._epoch += 1
        elif <object>found is None:
            self._routes[key] = future
        elif type(<object>found) is _Deque:
            (<object>found).append(future)
        else:
            self._routes[key] = _Deque((<object>found, future))
        self._waiters += 1
        return future

    def _forget(self, context, future):
        """A cancelled future leaves its place at once (called from its cancel())."""
        cdef PyObject *found = PyDict_GetItem(self._routes, context)
        if found is NULL:
            return
        entry = <object>found
        if entry is future:
            self._routes[context] = None
        elif type(entry) is _Deque:
            try:
                entry.remove(future)
            except ValueError:
                return
            if not entry:
                self._routes[context] = None
        else:
            return
        self._waiters -= 1

    def _unregister(self, context):
        """Forgets context (a checked one) and its unclaimed completions; its waiting futures are cancelled."""
        entry = self._routes.pop(context, self)
        if entry is not self:
            self._epoch += 1
        self._drop_unclaimed(context)
        if entry is self or entry is None:
            return
        futures = list(entry) if type(entry) is _Deque else [entry]
        self._waiters -= len(futures)
        for future in futures:
            future.cancel()

    def _take_waiting(self):
        """Every waiting future as (context, future), oldest first per context,
        taken out of the routing; the contexts stay registered."""
        taken = []
        for context, entry in self._routes.items():
            if type(entry) is _Deque:
                taken.extend([(context, future) for future in entry])
            elif entry is not None:
                taken.append((context, entry))
        for context, _ in taken:
            self._routes[context] = None
        self._waiters = 0
        return taken

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
        key = None
        PyObject_GetBuffer(batch, &view, PyBUF_SIMPLE)
        try:
            n = view.len // <Py_ssize_t>sizeof(cbr_record)
            for i in range(n):
                rec = (<const cbr_record *>view.buf) + i
                # a request's records come together: one lookup for all of them
                if not known or rec.context != context or epoch != self._epoch:
                    context = rec.context
                    key = context
                    registered = key in self._routes
                    epoch = self._epoch
                    known = True
                if registered:
                    self.dispatched += 1
                else:
                    self.unknown += 1
                if rec.status == _REQUEST_COMPLETE:
                    self._complete(key, rec, batch, i, None)
                elif rec.status == _HANDLE_CLOSING:
                    self._handle_closing(key, rec.handle)
        finally:
            PyBuffer_Release(&view)
        return 0

    cdef int _route_events(self, events) except -1:
        for event in events:
            key = event.context
            status = event.status
            if key in self._routes:
                self.dispatched += 1
            else:
                self.unknown += 1
            if status == _REQUEST_COMPLETE:
                self._complete(key, NULL, None, 0, event)
            elif status == _HANDLE_CLOSING:
                self._handle_closing(key, event.handle)
        return 0

    cdef int _complete(self, key, const cbr_record *rec, batch, Py_ssize_t i, event) except -1:
        """Settles the oldest live future of key with a REQUEST_COMPLETE: the
        record rec of batch (at i), or event when rec is NULL; keeps it
        unclaimed if nobody waits.  Each future is taken out of the tables
        before any of its methods runs (they may run Python code, which
        may call register())."""
        cdef PyObject *found
        while True:
            found = PyDict_GetItem(self._routes, key)
            if found is NULL or <object>found is None:
                break
            entry = <object>found
            if type(entry) is _Deque:
                if not entry:
                    self._routes[key] = None
                    break
                future = entry.popleft()
                if not entry:
                    self._routes[key] = None
            else:
                future = entry
                self._routes[key] = None
            self._waiters -= 1
            if future.done():     # cancelled; cancel() could not take it out in time
                continue
            if rec is NULL:
                self._settle(future, key, event)
            elif rec.kind != CBR_INFO_ASYNC_RESULT:
                self._settle(future, key, batch[i])
            elif rec.result:
                future.set_result(AsyncResult._of(rec.result, rec.error))
            else:
                future.set_exception(WinINetError(rec.error, key))
            return 0
        self._keep_unclaimed(key, event if rec is NULL else batch[i])
        return 0

    cdef int _handle_closing(self, key, uint64_t handle) except -1:
        # what was kept for the context belonged to the handle now closing
        self._drop_unclaimed(key)
        entry = self._routes.pop(key, self)
        if entry is not self:
            self._epoch += 1
            if entry is not None:
                futures = list(entry) if type(entry) is _Deque else [entry]
                self._waiters -= len(futures)
                for future in futures:
                    _fail_future(future, ConnectionAbortedError(
                        f"handle of context {key} closed before REQUEST_COMPLETE"))
        if PyDict_GET_SIZE(self._closing):
            for future in self._closing.pop(handle, ()):
                _resolve_future(future, None)
        return 0

    cdef int _drop_unclaimed(self, key) except -1:
        if not PyDict_GET_SIZE(self._unclaimed):
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
        """Settles future with a REQUEST_COMPLETE event, unless it is done."""
        result = event.result
        if result is None:
            _fail_future(future, ValueError(
                f"REQUEST_COMPLETE for context {context} carried no readable INTERNET_ASYNC_RESULT"
                f" (flags {event.flags})"))
        elif result:
            _resolve_future(future, AsyncResult(result, event.error or 0))
        else:
            _fail_future(future, WinINetError(event.error or 0, context))

    def _resolve(self, future, value):
        """future.set_result(value), unless it is done."""
        _resolve_future(future, value)

    def _fail(self, future, BaseException error):
        """future.set_exception(error), unless it is done."""
        _fail_future(future, error)
