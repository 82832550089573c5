/* Payloads: what a status carries beyond a record's data[], kept whole.
 *
 * The interface between the C core and the Python layer (issue 10), as
 * agreed, with these refinements:
 *   - `result` of a CBR_FLAG_PAYLOAD record holds size << 32 in the ring
 *     too, not only after a drain: CBR_PAYLOAD_SIZE(rec) is valid wherever
 *     the record is; the low 32 bits are the store's reference until a
 *     drain with a payload buffer rewrites them to the offset.
 *   - Bytes statuses (anything not documented as a structure or as text)
 *     are kept whole up to CBR_PAYLOAD_MAX too, as CBR_INFO_BYTES.
 *   - status.h adds cbr_record_from_status_w and cbr_status_payload_w,
 *     the W registration's twins of cbr_record_from_status and
 *     cbr_status_payload.
 *   - A record drained without a payload buffer (cbr_ring_drain) comes out
 *     as cbr_record_from_status makes it: CBR_FLAG_PAYLOAD cleared,
 *     CBR_FLAG_TRUNCATED set, result 0; counted in payloads_truncated.
 *   - cbr_ring_stats gains payloads_truncated, as its last field.
 *   - wininet_compat.h defines the INTERNET_STATUS_* numbers (each
 *     guarded by #ifndef) even under CBR_NO_WININET_NAMES, since status.h
 *     uses them.
 */
#ifndef CBRING_PAYLOAD_H
#define CBRING_PAYLOAD_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "record.h"
#include "wakeup.h"

/* The store's extra chunks' and the ring's overflow segments' allocator; a
 * test may substitute one that fails. */
#ifndef CBR_MALLOC
#  define CBR_MALLOC malloc
#  define CBR_FREE free
#endif

/* A block: the index of the next block of its chain (or of the free stack)
 * and CBR_PAYLOAD_BLOCK_DATA bytes.  Four cache lines: a chain of a
 * 100-character host name in UTF-16 is one block. */
#define CBR_PAYLOAD_BLOCK 256
#define CBR_PAYLOAD_BLOCK_DATA (CBR_PAYLOAD_BLOCK - 4)
/* Blocks of the longest payload. */
#define CBR_PAYLOAD_CHAIN_MAX ((CBR_PAYLOAD_MAX + CBR_PAYLOAD_BLOCK_DATA - 1) / CBR_PAYLOAD_BLOCK_DATA)
/* A block's index: chunk << CBR_PAYLOAD_CHUNK_BITS | block in the chunk. */
#define CBR_PAYLOAD_CHUNK_BITS 20
#define CBR_PAYLOAD_NIL UINT32_MAX  /* no block: chunk 4095, past CBR_PAYLOAD_CHUNKS */
/* Chunk 0 is allocated by init; the others, CBR_PAYLOAD_EXTRA_BLOCKS each
 * (64 KiB), by "spill" producers that find the store empty. */
#define CBR_PAYLOAD_CHUNKS 1024
#define CBR_PAYLOAD_EXTRA_BLOCKS 256
/* Chunk 0's blocks: a quarter of the ring's capacity (so its bytes equal
 * the ring's slots'), at least four of the longest payloads, at most what
 * an index reaches. */
#define CBR_PAYLOAD_MIN_BLOCKS (4 * CBR_PAYLOAD_CHAIN_MAX)
#define CBR_PAYLOAD_MAX_BLOCKS (UINT64_C(1) << CBR_PAYLOAD_CHUNK_BITS)

typedef struct cbr_payload_block {
    uint32_t next;  /* atomic: a popper with a stale top may read it while its holder writes it */
    uint8_t data[CBR_PAYLOAD_BLOCK_DATA];
} cbr_payload_block;

CBR_STATIC_ASSERT(sizeof(cbr_payload_block) == CBR_PAYLOAD_BLOCK, "a block is 256 bytes");
CBR_STATIC_ASSERT(CBR_PAYLOAD_EXTRA_BLOCKS >= CBR_PAYLOAD_CHAIN_MAX, "an extra chunk holds any payload");
CBR_STATIC_ASSERT(((uint64_t)CBR_PAYLOAD_CHUNKS << CBR_PAYLOAD_CHUNK_BITS) <= CBR_PAYLOAD_NIL,
                  "no block's index is CBR_PAYLOAD_NIL");
CBR_STATIC_ASSERT(CBR_PAYLOAD_MAX <= UINT32_MAX, "a payload's size fits result's high half");

/* Blocks in use belong to one thread at a time: the producer that took
 * them and writes its payload, then (through the record that names the
 * chain) the consumer that copies it out and gives them back.  Free blocks
 * sit on a stack whose top word is tag << 32 | index; every change of it
 * raises the tag, so a compare-and-swap against a top that was popped and
 * pushed back in between fails (no ABA, unless 2**32 changes pass while one
 * thread is between its load of top and its CAS).  Chunk 0's blocks are
 * handed out first from `fresh` in index order, so that init need not
 * write, and the system need not fault in, blocks no payload ever used. */
typedef struct cbr_payload_store {
    /* Changed by every take and give: producers with payloads, and the consumer. */
    CBR_ALIGNED(CBR_CACHELINE) uint64_t top;
    uint64_t fresh;        /* chunk 0's blocks never handed out begin here */
    uint64_t chunks_used;  /* chunk entries taken, chunk 0 included; past CBR_PAYLOAD_CHUNKS: full */
    /* Set by init; read-only while producers run. */
    void **chunk;          /* CBR_PAYLOAD_CHUNKS block arrays (atomic: an extra one appears
                            * while others read), then CBR_PAYLOAD_CHUNKS raw allocations */
    uint64_t base_blocks;  /* chunk 0's */
} cbr_payload_store;

/* Chunk 0's size for a ring of this capacity. */
static inline uint64_t cbr_payload_base_blocks(uint64_t capacity)
{
    uint64_t n = capacity / 4;
    if (n < CBR_PAYLOAD_MIN_BLOCKS)
        n = CBR_PAYLOAD_MIN_BLOCKS;
    return n < CBR_PAYLOAD_MAX_BLOCKS ? n : CBR_PAYLOAD_MAX_BLOCKS;
}

/* Blocks a payload of `size` bytes takes. */
static inline uint32_t cbr_payload_blocks(size_t size)
{
    return (uint32_t)((size + CBR_PAYLOAD_BLOCK_DATA - 1) / CBR_PAYLOAD_BLOCK_DATA);
}

/* Prepares s with chunk 0 for a ring of this capacity (zeroed, so that
 * every next holds an index even before its block is first used; memory
 * the system maps on demand at this size).  Returns 0 or ENOMEM. */
static inline int cbr_payload_init(cbr_payload_store *s, uint64_t capacity)
{
    void **chunk = (void **)calloc(2 * CBR_PAYLOAD_CHUNKS, sizeof *chunk);
    uint64_t blocks = cbr_payload_base_blocks(capacity);
    void *raw;
    if (chunk == NULL)
        return ENOMEM;
    /* one block more, to start on a line: neighbouring blocks' writers then share none */
    if ((raw = calloc((size_t)blocks + 1, sizeof(cbr_payload_block))) == NULL) {
        free(chunk);
        return ENOMEM;
    }
    chunk[0] = (void *)(((uintptr_t)raw + CBR_CACHELINE - 1) & ~(uintptr_t)(CBR_CACHELINE - 1));
    chunk[CBR_PAYLOAD_CHUNKS] = raw;
    s->chunk = chunk;
    s->base_blocks = blocks;
    /* relaxed (all): the ring's init publishes them with its release store of tail */
    cbr_store_u64(&s->top, CBR_PAYLOAD_NIL, CBR_RELAXED);
    cbr_store_u64(&s->fresh, 0, CBR_RELAXED);
    cbr_store_u64(&s->chunks_used, 1, CBR_RELAXED);
    return 0;
}

/* Frees every chunk, whatever holds their blocks: only once no thread can
 * touch the store again. */
static inline void cbr_payload_destroy(cbr_payload_store *s)
{
    uint64_t c, used;
    if (s->chunk == NULL)
        return;
    /* relaxed: the caller has waited for every thread that could add a chunk */
    used = cbr_load_u64(&s->chunks_used, CBR_RELAXED);
    free(s->chunk[CBR_PAYLOAD_CHUNKS]);
    for (c = 1; c < used && c < CBR_PAYLOAD_CHUNKS; c++)
        /* a chunk whose entry was taken but not filled (no memory) is NULL */
        CBR_FREE(s->chunk[CBR_PAYLOAD_CHUNKS + c]);
    free(s->chunk);
    s->chunk = NULL;
}

/* The block with this index, or NULL if there is none (yet): an index read
 * from a stale top or link may be anything a next ever held. */
CBR_INLINE cbr_payload_block *cbr_payload_block_(cbr_payload_store *s, uint32_t index)
{
    uint32_t c = index >> CBR_PAYLOAD_CHUNK_BITS, i = index & ((UINT32_C(1) << CBR_PAYLOAD_CHUNK_BITS) - 1);
    cbr_payload_block *blocks;
    if (c >= CBR_PAYLOAD_CHUNKS)
        return NULL;
    /* acquire: the chunk's installer linked its blocks before storing it */
    blocks = (cbr_payload_block *)cbr_load_ptr(&s->chunk[c], CBR_ACQUIRE);
    if (blocks == NULL || i >= (c == 0 ? s->base_blocks : CBR_PAYLOAD_EXTRA_BLOCKS))
        return NULL;
    return &blocks[i];
}

/* Pushes the chain first..last (linked, held by the caller) onto the free stack. */
static inline void cbr_payload_give(cbr_payload_store *s, uint32_t first, uint32_t last)
{
    cbr_payload_block *tail = cbr_payload_block_(s, last);
    /* relaxed: the CAS validates it */
    uint64_t top = cbr_load_u64(&s->top, CBR_RELAXED);
    do {
        /* relaxed: published by the release CAS */
        cbr_store_u32(&tail->next, (uint32_t)top, CBR_RELAXED);
        /* release: our reads and writes of the chain happen before its next taker's (acquire) */
    } while (!cbr_cas_u64(&s->top, &top, (((top >> 32) + 1) << 32) | first, CBR_RELEASE, CBR_RELAXED));
}

/* Takes n blocks (1 <= n <= CBR_PAYLOAD_CHAIN_MAX) from the free stack in one
 * CAS, or else from chunk 0's never-used ones.  Returns the first's index,
 * its chain linked through next (the last's next is not NIL), or
 * CBR_PAYLOAD_NIL when neither has n. */
static inline uint32_t cbr_payload_take(cbr_payload_store *s, uint32_t n)
{
    /* acquire: the givers' links and their last reads of the blocks happen before */
    uint64_t top = cbr_load_u64(&s->top, CBR_ACQUIRE), fresh;
    for (;;) {
        uint32_t last = (uint32_t)top, k;
        cbr_payload_block *b = cbr_payload_block_(s, last);
        for (k = 1; b != NULL && k < n; k++)
            /* relaxed: published by the give we acquired; a stale top makes the CAS fail */
            b = cbr_payload_block_(s, cbr_load_u32(&b->next, CBR_RELAXED));
        if (b != NULL) {
            /* relaxed: as above */
            uint64_t rest = cbr_load_u32(&b->next, CBR_RELAXED);
            /* acquire (both): as for the load of top */
            if (cbr_cas_u64(&s->top, &top, (((top >> 32) + 1) << 32) | rest, CBR_ACQUIRE, CBR_ACQUIRE))
                return (uint32_t)top;
            continue;
        }
        {
            /* acquire: as above; an unchanged top means the stack really is short */
            uint64_t again = cbr_load_u64(&s->top, CBR_ACQUIRE);
            if (again == top)
                break;
            top = again;
        }
    }
    /* relaxed: the CAS hands out each fresh block once; nobody wrote them before */
    fresh = cbr_load_u64(&s->fresh, CBR_RELAXED);
    while (fresh + n <= s->base_blocks) {
        /* relaxed (both): as above */
        if (cbr_cas_u64(&s->fresh, &fresh, fresh + n, CBR_RELAXED, CBR_RELAXED)) {
            cbr_payload_block *blocks = (cbr_payload_block *)s->chunk[0];
            uint64_t i;
            for (i = fresh; i + 1 < fresh + n; i++)
                /* relaxed: ours; published with the record that names the chain */
                cbr_store_u32(&blocks[i].next, (uint32_t)(i + 1), CBR_RELAXED);
            return (uint32_t)fresh;
        }
    }
    return CBR_PAYLOAD_NIL;
}

/* A producer found the store without n blocks: adds a chunk, gives all
 * but n of its blocks to the free stack and returns the first of those n,
 * linked; CBR_PAYLOAD_NIL without memory or once CBR_PAYLOAD_CHUNKS are
 * taken.  The chunks stay until the store is destroyed. */
CBR_COLD uint32_t cbr_payload_grow_slow(cbr_payload_store *s, uint32_t n)
{
    void *raw;
    cbr_payload_block *blocks;
    uint64_t c;
    uint32_t i, base;

    /* relaxed: a look before allocating; the fetch_add below decides */
    if (cbr_load_u64(&s->chunks_used, CBR_RELAXED) >= CBR_PAYLOAD_CHUNKS)
        return CBR_PAYLOAD_NIL;
    if ((raw = CBR_MALLOC(CBR_PAYLOAD_EXTRA_BLOCKS * sizeof(cbr_payload_block) + CBR_CACHELINE - 1)) == NULL)
        return CBR_PAYLOAD_NIL;
    /* relaxed: the atomicity alone gives each chunk its own entry */
    c = cbr_fetch_add_u64(&s->chunks_used, 1, CBR_RELAXED);
    if (c >= CBR_PAYLOAD_CHUNKS) {
        CBR_FREE(raw);
        return CBR_PAYLOAD_NIL;
    }
    blocks = (cbr_payload_block *)(((uintptr_t)raw + CBR_CACHELINE - 1) & ~(uintptr_t)(CBR_CACHELINE - 1));
    base = (uint32_t)(c << CBR_PAYLOAD_CHUNK_BITS);
    for (i = 0; i + 1 < CBR_PAYLOAD_EXTRA_BLOCKS; i++)
        /* relaxed: published by the release store of the chunk below */
        cbr_store_u32(&blocks[i].next, base + i + 1, CBR_RELAXED);
    /* relaxed: read only by destroy, after every producer is done */
    cbr_store_ptr(&s->chunk[CBR_PAYLOAD_CHUNKS + c], raw, CBR_RELAXED);
    /* release: the links above happen before any reader of a block of the chunk */
    cbr_store_ptr(&s->chunk[c], blocks, CBR_RELEASE);
    cbr_payload_give(s, base + n, base + CBR_PAYLOAD_EXTRA_BLOCKS - 1);
    return base;
}

/* Copies size bytes from src into the chain at first (taken for them). */
static inline void cbr_payload_write(cbr_payload_store *s, uint32_t first, const void *src, size_t size)
{
    const uint8_t *p = (const uint8_t *)src;
    cbr_payload_block *b = cbr_payload_block_(s, first);
    for (;;) {
        size_t n = size < CBR_PAYLOAD_BLOCK_DATA ? size : CBR_PAYLOAD_BLOCK_DATA;
        memcpy(b->data, p, n);
        if ((size -= n) == 0)
            return;
        p += n;
        /* relaxed: ours, linked by the take */
        b = cbr_payload_block_(s, cbr_load_u32(&b->next, CBR_RELAXED));
    }
}

/* Copies the payload of size bytes in the chain at first to dst (unless
 * NULL), then gives the chain back. */
static inline void cbr_payload_read_and_give(cbr_payload_store *s, uint32_t first, size_t size, void *dst)
{
    uint8_t *p = (uint8_t *)dst;
    uint32_t last = first;
    cbr_payload_block *b = cbr_payload_block_(s, first);
    for (;;) {
        size_t n = size < CBR_PAYLOAD_BLOCK_DATA ? size : CBR_PAYLOAD_BLOCK_DATA;
        if (p != NULL) {
            memcpy(p, b->data, n);
            p += n;
        }
        if ((size -= n) == 0)
            break;
        /* relaxed: written before the record was published, which we acquired */
        last = cbr_load_u32(&b->next, CBR_RELAXED);
        b = cbr_payload_block_(s, last);
    }
    cbr_payload_give(s, first, last);
}

#endif /* CBRING_PAYLOAD_H */
