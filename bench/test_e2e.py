"""End-to-end events/s, native producer threads -> Python, 1 and 2 producers.

Every variant is fed by cbring._testing.Producers calling a C function
pointer: a Ring's status_callback, a ctypes or cffi callback, or the
pywin32-shaped extension's.  cbring rows use overflow="block" (a bounded
hand-off: producers wait for room) except "spill", the default policy.
"shards" feeds one Ring per producer thread (what opt-in per-producer
shards would give, without order across producers).  "C consumer" drains
the same ring from C: the floor the Python paths are
held to.  Each run checks that every event arrived."""


def test_e2e_1p_cbring_drain_into(case):
    case("e2e", "cbring drain_into, 1p")


def test_e2e_1p_cbring_buffer(case):
    case("e2e", "cbring buffer, 1p")


def test_e2e_1p_cbring_statusevent(case):
    case("e2e", "cbring StatusEvent, 1p")


def test_e2e_1p_cbring_drain_into_spill(case):
    case("e2e", "cbring drain_into spill, 1p")


def test_e2e_1p_c_consumer(case):
    case("e2e", "C consumer, 1p")


def test_e2e_1p_ctypes(case):
    case("e2e", "ctypes, 1p")


def test_e2e_1p_ctypes_kept_tstate(case):
    case("e2e", "ctypes kept tstate, 1p")


def test_e2e_1p_cffi_callback(case):
    case("e2e", "cffi callback, 1p")


def test_e2e_1p_cffi_def_extern(case):
    case("e2e", "cffi def_extern, 1p")


def test_e2e_1p_pywin32_shaped(case):
    case("e2e", "pywin32-shaped, 1p")


def test_e2e_1p_simplequeue(case):
    case("e2e", "SimpleQueue, 1p")


def test_e2e_2p_cbring_drain_into(case):
    case("e2e", "cbring drain_into, 2p")


def test_e2e_2p_cbring_buffer(case):
    case("e2e", "cbring buffer, 2p")


def test_e2e_2p_cbring_statusevent(case):
    case("e2e", "cbring StatusEvent, 2p")


def test_e2e_2p_cbring_drain_into_spill(case):
    case("e2e", "cbring drain_into spill, 2p")


def test_e2e_2p_cbring_shards(case):
    case("e2e", "cbring shards, 2p")


def test_e2e_2p_c_consumer(case):
    case("e2e", "C consumer, 2p")


def test_e2e_2p_ctypes(case):
    case("e2e", "ctypes, 2p")


def test_e2e_2p_ctypes_kept_tstate(case):
    case("e2e", "ctypes kept tstate, 2p")


def test_e2e_2p_cffi_callback(case):
    case("e2e", "cffi callback, 2p")


def test_e2e_2p_cffi_def_extern(case):
    case("e2e", "cffi def_extern, 2p")


def test_e2e_2p_pywin32_shaped(case):
    case("e2e", "pywin32-shaped, 2p")


def test_e2e_2p_simplequeue(case):
    case("e2e", "SimpleQueue, 2p")
