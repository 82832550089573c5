# cython: language_level=3, embedsignature=True, freethreading_compatible=False
"""libcurl's multi interface on a native thread, reporting into a cbring.Ring.

The thread started by Engine never takes the GIL: it runs curl_multi_poll,
writes bodies to file descriptors and reports every transfer through
cbring's C API (cimport cbring) in WinINet's shapes, for one handle id
per transfer:

    HANDLE_CREATED     INTERNET_ASYNC_RESULT {dwResult = handle id, dwError = 0}
    RESPONSE_RECEIVED  DWORD: bytes written to the file since the previous
                       one; pushed once progress_step bytes have gathered
                       (1: every chunk libcurl hands over, 16 KiB at most),
                       and for the rest just before REQUEST_COMPLETE
    REQUEST_COMPLETE   INTERNET_ASYNC_RESULT {dwResult TRUE/FALSE, dwError}
    HANDLE_CLOSING     the handle id (an HINTERNET)

dwContext is the context given to submit().  The file descriptor is closed
before REQUEST_COMPLETE is pushed, so whoever sees the completion sees the
whole file.  Python talks to the thread only through a mutex-protected
queue of commands and curl_multi_wakeup().
"""

cimport cbring
from cbring.libcbring cimport cbr_async_result, cbr_dword, cbr_dword_ptr, cbr_hinternet, cbr_ring
from libc.errno cimport (EACCES, EAGAIN, EINTR, EISDIR, EMFILE, ENAMETOOLONG, ENFILE, ENOENT, ENOSPC,
                         ENOTDIR, EPERM, EROFS, errno)
from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from posix.fcntl cimport F_GETFL, F_SETFL, O_CLOEXEC, O_CREAT, O_NONBLOCK, O_TRUNC, O_WRONLY, fcntl, open
from posix.unistd cimport close, unlink, write
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cbring.libcbring cimport CBR_INFO_ASYNC_RESULT, CBR_INFO_DWORD, cbr_record

import os as _os


cdef extern from "<curl/curl.h>" nogil:
    ctypedef void CURL
    ctypedef void CURLM
    ctypedef int CURLcode
    ctypedef int CURLMcode
    ctypedef int CURLoption
    ctypedef int CURLMoption
    ctypedef int CURLINFO
    ctypedef size_t (*curl_write_callback)(char *data, size_t size, size_t n, void *arg) noexcept nogil

    enum:
        CURL_GLOBAL_DEFAULT
        CURLM_OK
        CURLMSG_DONE
        CURLE_OK
        CURLE_UNSUPPORTED_PROTOCOL
        CURLE_URL_MALFORMAT
        CURLE_COULDNT_RESOLVE_PROXY
        CURLE_COULDNT_RESOLVE_HOST
        CURLE_COULDNT_CONNECT
        CURLE_WEIRD_SERVER_REPLY
        CURLE_PARTIAL_FILE
        CURLE_HTTP_RETURNED_ERROR
        CURLE_WRITE_ERROR
        CURLE_OUT_OF_MEMORY
        CURLE_OPERATION_TIMEDOUT
        CURLE_SSL_CONNECT_ERROR
        CURLE_ABORTED_BY_CALLBACK
        CURLE_TOO_MANY_REDIRECTS
        CURLE_GOT_NOTHING
        CURLE_SEND_ERROR
        CURLE_RECV_ERROR
        CURLE_PEER_FAILED_VERIFICATION

        CURLOPT_URL
        CURLOPT_PRIVATE
        CURLOPT_WRITEFUNCTION
        CURLOPT_WRITEDATA
        CURLOPT_NOSIGNAL
        CURLOPT_FAILONERROR
        CURLOPT_FOLLOWLOCATION
        CURLOPT_MAXREDIRS
        CURLOPT_TIMEOUT_MS
        CURLOPT_CONNECTTIMEOUT_MS
        CURLOPT_BUFFERSIZE
        CURLOPT_USERAGENT

        CURLMOPT_MAX_TOTAL_CONNECTIONS
        CURLMOPT_MAX_HOST_CONNECTIONS

        CURLINFO_RESPONSE_CODE
        CURLINFO_PRIVATE

    ctypedef union CURLMsg_data:
        CURLcode result
    ctypedef struct CURLMsg:
        int msg
        CURL *easy_handle
        CURLMsg_data data

    CURLcode curl_global_init(long flags)
    const char *c_curl_version "curl_version" ()
    const char *curl_easy_strerror(CURLcode code)
    CURL *curl_easy_init()
    CURLcode curl_easy_setopt(CURL *easy, CURLoption option, ...)
    CURLcode curl_easy_getinfo(CURL *easy, CURLINFO info, ...)
    void curl_easy_cleanup(CURL *easy)
    CURLM *curl_multi_init()
    CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
    CURLMcode curl_multi_add_handle(CURLM *multi, CURL *easy)
    CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *easy)
    CURLMcode curl_multi_perform(CURLM *multi, int *running)
    CURLMcode curl_multi_poll(CURLM *multi, void *extra_fds, unsigned int extra_nfds,
                              int timeout_ms, int *numfds)
    CURLMcode curl_multi_wakeup(CURLM *multi)
    CURLMsg *curl_multi_info_read(CURLM *multi, int *left)
    CURLMcode curl_multi_cleanup(CURLM *multi)


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_t:
        pass
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_create(pthread_t *thread, const void *attr, void *(*run)(void *) noexcept nogil, void *arg)
    int pthread_join(pthread_t thread, void **result)
    int pthread_mutex_init(pthread_mutex_t *mutex, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *mutex)
    int pthread_mutex_lock(pthread_mutex_t *mutex)
    int pthread_mutex_unlock(pthread_mutex_t *mutex)


cdef extern from *:
    """
    /* Counters the engine thread writes and Python reads. */
    static inline void dl_count(uint64_t *c)
    { __atomic_fetch_add(c, 1, __ATOMIC_RELEASE); } /* release: pairs with dl_read, after the pushes it counts */
    static inline uint64_t dl_read(uint64_t *c)
    { return __atomic_load_n(c, __ATOMIC_ACQUIRE); }

    /* http and https only, for the request and its redirects: a URL from
     * elsewhere must not read file:// or talk to other protocols. */
    static inline void dl_restrict_protocols(CURL *easy)
    {
    #if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    #else
        curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
        curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    #endif
    }
    """
    void dl_count(uint64_t *counter) nogil
    uint64_t dl_read(uint64_t *counter) nogil
    void dl_restrict_protocols(CURL *easy) nogil


# WinINet's status codes and the error codes this engine reports (wininet.h, winerror.h).
cdef enum:
    STATUS_RESPONSE_RECEIVED = 41
    STATUS_HANDLE_CREATED = 60
    STATUS_HANDLE_CLOSING = 70
    STATUS_REQUEST_COMPLETE = 100

    ERROR_PATH_NOT_FOUND = 3
    ERROR_TOO_MANY_OPEN_FILES = 4
    ERROR_ACCESS_DENIED = 5
    ERROR_WRITE_FAULT = 29
    ERROR_OPEN_FAILED = 110
    ERROR_FILENAME_EXCED_RANGE = 206
    ERROR_DISK_FULL = 112
    ERROR_NOT_ENOUGH_MEMORY = 8
    ERROR_INTERNET_OUT_OF_HANDLES = 12001
    ERROR_INTERNET_TIMEOUT = 12002
    ERROR_INTERNET_INTERNAL_ERROR = 12004
    ERROR_INTERNET_INVALID_URL = 12005
    ERROR_INTERNET_UNRECOGNIZED_SCHEME = 12006
    ERROR_INTERNET_NAME_NOT_RESOLVED = 12007
    ERROR_INTERNET_OPERATION_CANCELLED = 12017
    ERROR_INTERNET_CANNOT_CONNECT = 12029
    ERROR_INTERNET_CONNECTION_ABORTED = 12030
    ERROR_INTERNET_CONNECTION_RESET = 12031
    ERROR_INTERNET_INVALID_CA = 12045
    ERROR_HTTP_INVALID_SERVER_RESPONSE = 12152
    ERROR_HTTP_REDIRECT_FAILED = 12156
    ERROR_INTERNET_SECURITY_CHANNEL_ERROR = 12157

cdef enum dl_kind:
    DL_GET = 1
    DL_CLOSE = 2


cdef struct dl_transfer:
    dl_transfer *next          # the command queue, then the active list
    dl_transfer *prev          # the active list
    int kind                   # DL_GET, or DL_CLOSE (a command: close `handle`)
    uint64_t handle            # the handle id reported in every event
    uint64_t context           # dwContext
    int fd                     # owned by the engine from submit() on; closed before REQUEST_COMPLETE
    char *path                 # NULL: submitted as fd; else opened when it starts, removed on failure
    bint created               # path was opened (created or truncated) by the engine
    bint nonblocking           # opened with O_NONBLOCK, which only a FIFO or a device heeds
    bint is_active             # on the active list, counted in nactive
    int write_errno            # errno of a failed write(), else 0
    uint64_t unreported        # bytes written and not yet in a RESPONSE_RECEIVED
    CURL *easy
    dl_engine *engine
    char *url                  # stored right after the struct, path right after url


cdef struct dl_engine:
    cbr_ring *ring
    CURLM *multi
    long timeout_ms            # 0: no limit on a whole transfer
    long connect_timeout_ms
    long buffer_size
    uint64_t progress_step     # bytes per RESPONSE_RECEIVED, at least
    pthread_mutex_t lock       # guards the queue, stopping, polling and woken
    dl_transfer *queue_head
    dl_transfer *queue_tail
    int stopping
    int polling                # the thread is in (or about to enter) curl_multi_poll
    int woken                  # curl_multi_wakeup() was called since it entered
    dl_transfer *active        # the engine thread's alone, as are the waiting list and spares:
    int nactive
    int max_active             # transfers started at once; the rest wait, with no file open
    dl_transfer *waiting_head  # submitted, not started yet, in submission order
    dl_transfer *waiting_tail
    CURL *spare[64]            # easy handles of finished transfers, for reuse
    int nspare
    uint64_t started           # counters: the engine thread writes, Python reads
    uint64_t completed
    uint64_t failed
    uint64_t refused           # pushes the ring did not accept (dropped or late)


cdef cbr_dword wininet_error_of(CURLcode code, long http_status, int write_errno) noexcept nogil:
    """The dwError for a finished transfer; 0 for success (a 2xx final status)."""
    if code == CURLE_OK or code == CURLE_HTTP_RETURNED_ERROR:
        if 200 <= http_status < 300 and code == CURLE_OK:
            return 0
        if http_status > 0:
            return <cbr_dword>http_status    # 1xx, 3xx, 4xx, 5xx: the status itself
        return ERROR_HTTP_INVALID_SERVER_RESPONSE
    if code == CURLE_COULDNT_CONNECT:
        return ERROR_INTERNET_CANNOT_CONNECT
    if code == CURLE_OPERATION_TIMEDOUT:
        return ERROR_INTERNET_TIMEOUT
    if code == CURLE_COULDNT_RESOLVE_HOST or code == CURLE_COULDNT_RESOLVE_PROXY:
        return ERROR_INTERNET_NAME_NOT_RESOLVED
    if code == CURLE_PARTIAL_FILE:
        return ERROR_INTERNET_CONNECTION_ABORTED
    if code == CURLE_RECV_ERROR or code == CURLE_SEND_ERROR:
        return ERROR_INTERNET_CONNECTION_RESET
    if code == CURLE_GOT_NOTHING or code == CURLE_WEIRD_SERVER_REPLY:
        return ERROR_HTTP_INVALID_SERVER_RESPONSE
    if code == CURLE_URL_MALFORMAT:
        return ERROR_INTERNET_INVALID_URL
    if code == CURLE_UNSUPPORTED_PROTOCOL:
        return ERROR_INTERNET_UNRECOGNIZED_SCHEME
    if code == CURLE_TOO_MANY_REDIRECTS:
        return ERROR_HTTP_REDIRECT_FAILED
    if code == CURLE_ABORTED_BY_CALLBACK:
        return ERROR_INTERNET_OPERATION_CANCELLED
    if code == CURLE_SSL_CONNECT_ERROR:
        return ERROR_INTERNET_SECURITY_CHANNEL_ERROR
    if code == CURLE_PEER_FAILED_VERIFICATION:
        return ERROR_INTERNET_INVALID_CA
    if code == CURLE_OUT_OF_MEMORY:
        return ERROR_NOT_ENOUGH_MEMORY
    if code == CURLE_WRITE_ERROR:
        return ERROR_DISK_FULL if write_errno == ENOSPC else ERROR_WRITE_FAULT
    return ERROR_INTERNET_INTERNAL_ERROR


cdef cbr_dword open_error_of(int os_errno) noexcept nogil:
    """The dwError for a file that could not be opened: the system code
    CreateFile would give (winerror.h)."""
    if os_errno == ENOENT or os_errno == ENOTDIR:
        return ERROR_PATH_NOT_FOUND
    if os_errno == EACCES or os_errno == EPERM or os_errno == EROFS or os_errno == EISDIR:
        return ERROR_ACCESS_DENIED
    if os_errno == EMFILE or os_errno == ENFILE:
        return ERROR_TOO_MANY_OPEN_FILES
    if os_errno == ENOSPC:
        return ERROR_DISK_FULL
    if os_errno == ENAMETOOLONG:
        return ERROR_FILENAME_EXCED_RANGE
    return ERROR_OPEN_FAILED         # ENXIO (a FIFO with no reader) and the rest


# reporting: every event goes through cbring's C API, from the engine thread

cdef inline void report(dl_transfer *t, cbr_dword status, const void *info, cbr_dword length) noexcept nogil:
    cdef int r = cbring.cbring_push_status(t.engine.ring, <cbr_hinternet><uintptr_t>t.handle,
                                           <cbr_dword_ptr>t.context, status, info, length)
    if r != cbring.CBRING_PUSHED and r != cbring.CBRING_SPILLED:
        dl_count(&t.engine.refused)


cdef inline void report_result(dl_transfer *t, cbr_dword status, uint64_t result, cbr_dword error) noexcept nogil:
    cdef cbr_async_result ar
    memset(&ar, 0, sizeof(ar))
    ar.dwResult = <cbr_dword_ptr>result
    ar.dwError = error
    report(t, status, &ar, sizeof(ar))


cdef inline void report_received(dl_transfer *t) noexcept nogil:
    # unreported < progress_step (<= 2**31) + one chunk (<= 10 MiB): fits a DWORD
    cdef cbr_dword n = <cbr_dword>t.unreported
    t.unreported = 0
    report(t, STATUS_RESPONSE_RECEIVED, &n, sizeof(n))


# the engine thread

cdef size_t on_write(char *data, size_t size, size_t n, void *arg) noexcept nogil:
    cdef dl_transfer *t = <dl_transfer *>arg
    cdef size_t total = size * n, done = 0
    cdef ssize_t w
    cdef int flags
    while done < total:                      # each pass writes >= 1 byte or returns
        w = write(t.fd, data + done, total - done)
        if w < 0:
            if errno == EINTR:
                continue
            if errno == EAGAIN and t.nonblocking:
                # a FIFO whose reader is slow: from now on write as a blocking
                # descriptor would (regular files never get here: no fcntl for them)
                t.nonblocking = 0
                flags = fcntl(t.fd, F_GETFL)
                if flags >= 0 and fcntl(t.fd, F_SETFL, flags & ~O_NONBLOCK) >= 0:
                    continue
            t.write_errno = errno
            t.unreported += done             # what did reach the file is still reported
            return 0                         # libcurl fails the transfer: CURLE_WRITE_ERROR
        done += <size_t>w
    t.unreported += total
    if t.unreported >= t.engine.progress_step:
        report_received(t)
    return total


cdef void finish(dl_engine *e, dl_transfer *t, cbr_dword error) noexcept nogil:
    """Ends a transfer: REQUEST_COMPLETE, HANDLE_CLOSING, and frees it."""
    cdef void *closed = <void *><uintptr_t>t.handle
    if t.easy != NULL:
        curl_multi_remove_handle(e.multi, t.easy)
        if e.nspare < 64:
            e.spare[e.nspare] = t.easy
            e.nspare += 1
        else:
            curl_easy_cleanup(t.easy)
        t.easy = NULL
    if t.is_active:
        if t.prev != NULL:
            t.prev.next = t.next
        else:
            e.active = t.next
        if t.next != NULL:
            t.next.prev = t.prev
        t.is_active = 0
        e.nactive -= 1
    if t.fd >= 0:
        close(t.fd)
    if error and t.created:
        unlink(t.path)               # before REQUEST_COMPLETE: whoever sees a failure sees no file
    if t.unreported:
        report_received(t)
    report_result(t, STATUS_REQUEST_COMPLETE, 0 if error else 1, error)
    report(t, STATUS_HANDLE_CLOSING, &closed, sizeof(closed))
    if error:
        dl_count(&e.failed)
    dl_count(&e.completed)
    free(t)


cdef CURL *new_easy(dl_engine *e) noexcept nogil:
    """An easy handle with every option but the transfer's own: a spare one, or a new one."""
    cdef CURL *easy
    if e.nspare:
        e.nspare -= 1
        return e.spare[e.nspare]
    easy = curl_easy_init()
    if easy == NULL:
        return NULL
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, <curl_write_callback>on_write)
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, <long>1)
    curl_easy_setopt(easy, CURLOPT_FAILONERROR, <long>1)
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, <long>1)
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, <long>10)
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, e.timeout_ms)
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, e.connect_timeout_ms)
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, e.buffer_size)
    curl_easy_setopt(easy, CURLOPT_USERAGENT, b"cbring-curl-downloader")
    dl_restrict_protocols(easy)
    return easy


cdef void start(dl_engine *e, dl_transfer *t) noexcept nogil:
    """HANDLE_CREATED, then hands the transfer to the multi handle."""
    cdef CURL *easy
    report_result(t, STATUS_HANDLE_CREATED, t.handle, 0)
    dl_count(&e.started)
    t.next = NULL
    t.prev = NULL
    if t.path != NULL:
        # O_NONBLOCK: a FIFO with no reader fails (ENXIO) instead of blocking the thread
        t.fd = open(t.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0o666)
        if t.fd < 0:
            finish(e, t, open_error_of(errno))
            return
        t.created = 1
        t.nonblocking = 1
    easy = new_easy(e)
    if easy == NULL:
        finish(e, t, ERROR_INTERNET_OUT_OF_HANDLES)
        return
    t.easy = easy
    curl_easy_setopt(easy, CURLOPT_URL, t.url)
    curl_easy_setopt(easy, CURLOPT_PRIVATE, <void *>t)
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, <void *>t)
    if curl_multi_add_handle(e.multi, easy) != CURLM_OK:
        finish(e, t, ERROR_INTERNET_INTERNAL_ERROR)
        return
    t.next = e.active
    if e.active != NULL:
        e.active.prev = t
    e.active = t
    t.is_active = 1
    e.nactive += 1


cdef void start_waiting(dl_engine *e) noexcept nogil:
    """Starts waiting transfers, oldest first, while fewer than max_active run."""
    cdef dl_transfer *t
    while e.waiting_head != NULL and e.nactive < e.max_active:   # each pass takes one off the list
        t = e.waiting_head
        e.waiting_head = t.next
        if e.waiting_head == NULL:
            e.waiting_tail = NULL
        start(e, t)


cdef void close_active(dl_engine *e, uint64_t handle) noexcept nogil:
    """InternetCloseHandle on a transfer not finished yet: it completes as
    cancelled (one still waiting to start reports HANDLE_CREATED first)."""
    cdef dl_transfer *t = e.active
    cdef dl_transfer *before = NULL
    while t != NULL:                         # the active list is finite and unchanged here
        if t.handle == handle:
            finish(e, t, ERROR_INTERNET_OPERATION_CANCELLED)
            return
        t = t.next
    t = e.waiting_head
    while t != NULL:                         # the waiting list is finite and unchanged here
        if t.handle == handle:
            if before == NULL:
                e.waiting_head = t.next
            else:
                before.next = t.next
            if e.waiting_tail == t:
                e.waiting_tail = before
            cancel_unstarted(e, t)
            return
        before = t
        t = t.next


cdef void cancel_unstarted(dl_engine *e, dl_transfer *t) noexcept nogil:
    """A transfer that never started still reports its whole lifecycle."""
    report_result(t, STATUS_HANDLE_CREATED, t.handle, 0)
    dl_count(&e.started)
    t.next = NULL
    finish(e, t, ERROR_INTERNET_OPERATION_CANCELLED)


cdef void collect(dl_engine *e) noexcept nogil:
    """Finishes every transfer libcurl reports done."""
    cdef CURLMsg *msg
    cdef int left = 0
    cdef char *p = NULL
    cdef long http_status
    cdef dl_transfer *t
    cdef CURLcode code
    while True:                              # each message is returned once
        msg = curl_multi_info_read(e.multi, &left)
        if msg == NULL:
            return
        if msg.msg != CURLMSG_DONE:
            continue
        code = msg.data.result
        curl_easy_getinfo(msg.easy_handle, CURLINFO_PRIVATE, &p)
        t = <dl_transfer *>p
        http_status = 0
        curl_easy_getinfo(msg.easy_handle, CURLINFO_RESPONSE_CODE, &http_status)
        finish(e, t, wininet_error_of(code, http_status, t.write_errno))


cdef dl_transfer *take_commands(dl_engine *e, int *stopping) noexcept nogil:
    cdef dl_transfer *head
    pthread_mutex_lock(&e.lock)
    head = e.queue_head
    e.queue_head = NULL
    e.queue_tail = NULL
    stopping[0] = e.stopping
    pthread_mutex_unlock(&e.lock)
    return head


cdef bint enter_poll(dl_engine *e) noexcept nogil:
    """Whether to sleep in curl_multi_poll: only with no command waiting.
    From here until leave_poll, submit() wakes the thread (once)."""
    cdef bint sleep
    pthread_mutex_lock(&e.lock)
    sleep = e.queue_head == NULL and not e.stopping
    e.polling = sleep
    e.woken = 0
    pthread_mutex_unlock(&e.lock)
    return sleep


cdef void leave_poll(dl_engine *e) noexcept nogil:
    pthread_mutex_lock(&e.lock)
    e.polling = 0
    pthread_mutex_unlock(&e.lock)


cdef void *engine_main(void *arg) noexcept nogil:
    cdef dl_engine *e = <dl_engine *>arg
    cdef dl_transfer *cmd
    cdef dl_transfer *next_cmd
    cdef int stopping = 0, running = 0
    while True:                              # ends when Engine.close() sets stopping
        cmd = take_commands(e, &stopping)
        while cmd != NULL:                   # in submission order
            next_cmd = cmd.next
            if cmd.kind == DL_GET:
                cmd.next = NULL
                if e.waiting_tail == NULL:
                    e.waiting_head = cmd
                else:
                    e.waiting_tail.next = cmd
                e.waiting_tail = cmd
            else:
                close_active(e, cmd.handle)
                free(cmd)
            cmd = next_cmd
        if stopping:
            break
        start_waiting(e)
        curl_multi_perform(e.multi, &running)
        collect(e)
        if e.waiting_head != NULL and e.nactive < e.max_active:
            continue                         # finished transfers made room: start the next ones now
        if enter_poll(e):
            # until a socket is ready, a timeout of libcurl's is due, or
            # Python calls curl_multi_wakeup(); 1 s at most
            curl_multi_poll(e.multi, NULL, 0, 1000, NULL)
            leave_poll(e)
    while e.active != NULL:                  # each pass removes one
        finish(e, e.active, ERROR_INTERNET_OPERATION_CANCELLED)
    while e.waiting_head != NULL:            # each pass removes one
        cmd = e.waiting_head
        e.waiting_head = cmd.next
        cancel_unstarted(e, cmd)
    e.waiting_tail = NULL
    while e.nspare:
        e.nspare -= 1
        curl_easy_cleanup(e.spare[e.nspare])
    return NULL


# Python's side

cdef object _CONTEXT_LIMIT = (<object>1) << (8 * sizeof(cbr_dword_ptr))


def wininet_error(int curl_code, long http_status=0, int os_errno=0):
    """The dwError this engine reports for a transfer that ended with
    curl_code (a CURLcode) and http_status; 0 means success."""
    return wininet_error_of(curl_code, http_status, os_errno)


def curl_version():
    """The version string of the libcurl this module runs on."""
    return c_curl_version().decode()


def curl_strerror(int curl_code):
    """libcurl's description of a CURLcode."""
    return curl_easy_strerror(curl_code).decode()


cdef class Engine:
    """libcurl's multi interface on a native thread that never takes the GIL,
    reporting each transfer into ring through cbring's C API.

    submit() and close_handle() return at once; what happens is reported in
    the ring.  Every submitted transfer is reported exactly once as
    HANDLE_CREATED, then RESPONSE_RECEIVED per progress_step bytes written
    (their sum is the file's size), then
    REQUEST_COMPLETE and HANDLE_CLOSING, in that order (close() included:
    transfers still running complete with ERROR_INTERNET_OPERATION_CANCELLED)."""

    cdef dl_engine *_e
    cdef pthread_t _thread
    cdef bint _running
    cdef bint _closed
    cdef uint64_t _next_handle
    cdef object _ring

    def __cinit__(self, ring, *, connections=16, max_transfers=None, timeout=0.0, connect_timeout=10.0,
                  buffer_size=65536, progress_step=1 << 20):
        cdef cbr_ring *r = cbring.cbring_ring(ring)      # TypeError for anything but a Ring
        if not (isinstance(connections, int) and 1 <= connections <= 65536):
            raise ValueError(f"connections must be an int between 1 and 65536, got {connections!r}")
        if max_transfers is None:
            max_transfers = 2 * connections
        if not (isinstance(max_transfers, int) and not isinstance(max_transfers, bool)
                and 1 <= max_transfers <= 1 << 20):
            raise ValueError(f"max_transfers must be an int between 1 and 2**20, got {max_transfers!r}")
        if not (timeout >= 0):
            raise ValueError(f"timeout must be >= 0 seconds (0: no limit), got {timeout!r}")
        if not (connect_timeout >= 0):
            raise ValueError(f"connect_timeout must be >= 0 seconds, got {connect_timeout!r}")
        if not (isinstance(buffer_size, int) and 1024 <= buffer_size <= 10 * 1024 * 1024):
            raise ValueError(f"buffer_size must be an int between 1024 and 10 MiB, got {buffer_size!r}")
        if not (isinstance(progress_step, int) and 1 <= progress_step <= 1 << 31):
            raise ValueError(f"progress_step must be an int between 1 and 2**31 bytes, got {progress_step!r}")
        self._e = <dl_engine *>malloc(sizeof(dl_engine))
        if self._e == NULL:
            raise MemoryError()
        memset(self._e, 0, sizeof(dl_engine))
        self._closed = True
        self._next_handle = 1
        self._ring = ring                    # keeps the Ring, so that pushes are never late
        self._e.ring = r
        self._e.timeout_ms = <long>(timeout * 1000)
        self._e.connect_timeout_ms = <long>(connect_timeout * 1000)
        self._e.buffer_size = buffer_size
        self._e.progress_step = progress_step
        self._e.max_active = max_transfers
        pthread_mutex_init(&self._e.lock, NULL)
        self._e.multi = curl_multi_init()
        if self._e.multi == NULL:
            raise MemoryError("curl_multi_init failed")
        curl_multi_setopt(self._e.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, <long>connections)
        curl_multi_setopt(self._e.multi, CURLMOPT_MAX_HOST_CONNECTIONS, <long>connections)
        if pthread_create(&self._thread, NULL, engine_main, self._e) != 0:
            raise OSError("cannot start the engine thread")
        self._running = True
        self._closed = False

    cdef int _enqueue(self, dl_transfer *head, dl_transfer *tail, bint wake) except -1:
        pthread_mutex_lock(&self._e.lock)    # held only for a few stores, by either side
        if self._e.queue_head == NULL:
            self._e.queue_head = head
        else:
            self._e.queue_tail.next = head
        self._e.queue_tail = tail
        pthread_mutex_unlock(&self._e.lock)
        if wake:
            self.wake()
        return 0

    def wake(self):
        """Makes the engine thread look at its queue if it sleeps.  Only a
        sleeping thread is woken, and only once per sleep: a busy one looks
        at the queue before it sleeps again."""
        cdef bint wake
        if self._closed:
            return
        pthread_mutex_lock(&self._e.lock)
        wake = self._e.polling and not self._e.woken
        if wake:
            self._e.woken = 1
        pthread_mutex_unlock(&self._e.lock)
        if wake:
            curl_multi_wakeup(self._e.multi)

    cdef dl_transfer *_new_transfer(self, url, file, context) except NULL:
        """A DL_GET command for url into file (an open fd, or a path), not queued yet."""
        cdef bytes u, p = None
        cdef dl_transfer *t
        cdef Py_ssize_t size
        cdef int fd = -1
        u = url.encode() if isinstance(url, str) else bytes(url)
        if b"\0" in u:
            raise ValueError("url must not contain NUL characters")
        if not (isinstance(context, int) and 0 <= context < _CONTEXT_LIMIT):
            raise ValueError(f"context must be an int that fits a DWORD_PTR, got {context!r}")
        if isinstance(file, int) and not isinstance(file, bool):
            fd = file
            if fd < 0:
                raise ValueError(f"fd must be an open file descriptor, got {fd}")
        else:
            p = _os.fsencode(file)
            if not p or b"\0" in p:
                raise ValueError(f"path must be a non-empty path without NUL characters, got {file!r}")
        size = sizeof(dl_transfer) + len(u) + 1 + (len(p) + 1 if p is not None else 0)
        t = <dl_transfer *>malloc(size)
        if t == NULL:
            raise MemoryError()
        memset(t, 0, sizeof(dl_transfer))
        t.kind = DL_GET
        t.context = <uint64_t>context
        t.fd = fd
        t.engine = self._e
        t.url = <char *>t + sizeof(dl_transfer)
        memcpy(t.url, <char *>u, len(u) + 1)
        if p is not None:
            t.path = t.url + len(u) + 1
            memcpy(t.path, <char *>p, len(p) + 1)
        return t

    def submit(self, url, file, context, bint wake=True):
        """Starts downloading url into file; returns the transfer's handle id.

        file is an open file descriptor (an int: the engine owns it once
        submit() has returned and closes it before REQUEST_COMPLETE; if
        submit() raises, it is still the caller's), or a path: the engine
        opens it (created or truncated) when the transfer starts, and
        removes it if the transfer fails.  context is the dwContext of every
        event.  At most max_transfers transfers run at once; the others
        wait, in submission order, with no file open.  With wake=False the
        transfer waits for the next wake() (or for the thread's next look at
        its queue): a burst of submits then costs one wake-up."""
        if self._closed:
            raise RuntimeError("submit() on a closed Engine")
        cdef dl_transfer *t = self._new_transfer(url, file, context)
        t.handle = self._next_handle
        self._next_handle += 1
        self._enqueue(t, t, wake)
        return t.handle

    def submit_many(self, jobs, bint wake=True):
        """Submits every (url, file, context) of jobs, in order, as submit()
        would, under one lock and with one wake-up; returns the first handle
        id (the others follow it one by one).  Either all are submitted or,
        if one is refused (its exception is raised), none is."""
        cdef dl_transfer *head = NULL
        cdef dl_transfer *tail = NULL
        cdef dl_transfer *t
        cdef uint64_t first = self._next_handle, handle = self._next_handle
        if self._closed:
            raise RuntimeError("submit_many() on a closed Engine")
        try:
            for url, file, context in jobs:
                t = self._new_transfer(url, file, context)
                t.handle = handle
                handle += 1
                if tail == NULL:
                    head = t
                else:
                    tail.next = t
                tail = t
        except BaseException:
            while head != NULL:              # none of them was queued: they are ours to free
                t = head.next
                free(head)
                head = t
            raise
        if head != NULL:
            self._next_handle = handle
            self._enqueue(head, tail, wake)
        return first

    def close_handle(self, handle):
        """Cancels transfer handle if it is still running: it completes with
        ERROR_INTERNET_OPERATION_CANCELLED.  A finished handle is left alone."""
        cdef dl_transfer *t
        if self._closed:
            return
        t = <dl_transfer *>malloc(sizeof(dl_transfer))
        if t == NULL:
            raise MemoryError()
        memset(t, 0, sizeof(dl_transfer))
        t.kind = DL_CLOSE
        t.handle = handle
        self._enqueue(t, t, True)

    def close(self):
        """Cancels what is still running, reports it, and joins the thread.
        Idempotent; every event is in the ring when it returns."""
        if self._closed:
            return
        self._closed = True
        pthread_mutex_lock(&self._e.lock)
        self._e.stopping = 1
        pthread_mutex_unlock(&self._e.lock)
        curl_multi_wakeup(self._e.multi)
        with nogil:
            pthread_join(self._thread, NULL)
        self._running = False

    @property
    def closed(self):
        return self._closed

    @property
    def stats(self):
        """(started, completed, failed, refused): transfers started, completed
        (failed included), failed, and pushes the ring did not accept."""
        return (dl_read(&self._e.started), dl_read(&self._e.completed),
                dl_read(&self._e.failed), dl_read(&self._e.refused))

    def _wait_holding_gil(self, uint64_t completed, double timeout):
        """Spins, never releasing the GIL, until `completed` transfers have
        completed (True) or timeout seconds pass (False).  For tests: the
        engine thread can only get there if it never needs the GIL."""
        cdef timespec now
        cdef double deadline
        clock_gettime(CLOCK_MONOTONIC, &now)
        deadline = now.tv_sec + now.tv_nsec * 1e-9 + timeout
        while dl_read(&self._e.completed) < completed:   # bounded by the deadline
            clock_gettime(CLOCK_MONOTONIC, &now)
            if now.tv_sec + now.tv_nsec * 1e-9 > deadline:
                return False
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __dealloc__(self):
        cdef dl_transfer *t
        cdef dl_transfer *n
        if self._e == NULL:
            return
        if self._running:
            pthread_mutex_lock(&self._e.lock)
            self._e.stopping = 1
            pthread_mutex_unlock(&self._e.lock)
            curl_multi_wakeup(self._e.multi)
            with nogil:
                pthread_join(self._thread, NULL)
        t = self._e.queue_head               # commands the thread never took (none once joined)
        while t != NULL:
            n = t.next
            if t.kind == DL_GET and t.fd >= 0:
                close(t.fd)
            free(t)
            t = n
        if self._e.multi != NULL:
            curl_multi_cleanup(self._e.multi)
        pthread_mutex_destroy(&self._e.lock)
        free(self._e)
        self._e = NULL


# routing the engine's events to what Python awaits, one drained batch at a time

cdef object _tuple_new = tuple.__new__


cdef class _Group:
    """One get_all(): a future for the whole set, resolved when its last
    transfer closes.  Also the future's done callback while it waits:
    cancelling the future cancels the transfers still open."""
    cdef object future
    cdef list results
    cdef Py_ssize_t remaining
    cdef uint64_t first
    cdef Py_ssize_t count
    cdef object closer         # Engine.close_handle
    cdef dict handles          # the router's: which are still open

    def __call__(self, future):
        cdef uint64_t h
        if future.cancelled():
            for h in range(self.first, self.first + <uint64_t>self.count):
                if h in self.handles:
                    self.closer(h)


cdef class _Entry:
    """A transfer between submit() and its HANDLE_CLOSING."""
    cdef object context
    cdef object future         # get(): resolved at HANDLE_CLOSING; None for a member of a group
    cdef _Group group
    cdef Py_ssize_t index      # its place in group.results
    cdef uint64_t received     # the sum of its RESPONSE_RECEIVED
    cdef uint64_t result       # REQUEST_COMPLETE's INTERNET_ASYNC_RESULT
    cdef uint32_t error
    cdef bint completed
    cdef bint closed           # its HANDLE_CLOSING was routed
    cdef uint64_t handle
    cdef object closer         # Engine.close_handle

    def __call__(self, future):
        """The future's done callback while it waits: cancelling it cancels the
        transfer (taken off before the router settles the future, so that a
        normal completion schedules no callback)."""
        if future.cancelled() and not self.closed:
            self.closer(self.handle)


cdef class Router:
    """Routes the engine's events to the futures of get() and get_all(), a
    whole drained batch per call: reads the records in place (cbring's
    record layout, through the buffer protocol), sums RESPONSE_RECEIVED per
    transfer, and settles a transfer's future (or its place in a set) at its
    HANDLE_CLOSING, when its file is complete and its context free again.
    Runs on the event loop's thread, as do expect() and expect_set().

    transfer_type(context, handle, received, result) is the tuple type of a
    finished download; error_type(dwError, context) the exception of a
    failed one; ok is the AsyncResult of every success (shared: it is an
    immutable value)."""

    cdef dict _handles         # handle id -> _Entry
    cdef dict _contexts        # context -> handle id: the contexts in use
    cdef object _transfer_type
    cdef object _error_type
    cdef object _result_type
    cdef object _ok
    cdef readonly Py_ssize_t unknown   # events of no transfer this router knows

    def __init__(self, transfer_type, error_type, result_type):
        self._handles = {}
        self._contexts = {}
        self._transfer_type = transfer_type
        self._error_type = error_type
        self._result_type = result_type
        self._ok = result_type(1, 0)
        self.unknown = 0

    def __len__(self):
        """Transfers whose HANDLE_CLOSING has not been routed yet."""
        return len(self._handles)

    def in_use(self, context):
        """Whether context belongs to a transfer whose handle has not closed."""
        return context in self._contexts

    def expect(self, uint64_t handle, context, future, closer):
        """Settles future with the Transfer of handle (or fails it with its
        error) when the handle closes; if future is cancelled before,
        closer(handle) cancels the transfer."""
        cdef _Entry entry = _Entry.__new__(_Entry)
        entry.context = context
        entry.future = future
        entry.handle = handle
        entry.closer = closer
        future.add_done_callback(entry)
        self._handles[handle] = entry
        self._contexts[context] = handle

    def expect_set(self, uint64_t handle, contexts, future, closer):
        """Settles future with a list, in the order of contexts, of the
        Transfer (or the error) of each of the transfers handle, handle + 1,
        ... once the last of them has closed; if future is cancelled before,
        closer(h) cancels each of them still open."""
        cdef _Group group = _Group.__new__(_Group)
        cdef _Entry entry
        cdef Py_ssize_t i = 0
        cdef uint64_t h = handle
        group.future = future
        group.results = [None] * len(contexts)
        group.remaining = len(contexts)
        group.first = handle
        group.count = len(contexts)
        group.closer = closer
        group.handles = self._handles
        handles = self._handles
        in_use = self._contexts
        for context in contexts:
            entry = _Entry.__new__(_Entry)
            entry.context = context
            entry.group = group
            entry.index = i
            handles[h] = entry
            in_use[context] = h
            i += 1
            h += 1
        if not group.remaining:
            future.set_result(group.results)
        else:
            future.add_done_callback(group)

    def route(self, batch):
        """Routes every record of batch (a cbring.Batch)."""
        cdef Py_buffer view
        cdef const cbr_record *rec
        cdef Py_ssize_t i, n
        cdef _Entry entry
        cdef object found
        handles = self._handles
        PyObject_GetBuffer(batch, &view, PyBUF_SIMPLE)
        try:
            n = view.len // <Py_ssize_t>sizeof(cbr_record)
            for i in range(n):
                rec = (<const cbr_record *>view.buf) + i
                found = handles.get(rec.handle)
                if found is None:
                    self.unknown += 1
                    continue
                entry = <_Entry>found
                if rec.status == STATUS_RESPONSE_RECEIVED:
                    if rec.kind == CBR_INFO_DWORD:
                        entry.received += rec.result
                elif rec.status == STATUS_REQUEST_COMPLETE:
                    if rec.kind == CBR_INFO_ASYNC_RESULT:
                        entry.result = rec.result
                        entry.error = rec.error
                    else:                    # not this engine's shape: fail it rather than guess
                        entry.result = 0
                        entry.error = ERROR_INTERNET_INTERNAL_ERROR
                    entry.completed = True
                elif rec.status == STATUS_HANDLE_CLOSING:
                    del handles[rec.handle]
                    entry.closed = True
                    if self._contexts.get(entry.context) == rec.handle:
                        del self._contexts[entry.context]
                    self._settle(entry, rec.handle)
        finally:
            PyBuffer_Release(&view)

    cdef _settle(self, _Entry entry, uint64_t handle):
        cdef _Group group
        if not entry.completed:
            outcome = RuntimeError(f"handle {handle} closed without a REQUEST_COMPLETE")
        elif entry.result:
            outcome = _tuple_new(self._transfer_type, (
                entry.context, handle, entry.received,
                self._ok if entry.result == 1 and entry.error == 0
                else self._result_type(entry.result, entry.error)))
        else:
            outcome = self._error_type(entry.error, entry.context)
        if entry.future is not None:
            if not entry.future.done():      # else cancelled by its get()
                entry.future.remove_done_callback(entry)
                if entry.result and entry.completed:
                    entry.future.set_result(outcome)
                else:
                    entry.future.set_exception(outcome)
            return
        group = entry.group
        group.results[entry.index] = outcome
        group.remaining -= 1
        if not group.remaining and not group.future.done():
            group.future.remove_done_callback(group)
            group.future.set_result(group.results)

    def fail_all(self, reason):
        """Fails everything still waiting with reason (an exception), and
        forgets every transfer: no HANDLE_CLOSING will come for them."""
        cdef _Entry entry
        for found in self._handles.values():
            entry = <_Entry>found
            entry.closed = True
            future = entry.future if entry.future is not None else entry.group.future
            if not future.done():
                future.remove_done_callback(entry if entry.future is not None else entry.group)
                future.set_exception(reason)
        self._handles.clear()
        self._contexts.clear()


cbring.cbring_import()
if curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK:
    raise ImportError("curl_global_init failed")
