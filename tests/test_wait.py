"""Ring.wait(): blocks without the GIL until events are ready; Ctrl-C interrupts it."""

import os
import signal
import struct
import sys
import threading
import time

import pytest

from cbring import _testing

# How long a test may take to notice that something did not happen; reaching
# it means the test failed, never that it passed.
PATIENCE = 30.0


def dword(v):
    return struct.pack("=I", v)


def test_wait_returns_false_when_the_timeout_passes_with_nothing_ready(ring):
    assert ring.wait(0) is False
    start = time.monotonic()
    assert ring.wait(timeout=0.05) is False
    assert time.monotonic() - start >= 0.05   # it did wait out the timeout


def test_wait_returns_true_at_once_when_events_are_already_ready(ring, push):
    push(ring, 31, dword(1))
    assert ring.wait(0) is True
    assert ring.wait(None) is True
    assert ring.wait() is True
    assert len(ring.drain()) == 1   # wait() takes nothing


def test_wait_returns_true_when_only_overflowed_events_are_ready(make_ring, push):
    ring = make_ring(2)
    for i in range(3):
        push(ring, 31, dword(i), context=i)
    assert len(ring.drain(2)) == 2
    assert ring.wait(0) is True
    assert [e.context for e in ring.drain()] == [2]


def test_wait_without_timeout_releases_the_gil_and_wakes_when_a_python_thread_pushes(ring):
    # The pushing thread needs the GIL: it can only push while wait() has let it go.
    pusher = threading.Timer(0.05, _testing.call_status,
                             (ring.status_callback, 1, 7, 31, dword(1)))
    watchdog = threading.Timer(PATIENCE, ring.close)  # ends a stuck wait with False
    pusher.start()
    watchdog.start()
    try:
        assert ring.wait(None) is True
    finally:
        watchdog.cancel()
        pusher.join()
        watchdog.join()
    assert [e.context for e in ring.drain()] == [7]


def test_wait_wakes_each_time_a_native_producer_pushes(ring):
    with _testing.Producers(ring.status_callback, threads=1, events=6, rate=100.0):
        got = []
        while len(got) < 6:
            assert ring.wait(timeout=PATIENCE) is True
            got += [e.status for e in ring.drain()]
    assert got == [60, 10, 31, 41, 100, 70]


def test_wait_on_a_closed_ring_with_nothing_left_returns_false_at_once(ring, push):
    push(ring, 31, dword(1))
    ring.close()
    assert ring.wait(None) is True     # what was left is still ready
    ring.drain()
    assert ring.wait(None) is False
    assert ring.wait(PATIENCE) is False


def test_closing_from_another_thread_ends_a_wait_without_timeout(ring):
    closer = threading.Timer(0.05, ring.close)
    closer.start()
    try:
        assert ring.wait(None) is False
    finally:
        closer.join()
    assert ring.closed


@pytest.mark.parametrize("timeout", [-1, -0.001, float("nan")])
def test_a_negative_timeout_raises_value_error(ring, timeout):
    with pytest.raises(ValueError, match="timeout must be non-negative"):
        ring.wait(timeout)


@pytest.mark.parametrize("timeout", [[1], object()])
def test_a_timeout_that_is_not_a_number_raises_type_error(ring, timeout):
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        ring.wait(timeout)


@pytest.mark.parametrize("timeout", ["0.01", b"1"])
def test_a_timeout_given_as_text_raises_type_error_like_time_sleep(ring, timeout):
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        ring.wait(timeout)


@pytest.fixture
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler for the test, whatever was installed before."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def send_ctrl_c():
    """SIGINT as Ctrl-C brings it.  On POSIX, to the process.  On Windows
    os.kill(pid, SIGINT) would terminate the process instead; there a
    console's Ctrl-C runs the C runtime's SIGINT handler on a thread of its
    own, as raise(SIGINT) on this (not the main) thread does."""
    if sys.platform == "win32":
        signal.raise_signal(signal.SIGINT)
    else:
        os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_interrupts_a_wait_without_timeout(ring, sigint_raises_keyboard_interrupt):
    main = threading.get_ident()
    sent = []
    waiting = threading.Event()
    returned = threading.Event()
    wait_line = None

    def interrupt():
        waiting.wait(PATIENCE)
        # Send once the main thread is on the wait() line (it is then inside
        # wait, or about to be; either way KeyboardInterrupt must follow).
        deadline = time.monotonic() + PATIENCE
        while sys._current_frames()[main].f_lineno != wait_line and time.monotonic() < deadline:
            time.sleep(0.001)
        sent.append(time.monotonic())
        send_ctrl_c()
        if not returned.wait(PATIENCE):
            # wait() ignored the signal: end it with an event so the test fails instead of hanging.
            _testing.call_status(ring.status_callback, 1, 0, 31, dword(0))

    helper = threading.Thread(target=interrupt)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wait_line = sys._getframe().f_lineno + 2
            waiting.set()
            ring.wait(None)
        caught = time.monotonic()
    finally:
        returned.set()
        helper.join()
    assert caught - sent[0] < 1.0   # correctness bound: "within 100 ms", with room for a busy machine
    assert len(ring.drain()) == 0   # the event that would have ended a stuck wait was never needed


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no interval timers on this platform")
def test_a_signal_from_an_interval_timer_interrupts_a_wait(ring):
    fired = []

    def on_alarm(signum, frame):
        fired.append(time.monotonic())
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            ring.wait(timeout=PATIENCE)   # ignoring the signal would mean returning False after PATIENCE
        caught = time.monotonic()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert fired
    assert caught - (start + 0.1) < 1.0
