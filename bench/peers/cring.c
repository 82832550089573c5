/* The C ring alone against the best C rings, built into one library in the
 * same run: cbring's ring (include/cbring/ring.h), DPDK's rte_ring and
 * Concurrency Kit's ck_ring.  Every ring carries the same 64-byte records
 * (cbr_record), with the same producer and consumer loops, the same retry
 * back-off (cbr_backoff) and the same check of every record: its producer
 * and its index in that producer's order.
 *
 * Built by cbring._bench.build_peers() with -DCRING_HAVE_DPDK and
 * -DCRING_HAVE_CK when those headers exist; rows without them report
 * "not available".  Loaded with ctypes; cring_run() releases nothing and
 * takes no Python lock, ctypes drops the GIL around it.
 */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cbring/ring.h>

#ifdef CRING_HAVE_DPDK
#  include <rte_ring.h>
#  include <rte_ring_elem.h>
#endif
#ifdef CRING_HAVE_CK
#  include <ck_ring.h>
CK_RING_PROTOTYPE(rec, cbr_record)
#endif

enum cring_kind {
    CRING_CBRING = 0,        /* cbring, "drop" policy: a full ring refuses, the producer retries as for the others */
    CRING_CBRING_SPILL = 1,  /* cbring, "spill" policy (the default): a full ring overflows to malloc */
    CRING_RTE = 2,           /* rte_ring with 64-byte elements; SP/SC or MP/SC flags */
    CRING_CK = 3             /* ck_ring typed for cbr_record; spsc or mpsc */
};

#define CRING_MAX_PRODUCERS 16

/* The one retry back-off of every loop here: spin a little, then yield.
 * Never sleeps, so a full or empty ring costs a yield, not a timer tick. */
static inline void cring_backoff(unsigned *round)
{
    if (*round < 16) {
        unsigned i;
        for (i = 0; i < (1u << (*round / 4)); i++)
            cbr_cpu_relax();
        (*round)++;
    } else {
        sched_yield();
    }
}
#define CRING_ESIZE ((unsigned)sizeof(cbr_record))

typedef struct cring_bench {
    int kind, producers, bulk;
    uint64_t per_producer;
    uint32_t gate;
    uint32_t stop;      /* set when the time budget is spent: producers stop early */
    uint32_t finished;  /* producers that have stopped; their produced counts are final */
    uint64_t produced[CRING_MAX_PRODUCERS];
    cbr_ring *cr;
#ifdef CRING_HAVE_DPDK
    struct rte_ring *rr;
#endif
#ifdef CRING_HAVE_CK
    ck_ring_t ck;
    cbr_record *ckbuf;
#endif
} cring_bench;

typedef struct cring_producer {
    cring_bench *b;
    uint32_t id;
    int cpu;  /* -1: wherever the scheduler puts it */
    pthread_t thread;
} cring_producer;

/* Pins the calling thread to one CPU (Linux); returns the previous mask in *old. */
static void cring_pin(int cpu, cpu_set_t *old)
{
#ifdef __linux__
    cpu_set_t set;
    if (old)
        pthread_getaffinity_np(pthread_self(), sizeof *old, old);
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#else
    (void)cpu; (void)old;
#endif
}

int cring_available(int kind)
{
    switch (kind) {
    case CRING_CBRING:
    case CRING_CBRING_SPILL:
        return 1;
#ifdef CRING_HAVE_DPDK
    case CRING_RTE:
        return 1;
#endif
#ifdef CRING_HAVE_CK
    case CRING_CK:
        return 1;
#endif
    default:
        return 0;
    }
}

static void *cring_producer_main(void *arg)
{
    cring_producer *p = (cring_producer *)arg;
    cring_bench *b = p->b;
    cbr_record recs[64];
    uint64_t k = 0, ctx = (uint64_t)p->id << 40;
    int i, n = b->bulk;
    unsigned round = 0;

    cring_pin(p->cpu, NULL);
    memset(recs, 0, sizeof recs);
    for (i = 0; i < n; i++) {
        recs[i].status = 100;
        recs[i].kind = CBR_INFO_ASYNC_RESULT;
        recs[i].handle = p->id + 1;
    }
    /* acquire: pairs with the opener's release */
    while (cbr_load_u32(&b->gate, CBR_ACQUIRE) == 0)
        cbr_backoff(round < 20 ? round++ : round);

    /* relaxed: a request to stop early; the count below says what was made */
    while (k < b->per_producer && !cbr_load_u32(&b->stop, CBR_RELAXED)) {
        if ((uint64_t)n > b->per_producer - k)
            n = (int)(b->per_producer - k);
        for (i = 0; i < n; i++)
            recs[i].context = ctx | (k + (uint64_t)i);
        switch (b->kind) {
        case CRING_CBRING:
        case CRING_CBRING_SPILL:
            for (i = 0; i < n; i++) {
                round = 0;
                while (cbr_ring_push(b->cr, &recs[i]) >= CBR_DROPPED)
                    cring_backoff(&round);
            }
            break;
#ifdef CRING_HAVE_DPDK
        case CRING_RTE:
            round = 0;
            while (rte_ring_enqueue_bulk_elem(b->rr, recs, CRING_ESIZE, (unsigned)n, NULL) == 0)
                cring_backoff(&round);
            break;
#endif
#ifdef CRING_HAVE_CK
        case CRING_CK:
            for (i = 0; i < n; i++) {
                round = 0;
                if (b->producers == 1)
                    while (!ck_ring_enqueue_spsc_rec(&b->ck, b->ckbuf, &recs[i]))
                        cring_backoff(&round);
                else
                    while (!ck_ring_enqueue_mpsc_rec(&b->ck, b->ckbuf, &recs[i]))
                        cring_backoff(&round);
            }
            break;
#endif
        default:
            break;
        }
        k += (uint64_t)n;
    }
    b->produced[p->id] = k;
    /* release: publishes produced[id] to the consumer's acquire load of finished */
    cbr_fetch_add_u32(&b->finished, 1, CBR_RELEASE);
    return NULL;
}

/* Takes up to max records; 0 when none is ready. */
static size_t cring_take(cring_bench *b, cbr_record *out, size_t max)
{
    size_t n = 0;
    switch (b->kind) {
    case CRING_CBRING:
    case CRING_CBRING_SPILL:
        return cbr_ring_drain(b->cr, out, max);
#ifdef CRING_HAVE_DPDK
    case CRING_RTE:
        return rte_ring_dequeue_burst_elem(b->rr, out, CRING_ESIZE, (unsigned)max, NULL);
#endif
#ifdef CRING_HAVE_CK
    case CRING_CK:
        /* ck_ring has no burst dequeue: one record at a time (its mpsc dequeue is the sc one) */
        while (n < max && ck_ring_dequeue_spsc_rec(&b->ck, b->ckbuf, &out[n]))
            n++;
        return n;
#endif
    default:
        (void)n;
        return 0;
    }
}

/* Runs one configuration.  with_consumer = 0 measures the producers alone
 * (the ring must then hold every record).  Producers stop early once
 * budget_s seconds have passed; *produced says how many records they made.  pin = 1 pins the consumer (the
 * calling thread) to the last CPU and the producers round-robin to the
 * others, so that the hand-off always crosses cores.  Returns 0, -1 if the kind is not
 * built in, -2 if memory or threads ran out, -3 if records stopped arriving
 * for 10 s.  *received counts what the consumer took, *errors the records
 * that came out of their producer's order or from an unknown producer. */
int cring_run(int kind, int producers, int bulk, uint64_t per_producer, int with_consumer,
              uint64_t capacity, int pin, double budget_s, double *elapsed_ns,
              uint64_t *produced, uint64_t *received, uint64_t *errors)
{
    uint64_t budget_ns = (uint64_t)(budget_s * 1e9);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t old_mask;
    cring_bench b;
    cring_producer prod[CRING_MAX_PRODUCERS];
    uint64_t next[CRING_MAX_PRODUCERS] = {0}, total = per_producer * (uint64_t)producers;
    uint64_t got = 0, bad = 0, start, last, made = 0, checks = 0;
    cbr_record out[64];
    int i, started = 0, rc = 0;
    unsigned round = 0;

    *received = *errors = *produced = 0;
    *elapsed_ns = 0;
    if (!cring_available(kind))
        return -1;
    if (producers < 1 || producers > CRING_MAX_PRODUCERS || bulk < 1 || bulk > 64
        || (capacity & (capacity - 1)) != 0 || capacity < 64)
        return -2;
    memset(&b, 0, sizeof b);
    b.kind = kind;
    b.producers = producers;
    b.bulk = bulk;
    b.per_producer = per_producer;

    switch (kind) {
    case CRING_CBRING:
    case CRING_CBRING_SPILL:
        b.cr = (cbr_ring *)aligned_alloc(CBR_CACHELINE, sizeof(cbr_ring));
        if (b.cr == NULL)
            return -2;
        memset(b.cr, 0, sizeof *b.cr);
        if (cbr_ring_init(b.cr, capacity,
                          kind == CRING_CBRING ? CBR_OVERFLOW_DROP : CBR_OVERFLOW_SPILL,
                          UINT64_C(60000000000), 0) != 0) {
            free(b.cr);
            return -2;
        }
        break;
#ifdef CRING_HAVE_DPDK
    case CRING_RTE: {
        ssize_t size = rte_ring_get_memsize_elem(CRING_ESIZE, (unsigned)capacity);
        if (size < 0 || (b.rr = (struct rte_ring *)aligned_alloc(128, (size_t)size)) == NULL)
            return -2;
        memset(b.rr, 0, (size_t)size);  /* touch every page before timing */
        /* count - 1 usable slots, as rte_ring_create() without RING_F_EXACT_SZ */
        if (rte_ring_init(b.rr, "cring", (unsigned)capacity,
                          RING_F_SC_DEQ | (producers == 1 ? RING_F_SP_ENQ : 0)) != 0) {
            free(b.rr);
            return -2;
        }
        break;
    }
#endif
#ifdef CRING_HAVE_CK
    case CRING_CK:
        b.ckbuf = (cbr_record *)aligned_alloc(CBR_CACHELINE, (size_t)capacity * sizeof(cbr_record));
        if (b.ckbuf == NULL)
            return -2;
        memset(b.ckbuf, 0, (size_t)capacity * sizeof(cbr_record));
        ck_ring_init(&b.ck, (unsigned)capacity);
        break;
#endif
    default:
        return -1;
    }

    pin = pin && ncpu >= 2;
    if (pin)
        cring_pin((int)ncpu - 1, &old_mask);
    for (i = 0; i < producers; i++) {
        prod[i].b = &b;
        prod[i].id = (uint32_t)i;
        prod[i].cpu = pin ? (int)(i % (ncpu - 1)) : -1;
        if (pthread_create(&prod[i].thread, NULL, cring_producer_main, &prod[i]) != 0) {
            rc = -2;
            break;
        }
        started++;
    }
    start = last = cbr_now_ns();
    /* release: the ring's setup happens before the producers' first push */
    cbr_store_u32(&b.gate, 1, CBR_RELEASE);

    for (;;) {
        size_t n, j;
        if (!with_consumer || rc != 0)
            break;
        if (got >= total)
            break;
        /* acquire: the producers' final counts */
        if (cbr_load_u32(&b.finished, CBR_ACQUIRE) == (uint32_t)started) {
            for (made = 0, i = 0; i < started; i++)
                made += b.produced[i];
            if (got >= made)
                break;
        }
        if ((++checks & 255) == 0 && cbr_now_ns() - start > budget_ns)
            /* relaxed: a request */
            cbr_store_u32(&b.stop, 1, CBR_RELAXED);
        n = cring_take(&b, out, (size_t)bulk);
        if (n == 0) {
            cring_backoff(&round);
            if (round >= 16 && cbr_now_ns() - last > UINT64_C(10000000000))
                rc = -3;
            continue;
        }
        if (round >= 16)
            last = cbr_now_ns();
        round = 0;
        for (j = 0; j < n; j++) {
            uint64_t p = out[j].context >> 40, idx = out[j].context & ((UINT64_C(1) << 40) - 1);
            if (p >= (uint64_t)producers || idx != next[p])
                bad++;
            else
                next[p]++;
        }
        got += n;
    }
    if (!with_consumer)
        /* acquire: the producers' final counts */
        while (cbr_load_u32(&b.finished, CBR_ACQUIRE) != (uint32_t)started) {
            struct timespec ts = {0, 1000000};
            if (cbr_now_ns() - start > budget_ns)
                /* relaxed: a request */
                cbr_store_u32(&b.stop, 1, CBR_RELAXED);
            nanosleep(&ts, NULL);
        }
    *elapsed_ns = (double)(cbr_now_ns() - start);
    for (i = 0; i < started; i++)
        pthread_join(prod[i].thread, NULL);
    for (made = 0, i = 0; i < started; i++)
        made += b.produced[i];
    *produced = made;

    if (!with_consumer) {
        /* drain outside the timing, to count and check */
        size_t n, j;
        while ((n = cring_take(&b, out, 64)) > 0) {
            for (j = 0; j < n; j++) {
                uint64_t p = out[j].context >> 40, idx = out[j].context & ((UINT64_C(1) << 40) - 1);
                if (p >= (uint64_t)producers || idx != next[p])
                    bad++;
                else
                    next[p]++;
            }
            got += n;
        }
    }
    *received = got;
    *errors = bad;
#ifdef __linux__
    if (pin)
        pthread_setaffinity_np(pthread_self(), sizeof old_mask, &old_mask);
#endif

    switch (kind) {
    case CRING_CBRING:
    case CRING_CBRING_SPILL:
        cbr_ring_close(b.cr);
        cbr_ring_destroy(b.cr);
        free(b.cr);
        break;
#ifdef CRING_HAVE_DPDK
    case CRING_RTE:
        free(b.rr);
        break;
#endif
#ifdef CRING_HAVE_CK
    case CRING_CK:
        free(b.ckbuf);
        break;
#endif
    default:
        break;
    }
    return rc;
}
