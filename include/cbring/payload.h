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

#include "record.h"

#endif /* CBRING_PAYLOAD_H */
