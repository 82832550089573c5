/* libFuzzer harness for the status decoders (include/cbring/status.h,
 * WinINet's, and include/cbring/winhttp.h, WinHTTP's) and the payloads
 * they keep, built with AddressSanitizer and UndefinedBehaviorSanitizer by
 * tests/fuzz/run.sh.
 *
 * The decoder's promise (status.h): it never dereferences NULL; for a
 * structure it reads no more than the structure (16 bytes for an
 * INTERNET_ASYNC_RESULT, 4 for a DWORD, 8 for a handle); for ANSI text no
 * more than min(length, CBR_PAYLOAD_MAX + 1) bytes, for UTF-16 text no
 * more than min(2 x length, CBR_PAYLOAD_MAX + 2), for other bytes no more
 * than min(length, CBR_PAYLOAD_MAX), however large the length claims to
 * be.  In "hostile" mode the harness gives it a heap buffer of exactly
 * those bytes, so ASan reports any read past them; every field of the
 * record, and every byte kept, is checked against an independent reading
 * of the same input.
 *
 * Input: mode (1 byte), status (4), length (4), handle (8), context (8),
 * then a pattern.  Mode bit 0 passes NULL; bit 1 claims `length` with a
 * buffer of only the bytes the contract allows (a hostile length), filled
 * with the pattern repeated; else the buffer is the pattern, or with bit 3
 * the pattern repeated to (length field % 3 x CBR_PAYLOAD_MAX) bytes, and
 * the length is the buffer's size in bytes, or with bit 4 in UTF-16
 * characters (half of it, as Windows gives RESOLVING_NAME); the buffer
 * then grows (the pattern repeated) to what the contract lets the decoder
 * read for that length, if more.  Bit 2 decodes
 * as a W registration (cbr_record_from_status_w), else A; bit 5 by
 * WinHTTP's table instead (cbr_record_from_winhttp_status: every string
 * UTF-16, READ_COMPLETE's buffer recorded and never read, so a hostile
 * buffer for it has no bytes at all).  Each input is
 * also pushed through a ring and drained, with a payload buffer and
 * without, and must come out as decoded, its payload whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbring/ring.h"
#include "cbring/status.h"
#include "cbring/winhttp.h"

#define HEADER 25
enum {
    MODE_NULL = 1,
    MODE_HOSTILE = 2,
    MODE_WIDE = 4,      /* the W registration */
    MODE_REPEAT = 8,    /* the pattern repeated to a long buffer */
    MODE_CHARS = 16,    /* the length in UTF-16 characters, not bytes */
    MODE_WINHTTP = 32   /* WinHTTP's decoder (bit 2 is then ignored) */
};
enum { API_WININET_A = 0, API_WININET_W = 1, API_WINHTTP = 2 };

static void fail(const char *what, uint32_t status, uint32_t length)
{
    fprintf(stderr, "status_fuzz: %s (status %u, length %u)\n", what, status, length);
    abort();
}

static uint64_t load_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int i;
    for (i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* How a status with this length is decoded: as its payload says, except
 * WinINet's HANDLE_CREATED, which WinINet sends as the bare handle
 * (8 <= length < 16), and WinHTTP's statuses documented to carry nothing,
 * which keep what they are given as bytes. */
static enum cbr_info_kind decoded_as(uint32_t status, uint32_t length, int api)
{
    enum cbr_info_kind kind;
    if (api == API_WINHTTP) {
        kind = cbr_winhttp_status_payload(status);
        return kind == CBR_INFO_NONE ? CBR_INFO_BYTES : kind;
    }
    if (status == INTERNET_STATUS_HANDLE_CREATED && length < sizeof(cbr_async_result)
        && length >= sizeof(cbr_hinternet))
        return CBR_INFO_HANDLE;
    return api == API_WININET_W ? cbr_status_payload_w(status) : cbr_status_payload(status);
}

/* What the decoder may read for a status (the README's "What cbring must trust"). */
static size_t allowed(uint32_t status, uint32_t length, int api)
{
    uint64_t twice = 2 * (uint64_t)length;
    switch (decoded_as(status, length, api)) {
    case CBR_INFO_ASYNC_RESULT: return length >= sizeof(cbr_async_result) ? sizeof(cbr_async_result) : 0;
    case CBR_INFO_DWORD: return length >= sizeof(cbr_dword) ? sizeof(cbr_dword) : 0;
    case CBR_INFO_HANDLE: return length >= sizeof(cbr_hinternet) ? sizeof(cbr_hinternet) : 0;
    case CBR_INFO_TEXT: return length < CBR_PAYLOAD_MAX + 1 ? length : CBR_PAYLOAD_MAX + 1;
    case CBR_INFO_TEXT_WIDE: return twice < CBR_PAYLOAD_MAX + 2 ? (size_t)twice : CBR_PAYLOAD_MAX + 2;
    case CBR_INFO_BUFFER: return 0;  /* the caller's read buffer: never read */
    default: return length < CBR_PAYLOAD_MAX ? length : CBR_PAYLOAD_MAX;
    }
}

/* The bytes of information kept, read independently of status.h; *over
 * says the information went past CBR_PAYLOAD_MAX. */
static size_t kept(const uint8_t *buf, uint32_t status, uint32_t length, int api, int *over)
{
    size_t n = allowed(status, length, api), i;
    enum cbr_info_kind kind = decoded_as(status, length, api);
    if (kind == CBR_INFO_TEXT) {
        for (i = 0; i < n; i++)
            if (buf[i] == 0) {
                n = i;
                break;
            }
    } else if (kind == CBR_INFO_TEXT_WIDE) {
        for (i = 0; i + 1 < n; i += 2)
            if (buf[i] == 0 && buf[i + 1] == 0) {
                n = i;
                break;
            }
    } else {
        *over = length > CBR_PAYLOAD_MAX;
        return n;
    }
    *over = n > CBR_PAYLOAD_MAX;
    return *over ? CBR_PAYLOAD_MAX : n;
}

static int is_stored(enum cbr_info_kind kind)
{
    return kind == CBR_INFO_BYTES || kind == CBR_INFO_TEXT || kind == CBR_INFO_TEXT_WIDE;
}

/* Exactly n bytes on the heap (a live pointer even for none): ASan reports
 * a read of byte n, and for n == 0 any read at all.  The pattern repeated. */
static uint8_t *exact_buffer(size_t n, const uint8_t *pattern, size_t pattern_len)
{
    uint8_t *buf = (uint8_t *)malloc(n ? n : 1);
    size_t i;
    if (buf == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        buf[i] = pattern_len ? pattern[i % pattern_len] : 0;
    if (n == 0) {
        free(buf);
        buf = (uint8_t *)malloc(0);
    }
    return buf;
}

/* Text is read up to its terminator and never past it: when the buffer
 * holds one within what may be read, it ends there, so that ASan reports a
 * read of the byte after it (with a length in bytes, a wide string's limit
 * of 2 x length lies far beyond its terminator). */
static uint8_t *end_at_terminator(uint8_t *buf, size_t *buf_len, uint32_t status, uint32_t length,
                                  int api)
{
    enum cbr_info_kind kind = decoded_as(status, length, api);
    int wide = kind == CBR_INFO_TEXT_WIDE;
    size_t n = allowed(status, length, api), step = wide ? 2 : 1, i;
    uint8_t *tight;
    if (kind != CBR_INFO_TEXT && kind != CBR_INFO_TEXT_WIDE)
        return buf;
    for (i = 0; i + step <= n && i + step <= *buf_len; i += step)
        if (buf[i] == 0 && (!wide || buf[i + 1] == 0))
            break;
    if (i + step > n || i + step > *buf_len || i + step == *buf_len)
        return buf;
    tight = exact_buffer(i + step, buf, i + step);
    free(buf);
    *buf_len = i + step;
    return tight;
}

static cbr_ring ring;
static uint8_t payload[CBR_PAYLOAD_MAX];

static void decode(int api, cbr_record *rec, uint64_t handle, uint64_t context, uint32_t status,
                   const void *buf, uint32_t length)
{
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)handle;
    if (api == API_WINHTTP)
        cbr_record_from_winhttp_status(rec, h, (cbr_dword_ptr)context, status, buf, length);
    else if (api == API_WININET_W)
        cbr_record_from_status_w(rec, h, (cbr_dword_ptr)context, status, buf, length);
    else
        cbr_record_from_status(rec, h, (cbr_dword_ptr)context, status, buf, length);
}

static int push(int api, uint64_t handle, uint64_t context, uint32_t status, const void *buf,
                uint32_t length)
{
    cbr_hinternet h = (cbr_hinternet)(uintptr_t)handle;
    if (api == API_WINHTTP)
        return cbr_ring_push_winhttp_status(&ring, h, (cbr_dword_ptr)context, status, buf, length);
    if (api == API_WININET_W)
        return cbr_ring_push_status_w(&ring, h, (cbr_dword_ptr)context, status, buf, length);
    return cbr_ring_push_status(&ring, h, (cbr_dword_ptr)context, status, buf, length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    uint32_t status, length;
    uint64_t handle, context;
    const uint8_t *pattern;
    size_t pattern_len, buf_len, want, keep = 0, i, used;
    uint8_t *buf = NULL;
    cbr_record rec, out[2];
    enum cbr_info_kind kind;
    int api, over = 0, pushed;
    uint16_t api_flag;

    if (size < HEADER)
        return 0;
    if (ring.slots == NULL && cbr_ring_init(&ring, 2, CBR_OVERFLOW_DROP, 0, 0) != 0)
        fail("ring init", 0, 0);
    mode = data[0];
    api = (mode & MODE_WINHTTP) ? API_WINHTTP : (mode & MODE_WIDE) ? API_WININET_W : API_WININET_A;
    api_flag = api == API_WINHTTP ? CBR_FLAG_WINHTTP : 0;
    status = (uint32_t)load_le(data + 1, 4);
    length = (uint32_t)load_le(data + 5, 4);
    handle = load_le(data + 9, 8);
    context = load_le(data + 17, 8);
    pattern = data + HEADER;
    pattern_len = size - HEADER;

    if (mode & MODE_NULL) {
        buf_len = 0;                      /* NULL: nothing may be read, length is anything */
    } else if (mode & MODE_HOSTILE) {
        buf_len = allowed(status, length, api);  /* hostile: only what the contract allows */
    } else {
        buf_len = (mode & MODE_REPEAT) ? length % (3 * CBR_PAYLOAD_MAX) : pattern_len;
        if (buf_len > UINT32_MAX)
            return 0;
        length = (mode & MODE_CHARS) ? (uint32_t)(buf_len / 2) : (uint32_t)buf_len;
        /* a wide string's length in bytes lets the decoder look twice as far for its terminator */
        if (buf_len < allowed(status, length, api))
            buf_len = allowed(status, length, api);
    }
    if (!(mode & MODE_NULL) && (buf = exact_buffer(buf_len, pattern, pattern_len)) == NULL)
        return 0;
    if (buf != NULL)
        buf = end_at_terminator(buf, &buf_len, status, length, api);
    if (!(mode & MODE_NULL) && buf == NULL)
        return 0;

    memset(&rec, 0xA5, sizeof rec);  /* the decoder must overwrite every byte */
    decode(api, &rec, handle, context, status, buf, length);

    if (rec.handle != (uint64_t)(uintptr_t)(cbr_hinternet)(uintptr_t)handle
        || rec.context != (uint64_t)(cbr_dword_ptr)context || rec.status != status
        || rec.length != length || rec.seq != 0)
        fail("header fields", status, length);
    if (rec.flags & ~(CBR_FLAG_TRUNCATED | CBR_FLAG_NULL_INFO | CBR_FLAG_SHORT_INFO | api_flag))
        fail("undefined flag bits", status, length);
    if ((rec.flags & CBR_FLAG_WINHTTP) != api_flag)
        fail("the WinHTTP flag, on WinHTTP's records only", status, length);
    rec.flags = (uint16_t)(rec.flags & ~api_flag);  /* checked: the rest as for WinINet */
    if (rec.data_len > CBR_RECORD_INLINE)
        fail("data_len past data", status, length);
    kind = decoded_as(status, length, api);
    if (kind == CBR_INFO_BUFFER) {
        if (rec.kind != CBR_INFO_BUFFER || rec.result != (uint64_t)(uintptr_t)buf || rec.error != 0
            || rec.data_len != 0 || rec.flags != (buf == NULL ? CBR_FLAG_NULL_INFO : 0))
            fail("the read buffer's address not kept as given", status, length);
    } else if (buf == NULL) {
        int expect_flag = length != 0 || !is_stored(kind);
        if (rec.kind != CBR_INFO_NONE || rec.data_len != 0 || rec.result != 0 || rec.error != 0)
            fail("NULL information was read", status, length);
        if (!!(rec.flags & CBR_FLAG_NULL_INFO) != expect_flag || (rec.flags & ~CBR_FLAG_NULL_INFO))
            fail("NULL flag", status, length);
    } else if (is_stored(kind)) {
        if (length == 0) {
            if (rec.kind != CBR_INFO_NONE || rec.flags != 0 || rec.data_len != 0)
                fail("empty information", status, length);
        } else {
            keep = kept(buf, status, length, api, &over);
            want = keep < CBR_RECORD_INLINE ? keep : CBR_RECORD_INLINE;
            if (rec.kind != kind || rec.data_len != want || memcmp(rec.data, buf, want) != 0)
                fail("bytes not copied exactly", status, length);
            if (!!(rec.flags & CBR_FLAG_TRUNCATED) != (keep > CBR_RECORD_INLINE || over)
                || (rec.flags & ~CBR_FLAG_TRUNCATED))
                fail("truncated flag", status, length);
        }
        if (rec.result != 0 || rec.error != 0)
            fail("information touched result", status, length);
    } else if ((want = allowed(status, length, api)) == 0) {
        if (rec.kind != CBR_INFO_NONE || rec.flags != CBR_FLAG_SHORT_INFO || rec.result != 0)
            fail("short information", status, length);
    } else {
        uint64_t expect_result = 0, expect_error = 0;
        if (kind == CBR_INFO_ASYNC_RESULT) {
            expect_result = load_le(buf, sizeof(cbr_dword_ptr));
            expect_error = load_le(buf + sizeof(cbr_dword_ptr), sizeof(cbr_dword));
        } else {
            expect_result = load_le(buf, (int)want);
        }
        if (rec.kind != (uint8_t)kind || rec.flags != 0 || rec.result != expect_result
            || rec.error != expect_error || rec.data_len != 0)
            fail("structure decoded wrongly", status, length);
    }
    for (i = rec.data_len; i < CBR_RECORD_INLINE; i++)
        if (rec.data[i] != 0)
            fail("unused data bytes not zeroed", status, length);

    rec.flags = (uint16_t)(rec.flags | api_flag);

    /* the same call through the ring, drained with a payload buffer: the
     * record as decoded, but a payload longer than data[] kept whole */
    pushed = push(api, handle, context, status, buf, length);
    if (pushed != CBR_PUSHED)
        fail("push into an empty ring", status, length);
    used = 0;
    if (cbr_ring_drain_payloads(&ring, out, 2, payload, sizeof payload, &used) != 1)
        fail("drain returned other than one record", status, length);
    out[0].seq = 0;
    if (keep > CBR_RECORD_INLINE) {
        if (out[0].flags != (CBR_FLAG_PAYLOAD | api_flag | (over ? CBR_FLAG_TRUNCATED : 0))
            || CBR_PAYLOAD_SIZE(&out[0]) != keep
            || CBR_PAYLOAD_OFFSET(&out[0]) != 0 || used != keep || memcmp(payload, buf, keep) != 0)
            fail("the payload did not come out whole", status, length);
        out[0].flags = rec.flags;
        out[0].result = rec.result;
    } else if (used != 0) {
        fail("a payload for information that fits data[]", status, length);
    }
    if (memcmp(&out[0], &rec, sizeof rec) != 0)
        fail("the ring changed the record", status, length);

    /* and drained without one: exactly as decoded, the payload released */
    push(api, handle, context, status, buf, length);
    if (cbr_ring_drain(&ring, out, 2) != 1)
        fail("plain drain returned other than one record", status, length);
    out[0].seq = 0;
    if (memcmp(&out[0], &rec, sizeof rec) != 0)
        fail("a plain drain changed the record", status, length);
    free(buf);
    return 0;
}
