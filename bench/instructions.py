"""Instructions per event of the five-field consumers, counted by valgrind
(cachegrind, no cache simulation): a figure the machine's load cannot move,
beside the timed ratios of ``python -m cbring bench e2e``.

Each case runs in its own process under valgrind: one native producer
thread makes EVENTS WinINet-shaped calls, and every event ends as a kept
(handle, context, status, result, error) tuple, through

  tuples        a Ring big enough for all of them, then Batch.tuples()
  statusevent   the same Ring, then a StatusEvent loop (status an InternetStatus)
  status_code   the same loop reading ev.status_code
  cffi          a cffi ABI-mode callback building the tuple per call

minus the same process whose producer calls an empty C callback (start-up,
imports and the producer's loop).  Run:  python bench/instructions.py [EVENTS]
"""

import os
import re
import subprocess
import sys
import tempfile

EVENTS = 60_000
CASES = ("baseline", "tuples", "statusevent", "status_code", "cffi")

_CHILD = r"""
import sys
import cbring
from cbring import _testing
from cbring._bench import e2e

case, events = sys.argv[1], int(sys.argv[2])
kept = []
# every case pays the same start-up: imports, cffi's parse and a callback made
import cffi
ffi = cffi.FFI()
ffi.cdef("typedef struct { uintptr_t dwResult; uint32_t dwError; } INTERNET_ASYNC_RESULT;")
if case == "baseline":
    ffi.callback("void(void *, uintptr_t, uint32_t, void *, uint32_t)")(lambda *a: None)
    with _testing.Producers(_testing.null_callback, 1, events):
        pass
elif case == "cffi":
    cb = ffi.callback("void(void *, uintptr_t, uint32_t, void *, uint32_t)")(e2e._cffi_on_status(ffi, kept))
    with _testing.Producers(int(ffi.cast("uintptr_t", cb)), 1, events):
        pass
else:
    ffi.callback("void(void *, uintptr_t, uint32_t, void *, uint32_t)")(lambda *a: None)
    with cbring.Ring(1 << (events.bit_length() + 1), "block") as ring:
        with _testing.Producers(ring.status_callback, 1, events):
            pass
        batch = ring.drain()
        if case == "tuples":
            kept = batch.tuples(*e2e.FIVE)
        elif case == "statusevent":
            kept = [(ev.handle, ev.context, ev.status, ev.result, ev.error) for ev in batch]
        else:
            kept = [(ev.handle, ev.context, ev.status_code, ev.result, ev.error) for ev in batch]
assert case == "baseline" or len(kept) == events, (case, len(kept))
"""


def count(case, events):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        r = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}",
                            sys.executable, "-c", _CHILD, case, str(events)],
                           capture_output=True, text=True, check=True)
        m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
        return int(m.group(1).replace(",", ""))


def main(argv):
    events = int(argv[1]) if len(argv) > 1 else EVENTS
    counts = {c: count(c, events) for c in CASES}
    base = counts["baseline"]
    per = {c: (counts[c] - base) / events for c in CASES if c != "baseline"}
    print(f"instructions per event, five fields kept, {events:,} events, minus the baseline "
          f"({base / events:,.0f} per event of start-up and producer loop)")
    for c, v in per.items():
        print(f"  {c:<12} {v:10,.0f}   cffi/this {per['cffi'] / v:6.2f}x   statusevent/this {per['statusevent'] / v:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
