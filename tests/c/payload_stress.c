/* Payloads longer than a record's data[] (include/cbring/payload.h and
 * ring.h), built with -Werror and run plain, under ThreadSanitizer,
 * AddressSanitizer and valgrind by tests/c/run.sh.
 *
 * Single-threaded checks pin the decoding of text (A and W registrations,
 * lengths in bytes and in characters, missing terminators, empty strings),
 * what each policy does when the store is exhausted, that a drain stops
 * before a payload that does not fit, that a dropped or late record gives
 * its blocks back, that a caller's record cannot claim a chain, that a
 * late call after destroy touches no freed memory, and (POSIX) that a
 * fork child drains what the parent had pushed; and WinHTTP's decoding
 * (winhttp.h): its strings, READ_COMPLETE's buffer, its empty statuses.
 * The multi-producer run pushes mixed short and long payloads of known
 * content under each policy, half the producers through WinINet's decoder
 * and half through WinHTTP's, and checks every record whole, in each
 * producer's order, every event counted, and every block back in the
 * store at the end. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#  include <sys/wait.h>
#  include <unistd.h>
#endif

static int fail_every;        /* fail one allocation in this many (0: never) */
static uint64_t allocations;  /* extra chunks and segments asked for */
static void *test_malloc(size_t n)
{
    /* relaxed (both): counters for the test's own checks */
    uint64_t k = __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
    int every = __atomic_load_n(&fail_every, __ATOMIC_RELAXED);
    return every && k % (uint64_t)every == 0 ? NULL : malloc(n);
}
#define CBR_MALLOC test_malloc
#define CBR_FREE free

#include "cbring/ring.h"
#include "cbring/status.h"
#include "cbring/winhttp.h"
#include "check.h"
#include "portable.h"

/* A status with no documented structure: its information is kept as bytes. */
#define BYTES_STATUS 9999
/* The same for WinHTTP: a bit winhttp.h gives no status. */
#define WINHTTP_BYTES_STATUS 0x40000000u
enum { VIA_A = 0, VIA_W = 1, VIA_WINHTTP = 2 };
#define OVER (CBR_PAYLOAD_MAX + 300)  /* the longest information the tests give */

static cbr_ring *new_ring(uint64_t capacity, enum cbr_overflow policy, uint64_t block_ns)
{
    cbr_ring *r = (cbr_ring *)test_aligned_alloc(CBR_CACHELINE, sizeof(cbr_ring));
    memset(r, 0, sizeof *r);
    CHECK(cbr_ring_init(r, capacity, policy, block_ns, 0) == 0, "init");
    return r;
}

static void free_ring(cbr_ring *r)
{
    cbr_ring_close(r);
    cbr_ring_destroy(r);
    test_aligned_free(r);
}

/* Blocks free in the store (single-threaded: nobody takes or gives meanwhile). */
static uint64_t free_blocks(cbr_ring *r)
{
    cbr_payload_store *s = &r->payloads;
    uint64_t n = s->base_blocks - s->fresh;
    uint32_t i = (uint32_t)s->top;
    cbr_payload_block *b;
    while ((b = cbr_payload_block_(s, i)) != NULL) {
        n++;
        i = b->next;
    }
    return n;
}

/* Blocks the store has, chunk 0 and the extras. */
static uint64_t all_blocks(cbr_ring *r)
{
    uint64_t extras = r->payloads.chunks_used - 1, c, n = r->payloads.base_blocks;
    for (c = 1; c <= extras && c < CBR_PAYLOAD_CHUNKS; c++)
        if (r->payloads.chunk[c] != NULL)
            n += CBR_PAYLOAD_EXTRA_BLOCKS;
    return n;
}

static void fill(uint8_t *buf, size_t n, uint64_t seed)
{
    size_t j;
    for (j = 0; j < n; j++)
        buf[j] = (uint8_t)((seed * 131u + j * 7u + (j >> 8)) | 1u);  /* never 0: usable as text */
}

/* Drains one record with a roomy payload buffer. */
static size_t drain_one(cbr_ring *r, cbr_record *out, uint8_t *payload, size_t *used)
{
    *used = 0;
    return cbr_ring_drain_payloads(r, out, 1, payload, OVER * 2, used);
}

/* The kept bytes of a drained record: data[] or its payload. */
static const uint8_t *kept_bytes(const cbr_record *rec, const uint8_t *payload, size_t *size)
{
    if (rec->flags & CBR_FLAG_PAYLOAD) {
        *size = CBR_PAYLOAD_SIZE(rec);
        return payload + CBR_PAYLOAD_OFFSET(rec);
    }
    *size = rec->data_len;
    return rec->data;
}

static void expect_text(cbr_ring *r, int wide_registration, uint32_t status, const void *info,
                        uint32_t length, uint8_t kind, const void *want, size_t want_size, int truncated)
{
    static uint8_t payload[OVER * 2];
    cbr_record out;
    size_t used, size;
    const uint8_t *got;
    int res = wide_registration == VIA_WINHTTP
                  ? cbr_ring_push_winhttp_status(r, (cbr_hinternet)1, 7, status, info, length)
              : wide_registration ? cbr_ring_push_status_w(r, (cbr_hinternet)1, 7, status, info, length)
                                  : cbr_ring_push_status(r, (cbr_hinternet)1, 7, status, info, length);
    CHECK(res == CBR_PUSHED, "status %u length %u: pushed %d", status, length, res);
    CHECK(drain_one(r, &out, payload, &used) == 1, "status %u length %u: drained", status, length);
    got = kept_bytes(&out, payload, &size);
    CHECK(out.kind == kind, "status %u length %u: kind %u, expected %u", status, length, out.kind, kind);
    CHECK(!!(out.flags & CBR_FLAG_WINHTTP) == (wide_registration == VIA_WINHTTP),
          "status %u length %u: WinHTTP flag %u", status, length, out.flags);
    CHECK(out.length == length, "status %u: length %u", status, out.length);
    CHECK(size == want_size && memcmp(got, want, want_size) == 0,
          "status %u length %u: kept %zu bytes, expected %zu", status, length, size, want_size);
    CHECK(!!(out.flags & CBR_FLAG_TRUNCATED) == truncated, "status %u length %u: truncated flag %u",
          status, length, out.flags);
    CHECK(!!(out.flags & CBR_FLAG_PAYLOAD) == (want_size > CBR_RECORD_INLINE),
          "status %u length %u: payload flag %u", status, length, out.flags);
    CHECK(out.data_len == (want_size < CBR_RECORD_INLINE ? want_size : CBR_RECORD_INLINE)
          && memcmp(out.data, want, out.data_len) == 0, "status %u length %u: data[]", status, length);
    CHECK(used == ((out.flags & CBR_FLAG_PAYLOAD) ? want_size : 0), "status %u: payload bytes used %zu",
          status, used);
}

/* Little-endian UTF-16 of ASCII text, n characters, then a terminator. */
static size_t utf16(uint8_t *dst, const char *text, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        dst[2 * i] = (uint8_t)text[i];
        dst[2 * i + 1] = 0;
    }
    dst[2 * n] = dst[2 * n + 1] = 0;
    return 2 * n;
}

static void text_of_both_registrations_is_kept_whole(void)
{
    static uint8_t wide[2 * OVER + 2], ansi[OVER + 1];
    static const uint8_t euro_le[] = {0xAC, 0x20, 0xE9, 0x00, 0x00, 0x00};  /* "€é" */
    static const uint32_t addresses[] = {INTERNET_STATUS_NAME_RESOLVED, INTERNET_STATUS_CONNECTING_TO_SERVER,
                                         INTERNET_STATUS_CONNECTED_TO_SERVER};
    cbr_ring *r = new_ring(64, CBR_OVERFLOW_SPILL, 0);
    char url[2085];
    size_t i, w;

    for (i = 0; i < 2000; i++)
        url[i] = (char)('a' + i % 26);
    url[2000] = 0;
    /* A: every string ANSI, length = strlen + 1 as Wine's strdupWtoA copy gives */
    expect_text(r, 0, INTERNET_STATUS_RESOLVING_NAME, "host.test", 10, CBR_INFO_TEXT, "host.test", 9, 0);
    expect_text(r, 0, INTERNET_STATUS_REDIRECT, url, 2001, CBR_INFO_TEXT, url, 2000, 0);
    memset(ansi, 'h', 200);
    ansi[200] = 0;
    expect_text(r, 0, INTERNET_STATUS_RESOLVING_NAME, ansi, 201, CBR_INFO_TEXT, ansi, 200, 0);
    expect_text(r, 0, INTERNET_STATUS_NAME_RESOLVED, "", 1, CBR_INFO_TEXT, "", 0, 0);
    expect_text(r, 0, INTERNET_STATUS_CONNECTED_TO_SERVER, "10.0.0.1", 8, CBR_INFO_TEXT, "10.0.0.1", 8, 0);
    /* no terminator within the length: as far as the length goes */
    expect_text(r, 0, INTERNET_STATUS_REDIRECT, url, 30, CBR_INFO_TEXT, url, 30, 0);
    /* past the maximum: the prefix, marked */
    memset(ansi, 'u', OVER);
    expect_text(r, 0, INTERNET_STATUS_REDIRECT, ansi, OVER, CBR_INFO_TEXT, ansi, CBR_PAYLOAD_MAX, 1);
    ansi[CBR_PAYLOAD_MAX] = 0;
    expect_text(r, 0, INTERNET_STATUS_REDIRECT, ansi, OVER, CBR_INFO_TEXT, ansi, CBR_PAYLOAD_MAX, 0);

    /* W: the host name and URL wide, length in characters (Windows) or bytes (Wine) */
    w = utf16(wide, url, 2000);
    expect_text(r, 1, INTERNET_STATUS_REDIRECT, wide, 2001, CBR_INFO_TEXT_WIDE, wide, w, 0);
    expect_text(r, 1, INTERNET_STATUS_REDIRECT, wide, (uint32_t)w + 2, CBR_INFO_TEXT_WIDE, wide, w, 0);
    w = utf16(wide, "downloads.example.test", 22);
    expect_text(r, 1, INTERNET_STATUS_RESOLVING_NAME, wide, 23, CBR_INFO_TEXT_WIDE, wide, w, 0);
    expect_text(r, 1, INTERNET_STATUS_RESOLVING_NAME, wide, 46, CBR_INFO_TEXT_WIDE, wide, w, 0);
    /* characters: a 22-character name with length 11 is cut at 11 characters */
    expect_text(r, 1, INTERNET_STATUS_RESOLVING_NAME, wide, 11, CBR_INFO_TEXT_WIDE, wide, 22, 0);
    expect_text(r, 1, INTERNET_STATUS_RESOLVING_NAME, euro_le, 3, CBR_INFO_TEXT_WIDE, euro_le, 4, 0);
    expect_text(r, 1, INTERNET_STATUS_RESOLVING_NAME, euro_le + 4, 1, CBR_INFO_TEXT_WIDE, "", 0, 0);
    for (i = 0; i < 3; i++)  /* addresses stay ANSI under W, as Wine passes them */
        expect_text(r, 1, addresses[i], "192.168.100.200", 16, CBR_INFO_TEXT, "192.168.100.200", 15, 0);
    /* the longest URL with no terminator in 2 x length bytes: whole; one more character: cut */
    utf16(wide, (const char *)ansi, 2084);
    expect_text(r, 1, INTERNET_STATUS_REDIRECT, wide, 2084, CBR_INFO_TEXT_WIDE, wide, CBR_PAYLOAD_MAX, 0);
    utf16(wide, (const char *)ansi, 2085);
    expect_text(r, 1, INTERNET_STATUS_REDIRECT, wide, 2085, CBR_INFO_TEXT_WIDE, wide, CBR_PAYLOAD_MAX, 1);
    /* bytes statuses are kept whole too */
    fill(ansi, OVER, 3);
    expect_text(r, 1, BYTES_STATUS, ansi, 3000, CBR_INFO_BYTES, ansi, 3000, 0);
    CHECK(free_blocks(r) == all_blocks(r), "every block back after text");
    free_ring(r);
}

/* Pushes a bytes status of n bytes, content from seed. */
static int push_bytes(cbr_ring *r, uint64_t context, size_t n, uint64_t seed)
{
    static uint8_t buf[OVER];
    fill(buf, n, seed);
    return cbr_ring_push_status(r, (cbr_hinternet)2, (cbr_dword_ptr)context, BYTES_STATUS, buf, (cbr_dword)n);
}

static int whole(const cbr_record *rec, const uint8_t *payload, size_t n, uint64_t seed)
{
    uint8_t want[OVER];
    size_t size;
    const uint8_t *got = kept_bytes(rec, payload, &size);
    fill(want, n, seed);
    return size == n && memcmp(got, want, n) == 0;
}

static void an_exhausted_store_truncates_under_drop_and_block_and_grows_under_spill(void)
{
    static uint8_t payload[OVER * 8];
    enum cbr_overflow policies[] = {CBR_OVERFLOW_DROP, CBR_OVERFLOW_BLOCK, CBR_OVERFLOW_SPILL};
    int k;
    for (k = 0; k < 3; k++) {
        /* capacity 16: chunk 0 has CBR_PAYLOAD_MIN_BLOCKS, four of the longest payloads */
        cbr_ring *r = new_ring(16, policies[k], 1000000);
        cbr_record out[8];
        cbr_ring_stats st;
        size_t used = 0, got, i;
        uint64_t base = all_blocks(r);
        CHECK(base == CBR_PAYLOAD_MIN_BLOCKS, "chunk 0 of a small ring: %" PRIu64, base);
        for (i = 0; i < 6; i++)
            CHECK(push_bytes(r, i, CBR_PAYLOAD_MAX, i) == CBR_PUSHED, "policy %d push %zu", k, i);
        got = cbr_ring_drain_payloads(r, out, 8, payload, sizeof payload, &used);
        CHECK(got == 6, "policy %d: drained %zu", k, got);
        cbr_ring_get_stats(r, &st);
        for (i = 0; i < got; i++) {
            int kept_whole = i < 4 || policies[k] == CBR_OVERFLOW_SPILL;
            CHECK(out[i].context == i, "policy %d: order", k);
            CHECK(!!(out[i].flags & CBR_FLAG_PAYLOAD) == kept_whole, "policy %d record %zu: flags %u", k, i,
                  out[i].flags);
            CHECK(!!(out[i].flags & CBR_FLAG_TRUNCATED) == !kept_whole, "policy %d record %zu: truncated", k, i);
            CHECK(kept_whole ? whole(&out[i], payload, CBR_PAYLOAD_MAX, i) : whole(&out[i], payload, 20, i),
                  "policy %d record %zu: content", k, i);
        }
        CHECK(st.payloads_truncated == (policies[k] == CBR_OVERFLOW_SPILL ? 0u : 2u),
              "policy %d: payloads_truncated %" PRIu64, k, st.payloads_truncated);
        CHECK((all_blocks(r) > base) == (policies[k] == CBR_OVERFLOW_SPILL), "policy %d: grew", k);
        CHECK(free_blocks(r) == all_blocks(r), "policy %d: every block back", k);
        /* and the blocks are reused: four whole again */
        for (i = 0; i < 4; i++)
            CHECK(push_bytes(r, i, CBR_PAYLOAD_MAX, i + 10) == CBR_PUSHED, "policy %d again %zu", k, i);
        used = 0;
        got = cbr_ring_drain_payloads(r, out, 8, payload, sizeof payload, &used);
        for (i = 0; i < got; i++)
            CHECK(whole(&out[i], payload, CBR_PAYLOAD_MAX, i + 10), "policy %d again %zu: content", k, i);
        CHECK(got == 4 && used == 4 * CBR_PAYLOAD_MAX, "policy %d again: %zu records", k, got);
        free_ring(r);
    }
}

static void spill_without_memory_truncates_and_counts(void)
{
    static uint8_t payload[OVER * 8];
    cbr_ring *r = new_ring(16, CBR_OVERFLOW_SPILL, 0);
    cbr_record out[8];
    cbr_ring_stats st;
    size_t used = 0, i;
    fail_every = 1;
    for (i = 0; i < 6; i++)
        CHECK(push_bytes(r, i, CBR_PAYLOAD_MAX, i) == CBR_PUSHED, "push %zu", i);
    fail_every = 0;
    CHECK(cbr_ring_drain_payloads(r, out, 8, payload, sizeof payload, &used) == 6, "drained");
    for (i = 0; i < 6; i++)
        CHECK(!!(out[i].flags & CBR_FLAG_TRUNCATED) == (i >= 4), "record %zu: truncated", i);
    cbr_ring_get_stats(r, &st);
    CHECK(st.payloads_truncated == 2, "payloads_truncated %" PRIu64, st.payloads_truncated);
    free_ring(r);
}

static void a_drain_stops_before_a_payload_that_does_not_fit(void)
{
    static uint8_t payload[CBR_PAYLOAD_MAX];
    cbr_ring *r = new_ring(16, CBR_OVERFLOW_SPILL, 0);
    cbr_record out[4];
    size_t used = 0, got;
    CHECK(push_bytes(r, 0, 3000, 1) == CBR_PUSHED && push_bytes(r, 1, 10, 2) == CBR_PUSHED
          && push_bytes(r, 2, 3000, 3) == CBR_PUSHED, "pushes");
    got = cbr_ring_drain_payloads(r, out, 4, payload, sizeof payload, &used);
    CHECK(got == 2 && used == 3000, "first drain: %zu records, %zu bytes", got, used);
    CHECK(got == 2 && whole(&out[0], payload, 3000, 1) && whole(&out[1], payload, 10, 2), "first drain: content");
    got = cbr_ring_drain_payloads(r, out, 4, payload, sizeof payload, &used);
    CHECK(got == 0 && used == 3000, "a full buffer takes nothing: %zu", got);
    used = 0;
    got = cbr_ring_drain_payloads(r, out, 4, payload, sizeof payload, &used);
    CHECK(got == 1 && CBR_PAYLOAD_OFFSET(&out[0]) == 0 && whole(&out[0], payload, 3000, 3), "second drain");
    /* without a buffer: the prefix, marked and counted, the blocks back */
    CHECK(push_bytes(r, 3, 3000, 4) == CBR_PUSHED, "push");
    CHECK(cbr_ring_drain(r, out, 4) == 1, "plain drain");
    CHECK(out[0].flags == CBR_FLAG_TRUNCATED && out[0].result == 0 && out[0].data_len == CBR_RECORD_INLINE
          && whole(&out[0], payload, 20, 4), "plain drain: the record as cbr_record_from_status makes it");
    CHECK(free_blocks(r) == all_blocks(r), "every block back");
    {
        cbr_ring_stats st;
        cbr_ring_get_stats(r, &st);
        CHECK(st.payloads_truncated == 1, "payloads_truncated %" PRIu64, st.payloads_truncated);
    }
    free_ring(r);
}

static void dropped_and_late_records_give_their_blocks_back(void)
{
    cbr_ring *r = new_ring(2, CBR_OVERFLOW_DROP, 0);
    cbr_record out[4], foreign;
    uint64_t all = all_blocks(r);
    size_t i;
    CHECK(push_bytes(r, 0, 1, 0) == CBR_PUSHED && push_bytes(r, 1, 1, 1) == CBR_PUSHED, "fill");
    for (i = 0; i < 100; i++)
        CHECK(push_bytes(r, 2, CBR_PAYLOAD_MAX, 2) == CBR_DROPPED, "dropped");
    CHECK(free_blocks(r) == all, "dropped records gave their blocks back: %" PRIu64 " of %" PRIu64,
          free_blocks(r), all);
    /* a caller's record cannot name a chain: the flag is cleared, result kept */
    CHECK(cbr_ring_drain(r, out, 4) == 2, "drain");
    memset(&foreign, 0, sizeof foreign);
    foreign.flags = CBR_FLAG_PAYLOAD;
    foreign.result = ((uint64_t)100 << 32) | 0;
    CHECK(cbr_ring_push(r, &foreign) == CBR_PUSHED, "foreign push");
    CHECK(cbr_ring_drain(r, out, 4) == 1 && out[0].flags == 0 && out[0].result == foreign.result,
          "a foreign record's payload flag is cleared");
    cbr_ring_close(r);
    CHECK(push_bytes(r, 3, CBR_PAYLOAD_MAX, 3) == CBR_LATE, "late");
    CHECK(free_blocks(r) == all, "a late call took no blocks");
    cbr_ring_destroy(r);
    /* after destroy the store is freed: a late call must not touch it (ASan) */
    CHECK(push_bytes(r, 4, CBR_PAYLOAD_MAX, 4) == CBR_LATE, "late after destroy");
    test_aligned_free(r);
}

static void *push_long(void *arg)
{
    void **args = (void **)arg;
    /* relaxed: read after join */
    __atomic_store_n((int *)args[1], push_bytes((cbr_ring *)args[0], 99, CBR_PAYLOAD_MAX, 99), __ATOMIC_RELAXED);
    return NULL;
}

static void close_ends_a_wait_for_blocks_and_the_call_is_late(void)
{
    static uint8_t payload[OVER * 8];
    /* "block" for a minute: only close() can end the wait this test forces */
    cbr_ring *r = new_ring(16, CBR_OVERFLOW_BLOCK, UINT64_C(60000000000));
    cbr_record out[8];
    cbr_ring_stats st;
    test_thread t;
    void *args[2];
    int result = -1;
    size_t used = 0, i;
    unsigned round = 0;
    for (i = 0; i < 4; i++)  /* every block of chunk 0 */
        CHECK(push_bytes(r, i, CBR_PAYLOAD_MAX, i) == CBR_PUSHED, "push %zu", i);
    args[0] = r;
    args[1] = &result;
    test_thread_start(&t, push_long, args);
    /* acquire: the producer is in the store, waiting (nothing else raises it here) */
    while (cbr_load_u32(&r->deciding, CBR_ACQUIRE) == 0)
        cbr_backoff(round < 20 ? round++ : round);
    cbr_ring_close(r);
    test_thread_join(&t);
    CHECK(result == CBR_LATE, "the waiting producer's call: %d, expected late", result);
    cbr_ring_get_stats(r, &st);
    CHECK(st.late == 1 && st.pushed == 4 && st.payloads_truncated == 0, "late %" PRIu64 ", pushed %" PRIu64,
          st.late, st.pushed);
    CHECK(cbr_ring_drain_payloads(r, out, 8, payload, sizeof payload, &used) == 4, "the four before it drained");
    for (i = 0; i < 4; i++)
        CHECK(whole(&out[i], payload, CBR_PAYLOAD_MAX, i), "record %zu whole", i);
    CHECK(free_blocks(r) == all_blocks(r), "every block back");
    cbr_ring_destroy(r);
    test_aligned_free(r);
}

static void a_fork_child_drains_the_payloads_pushed_before_the_fork(void)
{
#if !defined(_WIN32)
    static uint8_t payload[OVER * 8];
    cbr_ring *r = new_ring(16, CBR_OVERFLOW_SPILL, 0);
    size_t i;
    pid_t pid;
    int status = 0;
    for (i = 0; i < 6; i++)
        CHECK(push_bytes(r, i, 100 + 700 * i, i) == CBR_PUSHED, "push %zu", i);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        cbr_record out[8];
        size_t used = 0, got;
        cbr_ring_close_in_child(r);
        got = cbr_ring_drain_payloads(r, out, 8, payload, sizeof payload, &used);
        CHECK(got == 6, "child drained %zu", got);
        for (i = 0; i < got; i++)
            CHECK(whole(&out[i], payload, 100 + 700 * i, i), "child: record %zu whole", i);
        CHECK(cbr_ring_push_status(r, (cbr_hinternet)2, 9, BYTES_STATUS, payload, 3000) == CBR_LATE, "late");
        cbr_ring_destroy(r);
        test_aligned_free(r);
        exit(failures ? 1 : 0);
    }
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the child's checks passed");
    free_ring(r);
#endif
}

/* The multi-producer run. */
typedef struct producer {
    test_thread thread;
    cbr_ring *r;
    uint32_t id;
    uint64_t events;
    uint64_t results[4];  /* by cbr_push_result */
    uint8_t buf[OVER];
} producer;

static void winhttp_is_decoded_by_its_own_table(void)
{
    static uint8_t wide[2 * OVER + 2], url[OVER];
    static uint8_t body[64];
    cbr_record out;
    cbr_ring *r = new_ring(64, CBR_OVERFLOW_SPILL, 0);
    uint8_t payload[64];
    size_t used, w, i;
    cbr_dword n = 8192;

    /* every string UTF-16, its length in characters with the terminator */
    w = utf16(wide, "127.0.0.1", 9);
    expect_text(r, VIA_WINHTTP, WINHTTP_CALLBACK_STATUS_RESOLVING_NAME, wide, 10, CBR_INFO_TEXT_WIDE, wide, w, 0);
    expect_text(r, VIA_WINHTTP, WINHTTP_CALLBACK_STATUS_NAME_RESOLVED, wide, 10, CBR_INFO_TEXT_WIDE, wide, w, 0);
    expect_text(r, VIA_WINHTTP, WINHTTP_CALLBACK_STATUS_CONNECTED_TO_SERVER, wide, 10, CBR_INFO_TEXT_WIDE, wide,
                w, 0);
    for (i = 0; i < 2000; i++)
        url[i] = (uint8_t)('a' + i % 26);
    w = utf16(wide, (const char *)url, 2000);
    expect_text(r, VIA_WINHTTP, WINHTTP_CALLBACK_STATUS_REDIRECT, wide, 2001, CBR_INFO_TEXT_WIDE, wide, w, 0);
    memset(url, 'v', OVER);
    utf16(wide, (const char *)url, 2085);
    expect_text(r, VIA_WINHTTP, WINHTTP_CALLBACK_STATUS_REDIRECT, wide, 2086, CBR_INFO_TEXT_WIDE, wide,
                CBR_PAYLOAD_MAX, 1);
    /* statuses that carry nothing keep what they are given; other codes are bytes */
    expect_text(r, VIA_WINHTTP, WINHTTP_CALLBACK_STATUS_HEADERS_AVAILABLE, "extra", 5, CBR_INFO_BYTES, "extra", 5,
                0);
    fill(url, OVER, 5);
    expect_text(r, VIA_WINHTTP, WINHTTP_BYTES_STATUS, url, 3000, CBR_INFO_BYTES, url, 3000, 0);

    /* nothing given: nothing read, nothing flagged */
    CHECK(cbr_ring_push_winhttp_status(r, (cbr_hinternet)1, 7, WINHTTP_CALLBACK_STATUS_SENDREQUEST_COMPLETE,
                                       NULL, 0) == CBR_PUSHED, "push SENDREQUEST_COMPLETE");
    CHECK(drain_one(r, &out, payload, &used) == 1 && out.kind == CBR_INFO_NONE
          && out.flags == CBR_FLAG_WINHTTP && used == 0, "SENDREQUEST_COMPLETE: kind %u flags %u", out.kind,
          out.flags);
    /* READ_COMPLETE: the buffer's address and the bytes read, the buffer untouched */
    memset(body, 0x5A, sizeof body);
    CHECK(cbr_ring_push_winhttp_status(r, (cbr_hinternet)1, 7, WINHTTP_CALLBACK_STATUS_READ_COMPLETE, body,
                                       sizeof body) == CBR_PUSHED, "push READ_COMPLETE");
    CHECK(drain_one(r, &out, payload, &used) == 1 && out.kind == CBR_INFO_BUFFER
          && out.result == (uint64_t)(uintptr_t)body && out.length == sizeof body && out.data_len == 0
          && out.flags == CBR_FLAG_WINHTTP && used == 0, "READ_COMPLETE: kind %u flags %u", out.kind, out.flags);
    /* REQUEST_ERROR and DATA_AVAILABLE: structures */
    {
        cbr_async_result ar;
        memset(&ar, 0, sizeof ar);
        ar.dwResult = API_SEND_REQUEST;
        ar.dwError = 12029;
        CHECK(cbr_ring_push_winhttp_status(r, (cbr_hinternet)1, 7, WINHTTP_CALLBACK_STATUS_REQUEST_ERROR, &ar,
                                           sizeof ar) == CBR_PUSHED, "push REQUEST_ERROR");
        CHECK(drain_one(r, &out, payload, &used) == 1 && out.kind == CBR_INFO_ASYNC_RESULT
              && out.result == API_SEND_REQUEST && out.error == 12029 && out.flags == CBR_FLAG_WINHTTP,
              "REQUEST_ERROR: kind %u result %" PRIu64, out.kind, (uint64_t)out.result);
    }
    CHECK(cbr_ring_push_winhttp_status(r, (cbr_hinternet)1, 7, WINHTTP_CALLBACK_STATUS_DATA_AVAILABLE, &n,
                                       sizeof n) == CBR_PUSHED, "push DATA_AVAILABLE");
    CHECK(drain_one(r, &out, payload, &used) == 1 && out.kind == CBR_INFO_DWORD && out.result == 8192
          && out.flags == CBR_FLAG_WINHTTP, "DATA_AVAILABLE: kind %u", out.kind);
    CHECK(free_blocks(r) == all_blocks(r), "every block back after WinHTTP's text");
    free_ring(r);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= UINT64_C(0x9E3779B97F4A7C15);
    return x ^ (x >> 29);
}

/* The information length of event i of producer p: mostly short, some of
 * every length up to past the maximum. */
static size_t length_of(uint32_t p, uint64_t i)
{
    uint64_t h = mix(((uint64_t)p << 40) ^ i);
    switch (h & 7) {
    case 0: case 1: case 2: case 3: return (size_t)((h >> 8) % (CBR_RECORD_INLINE + 1));
    case 4: case 5: return CBR_RECORD_INLINE + 1 + (size_t)((h >> 8) % 600);
    case 6: return (size_t)((h >> 8) % (CBR_PAYLOAD_MAX + 1));
    default: return CBR_PAYLOAD_MAX - 10 + (size_t)((h >> 8) % 310);
    }
}

static void *produce(void *arg)
{
    producer *p = (producer *)arg;
    uint64_t i;
    for (i = 0; i < p->events; i++) {
        size_t n = length_of(p->id, i);
        uint64_t seed = ((uint64_t)p->id << 40) | i;
        int res;
        fill(p->buf, n, seed);
        if (p->id % 2)  /* odd producers are WinHTTP callbacks */
            res = cbr_ring_push_winhttp_status(p->r, (cbr_hinternet)(uintptr_t)(p->id + 1),
                                               (cbr_dword_ptr)seed, WINHTTP_BYTES_STATUS, p->buf, (cbr_dword)n);
        else
            res = cbr_ring_push_status(p->r, (cbr_hinternet)(uintptr_t)(p->id + 1),
                                       (cbr_dword_ptr)seed, BYTES_STATUS, p->buf, (cbr_dword)n);
        p->results[res]++;
        if (res == CBR_LATE)
            break;
    }
    return NULL;
}

#define PRODUCERS 4

static void check_record(const cbr_record *rec, const uint8_t *payload, uint64_t *next, uint64_t *truncated)
{
    uint32_t p = (uint32_t)(rec->context >> 40);
    uint64_t i = rec->context & ((UINT64_C(1) << 40) - 1);
    size_t n, keep;
    if (p >= PRODUCERS) {
        CHECK(0, "a record from no producer: context %" PRIu64, (uint64_t)rec->context);
        return;
    }
    CHECK(i >= next[p], "producer %u: event %" PRIu64 " after %" PRIu64, p, i, next[p]);
    next[p] = i + 1;
    n = length_of(p, i);
    keep = n < CBR_PAYLOAD_MAX ? n : CBR_PAYLOAD_MAX;
    CHECK(rec->length == n && rec->kind == (n ? CBR_INFO_BYTES : CBR_INFO_NONE), "producer %u event %" PRIu64
          ": length %u kind %u", p, i, rec->length, rec->kind);
    CHECK(!!(rec->flags & CBR_FLAG_WINHTTP) == (p % 2)
          && rec->status == (p % 2 ? WINHTTP_BYTES_STATUS : BYTES_STATUS),
          "producer %u event %" PRIu64 ": status %u flags %u", p, i, rec->status, rec->flags);
    if (keep > CBR_RECORD_INLINE && !(rec->flags & CBR_FLAG_PAYLOAD)) {
        /* store exhausted: the prefix, marked */
        CHECK(rec->flags & CBR_FLAG_TRUNCATED, "producer %u event %" PRIu64 ": prefix unmarked", p, i);
        CHECK(whole(rec, payload, CBR_RECORD_INLINE, rec->context), "producer %u event %" PRIu64 ": prefix", p, i);
        ++*truncated;
        return;
    }
    CHECK(whole(rec, payload, keep, rec->context), "producer %u event %" PRIu64 ": content of %zu bytes", p, i, keep);
    CHECK(!!(rec->flags & CBR_FLAG_TRUNCATED) == (n > CBR_PAYLOAD_MAX), "producer %u event %" PRIu64 ": flags %u",
          p, i, rec->flags);
}

/* close_after: close once this many records are drained (0: never). */
static void run_producers(const char *name, enum cbr_overflow policy, uint64_t capacity, uint64_t events,
                          uint64_t close_after)
{
    static producer ps[PRODUCERS];
    static uint8_t payload[CBR_PAYLOAD_MAX + 5000];
    static cbr_record out[64];
    cbr_ring *r = new_ring(capacity, policy, 2000000);
    uint64_t next[PRODUCERS] = {0}, got = 0, truncated = 0, sum[4] = {0}, done = 0;
    cbr_ring_stats st;
    int i, k;

    for (i = 0; i < PRODUCERS; i++) {
        memset(ps[i].results, 0, sizeof ps[i].results);
        ps[i].r = r;
        ps[i].id = (uint32_t)i;
        ps[i].events = events;
        test_thread_start(&ps[i].thread, produce, &ps[i]);
    }
    /* the consumer: a payload buffer of a little over one maximum, so that
     * batches often stop before a payload that does not fit */
    for (;;) {
        size_t used = 0, n = cbr_ring_drain_payloads(r, out, 64, payload, sizeof payload, &used), j;
        for (j = 0; j < n; j++)
            check_record(&out[j], payload, next, &truncated);
        got += n;
        if (close_after && got >= close_after && !cbr_ring_closed(r))
            cbr_ring_close(r);
        if (n == 0) {
            cbr_ring_stats now;
            cbr_ring_get_stats(r, &now);
            if (done)
                break;
            /* every producer has finished once every event is accounted for */
            if (now.pushed + now.dropped + now.late >= (uint64_t)PRODUCERS * events || cbr_ring_closed(r)) {
                for (i = 0; i < PRODUCERS; i++)
                    test_thread_join(&ps[i].thread);
                done = 1;  /* one more pass drains what the last pushes left */
            } else {
                cbr_backoff(10);
            }
        }
    }
    cbr_ring_close(r);
    {
        size_t used = 0;
        CHECK(cbr_ring_drain_payloads(r, out, 64, payload, sizeof payload, &used) == 0, "%s: all drained", name);
    }
    cbr_ring_get_stats(r, &st);
    for (i = 0; i < PRODUCERS; i++)
        for (k = 0; k < 4; k++)
            sum[k] += ps[i].results[k];
    CHECK(st.pushed == sum[CBR_PUSHED] + sum[CBR_SPILLED] && st.drained == st.pushed,
          "%s: pushed %" PRIu64 ", drained %" PRIu64 ", producers saw %" PRIu64, name, st.pushed, st.drained,
          sum[CBR_PUSHED] + sum[CBR_SPILLED]);
    CHECK(st.dropped == sum[CBR_DROPPED] && st.late == sum[CBR_LATE] && st.spilled == sum[CBR_SPILLED],
          "%s: dropped %" PRIu64 "/%" PRIu64 " late %" PRIu64 "/%" PRIu64, name, st.dropped, sum[CBR_DROPPED],
          st.late, sum[CBR_LATE]);
    if (!close_after)
        CHECK(st.pushed + st.dropped == (uint64_t)PRODUCERS * events && st.late == 0, "%s: every event", name);
    CHECK(st.payloads_truncated == truncated, "%s: payloads_truncated %" PRIu64 ", seen %" PRIu64, name,
          st.payloads_truncated, truncated);
    if (policy == CBR_OVERFLOW_SPILL && !fail_every && r->payloads.chunks_used < CBR_PAYLOAD_CHUNKS)
        CHECK(truncated == 0, "%s: spill with memory kept every payload whole", name);
    CHECK(free_blocks(r) == all_blocks(r), "%s: every block back: %" PRIu64 " of %" PRIu64, name,
          free_blocks(r), all_blocks(r));
    printf("%-28s pushed %8" PRIu64 " spilled %7" PRIu64 " dropped %7" PRIu64 " late %6" PRIu64
           " truncated %5" PRIu64 " blocks %7" PRIu64 "\n", name, st.pushed, st.spilled, st.dropped, st.late,
           st.payloads_truncated, all_blocks(r));
    free_ring(r);
}

int main(int argc, char **argv)
{
    uint64_t events = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    text_of_both_registrations_is_kept_whole();
    winhttp_is_decoded_by_its_own_table();
    an_exhausted_store_truncates_under_drop_and_block_and_grows_under_spill();
    spill_without_memory_truncates_and_counts();
    a_drain_stops_before_a_payload_that_does_not_fit();
    dropped_and_late_records_give_their_blocks_back();
    close_ends_a_wait_for_blocks_and_the_call_is_late();
    a_fork_child_drains_the_payloads_pushed_before_the_fork();
    run_producers("spill, capacity 64", CBR_OVERFLOW_SPILL, 64, events, 0);
    run_producers("spill, capacity 4096", CBR_OVERFLOW_SPILL, 4096, events, 0);
    run_producers("drop, capacity 64", CBR_OVERFLOW_DROP, 64, events, 0);
    run_producers("block, capacity 64", CBR_OVERFLOW_BLOCK, 64, events, 0);
    fail_every = 3;
    run_producers("spill, failing malloc", CBR_OVERFLOW_SPILL, 64, events / 2, 0);
    fail_every = 0;
    run_producers("spill, closed while pushing", CBR_OVERFLOW_SPILL, 64, events, events);
    run_producers("block, closed while pushing", CBR_OVERFLOW_BLOCK, 64, events, events);
    if (failures) {
        fprintf(stderr, "payload_stress: %d checks failed\n", failures);
        return 1;
    }
    printf("payload_stress: all checks passed\n");
    return 0;
}
