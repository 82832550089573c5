# Included by _core.pyx.  Batch: the records of one drain, read as events,
# in bulk (tuples, column) or through the buffer protocol.

def _batch_from_records(data, payloads=None):
    """A Batch holding a copy of the records in data and of the payloads
    their results point into (how a Batch unpickles)."""
    cdef const uint8_t[::1] view = _record_view(data, "a Batch's records")
    cdef const uint8_t[::1] pview
    cdef Py_ssize_t n = view.shape[0] // sizeof(cbr_record)
    cdef Batch b = Batch._alloc(n)
    if n:
        memcpy(b._data, &view[0], n * sizeof(cbr_record))
    if payloads is not None:
        pview = memoryview(payloads).cast("B")
        if pview.shape[0]:
            b._payloads = <char *>PyMem_Malloc(pview.shape[0])
            if b._payloads == NULL:
                raise MemoryError()
            memcpy(b._payloads, &pview[0], pview.shape[0])
            b._payload_len = pview.shape[0]
    return b


@cython.final
cdef class _BatchIterator:
    cdef Batch _batch
    cdef Py_ssize_t _i

    def __iter__(self):
        return self

    def __next__(self):
        if self._i >= self._batch._n:
            raise StopIteration
        self._i += 1
        return StatusEvent._from(&self._batch._data[self._i - 1], self._batch._payloads,
                                 self._batch._payload_len)


@cython.final
cdef class Batch:
    """Records drained from a Ring, oldest first.

    ``len()``, indexing and iteration give StatusEvent objects, created on
    access; a slice is a Batch of those records.  ``tuples()`` and
    ``column()`` read fields of every event at once, without a StatusEvent
    per event.  The batch also exports its records through the buffer
    protocol, read-only, with ``EVENT_FORMAT`` and items of ``EVENT_SIZE``
    bytes, so ``numpy.asarray(batch)`` is a zero-copy structured array
    (``EVENT_DTYPE``) and ``memoryview(batch)`` works without numpy.  There
    a record whose information was longer than its 20 data bytes has flag
    16 (CBR_FLAG_PAYLOAD) and result = size << 32 | offset of the whole
    bytes in the batch's payloads, which ``payload(i)`` returns.  A Batch
    is immutable: ``copy.copy`` returns it, and it pickles as its records
    and payloads."""

    cdef cbr_record *_data
    cdef Py_ssize_t _n
    cdef Py_ssize_t _shape[1]
    cdef Py_ssize_t _strides[1]
    cdef char *_payloads  # what CBR_FLAG_PAYLOAD records' results point into, or NULL
    cdef size_t _payload_len

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

    @staticmethod
    cdef Batch _alloc(Py_ssize_t n):
        cdef cbr_record *data = NULL
        if n:
            data = <cbr_record *>PyMem_Malloc(n * sizeof(cbr_record))
            if data == NULL:
                raise MemoryError()
        return Batch._adopt(data, n)

    def __dealloc__(self):
        PyMem_Free(self._data)
        PyMem_Free(self._payloads)

    def __len__(self):
        return self._n

    def __getitem__(self, index):
        cdef Py_ssize_t start, stop, step, count, k
        cdef size_t need = 0, used = 0, n
        cdef const char *at
        cdef cbr_record *r
        cdef Batch b
        if isinstance(index, slice):
            start, stop, step = index.indices(self._n)
            count = len(range(start, stop, step))
            b = Batch._alloc(count)
            if step == 1:
                if count:
                    memcpy(b._data, &self._data[start], count * sizeof(cbr_record))
            else:
                for k in range(count):
                    b._data[k] = self._data[start + k * step]
            if self._payloads == NULL:
                return b
            # the slice gets its own copy of its records' payloads, offsets rewritten
            for k in range(count):
                if _payload_of(&b._data[k], self._payloads, self._payload_len, &at, &n):
                    need += n
            if need:
                b._payloads = <char *>PyMem_Malloc(need)
                if b._payloads == NULL:
                    raise MemoryError()
                b._payload_len = need
            for k in range(count):
                r = &b._data[k]
                if _payload_of(r, self._payloads, self._payload_len, &at, &n):
                    memcpy(b._payloads + used, at, n)
                    r.result = ((<uint64_t>n) << 32) | used
                    used += n
            return b
        cdef Py_ssize_t i = _checked_position(index, self._n)
        return StatusEvent._from(&self._data[i], self._payloads, self._payload_len)

    def payload(self, index):
        """The bytes kept of event index's lpvStatusInformation, as
        ``batch[index].raw`` gives them (None for statuses that carry no
        text or bytes), without creating the event: for a record with flag
        16 (CBR_FLAG_PAYLOAD) the whole information, however long (up to
        PAYLOAD_MAX)."""
        cdef Py_ssize_t i = _checked_position(index, self._n)
        return _raw(&self._data[i], self._payloads, self._payload_len)

    def __iter__(self):
        cdef _BatchIterator it = _BatchIterator.__new__(_BatchIterator)
        it._batch = self
        return it

    def tuples(self, *fields):
        """A list with one tuple per event, oldest first, of the named
        StatusEvent fields in the order given (all of StatusEvent.FIELDS if
        none are named): ``batch.tuples("handle", "status")[i] ==
        (batch[i].handle, batch[i].status_code)``.

        Each field is what the StatusEvent attribute gives, except status,
        which is a plain int here (``status_code``; compare it with
        InternetStatus members as usual): the tuples then hold only ints,
        str, bytes, bools, None and AsyncResult values, so the garbage collector
        never tracks them.  Raises ValueError naming an unknown field, and
        the valid ones."""
        cdef int codes[_F_COUNT]
        cdef int *code_buf = codes
        cdef Py_ssize_t k = len(fields) if fields else _F_COUNT
        cdef Py_ssize_t i, j
        cdef const cbr_record *r
        cdef list out
        cdef tuple t
        cdef object v
        cdef _IntCache caches[_F_COUNT]
        memset(caches, 0, sizeof(caches))
        if k > _F_COUNT:
            code_buf = <int *>PyMem_Malloc(k * sizeof(int))
            if code_buf == NULL:
                raise MemoryError()
        try:
            for j in range(k):
                code_buf[j] = _field_code(fields[j]) if fields else <int>j
            out = PyList_New(self._n)
            for i in range(self._n):
                r = &self._data[i]
                t = PyTuple_New(k)
                for j in range(k):
                    v = _bulk_field(r, code_buf[j], caches, self._payloads, self._payload_len)
                    Py_INCREF(v)
                    PyTuple_SET_ITEM(t, j, v)
                # Every item is an int, str, bytes, bool, None or an AsyncResult (which
                # refers to no object): the tuple can be in no cycle, so it is
                # untracked now, as the collector's first pass would do.
                PyObject_GC_UnTrack(<void *>t)
                Py_INCREF(t)
                PyList_SET_ITEM(out, i, t)
            return out
        finally:
            _release_caches(caches, _F_COUNT)
            if code_buf != codes:
                PyMem_Free(code_buf)

    def column(self, field):
        """One StatusEvent field of every event, oldest first, as a list:
        ``batch.column("context")[i] == batch[i].context``.  status is a
        plain int here, as in tuples().  Raises ValueError naming an unknown
        field, and the valid ones."""
        cdef int code = _field_code(field)
        cdef Py_ssize_t i
        cdef list out = PyList_New(self._n)
        cdef object v
        cdef _IntCache caches[_F_COUNT]
        memset(caches, 0, sizeof(caches))
        try:
            for i in range(self._n):
                v = _bulk_field(&self._data[i], code, caches, self._payloads, self._payload_len)
                Py_INCREF(v)
                PyList_SET_ITEM(out, i, v)
        finally:
            _release_caches(caches, _F_COUNT)
        return out

    def __reduce__(self):
        records = bytes(memoryview(self).cast("B"))
        if self._payloads == NULL:
            return (_batch_from_records, (records,))
        return (_batch_from_records, (records, self._payloads[:self._payload_len]))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

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


def _event_dtype():
    """cbring.EVENT_DTYPE: EVENT_FORMAT's fields at record.h's offsets, the
    dtype numpy.asarray(batch) gives.  AttributeError without numpy."""
    try:
        import numpy
    except ImportError:
        raise AttributeError("cbring.EVENT_DTYPE needs numpy, which is not installed") from None
    return numpy.dtype({
        "names": ["handle", "context", "result", "seq", "status", "error", "length",
                  "flags", "kind", "data_len", "data"],
        "formats": ["=u8", "=u8", "=u8", "=u4", "=u4", "=u4", "=u4", "=u2", "u1", "u1", "S20"],
        "offsets": [0, 8, 16, 24, 28, 32, 36, 40, 42, 43, 44],
        "itemsize": sizeof(cbr_record),
    })


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
