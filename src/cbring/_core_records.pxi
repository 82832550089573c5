# Included by _core.pyx.  A record's fields as Python values, for both
# APIs: the status's member, the information (text, bytes, ints), the
# payload a record names, and the bulk readers' shared ints.

# Batch.tuples/column and the value methods build objects straight from
# records; these C-API calls are theirs.
cimport cython
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF, Py_XDECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from libc.string cimport memcmp

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *op)
    object PyUnicode_Decode(const char *s, Py_ssize_t size, const char *encoding, const char *errors)
    object PyUnicode_DecodeUTF16(const char *s, Py_ssize_t size, const char *errors, int *byteorder)

cdef inline object _status_of(uint32_t code, uint16_t flags):
    if flags & CBR_FLAG_WINHTTP:
        return _winhttp_status_by_value.get(code, code)
    if code < _STATUS_TABLE:
        if _status_members[code] != NULL:
            return <object>_status_members[code]
        return code
    return _status_by_value.get(code, code)


# The order of StatusEvent.FIELDS, and of Batch.tuples() without arguments.
cdef enum:
    _F_HANDLE, _F_CONTEXT, _F_STATUS, _F_RESULT, _F_ERROR, _F_ASYNC_RESULT,
    _F_INFO, _F_TRUNCATED, _F_LENGTH, _F_FLAGS, _F_SEQ, _F_RAW, _F_COUNT

cdef tuple _FIELDS = ("handle", "context", "status", "result", "error", "async_result",
                      "info", "truncated", "length", "flags", "seq", "raw")
cdef dict _FIELD_CODES = {name: i for i, name in enumerate(_FIELDS)}


cdef int _field_code(object name) except -1:
    if not isinstance(name, str):
        raise TypeError(f"StatusEvent field names are str, got {type(name).__name__} {name!r}")
    code = _FIELD_CODES.get(name)
    if code is None:
        raise ValueError(f"{name!r} is not a StatusEvent field; the fields are {', '.join(_FIELDS)}")
    return code


# ANSI text is decoded as the process's ANSI code page does on Windows
# ("mbcs"), and as Latin-1 elsewhere: one character per byte, so that it
# never fails and raw == info.encode("latin-1").  Neither raises: "mbcs"
# replaces what its code page cannot map.  UTF-16 keeps a lone surrogate as
# Python does for Windows' wide strings ("surrogatepass").
ANSI_ENCODING = "mbcs" if sys.platform == "win32" else "latin-1"
cdef bytes _ansi_codec = ANSI_ENCODING.encode("ascii")


cdef bint _carries_bytes(uint8_t kind) noexcept:
    return kind == CBR_INFO_TEXT or kind == CBR_INFO_TEXT_WIDE or kind == CBR_INFO_BYTES


cdef inline bint _payload_of(const cbr_record *r, const char *base, size_t base_len,
                             const char **at, size_t *size) noexcept:
    # A record's whole payload in base, if it has one there.  The record may
    # come from a C API caller or a pickle: its offset and size are checked
    # against base, never trusted.
    cdef uint64_t off, n
    if not (r.flags & CBR_FLAG_PAYLOAD) or base == NULL or not _carries_bytes(r.kind):
        return False
    off = r.result & 0xFFFFFFFFu
    n = r.result >> 32
    if off > base_len or n > base_len - off:
        return False
    at[0] = base + off
    size[0] = <size_t>n
    return True


cdef object _raw(const cbr_record *r, const char *base, size_t base_len):
    # the bytes kept of lpvStatusInformation: whole from the payload, else
    # the inline ones (data_len is what the pusher wrote: never past data)
    cdef const char *at
    cdef size_t n
    if not _carries_bytes(r.kind):
        return None
    if _payload_of(r, base, base_len, &at, &n):
        return at[:n]
    return (<char *>r.data)[:min(r.data_len, CBR_RECORD_INLINE)]


cdef object _decode(uint8_t kind, const char *at, size_t n):
    cdef int byteorder = -1  # little-endian, as Windows' wide strings are
    if kind == CBR_INFO_TEXT_WIDE:
        # an odd byte cannot be a code unit: it becomes U+FFFD
        return PyUnicode_DecodeUTF16(at, <Py_ssize_t>n, "surrogatepass" if n % 2 == 0 else "replace",
                                     &byteorder)
    return PyUnicode_Decode(at, <Py_ssize_t>n, _ansi_codec, "replace")


cdef object _info(const cbr_record *r, const char *base, size_t base_len):
    # plain values (tuples() and column() give these); StatusEvent.info names SECURE_FAILURE's bits
    cdef const char *at
    cdef size_t n
    if r.kind == CBR_INFO_DWORD or r.kind == CBR_INFO_HANDLE:
        return r.result
    if r.kind == CBR_INFO_BUFFER:
        return r.length  # READ_COMPLETE: the bytes read; the buffer is the caller's
    if r.kind == CBR_INFO_TEXT or r.kind == CBR_INFO_TEXT_WIDE:
        if not _payload_of(r, base, base_len, &at, &n):
            at = <const char *>r.data
            n = min(r.data_len, CBR_RECORD_INLINE)
        return _decode(r.kind, at, n)
    if r.kind == CBR_INFO_BYTES:
        return _raw(r, base, base_len)
    return None


cdef object _field(const cbr_record *r, int code, const char *base, size_t base_len):
    # status as a plain int: the value the record holds, as tuples() and column() document;
    # base and base_len: where the payloads of records with CBR_FLAG_PAYLOAD are
    if code == _F_HANDLE:
        return r.handle
    if code == _F_CONTEXT:
        return r.context
    if code == _F_STATUS:
        return r.status
    if code == _F_RESULT:
        return r.result if r.kind == CBR_INFO_ASYNC_RESULT else None
    if code == _F_ERROR:
        return r.error if r.kind == CBR_INFO_ASYNC_RESULT else None
    if code == _F_ASYNC_RESULT:
        return AsyncResult._of(r.result, r.error) if r.kind == CBR_INFO_ASYNC_RESULT else None
    if code == _F_INFO:
        return _info(r, base, base_len)
    if code == _F_TRUNCATED:
        return bool(r.flags & CBR_FLAG_TRUNCATED)
    if code == _F_LENGTH:
        return r.length
    if code == _F_FLAGS:
        return r.flags
    if code == _F_RAW:
        return _raw(r, base, base_len)
    return r.seq


# Consecutive events of one request share handle and context (and a
# HANDLE_CREATED's result is its handle): tuples() and column() give them
# one int object per run of equal values instead of one per event.
cdef struct _IntCache:
    uint64_t value
    PyObject *obj  # an owned reference, or NULL


cdef inline object _cached_int(_IntCache *c, uint64_t v):
    if c.obj != NULL and c.value == v:
        return <object>c.obj
    cdef object o = v
    Py_XDECREF(c.obj)
    Py_INCREF(o)
    c.obj = <PyObject *>o
    c.value = v
    return o


cdef void _release_caches(_IntCache *caches, int n) noexcept:
    cdef int i
    for i in range(n):
        Py_XDECREF(caches[i].obj)
        caches[i].obj = NULL


cdef inline object _bulk_field(const cbr_record *r, int code, _IntCache *caches,
                               const char *base, size_t base_len):
    # _field, with the large ints of consecutive records shared through caches[code]
    if code == _F_HANDLE:
        return _cached_int(&caches[_F_HANDLE], r.handle)
    if code == _F_CONTEXT:
        return _cached_int(&caches[_F_CONTEXT], r.context)
    if code == _F_RESULT and r.kind == CBR_INFO_ASYNC_RESULT:
        return _cached_int(&caches[_F_RESULT], r.result)
    if code == _F_INFO and (r.kind == CBR_INFO_DWORD or r.kind == CBR_INFO_HANDLE):
        return _cached_int(&caches[_F_INFO], r.result)
    return _field(r, code, base, base_len)


cdef bint _same_record(const cbr_record *a, const cbr_record *b) noexcept:
    # every field; of data only the bytes in use (the rest is not part of the value)
    cdef size_t used = min(a.data_len, CBR_RECORD_INLINE)
    return (a.handle == b.handle and a.context == b.context and a.result == b.result
            and a.seq == b.seq and a.status == b.status and a.error == b.error
            and a.length == b.length and a.flags == b.flags and a.kind == b.kind
            and a.data_len == b.data_len and memcmp(a.data, b.data, used) == 0)


cdef bytes _record_bytes(const cbr_record *rec):
    cdef cbr_record c = rec[0]
    cdef size_t used = min(c.data_len, CBR_RECORD_INLINE)
    memset(&c.data[used], 0, CBR_RECORD_INLINE - used)  # what equality ignores, pickled as zeros
    return (<char *>&c)[:sizeof(cbr_record)]
