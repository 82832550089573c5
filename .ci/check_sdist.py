"""Fails unless the sdist that build made holds every tracked file but the
repository's own (.github/, .gitignore): the wheels are built and tested
from the sdist, so a file missing here is a file a wheel build or its tests
cannot find.  Run from the checkout after `python -m build --sdist`, with
build's output folder as the argument (dist/ by default)."""

import glob
import subprocess
import sys
import tarfile

tracked = set(subprocess.check_output(["git", "ls-files"], text=True).split())
folder = sys.argv[1] if len(sys.argv) > 1 else "dist"
(sdist,) = glob.glob(f"{folder}/*.tar.gz")
with tarfile.open(sdist) as t:
    held = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
missing = sorted(f for f in tracked - held if not f.startswith(".github/") and f != ".gitignore")
if missing:
    sys.exit(f"{sdist} lacks tracked files: {missing}")
print(f"{sdist} holds all {len(tracked)} tracked files but .github/ and .gitignore")
