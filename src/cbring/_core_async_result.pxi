# Included by _core.pyx.  AsyncResult: INTERNET_ASYNC_RESULT (and
# WINHTTP_ASYNC_RESULT) as a value.  Its layout is declared in _core.pxd.

cdef class AsyncResult:
    """WinINet's INTERNET_ASYNC_RESULT: ``{DWORD_PTR dwResult; DWORD dwError;}``.

    A value: immutable, equal and hashing alike when both fields are, and
    picklable.  ``bytes(result)`` gives the native layout (``AsyncResult.SIZE``
    bytes, padding zeroed) and ``AsyncResult.from_bytes`` reads it back, so
    a result can be handed to C code or a status callback as it is."""

    SIZE = sizeof(cbr_async_result)

    def __init__(self, dwResult=0, dwError=0):
        self._result = _checked_index(dwResult, "dwResult", 0, _DWORD_PTR_MAX)
        self._error = _checked_index(dwError, "dwError", 0, 0xFFFFFFFF)

    @staticmethod
    cdef AsyncResult _of(uint64_t result, uint32_t error):
        cdef AsyncResult self = AsyncResult.__new__(AsyncResult)
        self._result = result
        self._error = error
        return self

    @property
    def dwResult(self):
        """The handle, count or BOOL the asynchronous call produced."""
        return self._result

    @property
    def dwError(self):
        """The Win32 error code; ERROR_SUCCESS (0) when the call succeeded."""
        return self._error

    @classmethod
    def from_bytes(cls, data):
        """Reads the native layout from any bytes-like object of exactly SIZE bytes."""
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        if view.shape[0] != sizeof(cbr_async_result):
            raise ValueError(
                f"INTERNET_ASYNC_RESULT is {sizeof(cbr_async_result)} bytes, got {view.shape[0]}")
        cdef cbr_async_result c
        memcpy(&c, &view[0], sizeof(cbr_async_result))
        cdef AsyncResult self = cls.__new__(cls)
        self._result = c.dwResult
        self._error = c.dwError
        return self

    def __bytes__(self):
        cdef cbr_async_result c
        memset(&c, 0, sizeof(c))
        c.dwResult = <cbr_dword_ptr>self._result
        c.dwError = <cbr_dword>self._error
        return (<char *>&c)[:sizeof(c)]

    def __eq__(self, other):
        if not isinstance(other, AsyncResult):
            return NotImplemented
        return (self._result == (<AsyncResult>other)._result
                and self._error == (<AsyncResult>other)._error)

    def __hash__(self):
        return hash((self._result, self._error))

    def __reduce__(self):
        return (type(self), (self._result, self._error))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        return f"AsyncResult(dwResult={self._result}, dwError={self._error})"
