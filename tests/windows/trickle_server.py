"""python3 -m http.server, but each body goes out 4 KiB every 10 ms, so that
a client's reads find no data yet and WinINet completes them asynchronously.

    python3 trickle_server.py DIRECTORY

Binds 127.0.0.1 on a port the system picks and prints it as http.server
does ("Serving HTTP on 127.0.0.1 port N ...")."""

import functools
import http.server
import sys
import time


class TrickleHandler(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, source, outputfile):
        for _ in range(1 << 20):  # bounded: 4 GiB at most
            chunk = source.read(4096)
            if not chunk:
                return
            outputfile.write(chunk)
            outputfile.flush()
            time.sleep(0.01)


def main(directory):
    handler = functools.partial(TrickleHandler, directory=directory)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        port = httpd.server_address[1]
        print(f"Serving HTTP on 127.0.0.1 port {port} (http://127.0.0.1:{port}/), trickling ...",
              flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1])
