"""``python -m cbring bench``: cbring beside every peer, measured the same way in one run.

Every path into Python is fed by the same native producer threads
(cbring._testing.Producers, calling a C status callback as WinINet does),
and every run counts that each event arrived; a run that loses one fails.

Families (each a question; bench/ holds one pytest-benchmark file per family):

  e2e      end-to-end events/s, native threads -> Python, 1 and 2 producers.
           Python objects: every row builds and keeps the five-field tuple
           (handle, context, status, result, error) per event: Batch.tuples,
           a StatusEvent loop, ctypes / cffi callbacks, a per-event GIL C
           extension shaped like pywin32's, queue.SimpleQueue under the GIL.
           Zero-copy: drain_into() a buffer, numpy views of a Batch, against
           the same ring drained in C (the floor)
  cost     the producer's cost: ns per status-callback call (median, p99,
           p99.9), main thread idle and busy in pure-Python work
  wakeup   push -> wait() returning and -> an asyncio reader callback, and
           wake-ups per 1,000 events under saturation
  cring    the C ring alone against DPDK rte_ring and Concurrency Kit ck_ring
  overload "spill" against "block" when the consumer falls behind for good:
           throughput, the producer's stall, a stalled backlog's bytes per
           record, recovery after a pause, an overflowed record's cost to
           the consumer (its own interleaved rounds and table; needs numpy)

Layout: _harness.py (run sizes, the every-event check, rounds, summaries,
table helpers) and _peers.py (building the compiled peers) are shared; each
family is one module exposing NAME, cases(peers) -> [(name, description,
fn or None)], render(results, write) and targets(results, Targets).  To add
a family: write such a module (fn() returns a dict with at least "events"
and "seconds", and raises _harness.LostEvents when an event is missing), list
it in _FAMILY_MODULES below, and add bench/test_<family>.py with one
function per case calling case("<family>", "<case name>"); the command,
its --json output and bench/conftest.py's table pick it up by name.

Peers that need compiling (the per-event GIL extension, cffi def_extern, the
C rings) are built from bench/peers/ when a source checkout and a compiler
are at hand; otherwise they are reported as not available.  ctypes is always
available, cffi's ABI-mode callbacks when cffi is installed.
"""

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile

import cbring
from cbring._bench import _harness
from cbring._bench._harness import LostEvents, machine, run_case, settings, summarize  # noqa: F401
from cbring._bench._peers import Peers, build_peers  # noqa: F401

_FAMILY_MODULES = ("e2e", "cost", "wakeup", "cring")
# families that interleave their own rounds and print their own table
_STANDALONE = ("overload",)
FAMILIES = _FAMILY_MODULES + _STANDALONE
QUICK = settings.quick


def family(name):
    """The module of one family."""
    if name not in FAMILIES:
        raise ValueError(f"unknown benchmark family {name!r}; choose from {', '.join(FAMILIES)}")
    return importlib.import_module(f"cbring._bench.{name}")


def family_cases(name, peers):
    """[(case name, description, fn() -> measurement)] for one family; a
    case whose peer is missing has fn None and its reason as description."""
    return family(name).cases(peers)


def measure(families=FAMILIES, rounds=None, peers=None, progress=None):
    """Runs every case of each family `rounds` times, interleaved (round by
    round) so that the machine's noise falls on all of them alike.  Returns
    {family: {case: {"description", "runs", "summary"} or {"missing": reason}}}."""
    peers = peers or build_peers()
    rounds = rounds or settings.rounds
    results = {}
    for fam_name in families:
        cases = family_cases(fam_name, peers)
        fam = results.setdefault(fam_name, {})
        for name, desc, fn in cases:
            fam[name] = {"description": desc, "runs": []} if fn else {"missing": desc}
        for rnd in range(rounds):
            for name, desc, fn in cases:
                if fn is None:
                    continue
                if progress:
                    progress(f"{fam_name}: round {rnd + 1}/{rounds}: {name}")
                fam[name]["runs"].append(run_case(fn))
        for name, entry in fam.items():
            if "runs" in entry:
                entry["summary"] = summarize(entry["runs"])
                for r in entry["runs"]:
                    r.pop("hist", None)
    return results


def targets(results):
    """Every measured family's targets: [(target, measured, verdict)],
    verdict "met", "missed" or "not measured"."""
    t = _harness.Targets()
    for name in _FAMILY_MODULES:
        if name in results:
            family(name).targets(results, t)
    return t.rows


def render(results, out=sys.stdout):
    for name in _FAMILY_MODULES:
        if name in results:
            family(name).render(results, out.write)
    rows = targets(results)
    if rows:
        out.write("\nTargets\n")
        for text, value, verdict in rows:
            if verdict == "not measured" and value == "not measured":
                continue
            out.write(f"  {verdict.upper():<7} {text}: {value}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cbring bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("families", nargs="*", metavar="FAMILY",
                        help=f"families to run, of {', '.join(FAMILIES)} (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 5, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small runs, one round: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="write the raw figures to PATH")
    parser.add_argument("--peers", metavar="DIR", help="bench/peers sources to build the compiled peers from")
    args = parser.parse_args(argv)
    global QUICK
    if args.quick:
        settings.quick = QUICK = True
    for f in args.families:
        if f not in FAMILIES:
            parser.error(f"unknown family {f!r}; choose from {', '.join(FAMILIES)}")
    families = tuple(args.families) or FAMILIES
    standalone = [f for f in families if f in _STANDALONE]
    families = tuple(f for f in families if f not in _STANDALONE)
    load = " load average %.2f %.2f %.2f," % os.getloadavg() if hasattr(os, "getloadavg") else ""
    print(f"cbring {cbring.__version__} benchmarks, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs,{load} {'quick, ' if settings.quick else ''}"
          f"{args.rounds or settings.rounds} round(s) per case, interleaved", flush=True)
    build = tempfile.mkdtemp(prefix="cbring-bench-")
    try:
        peers = build_peers(build, args.peers)
        for name, why in sorted(peers.missing.items()):
            print(f"  not available: {name}: {why}")

        def progress(msg):
            sys.stderr.write(f"\r  {msg[:100]:<100}")
            sys.stderr.flush()
        results = measure(families, args.rounds, peers, progress=progress if sys.stderr.isatty() else None)
        if sys.stderr.isatty():
            sys.stderr.write("\r" + " " * 102 + "\r")
        render(results)
        for name in standalone:
            try:
                import numpy  # noqa: F401
            except ImportError:
                print(f"\n{name}: not available: needs numpy")
                continue
            print()
            # its figures are keyed by tuples: kept for --json as their repr
            results[name] = {"run": {"figures": repr(family(name).run(
                rounds=args.rounds or (1 if settings.quick else 5), quick=settings.quick))}}
        if hasattr(os, "getloadavg"):
            print("\nload average at the end: %.2f %.2f %.2f" % os.getloadavg())
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(machine=machine(), results=results,
                               targets=[dict(target=t, measured=v, verdict=d) for t, v, d in targets(results)]),
                          f, indent=1)
            print(f"\nraw figures written to {args.json}")
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return 0
