"""What every benchmark family shares: run sizes, the check that every event
arrived, the drain loop, rounds and their summaries, and the table helpers.

A family module (e2e.py, cost.py, ...) uses only this, _peers and cbring."""

import ctypes
import gc
import os
import platform
import statistics
import sys

import cbring


class Settings:
    """Run-wide knobs, read when a case runs (``--quick`` sets them after import)."""

    def __init__(self):
        self.quick = os.environ.get("CBRING_BENCH_QUICK", "") not in ("", "0")

    @property
    def scale(self):
        # the smoke run divides every size by this
        return 20 if self.quick else 1

    @property
    def rounds(self):
        return 1 if self.quick else 5


settings = Settings()


def n(events):
    """Events per producer thread for one run: sizes are chosen so that a
    run takes about 0.1-0.3 s on a 2-core machine."""
    return max(600, events // settings.scale)


# What a WinINet status callback looks like to ctypes and cffi.
CB_ARGS = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32)
CFFI_SIGNATURE = "void(void *, uintptr_t, uint32_t, void *, uint32_t)"
CONTEXT = 8  # offset of dwContext in a record

E2E_CAPACITY = 1 << 16
E2E_BATCH = 8192


class LostEvents(AssertionError):
    """A benchmark run did not deliver every event: the benchmark is broken."""


def check(name, got, want, stats=None):
    if got != want:
        raise LostEvents(f"{name}: {got:,} of {want:,} events arrived")
    if stats is not None and (stats.pushed != want or stats.dropped or stats.late):
        raise LostEvents(f"{name}: ring counted {stats}")


def consume(ring, producers, total, take):
    """Drains with take() until total records arrived, waiting in wait()
    when the ring is empty.  Stops once the producers are done and nothing
    more comes."""
    got = 0
    while got < total:
        k = take()
        if k:
            got += k
        elif not ring.wait(0.2) and producers.finished():
            got += take()
            if not ring.wait(0.2):
                break
    return got


def numpy():
    try:
        import numpy
        return numpy
    except ImportError:
        return None


def run_case(fn):
    gc.collect()
    r = fn()
    r.setdefault("rate", r["events"] / r["seconds"] if r.get("seconds") else None)
    return r


def summarize(runs):
    """Median and spread of a case's runs."""
    def med(key):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if not vals:
            return None
        return dict(median=statistics.median(vals), min=min(vals), max=max(vals), n=len(vals))
    keys = set().union(*(r.keys() for r in runs)) - {"hist"}
    return {k: med(k) for k in sorted(keys) if all(isinstance(r.get(k, 0), (int, float)) for r in runs)}


def rate(results, family, case):
    e = results.get(family, {}).get(case)
    if not e or "summary" not in e or not e["summary"].get("rate"):
        return None
    return e["summary"]["rate"]["median"]


def val(results, family, case, key):
    e = results.get(family, {}).get(case)
    if not e or "summary" not in e or not e["summary"].get(key):
        return None
    return e["summary"][key]["median"]


def runs(results, family, case, key):
    e = results.get(family, {}).get(case)
    if not e or "runs" not in e:
        return None
    vals = [r.get(key) for r in e["runs"]]
    return vals if vals and all(v is not None for v in vals) else None


def paired(results, family, a, b, key="rate", op=lambda x, y: x / y):
    """op(a, b) round by round (rounds are interleaved, so each pair ran under
    the same load): (median, min, max), or None."""
    va, vb = runs(results, family, a, key), runs(results, family, b, key)
    if not va or not vb:
        return None
    vals = [op(x, y) for x, y in zip(va, vb) if y]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


class Targets:
    """Collects (target, measured, verdict); verdict "met", "missed" or "not measured"."""

    def __init__(self):
        self.rows = []

    def add(self, text, value, ok, fmt):
        if value is None:
            self.rows.append((text, "not measured", "not measured"))
        elif isinstance(value, tuple):
            self.rows.append((text, f"{fmt(value[0])} [{fmt(value[1])} to {fmt(value[2])}]",
                              "met" if ok(value[0]) else "missed"))
        else:
            self.rows.append((text, fmt(value), "met" if ok(value) else "missed"))


def fmt_rate(s):
    if not s:
        return "-"
    r = s["rate"]
    return f"{r['median'] / 1e6:9.2f}M [{r['min'] / 1e6:.2f}-{r['max'] / 1e6:.2f}]"


def machine():
    return dict(python=sys.version.split()[0], implementation=platform.python_implementation(),
                platform=platform.platform(), machine=platform.machine(), cpus=os.cpu_count(),
                cbring=cbring.__version__, quick=settings.quick,
                load=os.getloadavg() if hasattr(os, "getloadavg") else None)
