"""A threaded HTTP/1.1 server on 127.0.0.1 for the tests: generated files,
error statuses, and connections that end early.

    /files/<size>/<seed>     200, <size> bytes of content(size, seed)
    /chunked/<size>/<seed>   the same with Transfer-Encoding: chunked
    /redirect/<size>/<seed>  302 to /files/<size>/<seed>
    /loop                    302 to itself, forever
    /status/<code>           <code> with a short body
    /truncate/<size>         Content-Length <size>, half of it, then FIN
    /reset/<size>            Content-Length <size>, half of it, then RST
    /nothing                 closes without answering
    /stall/<size>            headers and one byte, then waits for release

Run as a script it serves in its own process and prints its port; it stops
when its standard input closes.
"""

import functools
import http.server
import random
import socket
import struct
import sys
import threading


@functools.lru_cache(maxsize=64)
def content(size, seed):
    """The bytes of /files/<size>/<seed>: deterministic, incompressible."""
    return random.Random(seed).randbytes(size)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: pytest shows failures, not access logs
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        route, args = parts[0], parts[1:]
        handler = getattr(self, "route_" + route, None)
        if handler is None:
            self.reply(404, b"no such route")
        else:
            handler(*args)

    def reply(self, code, body, headers=()):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route_files(self, size, seed):
        self.reply(200, content(int(size), int(seed)))

    def route_chunked(self, size, seed):
        body = content(int(size), int(seed))
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 10_000):
            piece = body[start:start + 10_000]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def route_redirect(self, size, seed):
        self.reply(302, b"", [("Location", f"/files/{size}/{seed}")])

    def route_loop(self):
        self.reply(302, b"", [("Location", "/loop")])

    def route_status(self, code):
        self.reply(int(code), b"status body that must not reach the file")

    def send_half(self, size):
        body = content(int(size), 0)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()

    def route_truncate(self, size):
        self.send_half(size)
        self.close_connection = True           # the server shuts the socket down: FIN

    def route_reset(self, size):
        self.send_half(size)
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()                 # linger 0: RST instead of FIN

    def route_nothing(self):
        self.close_connection = True

    def route_stall(self, size):
        self.send_response(200)
        self.send_header("Content-Length", size)
        self.end_headers()
        self.wfile.write(b"x")
        self.wfile.flush()
        self.server.stalled.release()           # one count per stalled request
        self.server.release.wait(60)            # bounded: the fixture releases it at teardown
        self.close_connection = True


class LoopbackServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256       # many connections arrive at once; the default is 5

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.release = threading.Event()
        self.stalled = threading.Semaphore(0)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="loopback-server", daemon=True)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.shutdown()
        self.server_close()
        self.thread.join(10)
        return False


if __name__ == "__main__":
    with LoopbackServer() as server:
        print(server.server_address[1], flush=True)
        sys.stdin.read()                        # until the parent closes our stdin
