import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

define_macros = [("CBR_DEBUG", "1")] if "--cbring-debug" in sys.argv else []
if "--cbring-debug" in sys.argv:
    sys.argv.remove("--cbring-debug")

common = dict(
    include_dirs=["include", "src/cbring"],
    define_macros=define_macros,
    extra_compile_args=[] if sys.platform == "win32" else ["-std=c11", "-D_GNU_SOURCE"],
)

setup(
    ext_modules=cythonize(
        [
            Extension("cbring._core", ["src/cbring/_core.pyx"],
                      libraries=["wininet", "ws2_32"] if sys.platform == "win32" else [], **common),
            Extension("cbring._testing", ["src/cbring/_testing.pyx"], **common),
        ],
        include_path=["src"],
    ),
)
