# cython: language_level=3, embedsignature=True, freethreading_compatible=False
"""The dispatchers' routing loop, compiled: it reads a Batch's records in
place instead of making a StatusEvent of each.  cbring.dispatch._Routes
owns the state and the logic of every rare case; this is its common path."""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer

from cbring._core cimport AsyncResult
from cbring.libcbring cimport CBR_INFO_ASYNC_RESULT, cbr_record

from cbring._errors import WinINetError

# the same values as cbring.InternetStatus; pinned by tests/test_dispatch.py
cdef enum:
    _REQUEST_COMPLETE = 100
    _HANDLE_CLOSING = 70

REQUEST_COMPLETE = _REQUEST_COMPLETE
HANDLE_CLOSING = _HANDLE_CLOSING


def route(routes, batch):
    """Routes every record of batch (a cbring.Batch) for routes (a
    cbring.dispatch._Routes), exactly as its pure-Python loop would."""
    cdef Py_buffer view
    cdef const cbr_record *rec
    cdef Py_ssize_t i, n
    cdef Py_ssize_t dispatched = 0, unknown = 0, settled = 0
    cdef bint found
    registered = routes._registered
    waiting_for = routes._waiting
    PyObject_GetBuffer(batch, &view, PyBUF_SIMPLE)
    try:
        n = view.len // <Py_ssize_t>sizeof(cbr_record)
        for i in range(n):
            rec = (<const cbr_record *>view.buf) + i
            context = rec.context
            if context in registered:
                dispatched += 1
            else:
                unknown += 1
            if rec.status == _REQUEST_COMPLETE:
                waiting = waiting_for.get(context)
                found = False
                while waiting:
                    future = waiting.popleft()
                    settled += 1
                    if future.done():     # cancelled; cancel() could not find it in time
                        continue
                    found = True
                    if rec.kind != CBR_INFO_ASYNC_RESULT:
                        routes._settle(future, context, batch[i])
                    elif rec.result:
                        future.set_result(AsyncResult._of(rec.result, rec.error))
                    else:
                        future.set_exception(WinINetError(rec.error, context))
                    break
                if waiting is not None and not waiting:
                    del waiting_for[context]
                if not found:
                    routes._keep_unclaimed(context, batch[i])
            elif rec.status == _HANDLE_CLOSING:
                routes._handle_closing(context, rec.handle)
    finally:
        PyBuffer_Release(&view)
        routes.dispatched += dispatched
        routes.unknown += unknown
        routes._pending -= settled
