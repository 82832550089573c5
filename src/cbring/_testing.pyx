# cython: language_level=3, embedsignature=True, freethreading_compatible=False
"""Native test producers: threads that call a status callback the way WinINet
does, never taking the GIL.  Shipped, like numpy's testing helpers, so that
tests, benchmarks and the demo drive rings exactly as WinINet would."""

from cpython.mem cimport PyMem_Calloc, PyMem_Free
from libc.stdint cimport uint32_t, uint64_t, uintptr_t

from cbring.libcbring cimport cbr_dword, cbr_dword_ptr, cbr_hinternet, cbr_status_callback

cdef extern from "_producer.h" nogil:
    int CBR_TEST_EVENTS_PER_REQUEST
    int CBR_TEST_ERROR_TIMEOUT
    const char *CBR_TEST_HOST
    ctypedef struct cbr_thread:
        pass
    ctypedef struct cbr_test_producer:
        cbr_status_callback callback
        uint32_t id
        uint64_t events
        double rate
        int timed
        uint64_t done
        uint64_t elapsed_ns
        uint64_t in_callback_ns
        uint64_t max_call_ns
        cbr_thread thread
    uint64_t cbr_test_handle(uint32_t id, uint64_t request)
    void *cbr_test_producer_main(void *arg)
    int cbr_thread_start(cbr_thread *t, void *(*fn)(void *) noexcept nogil, void *arg)
    void cbr_thread_join(cbr_thread t)

cdef extern from *:
    """
    static inline uint64_t cbr_test_done(cbr_test_producer *p)
    { return cbr_load_u64(&p->done, CBR_ACQUIRE); }
    #if defined(_WIN32)
    #  include <process.h>
    static long cbr_test_pid(void) { return (long)_getpid(); }
    #else
    #  include <unistd.h>
    static long cbr_test_pid(void) { return (long)getpid(); }
    #endif
    """
    uint64_t cbr_test_done(cbr_test_producer *p) nogil
    long cbr_test_pid() nogil

EVENTS_PER_REQUEST = CBR_TEST_EVENTS_PER_REQUEST
HOST = CBR_TEST_HOST + b"\0"
ERROR_INTERNET_TIMEOUT = CBR_TEST_ERROR_TIMEOUT
MAX_PRODUCERS = 1 << 16


def context(producer, request):
    """The dwContext that producer uses for its request."""
    return (producer << 40) | request


def handle(producer, request):
    """The HINTERNET value that producer uses for its request."""
    return cbr_test_handle(producer, request)


def call_status(callback, handle, context, status, info=None, length=None):
    """Calls callback(handle, context, status, info, length) once from C.

    info is None (a NULL pointer) or a bytes-like object; length defaults to
    len(info) and may not exceed it, so the callee is never invited to read
    outside the object."""
    cdef const unsigned char[::1] view
    cdef const void *ptr = NULL
    cdef Py_ssize_t avail = 0
    cdef cbr_status_callback cb = <cbr_status_callback><uintptr_t>callback
    if info is not None:
        view = memoryview(info).cast("B")
        avail = view.shape[0]
        if avail:
            ptr = &view[0]
        else:
            ptr = <const void *>b""
    if length is None:
        length = avail
    if info is not None and not 0 <= length <= avail:
        raise ValueError(f"length must be between 0 and len(info) = {avail}, got {length}")
    cdef cbr_dword c_length = length
    cdef cbr_dword c_status = status
    cdef cbr_dword_ptr c_context = context
    cdef cbr_hinternet c_handle = <cbr_hinternet><uintptr_t>handle
    with nogil:
        cb(c_handle, c_context, c_status, <void *>ptr, c_length)


cdef class Producers:
    """N native threads, each making `events` calls to callback as WinINet would.

    Producers(callback, threads=4, events=1000, *, rate=None, timed=False)

    callback is a C function address (Ring.status_callback, or a ctypes or
    cffi callback's address).  rate limits each thread to that many calls
    per second; timed measures every call's duration.  Use start() and
    join(), or a with block, which starts on entry and joins on exit."""

    cdef cbr_test_producer *_p
    cdef int _n
    cdef bint _started
    cdef bint _joined
    cdef long _pid  # the process whose threads these are
    cdef object _callback_owner

    def __cinit__(self, callback, threads=4, events=1000, *, rate=None, timed=False):
        if not isinstance(callback, int) or callback <= 0:
            raise ValueError(f"callback must be a C function address (a positive int), got {callback!r}")
        if not 1 <= threads <= MAX_PRODUCERS:
            raise ValueError(f"threads must be between 1 and {MAX_PRODUCERS}, got {threads}")
        if events < 0:
            raise ValueError(f"events must be non-negative, got {events}")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be positive or None, got {rate!r}")
        self._p = <cbr_test_producer *>PyMem_Calloc(threads, sizeof(cbr_test_producer))
        if self._p == NULL:
            raise MemoryError()
        self._n = threads
        for i in range(threads):
            self._p[i].callback = <cbr_status_callback><uintptr_t>callback
            self._p[i].id = i
            self._p[i].events = events
            self._p[i].rate = rate or 0.0
            self._p[i].timed = bool(timed)

    def __dealloc__(self):
        # in a fork() child the threads do not exist: joining them would never return
        if self._started and not self._joined and self._pid == cbr_test_pid():
            with nogil:
                self._join_all()
        PyMem_Free(self._p)

    cdef void _join_all(self) noexcept nogil:
        cdef int i
        for i in range(self._n):
            cbr_thread_join(self._p[i].thread)
        self._joined = True

    def start(self):
        """Starts the threads; they run until they have made every call."""
        if self._started:
            raise RuntimeError("Producers can be started only once")
        self._pid = cbr_test_pid()
        for i in range(self._n):
            if cbr_thread_start(&self._p[i].thread, cbr_test_producer_main, &self._p[i]) != 0:
                self._n = i
                self._started = True
                self.join()
                raise OSError("cannot start a producer thread")
        self._started = True
        return self

    @property
    def done(self):
        """Calls made so far, across all threads (updated every 1024 calls)."""
        return sum(cbr_test_done(&self._p[i]) for i in range(self._n))

    @property
    def total(self):
        """Calls the threads make in all."""
        return sum(self._p[i].events for i in range(self._n))

    def finished(self):
        """True once every thread has made all its calls."""
        return self._started and all(cbr_test_done(&self._p[i]) == self._p[i].events for i in range(self._n))

    def join(self):
        """Waits, without the GIL, for every thread to finish."""
        if not self._started:
            raise RuntimeError("join() before start()")
        if self._pid != cbr_test_pid():
            raise RuntimeError(
                f"these Producers' threads run in process {self._pid}; a fork() child has none to join")
        if not self._joined:
            with nogil:
                self._join_all()

    def results(self):
        """Per thread, after join(): calls, elapsed_ns, in_callback_ns (timed), max_call_ns (timed)."""
        if not self._joined:
            raise RuntimeError("results() before join()")
        return [dict(calls=self._p[i].done, elapsed_ns=self._p[i].elapsed_ns,
                     in_callback_ns=self._p[i].in_callback_ns, max_call_ns=self._p[i].max_call_ns)
                for i in range(self._n)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.join()
        return False
