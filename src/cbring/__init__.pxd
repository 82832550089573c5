# cython: language_level=3
# `cimport cbring`: push records into a cbring.Ring from Cython, in nogil
# code, through cbring's C API capsule (include/cbring/cbring.h).  Build
# with include_dirs=[cbring.get_include()] and call cbring_import() once at
# module level:
#
#     cimport cbring
#     from cbring.libcbring cimport cbr_record, cbr_ring
#     cbring.cbring_import()
#     cdef cbr_ring *r = cbring.cbring_ring(ring)       # with the GIL
#     with nogil:
#         res = cbring.cbring_push(r, &record)          # a CBRING_ push result
#
# Each Cython module is one C file, with its own copy of the table: call
# cbring_import() in every module that cimports cbring.

from libc.stdint cimport uint32_t, uint64_t

from cbring.libcbring cimport cbr_dword, cbr_dword_ptr, cbr_hinternet, cbr_record, cbr_ring

cdef extern from "cbring/cbring.h":
    int CBRING_API_MAJOR
    int CBRING_API_MINOR
    int CBRING_PUSHED
    int CBRING_SPILLED
    int CBRING_DROPPED
    int CBRING_LATE

    int cbring_import() except -1
    cbr_ring *cbring_ring(object ring) except NULL

    int cbring_push(cbr_ring *r, const cbr_record *rec) nogil
    size_t cbring_push_batch(cbr_ring *r, const cbr_record *recs, size_t n) nogil
    int cbring_push_status(cbr_ring *r, cbr_hinternet handle, cbr_dword_ptr context,
                           cbr_dword status, const void *info, cbr_dword length) nogil
    int cbring_push_winhttp_status(cbr_ring *r, cbr_hinternet handle, cbr_dword_ptr context,
                                   cbr_dword status, const void *info, cbr_dword length) nogil
    int cbring_callback(void *user_data, uint64_t handle, uint64_t context, uint32_t status,
                        const void *info, uint32_t length) nogil
    bint cbring_closed(const cbr_ring *r) nogil
