"""Fixtures for cbring's tests, one per concept.

ring / make_ring      Rings that are closed when the test ends
push                  one call of a ring's status callback, made from C
record_dtype          the numpy dtype that EVENT_FORMAT describes
producer_stream       a checker for everything cbring._testing.Producers sends
selector              a selectors.DefaultSelector, closed when the test ends
run_python            a fresh interpreter, for what might crash or needs a clean process
c_compiler            the C compiler sysconfig names, or a skip where there is none to run
"""

import os
import selectors
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import cbring
from cbring import _testing

# Examples are cheap, but the suite shares two cores with other work; no
# example database, so that runs do not depend on earlier runs.
settings.register_profile(
    "cbring", database=None, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("cbring")


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true",
                     help="also run the long soak tests (marker soak, tests/soak), deselected by default")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--soak"):
        return
    soak = [item for item in items if item.get_closest_marker("soak")]
    if soak:
        config.hook.pytest_deselected(items=soak)
        items[:] = [item for item in items if not item.get_closest_marker("soak")]


@pytest.fixture
def make_ring():
    """Creates Rings like cbring.Ring(...) and closes them after the test."""
    rings = []

    def make(*args, **kwargs):
        r = cbring.Ring(*args, **kwargs)
        rings.append(r)
        return r

    yield make
    for r in rings:
        r.close()


@pytest.fixture
def ring(make_ring):
    """A small open Ring (capacity 8, overflow "spill")."""
    return make_ring(8)


@pytest.fixture
def push():
    """push(ring, status, info=None, *, handle=1, context=0, length=None):
    one call of ring.status_callback, made from C as WinINet would."""

    def push(ring, status, info=None, *, handle=1, context=0, length=None):
        _testing.call_status(ring.status_callback, handle, context, status, info, length)

    return push


@pytest.fixture
def record_dtype():
    """The structured dtype of one 64-byte record, field by field from record.h."""
    return np.dtype({
        "names": ["handle", "context", "result", "seq", "status", "error", "length",
                  "flags", "kind", "data_len", "data"],
        "formats": ["=u8", "=u8", "=u8", "=u4", "=u4", "=u4", "=u4", "=u2", "u1", "u1", "S20"],
        "offsets": [0, 8, 16, 24, 28, 32, 36, 40, 42, 43, 44],
        "itemsize": 64,
    })


@pytest.fixture
def selector():
    sel = selectors.DefaultSelector()
    yield sel
    sel.close()


@pytest.fixture
def c_compiler():
    """The command of the C compiler that built this Python (sysconfig's CC,
    else cc), as a list.  Skips the test where that compiler is not on PATH:
    the Windows CPython's sysconfig names none, and under Wine there is no C
    compiler that a Windows program can start (a Linux one starts, but Wine
    gives its parent no handle to wait for it or read its exit status)."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if shutil.which(cc[0]) is None:
        pytest.skip(f"no C compiler {cc[0]!r} on PATH (Windows CPython's sysconfig names none)")
    return cc


@pytest.fixture
def run_python():
    """run_python(code, timeout=60) runs code in a fresh interpreter that
    imports this cbring; returns the CompletedProcess (text stdout, stderr)."""
    here = os.path.dirname(cbring.__path__[0])

    def run(code, timeout=60):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
        return subprocess.run([sys.executable, "-X", "faulthandler", "-c", textwrap.dedent(code)],
                              capture_output=True, text=True, timeout=timeout, env=env)

    return run


# What one simulated request sends, in order (see src/cbring/_producer.h):
# status, record kind, dwStatusInformationLength, flags, data.
_HOST = _testing.HOST  # NUL-terminated, 23 bytes: longer than a record holds
_REQUEST = [
    (60, 1, 16, 0, b""),                     # HANDLE_CREATED, INTERNET_ASYNC_RESULT
    (10, 5, len(_HOST), 1, _HOST[:20]),      # RESOLVING_NAME, ANSI text: see _HOST_POS
    (31, 2, 4, 0, b""),                      # REQUEST_SENT, DWORD
    (41, 2, 4, 0, b""),                      # RESPONSE_RECEIVED, DWORD
    (100, 1, 16, 0, b""),                    # REQUEST_COMPLETE, INTERNET_ASYNC_RESULT
    (70, 3, 8, 0, b""),                      # HANDLE_CLOSING, the handle
]
_SPILLED = 8
_PAYLOAD = 16
_REQUEST_BITS = 40
# RESOLVING_NAME's host (22 bytes without its NUL) is longer than data[]:
# drained with a payload buffer (drain(), numpy.asarray(batch)) its record
# has flag 16 and result = 22 << 32 | offset; drained into records alone
# (drain_into without payloads) flag 1 and result 0.  Either is this stream.
_HOST_POS = 1


class ProducerStream:
    """Checks, chunk by chunk, the records that Producers(threads, events)
    sent through a ring: every field of every record, each event at most
    once (exactly once if lossless), each thread's events in the order it
    made them, and records in ring-position order (seq) with no gaps."""

    def __init__(self, threads, events, *, lossless):
        self.threads = threads
        self.events = events
        self.lossless = lossless
        self.last = np.full(threads, -1, dtype=np.int64)   # last event index seen, per thread
        self.counts = np.zeros(threads, dtype=np.int64)
        self.seq_offset = None   # a ring record's seq minus its index in drain order
        self.index = 0           # records seen so far, in drain order
        self.spilled = 0
        self.ring_records = 0
        self._pos_of_status = np.full(102, -1, dtype=np.int64)
        for i, (status, *_rest) in enumerate(_REQUEST):
            self._pos_of_status[status] = i
        self._kind = np.array([r[1] for r in _REQUEST], dtype=np.uint8)
        self._length = np.array([r[2] for r in _REQUEST], dtype=np.uint32)
        self._flags = np.array([r[3] for r in _REQUEST], dtype=np.uint16)
        self._data = np.array([r[4] for r in _REQUEST], dtype="S20")
        self._data_len = np.array([len(r[4]) for r in _REQUEST], dtype=np.uint8)

    @property
    def received(self):
        return int(self.counts.sum())

    @staticmethod
    def _same(name, got, want):
        want = np.broadcast_to(want, got.shape)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (
            f"{name}: {bad.size} records differ, first at chunk index {bad[0]}: "
            f"got {got[bad[0]]!r}, expected {want[bad[0]]!r}")

    def check(self, records):
        n = len(records)
        if n == 0:
            return
        ctx = records["context"]
        thread = (ctx >> np.uint64(_REQUEST_BITS)).astype(np.int64)
        request = (ctx & np.uint64((1 << _REQUEST_BITS) - 1)).astype(np.int64)
        assert thread.max() < self.threads, f"context names thread {thread.max()}"
        status = records["status"].astype(np.int64)
        pos = self._pos_of_status[np.minimum(status, 101)]
        assert (pos >= 0).all(), f"unexpected statuses {np.unique(status[pos < 0])}"
        k = request * len(_REQUEST) + pos
        assert k.max() < self.events, f"event index {k.max()} beyond {self.events} calls"

        # Every field, as _producer.h sends it.
        handle = ((thread + 1) << 32 | request).astype(np.uint64)
        self._same("handle", records["handle"], handle)
        failed = (pos == 4) & (request % 16 == 15)
        result = np.select(
            [pos == 0, pos == 2, pos == 3, pos == 4, pos == 5],
            [handle, (100 + request % 900).astype(np.uint64), np.uint64(4096),
             (~failed).astype(np.uint64), handle],
            np.uint64(0))
        payload = (records["flags"] & _PAYLOAD) != 0
        host_payload = payload & (pos == _HOST_POS)
        self._same("result", np.where(host_payload, records["result"] >> np.uint64(32), records["result"]),
                   np.where(host_payload, np.uint64(len(_HOST) - 1), result))
        self._same("error", records["error"], np.where(failed, 12002, 0).astype(np.uint32))
        self._same("kind", records["kind"], self._kind[pos])
        self._same("length", records["length"], self._length[pos])
        self._same("data_len", records["data_len"], self._data_len[pos])
        self._same("data", records["data"], self._data[pos])
        seq = records["seq"]
        spilled = seq == 0
        flags = np.where(host_payload, _PAYLOAD, self._flags[pos]).astype(np.uint16)
        self._same("flags", records["flags"], flags | np.where(spilled, _SPILLED, 0).astype(np.uint16))

        # Records come out in position order, one position each: a record
        # from a slot carries seq = position + 1, so seq - (index in drain
        # order) is the same for all of them, modulo 2**32.
        index = np.arange(self.index, self.index + n, dtype=np.uint64).astype(np.uint32)
        offsets = (seq - index)[~spilled]          # uint32 arithmetic wraps
        if offsets.size:
            if self.seq_offset is None:
                self.seq_offset = offsets[0]
            self._same("seq - drain index", offsets, self.seq_offset)
        self.index += n
        self.spilled += int(spilled.sum())
        self.ring_records += int((~spilled).sum())

        # Per thread: each event at most once, in the order the thread made them.
        for t in range(self.threads):
            kt = k[thread == t]
            if kt.size == 0:
                continue
            steps = np.diff(kt, prepend=self.last[t])
            if self.lossless:
                self._same(f"thread {t} event step", steps, 1)
            else:
                bad = np.flatnonzero(steps < 1)
                assert bad.size == 0, (
                    f"thread {t}: event {kt[bad[0]]} came after event "
                    f"{kt[bad[0] - 1] if bad[0] else self.last[t]} (repeated or out of order)")
            self.last[t] = kt[-1]
            self.counts[t] += kt.size

    def finish(self):
        """After the last drain: a lossless stream delivered every event."""
        if self.lossless:
            assert self.counts.tolist() == [self.events] * self.threads


@pytest.fixture
def producer_stream():
    """producer_stream(threads, events, lossless=...) -> a ProducerStream."""
    return ProducerStream
