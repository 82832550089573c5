/* A native producer that calls a status callback the way WinINet does.
 *
 * Each simulated request makes six calls, with the payloads WinINet passes:
 * HANDLE_CREATED (INTERNET_ASYNC_RESULT, dwResult = the new handle),
 * RESOLVING_NAME (a NUL-terminated host name longer than a record holds),
 * REQUEST_SENT and RESPONSE_RECEIVED (DWORD byte counts), REQUEST_COMPLETE
 * (INTERNET_ASYNC_RESULT; every 16th request fails with ERROR_INTERNET_TIMEOUT)
 * and HANDLE_CLOSING (the handle).  dwContext is (producer << 40) | request,
 * so a consumer can check every record and its order.
 *
 * For the benchmarks a producer can also: wait at a shared start gate, so
 * that every thread starts at once; keep a histogram of each call's
 * duration in cheap clock ticks (rdtsc, the ARM virtual counter); stamp
 * dwContext with cbr_now_ns() at the call, so a consumer can measure the
 * delay to itself; and run thread_enter/thread_exit hooks around its calls
 * (the Python-aware hooks live in _testing.pyx, so this file stays free of
 * Python.h).
 */
#ifndef CBRING_PRODUCER_H
#define CBRING_PRODUCER_H

#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
#endif

#include "cbring/clock.h"
#include "cbring/status.h"
#include "cbring/wininet_compat.h"
#include "_thread.h"

#define CBR_TEST_EVENTS_PER_REQUEST 6
#define CBR_TEST_HOST "downloads.example.test"
#define CBR_TEST_ERROR_TIMEOUT 12002

/* Per-call durations in ticks: values below CBR_TEST_HIST_LINEAR have a
 * bucket each; above, CBR_TEST_HIST_SUB buckets per power of two (3%). */
#define CBR_TEST_HIST_LINEAR 256
#define CBR_TEST_HIST_SUB_BITS 5
#define CBR_TEST_HIST_SUB (1 << CBR_TEST_HIST_SUB_BITS)
#define CBR_TEST_HIST_TOP_BIT 48
#define CBR_TEST_HIST_BUCKETS (CBR_TEST_HIST_LINEAR + (CBR_TEST_HIST_TOP_BIT - 8) * CBR_TEST_HIST_SUB)

typedef struct cbr_test_producer {
    cbr_status_callback callback;
    uint32_t id;
    uint64_t events;       /* calls to make */
    double rate;           /* calls per second, 0 for as fast as possible */
    int timed;             /* measure each call */
    int stamp;             /* dwContext = cbr_now_ns() just before each call */
    const uint32_t *gate;  /* if set: wait until *gate != 0 before the first call */
    uint64_t *hist;        /* if set: CBR_TEST_HIST_BUCKETS counts of per-call ticks */
    uint32_t group;        /* with hist, > 1: time groups of this many calls, one count per group */
    void *(*thread_enter)(void);  /* if set: called first on the thread ... */
    void (*thread_exit)(void *);  /* ... and given its result last */
    /* Results, written by the producer thread, read after join or relaxed. */
    uint64_t done;
    uint64_t elapsed_ns;
    uint64_t in_callback_ns;
    uint64_t max_call_ns;
    cbr_thread thread;
} cbr_test_producer;

static inline uint64_t cbr_test_handle(uint32_t id, uint64_t request)
{
    return ((uint64_t)(id + 1) << 32) | (request & 0xffffffffu);
}

/* A cheap, monotonic-enough clock for timing one call: the TSC on x86
 * (rdtscp waits for the instructions before it), the virtual counter on
 * ARM64, else nanoseconds.  cbr_test_ticks_per_ns() calibrates it. */
static inline uint64_t cbr_test_ticks(void)
{
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    unsigned aux;
    return __builtin_ia32_rdtscp(&aux);
#elif defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
    unsigned aux;
    return __rdtscp(&aux);
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v) :: "memory");
    return v;
#else
    return cbr_now_ns();
#endif
}

/* Ticks per nanosecond, measured against cbr_now_ns() over about ms milliseconds. */
static inline double cbr_test_ticks_per_ns(unsigned ms)
{
    uint64_t n0 = cbr_now_ns(), t0 = cbr_test_ticks(), n1, t1;
    do {
        n1 = cbr_now_ns();
    } while (n1 - n0 < (uint64_t)ms * 1000000u);
    t1 = cbr_test_ticks();
    return (double)(t1 - t0) / (double)(n1 - n0);
}

static inline unsigned cbr_test_hist_bucket(uint64_t ticks)
{
    unsigned e = 0;
    uint64_t v = ticks;
    if (ticks < CBR_TEST_HIST_LINEAR)
        return (unsigned)ticks;
    while (v >>= 1)
        e++;                                   /* e = floor(log2(ticks)) >= 8 */
    if (e >= CBR_TEST_HIST_TOP_BIT)
        return CBR_TEST_HIST_BUCKETS - 1;
    return CBR_TEST_HIST_LINEAR + (e - 8) * CBR_TEST_HIST_SUB
           + (unsigned)((ticks >> (e - CBR_TEST_HIST_SUB_BITS)) & (CBR_TEST_HIST_SUB - 1));
}

/* Callbacks that stand in for a ring's, to measure the harness itself. */
static void CBR_CALLBACK cbr_test_null_callback(cbr_hinternet h, cbr_dword_ptr c, cbr_dword s,
                                                void *i, cbr_dword l)
{
    (void)h; (void)c; (void)s; (void)i; (void)l;
}

static void CBR_CALLBACK cbr_test_decode_callback(cbr_hinternet h, cbr_dword_ptr c, cbr_dword s,
                                                  void *i, cbr_dword l)
{
    cbr_record rec;
    cbr_record_from_status(&rec, h, c, s, i, l);
    /* keep the decode: the compiler may not drop a record that escapes */
#if defined(__GNUC__) || defined(__clang__)
    __asm__ __volatile__("" : : "r"(&rec) : "memory");
#else
    {
        static volatile uint8_t sink;
        sink = rec.kind;
    }
#endif
}

static inline void cbr_test_call(cbr_status_callback cb, uint32_t id, uint64_t k, int stamp)
{
    uint64_t request = k / CBR_TEST_EVENTS_PER_REQUEST;
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)cbr_test_handle(id, request);
    cbr_dword_ptr ctx = stamp ? (cbr_dword_ptr)cbr_now_ns()
                              : ((cbr_dword_ptr)id << 40) | (cbr_dword_ptr)request;
    cbr_async_result ar;
    cbr_dword dw;
    static const char host[] = CBR_TEST_HOST;

    switch (k % CBR_TEST_EVENTS_PER_REQUEST) {
    case 0:
        ar.dwResult = (cbr_dword_ptr)h;
        ar.dwError = 0;
        cb(h, ctx, 60, &ar, sizeof ar);
        break;
    case 1:
        cb(h, ctx, 10, (void *)host, sizeof host);
        break;
    case 2:
        dw = (cbr_dword)(100 + request % 900);
        cb(h, ctx, 31, &dw, sizeof dw);
        break;
    case 3:
        dw = 4096;
        cb(h, ctx, 41, &dw, sizeof dw);
        break;
    case 4:
        ar.dwResult = request % 16 == 15 ? 0 : 1;
        ar.dwError = request % 16 == 15 ? CBR_TEST_ERROR_TIMEOUT : 0;
        cb(h, ctx, 100, &ar, sizeof ar);
        break;
    default:
        cb(h, ctx, 70, &h, sizeof h);
        break;
    }
}

static void *cbr_test_producer_main(void *arg)
{
    cbr_test_producer *p = (cbr_test_producer *)arg;
    uint64_t start, k, in_cb = 0, max_ns = 0;
    double ns_per_call = p->rate > 0 ? 1e9 / p->rate : 0;
    void *kept = p->thread_enter ? p->thread_enter() : NULL;

    if (p->gate) {
        unsigned round = 0;
        /* acquire: nothing to receive, but pairs with the opener's release */
        while (cbr_load_u32(p->gate, CBR_ACQUIRE) == 0)
            cbr_backoff(round < 20 ? round++ : round);
    }
    start = cbr_now_ns();
    if (p->hist) {
        uint64_t *hist = p->hist, g = p->group > 1 ? p->group : 1, j;
        for (k = 0; k + g <= p->events; k += g) {
            uint64_t t0 = cbr_test_ticks(), dt;
            for (j = 0; j < g; j++)
                cbr_test_call(p->callback, p->id, k + j, p->stamp);
            dt = cbr_test_ticks() - t0;
            hist[cbr_test_hist_bucket(dt)]++;
            in_cb += dt;
            if (dt > max_ns)
                max_ns = dt;
            if (((k + g) & 1023) < g)
                /* relaxed: progress for whoever watches */
                cbr_store_u64(&p->done, k + g, CBR_RELAXED);
        }
        for (; k < p->events; k++)  /* the calls that do not fill a group, untimed */
            cbr_test_call(p->callback, p->id, k, p->stamp);
        /* here in_callback_ns and max_call_ns hold ticks, as the histogram does */
        goto finished;
    }

    for (k = 0; k < p->events; k++) {
        if (ns_per_call > 0) {
            uint64_t due = start + (uint64_t)(ns_per_call * (double)k);
            unsigned round = 0;
            while (cbr_now_ns() < due)
                cbr_backoff(round < 40 ? round++ : round);
        }
        if (p->timed) {
            uint64_t t0 = cbr_now_ns(), dt;
            cbr_test_call(p->callback, p->id, k, p->stamp);
            dt = cbr_now_ns() - t0;
            in_cb += dt;
            if (dt > max_ns)
                max_ns = dt;
        } else {
            cbr_test_call(p->callback, p->id, k, p->stamp);
        }
        if ((k & 1023) == 1023)
            /* relaxed: progress for whoever watches */
            cbr_store_u64(&p->done, k + 1, CBR_RELAXED);
    }
finished:
    p->elapsed_ns = cbr_now_ns() - start;
    p->in_callback_ns = in_cb;
    p->max_call_ns = max_ns;
    if (p->thread_exit)
        p->thread_exit(kept);
    /* release: the results above are visible to whoever acquires done == events */
    cbr_store_u64(&p->done, p->events, CBR_RELEASE);
    return NULL;
}

#endif /* CBRING_PRODUCER_H */
