/* The event record: one status callback, in 64 bytes.
 *
 * The layout is part of cbring's ABI: Python exposes it through the buffer
 * protocol (cbring.EVENT_FORMAT) and other extensions read it directly, so
 * every offset is pinned below.  64 bytes is one cache line, so a producer
 * writing a record never shares a line with the producer writing the next.
 *
 *   off size field     meaning
 *     0   8  handle    hInternet the callback was given
 *     8   8  context   dwContext
 *    16   8  result    dwResult for HANDLE_CREATED / REQUEST_COMPLETE (and
 *                      WinHTTP's REQUEST_ERROR: the API id); the DWORD for
 *                      DWORD statuses; the handle for HANDLE_CLOSING and a
 *                      bare-handle HANDLE_CREATED; the pointer itself for a
 *                      CBR_INFO_BUFFER record; for a CBR_FLAG_PAYLOAD
 *                      record, size << 32 | where (see below); else 0
 *    24   4  seq       ring position + 1, modulo 2**32 (0 for a record that
 *                      came through the overflow list); the ring uses it to
 *                      publish a record, readers may use it to check order
 *    28   4  status    dwInternetStatus, any value (a WINHTTP_CALLBACK_STATUS_*
 *                      value when flags has CBR_FLAG_WINHTTP)
 *    32   4  error     dwError for async results, else 0
 *    36   4  length    dwStatusInformationLength exactly as given
 *    40   2  flags     CBR_FLAG_*
 *    42   1  kind      CBR_INFO_*: how lpvStatusInformation was decoded
 *    43   1  data_len  bytes of data[] in use
 *    44  20  data      the first bytes of a string or address status
 *
 * Payloads.  What a text or bytes status carries is kept whole up to
 * CBR_PAYLOAD_MAX bytes: text without its terminator (CBR_INFO_TEXT: ANSI,
 * CBR_INFO_TEXT_WIDE: UTF-16LE), other bytes as given.  Up to
 * CBR_RECORD_INLINE bytes live in data[].  A longer one is kept apart from
 * the record (ring.h's payload store) and the record says so with
 * CBR_FLAG_PAYLOAD: data[] holds its first CBR_RECORD_INLINE bytes and
 * the high 32 bits of `result` its whole size.  The low 32 bits are the
 * store's reference while the record is in the ring, and once drained with
 * a payload buffer (cbr_ring_drain_payloads) the payload's byte offset in
 * that buffer.  Only the ring sets the flag: cbr_ring_push clears it in a
 * record it is given.  CBR_FLAG_TRUNCATED always means "what was kept is a
 * prefix": the information was longer than CBR_PAYLOAD_MAX, or it could
 * not be kept whole (the ring's stats count those as payloads_truncated).
 */
#ifndef CBRING_RECORD_H
#define CBRING_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#define CBR_RECORD_SIZE 64
#define CBR_RECORD_INLINE 20
/* Bytes of a status's information kept whole: a URL of
 * INTERNET_MAX_URL_LENGTH (2,084) characters in UTF-16. */
#define CBR_PAYLOAD_MAX 4168

/* How lpvStatusInformation was read. */
enum cbr_info_kind {
    CBR_INFO_NONE = 0,          /* nothing read: no pointer, too short, or no payload */
    CBR_INFO_ASYNC_RESULT = 1,  /* INTERNET_ASYNC_RESULT into result and error */
    CBR_INFO_DWORD = 2,         /* a DWORD into result */
    CBR_INFO_HANDLE = 3,        /* an HINTERNET into result */
    CBR_INFO_BYTES = 4,         /* bytes into data, data_len of them */
    CBR_INFO_TEXT = 5,          /* ANSI text without its terminator, as bytes */
    CBR_INFO_TEXT_WIDE = 6,     /* UTF-16LE text without its terminator, as bytes */
    CBR_INFO_BUFFER = 7         /* the pointer itself into result, never dereferenced (WinHTTP's
                                 * READ_COMPLETE: the caller's buffer; length: bytes read) */
};

enum cbr_record_flag {
    CBR_FLAG_TRUNCATED = 1 << 0,  /* what was kept (data, or the payload) is a prefix */
    CBR_FLAG_NULL_INFO = 1 << 1,  /* lpvStatusInformation was NULL where a payload was expected */
    CBR_FLAG_SHORT_INFO = 1 << 2, /* length too small for the expected structure: not read */
    CBR_FLAG_SPILLED = 1 << 3,    /* came through the overflow list, not the ring */
    CBR_FLAG_PAYLOAD = 1 << 4,    /* kept whole apart from the record: result says where */
    CBR_FLAG_WINHTTP = 1 << 5     /* from a WinHTTP callback: status is a WINHTTP_CALLBACK_STATUS_* */
};

/* A CBR_FLAG_PAYLOAD record's payload: its whole size in bytes, and (once
 * drained with a payload buffer) its offset in that buffer. */
#define CBR_PAYLOAD_SIZE(rec) ((uint32_t)((rec)->result >> 32))
#define CBR_PAYLOAD_OFFSET(rec) ((uint32_t)((rec)->result & UINT32_MAX))

typedef struct cbr_record {
    uint64_t handle;
    uint64_t context;
    uint64_t result;
    uint32_t seq;
    uint32_t status;
    uint32_t error;
    uint32_t length;
    uint16_t flags;
    uint8_t kind;
    uint8_t data_len;
    uint8_t data[CBR_RECORD_INLINE];
} cbr_record;

/* PEP 3118 description of cbr_record, native byte order and alignment;
 * numpy.asarray() on a buffer with this format yields named fields. */
#define CBR_RECORD_FORMAT                                                   \
    "T{Q:handle:Q:context:Q:result:I:seq:I:status:I:error:I:length:"        \
    "H:flags:B:kind:B:data_len:20s:data:}"

CBR_STATIC_ASSERT(sizeof(cbr_record) == CBR_RECORD_SIZE, "a record is one 64-byte line");
CBR_STATIC_ASSERT(offsetof(cbr_record, handle) == 0, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, context) == 8, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, result) == 16, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, seq) == 24, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, status) == 28, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, error) == 32, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, length) == 36, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, flags) == 40, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, kind) == 42, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, data_len) == 43, "record layout");
CBR_STATIC_ASSERT(offsetof(cbr_record, data) == 44, "record layout");
CBR_STATIC_ASSERT(CBR_PAYLOAD_MAX > CBR_RECORD_INLINE && CBR_PAYLOAD_MAX % 2 == 0,
                  "a payload is longer than data[] and holds whole UTF-16 units");

#endif /* CBRING_RECORD_H */
