/* Decoding a WinINet status callback's arguments into a cbr_record.
 *
 * lpvStatusInformation is only as trustworthy as the code that called the
 * callback, so the decoder reads at most dwStatusInformationLength bytes,
 * never dereferences NULL, and records (rather than reads) a payload that is
 * too short for the structure its status promises.
 */
#ifndef CBRING_STATUS_H
#define CBRING_STATUS_H

#include <string.h>

#include "record.h"
#include "ring.h"
#include "wininet_compat.h"

/* What each documented status carries in lpvStatusInformation. */
CBR_INLINE enum cbr_info_kind cbr_status_payload(uint32_t status)
{
    switch (status) {
    case 60:   /* HANDLE_CREATED: INTERNET_ASYNC_RESULT, or the bare handle (see below) */
    case 100:  /* REQUEST_COMPLETE: INTERNET_ASYNC_RESULT */
        return CBR_INFO_ASYNC_RESULT;
    case 31:   /* REQUEST_SENT: bytes sent */
    case 41:   /* RESPONSE_RECEIVED: bytes received */
    case 200:  /* STATE_CHANGE: INTERNET_STATE_* flags */
    case 320:  /* COOKIE_SENT: count */
    case 321:  /* COOKIE_RECEIVED: count */
        return CBR_INFO_DWORD;
    case 70:   /* HANDLE_CLOSING: the handle being closed */
        return CBR_INFO_HANDLE;
    default:   /* names, addresses, URLs, and anything unknown: raw bytes */
        return CBR_INFO_BYTES;
    }
}

CBR_INLINE void cbr_record_from_status(cbr_record *rec, cbr_hinternet hInternet,
                                       cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                       const void *info, cbr_dword length)
{
    enum cbr_info_kind want = cbr_status_payload((uint32_t)dwInternetStatus);
    size_t need = 0;

    memset(rec, 0, sizeof *rec);
    rec->handle = (uint64_t)(uintptr_t)hInternet;
    rec->context = (uint64_t)dwContext;
    rec->status = (uint32_t)dwInternetStatus;
    rec->length = (uint32_t)length;

    switch (want) {
    case CBR_INFO_ASYNC_RESULT: need = sizeof(cbr_async_result); break;
    case CBR_INFO_DWORD: need = sizeof(cbr_dword); break;
    case CBR_INFO_HANDLE: need = sizeof(cbr_hinternet); break;
    default: need = 1; break;
    }
    /* HANDLE_CREATED is documented as an INTERNET_ASYNC_RESULT whose dwResult
     * is the new handle, but WinINet passes the handle alone, in
     * sizeof(HINTERNET) bytes (Wine's wininet tests assert that length on
     * Windows, and Wine does the same).  dwResult comes first, so both carry
     * the handle there; the bare handle is recorded as a handle. */
    if (dwInternetStatus == 60 && (size_t)length < need && (size_t)length >= sizeof(cbr_hinternet)) {
        want = CBR_INFO_HANDLE;
        need = sizeof(cbr_hinternet);
    }

    if (info == NULL) {
        if (length != 0 || want != CBR_INFO_BYTES)
            rec->flags |= CBR_FLAG_NULL_INFO;
        return;
    }
    if ((size_t)length < need) {
        if (want != CBR_INFO_BYTES)
            rec->flags |= CBR_FLAG_SHORT_INFO;
        return;
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
        size_t n = length < CBR_RECORD_INLINE ? (size_t)length : CBR_RECORD_INLINE;
        memcpy(rec->data, info, n);
        rec->data_len = (uint8_t)n;
        if ((size_t)length > CBR_RECORD_INLINE)
            rec->flags |= CBR_FLAG_TRUNCATED;
        break;
    }
    }
    rec->kind = (uint8_t)want;
}

/* The body of every cbring status callback: decode, then push.  Returns a
 * cbr_push_result. */
CBR_INLINE int cbr_ring_push_status(cbr_ring *r, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                                    cbr_dword dwInternetStatus, const void *info,
                                    cbr_dword length)
{
    cbr_record rec;
    cbr_record_from_status(&rec, hInternet, dwContext, dwInternetStatus, info, length);
    return cbr_ring_push(r, &rec);
}

#endif /* CBRING_STATUS_H */
