"""An HTTP server on 127.0.0.1 that answers every GET with a 302 chain:

    /hop/N/HOST:PORT/PATH  ->  302 /hop/N-1/HOST:PORT/PATH  ...
    /hop/0/HOST:PORT/PATH  ->  302 http://HOST:PORT/PATH

so a client follows N + 1 redirects, the last one to another server.

    python3 redirect_server.py

Binds a port the system picks and prints it as http.server does ("Serving
HTTP on 127.0.0.1 port N ..."), as trickle_server.py does."""

import http.server
import sys

MAX_HOPS = 16


class RedirectHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cbring-redirect-server"

    def do_GET(self):
        parts = self.path.split("/", 3)  # "", "hop", N, HOST:PORT/PATH
        if len(parts) != 4 or parts[1] != "hop" or not parts[2].isdigit() or int(parts[2]) > MAX_HOPS:
            self.send_error(404, f"expected /hop/N/HOST:PORT/PATH with N <= {MAX_HOPS}")
            return
        hops, target = int(parts[2]), parts[3]
        location = f"/hop/{hops - 1}/{target}" if hops else f"http://{target}"
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), RedirectHandler) as httpd:
        port = httpd.server_address[1]
        print(f"Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/), redirecting ...",
              flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
