"""The C ring against DPDK's rte_ring, Concurrency Kit's ck_ring and a
plain Vyukov-style ring (bench/peers/vyukov.h), by counts a noisy machine
does not blur, beside time.

    python bench/ring_counts.py [--records N] [--rounds R] [--events E]
                                [--baseline INCLUDE_DIR]

--baseline also builds cbring's rows against another include/ (another
checkout's, e.g. `git archive main include | tar -x -C /tmp/main`), and
shows them beside this tree's as "(baseline)", timed in the same
interleaved rounds: the cost of a change to ring.h or status.h.

Counts: each ring, alone on one thread, takes N records into an empty
ring of capacity >= N, then gives them back 64 at a time; callgrind
(--cache-sim=yes; 32 KiB L1, 8 MiB last level) counts the instructions, data
reads and first-level and last-level data-cache misses of each phase,
per record.  One thread means no contention: these are the costs of the
protocol itself, the floor under any contended run.

Time per push: the counted push phase, timed natively (one thread, no
contention, no consumer): a producer's cost per call.

Time: P native producers (1 and 2) push E records each into a ring of
65536 while the main thread drains; every kind in turn, R rounds,
interleaved; median [min-max] nanoseconds per record.

Every record is checked (its producer and its place in that producer's
order) in both.  Needs gcc and valgrind; rte_ring and ck_ring rows need
libdpdk-dev and libck-dev (the rows say when they are missing).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers")
INCLUDE = os.path.join(os.path.dirname(HERE), "include")
KINDS = ["cbring", "cbring-spill", "cbring-status", "cbring-payload", "vyukov", "rte", "ck"]
DESCRIBE = {
    "cbring": 'cbring ring.h, "drop"/"block" claim (CAS with room)',
    "cbring-spill": 'cbring ring.h, "spill" claim (fetch_add), the default',
    "cbring-status": 'cbring status.h push_status (short events) into "spill"',
    "cbring-payload": 'cbring push_status_w, half with payloads (120 B, 3000 B), drain_payloads',
    "vyukov": "Vyukov-style bounded MPSC (bench/peers/vyukov.h)",
    "rte": "DPDK rte_ring, MP enqueue, SC burst dequeue",
    "ck": "Concurrency Kit ck_ring, mpsc enqueue, one-at-a-time dequeue",
}


def build(out, include=INCLUDE, name="ringcount"):
    """Compiles ringcount with every peer whose headers exist; returns (path, missing)."""
    flags, libs, missing = [], [], {}
    try:
        dpdk = subprocess.run(["pkg-config", "--cflags", "libdpdk"], capture_output=True, text=True)
        if dpdk.returncode == 0:
            flags += dpdk.stdout.split() + ["-DRC_HAVE_DPDK"]
            libs += ["-lrte_ring", "-lrte_eal"]   # enqueue/dequeue are inline; init is in librte_ring
        else:
            missing["rte"] = "libdpdk not found by pkg-config (apt-get install libdpdk-dev)"
    except FileNotFoundError:
        missing["rte"] = "no pkg-config"
    if os.path.exists("/usr/include/ck_ring.h"):
        flags.append("-DRC_HAVE_CK")
    else:
        missing["ck"] = "ck_ring.h not found (apt-get install libck-dev)"
    exe = os.path.join(out, name)
    cmd = ["gcc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-I", include, "-I", PEERS, *flags,
           os.path.join(PEERS, "ringcount.c"), "-o", exe, "-lpthread", *libs]
    subprocess.run(cmd, check=True)
    return exe, missing


# A last-level cache smaller than the rings (callgrind would take this
# guest's reported 256 MiB, direct-mapped), so that streaming shows.
CACHES = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64"]


def counts(exe, kind, records, out):
    """Per-record callgrind counts (event name -> count) of the push and the pop phase,
    each collected alone (--toggle-collect), inlined code included."""
    phases = []
    for phase in ("rc_push_phase", "rc_pop_phase"):
        data = os.path.join(out, f"callgrind.{os.path.basename(exe)}.{kind}.{phase}")
        subprocess.run(["valgrind", "--tool=callgrind", "--cache-sim=yes", *CACHES,
                        "--collect-atstart=no", f"--toggle-collect={phase}",
                        f"--callgrind-out-file={data}", exe, kind, "count", str(records)],
                       check=True, capture_output=True)
        text = subprocess.run(["callgrind_annotate", data], check=True, capture_output=True, text=True).stdout
        events = re.search(r"^Events shown:\s+(.*)$", text, re.M).group(1).split()
        totals = re.search(r"^(.*)PROGRAM TOTALS", text, re.M).group(1)
        numbers = re.sub(r"\([^)]*\)", " ", totals).split()
        phases.append({e: (0 if n == "." else int(n.replace(",", ""))) / records
                       for e, n in zip(events, numbers)})
    return phases[0], phases[1]


def push_timed(exe, kind, records):
    """Native ns per push of one thread into an empty ring (the counted push phase, timed)."""
    r = subprocess.run([exe, kind, "time", str(records)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} time failed: {r.stdout} {r.stderr}")
    return float(re.search(r"push_ns_per_record=([\d.]+)", r.stdout).group(1))


def timed(exe, kind, events, producers):
    r = subprocess.run([exe, kind, "run", str(events), str(producers)], capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} run failed: {r.stdout} {r.stderr}")
    return float(re.search(r"ns_per_record=([\d.]+)", r.stdout).group(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1 << 18, help="records per counted run")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds per kind")
    ap.add_argument("--events", type=int, default=2_000_000, help="records per producer per timed round")
    ap.add_argument("--baseline", metavar="INCLUDE_DIR", help="also cbring's rows built against this include/")
    ap.add_argument("--only-cbring", action="store_true", help="leave out the peers' rows")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as out:
        exe, missing = build(out)
        exes = {k: exe for k in KINDS if k not in missing}
        if args.only_cbring:
            exes = {k: e for k, e in exes.items() if k.startswith("cbring")}
        if args.baseline:
            base_exe, _ = build(out, os.path.abspath(args.baseline), "ringcount-baseline")
            # payloads exist only since payload.h: the baseline has no such row
            for k in [k for k in exes if k.startswith("cbring") and k != "cbring-payload"]:
                exes[k + " (baseline)"] = base_exe
                DESCRIBE[k + " (baseline)"] = DESCRIBE[k] + " (baseline)"
        kinds = sorted(exes, key=lambda k: (KINDS.index(k.split()[0]), k))
        print(f"Counts per record: one thread, {args.records} records in, then out 64 at a time "
              "(callgrind --cache-sim=yes, 32 KiB L1, 8 MiB LL)\n")
        print("| ring | push Ir | push D1 miss | push LL miss | pop Ir | pop D1 miss | pop LL miss |")
        print("|---|---|---|---|---|---|---|")
        for k in kinds:
            push, pop = counts(exes[k], k.split()[0], args.records, out)
            print(f"| {DESCRIBE[k]} | {push['Ir']:.1f} | {push['D1mr'] + push['D1mw']:.2f} | "
                  f"{push['DLmr'] + push['DLmw']:.2f} | {pop['Ir']:.1f} | {pop['D1mr'] + pop['D1mw']:.2f} | "
                  f"{pop['DLmr'] + pop['DLmw']:.2f} |", flush=True)
        for k, why in missing.items():
            if not args.only_cbring:
                print(f"| {DESCRIBE[k]} | not available: {why} |")
        print(f"\nTime per push: one thread, {args.records} records into an empty ring, the push phase "
              f"alone; median [min-max] ns of {args.rounds} interleaved rounds\n")
        print("| ring | ns per push |")
        print("|---|---|")
        pushes = {k: [] for k in kinds}
        for _ in range(args.rounds):
            for k in kinds:
                pushes[k].append(push_timed(exes[k], k.split()[0], args.records))
        for k in kinds:
            v = pushes[k]
            print(f"| {DESCRIBE[k]} | {statistics.median(v):.1f} [{min(v):.1f}-{max(v):.1f}] |", flush=True)
        print(f"\nTime: native producers, {args.events} records each, ring of 65536, consumer draining; "
              f"median [min-max] ns per record of {args.rounds} interleaved rounds\n")
        print("| ring | 1 producer | 2 producers |")
        print("|---|---|---|")
        results = {(k, p): [] for k in kinds for p in (1, 2)}
        for _ in range(args.rounds):
            for p in (1, 2):
                for k in kinds:
                    results[k, p].append(timed(exes[k], k.split()[0], args.events, p))
        for k in kinds:
            cells = []
            for p in (1, 2):
                v = results[k, p]
                cells.append(f"{statistics.median(v):.1f} [{min(v):.1f}-{max(v):.1f}]")
            print(f"| {DESCRIBE[k]} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
