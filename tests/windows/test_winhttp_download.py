"""Ring.register_winhttp on a real WinHTTP session: examples/winhttp_downloader's
concurrent downloads from local HTTP servers, a 302 chain and a refused port
among them, every event checked (winhttp_check.py).

Runs on Windows (the cibuildwheel Windows jobs run it against each wheel,
against Windows' own WinHTTP).  Elsewhere it is skipped;
tests/windows/run-under-wine.sh runs the same checks under Wine."""

import functools
import http.server
import os
import socket
import sys
import threading

import pytest

if sys.platform != "win32":
    pytest.skip("WinHTTP exists only on Windows; tests/windows/run-under-wine.sh runs "
                "these checks under Wine", allow_module_level=True)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples", "winhttp_downloader"))

import redirect_server  # noqa: E402  (tests/windows, beside this file)
import trickle_server  # noqa: E402
import winhttp_check  # noqa: E402

SIZES = [0, 1, 4095, 65536, 1048576]
CHAIN = 3  # the 1 MB body, through /hop/1/: two redirects


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class QuietTrickleHandler(trickle_server.TrickleHandler):
    def log_message(self, format, *args):
        pass


class QuietRedirectHandler(redirect_server.RedirectHandler):
    def log_message(self, format, *args):
        pass


def _serve(handler):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


@pytest.fixture
def urls(tmp_path):
    """URL=SIZE arguments for winhttp_check, the k-th body make_body(k, size):
    files on http.server (one of them behind redirects), a refused port,
    and, last, a body trickled out slowly so that reads find little data."""
    slow_k, slow_size = len(SIZES) + 1, 131072  # after the refused URL: last
    for k, size in list(enumerate(SIZES)) + [(slow_k, slow_size)]:
        (tmp_path / f"f{k}.bin").write_bytes(winhttp_check.make_body(k, size))
    servers = [_serve(functools.partial(QuietHandler, directory=str(tmp_path))),
               _serve(functools.partial(QuietTrickleHandler, directory=str(tmp_path))),
               _serve(QuietRedirectHandler)]
    fast, slow, hops = (httpd.server_address[1] for httpd, _ in servers)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    args = [f"http://127.0.0.1:{fast}/f{k}.bin={size}" for k, size in enumerate(SIZES)]
    args[CHAIN] = f"http://127.0.0.1:{hops}/hop/1/127.0.0.1:{fast}/f{CHAIN}.bin={SIZES[CHAIN]}"
    args.append(f"http://127.0.0.1:{closed_port}/refused=refused")
    args.append(f"http://127.0.0.1:{slow}/f{slow_k}.bin={slow_size}")
    try:
        yield args
    finally:
        for httpd, thread in servers:
            httpd.shutdown()
            httpd.server_close()
            thread.join(10)


@pytest.mark.parametrize("round_name", list(winhttp_check.ROUNDS))
def test_register_winhttp_drives_concurrent_downloads_through_winhttp(urls, round_name):
    winhttp_check.run(urls, [round_name])
