"""The producer's cost: ns per status-callback call, median and tail, with the
Python main thread idle (blocked without the GIL), busy in pure-Python work,
or draining.  cbring's callback never takes the GIL, so its cost must not
move when Python is busy; per-event callbacks wait for the GIL each call.

"harness" and "decode only" time the producer loop around an empty callback
and around the ring's decode alone, so the ring's own share can be read off."""


def test_cost_harness_null_callback(case):
    case("cost", "harness (null callback)")


def test_cost_decode_only(case):
    case("cost", "decode only")


def test_cost_cbring_main_idle(case):
    case("cost", "cbring, main idle")


def test_cost_cbring_main_busy(case):
    case("cost", "cbring, main busy")


def test_cost_cbring_main_draining(case):
    case("cost", "cbring, main draining")


def test_cost_ctypes_main_idle(case):
    case("cost", "ctypes, main idle")


def test_cost_ctypes_main_busy(case):
    case("cost", "ctypes, main busy")


def test_cost_cffi_def_extern_main_idle(case):
    case("cost", "cffi def_extern, main idle")


def test_cost_cffi_def_extern_main_busy(case):
    case("cost", "cffi def_extern, main busy")


def test_cost_pywin32_shaped_main_idle(case):
    case("cost", "pywin32-shaped, main idle")


def test_cost_pywin32_shaped_main_busy(case):
    case("cost", "pywin32-shaped, main busy")


def test_cost_untimed_null_callback(case):
    case("cost", "untimed: null callback")


def test_cost_untimed_cbring(case):
    case("cost", "untimed: cbring")
