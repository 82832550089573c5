import asyncio
import socket

import pytest

from loopback import LoopbackServer


@pytest.fixture
def server():
    """A loopback HTTP server, shut down (stalled requests released) after the test."""
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
def refused_url():
    """A URL on 127.0.0.1 whose port is bound but not listening: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/files/10/1"
    finally:
        sock.close()


def run(coro, timeout=120):
    """Runs coro on a fresh event loop; no test waits longer than timeout."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())
