"""Interleaved end-to-end events/s of two or more cbring trees (main against a branch).

    python bench/compare_trees.py ROUNDS NAME=TREE [NAME=TREE ...]   (each TREE built in place)

Each round runs every case in every tree, in a fresh interpreter per
measurement (PYTHONPATH=TREE/src), trees interleaved, the order rotated
each round.  Cases are cbring._bench.e2e's own _ring_run rows (the same
code in every tree: src/cbring/_bench is unchanged by issue 10), 1 and 2
producer threads.  Prints per case and tree the median events/s, the
min-max spread, and the per-round ratios to the first tree (median [min, max])."""

import json
import statistics
import subprocess
import sys

CASES = [  # (row name, mode, policy, events per thread for 1 thread)
    ("Batch.tuples", "tuples", "block", 500_000),
    ("StatusEvent loop", "statusevent", "block", 500_000),
    ("zero-copy drain_into", "into", "block", 4_000_000),
    ("zero-copy buffer", "buffer", "block", 2_000_000),
    ("C consumer", "c", "block", 4_000_000),
]
CODE = """
import json, sys
from cbring._bench import e2e
name, mode, policy, events, threads = sys.argv[1:]
r = e2e._ring_run(name, int(threads), int(events) // int(threads), policy, mode)
print(json.dumps(r["events"] / r["seconds"]))
"""


def main(argv):
    rounds = int(argv[0])
    trees = [a.split("=", 1) for a in argv[1:]]
    results = {}
    for k in range(rounds):
        order = trees[k % len(trees):] + trees[:k % len(trees)]
        for name, mode, policy, events in CASES:
            for threads in (1, 2):
                for tree_name, tree in order:
                    out = subprocess.run([sys.executable, "-c", CODE, name, mode, policy, str(events),
                                          str(threads)], capture_output=True, text=True,
                                         env={"PYTHONPATH": f"{tree}/src", "PATH": "/usr/bin:/bin"})
                    if out.returncode:
                        raise SystemExit(f"{tree_name} {name}: {out.stderr}")
                    results.setdefault((name, threads), {}).setdefault(tree_name, []).append(
                        json.loads(out.stdout))
        print(f"round {k + 1} of {rounds} done", file=sys.stderr, flush=True)
    base = trees[0][0]
    print(f"{'case':<24} {'thr':>3} " + " ".join(f"{t:>27}" for t, _ in trees)
          + "   per-round ratio to " + base + ": median [min, max]")
    for (name, threads), per in results.items():
        cells = []
        for t, _ in trees:
            v = per[t]
            cells.append(f"{statistics.median(v) / 1e6:6.2f}M [{min(v) / 1e6:5.2f}-{max(v) / 1e6:5.2f}]")
        ratios = []
        for t, _ in trees[1:]:
            r = [a / b for a, b in zip(per[t], per[base])]
            ratios.append(f"{t}: {statistics.median(r):.3f} [{min(r):.3f}, {max(r):.3f}]")
        print(f"{name:<24} {threads:>3} " + " ".join(f"{c:>27}" for c in cells) + "   " + "; ".join(ratios))
    print(json.dumps({f"{n}|{t}": per for (n, t), per in results.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
