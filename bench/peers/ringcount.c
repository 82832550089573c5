/* One C ring, one configuration, as a program: for counting instructions
 * and cache misses per record under valgrind (callgrind --cache-sim=yes),
 * where time is too noisy to compare, and for timing the same code
 * natively.  Driven by bench/ring_counts.py, which builds it against
 * cbring's ring.h, the Vyukov-style ring in vyukov.h, and, when their
 * headers exist, DPDK's rte_ring (-DRC_HAVE_DPDK) and Concurrency Kit's
 * ck_ring (-DRC_HAVE_CK).
 *
 *     ringcount KIND count N        one thread: push N records into an empty
 *                                   ring of capacity >= N (rc_push_phase), then
 *                                   drain them 64 at a time (rc_pop_phase)
 *     ringcount KIND time N         as count, natively: prints the push phase's
 *                                   nanoseconds per record (a producer's cost
 *                                   per call, without contention)
 *     ringcount KIND run N P        P producer threads push N records each into
 *                                   a ring of 65536 while this thread drains;
 *                                   prints nanoseconds per record
 *
 * KIND: cbring (the ring.h push under "drop": claims only with room, as
 * the others do), cbring-spill (the default policy's fetch_add claim),
 * vyukov, rte (MP enqueue, SC burst dequeue), ck (mpsc enqueue, spsc
 * dequeue, one record at a time: ck_ring has no burst dequeue),
 * cbring-status (the spill ring fed through cbr_ring_push_status, the body
 * of every status callback, with events whose information fits a record:
 * a DWORD, a short host name, an INTERNET_ASYNC_RESULT, an address),
 * cbring-payload (the same through cbr_ring_push_status_w with two of the
 * four carrying payloads: a 60-character host name and a 1,500-character
 * URL in UTF-16, drained with cbr_ring_drain_payloads; only where
 * payload.h exists).
 * Every record is checked: its producer and its index in that producer's
 * order.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbring/ring.h>
#include <cbring/status.h>

#include "vyukov.h"

#ifdef RC_HAVE_DPDK
#  include <rte_ring.h>
#  include <rte_ring_elem.h>
#endif
#ifdef RC_HAVE_CK
#  include <ck_ring.h>
CK_RING_PROTOTYPE(rec, cbr_record)
#endif

enum rc_kind { RC_CBRING, RC_CBRING_SPILL, RC_VYUKOV, RC_RTE, RC_CK, RC_CBRING_STATUS, RC_CBRING_PAYLOAD };
#define RC_BATCH 64
#define RC_MAX_PRODUCERS 8

typedef struct rc_ring {
    int kind;
    cbr_ring *cr;
    vy_ring vy;
#ifdef RC_HAVE_DPDK
    struct rte_ring *rr;
#endif
#ifdef RC_HAVE_CK
    ck_ring_t ck;
    cbr_record *ckbuf;
#endif
} rc_ring;

static int rc_kind(const char *name)
{
    static const char *const names[] = {"cbring", "cbring-spill", "vyukov", "rte", "ck", "cbring-status",
                                        "cbring-payload"};
    int i;
    for (i = 0; i < 7; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int rc_open(rc_ring *r, int kind, uint64_t capacity)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    switch (kind) {
    case RC_CBRING:
    case RC_CBRING_SPILL:
    case RC_CBRING_STATUS:
#ifdef CBR_PAYLOAD_MAX
    case RC_CBRING_PAYLOAD:
#endif
        if ((r->cr = (cbr_ring *)aligned_alloc(CBR_CACHELINE, sizeof(cbr_ring))) == NULL)
            return -1;
        memset(r->cr, 0, sizeof *r->cr);
        return cbr_ring_init(r->cr, capacity, kind == RC_CBRING ? CBR_OVERFLOW_DROP : CBR_OVERFLOW_SPILL,
                             0, 0) == 0 ? 0 : -1;
    case RC_VYUKOV:
        return vy_init(&r->vy, capacity);
#ifdef RC_HAVE_DPDK
    case RC_RTE: {
        /* RING_F_EXACT_SZ: capacity usable slots, as the others have */
        ssize_t size = rte_ring_get_memsize_elem(sizeof(cbr_record), (unsigned)capacity * 2);
        if (size < 0 || (r->rr = (struct rte_ring *)aligned_alloc(128, (size_t)size)) == NULL)
            return -1;
        memset(r->rr, 0, (size_t)size);
        return rte_ring_init(r->rr, "rc", (unsigned)capacity, RING_F_SC_DEQ | RING_F_EXACT_SZ);
    }
#endif
#ifdef RC_HAVE_CK
    case RC_CK:
        /* ck_ring keeps one slot empty: one more power of two holds capacity */
        if ((r->ckbuf = (cbr_record *)aligned_alloc(CBR_CACHELINE, 2 * capacity * sizeof(cbr_record))) == NULL)
            return -1;
        memset(r->ckbuf, 0, 2 * capacity * sizeof(cbr_record));
        ck_ring_init(&r->ck, (unsigned)(2 * capacity));
        return 0;
#endif
    default:
        return -1;
    }
}

/* A status callback's arguments for the record's context: four kinds of
 * event that a record holds whole. */
static inline int rc_push_status(cbr_ring *cr, const cbr_record *rec)
{
    static const char host[] = "a.example", address[] = "10.0.0.1";
    static const cbr_async_result done = {1, 0};
    static const cbr_dword sent = 512;
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)rec->handle;
    switch (rec->context & 3) {
    case 0: return cbr_ring_push_status(cr, h, rec->context, INTERNET_STATUS_REQUEST_SENT, &sent, sizeof sent);
    case 1: return cbr_ring_push_status(cr, h, rec->context, INTERNET_STATUS_RESOLVING_NAME, host, sizeof host);
    case 2: return cbr_ring_push_status(cr, h, rec->context, INTERNET_STATUS_REQUEST_COMPLETE, &done, sizeof done);
    default: return cbr_ring_push_status(cr, h, rec->context, INTERNET_STATUS_NAME_RESOLVED, address, sizeof address);
    }
}

#ifdef CBR_PAYLOAD_MAX
/* A W callback's arguments: every other event carries a payload. */
static uint8_t rc_host_w[122], rc_url_w[3002];
static uint8_t rc_payloads[RC_BATCH * CBR_PAYLOAD_MAX];

static void rc_payload_setup(void)
{
    size_t i;
    for (i = 0; i < 60; i++)
        rc_host_w[2 * i] = (uint8_t)('a' + i % 26);
    for (i = 0; i < 1500; i++)
        rc_url_w[2 * i] = (uint8_t)('a' + i % 26);
}

static inline int rc_push_payload(cbr_ring *cr, const cbr_record *rec)
{
    static const cbr_async_result done = {1, 0};
    static const cbr_dword sent = 512;
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)rec->handle;
    switch (rec->context & 3) {
    case 0: return cbr_ring_push_status_w(cr, h, rec->context, INTERNET_STATUS_REQUEST_SENT, &sent, sizeof sent);
    case 1: return cbr_ring_push_status_w(cr, h, rec->context, INTERNET_STATUS_RESOLVING_NAME, rc_host_w, 61);
    case 2: return cbr_ring_push_status_w(cr, h, rec->context, INTERNET_STATUS_REQUEST_COMPLETE, &done, sizeof done);
    default: return cbr_ring_push_status_w(cr, h, rec->context, INTERNET_STATUS_REDIRECT, rc_url_w, 1501);
    }
}
#endif

/* 1 if pushed, 0 if full. */
static inline int rc_push(rc_ring *r, const cbr_record *rec)
{
    switch (r->kind) {
    case RC_CBRING:
    case RC_CBRING_SPILL:
        return cbr_ring_push(r->cr, rec) < CBR_DROPPED;
    case RC_CBRING_STATUS:
        return rc_push_status(r->cr, rec) < CBR_DROPPED;
#ifdef CBR_PAYLOAD_MAX
    case RC_CBRING_PAYLOAD:
        return rc_push_payload(r->cr, rec) < CBR_DROPPED;
#endif
    case RC_VYUKOV:
        return vy_push(&r->vy, rec);
#ifdef RC_HAVE_DPDK
    case RC_RTE:
        return (int)rte_ring_mp_enqueue_bulk_elem(r->rr, rec, sizeof *rec, 1, NULL);
#endif
#ifdef RC_HAVE_CK
    case RC_CK:
        return ck_ring_enqueue_mpsc_rec(&r->ck, r->ckbuf, (cbr_record *)rec);  /* ck takes it non-const; it only reads */
#endif
    default:
        return 0;
    }
}

static inline size_t rc_pop(rc_ring *r, cbr_record *out, size_t max)
{
    size_t n = 0;
    switch (r->kind) {
    case RC_CBRING:
    case RC_CBRING_SPILL:
    case RC_CBRING_STATUS:
        return cbr_ring_drain(r->cr, out, max);
#ifdef CBR_PAYLOAD_MAX
    case RC_CBRING_PAYLOAD: {
        size_t used = 0;
        return cbr_ring_drain_payloads(r->cr, out, max, rc_payloads, sizeof rc_payloads, &used);
    }
#endif
    case RC_VYUKOV:
        return vy_pop(&r->vy, out, max);
#ifdef RC_HAVE_DPDK
    case RC_RTE:
        return rte_ring_sc_dequeue_burst_elem(r->rr, out, sizeof *out, (unsigned)max, NULL);
#endif
#ifdef RC_HAVE_CK
    case RC_CK:
        while (n < max && ck_ring_dequeue_spsc_rec(&r->ck, r->ckbuf, &out[n]))
            n++;
        return n;
#endif
    default:
        (void)n;
        return 0;
    }
}

static void rc_close(rc_ring *r)
{
    switch (r->kind) {
    case RC_CBRING:
    case RC_CBRING_SPILL:
    case RC_CBRING_STATUS:
    case RC_CBRING_PAYLOAD:
        cbr_ring_close(r->cr);
        cbr_ring_destroy(r->cr);
        free(r->cr);
        break;
    case RC_VYUKOV:
        vy_destroy(&r->vy);
        break;
#ifdef RC_HAVE_DPDK
    case RC_RTE:
        free(r->rr);
        break;
#endif
#ifdef RC_HAVE_CK
    case RC_CK:
        free(r->ckbuf);
        break;
#endif
    default:
        break;
    }
}

static inline void rc_fill(cbr_record *rec, uint32_t id, uint64_t k)
{
    rec->handle = id + 1;
    rec->context = ((uint64_t)id << 40) | k;
    rec->status = 100;
    rec->kind = CBR_INFO_ASYNC_RESULT;
}

/* Counts the records out of their producer's order; advances next[]. */
static uint64_t rc_check(const cbr_record *out, size_t n, uint64_t *next, int producers)
{
    uint64_t bad = 0;
    size_t j;
    for (j = 0; j < n; j++) {
        uint64_t p = out[j].context >> 40, idx = out[j].context & ((UINT64_C(1) << 40) - 1);
        if (p >= (uint64_t)producers || idx != next[p])
            bad++;
        else
            next[p]++;
    }
    return bad;
}

/* The two phases that callgrind's inclusive costs are read from. */
__attribute__((noinline)) uint64_t rc_push_phase(rc_ring *r, uint64_t n)
{
    cbr_record rec;
    uint64_t k, refused = 0;
    memset(&rec, 0, sizeof rec);
    for (k = 0; k < n; k++) {
        rc_fill(&rec, 0, k);
        refused += !rc_push(r, &rec);
    }
    return refused;
}

__attribute__((noinline)) uint64_t rc_pop_phase(rc_ring *r, uint64_t *got, uint64_t *next)
{
    cbr_record out[RC_BATCH];
    uint64_t bad = 0;
    size_t n;
    while ((n = rc_pop(r, out, RC_BATCH)) > 0) {
        bad += rc_check(out, n, next, 1);
        *got += n;
    }
    return bad;
}

typedef struct rc_producer {
    rc_ring *r;
    uint32_t id;
    uint64_t n;
    const uint32_t *gate;
    pthread_t thread;
} rc_producer;

static void *rc_producer_main(void *arg)
{
    rc_producer *p = (rc_producer *)arg;
    cbr_record rec;
    uint64_t k;
    unsigned round = 0;
    memset(&rec, 0, sizeof rec);
    /* acquire: pairs with the opener's release */
    while (!cbr_load_u32(p->gate, CBR_ACQUIRE))
        cbr_backoff(round < 20 ? round++ : round);
    for (k = 0; k < p->n; k++) {
        rc_fill(&rec, p->id, k);
        for (round = 0; !rc_push(p->r, &rec); )
            cbr_backoff(round < 31 ? round++ : round);  /* spins, then yields: never sleeps */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    rc_ring r;
    int kind = argc > 2 ? rc_kind(argv[1]) : -1;
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 0, got = 0, bad = 0;
    uint64_t next[RC_MAX_PRODUCERS] = {0};

#ifdef CBR_PAYLOAD_MAX
    rc_payload_setup();
#endif
    if (kind < 0 || n == 0) {
        fprintf(stderr, "usage: ringcount {cbring|cbring-spill|vyukov|rte|ck|cbring-status|cbring-payload} {count N|run N P}\n");
        return 2;
    }
    if (strcmp(argv[2], "count") == 0 || strcmp(argv[2], "time") == 0) {
        uint64_t cap = 2, refused, start;
        double push_ns;
        while (cap < n)
            cap <<= 1;
        if (rc_open(&r, kind, cap) != 0) {
            fprintf(stderr, "%s: not built in, or no memory\n", argv[1]);
            return 3;
        }
        start = cbr_now_ns();
        refused = rc_push_phase(&r, n);
        push_ns = (double)(cbr_now_ns() - start) / (double)n;
        bad = rc_pop_phase(&r, &got, next);
        printf("kind=%s records=%llu refused=%llu received=%llu errors=%llu push_ns_per_record=%.3f\n", argv[1],
               (unsigned long long)n, (unsigned long long)refused, (unsigned long long)got,
               (unsigned long long)bad, push_ns);
        rc_close(&r);
        return refused || bad || got != n;
    } else if (strcmp(argv[2], "run") == 0 && argc > 4) {
        int producers = atoi(argv[4]), i;
        rc_producer prod[RC_MAX_PRODUCERS];
        uint32_t gate = 0;
        uint64_t start, total;
        cbr_record out[RC_BATCH];
        unsigned round = 0;
        if (producers < 1 || producers > RC_MAX_PRODUCERS || rc_open(&r, kind, 65536) != 0) {
            fprintf(stderr, "%s: not built in, no memory, or 1..%d producers\n", argv[1], RC_MAX_PRODUCERS);
            return 3;
        }
        total = n * (uint64_t)producers;
        for (i = 0; i < producers; i++) {
            prod[i].r = &r;
            prod[i].id = (uint32_t)i;
            prod[i].n = n;
            prod[i].gate = &gate;
            if (pthread_create(&prod[i].thread, NULL, rc_producer_main, &prod[i]) != 0)
                return 3;
        }
        start = cbr_now_ns();
        /* release: the ring's setup happens before the producers' first push */
        cbr_store_u32(&gate, 1, CBR_RELEASE);
        while (got < total) {
            size_t k = rc_pop(&r, out, RC_BATCH);
            if (k == 0) {
                cbr_backoff(round < 31 ? round++ : round);
                continue;
            }
            round = 0;
            bad += rc_check(out, k, next, producers);
            got += k;
        }
        printf("kind=%s producers=%d records=%llu ns_per_record=%.3f errors=%llu\n", argv[1], producers,
               (unsigned long long)total, (double)(cbr_now_ns() - start) / (double)total,
               (unsigned long long)bad);
        for (i = 0; i < producers; i++)
            pthread_join(prod[i].thread, NULL);
        rc_close(&r);
        return bad != 0;
    }
    fprintf(stderr, "unknown mode %s\n", argv[2]);
    return 2;
}
