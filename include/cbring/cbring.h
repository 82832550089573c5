/* cbring's C API for other extensions, imported at run time from the
 * capsule "cbring._core._C_API", so an extension pushes into a Ring without
 * linking against cbring and always runs cbring's own ring code.
 *
 *     #include <cbring/cbring.h>    // include dir: cbring.get_include()
 *
 *     if (cbring_import() < 0) return NULL;             // in your module init
 *     struct cbr_ring *r = cbring_ring(ring_object);    // with the GIL
 *     int res = cbring_push_status(r, h, ctx, status, info, len);  // any thread, no GIL
 *     res = cbring_push_winhttp_status(r, h, ctx, status, info, len); // a WinHTTP callback's
 *
 * An extension of several C files shares one table, as numpy's
 * PY_ARRAY_UNIQUE_SYMBOL / NO_IMPORT_ARRAY do: every file defines
 * CBRING_UNIQUE_SYMBOL to the same name, unique to the extension, before
 * the include; the file that calls cbring_import() defines nothing else,
 * and every other file also defines CBRING_NO_IMPORT (which declares the
 * table instead of defining it):
 *
 *     #define CBRING_UNIQUE_SYMBOL myext_cbring_api
 *     #define CBRING_NO_IMPORT                  // in all files but one
 *     #include <cbring/cbring.h>
 *
 * Without CBRING_UNIQUE_SYMBOL the table is static to the file, and
 * CBRING_NO_IMPORT is an error.
 *
 * Versions: CBRING_API_MAJOR changes when the table or cbr_record's layout
 * (compiled into your extension) changes incompatibly; CBRING_API_MINOR
 * when members are appended.  cbring_import() fails with ImportError when
 * the installed cbring has another major version, or an older minor one
 * than these headers; a missing or misnamed capsule is an ImportError too.
 *
 * A struct cbr_ring pointer stays valid for the life of the process: once
 * its Ring is closed or collected, pushes return CBRING_LATE and are
 * counted, until the ring structure is given to a new Ring (oldest-free-
 * first, and only after at least 1024 further Rings have been created,
 * however many are alive); pushes then feed that Ring.
 * Stop pushing before you let a Ring go; cbring_closed(r) says whether it
 * was closed.
 */
#ifndef CBRING_CBRING_H
#define CBRING_CBRING_H

#include <Python.h>

#include "record.h"
#include "wininet_compat.h"

#define CBRING_CAPSULE_NAME "cbring._core._C_API"
#define CBRING_API_MAJOR 2
#define CBRING_API_MINOR 1  /* 1: push_winhttp_status */

struct cbr_ring;

/* What a push returns (the same values as ring.h's enum cbr_push_result). */
#define CBRING_PUSHED 0
#define CBRING_SPILLED 1
#define CBRING_DROPPED 2
#define CBRING_LATE 3

typedef struct cbring_api {
    uint32_t major;        /* CBRING_API_MAJOR of the cbring that filled the table */
    uint32_t minor;        /* CBRING_API_MINOR of that cbring */
    uint32_t size;         /* sizeof(cbring_api) in that cbring */
    uint32_t record_size;  /* sizeof(cbr_record) in that cbring */

    /* With the GIL: the ring behind a cbring.Ring, or NULL with TypeError set. */
    struct cbr_ring *(*ring_from_object)(PyObject *ring);

    /* Without the GIL, from any thread; never block unless the ring's policy
     * is "block", never allocate unless the ring overflows.  They return a
     * CBRING_ push result. */
    int (*push)(struct cbr_ring *r, const cbr_record *rec);
    /* Pushes n records in order; returns how many were accepted (pushed or
     * spilled); the rest were dropped or late, and counted. */
    size_t (*push_batch)(struct cbr_ring *r, const cbr_record *recs, size_t n);
    /* Decodes WinINet-shaped arguments exactly as a Ring's status callback does. */
    int (*push_status)(struct cbr_ring *r, cbr_hinternet handle, cbr_dword_ptr context,
                       cbr_dword status, const void *info, cbr_dword length);
    /* The callback shape of libcurl, libuv and most C libraries: user_data
     * is the struct cbr_ring pointer. */
    int (*callback)(void *user_data, uint64_t handle, uint64_t context, uint32_t status,
                    const void *info, uint32_t length);
    /* Any thread, no GIL: 1 once the ring's Ring was closed (pushes are late), else 0. */
    int (*closed)(const struct cbr_ring *r);
    /* Since minor 1.  Decodes WinHTTP-shaped arguments exactly as a Ring's
     * winhttp_callback does (cbring/winhttp.h); its records have CBR_FLAG_WINHTTP. */
    int (*push_winhttp_status)(struct cbr_ring *r, cbr_hinternet handle, cbr_dword_ptr context,
                               cbr_dword status, const void *info, cbr_dword length);
} cbring_api;

#ifndef CBRING_API_TYPES_ONLY  /* cbring's own _core fills the table: it needs the types alone */

#if defined(CBRING_UNIQUE_SYMBOL)
#  define CBRING_API_TABLE_ CBRING_UNIQUE_SYMBOL
#  if defined(CBRING_NO_IMPORT)
extern const cbring_api *CBRING_API_TABLE_;
#  else
const cbring_api *CBRING_API_TABLE_ = NULL;
#  endif
#elif defined(CBRING_NO_IMPORT)
#  error "CBRING_NO_IMPORT shares the table of another file: define CBRING_UNIQUE_SYMBOL (the same name in every file of the extension)"
#else
#  define CBRING_API_TABLE_ cbring_api_table
static const cbring_api *CBRING_API_TABLE_ = NULL;
#endif

#ifndef CBRING_NO_IMPORT
/* a function, not an expression: with minor 0, `minor < 0` would warn as always false */
static inline int cbring_older_(uint32_t have, uint32_t want) { return have < want; }

/* Imports the table; call once, with the GIL (module init).  0, or -1 with
 * ImportError set. */
static inline int cbring_import(void)
{
    const cbring_api *t;
    PyObject *type, *value, *tb;

    t = (const cbring_api *)PyCapsule_Import(CBRING_CAPSULE_NAME, 0);
    if (t == NULL) {
        /* PyCapsule_Import says AttributeError or ValueError for a capsule
         * that is missing or misnamed: an import problem all the same */
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        PyErr_Format(PyExc_ImportError,
                     "cannot import cbring's C API (the capsule " CBRING_CAPSULE_NAME
                     "): %S; install a cbring with C API version %d.%d or a later %d.x",
                     value ? value : Py_None, CBRING_API_MAJOR, CBRING_API_MINOR,
                     CBRING_API_MAJOR);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return -1;
    }
    if (t->major != CBRING_API_MAJOR || cbring_older_(t->minor, CBRING_API_MINOR)
            || t->size < sizeof(cbring_api) || t->record_size != sizeof(cbr_record)) {
        PyErr_Format(PyExc_ImportError,
                     "cbring's C API is version %u.%u (table %u bytes, records %u bytes); this "
                     "extension was built for version %d.%d (table %u bytes, records %u bytes): "
                     "%s",
                     (unsigned)t->major, (unsigned)t->minor, (unsigned)t->size,
                     (unsigned)t->record_size, CBRING_API_MAJOR, CBRING_API_MINOR,
                     (unsigned)sizeof(cbring_api), (unsigned)sizeof(cbr_record),
                     t->major > CBRING_API_MAJOR ? "rebuild the extension against this cbring"
                                                 : "upgrade cbring");
        return -1;
    }
    CBRING_API_TABLE_ = t;
    return 0;
}
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define CBRING_COLD_ __attribute__((cold, noinline))
#else
#  define CBRING_COLD_
#endif

/* A push through a table this file never imported: say so, instead of
 * crashing on a NULL pointer with no message. */
static CBRING_COLD_ void cbring_not_imported_(void)
{
    Py_FatalError("cbring's C API was used before cbring_import() filled its table in this "
                  "file; in an extension of several C files, define CBRING_UNIQUE_SYMBOL in "
                  "every file and CBRING_NO_IMPORT in all but the one that imports");
}

static inline struct cbr_ring *cbring_ring(PyObject *ring)
{
    if (CBRING_API_TABLE_ == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "cbring_ring() before cbring_import(): call cbring_import() in your "
                        "module's init (and, in an extension of several C files, define "
                        "CBRING_UNIQUE_SYMBOL in every file)");
        return NULL;
    }
    return CBRING_API_TABLE_->ring_from_object(ring);
}

static inline int cbring_push(struct cbr_ring *r, const cbr_record *rec)
{
    if (CBRING_API_TABLE_ == NULL) cbring_not_imported_();
    return CBRING_API_TABLE_->push(r, rec);
}

static inline size_t cbring_push_batch(struct cbr_ring *r, const cbr_record *recs, size_t n)
{
    if (CBRING_API_TABLE_ == NULL) cbring_not_imported_();
    return CBRING_API_TABLE_->push_batch(r, recs, n);
}

static inline int cbring_push_status(struct cbr_ring *r, cbr_hinternet handle,
                                     cbr_dword_ptr context, cbr_dword status,
                                     const void *info, cbr_dword length)
{
    if (CBRING_API_TABLE_ == NULL) cbring_not_imported_();
    return CBRING_API_TABLE_->push_status(r, handle, context, status, info, length);
}

static inline int cbring_callback(void *user_data, uint64_t handle, uint64_t context,
                                  uint32_t status, const void *info, uint32_t length)
{
    if (CBRING_API_TABLE_ == NULL) cbring_not_imported_();
    return CBRING_API_TABLE_->callback(user_data, handle, context, status, info, length);
}

static inline int cbring_push_winhttp_status(struct cbr_ring *r, cbr_hinternet handle,
                                             cbr_dword_ptr context, cbr_dword status,
                                             const void *info, cbr_dword length)
{
    if (CBRING_API_TABLE_ == NULL) cbring_not_imported_();
    return CBRING_API_TABLE_->push_winhttp_status(r, handle, context, status, info, length);
}

static inline int cbring_closed(const struct cbr_ring *r)
{
    if (CBRING_API_TABLE_ == NULL) cbring_not_imported_();
    return CBRING_API_TABLE_->closed(r);
}

#endif /* CBRING_API_TYPES_ONLY */

#endif /* CBRING_CBRING_H */
