"""Overload under pytest-benchmark: the cases of cbring._bench.overload, one
function per case, so that --benchmark-compare can follow each across runs.
The ratios the issue sets targets for come from one interleaved run:
``python -m cbring bench overload`` prints them."""

import os

import pytest

from cbring._bench import overload

QUICK = os.environ.get("CBRING_BENCH_QUICK", "") not in ("", "0")
EVENTS = 200_000 if QUICK else 2_000_000
ROUNDS = int(os.environ.get("CBRING_BENCH_ROUNDS", "1" if QUICK else "5"))


def _run(benchmark, fn):
    figures = []
    benchmark.group = "overload"
    benchmark.pedantic(lambda: figures.append(fn()), rounds=ROUNDS, iterations=1)
    for key in figures[0]:
        values = sorted(f[key] for f in figures if f[key] is not None)
        if values:
            benchmark.extra_info[key] = values[len(values) // 2]
    return figures


def test_overload_block_drain_into(benchmark):
    _run(benchmark, lambda: overload.overload_run("block", "drain_into", events=EVENTS))


def test_overload_spill_drain_into(benchmark):
    _run(benchmark, lambda: overload.overload_run("spill", "drain_into", events=EVENTS))


def test_overload_block_asarray(benchmark):
    _run(benchmark, lambda: overload.overload_run("block", "asarray", events=EVENTS))


def test_overload_spill_asarray(benchmark):
    _run(benchmark, lambda: overload.overload_run("spill", "asarray", events=EVENTS))


def test_overload_block_producer_stall(benchmark):
    _run(benchmark, lambda: overload.overload_run("block", "drain_into", events=EVENTS // 2, histogram=True))


def test_overload_spill_producer_stall(benchmark):
    _run(benchmark, lambda: overload.overload_run("spill", "drain_into", events=EVENTS // 2, histogram=True))


@pytest.mark.parametrize("policy", ["block", "spill"])
def test_overload_recovery_after_a_20ms_pause(benchmark, policy):
    figures = _run(benchmark, lambda: overload.recovery_run(policy))
    benchmark.extra_info["recovered_within_100ms"] = sum(
        f["seconds"] is not None and f["seconds"] <= 0.1 for f in figures)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="RSS is read from /proc/self/statm")
def test_overload_backlog_bytes_per_record(benchmark):
    records = 400_000 if QUICK else 4_000_000
    _run(benchmark, lambda: dict(bytes_per_record=overload.backlog_bytes(records)))
