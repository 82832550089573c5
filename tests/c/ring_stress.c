/* Multi-producer stress test of include/cbring, built with -Werror and run
 * under ThreadSanitizer, AddressSanitizer and valgrind by tests/c/run.sh,
 * and for Windows (mingw-w64's gcc, and clang on the MSVC branch of
 * atomics.h) under Wine by tests/windows/run-under-wine.sh: portable.h
 * holds what differs.
 *
 * Every producer pushes a numbered sequence; the consumer checks that every
 * record arrives exactly once, in each producer's order, and that the
 * counters add up, under each overflow policy with a small ring so that
 * overflow is exercised, and with the ring closed while producers run. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "portable.h"
#include "cbring/atomics.h"

/* Overflow nodes come from here, so that a test can make allocation fail. */
static uint32_t fail_malloc;
static TEST_THREAD_LOCAL int fail_malloc_here;  /* this thread only */
static uint32_t mallocs_refused;  /* by fail_malloc_here: how a test knows where that thread is */
static void *test_malloc(size_t n)
{
    if (fail_malloc_here) {
        /* release: this thread's claim happens before a test that sees the count */
        cbr_fetch_add_u32(&mallocs_refused, 1, CBR_RELEASE);
        return NULL;
    }
    /* relaxed: the test sets it before starting the thread that must fail */
    return cbr_load_u32(&fail_malloc, CBR_RELAXED) ? NULL : malloc(n);
}
#define CBR_MALLOC test_malloc
#define CBR_FREE free

#include "cbring/ring.h"
#include "cbring/status.h"

#define MAX_PRODUCERS 8

typedef struct producer {
    test_thread thread;
    cbr_ring *ring;
    uint32_t id;
    uint64_t count;
    uint64_t accepted;  /* pushed or spilled */
    uint64_t refused;   /* dropped or late */
} producer;

static void *produce(void *arg)
{
    producer *p = (producer *)arg;
    uint64_t i;
    for (i = 0; i < p->count; i++) {
        cbr_async_result ar;
        ar.dwResult = (cbr_dword_ptr)i;
        ar.dwError = p->id;
        int r = cbr_ring_push_status(p->ring, (cbr_hinternet)(uintptr_t)(p->id + 1),
                                     ((cbr_dword_ptr)p->id << 40) | i, 100, &ar, sizeof ar);
        /* relaxed: the consumer polls these to learn when producers are done */
        if (r == CBR_PUSHED || r == CBR_SPILLED)
            cbr_store_u64(&p->accepted, p->accepted + 1, CBR_RELAXED);
        else
            cbr_store_u64(&p->refused, p->refused + 1, CBR_RELAXED);
    }
    return NULL;
}

/* Drains until every producer has finished and the ring is empty; checks
 * order per producer.  Returns the number of records drained. */
static uint64_t consume(cbr_ring *r, producer *ps, int n, int close_after, unsigned stall_every)
{
    static cbr_record buf[4096];
    uint64_t next[MAX_PRODUCERS] = {0};
    uint64_t total = 0, rounds = 0;
    int running = 1;

    while (running) {
        size_t k, i;
        if (close_after && total >= (uint64_t)close_after && !cbr_ring_closed(r))
            cbr_ring_close(r);
        if (stall_every && ++rounds % stall_every == 0) {
            unsigned s;
            for (s = 0; s < 40; s++)
                cbr_backoff(s);
        }
        if (!cbr_ring_wait(r, 50)) {
            int done = 1;
            /* producers may still be about to push */
            for (i = 0; i < (size_t)n; i++)
                done &= cbr_load_u64(&ps[i].accepted, CBR_RELAXED) + cbr_load_u64(&ps[i].refused, CBR_RELAXED) == ps[i].count;
            if (done && !cbr_ring_ready(r))
                running = 0;
            continue;
        }
        k = cbr_ring_drain(r, buf, sizeof buf / sizeof buf[0]);
        for (i = 0; i < k; i++) {
            uint32_t id = (uint32_t)(buf[i].context >> 40);
            uint64_t seq = buf[i].context & ((UINT64_C(1) << 40) - 1);
            CHECK(id < (uint32_t)n, "bad producer id %u", id);
            if (id >= (uint32_t)n)
                continue;
            CHECK(seq >= next[id], "producer %u: %" PRIu64 " after %" PRIu64, id, seq, next[id]);
            CHECK(buf[i].result == seq && buf[i].error == id && buf[i].kind == CBR_INFO_ASYNC_RESULT,
                  "record fields corrupted");
            next[id] = seq + 1;
        }
        total += k;
    }
    return total;
}

/* A ring struct as init expects it the first time: zeroed (it keeps the
 * count of deciding producers, and the late count, across reuse). */
static cbr_ring *new_ring(void)
{
    cbr_ring *r = (cbr_ring *)test_aligned_alloc(CBR_CACHELINE, sizeof(cbr_ring));
    if (r != NULL)
        memset(r, 0, sizeof *r);
    return r;
}

static void run(const char *name, enum cbr_overflow policy, uint64_t capacity, int nprod,
                uint64_t per_producer, int close_after, unsigned stall_every)
{
    cbr_ring *r = new_ring();
    producer ps[MAX_PRODUCERS];
    cbr_ring_stats st;
    uint64_t drained, accepted = 0, refused = 0;
    int i;

    CHECK(cbr_ring_init(r, cbr_ring_round_capacity(capacity), policy, 2000000, 0) == 0, "init");
    for (i = 0; i < nprod; i++) {
        ps[i].ring = r;
        ps[i].id = (uint32_t)i;
        ps[i].count = per_producer;
        ps[i].accepted = ps[i].refused = 0;
        test_thread_start(&ps[i].thread, produce, &ps[i]);
    }
    drained = consume(r, ps, nprod, close_after, stall_every);
    for (i = 0; i < nprod; i++) {
        test_thread_join(&ps[i].thread);
        accepted += ps[i].accepted;
        refused += ps[i].refused;
    }
    cbr_ring_close(r);
    {
        static cbr_record rest[4096];
        size_t k;
        while ((k = cbr_ring_drain(r, rest, 4096)) != 0)
            drained += k;
    }
    cbr_ring_get_stats(r, &st);
    CHECK(drained == accepted, "%s: drained %" PRIu64 " != accepted %" PRIu64, name, drained, accepted);
    CHECK(st.pushed == accepted, "%s: stats.pushed %" PRIu64 " != %" PRIu64, name, st.pushed, accepted);
    CHECK(st.drained == drained, "%s: stats.drained", name);
    CHECK(st.dropped + st.late == refused, "%s: dropped %" PRIu64 " + late %" PRIu64 " != refused %" PRIu64,
          name, st.dropped, st.late, refused);
    CHECK(accepted + refused == per_producer * (uint64_t)nprod, "%s: calls unaccounted", name);
    if (policy == CBR_OVERFLOW_SPILL && !close_after)
        CHECK(refused == 0, "%s: spill lost %" PRIu64, name, refused);
    printf("%-28s pushed %9" PRIu64 " spilled %8" PRIu64 " dropped %8" PRIu64 " late %8" PRIu64
           " wakeups %6" PRIu64 " high %6" PRIu64 "\n",
           name, st.pushed, st.spilled, st.dropped, st.late, st.wakeups, st.high_water);
    cbr_ring_destroy(r);
    test_aligned_free(r);
}

static void test_decoder(void)
{
    cbr_record rec;
    char name[] = "downloads.example.test";
    cbr_dword dw = 4096;
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)0x1234;

    cbr_record_from_status(&rec, NULL, 1, 100, NULL, 16);
    CHECK(rec.kind == CBR_INFO_NONE && (rec.flags & CBR_FLAG_NULL_INFO), "NULL async result");
    cbr_record_from_status(&rec, NULL, 1, 100, &dw, sizeof dw);
    CHECK(rec.kind == CBR_INFO_NONE && (rec.flags & CBR_FLAG_SHORT_INFO), "short async result");
    cbr_record_from_status(&rec, NULL, 1, 41, &dw, sizeof dw);
    CHECK(rec.kind == CBR_INFO_DWORD && rec.result == 4096, "DWORD");
    cbr_record_from_status(&rec, NULL, 1, 70, &h, sizeof h);
    CHECK(rec.kind == CBR_INFO_HANDLE && rec.result == 0x1234, "handle");
    cbr_record_from_status(&rec, NULL, 1, 60, &h, sizeof h);
    CHECK(rec.kind == CBR_INFO_HANDLE && rec.result == 0x1234 && rec.flags == 0,
          "HANDLE_CREATED as WinINet sends it: the bare handle");
    cbr_record_from_status(&rec, NULL, 1, 10, name, (cbr_dword)sizeof name);
    CHECK(rec.kind == CBR_INFO_TEXT && rec.data_len == CBR_RECORD_INLINE
          && (rec.flags & CBR_FLAG_TRUNCATED) && rec.length == sizeof name,
          "text longer than data[]: a record alone keeps the prefix, marked");
    cbr_record_from_status(&rec, NULL, 1, 10, name, 4);
    CHECK(rec.data_len == 4 && !(rec.flags & CBR_FLAG_TRUNCATED), "short string");
    cbr_record_from_status(&rec, NULL, 1, 9999, NULL, 0);
    CHECK(rec.kind == CBR_INFO_NONE && rec.flags == 0, "unknown status, no payload");
}

static void *push_one(void *arg)
{
    cbr_record rec;
    memset(&rec, 0, sizeof rec);
    rec.context = 2;
    /* relaxed: read after join */
    cbr_store_u32((uint32_t *)((void **)arg)[1], (uint32_t)cbr_ring_push((cbr_ring *)((void **)arg)[0], &rec),
                  CBR_RELAXED);
    return NULL;
}

/* A spilling producer that finds no memory waits for its slot; close()
 * cannot wait for a drain, so the producer gives up: its record is counted
 * as dropped, and what was pushed before still drains, in order. */
static void test_close_frees_a_producer_waiting_without_memory(void)
{
    cbr_ring *r = new_ring();
    cbr_record rec, out[4];
    test_thread t;
    uint32_t result = (uint32_t)-1;
    void *args[2];
    uint64_t i;

    memset(&rec, 0, sizeof rec);
    CHECK(cbr_ring_init(r, 2, CBR_OVERFLOW_SPILL, 0, 0) == 0, "init");
    for (i = 0; i < 2; i++) {
        rec.context = i;
        cbr_ring_push(r, &rec);
    }
    cbr_store_u32(&fail_malloc, 1, CBR_RELAXED);
    args[0] = r;
    args[1] = &result;
    test_thread_start(&t, push_one, args);
    /* acquire: the producer has claimed position 2 */
    while (cbr_load_u64(&r->tail, CBR_ACQUIRE) != 3)
        cbr_backoff(20);
    cbr_ring_close(r);
    test_thread_join(&t);
    cbr_store_u32(&fail_malloc, 0, CBR_RELAXED);
    CHECK((int)result == CBR_DROPPED, "the waiting producer gave up (%d)", (int)result);
    CHECK(cbr_ring_drain(r, out, 4) == 2, "the two records pushed before drain");
    for (i = 0; i < 2; i++)
        CHECK(out[i].context == i, "record %d in order", (int)i);
    CHECK(cbr_ring_drain(r, out, 4) == 0, "nothing after");
    {
        cbr_ring_stats st;
        cbr_ring_get_stats(r, &st);
        CHECK(st.pushed == 2 && st.dropped == 1 && st.drained == 2, "counted once each");
    }
    cbr_ring_destroy(r);
    test_aligned_free(r);
}

static void *push_one_without_memory(void *arg)
{
    fail_malloc_here = 1;
    return push_one(arg);
}

/* After close, a position given up by a producer without memory must not
 * hide the records behind it: wait() and ready() report them, as drain()
 * returns them. */
static void test_wait_after_close_sees_records_behind_an_abandoned_position(void)
{
    cbr_ring *r = new_ring();
    cbr_record rec, out[4];
    test_thread t;
    uint32_t result = (uint32_t)-1, refused_before;
    void *args[2];
    uint64_t i;

    memset(&rec, 0, sizeof rec);
    CHECK(cbr_ring_init(r, 2, CBR_OVERFLOW_SPILL, 0, 0) == 0, "init");
    for (i = 0; i < 2; i++) {
        rec.context = i;
        cbr_ring_push(r, &rec);
    }
    args[0] = r;
    args[1] = &result;
    refused_before = cbr_load_u32(&mallocs_refused, CBR_RELAXED);
    test_thread_start(&t, push_one_without_memory, args);  /* position 2: waits for its slot */
    /* acquire: the producer has claimed position 2 and been refused its segment, so it
     * waits for its slot; before that, position 3's segment (the same block's) would take it */
    while (cbr_load_u32(&mallocs_refused, CBR_ACQUIRE) == refused_before)
        cbr_backoff(20);
    rec.context = 3;
    CHECK(cbr_ring_push(r, &rec) == CBR_SPILLED, "position 3 overflows");
    cbr_ring_close(r);
    test_thread_join(&t);
    CHECK((int)result == CBR_DROPPED, "position 2 was given up (%d)", (int)result);
    CHECK(cbr_ring_drain(r, out, 2) == 2 && out[0].context == 0 && out[1].context == 1, "0 and 1");
    CHECK(cbr_ring_ready(r), "ready: position 3 is still to come");
    CHECK(cbr_ring_wait(r, 0), "wait: position 3 is still to come");
    CHECK(cbr_ring_drain(r, out, 4) == 1 && out[0].context == 3, "position 3 drains");
    CHECK(!cbr_ring_ready(r) && !cbr_ring_wait(r, 0), "then nothing");
    cbr_ring_destroy(r);
    test_aligned_free(r);
}

typedef struct stats_reader {
    cbr_ring *ring;
    uint64_t state;     /* 2 * round + 1: read stats; 2 * round: stop; 1: quit */
    uint64_t ack;       /* the stop state the reader has seen */
    uint64_t expect;    /* pushed, all the while */
    uint64_t snapshots, wrong;
} stats_reader;

static void *read_stats(void *arg)
{
    stats_reader *s = (stats_reader *)arg;
    for (;;) {
        /* acquire: the ring's init and pushes happen before */
        uint64_t state = cbr_load_u64(&s->state, CBR_ACQUIRE);
        if (state == 1)
            return NULL;
        if (state & 1) {
            cbr_ring_stats st;
            cbr_ring_get_stats(s->ring, &st);
            s->snapshots++;
            if (st.pushed != s->expect)
                s->wrong++;
        } else {
            /* release: our reads of the ring happen before its destroy */
            cbr_store_u64(&s->ack, state, CBR_RELEASE);
        }
    }
}

/* stats is a snapshot that any thread may take (Ring.stats takes no lock),
 * also while the consumer closes the ring: pushed never reads as anything
 * but what was pushed. */
static void test_stats_read_while_closing_stay_exact(int rounds)
{
    cbr_ring *r = new_ring();
    stats_reader s;
    test_thread t;
    cbr_record rec;
    uint64_t base = 1000, round;
    int k;

    memset(r, 0, sizeof *r);
    memset(&s, 0, sizeof s);
    memset(&rec, 0, sizeof rec);
    s.ring = r;
    s.expect = 3;
    test_thread_start(&t, read_stats, &s);
    for (round = 1; round <= (uint64_t)rounds; round++) {
        CHECK(cbr_ring_init(r, 4, CBR_OVERFLOW_DROP, 0, base) == 0, "init");
        for (k = 0; k < 3; k++)
            cbr_ring_push(r, &rec);
        /* release: init and the pushes happen before the reader's snapshots */
        cbr_store_u64(&s.state, 2 * round + 1, CBR_RELEASE);
        cbr_ring_close(r);
        cbr_store_u64(&s.state, 2 * round, CBR_RELAXED);
        /* acquire: the reader is done with this round */
        while (cbr_load_u64(&s.ack, CBR_ACQUIRE) != 2 * round)
            cbr_cpu_relax();
        cbr_ring_destroy(r);
        base += 1000;
    }
    cbr_store_u64(&s.state, 1, CBR_RELAXED);
    test_thread_join(&t);
    CHECK(s.wrong == 0, "%" PRIu64 " of %" PRIu64 " snapshots taken during close() were wrong",
          s.wrong, s.snapshots);
    test_aligned_free(r);
}

typedef struct hammer {
    test_thread thread;
    cbr_ring *ring;
    uint32_t *stop;
    uint64_t calls, dropped, late;
} hammer;

static void *hammer_full_ring(void *arg)
{
    hammer *h = (hammer *)arg;
    cbr_record rec;
    memset(&rec, 0, sizeof rec);
    /* relaxed: the main thread's stop request; any delay only adds calls */
    while (!cbr_load_u32(h->stop, CBR_RELAXED)) {
        int res = cbr_ring_push(h->ring, &rec);
        h->calls++;
        h->dropped += res == CBR_DROPPED;
        h->late += res == CBR_LATE;
    }
    return NULL;
}

/* close() refuses further records and waits for every call that began
 * before it: once it returns, pushed and dropped are final and later calls
 * add only to late.  Under "drop" and "block" a producer that found the
 * ring full decides to drop without claiming a position; close() must wait
 * for that decision too, or the drop is counted after close() returned
 * (and lost for good if the struct is then reused). */
static void test_close_waits_for_producers_that_found_the_ring_full(enum cbr_overflow policy,
                                                                     const char *name, int rounds)
{
    cbr_ring *r = new_ring();
    hammer hs[4];
    cbr_record rec;
    cbr_ring_stats at_close, final;
    int i, k, late_drops = 0;
    uint32_t stop;
    uint64_t base = 0, calls = 0, dropped = 0, late = 0;

    memset(&rec, 0, sizeof rec);
    for (i = 0; i < rounds; i++) {
        CHECK(cbr_ring_init(r, 2, policy, 0, base) == 0, "init");
        cbr_ring_push(r, &rec);
        cbr_ring_push(r, &rec);
        stop = 0;
        for (k = 0; k < 4; k++) {
            memset(&hs[k], 0, sizeof hs[k]);
            hs[k].ring = r;
            hs[k].stop = &stop;
            test_thread_start(&hs[k].thread, hammer_full_ring, &hs[k]);
        }
        /* acquire: some drops have happened */
        while (cbr_load_u64(&r->dropped, CBR_ACQUIRE) < 64)
            cbr_backoff(20);
        cbr_ring_close(r);
        cbr_ring_get_stats(r, &at_close);
        cbr_store_u32(&stop, 1, CBR_RELAXED);
        calls = dropped = late = 0;
        for (k = 0; k < 4; k++) {
            test_thread_join(&hs[k].thread);
            calls += hs[k].calls;
            dropped += hs[k].dropped;
            late += hs[k].late;
        }
        cbr_ring_get_stats(r, &final);
        late_drops += final.dropped != at_close.dropped;
        CHECK(final.dropped == dropped && final.late == late && final.pushed == 2
              && dropped + late == calls, "%s: every call counted once", name);
        base = (cbr_load_u64(&r->tail, CBR_RELAXED) & ~CBR_RING_CLOSED) + 1;
        cbr_ring_destroy(r);
    }
    CHECK(late_drops == 0, "%s: in %d of %d rounds a drop was counted after close() returned",
          name, late_drops, rounds);
    test_aligned_free(r);
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;

    test_decoder();
    test_close_frees_a_producer_waiting_without_memory();
    test_wait_after_close_sees_records_behind_an_abandoned_position();
    test_stats_read_while_closing_stay_exact((int)(n / 20));
    test_close_waits_for_producers_that_found_the_ring_full(CBR_OVERFLOW_DROP, "drop", (int)(n / 1000));
    test_close_waits_for_producers_that_found_the_ring_full(CBR_OVERFLOW_BLOCK, "block", (int)(n / 1000));
    run("spill, 4 producers", CBR_OVERFLOW_SPILL, 64, 4, n, 0, 7);
    run("drop, 4 producers", CBR_OVERFLOW_DROP, 64, 4, n, 0, 7);
    run("block, 4 producers", CBR_OVERFLOW_BLOCK, 64, 4, n, 0, 7);
    run("spill, capacity 2", CBR_OVERFLOW_SPILL, 2, 2, n / 4, 0, 3);
    run("spill, large, no stalls", CBR_OVERFLOW_SPILL, 1 << 16, 4, n, 0, 0);
    run("close while producing", CBR_OVERFLOW_SPILL, 256, 4, n, (int)(n / 2), 0);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ring_stress: all checks passed (atomics: %s)\n", CBR_ATOMICS_IMPL);
    return 0;
}
