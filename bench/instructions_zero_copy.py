"""Instructions per event of drain_into (no payload buffer) and of numpy.asarray(drain()),
counted by cachegrind, minus a null-callback baseline; like bench/instructions.py.

    PYTHONPATH=TREE/src python bench/instructions_zero_copy.py [EVENTS]
"""
import os, re, subprocess, sys, tempfile
CHILD = r"""
import sys
import cbring
from cbring import _testing
case, events = sys.argv[1], int(sys.argv[2])
import numpy
if case == "baseline":
    with _testing.Producers(_testing.null_callback, 1, events):
        pass
else:
    with cbring.Ring(1 << (events.bit_length() + 1), "block") as ring:
        with _testing.Producers(ring.status_callback, 1, events):
            pass
        n = 0
        if case == "into":
            buf = bytearray(64 * 8192)
            while n < events:
                n += ring.drain_into(buf)
        else:
            while n < events:
                a = numpy.asarray(ring.drain(8192))
                n += len(a)
                a["status"], a["context"]
    assert n == events
"""
def count(case, events):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                            sys.executable, "-c", CHILD, case, str(events)], capture_output=True, text=True, check=True)
        return int(re.search(r"I\s+refs:\s+([\d,]+)", r.stderr).group(1).replace(",", ""))
events = int(sys.argv[1]) if len(sys.argv) > 1 else 120000
base = count("baseline", events)
for case in ("into", "asarray"):
    print(f"  {case:<8} {(count(case, events) - base) / events:8.1f} instructions per event")
