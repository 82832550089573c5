/* Decoding a WinHTTP status callback's arguments into a cbr_record.
 *
 * WINHTTP_STATUS_CALLBACK has INTERNET_STATUS_CALLBACK's signature, and
 * WINHTTP_ASYNC_RESULT INTERNET_ASYNC_RESULT's layout, but the status
 * numbers, and what each carries, are WinHTTP's own (winhttp.h and
 * Microsoft's WINHTTP_STATUS_CALLBACK page): every string is UTF-16 whose
 * length counts characters, READ_COMPLETE hands over the caller's read
 * buffer, and several statuses carry nothing.  The reading itself, and its
 * bounds, are decode.h's, shared with WinINet's decoder (status.h).  Every
 * record made here has CBR_FLAG_WINHTTP, which is how a reader knows which
 * table its status belongs to.
 */
#ifndef CBRING_WINHTTP_H
#define CBRING_WINHTTP_H

#include "decode.h"
#include "winhttp_compat.h"

/* What each documented status carries in lpvStatusInformation.
 * CBR_INFO_NONE: nothing is documented; what is given anyway is kept as
 * bytes.  Anything else undocumented is kept as bytes too. */
CBR_INLINE enum cbr_info_kind cbr_winhttp_status_payload(uint32_t status)
{
    switch (status) {
    case WINHTTP_CALLBACK_STATUS_REQUEST_ERROR:         /* WINHTTP_ASYNC_RESULT: API id, error */
        return CBR_INFO_ASYNC_RESULT;
    case WINHTTP_CALLBACK_STATUS_DATA_AVAILABLE:        /* bytes available */
    case WINHTTP_CALLBACK_STATUS_WRITE_COMPLETE:        /* bytes written */
    case WINHTTP_CALLBACK_STATUS_REQUEST_SENT:          /* bytes sent */
    case WINHTTP_CALLBACK_STATUS_RESPONSE_RECEIVED:     /* bytes received */
    case WINHTTP_CALLBACK_STATUS_INTERMEDIATE_RESPONSE: /* the status code (1xx) */
    case WINHTTP_CALLBACK_STATUS_SECURE_FAILURE:        /* WINHTTP_CALLBACK_STATUS_FLAG_* bits */
        return CBR_INFO_DWORD;
    case WINHTTP_CALLBACK_STATUS_READ_COMPLETE:         /* the read buffer; length: bytes read */
        return CBR_INFO_BUFFER;
    case WINHTTP_CALLBACK_STATUS_RESOLVING_NAME:        /* the server's name */
    case WINHTTP_CALLBACK_STATUS_NAME_RESOLVED:         /* its address, as text */
    case WINHTTP_CALLBACK_STATUS_CONNECTING_TO_SERVER:
    case WINHTTP_CALLBACK_STATUS_CONNECTED_TO_SERVER:
    case WINHTTP_CALLBACK_STATUS_REDIRECT:              /* the new URL */
        return CBR_INFO_TEXT_WIDE;
    case WINHTTP_CALLBACK_STATUS_HANDLE_CREATED:        /* a pointer to the HINTERNET */
    case WINHTTP_CALLBACK_STATUS_HANDLE_CLOSING:
        return CBR_INFO_HANDLE;
    case WINHTTP_CALLBACK_STATUS_HEADERS_AVAILABLE:
    case WINHTTP_CALLBACK_STATUS_SENDREQUEST_COMPLETE:
    case WINHTTP_CALLBACK_STATUS_SENDING_REQUEST:
    case WINHTTP_CALLBACK_STATUS_RECEIVING_RESPONSE:
    case WINHTTP_CALLBACK_STATUS_CLOSING_CONNECTION:
    case WINHTTP_CALLBACK_STATUS_CONNECTION_CLOSED:
    case WINHTTP_CALLBACK_STATUS_DETECTING_PROXY:
        return CBR_INFO_NONE;
    default:
        return CBR_INFO_BYTES;
    }
}

/* Decodes by WinHTTP's table and returns the bytes of information to keep,
 * as cbr_record_read_ does. */
CBR_INLINE size_t cbr_record_decode_winhttp_(cbr_record *rec, cbr_hinternet hInternet,
                                             cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                             const void *info, cbr_dword length)
{
    enum cbr_info_kind want = cbr_winhttp_status_payload((uint32_t)dwInternetStatus);
    size_t keep = 0;

    cbr_record_start_(rec, hInternet, dwContext, dwInternetStatus, length);
    if (want == CBR_INFO_BUFFER) {
        /* The caller's buffer, which WinHTTP has just filled and which the
         * caller may reuse the moment the callback returns: its address is
         * recorded, its bytes are never read (they are the caller's). */
        rec->result = (uint64_t)(uintptr_t)info;
        rec->kind = CBR_INFO_BUFFER;
        if (info == NULL)
            rec->flags |= CBR_FLAG_NULL_INFO;
    } else {
        /* a status documented to carry nothing keeps whatever it is given, as bytes */
        keep = cbr_record_read_(rec, info, length, want == CBR_INFO_NONE ? CBR_INFO_BYTES : want);
    }
    rec->flags |= CBR_FLAG_WINHTTP;
    return keep;
}

/* Decodes a WinHTTP callback's call into rec, whose data[] holds the first
 * CBR_RECORD_INLINE bytes of what it carries (the ring keeps the rest; a
 * record on its own marks it CBR_FLAG_TRUNCATED). */
CBR_INLINE void cbr_record_from_winhttp_status(cbr_record *rec, cbr_hinternet hInternet,
                                               cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                               const void *info, cbr_dword length)
{
    if (cbr_record_decode_winhttp_(rec, hInternet, dwContext, dwInternetStatus, info, length)
            > CBR_RECORD_INLINE)
        rec->flags |= CBR_FLAG_TRUNCATED;
}

/* The body of a cbring WinHTTP status callback (one set with
 * WinHttpSetStatusCallback): decode, then push; the guarantees of
 * cbr_ring_push_status (no allocation unless the ring overflows or a
 * payload's store is exhausted under "spill"; payloads whole up to
 * CBR_PAYLOAD_MAX).  Returns a cbr_push_result. */
CBR_INLINE int cbr_ring_push_winhttp_status(cbr_ring *r, cbr_hinternet hInternet,
                                            cbr_dword_ptr dwContext, cbr_dword dwInternetStatus,
                                            const void *info, cbr_dword length)
{
    cbr_record rec;
    size_t keep = cbr_record_decode_winhttp_(&rec, hInternet, dwContext, dwInternetStatus, info,
                                             length);
    return cbr_ring_push_decoded_(r, &rec, info, keep);
}

#endif /* CBRING_WINHTTP_H */
