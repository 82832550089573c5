/* cbring's C API for other extensions, imported at run time from the
 * capsule "cbring._core._C_API", so an extension pushes into a Ring without
 * linking against cbring and always runs cbring's own ring code.
 *
 *     #include <cbring/cbring.h>          (include dir: cbring.get_include())
 *
 *     if (cbring_import() < 0) return NULL;          in your module init
 *     cbr_ring *r = cbring_ring(ring_object);        with the GIL
 *     cbring_push_status(r, h, ctx, status, info, len);   any thread, no GIL
 *
 * The table is versioned: cbring_import() fails with ImportError when the
 * installed cbring is older than these headers (its ABI version is lower,
 * or its table is shorter), and a newer cbring only ever appends members.
 * A cbr_ring pointer stays valid for the life of the process: once its Ring
 * is closed or collected, pushes are counted as late and discarded, until
 * the ring structure is given to a new Ring (oldest-free-first, and only
 * after at least 1024 further Rings have been created, however many are
 * alive); pushes then feed that Ring.  Stop pushing before you let a Ring go.
 */
#ifndef CBRING_CBRING_H
#define CBRING_CBRING_H

#include <Python.h>

#include "record.h"
#include "wininet_compat.h"

#define CBRING_CAPSULE_NAME "cbring._core._C_API"
#define CBRING_ABI_VERSION 1

struct cbr_ring;

/* What a push returns (the same values as ring.h's enum cbr_push_result). */
#define CBRING_PUSHED 0
#define CBRING_SPILLED 1
#define CBRING_DROPPED 2
#define CBRING_LATE 3

typedef struct cbring_api {
    uint32_t abi_version;  /* CBRING_ABI_VERSION of the cbring that filled the table */
    uint32_t size;         /* sizeof(cbring_api) in that cbring */

    /* With the GIL: the ring behind a cbring.Ring, or NULL with TypeError set. */
    struct cbr_ring *(*ring_from_object)(PyObject *ring);

    /* Without the GIL, from any thread; never block unless the ring's policy
     * is "block", never allocate unless the ring overflows. */
    int (*push)(struct cbr_ring *r, const cbr_record *rec);
    /* Pushes n records in order; returns how many were accepted (pushed or
     * spilled); the rest were dropped or late, and counted. */
    size_t (*push_batch)(struct cbr_ring *r, const cbr_record *recs, size_t n);
    /* Decodes WinINet-shaped arguments exactly as a Ring's status callback does. */
    int (*push_status)(struct cbr_ring *r, cbr_hinternet handle, cbr_dword_ptr context,
                       cbr_dword status, const void *info, cbr_dword length);
    /* The callback shape of libcurl, libuv and most C libraries: user_data
     * is the cbr_ring pointer. */
    void (*callback)(void *user_data, uint64_t handle, uint64_t context, uint32_t status,
                     const void *info, uint32_t length);
} cbring_api;

#ifndef CBRING_NO_IMPORT
static const cbring_api *cbring_api_table = NULL;

/* Imports the table; call once, with the GIL (module init).  0, or -1 with
 * ImportError set. */
static inline int cbring_import(void)
{
    const cbring_api *t = (const cbring_api *)PyCapsule_Import(CBRING_CAPSULE_NAME, 0);
    if (t == NULL)
        return -1;
    if (t->abi_version < CBRING_ABI_VERSION || t->size < sizeof(cbring_api)) {
        PyErr_Format(PyExc_ImportError,
                     "cbring's C API is version %u (%u bytes); this extension was built "
                     "for version %u (%u bytes): upgrade cbring",
                     (unsigned)t->abi_version, (unsigned)t->size,
                     (unsigned)CBRING_ABI_VERSION, (unsigned)sizeof(cbring_api));
        return -1;
    }
    cbring_api_table = t;
    return 0;
}

static inline struct cbr_ring *cbring_ring(PyObject *ring)
{ return cbring_api_table->ring_from_object(ring); }

static inline int cbring_push(struct cbr_ring *r, const cbr_record *rec)
{ return cbring_api_table->push(r, rec); }

static inline size_t cbring_push_batch(struct cbr_ring *r, const cbr_record *recs, size_t n)
{ return cbring_api_table->push_batch(r, recs, n); }

static inline int cbring_push_status(struct cbr_ring *r, cbr_hinternet handle,
                                     cbr_dword_ptr context, cbr_dword status,
                                     const void *info, cbr_dword length)
{ return cbring_api_table->push_status(r, handle, context, status, info, length); }

static inline void cbring_callback(void *user_data, uint64_t handle, uint64_t context,
                                   uint32_t status, const void *info, uint32_t length)
{ cbring_api_table->callback(user_data, handle, context, status, info, length); }
#endif

#endif /* CBRING_CBRING_H */
