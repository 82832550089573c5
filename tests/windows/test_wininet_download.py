"""Ring.register on a real WinINet session: concurrent downloads from local
HTTP servers, every status event checked (wininet_check.py).

Runs on Windows (the cibuildwheel Windows jobs run it against each wheel).
Elsewhere it is skipped; tests/windows/run-under-wine.sh runs the same
checks with the Windows CPython under Wine."""

import functools
import http.server
import socket
import sys
import threading

import pytest

if sys.platform != "win32":
    pytest.skip("WinINet exists only on Windows; tests/windows/run-under-wine.sh runs "
                "these checks under Wine", allow_module_level=True)

import trickle_server  # noqa: E402  (tests/windows, beside this file)
import wininet_check  # noqa: E402

SIZES = [0, 1, 4095, 65536, 1048576]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class QuietTrickleHandler(trickle_server.TrickleHandler):
    def log_message(self, format, *args):
        pass


def _serve(handler, directory):
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    return httpd, thread


@pytest.fixture
def urls(tmp_path):
    """URL=SIZE arguments for wininet_check: files on http.server, a refused
    port, and a body trickled out slowly so that reads complete later."""
    files = list(enumerate(SIZES)) + [(len(SIZES) + 1, 131072)]
    for k, size in files:
        (tmp_path / f"f{k}.bin").write_bytes(wininet_check.make_body(k, size))
    servers = [_serve(QuietHandler, tmp_path), _serve(QuietTrickleHandler, tmp_path)]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    fast, slow = (httpd.server_address[1] for httpd, _ in servers)
    args = [f"http://127.0.0.1:{fast}/f{k}.bin={size}" for k, size in files[:-1]]
    args.append(f"http://127.0.0.1:{closed_port}/refused=refused")
    k, size = files[-1]
    args.append(f"http://127.0.0.1:{slow}/f{k}.bin={size}")
    try:
        yield args
    finally:
        for httpd, thread in servers:
            httpd.shutdown()
            httpd.server_close()
            thread.join(10)


def test_ring_register_drives_concurrent_downloads_through_wininet(urls):
    wininet_check.run(urls)
