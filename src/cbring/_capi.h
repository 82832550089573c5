/* The functions behind cbring's C API table (include/cbring/cbring.h). */
#ifndef CBRING_CAPI_H
#define CBRING_CAPI_H

#define CBRING_API_TYPES_ONLY
#include "cbring/cbring.h"
#include "cbring/ring.h"
#include "cbring/status.h"
#include "cbring/winhttp.h"

static int cbr_capi_push(struct cbr_ring *r, const cbr_record *rec)
{
    cbr_record copy = *rec;
    /* the ring alone says whether a record overflowed */
    copy.flags &= (uint16_t)~CBR_FLAG_SPILLED;
    return cbr_ring_push(r, &copy);
}

static size_t cbr_capi_push_batch(struct cbr_ring *r, const cbr_record *recs, size_t n)
{
    size_t i, accepted = 0;
    for (i = 0; i < n; i++) {
        int res = cbr_capi_push(r, &recs[i]);
        accepted += res == CBR_PUSHED || res == CBR_SPILLED;
    }
    return accepted;
}

static int cbr_capi_push_status(struct cbr_ring *r, cbr_hinternet handle, cbr_dword_ptr context,
                                cbr_dword status, const void *info, cbr_dword length)
{
    return cbr_ring_push_status(r, handle, context, status, info, length);
}

static int cbr_capi_callback(void *user_data, uint64_t handle, uint64_t context, uint32_t status,
                             const void *info, uint32_t length)
{
    return cbr_ring_push_status((struct cbr_ring *)user_data, (cbr_hinternet)(uintptr_t)handle,
                         (cbr_dword_ptr)context, (cbr_dword)status, info, (cbr_dword)length);
}

static int cbr_capi_push_winhttp_status(struct cbr_ring *r, cbr_hinternet handle,
                                        cbr_dword_ptr context, cbr_dword status, const void *info,
                                        cbr_dword length)
{
    return cbr_ring_push_winhttp_status(r, handle, context, status, info, length);
}

static int cbr_capi_closed(const struct cbr_ring *r)
{
    return cbr_ring_closed(r);
}

static cbring_api cbr_capi_table;

static void *cbr_capi_fill(struct cbr_ring *(*ring_from_object)(PyObject *))
{
    cbr_capi_table.major = CBRING_API_MAJOR;
    cbr_capi_table.minor = CBRING_API_MINOR;
    cbr_capi_table.size = (uint32_t)sizeof(cbring_api);
    cbr_capi_table.record_size = (uint32_t)sizeof(cbr_record);
    cbr_capi_table.ring_from_object = ring_from_object;
    cbr_capi_table.push = cbr_capi_push;
    cbr_capi_table.push_batch = cbr_capi_push_batch;
    cbr_capi_table.push_status = cbr_capi_push_status;
    cbr_capi_table.callback = cbr_capi_callback;
    cbr_capi_table.closed = cbr_capi_closed;
    cbr_capi_table.push_winhttp_status = cbr_capi_push_winhttp_status;
    return &cbr_capi_table;
}

#endif /* CBRING_CAPI_H */
