/* A bounded multi-producer, single-consumer ring of cbr_records, with
 * overflow segments that keep the ring's order.
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
 * (the ring is a lap ahead of the consumer) the record goes into the
 * overflow segment of its block (position / CBR_RING_SEGMENT), at offset
 * position % CBR_RING_SEGMENT: a second home for every position, found by
 * arithmetic.  The consumer reads position after position, from its slot
 * or else from its segment cell, so there is nothing to sort or merge, and
 * a record costs it one more cache line when it overflowed.  Segments come
 * from a pool the consumer refills as it passes them (pages already
 * faulted), and are allocated only when a backlog grows past what the pool
 * holds: one allocation per CBR_RING_SEGMENT records, never one per
 * record.  A directory of CBR_RING_DIRECTORY entries maps blocks to
 * segments, so at most (CBR_RING_DIRECTORY - 1) * CBR_RING_SEGMENT
 * positions may wait past the consumer; a producer beyond that, or without
 * memory, waits for its ring slot instead (the one case where "spill"
 * blocks).  Under "drop" and "block" a producer claims only when it has
 * seen room (a compare-and-swap against `head`), so a position is never
 * left without a record.
 *
 * Segment lifetime.  A producer dereferences only the segment of a block
 * in which it holds an unresolved position, and the consumer recycles a
 * segment only after passing every position of its block, so no segment
 * is reused or freed under a producer.  A producer installs a segment only
 * after reading head and finding its position within the directory's
 * reach of it, and the consumer clears a block's entry before the head
 * store that passes the block: an entry therefore holds the segment of the
 * one block a producer may look for there, or nothing.
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
 * cbr_ring_destroy() may then free the slots, the overflow segments and
 * the descriptor.  It also waits for producers that found the ring full and are
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
#include "payload.h"
#include "record.h"
#include "wakeup.h"

/* Positions and byte counts are 64-bit: refuse 32-bit targets, as atomics.h
 * does on Windows, rather than let drain's size arithmetic wrap. */
#if SIZE_MAX < UINT64_MAX
#  error "cbring supports 64-bit targets only: positions and sizes must not wrap"
#endif

#define CBR_RING_CLOSED (UINT64_C(1) << 63)
#define CBR_RING_MIN_CAPACITY 2
#define CBR_RING_MAX_CAPACITY (UINT64_C(1) << 24)
#define CBR_RING_NO_END UINT64_MAX  /* end, until close() has published it */

/* Records per overflow segment: 64 KiB of records and one header line, so
 * the header and the allocator's overhead cost under 0.2 bytes a record. */
#define CBR_RING_SEGMENT_BITS 10
#define CBR_RING_SEGMENT (UINT64_C(1) << CBR_RING_SEGMENT_BITS)
/* Directory entries: 512 KiB of address space per ring, whose pages are
 * faulted in only as a backlog reaches them (8 bytes per 1024 records).
 * A test may shrink it to reach its limit. */
#ifndef CBR_RING_DIRECTORY_BITS
#  define CBR_RING_DIRECTORY_BITS 16
#endif
#define CBR_RING_DIRECTORY (UINT64_C(1) << CBR_RING_DIRECTORY_BITS)
/* A cell's stamp is its position + 1 modulo 2**32, so a stamp left by a
 * segment's earlier use could match again this many blocks later: a
 * segment's stamps are reset before it serves a block that far from the
 * first it served since the last reset. */
#define CBR_RING_STAMP_BLOCKS (UINT64_C(1) << (32 - CBR_RING_SEGMENT_BITS))
#define CBR_RING_SEGMENT_UNUSED UINT64_MAX  /* since, for stamps reset and no block served */
/* The pool keeps at least this many segments, and up to the ring's capacity in records. */
#define CBR_RING_POOL_MIN 16

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

/* The overflow home of CBR_RING_SEGMENT consecutive positions, a block. */
typedef struct cbr_segment {
    /* Written by whoever holds the segment: the pool's pusher, or the
     * producer that prepares it for a block; read-only once installed. */
    CBR_ALIGNED(CBR_CACHELINE) struct cbr_segment *next;  /* in the pool */
    void *raw;        /* what CBR_MALLOC returned */
    uint64_t block;   /* position >> CBR_RING_SEGMENT_BITS of the block it serves */
    uint64_t since;   /* first block served since its stamps were reset */
    /* One record a line, so producers writing neighbouring positions do not share one. */
    CBR_ALIGNED(CBR_CACHELINE) cbr_record cells[CBR_RING_SEGMENT];
} cbr_segment;

CBR_STATIC_ASSERT(offsetof(cbr_segment, cells) == CBR_CACHELINE, "a segment's header is one line");
CBR_STATIC_ASSERT(CBR_RING_SEGMENT_BITS < 32, "a cell's stamp tells its positions apart");
CBR_STATIC_ASSERT(CBR_RING_DIRECTORY_BITS >= 2 && CBR_RING_DIRECTORY_BITS + CBR_RING_SEGMENT_BITS < 32,
                  "the directory reaches past one block, and no two positions it holds share a 32-bit stamp");

typedef struct cbr_ring_stats {
    uint64_t pushed;      /* accepted: into the ring or an overflow segment */
    uint64_t drained;     /* handed to the consumer */
    uint64_t dropped;     /* refused because the ring was full */
    uint64_t spilled;     /* of pushed, how many went through overflow segments */
    uint64_t late;        /* pushes after close, discarded */
    uint64_t capacity;
    uint64_t high_water;  /* most records waiting at once, seen at a drain or a stats read */
    uint64_t wakeups;     /* system calls producers made to wake the consumer */
    uint64_t payloads_truncated;  /* of pushed, records that kept only the prefix of a payload
                                   * within CBR_PAYLOAD_MAX: the store was exhausted, or the
                                   * record was drained without a payload buffer */
} cbr_ring_stats;

typedef struct cbr_ring {
    /* Written by every claim. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t tail;  /* next position, | CBR_RING_CLOSED */

    /* Read by every push, written only when the consumer is about to sleep:
     * alone on its line, so that the consumer's stores of head do not take
     * it from the producers' caches after every drain. */
    CBR_ALIGNED(CBR_CACHELINE) uint32_t waiting;

    /* Written by producers only on slow paths. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t dropped;
    uint64_t late;
    uint64_t spilled;
    uint64_t wakeups;
    uint64_t abandoned;   /* positions given up after close (no memory, slot busy) */
    uint64_t payloads_truncated;  /* the consumer adds too, when drained without a payload buffer */
    uint32_t deciding;    /* producers in cbr_ring_full_ or with a payload: close() waits for them */

    /* The segment pool: producers take (one at a time, under pool_lock, so
     * that a pop never suffers ABA) and give back, the consumer gives. */
    CBR_ALIGNED(CBR_CACHELINE) void *pool;      /* cbr_segment stack */
    uint64_t pooled;      /* segments in the pool, about */
    uint32_t pool_lock;

    /* Written by the consumer about once a batch, read by producers. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t head;

    /* Payloads longer than data[] (payload.h): taken by producers, given back by the consumer. */
    cbr_payload_store payloads;

    /* Set by init; read-only while producers run (policy: a setting). */
    CBR_ALIGNED(CBR_CACHELINE) cbr_record *slots;
    void **dir;           /* cbr_segment pointers, CBR_RING_DIRECTORY of them: block & (CBR_RING_DIRECTORY - 1) */
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
    uint64_t pool_max;        /* segments the consumer keeps for reuse */
    uint32_t quiescent;       /* close() has returned: unresolved positions are abandoned */
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
    void **dir;

    if (capacity < CBR_RING_MIN_CAPACITY || (capacity & (capacity - 1)) != 0
        || capacity > CBR_RING_MAX_CAPACITY || (base & CBR_RING_CLOSED))
        return EINVAL;
    slots = (cbr_record *)calloc((size_t)capacity, sizeof(cbr_record));
    if (slots == NULL)
        return ENOMEM;
    /* large enough to be mapped on demand: untouched, it costs no memory */
    dir = (void **)calloc((size_t)CBR_RING_DIRECTORY, sizeof *dir);
    if (dir == NULL) {
        free(slots);
        return ENOMEM;
    }
    for (i = 0; i < capacity; i++) {
        uint64_t p = base + i;
        slots[p & (capacity - 1)].seq = (uint32_t)p;  /* free for its first position */
    }
    if ((err = cbr_payload_init(&r->payloads, capacity)) != 0) {
        free(dir);
        free(slots);
        return err;
    }
    if ((err = cbr_wakeup_open(&r->wake)) != 0) {
        cbr_payload_destroy(&r->payloads);
        free(dir);
        free(slots);
        return err;
    }
    r->slots = slots;
    r->dir = dir;
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
    r->notify = 0;
    r->pool_max = capacity >> CBR_RING_SEGMENT_BITS;
    if (r->pool_max < CBR_RING_POOL_MIN)
        r->pool_max = CBR_RING_POOL_MIN;
    /* relaxed (all): exchanges, so that a count a late producer adds now is kept */
    r->inherited_late = cbr_exchange_u64(&r->late, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->dropped, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->spilled, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->wakeups, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->abandoned, 0, CBR_RELAXED);
    cbr_exchange_u64(&r->payloads_truncated, 0, CBR_RELAXED);
    /* deciding is not reset: a producer of the previous ring may still be
     * deciding, and its decrement must find its own increment, or close()
     * would stop waiting for this ring's deciders; so r must be zeroed
     * (static, or memset) before its first init */
    cbr_store_u32(&r->waiting, 0, CBR_RELAXED);
    /* relaxed (all three): destroy emptied the pool, and no late producer reaches it */
    cbr_store_ptr(&r->pool, NULL, CBR_RELAXED);
    cbr_store_u64(&r->pooled, 0, CBR_RELAXED);
    cbr_store_u32(&r->pool_lock, 0, CBR_RELAXED);
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

/* cbr_ring_push, for a record whose CBR_FLAG_PAYLOAD (if set) names a
 * chain of the ring's payload store. */
CBR_INLINE int cbr_ring_push_(cbr_ring *r, const cbr_record *rec)
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

/* A caller's record that claims CBR_FLAG_PAYLOAD names no chain of ours:
 * pushed without the flag, so that the consumer never follows its result. */
CBR_COLD int cbr_ring_push_foreign_slow_(cbr_ring *r, const cbr_record *rec)
{
    cbr_record copy;
    memcpy(&copy, rec, sizeof copy);
    copy.flags = (uint16_t)(copy.flags & ~CBR_FLAG_PAYLOAD);
    return cbr_ring_push_(r, &copy);
}

/* Pushes one record.  Never blocks, allocates or makes a system call unless
 * the ring is full (and then only as its policy says) or a consumer sleeps.
 * CBR_FLAG_PAYLOAD is the ring's own (record.h): cleared if rec has it. */
CBR_INLINE int cbr_ring_push(cbr_ring *r, const cbr_record *rec)
{
    if (rec->flags & CBR_FLAG_PAYLOAD)
        return cbr_ring_push_foreign_slow_(r, rec);
    return cbr_ring_push_(r, rec);
}

CBR_COLD uint32_t cbr_ring_payload_exhausted_slow_(cbr_ring *r, uint32_t blocks);

/* Pushes a record whose information (keep bytes at info, more than data[]
 * holds) is to be kept whole: in a chain of the payload store, which the
 * record names.  The store is touched only with `deciding` raised, as by a
 * full producer, so that close() waits for this producer whatever it does
 * there, and destroy() cannot free the store under it; a late call sees
 * the ring closed and touches only the struct.  With the store exhausted,
 * "spill" adds blocks, "block" waits for some up to block_ns, "drop" (and
 * the others, failing) keeps the prefix, marked truncated and counted.  A
 * record that is dropped or late gives its blocks back. */
CBR_COLD int cbr_ring_push_payload_slow(cbr_ring *r, cbr_record *rec, const void *info, size_t keep)
{
    uint32_t blocks = cbr_payload_blocks(keep), first;
    int result;

    /* seq_cst: raised before our load of tail below; close() closes tail, then loads
     * deciding (Dekker): it waits for us, or we see the ring closed */
    cbr_fetch_add_u32(&r->deciding, 1, CBR_SEQ_CST);
    /* seq_cst: as above; and acquires init's stores, the store's included */
    if (cbr_load_u64(&r->tail, CBR_SEQ_CST) & CBR_RING_CLOSED) {
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->late, 1, CBR_RELAXED);
        result = CBR_LATE;
    } else {
        if ((first = cbr_payload_take(&r->payloads, blocks)) == CBR_PAYLOAD_NIL)
            first = cbr_ring_payload_exhausted_slow_(r, blocks);
        if (first == CBR_PAYLOAD_NIL) {
            rec->flags |= CBR_FLAG_TRUNCATED;
            result = cbr_ring_push_(r, rec);
            if (result == CBR_PUSHED || result == CBR_SPILLED)
                /* relaxed: a statistic, before deciding drops, so close() covers it */
                cbr_fetch_add_u64(&r->payloads_truncated, 1, CBR_RELAXED);
        } else {
            cbr_payload_write(&r->payloads, first, info, keep);
            rec->flags |= CBR_FLAG_PAYLOAD;
            rec->result = ((uint64_t)keep << 32) | first;
            result = cbr_ring_push_(r, rec);
            if (result == CBR_DROPPED || result == CBR_LATE)
                /* nobody else saw the chain: ours to give back */
                cbr_payload_read_and_give(&r->payloads, first, keep, NULL);
        }
    }
    /* release: our counts and our use of the store happen before close() sees the count drop */
    cbr_fetch_sub_u32(&r->deciding, 1, CBR_RELEASE);
    return result;
}

/* The store had no chain of this many blocks: under "spill" adds a chunk,
 * under "block" waits (until block_ns has passed, or the ring closes) for
 * the consumer to give some back.  Returns a chain or CBR_PAYLOAD_NIL. */
CBR_COLD uint32_t cbr_ring_payload_exhausted_slow_(cbr_ring *r, uint32_t blocks)
{
    uint64_t deadline = 0;
    unsigned round = 0;
    uint32_t first;

    /* relaxed: a setting */
    switch (cbr_load_u32(&r->policy, CBR_RELAXED)) {
    case CBR_OVERFLOW_SPILL:
        return cbr_payload_grow_slow(&r->payloads, blocks);
    case CBR_OVERFLOW_BLOCK:
        for (;;) {
            if (round == 16)
                /* relaxed: a setting */
                deadline = cbr_now_ns() + cbr_load_u64(&r->block_ns, CBR_RELAXED);
            else if (round > 16 && cbr_now_ns() >= deadline)
                return CBR_PAYLOAD_NIL;
            cbr_backoff(round < 64 ? round++ : round);
            if ((first = cbr_payload_take(&r->payloads, blocks)) != CBR_PAYLOAD_NIL)
                return first;
            /* relaxed: close() drains nothing, so waiting longer cannot help; the push says late */
            if (cbr_load_u64(&r->tail, CBR_RELAXED) & CBR_RING_CLOSED)
                return CBR_PAYLOAD_NIL;
        }
    default:
        return CBR_PAYLOAD_NIL;
    }
}

/* A fresh segment, its stamps reset (which faults in its pages here, not
 * under the producer that writes the first record), or NULL. */
CBR_COLD cbr_segment *cbr_segment_new_(void)
{
    void *raw = CBR_MALLOC(sizeof(cbr_segment) + CBR_CACHELINE - 1);
    cbr_segment *seg;
    uint64_t i;
    if (raw == NULL)
        return NULL;
    seg = (cbr_segment *)(((uintptr_t)raw + CBR_CACHELINE - 1) & ~(uintptr_t)(CBR_CACHELINE - 1));
    seg->raw = raw;
    seg->since = CBR_RING_SEGMENT_UNUSED;
    /* cell i holds positions whose stamp is i + 1 modulo CBR_RING_SEGMENT: i matches none */
    for (i = 0; i < CBR_RING_SEGMENT; i++)
        seg->cells[i].seq = (uint32_t)i;
    return seg;
}

static inline void cbr_segment_free_(cbr_segment *seg)
{
    CBR_FREE(seg->raw);
}

/* Puts a segment that nobody else holds into the pool. */
static inline void cbr_ring_pool_give_(cbr_ring *r, cbr_segment *seg)
{
    /* relaxed: the CAS validates it */
    void *top = cbr_load_ptr(&r->pool, CBR_RELAXED);
    do {
        seg->next = (cbr_segment *)top;
        /* release: our writes to the segment happen before its next holder's */
    } while (!cbr_cas_ptr(&r->pool, &top, seg, CBR_RELEASE, CBR_RELAXED));
    /* relaxed: a bound on memory kept, not a synchronisation */
    cbr_fetch_add_u64(&r->pooled, 1, CBR_RELAXED);
}

/* Producer: a segment from the pool, else a fresh one, else NULL.  One
 * producer pops at a time: with a single popper the top's next cannot
 * change under it (pushes only add above it), so a pop never suffers ABA.
 * A producer that finds the lock taken allocates rather than wait. */
CBR_COLD cbr_segment *cbr_ring_pool_take_(cbr_ring *r)
{
    void *top;
    /* relaxed: a cheap look before taking the lock */
    if (cbr_load_ptr(&r->pool, CBR_RELAXED) != NULL
        /* acquire: the previous popper's pop (and its read of next) happens before ours */
        && cbr_exchange_u32(&r->pool_lock, 1, CBR_ACQUIRE) == 0) {
        /* acquire: the pusher's writes to the segment, next included */
        top = cbr_load_ptr(&r->pool, CBR_ACQUIRE);
        /* acquire (both): as above, for the segment we pop or a newer top */
        while (top && !cbr_cas_ptr(&r->pool, &top, ((cbr_segment *)top)->next,
                                   CBR_ACQUIRE, CBR_ACQUIRE)) {}
        /* release: our pop happens before the next popper's */
        cbr_store_u32(&r->pool_lock, 0, CBR_RELEASE);
        if (top != NULL) {
            /* relaxed: as in cbr_ring_pool_give_ */
            cbr_fetch_add_u64(&r->pooled, UINT64_MAX, CBR_RELAXED);  /* minus one */
            return (cbr_segment *)top;
        }
    }
    return cbr_segment_new_();
}

/* Producer holding the unresolved position t: the segment of t's block,
 * installing one if there is none; NULL without memory, or if t is
 * further past head than the directory reaches. */
CBR_COLD cbr_segment *cbr_ring_segment_for_(cbr_ring *r, uint64_t t)
{
    uint64_t block = t >> CBR_RING_SEGMENT_BITS;
    void **entry = &r->dir[block & (CBR_RING_DIRECTORY - 1)];
    cbr_segment *seg, *found;
    /* acquire: the consumer cleared the entries of every block below head before storing it */
    uint64_t h = cbr_load_u64(&r->head, CBR_ACQUIRE);

    if (t - h >= (CBR_RING_DIRECTORY - 1) * CBR_RING_SEGMENT)
        return NULL;
    /* acquire: the installing producer's writes to the segment's header and stamps */
    if ((found = (cbr_segment *)cbr_load_ptr(entry, CBR_ACQUIRE)) != NULL)
        return found;
    if ((seg = cbr_ring_pool_take_(r)) == NULL)
        return NULL;
    /* blocks served rise: the consumer passed the last before it gave the segment back */
    if (seg->since == CBR_RING_SEGMENT_UNUSED || block - seg->since >= CBR_RING_STAMP_BLOCKS) {
        uint64_t i;
        if (seg->since != CBR_RING_SEGMENT_UNUSED)
            for (i = 0; i < CBR_RING_SEGMENT; i++)
                seg->cells[i].seq = (uint32_t)i;
        seg->since = block;
    }
    seg->block = block;
    /* release: publishes the header and stamps; acquire on failure: the winner's */
    for (;;) {
        void *expected = NULL;
        if (cbr_cas_ptr(entry, &expected, seg, CBR_RELEASE, CBR_ACQUIRE))
            break;
        if ((found = (cbr_segment *)expected) != NULL) {
            cbr_ring_pool_give_(r, seg);
            return found;
        }
    }
    return seg;
}

/* Position t is claimed but its slot is busy: resolve it in its block's
 * overflow segment.  Without one (no memory, or a backlog beyond the
 * directory's reach), wait for the slot instead: the one case where "spill"
 * blocks.  If the ring closes while it waits, the record is dropped and
 * counted, and its position abandoned for close() and drain. */
CBR_COLD int cbr_ring_overflow_(cbr_ring *r, uint64_t t, const cbr_record *rec)
{
    cbr_record *slot = &r->slots[t & r->mask], *cell;
    cbr_segment *seg;
    unsigned round = 0;

    cbr_ring_wake_(r);
    if ((seg = cbr_ring_segment_for_(r, t)) == NULL) {
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
    cell = &seg->cells[t & (CBR_RING_SEGMENT - 1)];
    memcpy(cell, rec, offsetof(cbr_record, seq));
    memcpy(&cell->status, &rec->status, sizeof(cbr_record) - offsetof(cbr_record, status));
    cell->flags |= CBR_FLAG_SPILLED;
    /* relaxed: a statistic; before the cell resolves t, so close() covers it */
    cbr_fetch_add_u64(&r->spilled, 1, CBR_RELAXED);
    /* release: publishes the record to the consumer's acquire load of the stamp; resolves t */
    cbr_store_u32(&cell->seq, (uint32_t)(t + 1), CBR_RELEASE);
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

/* Consumer: the positions claimed so far past h (at or past head). */
static inline uint64_t cbr_ring_claimed_from_(cbr_ring *r, uint64_t h, cbr_order order)
{
    uint64_t t = cbr_load_u64(&r->tail, order);
    return ((t & CBR_RING_CLOSED) ? r->end : t) - h;
}

/* Consumer: the positions claimed so far and not yet drained. */
static inline uint64_t cbr_ring_claimed_(cbr_ring *r, cbr_order order)
{
    return cbr_ring_claimed_from_(r, r->head, order);
}

/* Consumer: the overflow cell holding position h, or NULL if h is not
 * (yet) resolved there. */
static inline cbr_record *cbr_ring_cell_(cbr_ring *r, uint64_t h)
{
    /* acquire: the installing producer's writes to the segment's header and stamps */
    cbr_segment *seg = (cbr_segment *)cbr_load_ptr(
        &r->dir[(h >> CBR_RING_SEGMENT_BITS) & (CBR_RING_DIRECTORY - 1)], CBR_ACQUIRE);
    cbr_record *cell;
    if (seg == NULL)
        return NULL;
    cell = &seg->cells[h & (CBR_RING_SEGMENT - 1)];
    /* acquire: pairs with the producer's publishing store */
    return cbr_load_u32(&cell->seq, CBR_ACQUIRE) == (uint32_t)(h + 1) ? cell : NULL;
}

/* Consumer: every position of `block` has been drained (or abandoned):
 * clears its entry, before the head store that passes it, and keeps its
 * segment for reuse, up to pool_max, or frees it. */
static inline void cbr_ring_pass_block_(cbr_ring *r, uint64_t block)
{
    void **entry = &r->dir[block & (CBR_RING_DIRECTORY - 1)];
    /* relaxed: an installer resolved a position of the block, which we acquired */
    cbr_segment *seg = (cbr_segment *)cbr_load_ptr(entry, CBR_RELAXED);
    if (seg == NULL)
        return;
    /* relaxed: the release store of head that passes the block publishes it */
    cbr_store_ptr(entry, NULL, CBR_RELAXED);
    /* relaxed: a bound on memory kept, not a synchronisation */
    if (cbr_load_u64(&r->pooled, CBR_RELAXED) < r->pool_max)
        cbr_ring_pool_give_(r, seg);
    else
        cbr_segment_free_(seg);
}

/* Consumer: a CBR_FLAG_PAYLOAD record, copied from the ring into rec,
 * takes its payload with it: to payload + *used (rewriting result as
 * record.h says), or, without a payload buffer, nowhere (the record then
 * reads as cbr_record_from_status makes it, and is counted).  Returns 0,
 * touching nothing, when the payload does not fit in what is left of
 * payload_cap (offsets are 32-bit: past 4 GiB nothing fits). */
CBR_COLD int cbr_ring_payload_out_slow_(cbr_ring *r, cbr_record *rec, void *payload, size_t payload_cap,
                                        size_t *used)
{
    size_t size = CBR_PAYLOAD_SIZE(rec);
    uint32_t first = (uint32_t)rec->result;
    if (payload == NULL) {
        cbr_payload_read_and_give(&r->payloads, first, size, NULL);
        rec->flags = (uint16_t)((rec->flags & ~CBR_FLAG_PAYLOAD) | CBR_FLAG_TRUNCATED);
        rec->result = 0;
        /* relaxed: a statistic */
        cbr_fetch_add_u64(&r->payloads_truncated, 1, CBR_RELAXED);
        return 1;
    }
    if (*used > payload_cap || payload_cap - *used < size || *used + size > UINT32_MAX)
        return 0;
    cbr_payload_read_and_give(&r->payloads, first, size, (char *)payload + *used);
    rec->result = ((uint64_t)size << 32) | (uint64_t)*used;
    *used += size;
    return 1;
}

/* Consumer: copies up to max records, in position order, into out and
 * returns how many.  Stops early at a position whose producer has claimed
 * it but not yet written it.  For each CBR_FLAG_PAYLOAD record, copies its
 * payload to (char *)payload + *payload_used, sets the record's result to
 * size << 32 | offset and advances *payload_used; stops before a record
 * whose payload does not fit, so always takes at least one record when
 * payload_cap - *payload_used >= CBR_PAYLOAD_MAX.  payload may be NULL:
 * see cbr_ring_drain. */
static inline size_t cbr_ring_drain_payloads(cbr_ring *r, cbr_record *out, size_t max, void *payload,
                                             size_t payload_cap, size_t *payload_used)
{
    uint64_t h = r->head, start = h, cap = r->mask + 1;
    size_t n = 0;

    while (n < max) {
        cbr_record *slot = &r->slots[h & r->mask], *cell;
        /* acquire: pairs with the producer's publishing store */
        if (cbr_load_u32(&slot->seq, CBR_ACQUIRE) == (uint32_t)(h + 1)) {
            if (slot->flags & CBR_FLAG_PAYLOAD) {
                cbr_record rec;
                memcpy(&rec, slot, sizeof rec);
                if (!cbr_ring_payload_out_slow_(r, &rec, payload, payload_cap, payload_used))
                    break;
                memcpy(&out[n], &rec, sizeof rec);
            } else {
                memcpy(&out[n], slot, sizeof *slot);
            }
        } else if ((cell = cbr_ring_cell_(r, h)) != NULL) {
            /* out may be any byte buffer (drain_into), so it is written only by memcpy */
            cbr_record rec;
            memcpy(&rec, cell, sizeof rec);
            rec.seq = 0;  /* record.h: an overflowed record carries no ring position */
            if ((rec.flags & CBR_FLAG_PAYLOAD)
                && !cbr_ring_payload_out_slow_(r, &rec, payload, payload_cap, payload_used))
                break;
            memcpy(&out[n], &rec, sizeof rec);
        } else if (r->quiescent && h < r->end) {
            /* after close, an unresolved position was abandoned (counted as dropped) */
            if ((++h & (CBR_RING_SEGMENT - 1)) == 0)
                cbr_ring_pass_block_(r, (h >> CBR_RING_SEGMENT_BITS) - 1);
            continue;
        } else {
            break;
        }
        /* release: our read of the slot happens before the next lap's producer writes it */
        cbr_store_u32(&slot->seq, (uint32_t)(h + cap), CBR_RELEASE);
        n++;
        if ((++h & (CBR_RING_SEGMENT - 1)) == 0)
            cbr_ring_pass_block_(r, (h >> CBR_RING_SEGMENT_BITS) - 1);
    }
    /* A drain that ran dry saw n waiting without reading the producers'
     * line; only a full batch reads tail, to see how far the backlog goes.
     * So a peak hidden behind a record still being written is seen at the
     * next full batch or stats read (which counts claimed positions), not here. */
    {
        uint64_t waiting = n;
        if (n == max)
            /* relaxed: a statistic */
            waiting = h - start + cbr_ring_claimed_from_(r, h, CBR_RELAXED);
        if (waiting > r->high_water)
            /* relaxed: a statistic that stats may read from another thread */
            cbr_store_u64(&r->high_water, waiting, CBR_RELAXED);
    }
    if (h != r->head) {
        /* release: for claimers that check room against head, and installers of segments */
        cbr_store_u64(&r->head, h, CBR_RELEASE);
        /* relaxed: a statistic that stats may read from another thread */
        cbr_store_u64(&r->drained, r->drained + n, CBR_RELAXED);
    }
    return n;
}

/* Consumer: copies up to max records, in position order, into out and
 * returns how many.  Stops early at a position whose producer has claimed
 * it but not yet written it.  A record whose payload was kept apart comes
 * out with its prefix, marked truncated (counted in payloads_truncated),
 * the payload released: use cbr_ring_drain_payloads to have it. */
static inline size_t cbr_ring_drain(cbr_ring *r, cbr_record *out, size_t max)
{
    return cbr_ring_drain_payloads(r, out, max, NULL, 0, NULL);
}

/* Consumer: the next drain will return at least one record.  After close,
 * skips positions that were abandoned, as drain does, so that one cannot
 * hide the records behind it. */
static inline int cbr_ring_ready(cbr_ring *r)
{
    for (;;) {
        uint64_t h = r->head;
        /* acquire: pairs with the producer's publishing store */
        if (cbr_load_u32(&r->slots[h & r->mask].seq, CBR_ACQUIRE) == (uint32_t)(h + 1)
            || cbr_ring_cell_(r, h) != NULL)
            return 1;
        if (!(r->quiescent && h < r->end))
            return 0;
        if (((h + 1) & (CBR_RING_SEGMENT - 1)) == 0)
            cbr_ring_pass_block_(r, h >> CBR_RING_SEGMENT_BITS);
        /* release: as in drain; nothing was read from the abandoned position */
        cbr_store_u64(&r->head, h + 1, CBR_RELEASE);
    }
}

/* Consumer: a position has been claimed and not drained.  What a sleeper
 * must check. */
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

/* Consumer: position p (at or past head) is resolved, in its slot or its
 * overflow cell.  A slot cannot hold a position a lap or more past head. */
static inline int cbr_ring_resolved_at_(cbr_ring *r, uint64_t p)
{
    return (p - r->head <= r->mask
            /* acquire: the producer's writes to the slot happen before */
            && cbr_load_u32(&r->slots[p & r->mask].seq, CBR_ACQUIRE) == (uint32_t)(p + 1))
        || cbr_ring_cell_(r, p) != NULL;
}

/* Consumer: how many positions in [*from, end) are resolved.  Moves *from
 * past those that lead, so that a caller polling for the rest looks only
 * from the first that was not. */
static inline uint64_t cbr_ring_resolved_(cbr_ring *r, uint64_t *from, uint64_t end)
{
    uint64_t p, resolved = 0;
    int leading = 1;
    for (p = *from; p < end; p++) {
        if (!cbr_ring_resolved_at_(r, p))
            leading = 0;
        else if (leading)
            *from = p + 1;
        else
            resolved++;
    }
    return resolved;
}

/* Consumer: refuses further pushes, then waits until every position
 * claimed before is resolved, in its slot or its overflow cell: a
 * producer's last access to ring memory is what resolves its position.
 * What was pushed stays drainable.  Idempotent. */
static inline void cbr_ring_close(cbr_ring *r)
{
    uint64_t t, from = r->head;
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
    for (;;) {
        uint64_t later = cbr_ring_resolved_(r, &from, t);
        if ((from - r->head) + later + cbr_load_u64(&r->abandoned, CBR_ACQUIRE) == t - r->head)
            break;
        cbr_backoff(round < 64 ? round++ : round);
    }
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
 * in memory until cbr_ring_destroy(), their payloads too; blocks that a
 * producer of the parent had taken for a push it never finished are lost
 * to the child's store, which destroy() frees whole. */
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
        uint64_t from = r->head, later = cbr_ring_resolved_(r, &from, end);
        /* nothing was skipped before quiescent, so every abandoned position is in [head, end) */
        cbr_store_u64(&r->abandoned, end - from - later, CBR_RELAXED);
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
    /* relaxed (all): close() has waited for every producer that could touch them */
    uint64_t end = cbr_load_u64(&r->tail, CBR_RELAXED) & ~CBR_RING_CLOSED, b;
    void *seg;
    if (r->dir != NULL) {
        /* entries below head's block were cleared as the consumer passed them */
        for (b = r->head >> CBR_RING_SEGMENT_BITS;
             b <= (end >> CBR_RING_SEGMENT_BITS) && b - (r->head >> CBR_RING_SEGMENT_BITS) < CBR_RING_DIRECTORY;
             b++) {
            void **entry = &r->dir[b & (CBR_RING_DIRECTORY - 1)];
            if ((seg = cbr_load_ptr(entry, CBR_RELAXED)) != NULL) {
                cbr_store_ptr(entry, NULL, CBR_RELAXED);
                cbr_segment_free_((cbr_segment *)seg);
            }
        }
        free(r->dir);
        r->dir = NULL;
    }
    while ((seg = cbr_load_ptr(&r->pool, CBR_RELAXED)) != NULL) {
        cbr_store_ptr(&r->pool, ((cbr_segment *)seg)->next, CBR_RELAXED);
        cbr_segment_free_((cbr_segment *)seg);
    }
    cbr_store_u64(&r->pooled, 0, CBR_RELAXED);
    /* with every chain, drained or not: close() waited for the producers that hold some */
    cbr_payload_destroy(&r->payloads);
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
    s->payloads_truncated = cbr_load_u64(&r->payloads_truncated, CBR_RELAXED);
}

#endif /* CBRING_RING_H */
