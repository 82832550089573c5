#!/usr/bin/env bash
# The Python test suite against a build of the extension instrumented with
# AddressSanitizer and UndefinedBehaviorSanitizer (clang), then a
# representative part of it under valgrind memcheck (the plain build).
#
# Usage: tests/reliability/sanitizers.sh [asan|valgrind|all]   (default all)
# Needs clang with its sanitizer runtimes (Debian: libclang-rt-<major>-dev),
# valgrind, and Cython and setuptools (the test extras).  The valgrind part
# tests the in-place build if there is one (python setup.py build_ext
# --inplace), else the installed package; the sanitizer build goes to a
# temporary folder and leaves the checkout alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
what=${1:-all}
py=${PYTHON:-python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"

if [ "$what" = all ] || [ "$what" = asan ]; then
    echo "== ASan + UBSan build of cbring._core and cbring._testing"
    mkdir -p "$work/asan"
    cp -r setup.py pyproject.toml README.md src include "$work/asan/"
    rm -f "$work/asan/src/cbring/"*.so
    san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -shared-libsan"
    (cd "$work/asan" && CC=clang LDSHARED="clang -shared" CFLAGS="$san -g -O1" LDFLAGS="$san" \
        "$py" setup.py -q build_ext --inplace >"$work/asan-build.log" 2>&1) \
        || { tail -n 40 "$work/asan-build.log"; exit 1; }
    runtime=$(clang -print-file-name="libclang_rt.asan-$(uname -m).so")
    [ -f "$runtime" ] || { echo "no ASan runtime at $runtime"; exit 1; }
    echo "== the test suite under ASan + UBSan (not the slow stress tests; shorter lifecycle and model runs)"
    # detect_leaks=0: CPython does not free its own objects at exit (interned
    # strings, static types, the main interpreter state), so LeakSanitizer
    # reports thousands of blocks that are not cbring's.  cbring's C core is
    # leak-checked where it runs alone: tests/c/run.sh (LSan and valgrind).
    # PYTHONMALLOC=malloc: every Python object comes from malloc, where ASan
    # can see an overflow (pymalloc's arenas would hide it).
    # The fork() tests that fork while native threads run are left out here:
    # clang 14's ASan runtime takes no lock of its own allocator across fork,
    # so a child whose parent had a thread inside ASan's malloc or free at the
    # fork hangs in its first free (google/sanitizers#1814).  They pass in the
    # plain build (the README's test command) and under valgrind below.
    ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    LD_PRELOAD="$runtime" PYTHONMALLOC=malloc PYTHONPATH="$work/asan/src" \
    CBRING_LIFECYCLE_RINGS=2000 CBRING_MODEL_EXAMPLES=150 \
        "$py" -m pytest -q -p no:cacheprovider -m "not slow" --durations=8 tests \
        --deselect tests/test_lifecycle.py::test_fork_while_producers_are_mid_push_never_deadlocks_the_child \
        --deselect tests/test_lifecycle.py::test_producers_in_a_fork_child_refuse_to_join_threads_the_child_does_not_have \
        --deselect tests/test_lifecycle.py::test_fork_with_a_live_ring_gives_the_child_a_clear_error_and_the_parent_keeps_working
fi

if [ "$what" = all ] || [ "$what" = valgrind ]; then
    echo "== valgrind memcheck over a representative part of the suite (the plain build)"
    # PYTHONMALLOC=malloc: valgrind sees every allocation, and pymalloc's
    # reads of arena headers it never wrote (what CPython's
    # Misc/valgrind-python.supp suppresses) do not happen.  --leak-check=no:
    # as for ASan above, CPython's own memory at exit is not cbring's; the C
    # core's leaks are checked by tests/c/run.sh.  Child processes (the exit
    # and fork tests' interpreters) run natively: --trace-children=no.
    # --fair-sched=yes: valgrind runs one thread at a time, and without it a
    # test that polls a counter starves the native threads that move it.
    # the in-place build if there is one, else the installed package (.ci/run)
    src=; ls src/cbring/_core*.so >/dev/null 2>&1 && src="$root/src"
    PYTHONMALLOC=malloc PYTHONPATH="$src" CBRING_LIFECYCLE_RINGS=200 CBRING_MODEL_EXAMPLES=25 \
    valgrind --quiet --error-exitcode=99 --leak-check=no --trace-children=no --num-callers=30 --fair-sched=yes \
        --suppressions="$here/valgrind-python.supp" \
        "$py" -m pytest -q -p no:cacheprovider -m "not slow" --durations=6 \
        tests/test_ring_model.py tests/test_drain_into.py tests/test_batch.py \
        tests/test_status_events.py tests/test_lifetime.py tests/test_ring.py \
        tests/test_foreign_callers.py tests/test_wait.py \
        "tests/test_lifecycle.py::test_ten_thousand_rings_closed_or_collected_under_fire_count_every_call" \
        "tests/test_lifecycle.py::test_fork_with_a_live_ring_gives_the_child_a_clear_error_and_the_parent_keeps_working" \
        "tests/test_lifecycle.py::test_fork_while_producers_are_mid_push_never_deadlocks_the_child" \
        "tests/test_lifecycle.py::test_producers_in_a_fork_child_refuse_to_join_threads_the_child_does_not_have" \
        tests/test_hostile_input.py
fi
echo "tests/reliability/sanitizers.sh ($what): clean"
