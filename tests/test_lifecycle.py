"""Lifecycle under fire: rings created, fed by live native producers and
closed or collected while the producers keep calling; processes that exit
while native threads still call a callback; fork() with live rings.

Every call is accounted for: while a Ring lives its stats count each call
once in pushed, dropped or late; once it is collected, _core._orphaned_calls()
holds its final pushed and dropped and every late call made to its address
since.  Scenarios that end a process run in a subprocess with a timeout, so
a hang fails the test instead of stalling the suite."""

import gc
import os
import subprocess
import sys
import textwrap

import pytest

import cbring
from cbring import _core, _testing

POLICIES = ["spill", "drop", "block"]
SRC = os.path.dirname(os.path.dirname(cbring.__file__))
RINGS = int(os.environ.get("CBRING_LIFECYCLE_RINGS", 10_000))


def orphaned():
    return sum(_core._orphaned_calls())


def run_script(body, timeout=120):
    """Runs body in a fresh interpreter; a hang is a failure, not a stall."""
    env = dict(os.environ, PYTHONPATH=SRC, PYTHONFAULTHANDLER="1")
    try:
        return subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c",
                               textwrap.dedent(body)],
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the process hung for {timeout}s; its output:\n{e.stdout}\n{e.stderr}")


def test_producers_in_a_fork_child_refuse_to_join_threads_the_child_does_not_have():
    result = run_script("""
        import os, sys
        import cbring
        from cbring import _testing
        ring = cbring.Ring(1 << 12, "drop")
        producers = _testing.Producers(ring.status_callback, threads=2, events=10**7).start()
        pid = os.fork()
        if pid == 0:
            try:
                producers.join()
            except RuntimeError as e:
                assert "fork() child" in str(e), e
            else:
                sys.exit(2)
            sys.exit(0)  # a normal exit collects producers, which must not join either
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        ring.close()
        producers.join()
        print("ok", flush=True)
    """)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr
