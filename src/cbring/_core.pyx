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


cdef extern from "cbring/winhttp_compat.h":
    enum:
        WINHTTP_CALLBACK_STATUS_RESOLVING_NAME
        WINHTTP_CALLBACK_STATUS_NAME_RESOLVED
        WINHTTP_CALLBACK_STATUS_CONNECTING_TO_SERVER
        WINHTTP_CALLBACK_STATUS_CONNECTED_TO_SERVER
        WINHTTP_CALLBACK_STATUS_SENDING_REQUEST
        WINHTTP_CALLBACK_STATUS_REQUEST_SENT
        WINHTTP_CALLBACK_STATUS_RECEIVING_RESPONSE
        WINHTTP_CALLBACK_STATUS_RESPONSE_RECEIVED
        WINHTTP_CALLBACK_STATUS_CLOSING_CONNECTION
        WINHTTP_CALLBACK_STATUS_CONNECTION_CLOSED
        WINHTTP_CALLBACK_STATUS_HANDLE_CREATED
        WINHTTP_CALLBACK_STATUS_HANDLE_CLOSING
        WINHTTP_CALLBACK_STATUS_DETECTING_PROXY
        WINHTTP_CALLBACK_STATUS_REDIRECT
        WINHTTP_CALLBACK_STATUS_INTERMEDIATE_RESPONSE
        WINHTTP_CALLBACK_STATUS_SECURE_FAILURE
        WINHTTP_CALLBACK_STATUS_HEADERS_AVAILABLE
        WINHTTP_CALLBACK_STATUS_DATA_AVAILABLE
        WINHTTP_CALLBACK_STATUS_READ_COMPLETE
        WINHTTP_CALLBACK_STATUS_WRITE_COMPLETE
        WINHTTP_CALLBACK_STATUS_REQUEST_ERROR
        WINHTTP_CALLBACK_STATUS_SENDREQUEST_COMPLETE
        WINHTTP_CALLBACK_STATUS_GETPROXYFORURL_COMPLETE
        WINHTTP_CALLBACK_STATUS_CLOSE_COMPLETE
        WINHTTP_CALLBACK_STATUS_SHUTDOWN_COMPLETE
        WINHTTP_CALLBACK_STATUS_GETPROXYSETTINGS_COMPLETE
        WINHTTP_CALLBACK_STATUS_SETTINGS_WRITE_COMPLETE
        WINHTTP_CALLBACK_STATUS_SETTINGS_READ_COMPLETE
        API_RECEIVE_RESPONSE
        API_QUERY_DATA_AVAILABLE
        API_READ_DATA
        API_WRITE_DATA
        API_SEND_REQUEST
        API_GET_PROXY_FOR_URL
    # 0x80000000 and 0xffffffff: unsigned, past what an enum member may hold
    const unsigned int WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS_ "WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS"
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_CERT_REV_FAILED
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_INVALID_CERT
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_CERT_REVOKED
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_INVALID_CA
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_CERT_CN_INVALID
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_CERT_DATE_INVALID
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_CERT_WRONG_USAGE
    const unsigned int WINHTTP_CALLBACK_STATUS_FLAG_SECURITY_CHANNEL_ERROR


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


WinHttpStatus = enum.IntEnum("WinHttpStatus", [
    ("RESOLVING_NAME", WINHTTP_CALLBACK_STATUS_RESOLVING_NAME),
    ("NAME_RESOLVED", WINHTTP_CALLBACK_STATUS_NAME_RESOLVED),
    ("CONNECTING_TO_SERVER", WINHTTP_CALLBACK_STATUS_CONNECTING_TO_SERVER),
    ("CONNECTED_TO_SERVER", WINHTTP_CALLBACK_STATUS_CONNECTED_TO_SERVER),
    ("SENDING_REQUEST", WINHTTP_CALLBACK_STATUS_SENDING_REQUEST),
    ("REQUEST_SENT", WINHTTP_CALLBACK_STATUS_REQUEST_SENT),
    ("RECEIVING_RESPONSE", WINHTTP_CALLBACK_STATUS_RECEIVING_RESPONSE),
    ("RESPONSE_RECEIVED", WINHTTP_CALLBACK_STATUS_RESPONSE_RECEIVED),
    ("CLOSING_CONNECTION", WINHTTP_CALLBACK_STATUS_CLOSING_CONNECTION),
    ("CONNECTION_CLOSED", WINHTTP_CALLBACK_STATUS_CONNECTION_CLOSED),
    ("HANDLE_CREATED", WINHTTP_CALLBACK_STATUS_HANDLE_CREATED),
    ("HANDLE_CLOSING", WINHTTP_CALLBACK_STATUS_HANDLE_CLOSING),
    ("DETECTING_PROXY", WINHTTP_CALLBACK_STATUS_DETECTING_PROXY),
    ("REDIRECT", WINHTTP_CALLBACK_STATUS_REDIRECT),
    ("INTERMEDIATE_RESPONSE", WINHTTP_CALLBACK_STATUS_INTERMEDIATE_RESPONSE),
    ("SECURE_FAILURE", WINHTTP_CALLBACK_STATUS_SECURE_FAILURE),
    ("HEADERS_AVAILABLE", WINHTTP_CALLBACK_STATUS_HEADERS_AVAILABLE),
    ("DATA_AVAILABLE", WINHTTP_CALLBACK_STATUS_DATA_AVAILABLE),
    ("READ_COMPLETE", WINHTTP_CALLBACK_STATUS_READ_COMPLETE),
    ("WRITE_COMPLETE", WINHTTP_CALLBACK_STATUS_WRITE_COMPLETE),
    ("REQUEST_ERROR", WINHTTP_CALLBACK_STATUS_REQUEST_ERROR),
    ("SENDREQUEST_COMPLETE", WINHTTP_CALLBACK_STATUS_SENDREQUEST_COMPLETE),
    ("GETPROXYFORURL_COMPLETE", WINHTTP_CALLBACK_STATUS_GETPROXYFORURL_COMPLETE),
    ("CLOSE_COMPLETE", WINHTTP_CALLBACK_STATUS_CLOSE_COMPLETE),
    ("SHUTDOWN_COMPLETE", WINHTTP_CALLBACK_STATUS_SHUTDOWN_COMPLETE),
    ("GETPROXYSETTINGS_COMPLETE", WINHTTP_CALLBACK_STATUS_GETPROXYSETTINGS_COMPLETE),
    ("SETTINGS_WRITE_COMPLETE", WINHTTP_CALLBACK_STATUS_SETTINGS_WRITE_COMPLETE),
    ("SETTINGS_READ_COMPLETE", WINHTTP_CALLBACK_STATUS_SETTINGS_READ_COMPLETE),
], module="cbring")
WinHttpStatus.__doc__ = "WinHTTP's WINHTTP_CALLBACK_STATUS_* codes, named without that prefix, with winhttp.h's values."
_winhttp_status_by_value = {int(s): s for s in WinHttpStatus}

WinHttpApi = enum.IntEnum("WinHttpApi", [
    ("API_RECEIVE_RESPONSE", API_RECEIVE_RESPONSE),
    ("API_QUERY_DATA_AVAILABLE", API_QUERY_DATA_AVAILABLE),
    ("API_READ_DATA", API_READ_DATA),
    ("API_WRITE_DATA", API_WRITE_DATA),
    ("API_SEND_REQUEST", API_SEND_REQUEST),
    ("API_GET_PROXY_FOR_URL", API_GET_PROXY_FOR_URL),
], module="cbring")
WinHttpApi.__doc__ = "The API_* ids winhttp.h gives the call a REQUEST_ERROR reports (WINHTTP_ASYNC_RESULT.dwResult)."
_winhttp_api_by_value = {int(a): a for a in WinHttpApi}

WinHttpSecureFailure = enum.IntFlag("WinHttpSecureFailure", [
    ("CERT_REV_FAILED", WINHTTP_CALLBACK_STATUS_FLAG_CERT_REV_FAILED),
    ("INVALID_CERT", WINHTTP_CALLBACK_STATUS_FLAG_INVALID_CERT),
    ("CERT_REVOKED", WINHTTP_CALLBACK_STATUS_FLAG_CERT_REVOKED),
    ("INVALID_CA", WINHTTP_CALLBACK_STATUS_FLAG_INVALID_CA),
    ("CERT_CN_INVALID", WINHTTP_CALLBACK_STATUS_FLAG_CERT_CN_INVALID),
    ("CERT_DATE_INVALID", WINHTTP_CALLBACK_STATUS_FLAG_CERT_DATE_INVALID),
    ("CERT_WRONG_USAGE", WINHTTP_CALLBACK_STATUS_FLAG_CERT_WRONG_USAGE),
    ("SECURITY_CHANNEL_ERROR", WINHTTP_CALLBACK_STATUS_FLAG_SECURITY_CHANNEL_ERROR),
], module="cbring")
WinHttpSecureFailure.__doc__ = ("SECURE_FAILURE's WINHTTP_CALLBACK_STATUS_FLAG_* bits, named without that prefix: "
                                "what was wrong with the server's certificate or the secure channel.")

WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS = WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS_

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
# Times a consumer call found the consumer lock taken and waited for it
# (a test waits for this to know that a drain is queued behind a close).
cdef uint64_t _lock_waits = 0


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

# StatusEvent.status without building an int and hashing it: the member for
# each code below _STATUS_TABLE that wininet.h names (all of them, today).
cdef enum:
    _STATUS_TABLE = 512
cdef PyObject *_status_members[_STATUS_TABLE]
cdef tuple _status_member_refs = tuple(InternetStatus)  # keeps the table's members alive


cdef void _init_status_members():
    cdef object m
    for m in _status_member_refs:
        if 0 <= m < _STATUS_TABLE:
            _status_members[<int>m] = <PyObject *>m


_init_status_members()


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


cdef class AsyncResult:
    """WinINet's INTERNET_ASYNC_RESULT: ``{DWORD_PTR dwResult; DWORD dwError;}``.

    A value: immutable, equal and hashing alike when both fields are, and
    picklable.  ``bytes(result)`` gives the native layout (``AsyncResult.SIZE``
    bytes, padding zeroed) and ``AsyncResult.from_bytes`` reads it back, so
    a result can be handed to C code or a status callback as it is."""

    SIZE = sizeof(cbr_async_result)

    def __init__(self, dwResult=0, dwError=0):
        self._result = _checked_index(dwResult, "dwResult", 0, _DWORD_PTR_MAX)
        self._error = _checked_index(dwError, "dwError", 0, 0xFFFFFFFF)

    @staticmethod
    cdef AsyncResult _of(uint64_t result, uint32_t error):
        cdef AsyncResult self = AsyncResult.__new__(AsyncResult)
        self._result = result
        self._error = error
        return self

    @property
    def dwResult(self):
        """The handle, count or BOOL the asynchronous call produced."""
        return self._result

    @property
    def dwError(self):
        """The Win32 error code; ERROR_SUCCESS (0) when the call succeeded."""
        return self._error

    @classmethod
    def from_bytes(cls, data):
        """Reads the native layout from any bytes-like object of exactly SIZE bytes."""
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        if view.shape[0] != sizeof(cbr_async_result):
            raise ValueError(
                f"INTERNET_ASYNC_RESULT is {sizeof(cbr_async_result)} bytes, got {view.shape[0]}")
        cdef cbr_async_result c
        memcpy(&c, &view[0], sizeof(cbr_async_result))
        cdef AsyncResult self = cls.__new__(cls)
        self._result = c.dwResult
        self._error = c.dwError
        return self

    def __bytes__(self):
        cdef cbr_async_result c
        memset(&c, 0, sizeof(c))
        c.dwResult = <cbr_dword_ptr>self._result
        c.dwError = <cbr_dword>self._error
        return (<char *>&c)[:sizeof(c)]

    def __eq__(self, other):
        if not isinstance(other, AsyncResult):
            return NotImplemented
        return (self._result == (<AsyncResult>other)._result
                and self._error == (<AsyncResult>other)._error)

    def __hash__(self):
        return hash((self._result, self._error))

    def __reduce__(self):
        return (type(self), (self._result, self._error))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"AsyncResult(dwResult={self._result}, dwError={self._error})"


@cython.freelist(16)
@cython.final
@cython.no_gc
cdef class StatusEvent:
    """One status callback, as the ring recorded it.  Created by Batch on access.

    A value: immutable, equal (and hashing alike) to another event of the
    same record and payload, picklable; ``copy.copy`` returns the event
    itself.  Holds the 64-byte record and, for information longer than the
    record holds, its bytes (no ``__dict__``)."""

    FIELDS = _FIELDS
    cdef cbr_record _rec
    cdef bytes _payload  # the whole information when the record has CBR_FLAG_PAYLOAD, else None

    def __init__(self):
        raise TypeError("StatusEvent objects come from Ring.drain(); they cannot be created directly")

    @staticmethod
    cdef StatusEvent _from(const cbr_record *rec, const char *base, size_t base_len):
        # base: where a CBR_FLAG_PAYLOAD record's payload is; the event keeps
        # its own copy, at offset 0, so that equal events have equal records
        cdef StatusEvent ev = StatusEvent.__new__(StatusEvent)
        cdef const char *at
        cdef size_t n
        ev._rec = rec[0]
        if _payload_of(rec, base, base_len, &at, &n):
            ev._payload = at[:n]
            ev._rec.result = (<uint64_t>n) << 32
        return ev

    cdef inline const char *_base(self) noexcept:
        if self._payload is None:
            return NULL
        return PyBytes_AS_STRING(self._payload)

    cdef inline size_t _base_len(self) noexcept:
        if self._payload is None:
            return 0
        return <size_t>PyBytes_GET_SIZE(self._payload)

    @property
    def handle(self):
        """hInternet, as an integer."""
        return self._rec.handle

    @property
    def context(self):
        """dwContext, the application's value for the request."""
        return self._rec.context

    @property
    def api(self):
        """"winhttp" for an event from a WinHTTP callback (Ring.winhttp_callback), else "wininet"."""
        return "winhttp" if self._rec.flags & CBR_FLAG_WINHTTP else "wininet"

    @property
    def status(self):
        """dwInternetStatus: an InternetStatus member, or for an event from WinHTTP (api
        "winhttp") a WinHttpStatus member; a plain int for codes the API's header does not name."""
        return _status_of(self._rec.status, self._rec.flags)

    @property
    def status_code(self):
        """dwInternetStatus as a plain int (equal to status), as Batch.tuples() gives it.

        A tuple or list that holds only ints, bytes and None is one the
        garbage collector can ignore; an InternetStatus member in it makes
        the collector visit it on every full pass."""
        return self._rec.status

    @property
    def result(self):
        """dwResult for statuses that carry an INTERNET_ASYNC_RESULT (REQUEST_COMPLETE,
        and HANDLE_CREATED when given one rather than the bare handle), else None.
        For WinHTTP's REQUEST_ERROR, the API id of the call that failed: a
        WinHttpApi member (a plain int for ids winhttp.h does not name)."""
        if self._rec.kind != CBR_INFO_ASYNC_RESULT:
            return None
        if self._rec.flags & CBR_FLAG_WINHTTP:
            return _winhttp_api_by_value.get(self._rec.result, self._rec.result)
        return self._rec.result

    @property
    def error(self):
        """dwError for statuses that carry an INTERNET_ASYNC_RESULT (REQUEST_COMPLETE,
        and HANDLE_CREATED when given one rather than the bare handle; WinHTTP's
        REQUEST_ERROR: the ERROR_WINHTTP_* code), else None."""
        return self._rec.error if self._rec.kind == CBR_INFO_ASYNC_RESULT else None

    @property
    def async_result(self):
        """The INTERNET_ASYNC_RESULT as an AsyncResult, or None for other statuses."""
        return _field(&self._rec, _F_ASYNC_RESULT, NULL, 0)

    @property
    def info(self):
        """lpvStatusInformation decoded by status: an int for DWORD statuses
        (REQUEST_SENT, RESPONSE_RECEIVED, STATE_CHANGE, COOKIE_SENT,
        COOKIE_RECEIVED), for HANDLE_CLOSING and for a HANDLE_CREATED that
        carries only the new handle, as WinINet sends it (the handle); a str,
        the whole text up to its terminator and without it, for the text
        statuses (RESOLVING_NAME, NAME_RESOLVED, CONNECTING_TO_SERVER,
        CONNECTED_TO_SERVER, REDIRECT): UTF-16LE where the W callback was
        given it, else ANSI (see ANSI_ENCODING); bytes, exactly as given,
        for unknown codes; None for async results (see result and error)
        and when nothing could be read.

        For an event from WinHTTP (api "winhttp"): an int for DATA_AVAILABLE,
        WRITE_COMPLETE, REQUEST_SENT, RESPONSE_RECEIVED and
        INTERMEDIATE_RESPONSE, a WinHttpSecureFailure for SECURE_FAILURE;
        READ_COMPLETE's bytes read (the buffer's address is buffer); the
        whole UTF-16 text for RESOLVING_NAME, NAME_RESOLVED,
        CONNECTING_TO_SERVER, CONNECTED_TO_SERVER and REDIRECT; the handle for
        HANDLE_CREATED and HANDLE_CLOSING; None for statuses that carry
        nothing (bytes if given some anyway) and REQUEST_ERROR; bytes for the
        rest."""
        v = _info(&self._rec, self._base(), self._base_len())
        if (self._rec.flags & CBR_FLAG_WINHTTP and self._rec.kind == CBR_INFO_DWORD
                and self._rec.status == WINHTTP_CALLBACK_STATUS_SECURE_FAILURE):
            return WinHttpSecureFailure(v)
        return v

    @property
    def buffer(self):
        """For WinHTTP's READ_COMPLETE, the address of the buffer given to
        WinHttpReadData (info is the bytes read into it); never read by
        cbring, since it is the caller's.  None for every other event."""
        return self._rec.result if self._rec.kind == CBR_INFO_BUFFER else None

    @property
    def raw(self):
        """The bytes kept of lpvStatusInformation for text and unknown
        statuses (for text: up to the terminator, without it; UTF-16LE or
        ANSI as info was decoded), else None.  Whole up to PAYLOAD_MAX
        bytes; past it a prefix, and truncated is set."""
        return _raw(&self._rec, self._base(), self._base_len())

    @property
    def truncated(self):
        """True when raw (and so info) holds only a prefix of what was given:
        the information was longer than PAYLOAD_MAX, or could not be kept
        whole (see RingStats.payloads_truncated)."""
        return bool(self._rec.flags & CBR_FLAG_TRUNCATED)

    @property
    def length(self):
        """dwStatusInformationLength, exactly as the caller gave it."""
        return self._rec.length

    @property
    def flags(self):
        """The record's flag bits: 1 truncated, 2 NULL information pointer,
        4 information too short for its status, 8 came through the overflow list,
        16 the information was kept whole apart from the record (see raw)."""
        return self._rec.flags

    @property
    def seq(self):
        """The ring position + 1, modulo 2**32; 0 for records that overflowed."""
        return self._rec.seq

    def __eq__(self, other):
        if not isinstance(other, StatusEvent):
            return NotImplemented
        return (_same_record(&self._rec, &(<StatusEvent>other)._rec)
                and self._payload == (<StatusEvent>other)._payload)

    def __hash__(self):
        return hash((self._rec.handle, self._rec.context, self._rec.status, self._rec.seq,
                     self._rec.result, self._rec.error))

    def __reduce__(self):
        if self._payload is None:
            return (_event_from_record, (_record_bytes(&self._rec),))
        return (_event_from_record, (_record_bytes(&self._rec), self._payload))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        st = self.status
        winhttp = self._rec.flags & CBR_FLAG_WINHTTP
        parts = ["api='winhttp'"] if winhttp else []
        parts += [f"status={st!r}" if isinstance(st, enum.Enum) else f"status={st}",
                  f"handle={self._rec.handle:#x}", f"context={self._rec.context}"]
        if self._rec.kind == CBR_INFO_ASYNC_RESULT:
            parts.append(f"result={self.result!r}" if winhttp else f"result={self._rec.result}")
            parts.append(f"error={self._rec.error}")
        elif self._rec.kind == CBR_INFO_BUFFER:
            parts.append(f"info={self._rec.length}")
            parts.append(f"buffer={self._rec.result:#x}")
        elif self._rec.kind != CBR_INFO_NONE:
            parts.append(f"info={self.info!r}")
        if self._rec.flags & CBR_FLAG_TRUNCATED:
            parts.append(f"truncated=True, length={self._rec.length}")
        return f"StatusEvent({', '.join(parts)})"


cdef const uint8_t[::1] _record_view(object data, str what) except *:
    cdef const uint8_t[::1] view = memoryview(data).cast("B")
    if view.shape[0] % sizeof(cbr_record):
        raise ValueError(f"{what} must be a whole number of {sizeof(cbr_record)}-byte records, "
                         f"got {view.shape[0]} bytes")
    return view


def _event_from_record(data, payload=None):
    """A StatusEvent from its 64-byte record and, for a record with
    CBR_FLAG_PAYLOAD, the bytes its result points into (how a StatusEvent
    unpickles)."""
    cdef const uint8_t[::1] view = _record_view(data, "a StatusEvent's record")
    cdef bytes p = None if payload is None else bytes(payload)
    cdef const char *base = NULL
    cdef size_t base_len = 0
    if view.shape[0] != sizeof(cbr_record):
        raise ValueError(f"a StatusEvent's record is {sizeof(cbr_record)} bytes, got {view.shape[0]}")
    if p is not None:
        base = p
        base_len = len(p)
    return StatusEvent._from(<const cbr_record *>&view[0], base, base_len)


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


cdef int _check_writable_bytes(Py_buffer *view, object obj, str what) except -1:
    # any item size: drain_into writes bytes, and says how many it wrote by records
    if view.readonly:
        raise TypeError(f"{what} must be writable; {type(obj).__name__} is read-only")
    if not PyBuffer_IsContiguous(view, b'C'):
        raise ValueError(f"{what} must be C-contiguous")
    return 0


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
        global _lock_waits
        if not PyThread_acquire_lock(self._consumer, NOWAIT_LOCK):
            _lock_waits += 1
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
                f"at most {CBR_MAX_RINGS} Rings can exist at once, each with its own callback address; "
                "close and release Rings you no longer need")
        self._r = cbr_slot_ring(slot)
        if cbr_ring_closed(self._r):
            # A ring used before: positions continue past its tail, so that a
            # claim a producer prepared before the close cannot win.
            base = _ring_tail(self._r) + 1
        err = cbr_ring_init(self._r, cbr_ring_round_capacity(cap), _POLICIES[overflow],
                            <uint64_t>(timeout * 1e9), base)
        if err != 0:
            _return_unused_slot(slot)
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
        cdef cbr_ring *r = self._r
        if self._consumer != NULL:
            PyThread_free_lock(self._consumer)
        # _r is still NULL when the arguments were refused before __cinit__ ran
        if r == NULL or self._slot < 0:
            return
        # Unlisted first: the fork handlers reach Rings only through _live_rings.
        _live_rings[self._slot] = NULL
        if not self._destroyed:
            # Without the GIL: close() may wait for producers and scan millions
            # of positions, and destroy frees what was never drained.  Nothing
            # else can reach this Ring now, and its slot joins the free queue
            # only after destroy, so no new Ring can init the struct meanwhile;
            # producers still calling find it closed and touch only the
            # struct, which is never freed (invariant 4).
            with nogil:
                cbr_ring_close(r)
                cbr_ring_get_stats(r, &s)
                cbr_ring_destroy(r)
            _orphan_pushed += s.pushed
            _orphan_dropped += s.dropped
            self._destroyed = True
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
        """The address of this ring's C status callback for
        InternetSetStatusCallbackA and the plain InternetSetStatusCallback
        export (via ctypes, cffi or C), with the exact INTERNET_STATUS_CALLBACK
        signature: it takes every text status as ANSI.  It never takes the
        GIL; after close() or collection its calls are counted as late and
        discarded."""
        return cbr_slot_callback(self._slot)

    @property
    def status_callback_w(self):
        """The address of this ring's C status callback for
        InternetSetStatusCallbackW (what register() installs): it takes
        RESOLVING_NAME and REDIRECT as UTF-16LE and the address statuses
        (NAME_RESOLVED, CONNECTING_TO_SERVER, CONNECTED_TO_SERVER) as ANSI,
        as WinINet passes them to a W registration.  Otherwise as
        status_callback, into the same ring."""
        return cbr_slot_callback_w(self._slot)

    @property
    def winhttp_callback(self):
        """The address of this ring's C status callback for
        WinHttpSetStatusCallback (what register_winhttp() installs), with
        the exact WINHTTP_STATUS_CALLBACK signature: it decodes by WinHTTP's
        table (UTF-16 strings whose length counts characters, REQUEST_ERROR's
        WINHTTP_ASYNC_RESULT, READ_COMPLETE's buffer address), and its events
        have api "winhttp".  Otherwise as status_callback, into the same ring."""
        return cbr_slot_callback_h(self._slot)

    @property
    def stats(self):
        """A RingStats snapshot."""
        cdef cbr_ring_stats s
        cbr_ring_get_stats(self._r, &s)
        return RingStats(s.pushed, s.drained, s.dropped, s.spilled, s.late,
                         s.capacity, s.high_water, s.wakeups, s.payloads_truncated)

    def register(self, hinternet):
        """Sets this ring's W callback (status_callback_w) on a WinINet
        handle with InternetSetStatusCallbackW, so that host names and URLs
        arrive whole in UTF-16.  For the ANSI behaviour call
        InternetSetStatusCallbackA(hinternet, ring.status_callback) yourself.

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
                "ring.status_callback (ANSI) or ring.status_callback_w (UTF-16) to the code "
                "that calls status callbacks")
        if r == 0:
            raise OSError(None, f"InternetSetStatusCallbackW failed with error {error}", None, error)
        return previous

    def register_winhttp(self, hinternet, notifications=WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS):
        """Sets this ring's WinHTTP callback (winhttp_callback) on a WinHTTP
        handle with WinHttpSetStatusCallback, for the notifications given
        (a WINHTTP_CALLBACK_FLAG_* mask, every one by default).

        Returns the address of the handle's previous callback (0 if none).
        Raises OSError (winerror the error) if WinHTTP refuses, and
        NotImplementedError where WinHTTP does not exist (everywhere but
        Windows)."""
        cdef uintptr_t previous = 0
        cdef unsigned long error = 0
        self._usable()
        if cbr_ring_closed(self._r):
            raise ValueError("register_winhttp() on a closed Ring")
        h = _checked_index(hinternet, "hinternet", 0, sys.maxsize * 2 + 1)
        mask = _checked_index(notifications, "notifications", 0, 0xFFFFFFFF)
        r = cbr_slot_register_winhttp(h, self._slot, <uint32_t>mask, &previous, &error)
        if r < 0:
            raise NotImplementedError(
                "Ring.register_winhttp needs WinHTTP, which exists only on Windows; elsewhere pass "
                "ring.winhttp_callback to the code that calls WinHTTP status callbacks")
        if r == 0:
            raise OSError(None, f"WinHttpSetStatusCallback failed with error {error}", None, error)
        return previous

    cdef inline size_t _take(self, cbr_record *out, size_t room) noexcept:
        # Under the consumer lock: close() holds it from closing tail to
        # storing end, so the hint is never the ~2**64 of that window.  The
        # hint bounds every claimed position, so a drain that stops at it
        # never reads the slot a producer is about to write (polling an
        # empty ring would otherwise pull that line from the producers).
        cdef uint64_t hint = cbr_ring_size_hint(self._r)
        return cbr_ring_drain(self._r, out, <size_t>hint if hint < room else room)

    cdef size_t _drain(self, cbr_record *out, size_t room, char *payloads,
                       size_t payload_cap) except? 0:
        # the one consumer step behind drain_into(): under the consumer
        # lock, and with fileno()'s readiness consumed and re-armed
        cdef size_t n, used = 0
        cdef uint64_t hint
        self._lock()
        if self._r.notify:
            cbr_ring_notify_clear(self._r)
        if payloads == NULL:
            n = self._take(out, room)
        else:
            hint = cbr_ring_size_hint(self._r)  # as _take, for the same reason
            n = cbr_ring_drain_payloads(self._r, out, <size_t>hint if hint < room else room,
                                        payloads, payload_cap, &used)
        if self._r.notify:
            cbr_ring_notify_rearm(self._r)
        self._unlock()
        return n

    def drain(self, max_events=None):
        """Takes up to max_events records (all that are ready if None), oldest first.

        Returns a Batch, possibly empty; never blocks.  On a closed ring it
        returns what was left, then empty batches.  Information longer than
        a record holds comes whole with its event (see Batch.payload).  It
        allocates at most 65536 records (4 MiB) more than it returns, and
        for payloads at most twice what they take, plus PAYLOAD_MAX."""
        cdef size_t want, size = 0, n = 0, step, asked, got, cap = 0, used = 0, grow
        cdef uint64_t hint
        cdef cbr_record *buf = NULL
        cdef cbr_record *grown
        cdef char *payloads = NULL
        cdef char *more
        self._usable()
        if max_events is None:
            want = <size_t>PY_SSIZE_T_MAX // sizeof(cbr_record)
        else:
            want = min(<size_t>_checked_index(max_events, "max_events", 0, sys.maxsize),
                       <size_t>PY_SSIZE_T_MAX // sizeof(cbr_record))
        self._lock()
        try:
            if self._r.notify:
                cbr_ring_notify_clear(self._r)
            # Grown DRAIN_STEP records at a time, so what is allocated and not
            # returned is at most one step, and no further than what was
            # claimed when it began: producers that keep pace with the copy
            # must not keep one drain (and the GIL) going forever.  Payloads
            # go into one buffer per batch, grown by doubling whenever less
            # than PAYLOAD_MAX is free (the room with which a drain always
            # takes the next record).  A refused allocation before anything
            # was taken raises and loses nothing; after, the batch is what
            # was taken.
            hint = cbr_ring_size_hint(self._r)
            if hint < want:
                want = <size_t>hint
            while n < want:
                if n == size:
                    step = <size_t>min(<uint64_t>(want - n), <uint64_t>DRAIN_STEP)
                    grown = <cbr_record *>PyMem_Realloc(buf, (n + step) * sizeof(cbr_record))
                    if grown == NULL:
                        if n == 0:
                            raise MemoryError(f"cannot allocate a batch of {step} events")
                        break
                    buf = grown
                    size = n + step
                if cap - used < CBR_PAYLOAD_MAX:
                    grow = max(2 * cap, used + CBR_PAYLOAD_MAX)
                    more = <char *>PyMem_Realloc(payloads, grow)
                    if more == NULL:
                        if n == 0:
                            raise MemoryError(f"cannot allocate {grow} bytes for payloads")
                        break
                    payloads = more
                    cap = grow
                asked = size - n
                got = cbr_ring_drain_payloads(self._r, buf + n, asked, payloads, cap, &used)
                n += got
                # short of what was asked with room for any payload: the ring
                # had no more (short without that room: the payloads filled up)
                if got < asked and cap - used >= CBR_PAYLOAD_MAX:
                    break
            if size == 0:
                cbr_ring_drain(self._r, NULL, 0)  # the high-water mark, as every drain
        except BaseException:
            PyMem_Free(payloads)
            PyMem_Free(buf)
            raise
        finally:
            if self._r.notify:
                cbr_ring_notify_rearm(self._r)
            self._unlock()
        if n == 0:
            PyMem_Free(buf)
            buf = NULL
        elif n < size:
            grown = <cbr_record *>PyMem_Realloc(buf, n * sizeof(cbr_record))
            if grown != NULL:
                buf = grown
        if used == 0:
            PyMem_Free(payloads)
            payloads = NULL
        elif used < cap:
            more = <char *>PyMem_Realloc(payloads, used)
            if more != NULL:
                payloads = more
        b = Batch._adopt(buf, n)
        (<Batch>b)._payloads = payloads
        (<Batch>b)._payload_len = used
        return b

    def drain_into(self, buffer, payloads=None):
        """Copies ready records straight into buffer and returns how many.

        buffer is any writable, C-contiguous buffer (bytearray, memoryview,
        array, numpy array of any dtype), taken as bytes; it is filled from
        the start with at most len(buffer) // EVENT_SIZE records.  payloads,
        if given, is another such buffer, of at least PAYLOAD_MAX bytes: the
        whole information of each record with flag 16 (CBR_FLAG_PAYLOAD) is
        copied there, from its start, and the record's result is size << 32
        | offset into it.  Without payloads, such a record keeps its first
        20 bytes, is marked truncated, and is counted in
        stats.payloads_truncated.  Nothing already in the ring is lost if a
        buffer is refused."""
        cdef Py_buffer view
        cdef Py_buffer pview
        cdef bint have_payloads = False
        cdef size_t room
        cdef char *pbuf = NULL
        cdef size_t pcap = 0
        self._usable()
        PyObject_GetBuffer(buffer, &view, PyBUF_RECORDS_RO)
        try:
            _check_writable_bytes(&view, buffer, "drain_into's buffer")
            room = <size_t>view.len // sizeof(cbr_record)
            if room == 0:
                raise ValueError(
                    f"drain_into needs room for at least one {sizeof(cbr_record)}-byte record, "
                    f"got {view.len} bytes")
            if payloads is not None:
                PyObject_GetBuffer(payloads, &pview, PyBUF_RECORDS_RO)
                have_payloads = True
                _check_writable_bytes(&pview, payloads, "drain_into's payloads")
                if <size_t>pview.len < CBR_PAYLOAD_MAX:
                    raise ValueError(
                        f"drain_into's payloads needs at least PAYLOAD_MAX = {CBR_PAYLOAD_MAX} bytes, "
                        f"got {pview.len}")
                if (<char *>pview.buf < <char *>view.buf + view.len
                        and <char *>view.buf < <char *>pview.buf + pview.len):
                    raise ValueError("drain_into's buffer and payloads overlap")
                pbuf = <char *>pview.buf
                pcap = <size_t>pview.len
            return self._drain(<cbr_record *>view.buf, room, pbuf, pcap)
        finally:
            if have_payloads:
                PyBuffer_Release(&pview)
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
    static inline void *cbr_py_ring_tail_field(cbr_ring *r) { return &r->tail; }
    static inline void *cbr_py_ring_deciding_field(cbr_ring *r) { return &r->deciding; }
    """
    uint64_t _ring_tail "cbr_py_ring_tail" (cbr_ring *r) nogil
    uint64_t _ring_inherited_late "cbr_py_ring_inherited_late" (cbr_ring *r) nogil
    uint32_t _ring_policy "cbr_py_ring_policy" (cbr_ring *r) nogil
    void cbr_wakeup_signal_ "cbr_py_wakeup_signal" (cbr_ring *r) nogil
    void *_ring_tail_field "cbr_py_ring_tail_field" (cbr_ring *r) nogil
    void *_ring_deciding_field "cbr_py_ring_deciding_field" (cbr_ring *r) nogil


# Test-only pause points in the ring code compiled here (see _slots.h), so
# that tests force the interleavings they need instead of hoping for them.
cdef dict _PAUSE_POINTS = {
    "close-after-tail": CBR_PAUSE_CLOSE_AFTER_TAIL,
    "decider-before-count": CBR_PAUSE_DECIDER_BEFORE_COUNT,
    "decider-after-count": CBR_PAUSE_DECIDER_AFTER_COUNT,
    "decider-before-done": CBR_PAUSE_DECIDER_BEFORE_DONE,
}


def _pause_arm(target, where):
    """Test only: the next thread that reaches `where` (a key of
    _PAUSE_POINTS) on the ring struct of target (a Ring, or a callback
    address whose Ring may be gone) holds there until _pause_resume().  A
    thread that holds the GIL there is not held; _pause_held_gil() says so."""
    cdef cbr_ring *r = NULL
    cdef int i
    if isinstance(target, Ring):
        r = (<Ring>target)._r
    else:
        for i in range(CBR_SLOT_COUNT):
            if cbr_slot_callback(i) == target:
                r = cbr_slot_ring(i)
        if r == NULL:
            raise ValueError(f"{target!r} is neither a Ring nor a ring's callback address")
    cdef uint32_t code = _PAUSE_POINTS[where]
    cbr_pause_arm(code, _ring_tail_field(r) if code == CBR_PAUSE_CLOSE_AFTER_TAIL
                  else _ring_deciding_field(r))


def _pause_disarm():
    """Test only: no pause is armed."""
    cbr_pause_arm(CBR_PAUSE_NONE, NULL)


def _pauses_reached():
    """Test only: how many pauses threads have reached since the process began."""
    return cbr_pause_reached()


def _pause_resume():
    """Test only: lets the oldest held pause go on; False if none is held."""
    return bool(cbr_pause_resume())


def _pause_held_gil():
    """Test only: the last armed pause was reached by a thread holding the GIL."""
    return bool(cbr_pause_held_gil())


def _count_backoffs(on):
    """Test only: starts or stops counting the ring code's back-off spins; returns the count."""
    return cbr_pause_backoffs(1 if on else 0)


def _consumer_lock_waits():
    """Test only: times a consumer call waited for another's consumer lock."""
    return _lock_waits


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
