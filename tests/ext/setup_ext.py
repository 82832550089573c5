"""Builds the test extensions against the installed cbring, as a third party would."""
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

import cbring

include = [cbring.get_include(), "."]
setup(
    name="cbring-test-ext",
    ext_modules=[Extension("c_pusher", ["c_pusher.c", "c_pusher_work.c"], include_dirs=include),
                  Extension("forgetful", ["forgetful.c"], include_dirs=include)]
    + cythonize([Extension("cython_pusher", ["cython_pusher.pyx"], include_dirs=include)],
                language_level=3, quiet=True),
    script_args=["build_ext", "--inplace"] + sys.argv[1:],
)
