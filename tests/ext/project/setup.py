import cbring
from setuptools import Extension, setup

setup(ext_modules=[Extension("c_pusher", ["c_pusher.c", "c_pusher_work.c"],
                             include_dirs=[cbring.get_include()])])
