#!/usr/bin/env bash
# Builds the C core's tests with strict warnings and runs them plain, under
# ThreadSanitizer, AddressSanitizer + UndefinedBehaviorSanitizer, and
# valgrind memcheck.  Needs gcc, clang (with libclang-rt) and valgrind.
# Usage: tests/c/run.sh [events-per-producer]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
inc="$here/../../include"
out=${CBRING_C_BUILD:-$(mktemp -d)}
n=${1:-200000}
warn=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Wsign-compare -Wshadow -Werror)

echo "== gcc -O2, strict warnings"
gcc "${warn[@]}" -O2 -g -I"$inc" "$here/ring_stress.c" -o "$out/ring_stress" -lpthread
"$out/ring_stress" "$n"

# clang warns from its front end, whatever the optimisation level, so its strict
# C warnings come with the sanitizer builds below; here the C++ compile.
echo "== clang++, strict warnings (C++ compile of the headers)"
printf '#include <cbring/ring.h>\n#include <cbring/status.h>\n#include <cbring/winhttp.h>\nint main(void){return 0;}\n' > "$out/headers.cpp"
clang++ -std=c++11 -Wall -Wextra -Werror -I"$inc" "$out/headers.cpp" -o "$out/headers_cpp"

echo "== ThreadSanitizer"
clang "${warn[@]}" -O1 -g -fsanitize=thread -I"$inc" "$here/ring_stress.c" -o "$out/ring_stress_tsan" -lpthread
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/ring_stress_tsan" $((n / 4))

echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
clang "${warn[@]}" -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$inc" "$here/ring_stress.c" -o "$out/ring_stress_asan" -lpthread
ASAN_OPTIONS="detect_leaks=1 halt_on_error=1" "$out/ring_stress_asan" $((n / 4))

echo "== valgrind memcheck"
gcc "${warn[@]}" -O1 -g -I"$inc" "$here/ring_stress.c" -o "$out/ring_stress_vg" -lpthread
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "$out/ring_stress_vg" $((n / 50))

echo "== overflow segments: gcc -O2, ThreadSanitizer, ASan + UBSan (clang), valgrind"
src="$here/overflow_stress.c"
gcc "${warn[@]}" -O2 -g -I"$inc" "$src" -o "$out/overflow_stress" -lpthread
"$out/overflow_stress" "$n"
clang "${warn[@]}" -O1 -g -fsanitize=thread -I"$inc" "$src" -o "$out/overflow_stress_tsan" -lpthread
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/overflow_stress_tsan" $((n / 4))
clang "${warn[@]}" -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$inc" "$src" -o "$out/overflow_stress_asan" -lpthread
ASAN_OPTIONS="detect_leaks=1 halt_on_error=1" "$out/overflow_stress_asan" $((n / 4))
gcc "${warn[@]}" -O1 -g -I"$inc" "$src" -o "$out/overflow_stress_vg" -lpthread
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --fair-sched=yes "$out/overflow_stress_vg" $((n / 50))

echo "== payloads: gcc -O2, ThreadSanitizer, ASan + UBSan (clang), valgrind"
src="$here/payload_stress.c"
m=$((n / 40))  # events per producer: half carry payloads, an eighth near 4 KiB
gcc "${warn[@]}" -O2 -g -I"$inc" "$src" -o "$out/payload_stress" -lpthread
"$out/payload_stress" "$m"
clang "${warn[@]}" -O1 -g -fsanitize=thread -I"$inc" "$src" -o "$out/payload_stress_tsan" -lpthread
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/payload_stress_tsan" $((m / 4))
clang "${warn[@]}" -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$inc" "$src" -o "$out/payload_stress_asan" -lpthread
ASAN_OPTIONS="detect_leaks=1 halt_on_error=1" "$out/payload_stress_asan" $((m / 2))
# memcheck on the -O2 build: one compile fewer, and no false report on this code
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --fair-sched=yes "$out/payload_stress" $((m / 40))

echo "tests/c: all builds clean and all runs passed"
