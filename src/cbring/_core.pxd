# cython: language_level=3
# What other modules of this package cimport from _core: AsyncResult's C
# layout, so that the compiled routing loop (_route.pyx) makes one without
# a Python call.  Only fixed-width types here: _core.pyx must bring in
# _slots.h before the ring's headers, and a cimport of libcbring here
# would put them first.

from libc.stdint cimport uint32_t, uint64_t


cdef class AsyncResult:
    cdef uint64_t _result
    cdef uint32_t _error

    @staticmethod
    cdef AsyncResult _of(uint64_t result, uint32_t error)
