# cython: language_level=3
# A third-party Cython extension that cimports cbring and pushes records
# from native threads in nogil code.
cimport cbring
from cbring.libcbring cimport cbr_async_result, cbr_record, cbr_ring
from libc.stdint cimport uint64_t
from libc.string cimport memset

cdef extern from "threads.h" nogil:
    ctypedef struct test_thread:
        pass
    int test_thread_start(test_thread *t, void *(*fn)(void *) noexcept nogil, void *arg)
    void test_thread_join(test_thread t)

cdef extern from *:
    """
    typedef struct cy_worker { struct cbr_ring *ring; unsigned id; unsigned long long count;
                               unsigned long long accepted; test_thread thread; } cy_worker;
    """
    ctypedef struct cy_worker:
        cbr_ring *ring
        unsigned id
        unsigned long long count
        unsigned long long accepted
        test_thread thread

cbring.cbring_import()


cdef void *work(void *arg) noexcept nogil:
    cdef cy_worker *w = <cy_worker *>arg
    cdef cbr_record rec
    cdef cbr_async_result ar
    cdef uint64_t i, ctx
    cdef int r
    for i in range(w.count):
        ctx = (<uint64_t>w.id << 40) | i
        if w.id % 3 == 2:
            ar.dwResult = i
            ar.dwError = w.id
            r = cbring.cbring_callback(w.ring, w.id + 1, ctx, 100, &ar, sizeof(ar))
        elif w.id % 3 == 0:
            memset(&rec, 0, sizeof(rec))
            rec.handle = w.id + 1
            rec.context = ctx
            rec.status = 100
            rec.kind = 1
            rec.result = i
            rec.error = w.id
            r = cbring.cbring_push(w.ring, &rec)
        else:
            ar.dwResult = i
            ar.dwError = w.id
            r = cbring.cbring_push_status(w.ring, <void *>(w.id + 1), ctx, 100, &ar, sizeof(ar))
        if r == cbring.CBRING_PUSHED or r == cbring.CBRING_SPILLED:
            w.accepted += 1
    return NULL


def push_from_threads(ring, unsigned threads, unsigned long long per_thread):
    """Pushes per_thread records from each of threads native threads; returns how many were accepted."""
    cdef cbr_ring *r = cbring.cbring_ring(ring)
    cdef cy_worker workers[64]
    cdef unsigned t
    cdef unsigned long long accepted = 0
    if threads > 64:
        raise ValueError("at most 64 threads")
    with nogil:
        for t in range(threads):
            workers[t].ring = r
            workers[t].id = t
            workers[t].count = per_thread
            workers[t].accepted = 0
            test_thread_start(&workers[t].thread, work, &workers[t])
        for t in range(threads):
            test_thread_join(workers[t].thread)
            accepted += workers[t].accepted
    return accepted


def closed(ring):
    """cbring_closed() of ring's C ring."""
    cdef cbr_ring *r = cbring.cbring_ring(ring)
    with nogil:
        c = cbring.cbring_closed(r)
    return c
