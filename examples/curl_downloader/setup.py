"""Builds the example's extension against the installed cbring and the
system's libcurl (Debian: apt-get install libcurl4-openssl-dev):

    python setup.py build_ext --inplace      (or: pip install --no-build-isolation .)

cbring must already be installed: its headers and .pxd files are found
through cbring.get_include() and the installed package, as for any third
party that cimports it."""
import shlex
import subprocess

from Cython.Build import cythonize
from setuptools import Extension, setup

import cbring


def libcurl_flags():
    """Compiler and linker flags for libcurl, from pkg-config or curl-config."""
    for command in (["pkg-config", "--cflags", "--libs", "libcurl"], ["curl-config", "--cflags", "--libs"]):
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        flags = shlex.split(out)
        return ([f[2:] for f in flags if f.startswith("-I")],
                [f[2:] for f in flags if f.startswith("-l")],
                [f[2:] for f in flags if f.startswith("-L")])
    return [], ["curl"], []


includes, libraries, library_dirs = libcurl_flags()
native = Extension(
    "curl_downloader._native",
    ["curl_downloader/_native.pyx"],
    include_dirs=[cbring.get_include()] + includes,
    libraries=libraries + ["pthread"],
    library_dirs=library_dirs,
    extra_compile_args=["-Wall", "-Wno-unused-function"],
)
setup(
    name="cbring-curl-downloader",
    version="0.1.0",
    description="cbring example: libcurl's multi interface on a native thread, reported in WinINet's shapes",
    packages=["curl_downloader"],
    ext_modules=cythonize([native], language_level=3, quiet=True),
    python_requires=">=3.9",
    install_requires=["cbring"],
)
