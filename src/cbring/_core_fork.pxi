# Included by _core.pyx.  The fork handlers.

# fork(): the child has only the forking thread.  Before the fork every live
# Ring's consumer lock is taken (waiting, without the GIL, for a drain, wait
# or close in progress: at most 100 ms for a wait), so that no consumer
# operation is half done in the child's copy; the parent then releases them.
# In the child every inherited Ring is closed at once (its producers are
# threads of the parent, so close() could never wait for them), its copy of
# the wake-up descriptor, shared with the parent, is closed, and its
# consumer calls raise RuntimeError: its records are the parent's to drain.
cdef list _fork_held = []
cdef bint _forking = False  # from _before_fork until the fork is done: wait() lets go


cdef extern from "cbring/clock.h" nogil:
    void cbr_backoff(unsigned round)


cdef void _yield_to_fork() noexcept:
    # Called with the GIL between wait()'s slices: while a fork waits for the
    # consumer locks, a looping wait() does not take its lock again, so a
    # fork waits for the slices in progress (100 ms at most), not for a race
    # it may keep losing.
    cdef unsigned round = 0
    while _forking:
        with nogil:
            cbr_backoff(round)
        if round < 40:
            round += 1


def _before_fork():
    global _forking
    cdef int i
    cdef Ring ring
    _forking = True
    while True:
        todo = []
        for i in range(CBR_SLOT_COUNT):
            if _live_rings[i] != NULL and not (<Ring>_live_rings[i])._fork_held:
                todo.append(<Ring>_live_rings[i])
        if not todo:
            return
        for ring in todo:
            ring._fork_held = True
            if not ring._inherited:  # an inherited Ring's lock is never taken again
                ring._lock()  # may release the GIL: another Ring may appear meanwhile
                _fork_held.append(ring)


cdef void _release_fork_held():
    cdef int i
    cdef Ring ring
    for ring in _fork_held:
        ring._unlock()
    _fork_held.clear()
    for i in range(CBR_SLOT_COUNT):
        if _live_rings[i] != NULL:
            (<Ring>_live_rings[i])._fork_held = False


def _after_fork_in_parent():
    global _forking
    _forking = False
    _release_fork_held()


def _after_fork_in_child():
    global _forking
    cdef int i
    _forking = False
    cdef Ring ring
    parent = os.getppid()
    for i in range(CBR_SLOT_COUNT):
        if _live_rings[i] != NULL:
            ring = <Ring>_live_rings[i]
            if not ring._inherited:
                cbr_ring_close_in_child(ring._r)
                ring._inherited = True
                ring._parent_pid = parent
    _release_fork_held()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
