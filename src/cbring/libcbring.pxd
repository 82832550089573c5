# cython: language_level=3
# Declarations of cbring's C core (include/cbring), for Cython code that
# pushes records or drains a ring without Python.  Compile against
# cbring.get_include().  Everything here is nogil: none of it touches Python.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, uintptr_t

cdef extern from "cbring/record.h" nogil:
    enum:
        CBR_RECORD_SIZE
        CBR_RECORD_INLINE
        CBR_PAYLOAD_MAX
    enum cbr_info_kind:
        CBR_INFO_NONE
        CBR_INFO_ASYNC_RESULT
        CBR_INFO_DWORD
        CBR_INFO_HANDLE
        CBR_INFO_BYTES
        CBR_INFO_TEXT
        CBR_INFO_TEXT_WIDE
        CBR_INFO_BUFFER
    enum cbr_record_flag:
        CBR_FLAG_TRUNCATED
        CBR_FLAG_NULL_INFO
        CBR_FLAG_SHORT_INFO
        CBR_FLAG_SPILLED
        CBR_FLAG_PAYLOAD
        CBR_FLAG_WINHTTP
    const char *CBR_RECORD_FORMAT

    ctypedef struct cbr_record:
        uint64_t handle
        uint64_t context
        uint64_t result
        uint32_t seq
        uint32_t status
        uint32_t error
        uint32_t length
        uint16_t flags
        uint8_t kind
        uint8_t data_len
        uint8_t data[20]

cdef extern from "cbring/wininet_compat.h" nogil:
    ctypedef void *cbr_hinternet
    ctypedef uint32_t cbr_dword
    ctypedef uintptr_t cbr_dword_ptr
    ctypedef struct cbr_async_result:
        cbr_dword_ptr dwResult
        cbr_dword dwError
    ctypedef void (*cbr_status_callback)(cbr_hinternet, cbr_dword_ptr, cbr_dword, void *, cbr_dword)

cdef extern from "cbring/ring.h" nogil:
    uint64_t CBR_RING_MAX_CAPACITY

    enum cbr_overflow:
        CBR_OVERFLOW_SPILL
        CBR_OVERFLOW_DROP
        CBR_OVERFLOW_BLOCK

    enum cbr_push_result:
        CBR_PUSHED
        CBR_SPILLED
        CBR_DROPPED
        CBR_LATE

    ctypedef struct cbr_ring_stats:
        uint64_t pushed
        uint64_t drained
        uint64_t dropped
        uint64_t spilled
        uint64_t late
        uint64_t capacity
        uint64_t high_water
        uint64_t wakeups
        uint64_t payloads_truncated

    ctypedef struct cbr_wakeup:
        Py_ssize_t rfd
        Py_ssize_t wfd

    ctypedef struct cbr_ring:
        cbr_wakeup wake
        uint32_t notify
        uint64_t block_ns

    uint64_t cbr_ring_round_capacity(uint64_t want)
    int cbr_ring_init(cbr_ring *r, uint64_t capacity, cbr_overflow policy, uint64_t block_ns, uint64_t base)
    void cbr_ring_set_policy(cbr_ring *r, cbr_overflow policy)
    uint64_t cbr_ring_capacity(const cbr_ring *r)
    int cbr_ring_push(cbr_ring *r, const cbr_record *rec)
    void cbr_ring_close(cbr_ring *r)
    int cbr_ring_closed(const cbr_ring *r)
    void cbr_ring_close_in_child(cbr_ring *r)
    void cbr_ring_destroy(cbr_ring *r)
    int cbr_ring_pending(cbr_ring *r)
    int cbr_ring_ready(cbr_ring *r)
    uint64_t cbr_ring_size_hint(cbr_ring *r)
    size_t cbr_ring_drain(cbr_ring *r, cbr_record *out, size_t max)
    size_t cbr_ring_drain_payloads(cbr_ring *r, cbr_record *out, size_t max,
                                   void *payload, size_t payload_cap, size_t *payload_used)
    int cbr_ring_wait(cbr_ring *r, int timeout_ms)
    void cbr_ring_notify_rearm(cbr_ring *r)
    void cbr_ring_notify_clear(cbr_ring *r)
    void cbr_ring_get_stats(cbr_ring *r, cbr_ring_stats *s)

cdef extern from "cbring/status.h" nogil:
    void cbr_record_from_status(cbr_record *rec, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                                cbr_dword dwInternetStatus, const void *info, cbr_dword length)
    int cbr_ring_push_status(cbr_ring *r, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                             cbr_dword dwInternetStatus, const void *info, cbr_dword length)
    int cbr_ring_push_status_w(cbr_ring *r, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                               cbr_dword dwInternetStatus, const void *info, cbr_dword length)

cdef extern from "cbring/winhttp.h" nogil:
    cbr_info_kind cbr_winhttp_status_payload(uint32_t status)
    void cbr_record_from_winhttp_status(cbr_record *rec, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                                        cbr_dword dwInternetStatus, const void *info, cbr_dword length)
    int cbr_ring_push_winhttp_status(cbr_ring *r, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                                     cbr_dword dwInternetStatus, const void *info, cbr_dword length)
