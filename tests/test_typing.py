"""The README's API type-checks with mypy --strict: user programs of the
asyncio and thread dispatchers (WinINet's and WinHTTP's), and cbring.aio
and cbring.dispatch themselves."""

import os
import site
import subprocess
import sys

import pytest

import cbring

PROGRAMS = ["readme_program", "winhttp_program"]
PROGRAM_DIR = os.path.join(os.path.dirname(__file__), "typing")
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cbring.__file__)))


def _parser_flags():
    """mypy 2 parses with ast_serialize, a compiled module that imports
    bcryptprimitives.dll on Windows, which Wine 8 lacks: there its DLL does
    not load, and mypy's own Python parser checks the same code instead."""
    try:
        import ast_serialize  # noqa: F401
    except ModuleNotFoundError:  # a mypy without the native parser
        return []
    except ImportError:  # installed, but its DLL does not load
        return ["--no-native-parser"]
    return []


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_readme_program_runs(program):
    done = subprocess.run([sys.executable, "-X", "faulthandler",
                           os.path.join(PROGRAM_DIR, program + ".py")], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=PACKAGE_ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.endswith("ok\n")


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["linux", "win32"])
def test_mypy_strict_passes_on_the_readme_program_and_the_dispatchers(tmp_path, platform):
    # As modules, so that mypy checks them where they were imported from:
    # an installed cbring is found in site-packages (which mypy refuses in
    # MYPYPATH), an in-place build through MYPYPATH.  For POSIX and for
    # Windows wherever it runs: typeshed's OSError differs between them.
    path = [PROGRAM_DIR]
    if PACKAGE_ROOT not in site.getsitepackages():
        path.append(PACKAGE_ROOT)
    modules = [*PROGRAMS, "cbring.aio", "cbring.dispatch", "cbring._winhttp_routes", "cbring._errors"]
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--platform", platform, *_parser_flags(), "--no-error-summary", "--cache-dir",
         str(tmp_path / "cache"), *(arg for m in modules for arg in ("-m", m))],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
        env=dict(os.environ, MYPYPATH=os.pathsep.join(path)))
    assert checked.returncode == 0, checked.stdout + checked.stderr
