#!/usr/bin/env bash
# Builds the libcurl example against the installed cbring, runs its tests and
# a quick benchmark; exits non-zero on any failure.  .ci/run calls it from its
# virtual environment, where cbring is installed; run by hand outside one, it
# makes its own and installs cbring from this checkout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
started=$(date +%s)

step() { printf '\n=== curl example: %s (%s)\n' "$*" "$(date +%T)"; }

step "system packages"
needs="build-essential pkg-config python3-dev libcurl4-openssl-dev libssl-dev"
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    # shellcheck disable=SC2086
    if ! dpkg -s $needs >/dev/null 2>&1; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $needs >/dev/null
    fi
else
    echo "not root, or no apt-get: not installing; the build needs $needs (or their equivalents)"
fi

step "Python packages"
if [ -z "${VIRTUAL_ENV:-}" ]; then
    venv=$(mktemp -d)/venv
    python3 -m venv "$venv"
    . "$venv/bin/activate"
    python -m pip install -q --upgrade pip
fi
python -c "import cbring" 2>/dev/null || python -m pip install -q "$here/../.."
python -m pip install -q "Cython>=3.0.8" "setuptools>=77" wheel pytest aiohttp
# pycurl built from source runs on the same libcurl as the example (its wheel
# bundles another one); the wheel is the fallback, and bench.py prints which
python -m pip install -q --no-binary pycurl pycurl || python -m pip install -q pycurl
python -c "import cbring, pycurl; print('cbring', cbring.__file__); print(pycurl.version)"

step "build against the installed cbring"
rm -rf build curl_downloader/_native.c curl_downloader/_native.*.so
python setup.py -q build_ext --inplace

step "tests"
python -m pytest -q

step "quick benchmark"
python bench.py --quick

echo
echo "curl example: passed in $(( $(date +%s) - started )) s"
