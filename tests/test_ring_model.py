"""A Ring against a model of itself: hypothesis drives random sequences of
pushes (through the ring's own C status callback), drain, drain_into, wait,
fileno, close, overflow policy changes and collection, and after every step
the ring must agree with a plain Python model: the records (every field),
their order, the counters, and the wake-up descriptor.  Every divergence is
a bug.

Pushes come from this thread through _testing.call_status, so each push has
finished before the next step: the model is sequential and exact.  The
multi-threaded behaviour is the soak test's and the C stress test's job."""

import array
import os
import select
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import cbring
from cbring import _core, _testing

ASYNC_RESULT = {60, 100}
DWORD = {31, 41, 200, 320, 321}
HANDLE = {70}
TEXT = {10, 11, 20, 21, 110}     # host names, addresses, URLs
WIDE = {10, 110}                 # of those, UTF-16LE through the W callback
STATUSES = [60, 100, 31, 41, 200, 320, 70, 10, 11, 21, 110, 0, 9999, 0xFFFFFFFF]
TRUNCATED, PAYLOAD = 1, 16
DTYPE = np.asarray(cbring.Ring(2).drain(0)).dtype
U64 = st.integers(0, 2**64 - 1)


def decode(handle, context, status, info, length, wide=False):
    """What include/cbring/status.h promises for one call (through the W
    callback if wide), as a record tuple (handle, context, result, status,
    error, length, flags, kind, data) as it is in the ring, and the whole
    payload when it is longer than data (else None).  In the ring such a
    record has flag 16 and result = size << 32 | (the store's reference):
    the model's result holds size << 32."""
    if status in ASYNC_RESULT:
        kind, need = 1, 16
    elif status in DWORD:
        kind, need = 2, 4
    elif status in HANDLE:
        kind, need = 3, 8
    else:
        kind, need = (6 if wide and status in WIDE else 5 if status in TEXT else 4), 1
    if status == 60 and 8 <= length < 16:  # HANDLE_CREATED as WinINet sends it: the bare handle
        kind, need = 3, 8
    result = error = flags = 0
    data = b""
    payload = None
    if info is None:
        if length != 0 or kind not in (4, 5, 6):
            flags |= 2
        kind = 0
    elif length < need:
        if kind not in (4, 5, 6):  # text and bytes need no size: nothing is short of one
            flags |= 4
        kind = 0
    elif kind == 1:
        result, error = struct.unpack_from("<QI", info)
    elif kind == 2:
        (result,) = struct.unpack_from("<I", info)
    elif kind == 3:
        (result,) = struct.unpack_from("<Q", info)
    else:
        if kind == 5:    # ANSI: to the NUL, within length
            kept = bytes(info[:length]).split(b"\0", 1)[0]
        elif kind == 6:  # UTF-16LE: to a zero code unit, within 2 x length
            kept = bytes(info[:2 * length])
            for i in range(0, len(kept) - 1, 2):
                if kept[i] == kept[i + 1] == 0:
                    kept = kept[:i]
                    break
        else:
            kept = bytes(info[:length])
        data = kept[:20]
        if len(kept) > 20:
            flags |= PAYLOAD
            result = len(kept) << 32
            payload = kept
    return (handle, context, result, status, error, length, flags, kind, data), payload


def as_tuples(records):
    """Record tuples from a structured array, plus each record's seq and
    whether it overflowed.  data comes from the raw bytes: numpy's "S20"
    field drops trailing NUL bytes, which a payload may well end with."""
    raw = np.ascontiguousarray(records).view(np.uint8).reshape(-1, 64)
    return [((int(r["handle"]), int(r["context"]), int(r["result"]), int(r["status"]),
              int(r["error"]), int(r["length"]), int(r["flags"]) & ~8, int(r["kind"]),
              bytes(raw[i, 44:44 + int(r["data_len"])])), int(r["seq"]), bool(r["flags"] & 8))
            for i, r in enumerate(records)]


def readable(fd):
    return bool(select.select([fd], [], [], 0)[0])


class RingModel(RuleBasedStateMachine):
    """The model: a queue of (position, record, spilled) and the counters."""

    @initialize(capacity=st.sampled_from([1, 2, 3, 4, 8]),
                policy=st.sampled_from(["spill", "drop", "block"]))
    def create(self, capacity, policy):
        self._new_ring(capacity, policy)

    def _new_ring(self, capacity, policy):
        self.capacity = max(2, 1 << (capacity - 1).bit_length())
        self.ring = cbring.Ring(capacity, policy, block_timeout=0)
        self.policy = policy
        self.queue = []          # (position, record tuple, spilled)
        self.tail = 0            # next position, relative to the ring's base
        self.base = None         # the ring's first position, learnt from a seq
        self.closed = False
        self.pushed = self.drained = self.dropped = self.spilled = self.late = 0
        self.payloads_truncated = 0
        self.high_water = self.wakeups = 0
        self.notify = False      # fileno() was called: every drain re-arms
        self.armed = False       # the consumer asked for a signal
        self.signalled = False   # the descriptor is readable

    def teardown(self):
        # freed now (a Ring holds no cycles: refcounting frees it), so that its
        # late calls cannot join another example's count
        if hasattr(self, "ring"):
            del self.ring

    # -- producers -----------------------------------------------------------

    def _call(self, handle, context, status, info, length, wide=False):
        callback = self.ring.status_callback_w if wide else self.ring.status_callback
        _testing.call_status(callback, handle, context, status, info, length)
        if self.closed:
            self.late += 1
            return
        if len(self.queue) >= self.capacity and self.policy != "spill":
            self.dropped += 1
            return
        spilled = len(self.queue) >= self.capacity
        self.queue.append((self.tail, decode(handle, context, status, info, length, wide), spilled))
        self.tail += 1
        self.pushed += 1
        self.spilled += spilled
        if self.armed:
            self.armed = False
            self.wakeups += 1
            self.signalled = True

    @rule(handle=U64, context=U64, status=st.sampled_from(STATUSES),
          info=st.binary(max_size=40), cut=st.integers(0, 40))
    def push(self, handle, context, status, info, cut):
        self._call(handle, context, status, info, min(cut, len(info)))

    @rule(handle=U64, context=U64, status=st.sampled_from(STATUSES),
          info=st.binary(max_size=80), cut=st.integers(0, 40))
    def push_w(self, handle, context, status, info, cut):
        # the W callback may read 2 x length bytes: the buffer holds them
        self._call(handle, context, status, info, min(cut, len(info) // 2), wide=True)

    @rule(handle=U64, context=U64, status=st.sampled_from(STATUSES),
          length=st.integers(0, 2**32 - 1))
    def push_null(self, handle, context, status, length):
        self._call(handle, context, status, None, length)

    @rule(n=st.integers(1, 20))
    def push_many(self, n):
        for i in range(n):
            self._call(i + 1, i, 100, struct.pack("<QI4x", i, 0), 16)

    @rule(past=st.integers(0, 3))
    def push_across_a_segment(self, past):
        """Pushes up to and a few positions past the next 1024-position
        block boundary, where "spill" moves to the next overflow segment and
        the consumer, later, recycles the one it passed."""
        position = (self.base or 0) + self.tail  # a fresh ring's base is 0; a reused one's, once seen
        n = 1024 - position % 1024 + past
        for i in range(n):
            self._call(7, i, 31, struct.pack("<I", i), 4)

    # -- the consumer ----------------------------------------------------------

    def _take(self, n):
        taken, self.queue = self.queue[:n], self.queue[n:]
        self.drained += len(taken)
        return taken

    def _check(self, records, expected, payloads=None):
        """records as drained: by drain() (payloads(i) gives record i's
        payload; offsets are the batch's) or by drain_into without a payload
        buffer (payloads None: long ones truncated to data, result 0)."""
        got = as_tuples(records)
        want = []
        for i, (_, (rec, payload), _) in enumerate(expected):
            if payload is not None:
                if payloads is None:
                    rec = rec[:2] + (0,) + rec[3:6] + (rec[6] & ~PAYLOAD | TRUNCATED,) + rec[7:]
                else:
                    assert payloads(i) == payload
            want.append(rec)
        # a payload's offset is the batch's to choose: compare its size
        got_recs = [g[0][:2] + ((g[0][2] >> 32) << 32,) + g[0][3:] if g[0][6] & PAYLOAD else g[0]
                    for g in got]
        assert got_recs == want
        for (rec, seq, spilled_flag), (pos, _, spilled) in zip(got, expected):
            assert spilled_flag == spilled
            if spilled:
                assert seq == 0
            else:
                if self.base is None:
                    self.base = (seq - 1 - pos) % 2**32
                assert seq == (self.base + pos + 1) % 2**32

    def _before_drain(self):
        if self.notify:
            self.armed = False
            self.signalled = False

    def _after_drain(self):
        if self.notify:
            if self.closed or self.queue:
                self.signalled = True
            else:
                self.armed = True

    @rule(max_events=st.one_of(st.none(), st.integers(0, 12)))
    def drain(self, max_events):
        batch = self.ring.drain(max_events)
        if max_events == 0:
            assert len(batch) == 0
            return
        self._before_drain()
        if self.queue:
            self.high_water = max(self.high_water, len(self.queue))
        expected = self._take(len(self.queue) if max_events is None else max_events)
        self._check(np.asarray(batch), expected, batch.payload)
        assert len(batch) == len(expected)
        if expected:
            ev = batch[0]
            (handle, context, result, status, error, length, flags, kind, data), payload = expected[0][1]
            kept = data if payload is None else payload
            assert (ev.handle, ev.context, ev.status, ev.length) == (handle, context, status, length)
            assert ev.result == (result if kind == 1 else None)
            assert ev.error == (error if kind == 1 else None)
            assert ev.raw == (kept if kind in (4, 5, 6) else None)
            assert ev.info == (result if kind in (2, 3) else kept if kind == 4
                               else kept.decode(cbring.ANSI_ENCODING, "replace") if kind == 5
                               else kept.decode("utf-16-le", "surrogatepass") if kind == 6 else None)
            assert ev.truncated == bool(flags & 1)
        self._after_drain()

    @rule(room=st.integers(1, 12), extra=st.integers(0, 63),
          kind=st.sampled_from(["bytearray", "numpy", "offset", "void"]))
    def drain_into(self, room, extra, kind):
        if kind == "bytearray":
            buf = bytearray(room * 64 + extra)
            view = np.frombuffer(buf, DTYPE, count=room)
        elif kind == "numpy":
            buf = view = np.zeros(room, DTYPE)
        elif kind == "void":
            buf = np.zeros(room, "V64")
            view = buf.view(DTYPE)
        else:  # a window that starts at an odd address
            raw = bytearray(room * 64 + 1 + extra)
            buf = memoryview(raw)[1:]
            view = np.frombuffer(raw, DTYPE, count=room, offset=1)
        self._before_drain()
        self.high_water = max(self.high_water, len(self.queue))
        n = self.ring.drain_into(buf)
        expected = self._take(room)
        assert n == len(expected)
        self._check(view[:n], expected)
        self.payloads_truncated += sum(payload is not None for _, (_, payload), _ in expected)
        self._after_drain()

    @rule(kind=st.sampled_from(["readonly", "small", "strided", "small payloads",
                                "readonly payloads"]))
    def drain_into_refuses(self, kind):
        payloads = None
        if kind == "readonly":
            buf, error = bytes(640), TypeError
        elif kind == "small":
            buf, error = bytearray(63), ValueError
        elif kind == "strided":
            buf, error = np.zeros(20, DTYPE)[::2], ValueError
        elif kind == "small payloads":
            buf, payloads, error = array.array("H", bytes(640)), bytearray(cbring.PAYLOAD_MAX - 1), ValueError
        else:
            buf, payloads, error = bytearray(640), bytes(cbring.PAYLOAD_MAX), TypeError
        with pytest.raises(error):
            self.ring.drain_into(buf, payloads)
        # nothing drained, nothing changed: the invariants check it

    @rule()
    def wait(self):
        assert self.ring.wait(0) == bool(self.queue)
        self._after_drain()  # cbr_ring_wait re-arms in notify mode

    @rule()
    def fileno(self):
        fd = self.ring.fileno()
        assert fd >= 0
        if not self.notify:
            self.notify = True
            self._after_drain()

    @rule()
    def close(self):
        self.ring.close()
        if self.notify:
            self.signalled = True
        self.closed = True

    @rule(policy=st.sampled_from(["spill", "drop", "block"]))
    def set_policy(self, policy):
        self.ring.overflow = policy
        self.policy = policy

    @rule(calls=st.integers(0, 5))
    def collect(self, calls):
        """Drops the Ring: calls to its old callback are counted as late, and
        only in _orphaned_late_calls(); a new Ring starts afresh."""
        before = _core._orphaned_late_calls()
        callback = self.ring.status_callback
        del self.ring  # refcounting frees it: the assertion below fails otherwise
        for _ in range(calls):
            _testing.call_status(callback, 1, 2, 100, None)
        assert _core._orphaned_late_calls() - before == self.late + calls
        self._new_ring(self.capacity, self.policy)

    # -- after every step --------------------------------------------------------

    @invariant()
    def counters_agree(self):
        if not hasattr(self, "ring"):
            return
        s = self.ring.stats
        assert (s.pushed, s.drained, s.dropped, s.spilled, s.late, s.capacity,
                s.payloads_truncated) == (
            self.pushed, self.drained, self.dropped, self.spilled, self.late, self.capacity,
            self.payloads_truncated)
        # the most seen waiting at a drain, or waiting now
        assert s.high_water == max(self.high_water, len(self.queue))
        assert s.wakeups == self.wakeups
        assert s.pushed == s.drained + len(self.queue)

    @invariant()
    def state_agrees(self):
        if not hasattr(self, "ring"):
            return
        assert self.ring.closed == self.closed
        assert self.ring.overflow == self.policy
        assert self.ring.capacity == self.capacity

    @invariant()
    def descriptor_agrees(self):
        if hasattr(self, "ring") and self.notify:
            assert readable(self.ring.fileno()) == self.signalled


# CBRING_MODEL_EXAMPLES=20000 for a long run (tests/reliability/run.sh --long)
RingModel.TestCase.settings = settings(
    max_examples=int(os.environ.get("CBRING_MODEL_EXAMPLES", 300)), stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_ring_agrees_with_its_model = RingModel.TestCase
