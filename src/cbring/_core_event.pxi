# Included by _core.pyx.  StatusEvent: one record (and its payload) as a
# value, and how it unpickles.

@cython.freelist(16)
@cython.final
@cython.no_gc
cdef class StatusEvent:
    """One status callback, as the ring recorded it.  Created by Batch on access.

    A value: immutable, equal (and hashing alike) to another event of the
    same record and payload, picklable; ``copy.copy`` returns the event
    itself.  Holds the 64-byte record and, for information longer than the
    record holds, its bytes (no ``__dict__``)."""

    FIELDS = _FIELDS
    cdef cbr_record _rec
    cdef bytes _payload  # the whole information when the record has CBR_FLAG_PAYLOAD, else None

    def __init__(self):
        raise TypeError("StatusEvent objects come from Ring.drain(); they cannot be created directly")

    @staticmethod
    cdef StatusEvent _from(const cbr_record *rec, const char *base, size_t base_len):
        # base: where a CBR_FLAG_PAYLOAD record's payload is; the event keeps
        # its own copy, at offset 0, so that equal events have equal records
        cdef StatusEvent ev = StatusEvent.__new__(StatusEvent)
        cdef const char *at
        cdef size_t n
        ev._rec = rec[0]
        if _payload_of(rec, base, base_len, &at, &n):
            ev._payload = at[:n]
            ev._rec.result = (<uint64_t>n) << 32
        return ev

    cdef inline const char *_base(self) noexcept:
        if self._payload is None:
            return NULL
        return PyBytes_AS_STRING(self._payload)

    cdef inline size_t _base_len(self) noexcept:
        if self._payload is None:
            return 0
        return <size_t>PyBytes_GET_SIZE(self._payload)

    @property
    def handle(self):
        """hInternet, as an integer."""
        return self._rec.handle

    @property
    def context(self):
        """dwContext, the application's value for the request."""
        return self._rec.context

    @property
    def api(self):
        """"winhttp" for an event from a WinHTTP callback (Ring.winhttp_callback), else "wininet"."""
        return "winhttp" if self._rec.flags & CBR_FLAG_WINHTTP else "wininet"

    @property
    def status(self):
        """dwInternetStatus: an InternetStatus member, or for an event from WinHTTP (api
        "winhttp") a WinHttpStatus member; a plain int for codes the API's header does not name."""
        return _status_of(self._rec.status, self._rec.flags)

    @property
    def status_code(self):
        """dwInternetStatus as a plain int (equal to status), as Batch.tuples() gives it.

        A tuple or list that holds only ints, bytes and None is one the
        garbage collector can ignore; an InternetStatus member in it makes
        the collector visit it on every full pass."""
        return self._rec.status

    @property
    def result(self):
        """dwResult for statuses that carry an INTERNET_ASYNC_RESULT (REQUEST_COMPLETE,
        and HANDLE_CREATED when given one rather than the bare handle), else None.
        For WinHTTP's REQUEST_ERROR, the API id of the call that failed: a
        WinHttpApi member (a plain int for ids winhttp.h does not name)."""
        if self._rec.kind != CBR_INFO_ASYNC_RESULT:
            return None
        if self._rec.flags & CBR_FLAG_WINHTTP:
            return _winhttp_api_by_value.get(self._rec.result, self._rec.result)
        return self._rec.result

    @property
    def error(self):
        """dwError for statuses that carry an INTERNET_ASYNC_RESULT (REQUEST_COMPLETE,
        and HANDLE_CREATED when given one rather than the bare handle; WinHTTP's
        REQUEST_ERROR: the ERROR_WINHTTP_* code), else None."""
        return self._rec.error if self._rec.kind == CBR_INFO_ASYNC_RESULT else None

    @property
    def async_result(self):
        """The INTERNET_ASYNC_RESULT as an AsyncResult, or None for other statuses."""
        return _field(&self._rec, _F_ASYNC_RESULT, NULL, 0)

    @property
    def info(self):
        """lpvStatusInformation decoded by status: an int for DWORD statuses
        (REQUEST_SENT, RESPONSE_RECEIVED, STATE_CHANGE, COOKIE_SENT,
        COOKIE_RECEIVED), for HANDLE_CLOSING and for a HANDLE_CREATED that
        carries only the new handle, as WinINet sends it (the handle); a str,
        the whole text up to its terminator and without it, for the text
        statuses (RESOLVING_NAME, NAME_RESOLVED, CONNECTING_TO_SERVER,
        CONNECTED_TO_SERVER, REDIRECT): UTF-16LE where the W callback was
        given it, else ANSI (see ANSI_ENCODING); bytes, exactly as given,
        for unknown codes; None for async results (see result and error)
        and when nothing could be read.

        For an event from WinHTTP (api "winhttp"): an int for DATA_AVAILABLE,
        WRITE_COMPLETE, REQUEST_SENT, RESPONSE_RECEIVED and
        INTERMEDIATE_RESPONSE, a WinHttpSecureFailure for SECURE_FAILURE;
        READ_COMPLETE's bytes read (the buffer's address is buffer); the
        whole UTF-16 text for RESOLVING_NAME, NAME_RESOLVED,
        CONNECTING_TO_SERVER, CONNECTED_TO_SERVER and REDIRECT; the handle for
        HANDLE_CREATED and HANDLE_CLOSING; None for statuses that carry
        nothing (bytes if given some anyway) and REQUEST_ERROR; bytes for the
        rest."""
        v = _info(&self._rec, self._base(), self._base_len())
        if (self._rec.flags & CBR_FLAG_WINHTTP and self._rec.kind == CBR_INFO_DWORD
                and self._rec.status == WINHTTP_CALLBACK_STATUS_SECURE_FAILURE):
            return WinHttpSecureFailure(v)
        return v

    @property
    def buffer(self):
        """For WinHTTP's READ_COMPLETE, the address of the buffer given to
        WinHttpReadData (info is the bytes read into it); never read by
        cbring, since it is the caller's.  None for every other event."""
        return self._rec.result if self._rec.kind == CBR_INFO_BUFFER else None

    @property
    def raw(self):
        """The bytes kept of lpvStatusInformation for text and unknown
        statuses (for text: up to the terminator, without it; UTF-16LE or
        ANSI as info was decoded), else None.  Whole up to PAYLOAD_MAX
        bytes; past it a prefix, and truncated is set."""
        return _raw(&self._rec, self._base(), self._base_len())

    @property
    def truncated(self):
        """True when raw (and so info) holds only a prefix of what was given:
        the information was longer than PAYLOAD_MAX, or could not be kept
        whole (see RingStats.payloads_truncated)."""
        return bool(self._rec.flags & CBR_FLAG_TRUNCATED)

    @property
    def length(self):
        """dwStatusInformationLength, exactly as the caller gave it."""
        return self._rec.length

    @property
    def flags(self):
        """The record's flag bits: 1 truncated, 2 NULL information pointer,
        4 information too short for its status, 8 came through the overflow list,
        16 the information was kept whole apart from the record (see raw)."""
        return self._rec.flags

    @property
    def seq(self):
        """The ring position + 1, modulo 2**32; 0 for records that overflowed."""
        return self._rec.seq

    def __eq__(self, other):
        if not isinstance(other, StatusEvent):
            return NotImplemented
        return (_same_record(&self._rec, &(<StatusEvent>other)._rec)
                and self._payload == (<StatusEvent>other)._payload)

    def __hash__(self):
        return hash((self._rec.handle, self._rec.context, self._rec.status, self._rec.seq,
                     self._rec.result, self._rec.error))

    def __reduce__(self):
        if self._payload is None:
            return (_event_from_record, (_record_bytes(&self._rec),))
        return (_event_from_record, (_record_bytes(&self._rec), self._payload))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        st = self.status
        winhttp = self._rec.flags & CBR_FLAG_WINHTTP
        parts = ["api='winhttp'"] if winhttp else []
        parts += [f"status={st!r}" if isinstance(st, enum.Enum) else f"status={st}",
                  f"handle={self._rec.handle:#x}", f"context={self._rec.context}"]
        if self._rec.kind == CBR_INFO_ASYNC_RESULT:
            parts.append(f"result={self.result!r}" if winhttp else f"result={self._rec.result}")
            parts.append(f"error={self._rec.error}")
        elif self._rec.kind == CBR_INFO_BUFFER:
            parts.append(f"info={self._rec.length}")
            parts.append(f"buffer={self._rec.result:#x}")
        elif self._rec.kind != CBR_INFO_NONE:
            parts.append(f"info={self.info!r}")
        if self._rec.flags & CBR_FLAG_TRUNCATED:
            parts.append(f"truncated=True, length={self._rec.length}")
        return f"StatusEvent({', '.join(parts)})"


cdef const uint8_t[::1] _record_view(object data, str what) except *:
    cdef const uint8_t[::1] view = memoryview(data).cast("B")
    if view.shape[0] % sizeof(cbr_record):
        raise ValueError(f"{what} must be a whole number of {sizeof(cbr_record)}-byte records, "
                         f"got {view.shape[0]} bytes")
    return view


def _event_from_record(data, payload=None):
    """A StatusEvent from its 64-byte record and, for a record with
    CBR_FLAG_PAYLOAD, the bytes its result points into (how a StatusEvent
    unpickles)."""
    cdef const uint8_t[::1] view = _record_view(data, "a StatusEvent's record")
    cdef bytes p = None if payload is None else bytes(payload)
    cdef const char *base = NULL
    cdef size_t base_len = 0
    if view.shape[0] != sizeof(cbr_record):
        raise ValueError(f"a StatusEvent's record is {sizeof(cbr_record)} bytes, got {view.shape[0]}")
    if p is not None:
        base = p
        base_len = len(p)
    return StatusEvent._from(<const cbr_record *>&view[0], base, base_len)
