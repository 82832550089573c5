/* A native producer that calls a status callback the way WinINet does.
 *
 * Each simulated request makes six calls, with the payloads WinINet passes:
 * HANDLE_CREATED (INTERNET_ASYNC_RESULT, dwResult = the new handle),
 * RESOLVING_NAME (a NUL-terminated host name longer than a record holds),
 * REQUEST_SENT and RESPONSE_RECEIVED (DWORD byte counts), REQUEST_COMPLETE
 * (INTERNET_ASYNC_RESULT; every 16th request fails with ERROR_INTERNET_TIMEOUT)
 * and HANDLE_CLOSING (the handle).  dwContext is (producer << 40) | request,
 * so a consumer can check every record and its order.
 */
#ifndef CBRING_PRODUCER_H
#define CBRING_PRODUCER_H

#include <stdint.h>

#include "cbring/clock.h"
#include "cbring/wininet_compat.h"
#include "_thread.h"

#define CBR_TEST_EVENTS_PER_REQUEST 6
#define CBR_TEST_HOST "downloads.example.test"
#define CBR_TEST_ERROR_TIMEOUT 12002

typedef struct cbr_test_producer {
    cbr_status_callback callback;
    uint32_t id;
    uint64_t events;       /* calls to make */
    double rate;           /* calls per second, 0 for as fast as possible */
    int timed;             /* measure each call */
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

static inline void cbr_test_call(cbr_status_callback cb, uint32_t id, uint64_t k)
{
    uint64_t request = k / CBR_TEST_EVENTS_PER_REQUEST;
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)cbr_test_handle(id, request);
    cbr_dword_ptr ctx = ((cbr_dword_ptr)id << 40) | (cbr_dword_ptr)request;
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
    uint64_t start = cbr_now_ns(), k, in_cb = 0, max_ns = 0;
    double ns_per_call = p->rate > 0 ? 1e9 / p->rate : 0;

    for (k = 0; k < p->events; k++) {
        if (ns_per_call > 0) {
            uint64_t due = start + (uint64_t)(ns_per_call * (double)k);
            unsigned round = 0;
            while (cbr_now_ns() < due)
                cbr_backoff(round < 40 ? round++ : round);
        }
        if (p->timed) {
            uint64_t t0 = cbr_now_ns(), dt;
            cbr_test_call(p->callback, p->id, k);
            dt = cbr_now_ns() - t0;
            in_cb += dt;
            if (dt > max_ns)
                max_ns = dt;
        } else {
            cbr_test_call(p->callback, p->id, k);
        }
        if ((k & 1023) == 1023)
            /* relaxed: progress for whoever watches */
            cbr_store_u64(&p->done, k + 1, CBR_RELAXED);
    }
    p->elapsed_ns = cbr_now_ns() - start;
    p->in_callback_ns = in_cb;
    p->max_call_ns = max_ns;
    /* release: the results above are visible to whoever acquires done == events */
    cbr_store_u64(&p->done, p->events, CBR_RELEASE);
    return NULL;
}

#endif /* CBRING_PRODUCER_H */
