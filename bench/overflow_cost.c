/* Instructions per record for a push and a drain, into the ring and into
 * overflow segments: counts that a noisy machine does not blur.
 *
 *   gcc -O2 -Iinclude bench/overflow_cost.c -o overflow_cost
 *   valgrind --tool=callgrind --toggle-collect=push_all ./overflow_cost ring
 *   valgrind --tool=callgrind --toggle-collect=drain_all ./overflow_cost overflow
 *
 * "ring": 262144 records into a ring of as many slots; "overflow": the same
 * into a ring of 2 slots, so all but two go into segments ("recycled": a
 * second such backlog, whose segments come from the pool).  One thread:
 * what the instructions cost, not what contention adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbring/ring.h"

#define N (UINT64_C(1) << 18)

__attribute__((noinline)) static uint64_t push_all(cbr_ring *r)
{
    cbr_record rec;
    uint64_t i, spilled = 0;
    memset(&rec, 0, sizeof rec);
    for (i = 0; i < N; i++) {
        rec.context = i;
        spilled += cbr_ring_push(r, &rec) == CBR_SPILLED;
    }
    return spilled;
}

__attribute__((noinline)) static uint64_t drain_all(cbr_ring *r, cbr_record *out)
{
    uint64_t n = 0;
    size_t k;
    while ((k = cbr_ring_drain(r, out, 8192)) != 0)
        n += k;
    return n;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "ring";
    int recycled = strcmp(mode, "recycled") == 0;
    cbr_ring *r = (cbr_ring *)aligned_alloc(CBR_CACHELINE, sizeof(cbr_ring));
    cbr_record *out = (cbr_record *)malloc(8192 * sizeof(cbr_record));
    uint64_t spilled, drained;
    memset(r, 0, sizeof *r);
    if (cbr_ring_init(r, strcmp(mode, "ring") == 0 ? N : 2, CBR_OVERFLOW_SPILL, 0, 0) != 0)
        return 1;
    r->pool_max = recycled ? N : r->pool_max;  /* keep every segment for the second backlog */
    if (recycled) {
        push_all(r);
        drain_all(r, out);
    }
    spilled = push_all(r);
    drained = drain_all(r, out);
    printf("%s: %llu records, %llu overflowed, %llu drained\n", mode, (unsigned long long)N,
           (unsigned long long)spilled, (unsigned long long)drained);
    cbr_ring_close(r);
    cbr_ring_destroy(r);
    free(r);
    free(out);
    return drained == N ? 0 : 1;
}
