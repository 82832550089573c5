"""cbring._testing: the native producers and call_status that the other tests rely on."""

import pytest

from cbring import _testing


def test_constants_describe_the_simulated_requests():
    assert _testing.EVENTS_PER_REQUEST == 6
    assert _testing.HOST == b"downloads.example.test\0"
    assert _testing.ERROR_INTERNET_TIMEOUT == 12002


def test_context_and_handle_encode_producer_and_request():
    assert _testing.context(0, 0) == 0
    assert _testing.context(3, 17) == (3 << 40) | 17
    assert _testing.handle(0, 0) == 1 << 32
    assert _testing.handle(3, 17) == (4 << 32) | 17


def test_call_status_passes_length_defaulting_to_the_size_of_info(ring):
    _testing.call_status(ring.status_callback, 9, 8, 10, b"abc")
    _testing.call_status(ring.status_callback, 9, 8, 10, b"abcdef", 2)
    _testing.call_status(ring.status_callback, 9, 8, 10, None, 5)
    a, b, c = ring.drain()
    assert (a.info, a.length) == ("abc", 3)   # RESOLVING_NAME: text
    assert (b.info, b.length) == ("ab", 2)
    assert (c.info, c.length, c.flags) == (None, 5, 2)


def test_call_status_refuses_a_length_beyond_info(ring):
    with pytest.raises(ValueError, match="length must be between 0 and len"):
        _testing.call_status(ring.status_callback, 1, 1, 10, b"abc", 4)
    assert len(ring.drain()) == 0


def test_producers_make_every_call_and_report_it(ring):
    producers = _testing.Producers(ring.status_callback, threads=3, events=120)
    assert producers.total == 360
    assert not producers.finished()
    assert producers.start() is producers
    producers.join()
    assert producers.finished()
    assert producers.done == 360
    results = producers.results()
    assert [r["calls"] for r in results] == [120, 120, 120]
    assert all(r["in_callback_ns"] == 0 and r["max_call_ns"] == 0 for r in results)
    assert ring.stats.pushed == 360


def test_timed_producers_measure_calls_within_their_elapsed_time(ring):
    with _testing.Producers(ring.status_callback, threads=2, events=600, timed=True) as producers:
        pass
    for r in producers.results():
        assert r["calls"] == 600
        assert r["max_call_ns"] <= r["in_callback_ns"] <= r["elapsed_ns"]


def test_rate_limited_producers_still_make_every_call(make_ring):
    ring = make_ring(64)
    with _testing.Producers(ring.status_callback, threads=2, events=30, rate=20000.0) as producers:
        pass
    assert producers.done == 60
    assert len(ring.drain()) == 60


def test_producers_with_no_events_make_no_calls(ring):
    with _testing.Producers(ring.status_callback, threads=2, events=0) as producers:
        pass
    assert producers.finished()
    assert ring.stats.pushed == 0


def test_producers_start_once_and_join_after_start(ring):
    producers = _testing.Producers(ring.status_callback, threads=1, events=6)
    with pytest.raises(RuntimeError, match="join"):
        producers.join()
    with pytest.raises(RuntimeError, match="results"):
        producers.results()
    producers.start()
    with pytest.raises(RuntimeError, match="only once"):
        producers.start()
    producers.join()
    producers.join()   # joining again is harmless
    assert producers.done == 6


def test_producers_dropped_without_join_are_joined(ring):
    producers = _testing.Producers(ring.status_callback, threads=2, events=600).start()
    del producers
    assert ring.stats.pushed == 1200


@pytest.mark.parametrize("kwargs, match", [
    (dict(callback=0), "callback must be a C function address"),
    (dict(callback=-5), "callback must be a C function address"),
    (dict(callback="0x1"), "callback must be a C function address"),
    (dict(threads=0), "threads must be between 1"),
    (dict(threads=1 << 17), "threads must be between 1"),
    (dict(events=-1), "events must be non-negative"),
    (dict(rate=0), "rate must be positive"),
    (dict(rate=-1.0), "rate must be positive"),
])
def test_producers_refuse_bad_arguments(ring, kwargs, match):
    args = dict(callback=ring.status_callback, threads=1, events=6)
    args.update(kwargs)
    callback = args.pop("callback")
    with pytest.raises(ValueError, match=match):
        _testing.Producers(callback, **args)
