/* The overflow segments of include/cbring/ring.h, built with -Werror and
 * run plain, under ThreadSanitizer, AddressSanitizer and valgrind by
 * tests/c/run.sh.  The directory is shrunk to four entries, so that a
 * backlog reaches its limit within a few thousand records.
 *
 * Single-threaded checks pin what a position's second home must do (order
 * across segment boundaries, recycling without allocation, stale stamps of
 * a recycled segment never read as records, the directory's limit);
 * the multi-producer run checks that every record arrives once and in each
 * producer's order while segments are installed, recycled and refused
 * concurrently, and while allocation fails now and then. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail_every;        /* fail one allocation in this many (0: never) */
static uint64_t allocations;  /* segments allocated */
static void *test_malloc(size_t n)
{
    /* relaxed (both): counters for the test's own checks */
    uint64_t k = __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
    int every = __atomic_load_n(&fail_every, __ATOMIC_RELAXED);
    return every && k % (uint64_t)every == 0 ? NULL : malloc(n);
}
#define CBR_MALLOC test_malloc
#define CBR_FREE free
#define CBR_RING_DIRECTORY_BITS 2

#include "cbring/ring.h"
#include "check.h"

#define REACH ((CBR_RING_DIRECTORY - 1) * CBR_RING_SEGMENT)

static cbr_ring *new_ring(uint64_t capacity, uint64_t base)
{
    cbr_ring *r = (cbr_ring *)aligned_alloc(CBR_CACHELINE, sizeof(cbr_ring));
    memset(r, 0, sizeof *r);
    CHECK(cbr_ring_init(r, capacity, CBR_OVERFLOW_SPILL, 0, base) == 0, "init");
    return r;
}

static void free_ring(cbr_ring *r)
{
    cbr_ring_close(r);
    cbr_ring_destroy(r);
    free(r);
}

static void push_context(cbr_ring *r, uint64_t context, int expect)
{
    cbr_record rec;
    int got;
    memset(&rec, 0, sizeof rec);
    rec.context = context;
    rec.result = ~context;
    got = cbr_ring_push(r, &rec);
    CHECK(got == expect, "push %" PRIu64 ": %d, expected %d", context, got, expect);
}

/* Drains everything in batches of `batch`; checks the contexts run from
 * `first` on, that records from the ring carry their position and those
 * from a segment carry 0 and the flag.  Returns how many came. */
static uint64_t drain_checked(cbr_ring *r, uint64_t first, size_t batch)
{
    static cbr_record out[4096];
    uint64_t n = 0;
    size_t k, i;
    while ((k = cbr_ring_drain(r, out, batch)) != 0) {
        for (i = 0; i < k; i++, n++) {
            cbr_record *o = &out[i];
            CHECK(o->context == first + n && o->result == ~o->context,
                  "record %" PRIu64 ": context %" PRIu64, first + n, o->context);
            if (o->flags & CBR_FLAG_SPILLED)
                CHECK(o->seq == 0, "an overflowed record carries seq 0");
            else
                CHECK(o->seq != 0, "a ring record carries its position");
        }
    }
    return n;
}

/* Order holds across segment boundaries, whatever the batch size, and a
 * ring that has drained takes its slots again. */
static void test_overflow_keeps_order_across_segments(void)
{
    static const size_t batches[] = {1, 3, 1000, 1024, 1025, 4096};
    size_t b;
    for (b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        cbr_ring *r = new_ring(4, 0);
        uint64_t i, n = REACH - 8;
        cbr_ring_stats st;
        for (i = 0; i < n; i++)
            push_context(r, i, i < 4 ? CBR_PUSHED : CBR_SPILLED);
        CHECK(drain_checked(r, 0, batches[b]) == n, "batch %zu: all drained", batches[b]);
        for (i = 0; i < 4; i++)
            push_context(r, n + i, CBR_PUSHED);
        CHECK(drain_checked(r, n, batches[b]) == 4, "the ring is used again");
        cbr_ring_get_stats(r, &st);
        CHECK(st.pushed == n + 4 && st.spilled == n - 4 && st.drained == n + 4,
              "counted: pushed %" PRIu64 " spilled %" PRIu64, st.pushed, st.spilled);
        free_ring(r);
    }
}

/* Segments the consumer passed come back from the pool: a second backlog
 * as deep as the first allocates nothing. */
static void test_passed_segments_are_reused_without_allocating(void)
{
    cbr_ring *r = new_ring(2, 0);
    uint64_t i, first, n = 2 * CBR_RING_SEGMENT, round;
    for (round = 0; round < 3; round++) {
        /* relaxed: single-threaded */
        uint64_t before = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
        first = round * n;
        for (i = 0; i < n; i++)
            push_context(r, first + i, i < 2 ? CBR_PUSHED : CBR_SPILLED);
        if (round > 0)
            CHECK(__atomic_load_n(&allocations, __ATOMIC_RELAXED) == before,
                  "round %" PRIu64 ": %" PRIu64 " allocations", round,
                  __atomic_load_n(&allocations, __ATOMIC_RELAXED) - before);
        CHECK(drain_checked(r, first, 777) == n, "round %" PRIu64 " drained", round);
    }
    CHECK(r->pooled <= r->pool_max, "the pool is bounded");
    free_ring(r);
}

/* A recycled segment's cells still hold the stamps of an earlier block;
 * once the block it serves is far enough on for them to match again, it
 * must reset them, or the consumer would read them as records. */
static void test_a_recycled_segments_stale_stamps_never_read_as_records(void)
{
    cbr_ring *r = new_ring(2, 0);
    cbr_segment *seg;
    uint64_t i, next = CBR_RING_SEGMENT;
    for (i = 0; i < CBR_RING_SEGMENT; i++)
        push_context(r, i, i < 2 ? CBR_PUSHED : CBR_SPILLED);
    CHECK(drain_checked(r, 0, 4096) == CBR_RING_SEGMENT, "block 0 drained");
    seg = (cbr_segment *)r->pool;
    CHECK(seg != NULL && seg->next == NULL, "block 0's segment is in the pool");
    /* forge what 2**32 positions later would look like: every cell stamped
     * for block 1's position, its last reset that long ago */
    for (i = 0; i < CBR_RING_SEGMENT; i++)
        seg->cells[i].seq = (uint32_t)(next + i + 1);
    seg->since = 1 - CBR_RING_STAMP_BLOCKS;
    push_context(r, next, CBR_PUSHED);
    push_context(r, next + 1, CBR_PUSHED);
    push_context(r, next + 2, CBR_SPILLED);
    CHECK(drain_checked(r, next, 4096) == 3, "exactly the three records pushed");
    free_ring(r);
}

typedef struct pusher {
    cbr_ring *ring;
    uint64_t first, count;
    int result;
} pusher;

static void *push_range(void *arg)
{
    pusher *p = (pusher *)arg;
    uint64_t i;
    cbr_record rec;
    memset(&rec, 0, sizeof rec);
    for (i = 0; i < p->count; i++) {
        rec.context = p->first + i;
        rec.result = ~rec.context;
        p->result = cbr_ring_push(p->ring, &rec);
    }
    return NULL;
}

/* Past the directory's reach a producer waits for its slot, as it does
 * without memory, and goes on once the consumer makes room. */
static void test_past_the_directorys_reach_a_producer_waits_for_its_slot(void)
{
    cbr_ring *r = new_ring(2, 0);
    pusher p;
    pthread_t t;
    uint64_t i, n = REACH;
    for (i = 0; i < n; i++)
        push_context(r, i, i < 2 ? CBR_PUSHED : CBR_SPILLED);
    p.ring = r;
    p.first = n;
    p.count = 1;
    p.result = -1;
    pthread_create(&t, NULL, push_range, &p);
    /* acquire: the producer has claimed its position */
    while (cbr_load_u64(&r->tail, CBR_ACQUIRE) != n + 1)
        cbr_backoff(20);
    i = drain_checked(r, 0, 4096);  /* makes room for it */
    pthread_join(t, NULL);
    i += drain_checked(r, i, 4096);
    CHECK(i == n + 1, "everything, the waiting record last");
    CHECK(p.result == CBR_PUSHED, "it took its slot (%d)", p.result);
    free_ring(r);
}

/* ... and if the ring closes while it waits, it gives up: counted as
 * dropped, its position abandoned, and what came before still drains. */
static void test_close_frees_a_producer_waiting_past_the_directorys_reach(void)
{
    cbr_ring *r = new_ring(2, 0);
    pusher p;
    pthread_t t;
    cbr_ring_stats st;
    uint64_t i, n = REACH;
    for (i = 0; i < n; i++)
        push_context(r, i, i < 2 ? CBR_PUSHED : CBR_SPILLED);
    p.ring = r;
    p.first = n;
    p.count = 1;
    p.result = -1;
    pthread_create(&t, NULL, push_range, &p);
    /* acquire: the producer has claimed its position */
    while (cbr_load_u64(&r->tail, CBR_ACQUIRE) != n + 1)
        cbr_backoff(20);
    cbr_ring_close(r);
    pthread_join(t, NULL);
    CHECK(p.result == CBR_DROPPED, "it gave up (%d)", p.result);
    CHECK(drain_checked(r, 0, 1000) == n, "what came before drains");
    cbr_ring_get_stats(r, &st);
    CHECK(st.pushed == n && st.dropped == 1 && st.drained == n, "counted once each");
    cbr_ring_destroy(r);
    free(r);
}

/* Positions near 2**32 and 2**64 - 2**62: stamps wrap, blocks do not. */
static void test_overflow_works_from_any_base_position(void)
{
    static const uint64_t bases[] = {UINT64_C(0xFFFFFFFF) - 3000, (UINT64_C(1) << 62) - 5};
    size_t b;
    for (b = 0; b < 2; b++) {
        cbr_ring *r = new_ring(4, bases[b]);
        uint64_t i, n = 3 * CBR_RING_SEGMENT;
        for (i = 0; i < n; i++)
            push_context(r, i, i < 4 ? CBR_PUSHED : CBR_SPILLED);
        CHECK(drain_checked(r, 0, 500) == n, "base %" PRIu64 ": all drained", bases[b]);
        free_ring(r);
    }
}

#define PRODUCERS 4

typedef struct producer {
    pthread_t thread;
    cbr_ring *ring;
    uint32_t id;
    uint64_t count, accepted, refused;
} producer;

static void *produce(void *arg)
{
    producer *p = (producer *)arg;
    cbr_record rec;
    uint64_t i;
    memset(&rec, 0, sizeof rec);
    for (i = 0; i < p->count; i++) {
        int r;
        rec.context = ((uint64_t)p->id << 40) | i;
        rec.result = ~rec.context;
        r = cbr_ring_push(p->ring, &rec);
        /* relaxed: the consumer polls these to learn when producers are done */
        if (r == CBR_PUSHED || r == CBR_SPILLED)
            __atomic_store_n(&p->accepted, p->accepted + 1, __ATOMIC_RELAXED);
        else
            __atomic_store_n(&p->refused, p->refused + 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Producers push through a small ring while the consumer drains in bursts
 * and pauses, so that backlogs cross segments, reach the directory's limit
 * and fall back; one allocation in `every` fails.  Every record once, in
 * each producer's order. */
static void run(const char *name, uint64_t capacity, uint64_t per, int every, int close_early)
{
    static cbr_record buf[2048];
    cbr_ring *r = new_ring(capacity, 0);
    producer ps[PRODUCERS];
    uint64_t next[PRODUCERS] = {0}, total = 0, accepted = 0, refused = 0, rounds = 0;
    cbr_ring_stats st;
    int i, running = 1;

    /* relaxed: read by test_malloc */
    __atomic_store_n(&fail_every, every, __ATOMIC_RELAXED);
    for (i = 0; i < PRODUCERS; i++) {
        ps[i].ring = r;
        ps[i].id = (uint32_t)i;
        ps[i].count = per;
        ps[i].accepted = ps[i].refused = 0;
        pthread_create(&ps[i].thread, NULL, produce, &ps[i]);
    }
    while (running) {
        size_t k, j;
        if (close_early && total >= per && !cbr_ring_closed(r))
            cbr_ring_close(r);
        if (++rounds % 5 == 0) {
            unsigned s;
            for (s = 0; s < 60; s++)
                cbr_backoff(s);
        }
        k = cbr_ring_drain(r, buf, 1 + (size_t)(rounds * 7919 % 2048));
        for (j = 0; j < k; j++) {
            uint32_t id = (uint32_t)(buf[j].context >> 40);
            uint64_t seq = buf[j].context & ((UINT64_C(1) << 40) - 1);
            CHECK(id < PRODUCERS, "bad producer id %u", id);
            if (id >= PRODUCERS)
                continue;
            CHECK(seq >= next[id], "%s: producer %u: %" PRIu64 " after %" PRIu64, name, id, seq, next[id]);
            CHECK(buf[j].result == ~buf[j].context, "%s: record corrupted", name);
            next[id] = seq + 1;
        }
        total += k;
        if (k == 0) {
            int done = 1;
            for (i = 0; i < PRODUCERS; i++)
                /* relaxed: as in produce */
                done &= __atomic_load_n(&ps[i].accepted, __ATOMIC_RELAXED)
                        + __atomic_load_n(&ps[i].refused, __ATOMIC_RELAXED) == per;
            if (done && !cbr_ring_ready(r))
                running = 0;
        }
    }
    for (i = 0; i < PRODUCERS; i++) {
        pthread_join(ps[i].thread, NULL);
        accepted += ps[i].accepted;
        refused += ps[i].refused;
    }
    cbr_ring_close(r);
    {
        size_t k;
        while ((k = cbr_ring_drain(r, buf, 2048)) != 0)
            total += k;
    }
    /* relaxed: the producers have been joined */
    __atomic_store_n(&fail_every, 0, __ATOMIC_RELAXED);
    cbr_ring_get_stats(r, &st);
    CHECK(total == accepted, "%s: drained %" PRIu64 " != accepted %" PRIu64, name, total, accepted);
    CHECK(st.pushed == accepted && st.drained == total, "%s: stats.pushed %" PRIu64, name, st.pushed);
    CHECK(st.dropped + st.late == refused, "%s: dropped + late != refused", name);
    CHECK(accepted + refused == per * PRODUCERS, "%s: calls unaccounted", name);
    if (!close_early)
        CHECK(refused == 0, "%s: spill lost %" PRIu64, name, refused);
    printf("%-34s pushed %9" PRIu64 " spilled %8" PRIu64 " dropped %6" PRIu64 " late %8" PRIu64
           " high %6" PRIu64 "\n", name, st.pushed, st.spilled, st.dropped, st.late, st.high_water);
    cbr_ring_destroy(r);
    free(r);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    test_overflow_keeps_order_across_segments();
    test_passed_segments_are_reused_without_allocating();
    test_a_recycled_segments_stale_stamps_never_read_as_records();
    test_past_the_directorys_reach_a_producer_waits_for_its_slot();
    test_close_frees_a_producer_waiting_past_the_directorys_reach();
    test_overflow_works_from_any_base_position();
    run("segments, 4 producers", 64, n, 0, 0);
    run("segments, capacity 2, failing malloc", 2, n / 4, 7, 0);
    run("segments, closed while producing", 16, n, 0, 1);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("overflow_stress: all checks passed\n");
    return 0;
}
