"""Other extensions push into a Ring through cbring's C API: a Cython
extension that cimports cbring and a plain C extension of two files that
imports the capsule, both built at test time against the cbring under test;
and the same two-file extension as a third-party project that pip builds
under build isolation, with cbring in its build requirements."""

import importlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

import cbring

EXT_SOURCES = os.path.join(os.path.dirname(__file__), "ext")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = os.path.join(cbring.get_include(), "cbring", "cbring.h")
# the CBRING_ push results
PUSHED, LATE = 0, 3


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
        if os.path.isfile(os.path.join(EXT_SOURCES, name)):
            shutil.copy(os.path.join(EXT_SOURCES, name), build)
    # the cbring under test, wherever it was imported from
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cbring.__file__)))
    built = subprocess.run([sys.executable, "setup_ext.py"], cwd=build, env=env,
                           capture_output=True, text=True)
    assert built.returncode == 0, f"building the test extensions failed:\n{built.stdout}\n{built.stderr}"
    sys.path.insert(0, str(build))
    try:
        yield (importlib.import_module("c_pusher"), importlib.import_module("cython_pusher"),
               str(build))
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
def test_a_two_file_c_extension_pushes_from_native_threads_through_every_api_path(third_party, capacity):
    c_pusher = third_party[0]
    with cbring.Ring(capacity) as ring:
        accepted = c_pusher.push_from_threads(ring, 4, 20_000)
        assert accepted == 80_000
        check_every_record(drained_contexts(ring, 80_000), 4, 20_000)
        assert ring.stats.pushed == 80_000 and ring.stats.dropped == 0


@pytest.mark.parametrize("capacity", [1 << 16, 64], ids=["roomy", "overflowing"])
def test_cython_extension_cimports_cbring_and_pushes_without_the_gil(third_party, capacity):
    cython_pusher = third_party[1]
    with cbring.Ring(capacity) as ring:
        assert cython_pusher.push_from_threads(ring, 4, 20_000) == 80_000
        check_every_record(drained_contexts(ring, 80_000), 4, 20_000)


def test_c_api_rejects_objects_that_are_not_rings(third_party):
    c_pusher, cython_pusher, _ = third_party
    with pytest.raises(TypeError, match="expected a cbring.Ring, got list"):
        c_pusher.push_from_threads([], 1, 1)
    with pytest.raises(TypeError, match="expected a cbring.Ring, got int"):
        cython_pusher.push_from_threads(0, 1, 1)


def test_pushes_into_a_closed_ring_through_the_c_api_are_counted_late(third_party):
    c_pusher = third_party[0]
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
    assert (table[0], table[1]) == (2, 1)  # major, minor
    assert table[2] == 16 + 7 * ctypes.sizeof(ctypes.c_void_p)  # four uint32 and seven pointers
    assert table[3] == cbring.EVENT_SIZE  # the record layout compiled into callers


def test_callback_returns_the_push_result_and_closed_says_when_pushes_are_late(third_party):
    c_pusher, cython_pusher, _ = third_party
    ring = cbring.Ring(64)
    assert not c_pusher.closed(ring) and not cython_pusher.closed(ring)
    assert c_pusher.push_one(ring) == PUSHED
    ring.close()
    assert c_pusher.closed(ring) and cython_pusher.closed(ring)
    assert c_pusher.push_one(ring) == LATE
    assert ring.stats.pushed == 1 and ring.stats.late == 1


def test_cbring_ring_before_cbring_import_is_a_runtime_error_not_a_crash(third_party):
    forgetful = importlib.import_module("forgetful")
    with pytest.raises(RuntimeError, match=r"cbring_ring\(\) before cbring_import\(\)"):
        forgetful.ring_pointer(cbring.Ring(16))


FAKE_TABLES = {
    "missing": ("del _core._C_API", r"cannot import cbring's C API .*has no attribute '_C_API'"),
    "not a capsule": ("_core._C_API = 5", r"cannot import cbring's C API .*"),
    "misnamed": ("_core._C_API = fake(b'other.name', [2, 0, 64, 64])",
                 r"cannot import cbring.s C API .*is not valid"),
    "newer major": ("_core._C_API = fake(b'cbring._core._C_API', [3, 0, 4096, 64])",
                    r"version 3.0 .* built for version 2.1 .*rebuild the extension"),
    "older major": ("_core._C_API = fake(b'cbring._core._C_API', [1, 9, 4096, 64])",
                    r"version 1.9 .*upgrade cbring"),
    "shorter table": ("_core._C_API = fake(b'cbring._core._C_API', [2, 0, 24, 64])",
                      r"table 24 bytes.*upgrade cbring"),
    "other record layout": ("_core._C_API = fake(b'cbring._core._C_API', [2, 0, 4096, 128])",
                            r"records 128 bytes"),
}


@pytest.mark.parametrize("case", FAKE_TABLES)
def test_a_missing_or_wrong_capsule_is_an_import_error_naming_the_problem(third_party, case, run_python):
    setup, message = FAKE_TABLES[case]
    script = textwrap.dedent(f"""
        import ctypes, sys
        sys.path.insert(0, {third_party[2]!r})
        from cbring import _core
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        keep = []
        def fake(name, head):
            table = (ctypes.c_uint32 * 64)(*head)
            keep.append((table, name))
            return new(ctypes.addressof(table), name, None)
        {setup}
        try:
            import c_pusher
        except ImportError as e:
            print("ImportError:", e)
        else:
            print("imported")
    """)
    done = run_python(script)
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert out.startswith("ImportError:"), out
    assert re.search(message, out), out


def _compile_only(c_compiler, tmp_path, source, std):
    path = tmp_path / "snippet.c"
    path.write_text(source)
    return subprocess.run(
        [c_compiler[0], f"-std={std}", "-Wall", "-Wextra", "-Wsign-compare", "-Werror", "-fsyntax-only",
         "-I", cbring.get_include(), "-I", sysconfig.get_paths()["include"], str(path)],
        capture_output=True, text=True)


def _header_examples():
    """The code lines of cbring.h's opening comment, one list per example."""
    with open(HEADER) as f:
        comment = f.read().split("*/", 1)[0]
    examples, current = [], []
    for line in comment.splitlines():
        if line.startswith(" *     "):
            current.append(line[len(" *     "):])
        elif current and line.strip(" *"):
            examples.append(current)
            current = []
        elif current:
            current.append("")
    return [[l for l in ex if l] for ex in examples + ([current] if current else [])]


@pytest.mark.parametrize("std", ["c99", "c11"])
def test_the_headers_examples_compile_with_strict_warnings(c_compiler, tmp_path, std):
    usage, several_files = _header_examples()[:2]
    assert usage[0].startswith("#include <cbring/cbring.h>")
    body = "\n    ".join(usage[1:])
    source = f"""{usage[0]}
static PyObject *example(PyObject *ring_object, cbr_hinternet h, cbr_dword_ptr ctx,
                         cbr_dword status, const void *info, cbr_dword len)
{{
    {body}
    return PyLong_FromLong(res);
}}
PyObject *use_example(void);
PyObject *use_example(void) {{ return example(Py_None, 0, 0, 0, 0, 0); }}
"""
    built = _compile_only(c_compiler, tmp_path, source, std)
    assert built.returncode == 0, source + built.stderr
    assert any("CBRING_NO_IMPORT" in line for line in several_files)
    importing = "\n".join(l for l in several_files if "CBRING_NO_IMPORT" not in l)
    for variant in (importing, "\n".join(several_files)):
        source = variant + "\nint use(struct cbr_ring *r);\nint use(struct cbr_ring *r) { return cbring_closed(r); }\n"
        built = _compile_only(c_compiler, tmp_path, source, std)
        assert built.returncode == 0, source + built.stderr


def test_no_import_without_a_unique_symbol_is_a_compile_error_that_says_what_to_define(c_compiler, tmp_path):
    built = _compile_only(c_compiler, tmp_path, "#define CBRING_NO_IMPORT\n#include <cbring/cbring.h>\n", "c11")
    assert built.returncode != 0
    assert "define CBRING_UNIQUE_SYMBOL" in built.stderr


def test_the_compat_header_names_dword_ptr_as_wininet_does(c_compiler, tmp_path):
    source = ("#include <cbring/wininet_compat.h>\n"
              "DWORD_PTR context_of(HINTERNET h);\n"
              "DWORD_PTR context_of(HINTERNET h) { return (DWORD_PTR)h; }\n")
    built = _compile_only(c_compiler, tmp_path, source, "c11")
    assert built.returncode == 0, built.stderr


@pytest.fixture(scope="module")
def cbring_wheel(tmp_path_factory):
    """A wheel of the cbring under test, built once from this checkout."""
    if _no_windows_compiler():
        pytest.skip("no MSVC to build cbring's wheel with (no cl.exe on PATH, no vswhere.exe), "
                    "as under Wine")
    if not os.path.isfile(os.path.join(REPO, "pyproject.toml")):
        pytest.fail(f"the isolated-build test needs cbring's source tree at {REPO}")
    source = tmp_path_factory.mktemp("cbring-src")
    ignore = shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, name), source)
    for name in ("src", "include"):
        shutil.copytree(os.path.join(REPO, name), source / name, ignore=ignore)
    wheels = tmp_path_factory.mktemp("wheels")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(source)],
        capture_output=True, text=True, env=dict(os.environ, CFLAGS="-O1 -g0"))
    assert built.returncode == 0, built.stdout + built.stderr
    return wheels


@pytest.mark.slow
def test_pip_builds_a_two_file_extension_under_build_isolation_from_the_readmes_pyproject(
        cbring_wheel, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(os.path.join(EXT_SOURCES, "project"), project)
    for name in ("c_pusher.c", "c_pusher_work.c", "c_pusher.h", "threads.h"):
        shutil.copy(os.path.join(EXT_SOURCES, name), project)
    # the README's build requirements, word for word
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    with open(project / "pyproject.toml") as f:
        requires = re.search(r"^requires = .*$", f.read(), re.M).group(0)
    assert requires in readme
    target = tmp_path / "site"
    links = " ".join(filter(None, [str(cbring_wheel), os.environ.get("PIP_FIND_LINKS")]))
    env = dict(os.environ, PIP_FIND_LINKS=links)
    env.pop("PYTHONPATH", None)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), str(project)],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env["PYTHONPATH"] = str(target)
    checked = subprocess.run([sys.executable, "-s", str(project / "check.py")],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # both came from where pip put them, not from this checkout
    assert checked.stderr.count(str(target)) == 2, checked.stderr


def test_get_include_holds_every_public_header():
    folder = os.path.join(cbring.get_include(), "cbring")
    for header in ["atomics.h", "cbring.h", "clock.h", "record.h", "ring.h", "status.h",
                   "wakeup.h", "wininet_compat.h"]:
        assert os.path.isfile(os.path.join(folder, header)), header
