/* A bounded multi-producer, single-consumer ring of cbr_records.
 *
 * Producers claim a position by compare-and-swap on `tail`, write the record
 * into its slot and publish it by storing the slot's `seq` (position + 1)
 * with release order.  The single consumer copies the published run that
 * starts at `head` and hands the slots back by advancing `head` with release
 * order.  A producer checks for room against `head` before it claims, so it
 * never reads a slot before its claim: that is what lets close() wait for
 * exactly the claimed positions and then free the slots.
 *
 * Ordering.  Claims are totally ordered by the CAS on tail, and the consumer
 * emits in position order, stopping at the first unpublished slot; a push
 * that completed before another began therefore claimed the lower position.
 * With the "spill" policy, a full ring pushes records onto a lock-free
 * overflow stack, and while that stack is non-empty every push goes there
 * too.  The consumer moves the stack into its own backlog only when it has
 * drained every claimed position, and emits the backlog before the ring.
 * So overflowed records come out after every record that was in the ring
 * before them and before every record pushed after them.
 *
 * Wake-ups.  A consumer about to sleep stores waiting = 1 and re-checks for
 * claimed work; a producer loads waiting after its claim.  Both sides use
 * seq_cst, so at least one of them sees the other (the store-load handshake
 * of Dekker's algorithm), and only the producer that takes the flag back to
 * 0 makes the system call: one wake-up per sleep, none under load.
 *
 * Lifetime.  The struct itself must outlive every producer that may still
 * call push; after cbr_ring_close() such calls are counted as late and touch
 * only the struct, never the slots.  cbr_ring_destroy() frees the slots, the
 * overflow nodes and the descriptor; call it once, after close.
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

#define CBR_RING_CLOSED (UINT64_C(1) << 63)
#define CBR_RING_MAX_CAPACITY (UINT64_C(1) << 24)

enum cbr_overflow {
    CBR_OVERFLOW_SPILL = 0,  /* full: onto the overflow list, nothing lost */
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
    cbr_record rec;
} cbr_spill_node;

typedef struct cbr_ring_stats {
    uint64_t pushed;      /* accepted: into the ring or the overflow list */
    uint64_t drained;     /* handed to the consumer */
    uint64_t dropped;     /* refused because the ring was full (and, for spill, no memory) */
    uint64_t spilled;     /* of pushed, how many went through the overflow list */
    uint64_t late;        /* pushes after close, discarded */
    uint64_t capacity;
    uint64_t high_water;  /* most records in the ring at once, seen by a producer */
    uint64_t wakeups;     /* system calls producers made to wake the consumer */
} cbr_ring_stats;

typedef struct cbr_ring {
    /* Written by every claim. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t tail;  /* next position to claim, | CBR_RING_CLOSED */
    void *spill;                               /* cbr_spill_node stack, newest first */
    uint32_t slow_inflight;                    /* producers inside a slow path */

    /* Written by producers only on slow paths or when the high water rises. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t dropped;
    uint64_t late;
    uint64_t spilled;
    uint64_t wakeups;
    uint64_t high_water;

    /* Written by the consumer about once a batch, read by every producer. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t head;
    uint32_t waiting;

    /* Set by init; read-only while producers run. */
    CBR_ALIGNED(CBR_CACHELINE) cbr_record *slots;
    uint64_t mask;
    uint64_t base;        /* tail at init: pushed = tail - base + spilled */
    uint64_t block_ns;
    uint32_t policy;
    cbr_wakeup wake;

    /* The consumer's own. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t drained;
    cbr_spill_node *backlog;  /* taken from the overflow stack, oldest first */
    uint64_t backlog_len;
    uint32_t notify;          /* keep wake.rfd readable while anything is pending */
} cbr_ring;

/* Rounds up to a power of two; 0 for 0 or anything over the maximum. */
static inline uint64_t cbr_ring_round_capacity(uint64_t want)
{
    uint64_t c = 1;
    if (want == 0 || want > CBR_RING_MAX_CAPACITY)
        return 0;
    while (c < want)
        c <<= 1;
    return c;
}

/* Prepares r for use; capacity must come from cbr_ring_round_capacity.
 * `base` is the first position: a ring struct that is reused must start at
 * its previous tail, so a producer that read the old tail can never win a
 * claim on the new ring.  Returns 0, ENOMEM, or the descriptor's error. */
static inline int cbr_ring_init(cbr_ring *r, uint64_t capacity, enum cbr_overflow policy,
                         uint64_t block_ns, uint64_t base)
{
    uint64_t i;
    int err;
    cbr_record *slots;

    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || capacity > CBR_RING_MAX_CAPACITY)
        return EINVAL;
    slots = (cbr_record *)calloc((size_t)capacity, sizeof(cbr_record));
    if (slots == NULL)
        return ENOMEM;
    /* Each slot starts one lap behind the position that will first use it,
     * so no stale stamp can equal the stamp the consumer waits for. */
    for (i = 0; i < capacity; i++) {
        uint64_t p = base + i;
        slots[p & (capacity - 1)].seq = (uint32_t)(p + 1 - capacity);
    }
    if ((err = cbr_wakeup_open(&r->wake)) != 0) {
        free(slots);
        return err;
    }
    r->slots = slots;
    /* relaxed: published by the release stores of head and tail below */
    cbr_store_u64(&r->mask, capacity - 1, CBR_RELAXED);
    r->base = base;
    r->block_ns = block_ns;
    cbr_store_u32(&r->policy, (uint32_t)policy, CBR_RELAXED);
    r->backlog = NULL;
    r->backlog_len = 0;
    r->notify = 0;
    cbr_store_u64(&r->drained, 0, CBR_RELAXED);
    cbr_store_u64(&r->dropped, 0, CBR_RELAXED);
    cbr_store_u64(&r->late, 0, CBR_RELAXED);
    cbr_store_u64(&r->spilled, 0, CBR_RELAXED);
    cbr_store_u64(&r->wakeups, 0, CBR_RELAXED);
    cbr_store_u64(&r->high_water, 0, CBR_RELAXED);
    cbr_store_u32(&r->waiting, 0, CBR_RELAXED);
    cbr_store_u32(&r->slow_inflight, 0, CBR_RELAXED);
    cbr_store_ptr(&r->spill, NULL, CBR_RELAXED);
    /* release: a producer that acquires the new head also sees slots and mask */
    cbr_store_u64(&r->head, base, CBR_RELEASE);
    /* release: opens the ring; a claim's CAS reads this value and acquires everything above */
    cbr_store_u64(&r->tail, base, CBR_RELEASE);
    return 0;
}

static inline uint64_t cbr_ring_capacity(const cbr_ring *r) { return r->mask + 1; }

/* Changes the overflow policy; pushes already on a slow path may still use
 * the old one.  Records spilled under "spill" keep their place in order. */
static inline void cbr_ring_set_policy(cbr_ring *r, enum cbr_overflow policy)
{
    /* relaxed: the policy is a setting, not a synchronisation */
    cbr_store_u32(&r->policy, (uint32_t)policy, CBR_RELAXED);
}

CBR_COLD void cbr_ring_wake_slow(cbr_ring *r)
{
    /* acq_rel: exactly one producer takes the consumer's request; the system call follows */
    if (cbr_exchange_u32(&r->waiting, 0, CBR_ACQ_REL)) {
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->wakeups, 1, CBR_RELAXED);
        cbr_wakeup_signal(&r->wake);
    }
}

/* Fills and publishes the slot of claimed position t.  The publishing store
 * is the last access to ring memory: close() waits for it. */
CBR_INLINE void cbr_ring_fill_(cbr_ring *r, uint64_t t, uint64_t h, const cbr_record *rec)
{
    cbr_record *slot = &r->slots[t & r->mask];
    uint64_t occupied = t + 1 - h;

    memcpy(slot, rec, offsetof(cbr_record, seq));
    memcpy(&slot->status, &rec->status, sizeof(cbr_record) - offsetof(cbr_record, status));
    /* relaxed: a statistic; rises rarely once the ring has been full once */
    if (occupied > cbr_load_u64(&r->high_water, CBR_RELAXED)) {
        uint64_t hw = cbr_load_u64(&r->high_water, CBR_RELAXED);
        while (occupied > hw
               && !cbr_cas_u64(&r->high_water, &hw, occupied, CBR_RELAXED, CBR_RELAXED)) {}
    }
    /* seq_cst: after our seq_cst claim, pairs with the consumer's store of waiting (Dekker) */
    if (cbr_load_u32(&r->waiting, CBR_SEQ_CST))
        cbr_ring_wake_slow(r);
    /* release: publishes the record to the consumer's acquire load of seq */
    cbr_store_u32(&slot->seq, (uint32_t)(t + 1), CBR_RELEASE);
}

/* One claim attempt against fresh values of tail and head.  Returns 1 when
 * position *t was claimed (head in *h), 0 when the ring is full, -1 when
 * it is closed. */
CBR_INLINE int cbr_ring_claim_(cbr_ring *r, uint64_t *t, uint64_t *h)
{
    /* acquire: a tail written by init makes init's head and mask visible */
    *t = cbr_load_u64(&r->tail, CBR_ACQUIRE);
    for (;;) {
        if (*t & CBR_RING_CLOSED)
            return -1;
        /* acquire: the consumer's reads of slots below head are finished */
        *h = cbr_load_u64(&r->head, CBR_ACQUIRE);
        /* relaxed: ordered by the tail load above; atomic because init may rewrite a reused ring */
        if (*t - *h > cbr_load_u64(&r->mask, CBR_RELAXED)) {
            /* acquire: as above */
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

CBR_COLD int cbr_ring_push_slow(cbr_ring *r, const cbr_record *rec);

/* Pushes one record.  Never blocks, allocates or makes a system call unless
 * the ring is full (and then only as its policy says) or a consumer sleeps. */
CBR_INLINE int cbr_ring_push(cbr_ring *r, const cbr_record *rec)
{
    uint64_t t, h;
    int claimed;

    /* acquire: a non-empty overflow stack diverts us, and a push that follows a spilled one must see it */
    if (cbr_load_ptr(&r->spill, CBR_ACQUIRE) != NULL)
        return cbr_ring_push_slow(r, rec);
    claimed = cbr_ring_claim_(r, &t, &h);
    if (claimed > 0) {
        cbr_ring_fill_(r, t, h, rec);
        return CBR_PUSHED;
    }
    if (claimed < 0) {
        /* relaxed: a statistic; touches only the struct, which outlives close */
        cbr_fetch_add_u64(&r->late, 1, CBR_RELAXED);
        return CBR_LATE;
    }
    return cbr_ring_push_slow(r, rec);
}

CBR_COLD int cbr_ring_spill_(cbr_ring *r, const cbr_record *rec)
{
    cbr_spill_node *node = (cbr_spill_node *)malloc(sizeof *node);
    void *top;

    if (node == NULL) {
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->dropped, 1, CBR_RELAXED);
        return CBR_DROPPED;
    }
    node->rec = *rec;
    node->rec.seq = 0;
    node->rec.flags |= CBR_FLAG_SPILLED;
    /* relaxed: the CAS validates it */
    top = cbr_load_ptr(&r->spill, CBR_RELAXED);
    do {
        node->next = (cbr_spill_node *)top;
        /* seq_cst: releases the node, and orders it before our load of waiting (Dekker) */
    } while (!cbr_cas_ptr(&r->spill, &top, node, CBR_SEQ_CST, CBR_RELAXED));
    /* relaxed: a statistic */
    cbr_fetch_add_u64(&r->spilled, 1, CBR_RELAXED);
    /* seq_cst: pairs with the consumer's store of waiting (Dekker) */
    if (cbr_load_u32(&r->waiting, CBR_SEQ_CST))
        cbr_ring_wake_slow(r);
    return CBR_SPILLED;
}

CBR_COLD int cbr_ring_push_slow(cbr_ring *r, const cbr_record *rec)
{
    uint64_t t, h, deadline = 0;
    unsigned round = 0;
    int result, claimed;

    /* seq_cst: pairs with close()'s fetch_or of CLOSED: either we see it, or close waits for us */
    cbr_fetch_add_u32(&r->slow_inflight, 1, CBR_SEQ_CST);
    for (;;) {
        /* acquire: as in cbr_ring_push; a record must not overtake a spilled one */
        if (cbr_load_ptr(&r->spill, CBR_ACQUIRE) != NULL) {
            /* seq_cst: after our inflight increment (see above) */
            if (cbr_load_u64(&r->tail, CBR_SEQ_CST) & CBR_RING_CLOSED)
                claimed = -1;
            else {
                result = cbr_ring_spill_(r, rec);
                break;
            }
        } else {
            claimed = cbr_ring_claim_(r, &t, &h);
        }
        if (claimed > 0) {
            cbr_ring_fill_(r, t, h, rec);
            result = CBR_PUSHED;
            break;
        }
        if (claimed < 0) {
            /* relaxed: a statistic */
            cbr_fetch_add_u64(&r->late, 1, CBR_RELAXED);
            result = CBR_LATE;
            break;
        }
        /* relaxed: the policy is a setting, not a synchronisation */
        switch (cbr_load_u32(&r->policy, CBR_RELAXED)) {
        case CBR_OVERFLOW_SPILL:
            result = cbr_ring_spill_(r, rec);
            goto out;
        case CBR_OVERFLOW_BLOCK:
            if (round == 16)
                deadline = cbr_now_ns() + r->block_ns;
            if (round < 16 || cbr_now_ns() < deadline) {
                cbr_backoff(round < 64 ? round++ : round);
                continue;
            }
            break;  /* waited long enough: drop */
        default:
            break;
        }
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->dropped, 1, CBR_RELAXED);
        result = CBR_DROPPED;
        break;
    }
out:
    /* release: our last access to the ring's memory happens before close() sees 0 */
    cbr_fetch_sub_u32(&r->slow_inflight, 1, CBR_RELEASE);
    return result;
}

/* Consumer: refuses further pushes and waits until every claimed position
 * is published and no producer is inside a slow path.  What was pushed
 * before stays drainable.  Idempotent. */
static inline void cbr_ring_close(cbr_ring *r)
{
    uint64_t t, p;
    unsigned round = 0;

    /* seq_cst: pairs with the slow path's inflight increment; release is not needed, nothing new is published */
    t = cbr_fetch_or_u64(&r->tail, CBR_RING_CLOSED, CBR_SEQ_CST);
    if (t & CBR_RING_CLOSED)
        return;
    /* seq_cst: see above; acquire would do for what follows, seq_cst is needed for the handshake */
    while (cbr_load_u32(&r->slow_inflight, CBR_SEQ_CST) != 0)
        cbr_backoff(round < 64 ? round++ : round);
    for (p = r->head; p < t; p++) {
        round = 0;
        /* acquire: the claimer's last write to the ring happens before */
        while (cbr_load_u32(&r->slots[p & r->mask].seq, CBR_ACQUIRE) != (uint32_t)(p + 1))
            cbr_backoff(round < 64 ? round++ : round);
    }
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
    cbr_spill_node *n = (cbr_spill_node *)cbr_exchange_ptr(&r->spill, NULL, CBR_ACQUIRE);
    while (n) {
        cbr_spill_node *next = n->next;
        free(n);
        n = next;
    }
    for (n = r->backlog; n; ) {
        cbr_spill_node *next = n->next;
        free(n);
        n = next;
    }
    r->backlog = NULL;
    r->backlog_len = 0;
    free(r->slots);
    r->slots = NULL;
    cbr_wakeup_close(&r->wake);
}

/* Consumer: a claim, a spill or a backlog exists that has not been drained.
 * Counts claimed-but-unpublished positions, so it is what a sleeper must check. */
static inline int cbr_ring_pending(cbr_ring *r)
{
    /* seq_cst: after the consumer's seq_cst store of waiting, pairs with the producers' claim and spill (Dekker) */
    return r->backlog != NULL
        || (cbr_load_u64(&r->tail, CBR_SEQ_CST) & ~CBR_RING_CLOSED) != r->head
        || cbr_load_ptr(&r->spill, CBR_SEQ_CST) != NULL;
}

/* Consumer: the next drain will return at least one record. */
static inline int cbr_ring_ready(cbr_ring *r)
{
    uint64_t h = r->head;
    if (r->backlog != NULL)
        return 1;
    /* acquire: pairs with the producer's publishing store */
    if (cbr_load_u32(&r->slots[h & r->mask].seq, CBR_ACQUIRE) == (uint32_t)(h + 1))
        return 1;
    /* acquire: the overflow stack can be taken once every claim is drained */
    return cbr_load_ptr(&r->spill, CBR_ACQUIRE) != NULL
        && (cbr_load_u64(&r->tail, CBR_ACQUIRE) & ~CBR_RING_CLOSED) == h;
}

/* Consumer: a cheap upper bound on what drain would return now, counting
 * the ring and the backlog but not the overflow stack. */
static inline uint64_t cbr_ring_size_hint(cbr_ring *r)
{
    /* relaxed: a hint */
    return r->backlog_len + ((cbr_load_u64(&r->tail, CBR_RELAXED) & ~CBR_RING_CLOSED) - r->head);
}

static inline size_t cbr_ring_take_backlog_(cbr_ring *r, cbr_record *out, size_t max)
{
    size_t n = 0;
    while (n < max && r->backlog != NULL) {
        cbr_spill_node *node = r->backlog;
        out[n++] = node->rec;
        r->backlog = node->next;
        r->backlog_len--;
        free(node);
    }
    return n;
}

/* Consumer: copies up to max records, oldest first, into out and returns
 * how many.  Stops early at a claimed position that is not yet published. */
static inline size_t cbr_ring_drain(cbr_ring *r, cbr_record *out, size_t max)
{
    size_t n = cbr_ring_take_backlog_(r, out, max);
    uint64_t h = r->head, k = 0;

    if (r->backlog == NULL) {
        while (n + k < max
               /* acquire: pairs with the producer's publishing store */
               && cbr_load_u32(&r->slots[(h + k) & r->mask].seq, CBR_ACQUIRE) == (uint32_t)(h + k + 1))
            k++;
        if (k) {
            uint64_t first = h & r->mask, run = r->mask + 1 - first;
            if (run > k)
                run = k;
            memcpy(out + n, r->slots + first, (size_t)run * sizeof(cbr_record));
            memcpy(out + n + run, r->slots, (size_t)(k - run) * sizeof(cbr_record));
            h += k;
            n += (size_t)k;
            /* release: our reads of these slots happen before a producer's reuse of them */
            cbr_store_u64(&r->head, h, CBR_RELEASE);
        }
        /* acquire (both): every claimed position is drained, and the nodes' contents are visible */
        if (n < max && cbr_load_ptr(&r->spill, CBR_ACQUIRE) != NULL
            && (cbr_load_u64(&r->tail, CBR_ACQUIRE) & ~CBR_RING_CLOSED) == h) {
            /* acquire: the nodes pushed before our exchange */
            cbr_spill_node *top = (cbr_spill_node *)cbr_exchange_ptr(&r->spill, NULL, CBR_ACQUIRE);
            cbr_spill_node *oldest = NULL;
            while (top) {
                cbr_spill_node *next = top->next;
                top->next = oldest;
                oldest = top;
                top = next;
                r->backlog_len++;
            }
            r->backlog = oldest;
            n += cbr_ring_take_backlog_(r, out + n, max - n);
        }
    }
    /* relaxed: only the consumer writes it; others read a statistic */
    cbr_store_u64(&r->drained, r->drained + n, CBR_RELAXED);
    return n;
}

/* Consumer: asks for a signal on wake.rfd.  Returns 1 if the caller may
 * sleep on it, 0 if something is pending (the request is then withdrawn). */
static inline int cbr_ring_arm(cbr_ring *r)
{
    /* seq_cst: ordered before pending()'s loads (store-load), pairs with the producers' claim */
    cbr_store_u32(&r->waiting, 1, CBR_SEQ_CST);
    if (!cbr_ring_pending(r))
        return 1;
    /* acq_rel: if a producer already took the request, its signal is on its way: leave it */
    cbr_exchange_u32(&r->waiting, 0, CBR_ACQ_REL);
    return 0;
}

/* Consumer: withdraws a request made by cbr_ring_arm. */
static inline void cbr_ring_disarm(cbr_ring *r)
{
    /* relaxed: no data hangs on it; a producer that took the flag first just signals */
    cbr_store_u32(&r->waiting, 0, CBR_RELAXED);
}

/* Consumer, in notify mode, after each drain: leaves wake.rfd readable if
 * anything is pending, else arms it so the next push makes it readable. */
static inline void cbr_ring_notify_rearm(cbr_ring *r)
{
    if (!cbr_ring_arm(r))
        cbr_wakeup_signal(&r->wake);
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
    unsigned round = 0;
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
        if (!cbr_ring_arm(r)) {
            /* claimed, not yet published: the producer is a few stores away */
            cbr_backoff(round < 40 ? round++ : round);
            continue;
        }
        if (cbr_ring_closed(r)) {
            cbr_ring_disarm(r);
            break;
        }
        round = 0;
        if (cbr_wakeup_poll(&r->wake, (int)left_ms))
            cbr_wakeup_clear(&r->wake);
        cbr_ring_disarm(r);
    }
    if (r->notify)
        cbr_ring_notify_rearm(r);
    return ready;
}

/* A snapshot; exact once producers have stopped. */
static inline void cbr_ring_get_stats(cbr_ring *r, cbr_ring_stats *s)
{
    /* relaxed (all): statistics, each exact by itself once producers stop */
    s->spilled = cbr_load_u64(&r->spilled, CBR_RELAXED);
    s->pushed = (cbr_load_u64(&r->tail, CBR_RELAXED) & ~CBR_RING_CLOSED) - r->base + s->spilled;
    s->drained = cbr_load_u64(&r->drained, CBR_RELAXED);
    s->dropped = cbr_load_u64(&r->dropped, CBR_RELAXED);
    s->late = cbr_load_u64(&r->late, CBR_RELAXED);
    s->capacity = r->mask + 1;
    s->high_water = cbr_load_u64(&r->high_water, CBR_RELAXED);
    s->wakeups = cbr_load_u64(&r->wakeups, CBR_RELAXED);
}

#endif /* CBRING_RING_H */
