/* A bounded multi-producer, single-consumer ring of cbr_records, with an
 * unbounded overflow list that keeps the ring's order.
 *
 * Positions.  Every accepted record gets a position from `tail`; the
 * consumer emits positions in order, so a push that completed before
 * another began comes out first, and one thread's pushes keep their order.
 * Position p lives in slot p & mask.  A slot's `seq` stamp says what the
 * slot is ready for: p means "free for position p", p + 1 means "holds
 * position p" (modulo 2**32; capacity >= 2 keeps the two apart).
 *
 * Claiming.  Under "spill", a producer takes a position with one fetch_add,
 * which cannot fail, so the fast path never retries and never reads the
 * consumer's cache line.  If the slot is not yet free for that position
 * (the ring is a lap ahead of the consumer) the record goes onto a lock-free
 * overflow stack tagged with its position; the consumer, finding that
 * position unpublished in the ring, looks for it there.  Only the records
 * that found their slot busy overflow: the ring is used again as soon as the
 * consumer makes room.  Under "drop" and "block" a producer claims only
 * when it has seen room (a compare-and-swap against `head`), so a position
 * is never left without a record.
 *
 * Wake-ups.  A consumer about to sleep stores waiting = 1 and re-checks for
 * claimed positions; a producer loads waiting after its claim.  Both sides
 * use seq_cst, so at least one sees the other (the store-load handshake of
 * Dekker's algorithm), and only the producer that takes the flag back to 0
 * makes the system call: one wake-up per sleep, none under load.
 *
 * Lifetime.  The struct must outlive every producer that may still call
 * push; after cbr_ring_close() such calls are counted as late and touch only
 * the struct.  close() waits until every position claimed before it is
 * resolved, which is each producer's last access to ring memory, so
 * cbr_ring_destroy() may then free the slots, the overflow nodes and the
 * descriptor.  It also waits for producers that found the ring full and are
 * deciding between a late claim and a drop (`deciding`, a Dekker handshake
 * like the wake-up's), so that once it returns pushed and dropped are final
 * and every later call is counted as late.
 */
#ifndef CBRING_RING_H
#define CBRING_RING_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "clock.h"
#include "record.h"
#include "wakeup.h"

/* Positions and byte counts are 64-bit: refuse 32-bit targets, as atomics.h
 * does on Windows, rather than let drain's size arithmetic wrap. */
#if SIZE_MAX < UINT64_MAX
#  error "cbring supports 64-bit targets only: positions and sizes must not wrap"
#endif

/* Overflow nodes' allocator; a test may substitute one that fails. */
#ifndef CBR_MALLOC
#  define CBR_MALLOC malloc
#  define CBR_FREE free
#endif

#define CBR_RING_CLOSED (UINT64_C(1) << 63)
#define CBR_RING_MIN_CAPACITY 2
#define CBR_RING_MAX_CAPACITY (UINT64_C(1) << 24)
#define CBR_RING_NO_END UINT64_MAX  /* end, until close() has published it */

enum cbr_overflow {
    CBR_OVERFLOW_SPILL = 0,  /* full: onto the overflow list, in order, nothing lost */
    CBR_OVERFLOW_DROP = 1,   /* full: discard and count in dropped */
    CBR_OVERFLOW_BLOCK = 2   /* full: wait up to block_ns for room, then drop */
};

enum cbr_push_result {
    CBR_PUSHED = 0,
    CBR_SPILLED = 1,
    CBR_DROPPED = 2,
    CBR_LATE = 3
};

typedef struct cbr_spill_node {
    struct cbr_spill_node *next;
    uint64_t pos;
    cbr_record rec;
} cbr_spill_node;

typedef struct cbr_ring_stats {
    uint64_t pushed;      /* accepted: into the ring or the overflow list */
    uint64_t drained;     /* handed to the consumer */
    uint64_t dropped;     /* refused because the ring was full */
    uint64_t spilled;     /* of pushed, how many went through the overflow list */
    uint64_t late;        /* pushes after close, discarded */
    uint64_t capacity;
    uint64_t high_water;  /* most records waiting at once, seen at a drain or a stats read */
    uint64_t wakeups;     /* system calls producers made to wake the consumer */
} cbr_ring_stats;

typedef struct cbr_ring {
    /* Written by every claim. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t tail;  /* next position, | CBR_RING_CLOSED */

    /* Written by producers only on slow paths. */
    CBR_ALIGNED(CBR_CACHELINE) void *spill;    /* cbr_spill_node stack, newest first */
    uint64_t dropped;
    uint64_t late;
    uint64_t spilled;
    uint64_t wakeups;
    uint64_t abandoned;   /* positions given up after close (no memory, slot busy) */
    uint32_t deciding;    /* producers in cbr_ring_full_: close() waits for their verdict */

    /* Written by the consumer about once a batch, read by producers. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t head;
    uint32_t waiting;

    /* Set by init; read-only while producers run (policy: a setting). */
    CBR_ALIGNED(CBR_CACHELINE) cbr_record *slots;
    uint64_t mask;
    uint64_t base;        /* first position */
    uint64_t block_ns;    /* atomic: a late producer may read it while init rewrites it */
    uint32_t policy;
    cbr_wakeup wake;

    /* The consumer's own; drained, high_water and end are atomic because
     * stats may be read from any thread. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t drained;
    uint64_t high_water;
    uint64_t end;             /* tail when closed: positions at or past it are late */
    uint64_t inherited_late;  /* late calls a reused struct had counted before init */
    uint32_t quiescent;       /* close() has returned: unresolved positions are abandoned */
    cbr_spill_node *backlog;  /* taken from the overflow stack, by position */
    cbr_spill_node *backlog_last;
    uint32_t notify;          /* keep wake.rfd readable while anything is pending */
} cbr_ring;

/* Rounds up to a power of two, at least CBR_RING_MIN_CAPACITY; 0 for 0 or
 * anything over the maximum. */
static inline uint64_t cbr_ring_round_capacity(uint64_t want)
{
    uint64_t c = CBR_RING_MIN_CAPACITY;
    if (want == 0 || want > CBR_RING_MAX_CAPACITY)
        return 0;
    while (c < want)
        c <<= 1;
    return c;
}

/* Prepares r; capacity must come from cbr_ring_round_capacity.  `base` is
 * the first position: a struct that is reused must start past its previous
 * tail, so that a producer holding a tail it read before the close can
 * never win a claim on the new ring.  A reused struct's late count moves to
 * inherited_late atomically, so no late call goes uncounted.  Producers
 * still calling a reused struct feed the new ring: the struct, not the
 * ring, is what their pointer names.  Returns 0, EINVAL, ENOMEM, or the
 * descriptor's error. */
static inline int cbr_ring_init(cbr_ring *r, uint64_t capacity, enum cbr_overflow policy,
                                uint64_t block_ns, uint64_t base)
{
    uint64_t i;
    int err;
    cbr_record *slots;

    if (capacity < CBR_RING_MIN_CAPACITY || (capacity & (capacity - 1)) != 0
        || capacity > CBR_RING_MAX_CAPACITY || (base & CBR_RING_CLOSED))
        return EINVAL;
    slots = (cbr_record *)calloc((size_t)capacity, sizeof(cbr_record));
    if (slots == NULL)
        return ENOMEM;
    for (i = 0; i < capacity; i++) {
        uint64_t p = base + i;
        slots[p & (capacity - 1)].seq = (uint32_t)p;  /* free for its first position */
    }
    if ((err = cbr_wakeup_open(&r->wake)) != 0) {
        free(slots);
        return err;
    }
    r->slots = slots;
    /* relaxed: published by the release store of tail below */
    cbr_store_u64(&r->mask, capacity - 1, CBR_RELAXED);
    r->base = base;
    /* relaxed: published by the release store of tail below */
    cbr_store_u64(&r->block_ns, block_ns, CBR_RELAXED);
    /* relaxed: published by the release store of tail below */
    cbr_store_u32(&r->policy, (uint32_t)policy, CBR_RELAXED);
    /* relaxed (all three): published by the release store of tail below */
    cbr_store_u64(&r->drained, 0, CBR_RELAXED);
    cbr_store_u64(&r->high_water, 0, CBR_RELAXED);
    cbr_store_u64(&r->end, CBR_RING_NO_END, CBR_RELAXED);
    r->quiescent = 0;
    r->backlog = NULL;
    r->backlog_last = NULL;
    r->notify = 0;
    /* relaxed (all): exchanges, so that a count a late producer adds now is kept */
    r->inherited_late = cbr_exchange_u64(&r->late, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->dropped, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->spilled, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->wakeups, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->abandoned, 0, CBR_RELAXED);
    /* deciding is not reset: a producer of the previous ring may still be
     * deciding, and its decrement must find its own increment, or close()
     * would stop waiting for this ring's deciders; so r must be zeroed
     * (static, or memset) before its first init */
    cbr_store_u32(&r->waiting, 0, CBR_RELAXED);
    cbr_store_ptr(&r->spill, NULL, CBR_RELAXED);
    cbr_store_u64(&r->head, base, CBR_RELAXED);
    /* release: opens the ring; every claim reads tail and so acquires all of the above */
    cbr_store_u64(&r->tail, base, CBR_RELEASE);
    return 0;
}

static inline uint64_t cbr_ring_capacity(const cbr_ring *r) { return r->mask + 1; }

/* Changes the overflow policy for pushes from now on. */
static inline void cbr_ring_set_policy(cbr_ring *r, enum cbr_overflow policy)
{
    /* relaxed: a setting, not a synchronisation; any push may see either value */
    cbr_store_u32(&r->policy, (uint32_t)policy, CBR_RELAXED);
}

CBR_COLD void cbr_ring_wake_slow(cbr_ring *r)
{
    /* relaxed: the exchange's atomicity alone picks the one producer that makes the call */
    if (cbr_exchange_u32(&r->waiting, 0, CBR_RELAXED)) {
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->wakeups, 1, CBR_RELAXED);
        cbr_wakeup_signal(&r->wake);
    }
}

/* After a claim: wakes a sleeping consumer.  Must come after the seq_cst
 * claim and before the record is resolved, so close() covers the call. */
CBR_INLINE void cbr_ring_wake_(cbr_ring *r)
{
    /* seq_cst: after our seq_cst claim, pairs with the consumer's store of waiting (Dekker) */
    if (cbr_load_u32(&r->waiting, CBR_SEQ_CST))
        cbr_ring_wake_slow(r);
}

/* Writes the record into its free slot and publishes it: the last access
 * to ring memory, which close() waits for. */
CBR_INLINE void cbr_ring_publish_(cbr_record *slot, uint64_t t, const cbr_record *rec)
{
    memcpy(slot, rec, offsetof(cbr_record, seq));
    memcpy(&slot->status, &rec->status, sizeof(cbr_record) - offsetof(cbr_record, status));
    /* release: publishes the record to the consumer's acquire load of seq */
    cbr_store_u32(&slot->seq, (uint32_t)(t + 1), CBR_RELEASE);
}

CBR_COLD int cbr_ring_overflow_(cbr_ring *r, uint64_t t, const cbr_record *rec);
CBR_COLD int cbr_ring_full_(cbr_ring *r, const cbr_record *rec);
CBR_COLD int cbr_ring_full_decide_(cbr_ring *r, const cbr_record *rec);

/* One claim attempt that succeeds only with room.  Returns 1 when position
 * *t is claimed, 0 when the ring is full, -1 when it is closed. */
CBR_INLINE int cbr_ring_claim_if_room_(cbr_ring *r, uint64_t *t)
{
    /* acquire: a tail written by init makes init's stores visible */
    *t = cbr_load_u64(&r->tail, CBR_ACQUIRE);
    for (;;) {
        uint64_t h;
        if (*t & CBR_RING_CLOSED)
            return -1;
        /* acquire: the consumer has freed the slots below head */
        h = cbr_load_u64(&r->head, CBR_ACQUIRE);
        /* relaxed: ordered by the tail load; atomic because init may rewrite a reused ring */
        if (*t - h > cbr_load_u64(&r->mask, CBR_RELAXED)) {
            /* acquire: as above; a moved tail means ours was stale, not that the ring is full */
            uint64_t fresh = cbr_load_u64(&r->tail, CBR_ACQUIRE);
            if (fresh == *t)
                return 0;
            *t = fresh;
            continue;
        }
        /* seq_cst: orders the claim before our load of waiting (Dekker); acquire on failure as above */
        if (cbr_cas_u64(&r->tail, t, *t + 1, CBR_SEQ_CST, CBR_ACQUIRE))
            return 1;
    }
}

/* Claims only with room and pushes: CBR_PUSHED, CBR_LATE (counted), or -1
 * when the ring is full. */
CBR_INLINE int cbr_ring_push_if_room_(cbr_ring *r, const cbr_record *rec)
{
    uint64_t t;
    int claimed = cbr_ring_claim_if_room_(r, &t);
    if (claimed > 0) {
        cbr_ring_wake_(r);
        /* head has passed t - capacity, so the slot is free for t */
        cbr_ring_publish_(&r->slots[t & r->mask], t, rec);
        return CBR_PUSHED;
    }
    if (claimed < 0) {
        /* relaxed: a statistic; touches only the struct, which outlives close */
        cbr_fetch_add_u64(&r->late, 1, CBR_RELAXED);
        return CBR_LATE;
    }
    return -1;
}

/* Pushes one record.  Never blocks, allocates or makes a system call unless
 * the ring is full (and then only as its policy says) or a consumer sleeps. */
CBR_INLINE int cbr_ring_push(cbr_ring *r, const cbr_record *rec)
{
    uint64_t t;
    cbr_record *slot;
    int result;

    /* relaxed: a setting; either value gives a correct push */
    if (cbr_load_u32(&r->policy, CBR_RELAXED) != CBR_OVERFLOW_SPILL) {
        result = cbr_ring_push_if_room_(r, rec);
        return result >= 0 ? result : cbr_ring_full_(r, rec);
    }
    /* seq_cst: orders the claim before our load of waiting (Dekker), and acquires init's stores */
    t = cbr_fetch_add_u64(&r->tail, 1, CBR_SEQ_CST);
    if (t & CBR_RING_CLOSED) {
        /* relaxed: a statistic; touches only the struct, which outlives close */
        cbr_fetch_add_u64(&r->late, 1, CBR_RELAXED);
        return CBR_LATE;
    }
    slot = &r->slots[t & r->mask];
    /* acquire: the consumer's read of the slot's previous record is finished */
    if (cbr_load_u32(&slot->seq, CBR_ACQUIRE) != (uint32_t)t)
        return cbr_ring_overflow_(r, t, rec);
    cbr_ring_wake_(r);
    cbr_ring_publish_(slot, t, rec);
    return CBR_PUSHED;
}

/* Position t is claimed but its slot is busy: resolve it through the
 * overflow stack.  Without memory, wait for the slot instead: the one case
 * where "spill" blocks.  If the ring closes while it waits, the record is
 * dropped and counted, and its position abandoned for close() and drain. */
CBR_COLD int cbr_ring_overflow_(cbr_ring *r, uint64_t t, const cbr_record *rec)
{
    cbr_spill_node *node = (cbr_spill_node *)CBR_MALLOC(sizeof *node);
    cbr_record *slot = &r->slots[t & r->mask];
    void *top;
    unsigned round = 0;

    cbr_ring_wake_(r);
    if (node == NULL) {
        /* acquire: as in cbr_ring_push */
        while (cbr_load_u32(&slot->seq, CBR_ACQUIRE) != (uint32_t)t) {
            /* relaxed: close() will not drain, so waiting longer cannot help */
            if (cbr_load_u64(&r->tail, CBR_RELAXED) & CBR_RING_CLOSED) {
                /* relaxed: a statistic, ordered before the release below */
                cbr_fetch_add_u64(&r->dropped, 1, CBR_RELAXED);
                /* release: our last access to ring memory; close() counts t as resolved */
                cbr_fetch_add_u64(&r->abandoned, 1, CBR_RELEASE);
                return CBR_DROPPED;
            }
            cbr_backoff(round < 64 ? round++ : round);
        }
        cbr_ring_publish_(slot, t, rec);
        return CBR_PUSHED;
    }
    node->pos = t;
    node->rec = *rec;
    node->rec.seq = 0;
    node->rec.flags |= CBR_FLAG_SPILLED;
    /* relaxed: a statistic; before the node resolves t, so close() covers it */
    cbr_fetch_add_u64(&r->spilled, 1, CBR_RELAXED);
    /* relaxed: the CAS validates it */
    top = cbr_load_ptr(&r->spill, CBR_RELAXED);
    do {
        node->next = (cbr_spill_node *)top;
        /* release: publishes the node to the consumer's acquire exchange; resolves t */
    } while (!cbr_cas_ptr(&r->spill, &top, node, CBR_RELEASE, CBR_RELAXED));
    return CBR_SPILLED;
}

/* "drop" and "block" found the ring full: with the count of deciding
 * producers raised, so that close() waits for the verdict, claims again
 * (under "block" until block_ns has passed), then drops. */
CBR_COLD int cbr_ring_full_decide_(cbr_ring *r, const cbr_record *rec)
{
    uint64_t deadline = 0;
    unsigned round = 0;
    int result;

    /* relaxed: a setting */
    if (cbr_load_u32(&r->policy, CBR_RELAXED) != CBR_OVERFLOW_BLOCK) {
        if ((result = cbr_ring_push_if_room_(r, rec)) >= 0)
            return result;
    } else {
        for (;;) {
            if (round == 16)
                /* relaxed: a setting */
                deadline = cbr_now_ns() + cbr_load_u64(&r->block_ns, CBR_RELAXED);
            else if (round > 16 && cbr_now_ns() >= deadline)
                break;
            cbr_backoff(round < 64 ? round++ : round);
            if ((result = cbr_ring_push_if_room_(r, rec)) >= 0)
                return result;
        }
    }
    /* relaxed: a statistic, ordered before the release that ends the decision */
    cbr_fetch_add_u64(&r->dropped, 1, CBR_RELAXED);
    return CBR_DROPPED;
}

CBR_COLD int cbr_ring_full_(cbr_ring *r, const cbr_record *rec)
{
    int result;
    /* seq_cst: raised before our load of tail below; close() closes tail, then loads
     * deciding (Dekker): it sees us, or we see the ring closed */
    cbr_fetch_add_u32(&r->deciding, 1, CBR_SEQ_CST);
    /* seq_cst: as above */
    if (cbr_load_u64(&r->tail, CBR_SEQ_CST) & CBR_RING_CLOSED) {
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->late, 1, CBR_RELAXED);
        result = CBR_LATE;
    } else {
        result = cbr_ring_full_decide_(r, rec);
    }
    /* release: our counts and writes happen before close() sees the count drop */
    cbr_fetch_sub_u32(&r->deciding, 1, CBR_RELEASE);
    return result;
}

/* Consumer: the positions claimed so far and not yet drained. */
static inline uint64_t cbr_ring_claimed_(cbr_ring *r, cbr_order order)
{
    uint64_t t = cbr_load_u64(&r->tail, order);
    return ((t & CBR_RING_CLOSED) ? r->end : t) - r->head;
}

/* Sorts a list of overflow nodes by position: bottom-up merge sort, for
 * the rare list that producers pushed out of order. */
static inline cbr_spill_node *cbr_ring_sort_nodes_(cbr_spill_node *list)
{
    size_t width;
    for (width = 1;; width *= 2) {
        cbr_spill_node *p = list, *out = NULL, **tailp = &out;
        size_t merges = 0;
        while (p) {
            cbr_spill_node *q = p;
            size_t psize = 0, qsize = width, i;
            merges++;
            for (i = 0; i < width && q; i++) {
                psize++;
                q = q->next;
            }
            while (psize > 0 || (qsize > 0 && q)) {
                cbr_spill_node *e;
                if (psize == 0) { e = q; q = q->next; qsize--; }
                else if (qsize == 0 || !q || p->pos <= q->pos) { e = p; p = p->next; psize--; }
                else { e = q; q = q->next; qsize--; }
                *tailp = e;
                tailp = &e->next;
            }
            p = q;
        }
        *tailp = NULL;
        list = out;
        if (merges <= 1)
            return list;
    }
}

/* Consumer: merges a sorted, non-empty list (last is its last node) into
 * the backlog.  Appending is the common case. */
static inline void cbr_ring_merge_backlog_(cbr_ring *r, cbr_spill_node *list, cbr_spill_node *last)
{
    cbr_spill_node *merged = NULL, **tailp = &merged, *a = r->backlog;
    if (a == NULL) {
        r->backlog = list;
        r->backlog_last = last;
        return;
    }
    if (r->backlog_last->pos < list->pos) {
        r->backlog_last->next = list;
        r->backlog_last = last;
        return;
    }
    while (a && list) {
        if (a->pos <= list->pos) { *tailp = a; a = a->next; }
        else { *tailp = list; list = list->next; }
        tailp = &(*tailp)->next;
    }
    *tailp = a ? a : list;
    r->backlog = merged;
    for (last = *tailp; last->next; last = last->next) {}
    r->backlog_last = last;
}

/* Consumer: moves the overflow stack into the backlog, keeping it sorted
 * by position.  The stack is newest first, so reversing it usually sorts
 * it, and its positions usually follow the backlog's: the common case is
 * linear in what was taken.  Returns 1 if anything was taken. */
static inline int cbr_ring_take_spill_(cbr_ring *r)
{
    cbr_spill_node *top, *list = NULL, *last, *n, **bucket;
    uint64_t lo = UINT64_MAX, hi = 0, count = 0, i;
    int sorted = 1;

    /* relaxed: a cheap look before the exchange */
    if (cbr_load_ptr(&r->spill, CBR_RELAXED) == NULL)
        return 0;
    /* acquire: the nodes' contents, released by their producers' CAS */
    top = (cbr_spill_node *)cbr_exchange_ptr(&r->spill, NULL, CBR_ACQUIRE);
    last = top;
    while (top) {
        n = top->next;
        if (list && top->pos > list->pos)
            sorted = 0;
        lo = top->pos < lo ? top->pos : lo;
        hi = top->pos > hi ? top->pos : hi;
        count++;
        top->next = list;
        list = top;
        top = n;
    }
    if (!sorted) {
        /* Positions are unique and, with several producers, only locally out
         * of order over a span not much wider than the list: placing each
         * node by position is linear, where a merge sort of millions of
         * nodes takes seconds of pointer chasing. */
        bucket = hi - lo < 8 * count + 4096
            ? (cbr_spill_node **)calloc((size_t)(hi - lo + 1), sizeof *bucket) : NULL;
        if (bucket) {
            for (n = list; n; n = n->next)
                bucket[n->pos - lo] = n;
            list = last = NULL;
            for (i = hi - lo + 1; i-- > 0; ) {
                if ((n = bucket[i]) == NULL)
                    continue;
                if (last == NULL)
                    last = n;
                n->next = list;
                list = n;
            }
            free(bucket);
        } else {
            list = cbr_ring_sort_nodes_(list);
            for (last = list; last->next; last = last->next) {}
        }
    }
    cbr_ring_merge_backlog_(r, list, last);
    return 1;
}

/* Consumer: copies up to max records, in position order, into out and
 * returns how many.  Stops early at a position whose producer has claimed
 * it but not yet written it. */
static inline size_t cbr_ring_drain(cbr_ring *r, cbr_record *out, size_t max)
{
    uint64_t h = r->head, cap = r->mask + 1;
    size_t n = 0;
    /* relaxed: a statistic */
    uint64_t waiting = cbr_ring_claimed_(r, CBR_RELAXED);

    if (waiting > r->high_water)
        /* relaxed: a statistic that stats may read from another thread */
        cbr_store_u64(&r->high_water, waiting, CBR_RELAXED);
    while (n < max) {
        cbr_record *slot = &r->slots[h & r->mask];
        /* acquire: pairs with the producer's publishing store */
        if (cbr_load_u32(&slot->seq, CBR_ACQUIRE) == (uint32_t)(h + 1)) {
            memcpy(&out[n], slot, sizeof *slot);
        } else {
            cbr_spill_node *node = r->backlog;
            if ((node == NULL || node->pos != h) && cbr_ring_take_spill_(r))
                node = r->backlog;
            if (node == NULL || node->pos != h) {
                /* after close, an unresolved position was abandoned (counted as dropped) */
                if (r->quiescent && h < r->end) {
                    h++;
                    continue;
                }
                break;
            }
            out[n] = node->rec;
            if ((r->backlog = node->next) == NULL)
                r->backlog_last = NULL;
            CBR_FREE(node);
        }
        /* release: our read of the slot happens before the next lap's producer writes it */
        cbr_store_u32(&slot->seq, (uint32_t)(h + cap), CBR_RELEASE);
        h++;
        n++;
    }
    if (h != r->head) {
        /* release: for claimers that check room against head */
        cbr_store_u64(&r->head, h, CBR_RELEASE);
        /* relaxed: a statistic that stats may read from another thread */
        cbr_store_u64(&r->drained, r->drained + n, CBR_RELAXED);
    }
    return n;
}

/* Consumer: the next drain will return at least one record.  After close,
 * skips positions that were abandoned, as drain does, so that one cannot
 * hide the records behind it. */
static inline int cbr_ring_ready(cbr_ring *r)
{
    for (;;) {
        uint64_t h = r->head;
        /* acquire: pairs with the producer's publishing store */
        if (cbr_load_u32(&r->slots[h & r->mask].seq, CBR_ACQUIRE) == (uint32_t)(h + 1))
            return 1;
        if (r->backlog == NULL || r->backlog->pos != h)
            cbr_ring_take_spill_(r);
        if (r->backlog != NULL && r->backlog->pos == h)
            return 1;
        if (!(r->quiescent && h < r->end))
            return 0;
        /* release: as in drain; nothing was read from the abandoned position */
        cbr_store_u64(&r->head, h + 1, CBR_RELEASE);
    }
}

/* Consumer: a position has been claimed and not drained, or a producer
 * has work on the overflow stack.  What a sleeper must check. */
static inline int cbr_ring_pending(cbr_ring *r)
{
    /* seq_cst: after the consumer's seq_cst store of waiting, pairs with the producers' claim (Dekker) */
    return cbr_ring_claimed_(r, CBR_SEQ_CST) != 0;
}

/* Consumer: how many records drain could return now, counting claimed
 * positions whose records are still being written. */
static inline uint64_t cbr_ring_size_hint(cbr_ring *r)
{
    /* relaxed: a hint */
    return cbr_ring_claimed_(r, CBR_RELAXED);
}

/* Consumer: how many positions in [head, end) are resolved, in their
 * slot or on the overflow stack (which it moves into the backlog). */
static inline uint64_t cbr_ring_resolved_(cbr_ring *r, uint64_t end)
{
    uint64_t p, resolved = 0;
    cbr_spill_node *node;
    for (p = r->head; p < end; p++)
        /* acquire: the producer's writes to the slot happen before */
        resolved += cbr_load_u32(&r->slots[p & r->mask].seq, CBR_ACQUIRE) == (uint32_t)(p + 1);
    cbr_ring_take_spill_(r);
    for (node = r->backlog; node && node->pos < end; node = node->next)
        resolved++;
    return resolved;
}

/* Consumer: refuses further pushes, then waits until every position
 * claimed before is resolved, in its slot or on the overflow stack: a
 * producer's last access to ring memory is what resolves its position.
 * What was pushed stays drainable.  Idempotent. */
static inline void cbr_ring_close(cbr_ring *r)
{
    uint64_t t;
    unsigned round = 0;

    /* seq_cst: before our load of deciding below (Dekker, see cbr_ring_full_); tail's
     * modification order splits claims into before and after the close, and what
     * earlier claimers wrote is acquired below, position by position */
    t = cbr_fetch_or_u64(&r->tail, CBR_RING_CLOSED, CBR_SEQ_CST);
    if (t & CBR_RING_CLOSED)
        return;
    /* release: stats, on any thread, waits for it once it sees the ring closed */
    cbr_store_u64(&r->end, t, CBR_RELEASE);
    /* acquire: an abandoning producer's last access to ring memory happens before */
    while (cbr_ring_resolved_(r, t) + cbr_load_u64(&r->abandoned, CBR_ACQUIRE) != t - r->head)
        cbr_backoff(round < 64 ? round++ : round);
    /* seq_cst: after closing tail (Dekker); acquire: the deciders' counts happen before */
    while ((int32_t)cbr_load_u32(&r->deciding, CBR_SEQ_CST) > 0)
        cbr_backoff(round < 64 ? round++ : round);
    r->quiescent = 1;
}

/* Consumer, in the child of fork(), before anything else touches r.  Only
 * the forking thread exists in the child, so a position that a producer of
 * the parent had claimed and not yet resolved never will be, and close()
 * would wait for it forever.  Closes the ring at once, abandons those
 * positions, and closes the child's copy of the wake-up descriptor, which
 * it would otherwise share with the parent (a read here would take the
 * parent's wake-up).  The consumer must not have been mid-operation at the
 * fork (hold its lock across the fork).  Records complete at the fork stay
 * in memory until cbr_ring_destroy(). */
static inline void cbr_ring_close_in_child(cbr_ring *r)
{
    /* relaxed (all): no other thread exists in this process */
    uint64_t t = cbr_fetch_or_u64(&r->tail, CBR_RING_CLOSED, CBR_RELAXED), end = t;

    if (!((t & CBR_RING_CLOSED) && r->quiescent)) {
        if (t & CBR_RING_CLOSED) {
            /* the parent was closing it; end may not have been stored yet */
            end = cbr_load_u64(&r->end, CBR_RELAXED);
            if (end == CBR_RING_NO_END)
                end = t & ~CBR_RING_CLOSED;
        }
        cbr_store_u64(&r->end, end, CBR_RELAXED);
        /* nothing was skipped before quiescent, so every abandoned position is in [head, end) */
        cbr_store_u64(&r->abandoned, end - r->head - cbr_ring_resolved_(r, end), CBR_RELAXED);
        cbr_store_u32(&r->deciding, 0, CBR_RELAXED);
        r->quiescent = 1;
    }
    cbr_wakeup_close(&r->wake);
}

static inline int cbr_ring_closed(const cbr_ring *r)
{
    /* relaxed: a status report, not a synchronisation */
    return (cbr_load_u64(&r->tail, CBR_RELAXED) & CBR_RING_CLOSED) != 0;
}

/* Consumer: frees what init allocated and what was never drained.  Only
 * after cbr_ring_close(). */
static inline void cbr_ring_destroy(cbr_ring *r)
{
    cbr_spill_node *n;
    cbr_ring_take_spill_(r);
    for (n = r->backlog; n; ) {
        cbr_spill_node *next = n->next;
        CBR_FREE(n);
        n = next;
    }
    r->backlog = r->backlog_last = NULL;
    free(r->slots);
    r->slots = NULL;
    cbr_wakeup_close(&r->wake);
}

/* Consumer: asks for a signal on wake.rfd.  Returns 1 if the caller may
 * sleep on it, 0 if something is pending (the request is then withdrawn). */
static inline int cbr_ring_arm(cbr_ring *r)
{
    /* seq_cst: ordered before pending()'s load (store-load), pairs with the producers' claim */
    cbr_store_u32(&r->waiting, 1, CBR_SEQ_CST);
    if (!cbr_ring_pending(r))
        return 1;
    /* relaxed: if a producer took the request first, its signal is harmless */
    cbr_store_u32(&r->waiting, 0, CBR_RELAXED);
    return 0;
}

/* Consumer: withdraws a request made by cbr_ring_arm. */
static inline void cbr_ring_disarm(cbr_ring *r)
{
    /* relaxed: no data hangs on it; a producer that took the flag first just signals */
    cbr_store_u32(&r->waiting, 0, CBR_RELAXED);
}

/* Consumer, in notify mode, after each drain: leaves wake.rfd readable if
 * anything is pending or the ring is closed (a reader must learn that),
 * else arms it so that the next push makes it readable. */
static inline void cbr_ring_notify_rearm(cbr_ring *r)
{
    unsigned round;
    if (cbr_ring_closed(r)) {
        cbr_wakeup_signal(&r->wake);
        return;
    }
    /* A producer between its claim and its publish has already looked for a
     * sleeper, so nobody would signal for it: wait the few stores it needs
     * (briefly, in case it was preempted) rather than report it spuriously. */
    for (round = 0; !cbr_ring_arm(r); round++) {
        if (round == 24 || cbr_ring_ready(r)) {
            cbr_wakeup_signal(&r->wake);
            return;
        }
        cbr_backoff(round);
    }
}

/* Consumer, in notify mode, before each drain: consumes the readiness. */
static inline void cbr_ring_notify_clear(cbr_ring *r)
{
    cbr_ring_disarm(r);
    cbr_wakeup_clear(&r->wake);
}

/* Consumer: waits up to timeout_ms (negative: forever) for records to be
 * ready.  Returns 1 when ready, 0 on timeout or when a closed ring has
 * nothing left. */
static inline int cbr_ring_wait(cbr_ring *r, int timeout_ms)
{
    uint64_t start = cbr_now_ns();
    unsigned round = 0, spin = 0;
    int ready = 0;

    for (;;) {
        int64_t left_ms = -1;
        if (cbr_ring_ready(r)) {
            ready = 1;
            break;
        }
        if (timeout_ms >= 0) {
            left_ms = (int64_t)timeout_ms - (int64_t)((cbr_now_ns() - start) / 1000000u);
            if (left_ms <= 0)
                break;
        }
        /* A consumer that keeps up finds the ring empty after most batches;
         * look again for a few microseconds before asking a producer to pay
         * a system call for the next record. */
        if (spin < 20) {
            cbr_backoff(spin++);
            continue;
        }
        if (!cbr_ring_arm(r)) {
            /* claimed, not yet written: the producer is a few stores or a malloc away */
            cbr_backoff(round < 40 ? round++ : round);
            continue;
        }
        if (cbr_ring_closed(r)) {
            cbr_ring_disarm(r);
            break;
        }
        round = spin = 0;
        if (cbr_wakeup_poll(&r->wake, (int)left_ms))
            cbr_wakeup_clear(&r->wake);
        cbr_ring_disarm(r);
    }
    if (r->notify)
        cbr_ring_notify_rearm(r);
    return ready;
}

/* A snapshot, from any thread; exact once producers have stopped. */
static inline void cbr_ring_get_stats(cbr_ring *r, cbr_ring_stats *s)
{
    /* acquire: a closed tail makes close()'s store of end, or init's NO_END, visible */
    uint64_t t = cbr_load_u64(&r->tail, CBR_ACQUIRE), end = t;
    unsigned round = 0;

    if (t & CBR_RING_CLOSED) {
        /* acquire: as above; close() stores it right after closing tail */
        while ((end = cbr_load_u64(&r->end, CBR_ACQUIRE)) == CBR_RING_NO_END)
            cbr_backoff(round < 40 ? round++ : round);
    }
    /* relaxed (the rest): statistics, each exact by itself once producers stop */
    s->pushed = end - r->base - cbr_load_u64(&r->abandoned, CBR_RELAXED);
    s->drained = cbr_load_u64(&r->drained, CBR_RELAXED);
    s->dropped = cbr_load_u64(&r->dropped, CBR_RELAXED);
    s->spilled = cbr_load_u64(&r->spilled, CBR_RELAXED);
    s->late = cbr_load_u64(&r->late, CBR_RELAXED);
    s->capacity = r->mask + 1;
    {
        /* relaxed: statistics; what waits now counts as seen, without a drain.  head
         * is read after tail, so a drain meanwhile may have taken it past end */
        uint64_t h = cbr_load_u64(&r->head, CBR_RELAXED), waiting = end > h ? end - h : 0;
        uint64_t seen = cbr_load_u64(&r->high_water, CBR_RELAXED);
        s->high_water = waiting > seen ? waiting : seen;
    }
    s->wakeups = cbr_load_u64(&r->wakeups, CBR_RELAXED);
}

#endif /* CBRING_RING_H */
