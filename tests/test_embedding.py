"""Other extensions push into a Ring through cbring's C API: a Cython
extension that cimports cbring and a plain C extension that imports the
capsule, both built at test time against the installed package."""

import importlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import cbring

EXT_SOURCES = os.path.join(os.path.dirname(__file__), "ext")


def _no_windows_compiler():
    """On Windows setuptools builds with MSVC: cl.exe on PATH (a developer
    prompt) or a Visual Studio that vswhere.exe finds.  Under Wine there is
    neither."""
    vswhere = os.path.join(os.environ.get("ProgramFiles(x86)", r"C:\Program Files (x86)"),
                           "Microsoft Visual Studio", "Installer", "vswhere.exe")
    return sys.platform == "win32" and not shutil.which("cl") and not os.path.exists(vswhere)


@pytest.fixture(scope="module")
def third_party(tmp_path_factory):
    """The two test extensions, compiled into a temporary folder on sys.path."""
    if _no_windows_compiler():
        pytest.skip("no MSVC to build the test extensions with (no cl.exe on PATH, no vswhere.exe), "
                    "as under Wine")
    build = tmp_path_factory.mktemp("ext")
    for name in os.listdir(EXT_SOURCES):
        shutil.copy(os.path.join(EXT_SOURCES, name), build)
    # the cbring under test, wherever it was imported from
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cbring.__file__)))
    built = subprocess.run([sys.executable, "setup_ext.py"], cwd=build, env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, f"building the test extensions failed:\n{built.stdout}\n{built.stderr}"
    sys.path.insert(0, str(build))
    try:
        yield (importlib.import_module("c_pusher"), importlib.import_module("cython_pusher"))
    finally:
        sys.path.remove(str(build))


def drained_contexts(ring, expected):
    buf = np.zeros(expected + 1, dtype=np.asarray(ring.drain(0)).dtype)
    n = 0
    while n < expected:
        assert ring.wait(5.0), f"only {n} of {expected} records arrived"
        n += ring.drain_into(buf[n:])
    assert ring.drain_into(buf[n:]) == 0
    return buf[:n]


def check_every_record(records, threads, per_thread):
    producer = records["context"] >> 40
    index = records["context"] & ((1 << 40) - 1)
    for t in range(threads):
        mine = index[producer == t]
        assert len(mine) == per_thread
        assert (np.diff(mine.astype(np.int64)) == 1).all(), f"thread {t} out of order"
        assert (records["result"][producer == t] == mine).all()
        assert (records["error"][producer == t] == t).all()
    assert (records["status"] == cbring.InternetStatus.REQUEST_COMPLETE).all()


@pytest.mark.parametrize("capacity", [1 << 16, 64], ids=["roomy", "overflowing"])
def test_plain_c_extension_pushes_from_native_threads_through_every_api_path(third_party, capacity):
    c_pusher, _ = third_party
    with cbring.Ring(capacity) as ring:
        accepted = c_pusher.push_from_threads(ring, 4, 20_000)
        assert accepted == 80_000
        check_every_record(drained_contexts(ring, 80_000), 4, 20_000)
        assert ring.stats.pushed == 80_000 and ring.stats.dropped == 0


@pytest.mark.parametrize("capacity", [1 << 16, 64], ids=["roomy", "overflowing"])
def test_cython_extension_cimports_cbring_and_pushes_without_the_gil(third_party, capacity):
    _, cython_pusher = third_party
    with cbring.Ring(capacity) as ring:
        assert cython_pusher.push_from_threads(ring, 4, 20_000) == 80_000
        check_every_record(drained_contexts(ring, 80_000), 4, 20_000)


def test_c_api_rejects_objects_that_are_not_rings(third_party):
    c_pusher, cython_pusher = third_party
    with pytest.raises(TypeError, match="expected a cbring.Ring, got list"):
        c_pusher.push_from_threads([], 1, 1)
    with pytest.raises(TypeError, match="expected a cbring.Ring, got int"):
        cython_pusher.push_from_threads(0, 1, 1)


def test_pushes_into_a_closed_ring_through_the_c_api_are_counted_late(third_party):
    c_pusher, _ = third_party
    ring = cbring.Ring(64)
    ring.close()
    assert c_pusher.push_from_threads(ring, 3, 100) == 0
    assert ring.stats.late == 300 and ring.stats.pushed == 0


def test_capsule_is_named_and_versioned():
    import ctypes

    capsule = cbring._core._C_API
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype = ctypes.c_char_p
    get_name.argtypes = [ctypes.py_object]
    assert get_name(capsule) == b"cbring._core._C_API"
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.POINTER(ctypes.c_uint32)
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    table = get_pointer(capsule, b"cbring._core._C_API")
    assert table[0] >= 1  # abi_version
    assert table[1] == 8 + 5 * ctypes.sizeof(ctypes.c_void_p)  # size: two uint32 and five pointers


def test_get_include_holds_every_public_header():
    folder = os.path.join(cbring.get_include(), "cbring")
    for header in ["atomics.h", "cbring.h", "clock.h", "record.h", "ring.h", "status.h",
                   "wakeup.h", "wininet_compat.h"]:
        assert os.path.isfile(os.path.join(folder, header)), header
