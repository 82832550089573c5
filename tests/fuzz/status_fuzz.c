/* libFuzzer harness for the status decoder, cbr_record_from_status
 * (include/cbring/status.h), built with AddressSanitizer and
 * UndefinedBehaviorSanitizer by tests/fuzz/run.sh.
 *
 * The decoder's promise: it never dereferences NULL, never reads more than
 * dwStatusInformationLength bytes, and never more than the structure its
 * status promises (16 bytes for an INTERNET_ASYNC_RESULT, 4 for a DWORD, 8
 * for a handle, 20 for bytes) however large the length claims to be.  The
 * harness gives it a heap buffer of exactly the bytes it may read, so ASan
 * reports any read past them, and checks every field of the record against
 * an independent reading of the same input.
 *
 * Input: mode (1 byte), status (4), length (4), handle (8), context (8),
 * then the payload.  Mode bit 0 passes NULL; bit 1 claims `length` with a
 * buffer of only the bytes the contract allows (a hostile length); else the
 * length is the payload's exact size.  Each input is also pushed through a
 * ring and drained, and must come out unchanged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbring/ring.h"
#include "cbring/status.h"

#define HEADER 25

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
 * HANDLE_CREATED, which WinINet sends as the bare handle (8 <= length < 16). */
static enum cbr_info_kind decoded_as(uint32_t status, uint32_t length)
{
    if (status == 60 && length < sizeof(cbr_async_result) && length >= sizeof(cbr_hinternet))
        return CBR_INFO_HANDLE;
    return cbr_status_payload(status);
}

/* What the decoder may read for a status: the structure it promises, or
 * for text and bytes what status.h allows. */
static size_t allowed(uint32_t status, uint32_t length)
{
    switch (decoded_as(status, length)) {
    case CBR_INFO_ASYNC_RESULT: return length >= sizeof(cbr_async_result) ? sizeof(cbr_async_result) : 0;
    case CBR_INFO_DWORD: return length >= sizeof(cbr_dword) ? sizeof(cbr_dword) : 0;
    case CBR_INFO_HANDLE: return length >= sizeof(cbr_hinternet) ? sizeof(cbr_hinternet) : 0;
    case CBR_INFO_TEXT: return length < CBR_PAYLOAD_MAX + 1 ? length : CBR_PAYLOAD_MAX + 1;
    default: return length < CBR_PAYLOAD_MAX ? length : CBR_PAYLOAD_MAX;
    }
}

/* The bytes of information kept, read independently of status.h. */
static size_t kept(const uint8_t *buf, uint32_t status, uint32_t length)
{
    size_t n = allowed(status, length), i;
    if (decoded_as(status, length) == CBR_INFO_TEXT)
        for (i = 0; i < n; i++)
            if (buf[i] == 0)
                return i;
    return n > CBR_PAYLOAD_MAX ? CBR_PAYLOAD_MAX : n;
}

static cbr_ring ring;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    uint32_t status, length;
    uint64_t handle, context;
    const uint8_t *payload;
    size_t payload_len, buf_len, want, i;
    uint8_t *buf = NULL;
    cbr_record rec, out[2];
    enum cbr_info_kind kind;

    if (size < HEADER)
        return 0;
    if (ring.slots == NULL && cbr_ring_init(&ring, 2, CBR_OVERFLOW_DROP, 0, 0) != 0)
        fail("ring init", 0, 0);
    mode = data[0];
    status = (uint32_t)load_le(data + 1, 4);
    length = (uint32_t)load_le(data + 5, 4);
    handle = load_le(data + 9, 8);
    context = load_le(data + 17, 8);
    payload = data + HEADER;
    payload_len = size - HEADER;

    if (mode & 1) {
        buf_len = 0;                      /* NULL: nothing may be read, length is anything */
    } else if (mode & 2) {
        buf_len = allowed(status, length);  /* hostile: only what the contract allows */
        if (buf_len > payload_len)
            return 0;
    } else {
        if (payload_len > UINT32_MAX)
            return 0;
        length = (uint32_t)payload_len;
        buf_len = payload_len;
    }
    if (!(mode & 1)) {
        /* exactly buf_len bytes (at least one, so the pointer is not NULL): ASan
         * reports a read of byte buf_len, and for buf_len 0 any read at all */
        buf = (uint8_t *)malloc(buf_len ? buf_len : 1);
        if (buf == NULL)
            return 0;
        memcpy(buf, payload, buf_len);
        if (buf_len == 0) {
            free(buf);
            buf = (uint8_t *)malloc(0);  /* a live pointer to no bytes at all */
            if (buf == NULL)
                return 0;
        }
    }

    memset(&rec, 0xA5, sizeof rec);  /* the decoder must overwrite every byte */
    cbr_record_from_status(&rec, (cbr_hinternet)(uintptr_t)handle, (cbr_dword_ptr)context, status,
                           buf, length);

    if (rec.handle != (uint64_t)(uintptr_t)(cbr_hinternet)(uintptr_t)handle
        || rec.context != (uint64_t)(cbr_dword_ptr)context || rec.status != status
        || rec.length != length || rec.seq != 0)
        fail("header fields", status, length);
    if (rec.flags & ~(CBR_FLAG_TRUNCATED | CBR_FLAG_NULL_INFO | CBR_FLAG_SHORT_INFO))
        fail("undefined flag bits", status, length);
    if (rec.data_len > CBR_RECORD_INLINE)
        fail("data_len past data", status, length);
    want = allowed(status, length);
    kind = decoded_as(status, length);
    if (buf == NULL) {
        int expect_flag = length != 0 || (kind != CBR_INFO_BYTES && kind != CBR_INFO_TEXT);
        if (rec.kind != CBR_INFO_NONE || rec.data_len != 0 || rec.result != 0 || rec.error != 0)
            fail("NULL information was read", status, length);
        if (!!(rec.flags & CBR_FLAG_NULL_INFO) != expect_flag || (rec.flags & ~CBR_FLAG_NULL_INFO))
            fail("NULL flag", status, length);
    } else if (kind == CBR_INFO_BYTES || kind == CBR_INFO_TEXT) {
        if (length == 0) {
            if (rec.kind != CBR_INFO_NONE || rec.flags != 0 || rec.data_len != 0)
                fail("empty bytes", status, length);
        } else {
            size_t keep = kept(buf, status, length);
            want = keep < CBR_RECORD_INLINE ? keep : CBR_RECORD_INLINE;
            if (rec.kind != kind || rec.data_len != want || memcmp(rec.data, buf, want) != 0)
                fail("bytes not copied exactly", status, length);
            if (!!(rec.flags & CBR_FLAG_TRUNCATED) != (keep > CBR_RECORD_INLINE)
                || (rec.flags & ~CBR_FLAG_TRUNCATED))
                fail("truncated flag", status, length);
        }
        if (rec.result != 0 || rec.error != 0)
            fail("bytes touched result", status, length);
    } else if (want == 0) {
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

    /* the same call through the ring: one record out, identical but for seq */
    if (cbr_ring_push_status(&ring, (cbr_hinternet)(uintptr_t)handle, (cbr_dword_ptr)context, status,
                             buf, length) != CBR_PUSHED)
        fail("push into an empty ring", status, length);
    if (cbr_ring_drain(&ring, out, 2) != 1)
        fail("drain returned other than one record", status, length);
    out[0].seq = 0;
    if (memcmp(&out[0], &rec, sizeof rec) != 0)
        fail("the ring changed the record", status, length);
    free(buf);
    return 0;
}
