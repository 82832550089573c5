"""The compiled and optional peers: built once per run from bench/peers/
when a source checkout and a compiler are at hand, else reported missing."""

import ctypes
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import cbring


class Peers:
    """The compiled and optional peers of one run, and why any is missing."""

    def __init__(self):
        self.pergil = None      # the per-event GIL extension module
        self.cffi_api = None    # the cffi def_extern module
        self.cring = None       # the C ring library (ctypes.CDLL)
        self.missing = {}       # peer name -> reason
        try:
            import cffi  # noqa: F401
            self.cffi = True
        except ImportError:
            self.cffi = False
            self.missing["cffi"] = "cffi is not installed"

    def reason(self, name):
        return self.missing.get(name, "not available")


def find_sources():
    """bench/peers of a source checkout, if one is at hand."""
    candidates = [os.environ.get("CBRING_BENCH_PEERS", ""),
                  os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
                      cbring.__file__)))), "bench", "peers"),
                  os.path.join(os.getcwd(), "bench", "peers")]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "pergil.c")):
            return c
    return None


def _build_extension(name, source, build_dir, quiet=True):
    from setuptools import Distribution, Extension
    dist = Distribution({"name": name, "ext_modules": [Extension(name, [source])],
                         "script_args": ["build_ext"]})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = build_dir
    cmd.build_temp = os.path.join(build_dir, "tmp")
    cmd.ensure_finalized()
    if quiet:
        with open(os.devnull, "w") as null:
            saved = os.dup(1), os.dup(2)
            try:
                os.dup2(null.fileno(), 1)
                os.dup2(null.fileno(), 2)
                cmd.run()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
    else:
        cmd.run()


def _import_from(path, name):
    import importlib.util
    for f in os.listdir(path):
        if f.startswith(name + ".") and f.endswith((".so", ".pyd")):
            spec = importlib.util.spec_from_file_location(name, os.path.join(path, f))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    raise ImportError(f"{name} was not built in {path}")


_ASYNC_RESULT_DECL = "typedef struct { uintptr_t dwResult; uint32_t dwError; } INTERNET_ASYNC_RESULT;"
_CFFI_SOURCE = _ASYNC_RESULT_DECL + """
    static void cbring_bench_on_status(void *, uintptr_t, uint32_t, void *, uint32_t);
    static uintptr_t cbring_bench_address(void) { return (uintptr_t)&cbring_bench_on_status; }
"""


def _build_cffi_api(build_dir):
    import cffi
    ffi = cffi.FFI()
    ffi.cdef(_ASYNC_RESULT_DECL + """
        extern "Python" void cbring_bench_on_status(void *, uintptr_t, uint32_t, void *, uint32_t);
        uintptr_t cbring_bench_address(void);
    """)
    ffi.set_source("_cbring_bench_cffi", _CFFI_SOURCE)
    with open(os.devnull, "w") as null:
        saved = os.dup(1)
        try:
            os.dup2(null.fileno(), 1)
            ffi.compile(tmpdir=build_dir, verbose=False)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    return _import_from(build_dir, "_cbring_bench_cffi")


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.split()


def _build_cring(source, build_dir):
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        raise OSError(f"no C compiler ({cc[0]})")
    out = os.path.join(build_dir, "libcring.so")
    base = cc + ["-O3", "-std=gnu11", "-D_GNU_SOURCE", "-shared", "-fPIC", "-I", cbring.get_include(),
                 source, "-o", out, "-lpthread"]
    notes = []
    dpdk = _pkg_config("--cflags", "libdpdk")
    extra, libs = [], []
    if dpdk is not None:
        extra += dpdk + ["-DCRING_HAVE_DPDK"]
        libs += ["-lrte_ring", "-lrte_eal"]
    else:
        notes.append("rte_ring: libdpdk not found by pkg-config (apt-get install libdpdk-dev)")
    extra.append("-DCRING_HAVE_CK")
    attempts = [(extra, libs)]
    if dpdk is not None:
        attempts.append(([e for e in extra if e not in dpdk and e != "-DCRING_HAVE_DPDK"], []))
    attempts.append(([e for e in attempts[-1][0] if e != "-DCRING_HAVE_CK"], []))
    err = ""
    for flags, ls in attempts:
        r = subprocess.run(base[:1] + flags + base[1:] + ls, capture_output=True, text=True)
        if r.returncode == 0:
            if "-DCRING_HAVE_DPDK" not in flags and dpdk is not None:
                notes.append("rte_ring: building against DPDK failed")
            if "-DCRING_HAVE_CK" not in flags:
                notes.append("ck_ring: ck_ring.h not found (apt-get install libck-dev)")
            lib = ctypes.CDLL(out)
            lib.cring_available.argtypes = [ctypes.c_int]
            lib.cring_run.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_uint64,
                                      ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_double,
                                      ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_uint64),
                                      ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]
            return lib, notes
        err = r.stderr
    raise OSError(f"compiling cring.c failed: {err.strip()[-500:]}")


def build_peers(build_dir=None, sources=None):
    """Builds what it can; returns a Peers saying what is available and why not."""
    peers = Peers()
    sources = sources or find_sources()
    if build_dir is None:
        build_dir = tempfile.mkdtemp(prefix="cbring-bench-")
    os.makedirs(build_dir, exist_ok=True)
    if sources is None:
        why = "needs compiling: run from a source checkout (bench/peers) with a C compiler"
        peers.missing.update({"pergil": why, "cffi_api": why, "cring": why})
    else:
        try:
            _build_extension("_cbring_bench_pergil", os.path.join(sources, "pergil.c"), build_dir)
            peers.pergil = _import_from(build_dir, "_cbring_bench_pergil")
        except Exception as e:  # a missing compiler shows up in many forms
            peers.missing["pergil"] = f"cannot build pergil.c: {type(e).__name__}: {e}"[:200]
        if sys.platform.startswith("linux") or sys.platform == "darwin":
            try:
                peers.cring, notes = _build_cring(os.path.join(sources, "cring.c"), build_dir)
                for n in notes:
                    peers.missing[n.split(":")[0]] = n
            except Exception as e:
                peers.missing["cring"] = f"cannot build cring.c: {e}"[:300]
        else:
            peers.missing["cring"] = "the C ring comparison builds on Linux and macOS only"
    if peers.cffi:
        try:
            peers.cffi_api = _build_cffi_api(build_dir)
        except Exception as e:
            peers.missing["cffi_api"] = f"cannot compile a cffi def_extern module: {type(e).__name__}: {e}"[:200]
    else:
        peers.missing["cffi_api"] = "cffi is not installed"
    return peers


def available(peers, key):
    """Whether the peer a case needs (None: none) was built."""
    if key is None or key == "shards":
        return True
    if key == "cffi":
        return peers.cffi
    return getattr(peers, key) is not None
