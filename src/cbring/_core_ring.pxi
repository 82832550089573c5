# Included by _core.pyx.  Ring: the consumer side of a cbr_ring (drain,
# wait, fileno, close), its callbacks' addresses and their registration.

# Times a consumer call found the consumer lock taken and waited for it
# (a test waits for this to know that a drain is queued behind a close).
cdef uint64_t _lock_waits = 0


cdef int _check_writable_bytes(Py_buffer *view, object obj, str what) except -1:
    # any item size: drain_into writes bytes, and says how many it wrote by records
    if view.readonly:
        raise TypeError(f"{what} must be writable; {type(obj).__name__} is read-only")
    if not PyBuffer_IsContiguous(view, b'C'):
        raise ValueError(f"{what} must be C-contiguous")
    return 0


# The class docstring opens with the signature in Argument Clinic's form,
# which CPython turns into Ring.__text_signature__ for inspect.signature();
# Cython's own embedded signature would go before it (and misplaces '*').
@cython.embedsignature(False)
cdef class Ring:
    """Ring(capacity=65536, overflow='spill', *, block_timeout=1.0)
--

A lock-free ring that WinINet and WinHTTP status callbacks write into, drained from Python in batches.

    capacity, between 1 and MAX_CAPACITY (2**24), is rounded up to a power
    of two, at least 2.  When the ring is full, overflow says what a
    producer does: "spill" puts the record on an unbounded overflow list
    that drains after the ring, in order, so nothing is lost; "drop"
    discards it and counts it in stats.dropped; "block" waits up to
    block_timeout seconds for room, then drops and counts.  Records from
    one producer thread come out in the order it pushed them, and a record
    pushed after another push returned never comes out before it.

    The ring's C callbacks (status_callback, status_callback_w and
    winhttp_callback) never take the GIL.  After close(), or once the Ring
    is garbage-collected, calls to them are counted as late and discarded;
    they never touch freed memory."""

    cdef cbr_ring *_r
    cdef int _slot
    cdef bint _destroyed
    cdef double _block_timeout
    # One consumer at a time: drain, drain_into, wait, fileno and close take
    # it, so a thread that closes while another waits cannot corrupt the
    # consumer's state; wait() holds it for 100 ms at the most.
    cdef PyThread_type_lock _consumer
    cdef bint _fork_held       # _before_fork holds the consumer lock
    cdef bint _inherited       # this process is a fork() child of the Ring's
    cdef object _parent_pid

    cdef int _usable(self) except -1:
        if self._inherited:
            raise RuntimeError(
                f"this Ring was inherited by fork() from process {self._parent_pid}: its producers "
                "and its records belong to that process, and the copy here is closed; "
                "create a new Ring in this process")
        return 0

    cdef int _lock(self) except -1:
        global _lock_waits
        if not PyThread_acquire_lock(self._consumer, NOWAIT_LOCK):
            _lock_waits += 1
            with nogil:
                PyThread_acquire_lock(self._consumer, WAIT_LOCK)
        return 0

    cdef inline void _unlock(self) noexcept:
        PyThread_release_lock(self._consumer)

    def __cinit__(self, *args, **kwargs):
        global _orphan_late
        cdef uint64_t base = 0
        self._slot = -1
        self._destroyed = True
        self._consumer = PyThread_allocate_lock()
        if self._consumer == NULL:
            raise MemoryError()
        arguments = _arguments.bind(Ring, args, kwargs)
        capacity = arguments["capacity"]
        overflow = arguments["overflow"]
        block_timeout = arguments["block_timeout"]
        cap = _checked_index(capacity, "capacity", 1, MAX_CAPACITY)
        if overflow not in _POLICIES:
            raise ValueError(f"overflow must be 'spill', 'drop' or 'block', got {overflow!r}")
        timeout = _seconds(block_timeout, "block_timeout")
        if not (0.0 <= timeout <= 86400.0):
            raise ValueError(f"block_timeout must be between 0 and 86400 seconds, got {block_timeout!r}")
        slot = _take_slot()
        if slot < 0:
            raise RuntimeError(
                f"at most {CBR_MAX_RINGS} Rings can exist at once, each with its own callback address; "
                "close and release Rings you no longer need")
        self._r = cbr_slot_ring(slot)
        if cbr_ring_closed(self._r):
            # A ring used before: positions continue past its tail, so that a
            # claim a producer prepared before the close cannot win.
            base = _ring_tail(self._r) + 1
        err = cbr_ring_init(self._r, cbr_ring_round_capacity(cap), _POLICIES[overflow],
                            <uint64_t>(timeout * 1e9), base)
        if err != 0:
            _return_unused_slot(slot)
            if err == 12:
                raise MemoryError(f"cannot allocate a ring of {cap} records")
            raise OSError(err, "cannot create the ring's wake-up descriptor")
        _orphan_late += _ring_inherited_late(self._r)
        _live_rings[slot] = <PyObject *>self
        self._slot = slot
        self._destroyed = False
        self._block_timeout = timeout

    def __init__(self, capacity=65536, overflow="spill", *, block_timeout=1.0):
        """The arguments were taken when the Ring was created (see the class)."""

    def __dealloc__(self):
        global _orphan_pushed, _orphan_dropped
        cdef cbr_ring_stats s
        cdef cbr_ring *r = self._r
        if self._consumer != NULL:
            PyThread_free_lock(self._consumer)
        # _r is still NULL when the arguments were refused before __cinit__ ran
        if r == NULL or self._slot < 0:
            return
        # Unlisted first: the fork handlers reach Rings only through _live_rings.
        _live_rings[self._slot] = NULL
        if not self._destroyed:
            # Without the GIL: close() may wait for producers and scan millions
            # of positions, and destroy frees what was never drained.  Nothing
            # else can reach this Ring now, and its slot joins the free queue
            # only after destroy, so no new Ring can init the struct meanwhile;
            # producers still calling find it closed and touch only the
            # struct, which is never freed (invariant 4).
            with nogil:
                cbr_ring_close(r)
                cbr_ring_get_stats(r, &s)
                cbr_ring_destroy(r)
            _orphan_pushed += s.pushed
            _orphan_dropped += s.dropped
            self._destroyed = True
        _give_slot(self._slot)
        self._slot = -1

    @property
    def capacity(self):
        """The number of slots, a power of two."""
        return cbr_ring_capacity(self._r)

    @property
    def overflow(self):
        """The overflow policy: "spill", "drop" or "block".  Settable; a change
        applies to pushes that find the ring full from then on."""
        return _POLICY_NAMES[_ring_policy(self._r)]

    @overflow.setter
    def overflow(self, value):
        if value not in _POLICIES:
            raise ValueError(f"overflow must be 'spill', 'drop' or 'block', got {value!r}")
        cbr_ring_set_policy(self._r, _POLICIES[value])

    @property
    def block_timeout(self):
        """Seconds a producer waits for room under the "block" policy."""
        return self._block_timeout

    @property
    def closed(self):
        """True after close()."""
        return bool(cbr_ring_closed(self._r))

    @property
    def status_callback(self):
        """The address of this ring's C status callback for
        InternetSetStatusCallbackA and the plain InternetSetStatusCallback
        export (via ctypes, cffi or C), with the exact INTERNET_STATUS_CALLBACK
        signature: it takes every text status as ANSI.  It never takes the
        GIL; after close() or collection its calls are counted as late and
        discarded."""
        return cbr_slot_callback(self._slot)

    @property
    def status_callback_w(self):
        """The address of this ring's C status callback for
        InternetSetStatusCallbackW (what register() installs): it takes
        RESOLVING_NAME and REDIRECT as UTF-16LE and the address statuses
        (NAME_RESOLVED, CONNECTING_TO_SERVER, CONNECTED_TO_SERVER) as ANSI,
        as WinINet passes them to a W registration.  Otherwise as
        status_callback, into the same ring."""
        return cbr_slot_callback_w(self._slot)

    @property
    def winhttp_callback(self):
        """The address of this ring's C status callback for
        WinHttpSetStatusCallback (what register_winhttp() installs), with
        the exact WINHTTP_STATUS_CALLBACK signature: it decodes by WinHTTP's
        table (UTF-16 strings whose length counts characters, REQUEST_ERROR's
        WINHTTP_ASYNC_RESULT, READ_COMPLETE's buffer address), and its events
        have api "winhttp".  Otherwise as status_callback, into the same ring."""
        return cbr_slot_callback_h(self._slot)

    @property
    def stats(self):
        """A RingStats snapshot."""
        cdef cbr_ring_stats s
        cbr_ring_get_stats(self._r, &s)
        return RingStats(s.pushed, s.drained, s.dropped, s.spilled, s.late,
                         s.capacity, s.high_water, s.wakeups, s.payloads_truncated)

    def register(self, hinternet):
        """Sets this ring's W callback (status_callback_w) on a WinINet
        handle with InternetSetStatusCallbackW, so that host names and URLs
        arrive whole in UTF-16.  For the ANSI behaviour call
        InternetSetStatusCallbackA(hinternet, ring.status_callback) yourself.

        Returns the address of the handle's previous callback (0 if none).
        Raises OSError if WinINet refuses, and NotImplementedError where
        WinINet does not exist (everywhere but Windows)."""
        cdef uintptr_t previous = 0
        cdef unsigned long error = 0
        self._usable()
        if cbr_ring_closed(self._r):
            raise ValueError("register() on a closed Ring")
        h = _checked_index(hinternet, "hinternet", 0, sys.maxsize * 2 + 1)
        r = cbr_slot_register(h, self._slot, &previous, &error)
        if r < 0:
            raise NotImplementedError(
                "Ring.register needs WinINet, which exists only on Windows; elsewhere pass "
                "ring.status_callback (ANSI) or ring.status_callback_w (UTF-16) to the code "
                "that calls status callbacks")
        if r == 0:
            raise OSError(None, f"InternetSetStatusCallbackW failed with error {error}", None, error)
        return previous

    def register_winhttp(self, hinternet, notifications=WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS):
        """Sets this ring's WinHTTP callback (winhttp_callback) on a WinHTTP
        handle with WinHttpSetStatusCallback, for the notifications given
        (a WINHTTP_CALLBACK_FLAG_* mask, every one by default).

        Returns the address of the handle's previous callback (0 if none).
        Raises OSError (winerror the error) if WinHTTP refuses, and
        NotImplementedError where WinHTTP does not exist (everywhere but
        Windows)."""
        cdef uintptr_t previous = 0
        cdef unsigned long error = 0
        self._usable()
        if cbr_ring_closed(self._r):
            raise ValueError("register_winhttp() on a closed Ring")
        h = _checked_index(hinternet, "hinternet", 0, sys.maxsize * 2 + 1)
        mask = _checked_index(notifications, "notifications", 0, 0xFFFFFFFF)
        r = cbr_slot_register_winhttp(h, self._slot, <uint32_t>mask, &previous, &error)
        if r < 0:
            raise NotImplementedError(
                "Ring.register_winhttp needs WinHTTP, which exists only on Windows; elsewhere pass "
                "ring.winhttp_callback to the code that calls WinHTTP status callbacks")
        if r == 0:
            raise OSError(None, f"WinHttpSetStatusCallback failed with error {error}", None, error)
        return previous

    cdef inline size_t _take(self, cbr_record *out, size_t room) noexcept:
        # Under the consumer lock: close() holds it from closing tail to
        # storing end, so the hint is never the ~2**64 of that window.  The
        # hint bounds every claimed position, so a drain that stops at it
        # never reads the slot a producer is about to write (polling an
        # empty ring would otherwise pull that line from the producers).
        cdef uint64_t hint = cbr_ring_size_hint(self._r)
        return cbr_ring_drain(self._r, out, <size_t>hint if hint < room else room)

    cdef size_t _drain(self, cbr_record *out, size_t room, char *payloads,
                       size_t payload_cap) except? 0:
        # the one consumer step behind drain_into(): under the consumer
        # lock, and with fileno()'s readiness consumed and re-armed
        cdef size_t n, used = 0
        cdef uint64_t hint
        self._lock()
        if self._r.notify:
            cbr_ring_notify_clear(self._r)
        if payloads == NULL:
            n = self._take(out, room)
        else:
            hint = cbr_ring_size_hint(self._r)  # as _take, for the same reason
            n = cbr_ring_drain_payloads(self._r, out, <size_t>hint if hint < room else room,
                                        payloads, payload_cap, &used)
        if self._r.notify:
            cbr_ring_notify_rearm(self._r)
        self._unlock()
        return n

    def drain(self, max_events=None):
        """Takes up to max_events records (all that are ready if None), oldest first.

        Returns a Batch, possibly empty; never blocks.  On a closed ring it
        returns what was left, then empty batches.  Information longer than
        a record holds comes whole with its event (see Batch.payload).  It
        allocates at most 65536 records (4 MiB) more than it returns, and
        for payloads at most twice what they take, plus PAYLOAD_MAX."""
        cdef size_t want, size = 0, n = 0, step, asked, got, cap = 0, used = 0, grow
        cdef uint64_t hint
        cdef cbr_record *buf = NULL
        cdef cbr_record *grown
        cdef char *payloads = NULL
        cdef char *more
        self._usable()
        if max_events is None:
            want = <size_t>PY_SSIZE_T_MAX // sizeof(cbr_record)
        else:
            want = min(<size_t>_checked_index(max_events, "max_events", 0, sys.maxsize),
                       <size_t>PY_SSIZE_T_MAX // sizeof(cbr_record))
        self._lock()
        try:
            if self._r.notify:
                cbr_ring_notify_clear(self._r)
            # Grown DRAIN_STEP records at a time, so what is allocated and not
            # returned is at most one step, and no further than what was
            # claimed when it began: producers that keep pace with the copy
            # must not keep one drain (and the GIL) going forever.  Payloads
            # go into one buffer per batch, grown by doubling whenever less
            # than PAYLOAD_MAX is free (the room with which a drain always
            # takes the next record).  A refused allocation before anything
            # was taken raises and loses nothing; after, the batch is what
            # was taken.
            hint = cbr_ring_size_hint(self._r)
            if hint < want:
                want = <size_t>hint
            while n < want:
                if n == size:
                    step = <size_t>min(<uint64_t>(want - n), <uint64_t>DRAIN_STEP)
                    grown = <cbr_record *>PyMem_Realloc(buf, (n + step) * sizeof(cbr_record))
                    if grown == NULL:
                        if n == 0:
                            raise MemoryError(f"cannot allocate a batch of {step} events")
                        break
                    buf = grown
                    size = n + step
                if cap - used < CBR_PAYLOAD_MAX:
                    grow = max(2 * cap, used + CBR_PAYLOAD_MAX)
                    more = <char *>PyMem_Realloc(payloads, grow)
                    if more == NULL:
                        if n == 0:
                            raise MemoryError(f"cannot allocate {grow} bytes for payloads")
                        break
                    payloads = more
                    cap = grow
                asked = size - n
                got = cbr_ring_drain_payloads(self._r, buf + n, asked, payloads, cap, &used)
                n += got
                # short of what was asked with room for any payload: the ring
                # had no more (short without that room: the payloads filled up)
                if got < asked and cap - used >= CBR_PAYLOAD_MAX:
                    break
            if size == 0:
                cbr_ring_drain(self._r, NULL, 0)  # the high-water mark, as every drain
        except BaseException:
            PyMem_Free(payloads)
            PyMem_Free(buf)
            raise
        finally:
            if self._r.notify:
                cbr_ring_notify_rearm(self._r)
            self._unlock()
        if n == 0:
            PyMem_Free(buf)
            buf = NULL
        elif n < size:
            grown = <cbr_record *>PyMem_Realloc(buf, n * sizeof(cbr_record))
            if grown != NULL:
                buf = grown
        if used == 0:
            PyMem_Free(payloads)
            payloads = NULL
        elif used < cap:
            more = <char *>PyMem_Realloc(payloads, used)
            if more != NULL:
                payloads = more
        b = Batch._adopt(buf, n)
        (<Batch>b)._payloads = payloads
        (<Batch>b)._payload_len = used
        return b

    def drain_into(self, buffer, payloads=None):
        """Copies ready records straight into buffer and returns how many.

        buffer is any writable, C-contiguous buffer (bytearray, memoryview,
        array, numpy array of any dtype), taken as bytes; it is filled from
        the start with at most len(buffer) // EVENT_SIZE records.  payloads,
        if given, is another such buffer, of at least PAYLOAD_MAX bytes: the
        whole information of each record with flag 16 (CBR_FLAG_PAYLOAD) is
        copied there, from its start, and the record's result is size << 32
        | offset into it.  Without payloads, such a record keeps its first
        20 bytes, is marked truncated, and is counted in
        stats.payloads_truncated.  Nothing already in the ring is lost if a
        buffer is refused."""
        cdef Py_buffer view
        cdef Py_buffer pview
        cdef bint have_payloads = False
        cdef size_t room
        cdef char *pbuf = NULL
        cdef size_t pcap = 0
        self._usable()
        PyObject_GetBuffer(buffer, &view, PyBUF_RECORDS_RO)
        try:
            _check_writable_bytes(&view, buffer, "drain_into's buffer")
            room = <size_t>view.len // sizeof(cbr_record)
            if room == 0:
                raise ValueError(
                    f"drain_into needs room for at least one {sizeof(cbr_record)}-byte record, "
                    f"got {view.len} bytes")
            if payloads is not None:
                PyObject_GetBuffer(payloads, &pview, PyBUF_RECORDS_RO)
                have_payloads = True
                _check_writable_bytes(&pview, payloads, "drain_into's payloads")
                if <size_t>pview.len < CBR_PAYLOAD_MAX:
                    raise ValueError(
                        f"drain_into's payloads needs at least PAYLOAD_MAX = {CBR_PAYLOAD_MAX} bytes, "
                        f"got {pview.len}")
                if (<char *>pview.buf < <char *>view.buf + view.len
                        and <char *>view.buf < <char *>pview.buf + pview.len):
                    raise ValueError("drain_into's buffer and payloads overlap")
                pbuf = <char *>pview.buf
                pcap = <size_t>pview.len
            return self._drain(<cbr_record *>view.buf, room, pbuf, pcap)
        finally:
            if have_payloads:
                PyBuffer_Release(&pview)
            PyBuffer_Release(&view)

    def wait(self, timeout=None):
        """Blocks, without the GIL, until records are ready or timeout seconds pass.

        Returns True when records are ready, False on timeout, and at once
        False on a closed ring with nothing left.  Signals (Ctrl-C) are
        handled within 100 ms."""
        cdef int slice_ms, r = 0
        cdef double left = 0.0
        self._usable()
        if timeout is not None:
            left = _seconds(timeout, "timeout", " or None")
            if not (left >= 0.0):
                raise ValueError(f"timeout must be non-negative, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + left
        while True:
            if deadline is None:
                slice_ms = 100
            else:
                left = deadline - time.monotonic()
                # clamped before ceil, which refuses infinity: an infinite timeout never passes
                slice_ms = <int>math.ceil(max(0.0, min(100.0, left * 1000.0)))
            _yield_to_fork()
            self._lock()
            with nogil:
                r = cbr_ring_wait(self._r, slice_ms)
            self._unlock()
            if r:
                return True
            if cbr_ring_closed(self._r):
                return False
            PyErr_CheckSignals()
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def fileno(self):
        """A descriptor (a socket on Windows) that is readable while records
        are pending, for select, selectors and asyncio's add_reader.

        From the first call on, every drain re-arms it.  It may be readable
        spuriously (a producer preempted between claiming a slot and
        writing it); drain() then returns an empty batch.  Producers
        make a system call only when the consumer has found the ring empty,
        never once per record under load.  Once the ring is closed it stays
        readable, so that a reader wakes, drains what is left and sees the end.
        The descriptor is valid until the Ring is collected."""
        self._usable()
        if not self._r.notify:
            self._lock()
            self._r.notify = 1
            cbr_ring_notify_rearm(self._r)
            self._unlock()
        return self._r.wake.rfd

    def batches(self, max_events=None):
        """An async iterator of non-empty batches, for ``async for batch in
        ring.batches()``; it ends once the ring is closed and drained.  See
        cbring.aio: the event loop never blocks."""
        from cbring.aio import batches
        return batches(self, max_events)

    def close(self):
        """Refuses further records; calls to status_callback from then on are
        counted as late.  Waits (without the GIL) for producers that are
        mid-push.  Records already pushed stay drainable.  Idempotent."""
        if self._inherited:
            return  # closed by the fork handler
        self._lock()
        with nogil:
            cbr_ring_close(self._r)
        if self._r.notify:
            cbr_wakeup_signal_(self._r)
        self._unlock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return (f"<cbring.Ring capacity={self.capacity} overflow={self.overflow!r} "
                f"{'closed' if self.closed else 'open'}>")

    def __reduce__(self):
        raise TypeError("a Ring cannot be pickled: it is bound to native callback state in this process")


cdef extern from *:
    """
    static inline uint64_t cbr_py_ring_inherited_late(cbr_ring *r) { return r->inherited_late; }
    static inline uint64_t cbr_py_ring_tail(cbr_ring *r)
    { return cbr_load_u64(&r->tail, CBR_RELAXED) & ~CBR_RING_CLOSED; }
    static inline uint32_t cbr_py_ring_policy(cbr_ring *r)
    { return cbr_load_u32(&r->policy, CBR_RELAXED); }
    static inline void cbr_py_wakeup_signal(cbr_ring *r) { cbr_wakeup_signal(&r->wake); }
    static inline void *cbr_py_ring_tail_field(cbr_ring *r) { return &r->tail; }
    static inline void *cbr_py_ring_deciding_field(cbr_ring *r) { return &r->deciding; }
    """
    uint64_t _ring_tail "cbr_py_ring_tail" (cbr_ring *r) nogil
    uint64_t _ring_inherited_late "cbr_py_ring_inherited_late" (cbr_ring *r) nogil
    uint32_t _ring_policy "cbr_py_ring_policy" (cbr_ring *r) nogil
    void cbr_wakeup_signal_ "cbr_py_wakeup_signal" (cbr_ring *r) nogil
    void *_ring_tail_field "cbr_py_ring_tail_field" (cbr_ring *r) nogil
    void *_ring_deciding_field "cbr_py_ring_deciding_field" (cbr_ring *r) nogil
