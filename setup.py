import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

define_macros = [("CBR_DEBUG", "1")] if "--cbring-debug" in sys.argv else []
if "--cbring-debug" in sys.argv:
    sys.argv.remove("--cbring-debug")

# Python's own CFLAGS carry -g: debug info is ~11 MB of a 13 MB _core and
# a third of its compile time.  CBRING_DEBUG_INFO=1 keeps it.
debug_info = os.environ.get("CBRING_DEBUG_INFO") == "1"
common = dict(
    include_dirs=["include", "src/cbring"],
    define_macros=define_macros,
    extra_compile_args=[] if sys.platform == "win32"
    else ["-std=c11", "-D_GNU_SOURCE"] + ([] if debug_info else ["-g0"]),
)


class parallel_build_ext(build_ext):
    """Compiles the extensions side by side, one per core, unless -j says otherwise."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1


setup(
    cmdclass={"build_ext": parallel_build_ext},
    ext_modules=cythonize(
        [
            Extension("cbring._core", ["src/cbring/_core.pyx"],
                      libraries=["wininet", "ws2_32"] if sys.platform == "win32" else [], **common),
            Extension("cbring._testing", ["src/cbring/_testing.pyx"], **common),
            Extension("cbring._route", ["src/cbring/_route.pyx"], **common),
        ],
        include_path=["src"],
        # multiprocessing would re-run setup.py under Windows' spawn start method
        nthreads=1 if sys.platform == "win32" else (os.cpu_count() or 1),
    ),
)
