"""The C ring alone against DPDK's rte_ring and Concurrency Kit's ck_ring,
built side by side from bench/peers/cring.c, and the producers alone."""

import ctypes

import cbring
from cbring import _testing
from cbring._bench import _harness as h

NAME = "cring"


CRING_KINDS = {"cbring": 0, "cbring spill": 1, "rte_ring": 2, "ck_ring": 3}
CRING_CAPACITY = 4096
CRING_BUDGET_S = 0.5


def _cring_run(peers, kind, producers, bulk, consumer=True):
    lib = peers.cring
    k = CRING_KINDS[kind]
    if not lib.cring_available(k):
        raise LookupError(kind)
    per = h.n(2_000_000 // producers) if consumer else h.n(1 << 20) // producers
    capacity = CRING_CAPACITY if consumer else 1 << ((per * producers).bit_length())
    ns, made, got, bad = ctypes.c_double(), ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint64()
    # not pinned: on a shared machine a pinned thread waits for its one CPU
    # while the other may be free (measured: 1-9M/s pinned, 30-80M/s not)
    pin = 0
    rc = lib.cring_run(k, producers, bulk, per, int(consumer), capacity, pin, CRING_BUDGET_S / (1 if not h.settings.quick else 4),
                       ctypes.byref(ns), ctypes.byref(made), ctypes.byref(got), ctypes.byref(bad))
    name = f"{kind} {producers}p bulk {bulk}"
    if rc != 0:
        raise h.LostEvents(f"{name}: cring_run returned {rc}")
    if got.value != made.value or bad.value:
        raise h.LostEvents(f"{name}: {got.value:,} of {made.value:,} records arrived, {bad.value} out of order")
    return dict(events=made.value, seconds=ns.value / 1e9, capped=made.value < per * producers)


def cring_cases(peers):
    out = {}
    for producers in (1, 2):
        for bulk in (1, 8, 32):
            for kind in CRING_KINDS:
                key = {"rte_ring": "rte_ring", "ck_ring": "ck_ring"}.get(kind)
                out[f"{kind}, {producers}p, bulk {bulk}"] = (
                    f"{kind}: {producers} producer(s) -> 1 consumer, {bulk} records per enqueue/dequeue",
                    ("cring", key), (lambda k=kind, p=producers, b=bulk: _cring_run(peers, k, p, b)))
    for producers in (1, 2):
        for kind in CRING_KINDS:
            key = {"rte_ring": "rte_ring", "ck_ring": "ck_ring"}.get(kind)
            out[f"{kind}, {producers}p alone"] = (
                f"{kind}: {producers} producer(s), no consumer, the ring holds every record",
                ("cring", key), (lambda k=kind, p=producers: _cring_run(peers, k, p, 1, consumer=False)))
    for producers in (1, 2):
        out[f"Ring callback, {producers}p alone"] = (
            f"{producers} Producers thread(s) into one Ring's status callback, no consumer",
            None, (lambda p=producers: _ring_alone(p)))
    return out


def _ring_alone(threads):
    per = h.n(1 << 19) // threads
    with cbring.Ring(1 << 20, "block", block_timeout=30.0) as ring:
        with _testing.Producers(ring.status_callback, 1, ring.capacity):
            pass
        ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
        with _testing.Producers(ring.status_callback, threads, per) as p:
            pass
        elapsed = max(r["elapsed_ns"] for r in p.results())
        n = ring.drain_into(bytearray(cbring.EVENT_SIZE * ring.capacity))
    h.check(f"Ring alone {threads}p", n, per * threads)
    return dict(events=n, seconds=elapsed / 1e9)


def _cring_available(peers, key):
    lib_key, sub = key
    if peers.cring is None:
        return False
    if sub is None:
        return True
    return peers.cring.cring_available(CRING_KINDS[sub]) == 1


def cases(peers):
    out = []
    for name, (desc, key, fn) in cring_cases(peers).items():
        if isinstance(key, tuple):
            ok = _cring_available(peers, key)
            why = peers.reason(key[1] or "cring") if key[1] and peers.cring is not None else peers.reason("cring")
        else:
            ok, why = True, None
        out.append((name, desc, fn) if ok else (name, why, None))
    return out


def render(results, w):
    if NAME not in results:
        return
    w(f"\nThe C ring alone (64-byte records, capacity {CRING_CAPACITY}; threads not pinned; "
      "events/s, median [min-max]; ratio = cbring / the peer, median of per-round ratios)\n")
    for name, e in results[NAME].items():
        if "missing" in e:
            w(f"  {name:<26}  not available: {e['missing']}\n")
            continue
        ratio = ""
        if name.startswith(("rte_ring", "ck_ring")):
            pr = h.paired(results, NAME, "cbring" + name[name.index(","):], name)
            if pr:
                ratio = f"   cbring/this = {pr[0]:.2f}x [{pr[1]:.2f}-{pr[2]:.2f}] per round"
        w(f"  {name:<26}{h.fmt_rate(e['summary']):>30}{ratio}\n")


def targets(results, t):
    x = lambda v: f"{v:.2f}x"  # noqa: E731
    for producers in (1, 2):
        for bulk in (1, 8, 32):
            for peer in ("rte_ring", "ck_ring"):
                t.add(f"C ring >= {peer}, {producers}p, bulk {bulk} (per-round ratio)",
                      h.paired(results, NAME, f"cbring, {producers}p, bulk {bulk}",
                               f"{peer}, {producers}p, bulk {bulk}"), lambda v: v >= 1.0, x)
