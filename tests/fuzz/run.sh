#!/usr/bin/env bash
# Fuzzes the status decoder (include/cbring/status.h) under libFuzzer with
# AddressSanitizer and UndefinedBehaviorSanitizer for a bounded time.
#
# Usage: tests/fuzz/run.sh [seconds]        (default 60; CBRING_FUZZ_SECONDS too)
#        tests/fuzz/run.sh --merge SECONDS  also merges what it found into the
#                                           corpus kept in the repository
# The repository's corpus is read, never written, by a plain run: new inputs
# go to a temporary folder, so CI leaves the checkout clean.  Needs clang and
# its libFuzzer runtime (Debian: libclang-rt-<major>-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
inc="$here/../../include"
merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; fi
seconds=${1:-${CBRING_FUZZ_SECONDS:-60}}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$inc" "$here/status_fuzz.c" -o "$out/status_fuzz"
mkdir -p "$out/new"
# -jobs/-workers 1: the CI machine has two cores; -rss_limit: a leak shows as a failure
ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:quarantine_size_mb=64" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
"$out/status_fuzz" -max_total_time="$seconds" -max_len=256 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/new" "$here/corpus" 2>&1 | tee "$out/log" \
    | grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|status_fuzz:)' || true
if ! grep -qE '^#[0-9]+[[:space:]]+DONE' "$out/log"; then
    echo "tests/fuzz: the fuzzer stopped early; its log:" >&2
    tail -n 60 "$out/log" >&2
    ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* 2>/dev/null | while read -r f; do
        echo "reproducer $f:" >&2; od -An -tx1 "$f" >&2; done
    exit 1
fi
if [ "$merge" = 1 ]; then
    "$out/status_fuzz" -merge=1 "$here/corpus" "$out/new" 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true
fi
echo "tests/fuzz: clean after ${seconds}s"
