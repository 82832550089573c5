"""Creating a Ring: arguments, properties, limits, and what a Ring refuses to be."""

import copy
import pickle
import sys

import numpy as np
import pytest

import cbring
from cbring import _testing


def test_defaults_are_a_65536_slot_spilling_ring_with_a_one_second_block_timeout(make_ring):
    ring = make_ring()
    assert ring.capacity == 65536
    assert ring.overflow == "spill"
    assert ring.block_timeout == 1.0
    assert ring.closed is False
    assert ring.stats == cbring.RingStats(pushed=0, drained=0, dropped=0, spilled=0, late=0,
                                          capacity=65536, high_water=0, wakeups=0,
                                          payloads_truncated=0)


@pytest.mark.parametrize("asked, got", [(1, 2), (2, 2), (3, 4), (1000, 1024), (1024, 1024),
                                        (1025, 2048), (np.int64(5), 8)])
def test_capacity_is_rounded_up_to_a_power_of_two_of_at_least_2(make_ring, asked, got):
    ring = make_ring(asked)
    assert ring.capacity == got
    assert ring.stats.capacity == got


@pytest.mark.parametrize("capacity", [0, -1, -65536, cbring.MAX_CAPACITY + 1, 2**64])
def test_capacity_out_of_range_raises_value_error_naming_the_limits(capacity):
    with pytest.raises(ValueError, match=rf"capacity must be between 1 and {cbring.MAX_CAPACITY}"):
        cbring.Ring(capacity)


@pytest.mark.parametrize("capacity", [8.0, "8", None, b"8", [8]])
def test_capacity_that_is_not_an_integer_raises_type_error(capacity):
    with pytest.raises(TypeError, match="capacity must be an integer"):
        cbring.Ring(capacity)


def test_max_capacity_is_two_to_the_24():
    assert cbring.MAX_CAPACITY == 2**24


@pytest.mark.parametrize("policy", ["spill", "drop", "block"])
def test_overflow_policy_is_reported_and_settable(make_ring, policy):
    ring = make_ring(8, policy)
    assert ring.overflow == policy
    for other in ["spill", "drop", "block"]:
        ring.overflow = other
        assert ring.overflow == other


@pytest.mark.parametrize("policy", ["SPILL", "discard", "", None, 0])
def test_unknown_overflow_policy_raises_value_error(make_ring, policy):
    with pytest.raises(ValueError, match="overflow must be 'spill', 'drop' or 'block'"):
        cbring.Ring(8, policy)
    ring = make_ring(8, "drop")
    with pytest.raises(ValueError, match="overflow must be 'spill', 'drop' or 'block'"):
        ring.overflow = policy
    assert ring.overflow == "drop"


def test_overflow_is_keyword_or_second_positional(make_ring):
    assert make_ring(8, overflow="block").overflow == "block"
    assert make_ring(8, "drop").overflow == "drop"


@pytest.mark.parametrize("call", ['Ring(8, "block", 2.0)', "Ring(bogus=1)", "Ring(1, 2, 3, 4)"])
def test_wrong_arguments_raise_type_error_and_do_not_crash(run_python, call):
    # block_timeout is keyword-only.  Run in a fresh interpreter: a crash
    # here must fail this test, not end the whole run.
    result = run_python(f"""
        import cbring
        from cbring import Ring
        try:
            {call}
        except TypeError as e:
            print("TypeError:", e)
        ring = Ring(8)  # the module is still usable
        print(ring.capacity)
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("TypeError:")
    assert result.stdout.splitlines()[1] == "8"


@pytest.mark.parametrize("timeout", [0, 0.25, 86400])
def test_block_timeout_is_kept_in_seconds(make_ring, timeout):
    assert make_ring(8, "block", block_timeout=timeout).block_timeout == timeout


@pytest.mark.parametrize("timeout", [-0.001, 86401, float("nan"), float("inf")])
def test_block_timeout_out_of_range_raises_value_error(timeout):
    with pytest.raises(ValueError, match="block_timeout must be between 0 and 86400"):
        cbring.Ring(8, "block", block_timeout=timeout)


@pytest.mark.parametrize("timeout", [None, [1], object()])
def test_block_timeout_that_is_not_a_number_raises_type_error(timeout):
    with pytest.raises(TypeError, match="block_timeout must be a number of seconds"):
        cbring.Ring(8, "block", block_timeout=timeout)


@pytest.mark.parametrize("timeout", ["1.5", b"1"])
def test_block_timeout_given_as_text_raises_type_error_like_time_sleep(timeout):
    # float() parses text; a number of seconds should not be text (time.sleep("1") is a TypeError).
    with pytest.raises(TypeError, match="block_timeout must be a number of seconds"):
        cbring.Ring(8, "block", block_timeout=timeout)


def test_context_manager_returns_the_ring_and_closes_it_on_exit():
    with cbring.Ring(8) as ring:
        assert isinstance(ring, cbring.Ring)
        assert not ring.closed
    assert ring.closed


def test_context_manager_closes_the_ring_when_the_block_raises():
    with pytest.raises(KeyError):
        with cbring.Ring(8) as ring:
            raise KeyError("boom")
    assert ring.closed


def test_close_is_idempotent(ring):
    ring.close()
    ring.close()
    assert ring.closed


def test_repr_names_capacity_policy_and_state(make_ring):
    ring = make_ring(100, "drop")
    assert repr(ring) == "<cbring.Ring capacity=128 overflow='drop' open>"
    ring.close()
    assert repr(ring) == "<cbring.Ring capacity=128 overflow='drop' closed>"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_a_ring_raises_type_error(ring, protocol):
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ring, protocol)


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_copying_a_ring_raises_type_error(ring, copier):
    with pytest.raises(TypeError, match="cannot be pickled"):
        copier(ring)


def test_status_callback_is_a_stable_nonzero_address(ring):
    assert isinstance(ring.status_callback, int)
    assert ring.status_callback > 0
    assert ring.status_callback == ring.status_callback


def test_more_than_64_rings_alive_at_once_each_get_their_own_callback_and_events(make_ring, push):
    rings = [make_ring(4) for _ in range(100)]
    addresses = [r.status_callback for r in rings]
    assert len(set(addresses)) == len(rings)
    for i, r in enumerate(rings):
        push(r, 31, (i).to_bytes(4, sys.byteorder), context=i)
    for i, r in enumerate(rings):
        batch = r.drain()
        assert [(e.context, e.info) for e in batch] == [(i, i)]


def test_at_most_max_rings_exist_at_once_and_the_next_raises_runtime_error():
    assert cbring.MAX_RINGS == 1024
    rings = []
    try:
        with pytest.raises(RuntimeError, match=f"at most {cbring.MAX_RINGS} Rings"):
            for _ in range(cbring.MAX_RINGS + 1):
                rings.append(cbring.Ring(1))
        # Other tests' Rings may still be alive, but not many.
        assert cbring.MAX_RINGS - 16 <= len(rings) < cbring.MAX_RINGS + 1
        assert len({r.status_callback for r in rings}) == len(rings)
    finally:
        for r in rings:
            r.close()
        del rings
    with cbring.Ring(1) as again:  # freed slots are handed out again
        assert not again.closed


def test_a_freed_callback_address_is_not_handed_straight_back_out(make_ring):
    first = cbring.Ring(8)
    address = first.status_callback
    first.close()
    del first
    assert make_ring(8).status_callback != address


@pytest.mark.skipif(sys.platform == "win32", reason="WinINet exists on Windows: register() calls it")
def test_register_raises_not_implemented_error_saying_wininet_is_windows_only(ring):
    with pytest.raises(NotImplementedError, match="WinINet.*Windows"):
        ring.register(0x1234)


@pytest.mark.skipif(sys.platform == "win32", reason="WinINet exists on Windows: register() calls it")
def test_register_accepts_any_pointer_sized_handle_before_saying_it_needs_windows(ring):
    with pytest.raises(NotImplementedError):
        ring.register(2**64 - 1)


@pytest.mark.parametrize("handle, error", [(-1, ValueError), (2**64, ValueError),
                                           ("h", TypeError), (1.0, TypeError)])
def test_register_rejects_a_handle_that_is_not_a_pointer_sized_integer(ring, handle, error):
    with pytest.raises(error, match="hinternet"):
        ring.register(handle)


def test_register_on_a_closed_ring_raises_value_error(ring):
    ring.close()
    with pytest.raises(ValueError, match="closed"):
        ring.register(0x1234)


def test_push_from_c_lands_in_the_ring_it_was_made_for(make_ring, push):
    a, b = make_ring(8), make_ring(8)
    push(a, 70, (0xA).to_bytes(8, sys.byteorder), handle=0xA)
    assert len(b.drain()) == 0
    [event] = a.drain()
    assert event.handle == 0xA


def test_producers_through_a_ring_count_every_call_as_pushed(make_ring):
    ring = make_ring(1024)
    with _testing.Producers(ring.status_callback, threads=2, events=300):
        pass
    assert ring.stats.pushed == 600
    assert len(ring.drain()) == 600
    assert ring.stats.drained == 600
