/* What WinINet's decoder (status.h) and WinHTTP's (winhttp.h) share: how a
 * callback's lpvStatusInformation is read once its status has said what it
 * carries, and how the record is pushed with its payload.  Each API keeps
 * only its own table, and its quirks, in its own header.
 *
 * The bounds (the same for both APIs): a structure is read only when the
 * length covers it; ANSI text up to its terminator, never past
 * dwStatusInformationLength nor CBR_PAYLOAD_MAX + 1 bytes; UTF-16LE text
 * up to its terminator, never past 2 x dwStatusInformationLength (the
 * length may count characters, as WinHTTP and Windows' WinINet do, or
 * bytes, as Wine's WinINet does) nor CBR_PAYLOAD_MAX + 2 bytes; other
 * bytes never past dwStatusInformationLength nor CBR_PAYLOAD_MAX.  NULL is
 * never dereferenced.
 */
#ifndef CBRING_DECODE_H
#define CBRING_DECODE_H

#include <string.h>

#include "record.h"
#include "ring.h"
#include "wininet_compat.h"

/* Bytes of ANSI text at p, without its terminator, reading at most limit. */
CBR_INLINE size_t cbr_text_len_(const uint8_t *p, size_t limit)
{
    const void *nul = memchr(p, 0, limit);
    return nul != NULL ? (size_t)((const uint8_t *)nul - p) : limit;
}

/* Bytes of UTF-16LE text at p, without its terminator, reading at most
 * limit (even).  Byte by byte: p may be unaligned. */
CBR_INLINE size_t cbr_text_len_wide_(const uint8_t *p, size_t limit)
{
    size_t i;
    for (i = 0; i + 1 < limit; i += 2)
        if ((p[i] | p[i + 1]) == 0)
            return i;
    return limit;
}

/* A record of the callback's arguments, nothing yet read from info. */
CBR_INLINE void cbr_record_start_(cbr_record *rec, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                                  cbr_dword dwInternetStatus, cbr_dword length)
{
    memset(rec, 0, sizeof *rec);
    rec->handle = (uint64_t)(uintptr_t)hInternet;
    rec->context = (uint64_t)dwContext;
    rec->status = (uint32_t)dwInternetStatus;
    rec->length = (uint32_t)length;
}

/* Reads info into rec as `want` (a structure, text or bytes) says, and
 * returns how many bytes of information are to be kept (at most
 * CBR_PAYLOAD_MAX, the first CBR_RECORD_INLINE of them copied into data[]);
 * past the maximum, sets CBR_FLAG_TRUNCATED.  A NULL or short info is
 * flagged, not read, and leaves the record CBR_INFO_NONE. */
CBR_INLINE size_t cbr_record_read_(cbr_record *rec, const void *info, cbr_dword length,
                                   enum cbr_info_kind want)
{
    size_t need = 0, keep = 0;

    switch (want) {
    case CBR_INFO_ASYNC_RESULT: need = sizeof(cbr_async_result); break;
    case CBR_INFO_DWORD: need = sizeof(cbr_dword); break;
    case CBR_INFO_HANDLE: need = sizeof(cbr_hinternet); break;
    default: need = 1; break;
    }

    if (info == NULL) {
        if (length != 0 || need != 1)
            rec->flags |= CBR_FLAG_NULL_INFO;
        return 0;
    }
    if ((size_t)length < need) {
        if (need != 1)
            rec->flags |= CBR_FLAG_SHORT_INFO;
        return 0;
    }

    /* memcpy, not a cast: WinINet's pointers are aligned, other callers' may not be. */
    switch (want) {
    case CBR_INFO_ASYNC_RESULT: {
        cbr_async_result ar;
        memcpy(&ar, info, sizeof ar);
        rec->result = (uint64_t)ar.dwResult;
        rec->error = (uint32_t)ar.dwError;
        break;
    }
    case CBR_INFO_DWORD: {
        cbr_dword v;
        memcpy(&v, info, sizeof v);
        rec->result = (uint64_t)v;
        break;
    }
    case CBR_INFO_HANDLE: {
        cbr_hinternet h;
        memcpy(&h, info, sizeof h);
        rec->result = (uint64_t)(uintptr_t)h;
        break;
    }
    default: {
        if (want == CBR_INFO_TEXT)
            keep = cbr_text_len_((const uint8_t *)info, (size_t)length < CBR_PAYLOAD_MAX + 1
                                                            ? (size_t)length : CBR_PAYLOAD_MAX + 1);
        else if (want == CBR_INFO_TEXT_WIDE)
            keep = cbr_text_len_wide_((const uint8_t *)info, 2 * (size_t)length < CBR_PAYLOAD_MAX + 2
                                                                 ? 2 * (size_t)length : CBR_PAYLOAD_MAX + 2);
        else
            keep = length;
        if (keep > CBR_PAYLOAD_MAX) {
            keep = CBR_PAYLOAD_MAX;
            rec->flags |= CBR_FLAG_TRUNCATED;
        }
        rec->data_len = (uint8_t)(keep < CBR_RECORD_INLINE ? keep : CBR_RECORD_INLINE);
        memcpy(rec->data, info, rec->data_len);
        break;
    }
    }
    rec->kind = (uint8_t)want;
    return keep;
}

/* Pushes a decoded record: information longer than data[] goes the slow
 * way, with its payload (keep bytes at info). */
CBR_INLINE int cbr_ring_push_decoded_(cbr_ring *r, cbr_record *rec, const void *info, size_t keep)
{
    if (keep > CBR_RECORD_INLINE)
        return cbr_ring_push_payload_slow(r, rec, info, keep);
    /* the decoders never set CBR_FLAG_PAYLOAD: cbr_ring_push's check is not needed */
    return cbr_ring_push_(r, rec);
}

#endif /* CBRING_DECODE_H */
