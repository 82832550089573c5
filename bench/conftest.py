"""pytest-benchmark suites for cbring: one file per question, one function per case.

Every case is a function of cbring._bench (the engine behind
``python -m cbring bench``), so pytest and the command measure the same
thing.  pytest-benchmark times each round (for --benchmark-compare across
runs); the figures the cases compare within a run (events/s, ns per call,
latencies) go into extra_info, and the session ends with the side-by-side
table and the issue's targets, met or missed.

Options: CBRING_BENCH_QUICK=1 makes every run small (the smoke run),
CBRING_BENCH_ROUNDS sets rounds per case (default 5, 1 when quick),
CBRING_BENCH_REQUIRE_PEERS=1 fails instead of skipping when a compiled peer
cannot be built, and --cbring-json PATH writes the raw figures.
"""

import os

import pytest

from cbring import _bench

ROUNDS = int(os.environ.get("CBRING_BENCH_ROUNDS", "1" if _bench.QUICK else "5"))
_results = {}


def pytest_addoption(parser):
    parser.addoption("--cbring-json", metavar="PATH", default=None,
                     help="write the raw figures of the cbring benchmarks to PATH")


@pytest.fixture(scope="session")
def peers(tmp_path_factory):
    """The compiled peers (built once per session from bench/peers) and the reasons for any missing."""
    here = os.path.join(os.path.dirname(__file__), "peers")
    peers = _bench.build_peers(str(tmp_path_factory.mktemp("peers")), here)
    if os.environ.get("CBRING_BENCH_REQUIRE_PEERS", "") not in ("", "0") and peers.missing:
        pytest.fail("CBRING_BENCH_REQUIRE_PEERS is set and peers are missing: "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(peers.missing.items())))
    return peers


@pytest.fixture
def case(benchmark, peers):
    """case(family, name): runs that case ROUNDS times under pytest-benchmark,
    checks every event arrived (the engine raises otherwise), and records
    its figures for the end-of-session table."""
    def run(family, name):
        found = {n: (d, fn) for n, d, fn in _bench.family_cases(family, peers)}
        assert name in found, f"no case {name!r} in family {family!r}: {sorted(found)}"
        desc, fn = found[name]
        if fn is None:
            pytest.skip(f"{name}: {desc}")
        runs = []
        benchmark.group = family
        benchmark.pedantic(lambda: runs.append(_bench.run_case(fn)), rounds=ROUNDS, iterations=1)
        summary = _bench.summarize(runs)
        for r in runs:
            r.pop("hist", None)
        _results.setdefault(family, {})[name] = dict(description=desc, runs=runs, summary=summary)
        benchmark.extra_info.update({k: v["median"] for k, v in summary.items() if v})
        return summary
    return run


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _results:
        return
    import io
    out = io.StringIO()
    _bench.render(_results, out)
    terminalreporter.write_sep("=", "cbring: side by side, ratios within this run")
    terminalreporter.write(out.getvalue())
    path = config.getoption("--cbring-json")
    if path:
        import json
        with open(path, "w") as f:
            json.dump(dict(machine=_bench.machine(), results=_results,
                           targets=[dict(target=t, measured=v, verdict=d)
                                    for t, v, d in _bench.targets(_results)]), f, indent=1)
        terminalreporter.write_line(f"raw figures written to {path}")
