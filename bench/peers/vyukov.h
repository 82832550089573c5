/* A plain bounded multi-producer, single-consumer ring after Dmitry
 * Vyukov's bounded MPMC queue, written here for comparison with cbring's
 * ring (include/cbring/ring.h): the baseline a reader would write first.
 *
 * Every cell carries a stamp: p means "free for position p", p + 1 "holds
 * position p".  A producer reads the cell at the tail it saw; if the stamp
 * says free, one compare-and-swap on tail claims it; if the stamp is behind,
 * the ring is full.  So a producer checks for room on the line it is about
 * to write anyway, never on the consumer's, which is what sets it apart
 * from cbring's claim-with-room (that reads head).  The consumer owns head
 * and needs no atomic read-modify-write at all.
 *
 * Cells are cbr_records, and the stamp is the record's own 32-bit seq
 * field, as in cbring, so one record is one cache line on both sides and
 * the comparison is about the protocol alone.  Stamps compare modulo 2**32;
 * a capacity of at least 2 keeps "free" and "holds" apart.
 */
#ifndef CBRING_BENCH_VYUKOV_H
#define CBRING_BENCH_VYUKOV_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cbring/atomics.h>
#include <cbring/record.h>

typedef struct vy_ring {
    /* Written by every claim. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t tail;
    /* The consumer's own. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t head;
    /* Read-only after init. */
    CBR_ALIGNED(CBR_CACHELINE) cbr_record *cells;
    uint64_t mask;
} vy_ring;

/* capacity: a power of two, at least 2.  Returns 0, or -1 without memory. */
static inline int vy_init(vy_ring *r, uint64_t capacity)
{
    uint64_t i;
    r->cells = (cbr_record *)aligned_alloc(CBR_CACHELINE, (size_t)capacity * sizeof(cbr_record));
    if (r->cells == NULL)
        return -1;
    memset(r->cells, 0, (size_t)capacity * sizeof(cbr_record));
    for (i = 0; i < capacity; i++)
        r->cells[i].seq = (uint32_t)i;  /* free for its first position */
    r->mask = capacity - 1;
    r->head = 0;
    /* release: publishes the cells' stamps to producers that acquire tail */
    cbr_store_u64(&r->tail, 0, CBR_RELEASE);
    return 0;
}

static inline void vy_destroy(vy_ring *r)
{
    free(r->cells);
    r->cells = NULL;
}

/* Any thread: 1 if rec was pushed, 0 if the ring is full. */
static inline int vy_push(vy_ring *r, const cbr_record *rec)
{
    /* relaxed: a guess at the next position; the CAS below validates it */
    uint64_t t = cbr_load_u64(&r->tail, CBR_RELAXED);
    cbr_record *cell;
    for (;;) {
        int32_t lag;
        cell = &r->cells[t & r->mask];
        /* acquire: the consumer's read of the cell's previous record is finished */
        lag = (int32_t)(cbr_load_u32(&cell->seq, CBR_ACQUIRE) - (uint32_t)t);
        if (lag == 0) {
            /* relaxed: the stamp's acquire above ordered the cell; on failure t is reloaded */
            if (cbr_cas_u64(&r->tail, &t, t + 1, CBR_RELAXED, CBR_RELAXED))
                break;
        } else if (lag < 0) {
            return 0;  /* the cell still holds the record of a lap ago */
        } else {
            /* relaxed: another producer took t; look again */
            t = cbr_load_u64(&r->tail, CBR_RELAXED);
        }
    }
    memcpy(cell, rec, offsetof(cbr_record, seq));
    memcpy(&cell->status, &rec->status, sizeof(cbr_record) - offsetof(cbr_record, status));
    /* release: publishes the record to the consumer's acquire load of the stamp */
    cbr_store_u32(&cell->seq, (uint32_t)(t + 1), CBR_RELEASE);
    return 1;
}

/* The one consumer: copies up to max records into out, in position order. */
static inline size_t vy_pop(vy_ring *r, cbr_record *out, size_t max)
{
    uint64_t h = r->head, cap = r->mask + 1;
    size_t n = 0;
    while (n < max) {
        cbr_record *cell = &r->cells[h & r->mask];
        /* acquire: pairs with the producer's publishing store */
        if (cbr_load_u32(&cell->seq, CBR_ACQUIRE) != (uint32_t)(h + 1))
            break;
        memcpy(&out[n++], cell, sizeof *cell);
        /* release: our read happens before the next lap's producer writes the cell */
        cbr_store_u32(&cell->seq, (uint32_t)(h + cap), CBR_RELEASE);
        h++;
    }
    r->head = h;
    return n;
}

#endif /* CBRING_BENCH_VYUKOV_H */
