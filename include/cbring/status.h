/* Decoding a WinINet status callback's arguments into a cbr_record.
 *
 * lpvStatusInformation is only as trustworthy as the code that called the
 * callback, so the decoder never dereferences NULL, records (rather than
 * reads) a payload that is too short for the structure its status
 * promises, and reads no more than this:
 *   - a structure (INTERNET_ASYNC_RESULT, a DWORD, a handle): its size;
 *   - ANSI text: up to its terminator, never past dwStatusInformationLength
 *     bytes nor past CBR_PAYLOAD_MAX + 1 bytes (the maximum and the
 *     terminator looked for after it);
 *   - UTF-16LE text: up to its terminator (two zero bytes at an even
 *     offset), never past 2 x dwStatusInformationLength bytes (the length
 *     may count characters, as Windows does for RESOLVING_NAME, or bytes, as
 *     Wine does) nor past CBR_PAYLOAD_MAX + 2 bytes;
 *   - other bytes: never past dwStatusInformationLength nor CBR_PAYLOAD_MAX.
 * Text without a terminator within those bounds is kept as far as they go.
 *
 * Which text is wide depends on the registration, as in Wine's
 * INTERNET_SendCallback: a callback set with InternetSetStatusCallbackA (or
 * the plain export) gets every string ANSI; one set with
 * InternetSetStatusCallbackW gets RESOLVING_NAME and REDIRECT as UTF-16LE
 * and the addresses (NAME_RESOLVED, CONNECTING_TO_SERVER,
 * CONNECTED_TO_SERVER) as ANSI.  cbr_ring_push_status is the first,
 * cbr_ring_push_status_w the second.
 */
#ifndef CBRING_STATUS_H
#define CBRING_STATUS_H

#include "decode.h"
#include "wininet_compat.h"

/* What each documented status carries in lpvStatusInformation, for an A
 * registration. */
CBR_INLINE enum cbr_info_kind cbr_status_payload(uint32_t status)
{
    switch (status) {
    case INTERNET_STATUS_HANDLE_CREATED:    /* INTERNET_ASYNC_RESULT, or the bare handle (see below) */
    case INTERNET_STATUS_REQUEST_COMPLETE:
        return CBR_INFO_ASYNC_RESULT;
    case INTERNET_STATUS_REQUEST_SENT:      /* bytes sent */
    case INTERNET_STATUS_RESPONSE_RECEIVED: /* bytes received */
    case INTERNET_STATUS_STATE_CHANGE:      /* INTERNET_STATE_* flags */
    case INTERNET_STATUS_COOKIE_SENT:       /* count */
    case INTERNET_STATUS_COOKIE_RECEIVED:   /* count */
        return CBR_INFO_DWORD;
    case INTERNET_STATUS_HANDLE_CLOSING:    /* the handle being closed */
        return CBR_INFO_HANDLE;
    case INTERNET_STATUS_RESOLVING_NAME:    /* the host name */
    case INTERNET_STATUS_NAME_RESOLVED:     /* the address, as text */
    case INTERNET_STATUS_CONNECTING_TO_SERVER:
    case INTERNET_STATUS_CONNECTED_TO_SERVER:
    case INTERNET_STATUS_REDIRECT:          /* the new URL */
        return CBR_INFO_TEXT;
    default:                                /* anything else: raw bytes */
        return CBR_INFO_BYTES;
    }
}

/* The same for a W registration: the host name and the URL are wide. */
CBR_INLINE enum cbr_info_kind cbr_status_payload_w(uint32_t status)
{
    if (status == INTERNET_STATUS_RESOLVING_NAME || status == INTERNET_STATUS_REDIRECT)
        return CBR_INFO_TEXT_WIDE;
    return cbr_status_payload(status);
}

/* Decodes as `want` says (from cbr_status_payload or _w), with WinINet's
 * HANDLE_CREATED taken in either of its shapes; returns the bytes of
 * information to keep, as cbr_record_read_ does. */
CBR_INLINE size_t cbr_record_decode_(cbr_record *rec, cbr_hinternet hInternet,
                                     cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                     const void *info, cbr_dword length, enum cbr_info_kind want)
{
    cbr_record_start_(rec, hInternet, dwContext, dwInternetStatus, length);
    /* HANDLE_CREATED is documented as an INTERNET_ASYNC_RESULT whose dwResult
     * is the new handle, but WinINet passes the handle alone, in
     * sizeof(HINTERNET) bytes (Wine's wininet tests assert that length on
     * Windows, and Wine does the same).  dwResult comes first, so both carry
     * the handle there; the bare handle is recorded as a handle. */
    if (dwInternetStatus == INTERNET_STATUS_HANDLE_CREATED && want == CBR_INFO_ASYNC_RESULT
        && (size_t)length < sizeof(cbr_async_result) && (size_t)length >= sizeof(cbr_hinternet))
        want = CBR_INFO_HANDLE;
    return cbr_record_read_(rec, info, length, want);
}

/* Decodes an A registration's call into rec, whose data[] holds the first
 * CBR_RECORD_INLINE bytes of what it carries (the ring keeps the rest; a
 * record on its own marks it CBR_FLAG_TRUNCATED). */
CBR_INLINE void cbr_record_from_status(cbr_record *rec, cbr_hinternet hInternet,
                                       cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                       const void *info, cbr_dword length)
{
    if (cbr_record_decode_(rec, hInternet, dwContext, dwInternetStatus, info, length,
                           cbr_status_payload((uint32_t)dwInternetStatus)) > CBR_RECORD_INLINE)
        rec->flags |= CBR_FLAG_TRUNCATED;
}

/* The same for a W registration. */
CBR_INLINE void cbr_record_from_status_w(cbr_record *rec, cbr_hinternet hInternet,
                                         cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                         const void *info, cbr_dword length)
{
    if (cbr_record_decode_(rec, hInternet, dwContext, dwInternetStatus, info, length,
                           cbr_status_payload_w((uint32_t)dwInternetStatus)) > CBR_RECORD_INLINE)
        rec->flags |= CBR_FLAG_TRUNCATED;
}

/* Decodes and pushes: information longer than data[] goes the slow way,
 * with its payload. */
CBR_INLINE int cbr_ring_push_status_as_(cbr_ring *r, cbr_hinternet hInternet,
                                        cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                        const void *info, cbr_dword length, enum cbr_info_kind want)
{
    cbr_record rec;
    size_t keep = cbr_record_decode_(&rec, hInternet, dwContext, dwInternetStatus, info, length, want);
    return cbr_ring_push_decoded_(r, &rec, info, keep);
}

/* The body of a cbring status callback registered with
 * InternetSetStatusCallbackA or the plain export: decode, then push.
 * Returns a cbr_push_result. */
CBR_INLINE int cbr_ring_push_status(cbr_ring *r, cbr_hinternet hInternet, cbr_dword_ptr dwContext,
                                    cbr_dword dwInternetStatus, const void *info,
                                    cbr_dword length)
{
    return cbr_ring_push_status_as_(r, hInternet, dwContext, dwInternetStatus, info, length,
                                    cbr_status_payload((uint32_t)dwInternetStatus));
}

/* The same for a callback registered with InternetSetStatusCallbackW. */
CBR_INLINE int cbr_ring_push_status_w(cbr_ring *r, cbr_hinternet hInternet,
                                      cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                      const void *info, cbr_dword length)
{
    return cbr_ring_push_status_as_(r, hInternet, dwContext, dwInternetStatus, info, length,
                                    cbr_status_payload_w((uint32_t)dwInternetStatus));
}

#endif /* CBRING_STATUS_H */
