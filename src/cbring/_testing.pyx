# cython: language_level=3, embedsignature=True, freethreading_compatible=False
"""Native test producers: threads that call a status callback the way WinINet
does, never taking the GIL.  Shipped, like numpy's testing helpers, so that
tests, benchmarks and the demo drive rings exactly as WinINet would."""

cimport cython
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint32_t, uint64_t, uintptr_t
from libc.string cimport memcpy

from cbring.libcbring cimport cbr_dword, cbr_dword_ptr, cbr_hinternet, cbr_record, cbr_ring
from cbring.libcbring cimport cbr_status_callback

from cbring import _arguments

cdef extern from "_producer.h" nogil:
    int CBR_TEST_EVENTS_PER_REQUEST
    int CBR_TEST_ERROR_TIMEOUT
    const char *CBR_TEST_HOST
    ctypedef struct cbr_thread:
        pass
    int CBR_TEST_HIST_BUCKETS
    int CBR_TEST_HIST_LINEAR
    int CBR_TEST_HIST_SUB_BITS
    ctypedef struct cbr_test_producer:
        cbr_status_callback callback
        uint32_t id
        uint64_t events
        double rate
        int timed
        int stamp
        const uint32_t *gate
        uint64_t *hist
        uint32_t group
        void *(*thread_enter)() noexcept nogil
        void (*thread_exit)(void *) noexcept nogil
        uint64_t done
        uint64_t elapsed_ns
        uint64_t in_callback_ns
        uint64_t max_call_ns
        cbr_thread thread
    uint64_t cbr_test_handle(uint32_t id, uint64_t request)
    uint64_t cbr_now_ns_ "cbr_now_ns" ()
    uint64_t cbr_test_ticks()
    double cbr_test_ticks_per_ns(unsigned ms)
    void cbr_test_null_callback(cbr_hinternet, cbr_dword_ptr, cbr_dword, void *, cbr_dword)
    void cbr_test_decode_callback(cbr_hinternet, cbr_dword_ptr, cbr_dword, void *, cbr_dword)
    void *cbr_test_producer_main(void *arg)
    int cbr_thread_start(cbr_thread *t, void *(*fn)(void *) noexcept nogil, void *arg)
    void cbr_thread_join(cbr_thread t)

cdef extern from *:
    """
    static inline uint64_t cbr_test_done(cbr_test_producer *p)
    { return cbr_load_u64(&p->done, CBR_ACQUIRE); }
    static inline void cbr_test_open_gate(uint32_t *gate)
    { /* release: pairs with the producers' acquire */ cbr_store_u32(gate, 1, CBR_RELEASE); }

    /* A producer thread that keeps one Python thread state for all its
     * calls, so that per-event callbacks (ctypes, cffi) only take the GIL
     * instead of creating and destroying a thread state each time. */
    static void *cbr_test_keep_tstate_enter(void)
    {
        (void)PyGILState_Ensure();
        return (void *)PyEval_SaveThread();
    }
    static void cbr_test_keep_tstate_exit(void *ts)
    {
        PyEval_RestoreThread((PyThreadState *)ts);
        PyGILState_Release(PyGILState_UNLOCKED);
    }

    /* A consumer in C, for the floor of the hand-off: the same drain a Ring's
     * drain_into makes, in a loop, without Python.  Gives up after `patience`
     * consecutive 100 ms waits without a record. */
    #include "cbring/cbring.h"
    static uint64_t cbr_test_consume(cbr_ring *r, uint64_t total, cbr_record *buf, size_t batch,
                                     unsigned patience, int spin, uint64_t *waits)
    {
        uint64_t n = 0, since = 0;
        unsigned idle = 0, round = 0;
        while (n < total) {
            size_t k = cbr_ring_drain(r, buf, batch);
            if (k) {
                n += k;
                round = 0;
                since = 0;
                continue;
            }
            (*waits)++;
            if (spin) {
                /* never sleeps: spin, then yield; gives up after patience * 100 ms without a record */
                if (round < 16) {
                    unsigned i;
                    for (i = 0; i < (1u << (round / 4)); i++)
                        cbr_cpu_relax();
                    round++;
                } else {
                    uint64_t now = cbr_now_ns();
                    if (since == 0)
                        since = now;
                    else if (now - since > (uint64_t)patience * 100000000u)
                        break;
                    cbr_backoff(16);  /* the scheduler's yield, on POSIX and Windows alike */
                }
            } else if (cbr_ring_wait(r, 100))
                idle = 0;
            else if (++idle >= patience)
                break;
        }
        return n;
    }
    /* Callbacks that forward every call to another and hold the thread
     * that makes call number `at` (counting from 1, over all threads) until
     * released: a producer stopped mid-run, for tests that need one still
     * running at a given moment.  A callback has no user data, so there is
     * one compiled callback per hold, CBR_TEST_HOLDS in all. */
    #define CBR_TEST_HOLDS 8
    typedef struct cbr_test_hold {
        cbr_status_callback target;
        uint64_t calls;
        uint64_t at;
        uint32_t held;
        uint32_t released;
    } cbr_test_hold;
    static cbr_test_hold cbr_test_holds_[CBR_TEST_HOLDS];

    static inline void cbr_test_hold_call_(cbr_test_hold *k, cbr_hinternet h, cbr_dword_ptr c,
                                           cbr_dword s, void *i, cbr_dword l)
    {
        /* relaxed: only the count's atomicity matters, to pick the one call that holds */
        if (cbr_fetch_add_u64(&k->calls, 1, CBR_RELAXED) + 1 == k->at) {
            unsigned round = 0;
            /* release: our earlier calls happen before the test sees us held */
            cbr_store_u32(&k->held, 1, CBR_RELEASE);
            /* acquire: what the test did before releasing happens before our next call */
            while (!cbr_load_u32(&k->released, CBR_ACQUIRE))
                cbr_backoff(round < 40 ? round++ : round);
        }
        k->target(h, c, s, i, l);
    }
    #define CBR_TEST_HOLD_FN(n)                                                            \
        static void CBR_CALLBACK cbr_test_hold_cb_##n(cbr_hinternet h, cbr_dword_ptr c,    \
                                                     cbr_dword s, void *i, cbr_dword l) \
        { cbr_test_hold_call_(&cbr_test_holds_[n], h, c, s, i, l); }
    CBR_TEST_HOLD_FN(0) CBR_TEST_HOLD_FN(1) CBR_TEST_HOLD_FN(2) CBR_TEST_HOLD_FN(3)
    CBR_TEST_HOLD_FN(4) CBR_TEST_HOLD_FN(5) CBR_TEST_HOLD_FN(6) CBR_TEST_HOLD_FN(7)
    static uintptr_t cbr_test_hold_callback(int n)
    {
        static const cbr_status_callback cbs[CBR_TEST_HOLDS] = {
            cbr_test_hold_cb_0, cbr_test_hold_cb_1, cbr_test_hold_cb_2, cbr_test_hold_cb_3,
            cbr_test_hold_cb_4, cbr_test_hold_cb_5, cbr_test_hold_cb_6, cbr_test_hold_cb_7};
        return (uintptr_t)cbs[n];
    }
    static void cbr_test_hold_set(int n, cbr_status_callback target, uint64_t at)
    {
        cbr_test_hold *k = &cbr_test_holds_[n];
        k->target = target;
        k->at = at;
        /* relaxed (all): the producer threads that read them start after this */
        cbr_store_u64(&k->calls, 0, CBR_RELAXED);
        cbr_store_u32(&k->held, 0, CBR_RELAXED);
        cbr_store_u32(&k->released, 0, CBR_RELAXED);
    }
    /* acquire: pairs with the held thread's release */
    static int cbr_test_hold_held(int n) { return (int)cbr_load_u32(&cbr_test_holds_[n].held, CBR_ACQUIRE); }
    static void cbr_test_hold_release(int n)
    {
        /* release: pairs with the held thread's acquire */
        cbr_store_u32(&cbr_test_holds_[n].released, 1, CBR_RELEASE);
    }

    /* A producer preempted between claiming a position and writing it, as
     * under "spill": claims the next position of r and leaves it unwritten. */
    static uint64_t cbr_test_claim_unwritten(cbr_ring *r)
    {
        /* seq_cst: a claim, as cbr_ring_push makes it */
        return cbr_fetch_add_u64(&r->tail, 1, CBR_SEQ_CST);
    }
    /* ... and writes it at last (its slot must be free for it: t < head + capacity). */
    static void cbr_test_write_claimed(cbr_ring *r, uint64_t t, const cbr_record *rec)
    {
        cbr_ring_publish_(&r->slots[t & r->mask], t, rec);
    }

    /* Threads that replay a list of calls with given payloads (the strings
     * WinINet passes, say), each thread all of them in order, `rounds`
     * times: call k of round r on thread t has hInternet t + 1 and
     * dwContext (t << 40) | (r * n_calls + k). */
    typedef struct cbr_test_spec {
        cbr_dword status;
        cbr_dword length;
        const void *info;  /* NULL, or a block of exactly the payload's bytes */
    } cbr_test_spec;
    typedef struct cbr_test_replayer {
        cbr_status_callback callback;
        uint32_t id;
        const cbr_test_spec *calls;
        size_t n_calls;
        uint64_t rounds;
        const uint32_t *gate;
        uint64_t done;
        cbr_thread thread;
    } cbr_test_replayer;
    static void *cbr_test_replay_main(void *arg)
    {
        cbr_test_replayer *p = (cbr_test_replayer *)arg;
        uint64_t r, k;
        unsigned round = 0;
        /* acquire: nothing to receive, but pairs with the opener's release */
        while (cbr_load_u32(p->gate, CBR_ACQUIRE) == 0)
            cbr_backoff(round < 20 ? round++ : round);
        for (r = 0; r < p->rounds; r++)
            for (k = 0; k < p->n_calls; k++)
                p->callback((cbr_hinternet)(uintptr_t)(p->id + 1),
                            ((cbr_dword_ptr)p->id << 40) | (cbr_dword_ptr)(r * p->n_calls + k),
                            p->calls[k].status, (void *)p->calls[k].info, p->calls[k].length);
        /* release: every call happens before whoever acquires done sees it */
        cbr_store_u64(&p->done, 1, CBR_RELEASE);
        return NULL;
    }
    static inline int cbr_test_replay_done(cbr_test_replayer *p)
    { return (int)cbr_load_u64(&p->done, CBR_ACQUIRE); /* acquire: pairs with the release above */ }

    #if defined(_WIN32)
    #  include <process.h>
    static long cbr_test_pid(void) { return (long)_getpid(); }
    #else
    #  include <unistd.h>
    static long cbr_test_pid(void) { return (long)getpid(); }
    #endif
    """
    uint64_t cbr_test_done(cbr_test_producer *p) nogil
    void cbr_test_open_gate(uint32_t *gate) nogil
    void *cbr_test_keep_tstate_enter() noexcept nogil
    void cbr_test_keep_tstate_exit(void *) noexcept nogil
    int cbring_import() except -1
    cbr_ring *cbring_ring(object ring) except NULL
    uint64_t cbr_test_consume(cbr_ring *r, uint64_t total, cbr_record *buf, size_t batch,
                              unsigned patience, int spin, uint64_t *waits) nogil
    long cbr_test_pid() nogil
    ctypedef struct cbr_test_spec:
        cbr_dword status
        cbr_dword length
        const void *info
    ctypedef struct cbr_test_replayer:
        cbr_status_callback callback
        uint32_t id
        const cbr_test_spec *calls
        size_t n_calls
        uint64_t rounds
        const uint32_t *gate
        cbr_thread thread
    void *cbr_test_replay_main(void *arg) noexcept nogil
    int cbr_test_replay_done(cbr_test_replayer *p) nogil
    int CBR_TEST_HOLDS
    uintptr_t cbr_test_hold_callback(int n)
    void cbr_test_hold_set(int n, cbr_status_callback target, uint64_t at)
    int cbr_test_hold_held(int n)
    void cbr_test_hold_release(int n)
    uint64_t cbr_test_claim_unwritten(cbr_ring *r)
    void cbr_test_write_claimed(cbr_ring *r, uint64_t t, const cbr_record *rec)
    void cbr_record_from_status(cbr_record *rec, cbr_hinternet h, cbr_dword_ptr c, cbr_dword s,
                                const void *info, cbr_dword length)

EVENTS_PER_REQUEST = CBR_TEST_EVENTS_PER_REQUEST
HIST_BUCKETS = CBR_TEST_HIST_BUCKETS
null_callback = <uintptr_t>cbr_test_null_callback
decode_callback = <uintptr_t>cbr_test_decode_callback
HOST = CBR_TEST_HOST + b"\0"
ERROR_INTERNET_TIMEOUT = CBR_TEST_ERROR_TIMEOUT
MAX_PRODUCERS = 1 << 16


def context(producer, request):
    """The dwContext that producer uses for its request."""
    return (producer << 40) | request


def handle(producer, request):
    """The HINTERNET value that producer uses for its request."""
    return cbr_test_handle(producer, request)


def now_ns():
    """The producers' clock (cbr_now_ns: CLOCK_MONOTONIC, QueryPerformanceCounter
    on Windows) in nanoseconds, as stamped into dwContext by Producers(stamp=True)."""
    return cbr_now_ns_()


def ticks_per_ns(ms=20):
    """Ticks of the per-call histogram's clock per nanosecond, measured over ms milliseconds."""
    cdef double r
    cdef unsigned c_ms = ms
    with nogil:
        r = cbr_test_ticks_per_ns(c_ms)
    return r


def hist_bucket_bounds(bucket):
    """The [low, high) range of ticks that histogram bucket `bucket` counts."""
    if not 0 <= bucket < CBR_TEST_HIST_BUCKETS:
        raise ValueError(f"bucket must be between 0 and {CBR_TEST_HIST_BUCKETS - 1}, got {bucket}")
    if bucket < CBR_TEST_HIST_LINEAR:
        return bucket, bucket + 1
    sub_n = 1 << CBR_TEST_HIST_SUB_BITS
    e, sub = 8 + (bucket - CBR_TEST_HIST_LINEAR) // sub_n, (bucket - CBR_TEST_HIST_LINEAR) % sub_n
    shift = e - CBR_TEST_HIST_SUB_BITS
    return (sub_n + sub) << shift, (sub_n + sub + 1) << shift


def c_consume(ring, total, batch=8192, patience=50, spin=False):
    """Drains `total` records from ring in C, without the GIL, `batch` at a
    time: what Ring.drain_into does, minus Python.  When the ring is empty it
    waits as Ring.wait() does, or with spin=True spins and yields without
    ever sleeping (so producers never make a wake-up call).  Returns
    (records drained, times the ring was found empty).  Stops early after
    `patience` x 100 ms without a record."""
    cdef uint64_t n, waits = 0, c_total = total
    cdef size_t c_batch = batch
    cdef unsigned c_patience = patience
    cdef int c_spin = bool(spin)
    cdef cbr_record *buf
    if c_batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    cbring_import()
    cdef cbr_ring *r = cbring_ring(ring)
    buf = <cbr_record *>PyMem_Malloc(c_batch * sizeof(cbr_record))
    if buf == NULL:
        raise MemoryError()
    try:
        with nogil:
            n = cbr_test_consume(r, c_total, buf, c_batch, c_patience, c_spin, &waits)
    finally:
        PyMem_Free(buf)
    return n, waits


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


# The signature opens the docstring in Argument Clinic's form, for
# inspect.signature() (Producers.__text_signature__); see Ring in _core.pyx.
@cython.embedsignature(False)
cdef class Producers:
    """Producers(callback, threads=4, events=1000, *, rate=None, timed=False, histogram=False, group=1, stamp=False, keep_thread_state=False)
--

N native threads, each making `events` calls to callback as WinINet would.

    callback is a C function address (Ring.status_callback, or a ctypes or
    cffi callback's address).  rate limits each thread to that many calls
    per second; timed measures every call's duration.  histogram counts
    every call's duration in ticks of a cheap clock (see histogram()), or
    with group > 1 the duration of each group of that many calls (for a
    clock too coarse for one call; calls left over are made untimed);
    stamp puts cbr_now_ns() (see now_ns()) in dwContext instead of the
    request's context; keep_thread_state gives each thread one Python
    thread state for its life, as an application that owns its threads
    could.  All threads start together once created.  Use start() and
    join(), or a with block, which starts on entry and joins on exit."""

    cdef cbr_test_producer *_p
    cdef uint64_t *_hist
    cdef uint32_t _gate
    cdef int _n
    cdef bint _started
    cdef bint _joined
    cdef long _pid  # the process whose threads these are
    cdef object _callback_owner

    def __cinit__(self, *args, **kwargs):
        a = _arguments.bind(Producers, args, kwargs)
        callback, threads, events, rate = a["callback"], a["threads"], a["events"], a["rate"]
        timed, histogram, group, stamp = a["timed"], a["histogram"], a["group"], a["stamp"]
        keep_thread_state = a["keep_thread_state"]
        if not isinstance(callback, int) or callback <= 0:
            raise ValueError(f"callback must be a C function address (a positive int), got {callback!r}")
        if not 1 <= threads <= MAX_PRODUCERS:
            raise ValueError(f"threads must be between 1 and {MAX_PRODUCERS}, got {threads}")
        if events < 0:
            raise ValueError(f"events must be non-negative, got {events}")
        if not 1 <= group <= 1 << 20:
            raise ValueError(f"group must be between 1 and 2**20, got {group}")
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be positive or None, got {rate!r}")
        self._p = <cbr_test_producer *>PyMem_Calloc(threads, sizeof(cbr_test_producer))
        if self._p == NULL:
            raise MemoryError()
        self._n = threads
        if histogram:
            self._hist = <uint64_t *>PyMem_Calloc(threads * CBR_TEST_HIST_BUCKETS, sizeof(uint64_t))
            if self._hist == NULL:
                raise MemoryError()
        for i in range(threads):
            self._p[i].callback = <cbr_status_callback><uintptr_t>callback
            self._p[i].id = i
            self._p[i].events = events
            self._p[i].rate = rate or 0.0
            self._p[i].timed = bool(timed)
            self._p[i].stamp = bool(stamp)
            self._p[i].gate = &self._gate
            if histogram:
                self._p[i].hist = &self._hist[i * CBR_TEST_HIST_BUCKETS]
                self._p[i].group = group
            if keep_thread_state:
                self._p[i].thread_enter = cbr_test_keep_tstate_enter
                self._p[i].thread_exit = cbr_test_keep_tstate_exit

    def __init__(self, callback, threads=4, events=1000, *, rate=None, timed=False,
                 histogram=False, group=1, stamp=False, keep_thread_state=False):
        """The arguments were taken when the Producers were created (see the class)."""

    def __dealloc__(self):
        # in a fork() child the threads do not exist: joining them would never return
        if self._started and not self._joined and self._pid == cbr_test_pid():
            cbr_test_open_gate(&self._gate)
            with nogil:
                self._join_all()
        PyMem_Free(self._p)
        PyMem_Free(self._hist)

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
                cbr_test_open_gate(&self._gate)
                self.join()
                raise OSError("cannot start a producer thread")
        self._started = True
        cbr_test_open_gate(&self._gate)
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
        """Per thread, after join(): calls, elapsed_ns (from the start gate to
        the last call), in_callback_ns and max_call_ns (timed; in ticks with histogram)."""
        if not self._joined:
            raise RuntimeError("results() before join()")
        return [dict(calls=self._p[i].done, elapsed_ns=self._p[i].elapsed_ns,
                     in_callback_ns=self._p[i].in_callback_ns, max_call_ns=self._p[i].max_call_ns)
                for i in range(self._n)]

    def histogram(self):
        """After join(), for Producers(histogram=True): a list of HIST_BUCKETS
        counts, summed over the threads, of per-call durations in ticks
        (see hist_bucket_bounds() and ticks_per_ns()).  The timing itself
        (two reads of the clock) is included; time a null_callback to see it."""
        if not self._joined:
            raise RuntimeError("histogram() before join()")
        if self._hist == NULL:
            raise RuntimeError("histogram() needs Producers(histogram=True)")
        return [sum(self._hist[i * CBR_TEST_HIST_BUCKETS + b] for i in range(self._n))
                for b in range(CBR_TEST_HIST_BUCKETS)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.join()
        return False


cdef list _hold_slots = [None] * CBR_TEST_HOLDS


class Hold:
    """Hold(callback, at): a callback address (``hold.callback``) that
    forwards every call to `callback` and holds the thread making call
    number `at` (counting from 1, over all threads) until release(): a
    producer stopped mid-run, so a test can close a ring while that
    producer is certain not to have finished.

    Each Hold owns one of a few compiled callbacks until close(), which
    must come after every thread calling it has been joined (a with block
    releases on exit, and closes too)."""

    def __init__(self, callback, at):
        if not isinstance(callback, int) or callback <= 0:
            raise ValueError(f"callback must be a C function address (a positive int), got {callback!r}")
        if at < 1:
            raise ValueError(f"at must be at least 1, got {at}")
        if None not in _hold_slots:
            raise RuntimeError(f"at most {CBR_TEST_HOLDS} Holds may be open at once; close one first")
        self._slot = _hold_slots.index(None)
        _hold_slots[self._slot] = self
        cbr_test_hold_set(self._slot, <cbr_status_callback><uintptr_t>callback, at)
        self.callback = cbr_test_hold_callback(self._slot)

    @property
    def held(self):
        """True once a thread has reached the call it holds at."""
        return bool(cbr_test_hold_held(self._slot))

    def release(self):
        """Lets the held thread (or the one still to reach the call) go on.  Idempotent."""
        cbr_test_hold_release(self._slot)

    def close(self):
        """Releases, and gives the callback back for another Hold: only once
        no thread calls it any more."""
        self.release()
        if _hold_slots[self._slot] is self:
            _hold_slots[self._slot] = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def claim_unwritten(ring):
    """Claims ring's next position and leaves it unwritten, as a producer
    preempted between its claim and its write would: drains stop there
    until write_claimed(ring, position).  Returns the position."""
    cbring_import()
    return cbr_test_claim_unwritten(cbring_ring(ring))


def write_claimed(ring, position, context=0):
    """Writes a DWORD status record (REQUEST_SENT) into a position that
    claim_unwritten() left unwritten, which must be within a capacity of
    the consumer's head."""
    cdef cbr_record rec
    cdef cbr_dword value = 0
    cbring_import()
    cbr_record_from_status(&rec, <cbr_hinternet>1, context, 31, &value, 4)
    cbr_test_write_claimed(cbring_ring(ring), position, &rec)


# The signature opens the docstring in Argument Clinic's form (see Producers).
@cython.embedsignature(False)
cdef class Replay:
    """Replay(callback, calls, threads=2, rounds=1, first_thread=0)
--

Native threads that each make the given calls, in order, `rounds` times.

    calls is a sequence of (status, info, length): info is None (a NULL
    pointer) or a bytes-like object, copied into a block of exactly its
    size, so that a read past it is a heap overflow that ASan reports;
    length defaults to len(info) and may not exceed it (a wide string's
    length in characters is less than its size).  Call k of round r on
    thread t passes hInternet t + 1 and dwContext (t << 40) | (r *
    len(calls) + k) (see replay_context()); t counts from first_thread, so
    that two Replays into one ring can be told apart.  The threads start together
    on start() (or entering a with block, whose exit joins them)."""

    cdef cbr_test_spec *_calls
    cdef size_t _n_calls
    cdef cbr_test_replayer *_p
    cdef int _n
    cdef uint32_t _gate
    cdef bint _started
    cdef bint _joined
    cdef long _pid

    def __cinit__(self, callback, calls, threads=2, rounds=1, first_thread=0):
        cdef const unsigned char[::1] view
        cdef Py_ssize_t size
        cdef unsigned char *block
        if not isinstance(callback, int) or callback <= 0:
            raise ValueError(f"callback must be a C function address (a positive int), got {callback!r}")
        if not 1 <= threads <= MAX_PRODUCERS:
            raise ValueError(f"threads must be between 1 and {MAX_PRODUCERS}, got {threads}")
        if rounds < 0:
            raise ValueError(f"rounds must be non-negative, got {rounds}")
        if not 0 <= first_thread <= MAX_PRODUCERS:
            raise ValueError(f"first_thread must be between 0 and {MAX_PRODUCERS}, got {first_thread}")
        calls = list(calls)
        self._calls = <cbr_test_spec *>PyMem_Calloc(max(len(calls), 1), sizeof(cbr_test_spec))
        self._p = <cbr_test_replayer *>PyMem_Calloc(threads, sizeof(cbr_test_replayer))
        if self._calls == NULL or self._p == NULL:
            raise MemoryError()
        for k, call in enumerate(calls):
            status, info, length = call
            size = 0
            if info is not None:
                view = memoryview(info).cast("B")
                size = view.shape[0]
            if length is None:
                length = size
            if info is not None and not 0 <= length <= size:
                raise ValueError(f"call {k}: length must be between 0 and len(info) = {size}, got {length}")
            self._calls[k].status = status
            self._calls[k].length = length
            if info is not None:
                # at least one byte, so that an empty payload is a valid non-NULL pointer
                block = <unsigned char *>PyMem_Malloc(size if size else 1)
                if block == NULL:
                    raise MemoryError()
                if size:
                    memcpy(block, &view[0], size)
                self._calls[k].info = block
            self._n_calls = k + 1
        for i in range(threads):
            self._p[i].callback = <cbr_status_callback><uintptr_t>callback
            self._p[i].id = first_thread + i
            self._p[i].calls = self._calls
            self._p[i].n_calls = self._n_calls
            self._p[i].rounds = rounds
            self._p[i].gate = &self._gate
        self._n = threads

    def __init__(self, callback, calls, threads=2, rounds=1, first_thread=0):
        """The arguments were taken when the Replay was created (see the class)."""

    def __dealloc__(self):
        cdef size_t k
        if self._started and not self._joined and self._pid == cbr_test_pid():
            cbr_test_open_gate(&self._gate)
            with nogil:
                self._join_all()
        if self._calls != NULL:
            for k in range(self._n_calls):
                PyMem_Free(<void *>self._calls[k].info)
        PyMem_Free(self._calls)
        PyMem_Free(self._p)

    cdef void _join_all(self) noexcept nogil:
        cdef int i
        for i in range(self._n):
            cbr_thread_join(self._p[i].thread)
        self._joined = True

    @property
    def total(self):
        """Calls the threads make in all."""
        return self._n * self._n_calls * self._p[0].rounds

    def start(self):
        """Starts the threads; they run until they have made every call."""
        if self._started:
            raise RuntimeError("a Replay can be started only once")
        self._pid = cbr_test_pid()
        for i in range(self._n):
            if cbr_thread_start(&self._p[i].thread, cbr_test_replay_main, &self._p[i]) != 0:
                self._n = i
                self._started = True
                cbr_test_open_gate(&self._gate)
                self.join()
                raise OSError("cannot start a replay thread")
        self._started = True
        cbr_test_open_gate(&self._gate)
        return self

    def finished(self):
        """True once every thread has made all its calls."""
        return self._started and all(cbr_test_replay_done(&self._p[i]) for i in range(self._n))

    def join(self):
        """Waits, without the GIL, for every thread to finish."""
        if not self._started:
            raise RuntimeError("join() before start()")
        if not self._joined:
            with nogil:
                self._join_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.join()
        return False


def replay_context(thread, index):
    """The dwContext of a Replay's call number `index` (round * len(calls) + k) on `thread`."""
    return (thread << 40) | index
