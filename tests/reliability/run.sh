#!/usr/bin/env bash
# The reliability checks that the README's test command does not run:
# libFuzzer on the status decoder, and the Python test suite under an
# ASan+UBSan build and under valgrind.  (The soak's short version, the
# lifecycle, model and hostile-input tests run with the suite itself; the C
# core's ThreadSanitizer, ASan and valgrind runs are tests/c/run.sh.)
# About 4 minutes on two cores.
#
# Usage: tests/reliability/run.sh          what CI runs
#        tests/reliability/run.sh --long   also the long soak (10**9 calls,
#            about 11 minutes), 10 minutes of fuzzing, 20,000 model examples
#            and 100,000 lifecycle rings
set -euo pipefail
cd "$(dirname "$0")/../.."
long=0
[ "${1:-}" = "--long" ] && long=1
py=${PYTHON:-python}
step() { printf '\n--- %s (%s)\n' "$*" "$(date +%T)"; }

step "libFuzzer + ASan + UBSan on the status decoder"
bash tests/fuzz/run.sh "$([ "$long" = 1 ] && echo 600 || echo 60)"

step "the Python suite under ASan + UBSan, then under valgrind"
bash tests/reliability/sanitizers.sh all

if [ "$long" = 1 ]; then
    src=; ls src/cbring/_core*.so >/dev/null 2>&1 && src="$PWD/src"
    step "the long soak: 10**9 calls over four overflow cases"
    PYTHONPATH="$src" "$py" -m pytest -q -s -p no:cacheprovider --soak tests/soak -k "test_soak["
    step "the model, 20,000 examples"
    PYTHONPATH="$src" CBRING_MODEL_EXAMPLES=20000 "$py" -m pytest -q -p no:cacheprovider tests/test_ring_model.py
    step "lifecycle, 100,000 rings"
    PYTHONPATH="$src" CBRING_LIFECYCLE_RINGS=100000 "$py" -m pytest -q -p no:cacheprovider \
        tests/test_lifecycle.py -k ten_thousand
fi
echo "tests/reliability: all clean"
