# Included by _core.pyx.  Test-only: drives _slots.h's pause points.

# Test-only pause points in the ring code compiled here (see _slots.h), so
# that tests force the interleavings they need instead of hoping for them.
cdef dict _PAUSE_POINTS = {
    "close-after-tail": CBR_PAUSE_CLOSE_AFTER_TAIL,
    "decider-before-count": CBR_PAUSE_DECIDER_BEFORE_COUNT,
    "decider-after-count": CBR_PAUSE_DECIDER_AFTER_COUNT,
    "decider-before-done": CBR_PAUSE_DECIDER_BEFORE_DONE,
}


def _pause_arm(target, where):
    """Test only: the next thread that reaches `where` (a key of
    _PAUSE_POINTS) on the ring struct of target (a Ring, or a callback
    address whose Ring may be gone) holds there until _pause_resume().  A
    thread that holds the GIL there is not held; _pause_held_gil() says so."""
    cdef cbr_ring *r = NULL
    cdef int i
    if isinstance(target, Ring):
        r = (<Ring>target)._r
    else:
        for i in range(CBR_SLOT_COUNT):
            if cbr_slot_callback(i) == target:
                r = cbr_slot_ring(i)
        if r == NULL:
            raise ValueError(f"{target!r} is neither a Ring nor a ring's callback address")
    cdef uint32_t code = _PAUSE_POINTS[where]
    cbr_pause_arm(code, _ring_tail_field(r) if code == CBR_PAUSE_CLOSE_AFTER_TAIL
                  else _ring_deciding_field(r))


def _pause_disarm():
    """Test only: no pause is armed."""
    cbr_pause_arm(CBR_PAUSE_NONE, NULL)


def _pauses_reached():
    """Test only: how many pauses threads have reached since the process began."""
    return cbr_pause_reached()


def _pause_resume():
    """Test only: lets the oldest held pause go on; False if none is held."""
    return bool(cbr_pause_resume())


def _pause_held_gil():
    """Test only: the last armed pause was reached by a thread holding the GIL."""
    return bool(cbr_pause_held_gil())


def _count_backoffs(on):
    """Test only: starts or stops counting the ring code's back-off spins; returns the count."""
    return cbr_pause_backoffs(1 if on else 0)


def _consumer_lock_waits():
    """Test only: times a consumer call waited for another's consumer lock."""
    return _lock_waits
