#!/usr/bin/env bash
# A short run of the whole benchmark suite, for .ci/run: every case runs
# once on small inputs (CBRING_BENCH_QUICK=1, --benchmark-disable) and must
# deliver every event, so a broken benchmark fails here; no timing is judged.
# Then `python -m cbring bench --quick` checks the command itself.
#
# Needs cbring importable (installed, as .ci/run does with `pip install .`
# and `pip install --group test`, or PYTHONPATH=src after an in-place build) with pytest,
# pytest-benchmark, cffi and numpy.  As root with apt, it installs the C
# rings compared with cbring's (libdpdk-dev, libck-dev) and then requires
# every compiled peer to build.  Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

require=0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    pkgs=(build-essential pkg-config libdpdk-dev libck-dev)
    export DEBIAN_FRONTEND=noninteractive
    if apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }; then
        require=1
    else
        echo "bench/smoke.sh: could not install ${pkgs[*]}; the C ring peers may be reported as not available"
    fi
fi

export CBRING_BENCH_QUICK=1 CBRING_BENCH_REQUIRE_PEERS=$require
python -m pytest bench/ --benchmark-disable -p no:cacheprovider -q -rs "$@"
out=$(mktemp)
python -m cbring bench --quick --json "$out" > "$out.txt"
python - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
runs = sum(len(c.get("runs", [])) for f in d["results"].values() for c in f.values())
assert runs > 0, "python -m cbring bench measured nothing"
PY
grep -q "^Targets" "$out.txt" || { cat "$out.txt"; echo "python -m cbring bench printed no targets"; exit 1; }
rm -f "$out" "$out.txt"
echo "bench/smoke.sh: every benchmark ran and delivered every event ($(( $(date +%s) - start )) s)"
