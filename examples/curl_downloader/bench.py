"""Downloads many small files and some large ones from a loopback server with
three clients, side by side in one run, and prints one table:

    cbring+curl   this example: libcurl's multi interface on a native thread,
                  events through a cbring.Ring, results through
                  cbring.aio.Dispatcher (one asyncio.gather of get() calls);
                  one RESPONSE_RECEIVED per MiB
    cbring+curl/chunk  the same with one RESPONSE_RECEIVED per chunk libcurl
                  hands over (progress_step=1), to show what events cost
    pycurl        pycurl.CurlMulti driven from Python (perform / info_read /
                  select), writing through file.write
    aiohttp       aiohttp.ClientSession, one asyncio.gather, iter_chunked

Every client keeps the same number of connections, uses 64 KiB reads,
writes every file (to /dev/shm when it has room, see --dir), and is
checked afterwards (size and sha256 of every file, outside the timed
part).  CPU time is this process's user + system time (all its threads:
the example's native thread counts); the server runs in a process of its
own.  Imports happen before any timing.

    python bench.py            10,000 x 8 KiB and 100 x 8 MiB files
    python bench.py --quick    1,000 x 8 KiB and 10 x 8 MiB files
"""

import argparse
import asyncio
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

KIB = 1024
MIB = 1024 * KIB


# ---- the server: its own process, asyncio, keep-alive, bodies from memory

def _body(size):
    """The body every file of this size has: incompressible, cheap to make."""
    seed = hashlib.sha256(str(size).encode()).digest()
    block = hashlib.shake_256(seed).digest(MIB)
    return (block * (size // MIB + 1))[:size]


def serve(sizes):
    """Serves /<size>/<anything> with _body(size) on 127.0.0.1 until stdin closes."""
    import socket

    bodies = {str(size).encode(): memoryview(_body(size)) for size in sizes}
    chunk = 256 * KIB

    class Serve(asyncio.Protocol):
        def connection_made(self, transport):
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport.set_write_buffer_limits(high=chunk)
            self.transport = transport
            self.buffer = b""
            self.pending = []          # bodies (memoryviews) still to write, oldest first
            self.paused = False

        def data_received(self, data):
            self.buffer += data
            while True:                # one pass per complete request in the buffer
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
                path = head.split(b" ", 2)[1]
                body = bodies.get(path.split(b"/")[1])
                if body is None:
                    self.pending.append(memoryview(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
                    continue
                self.pending.append(memoryview(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                               b"Content-Type: application/octet-stream\r\n\r\n" % len(body)))
                self.pending.append(body)
            self.flush()

        def flush(self):
            # writes in slices while the transport takes them, so that no large
            # body is copied into asyncio's write buffer
            while self.pending and not self.paused:
                view = self.pending[0]
                self.transport.write(view[:chunk])
                if len(view) > chunk:
                    self.pending[0] = view[chunk:]
                else:
                    self.pending.pop(0)

        def pause_writing(self):
            self.paused = True

        def resume_writing(self):
            self.paused = False
            self.flush()

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Serve, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)     # until the parent closes our stdin
        server.close()

    asyncio.run(main())


class Server:
    def __init__(self, sizes):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", *map(str, sizes)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()          # the server prints its port first
        if not line:
            raise RuntimeError("the benchmark server did not start")
        self.base = f"http://127.0.0.1:{int(line)}"

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()


# ---- the clients: each downloads jobs [(url, path)] and returns when all are on disk

CONNECTIONS = 16
BUFFER = 64 * KIB


def run_cbring(jobs, progress_step=1 << 20):
    import cbring
    from curl_downloader import Downloader

    async def main():
        async with Downloader(cbring.Ring(), connections=CONNECTIONS, buffer_size=BUFFER,
                              progress_step=progress_step) as downloader:
            await asyncio.gather(*[downloader.get(url, path) for url, path in jobs])

    asyncio.run(main())


def run_cbring_per_chunk(jobs):
    run_cbring(jobs, progress_step=1)


def run_pycurl(jobs):
    import pycurl

    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, CONNECTIONS)
    free = []
    for _ in range(2 * CONNECTIONS):               # in flight at once, as the example's default
        c = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.BUFFERSIZE, BUFFER)
        c.setopt(pycurl.FAILONERROR, 1)
        free.append(c)
    queue = list(reversed(jobs))
    active = 0
    failed = []
    while queue or active:                          # each pass finishes or waits for >= 1 transfer
        while queue and free:
            url, path = queue.pop()
            c = free.pop()
            c.file = open(path, "wb")
            c.setopt(pycurl.URL, url)
            c.setopt(pycurl.WRITEDATA, c.file)
            multi.add_handle(c)
            active += 1
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            left, ok, errors = multi.info_read()
            for c in ok:
                c.file.close()
                multi.remove_handle(c)
                free.append(c)
                active -= 1
            for c, code, message in errors:
                c.file.close()
                multi.remove_handle(c)
                free.append(c)
                active -= 1
                failed.append(message)
            if not left:
                break
        if active:
            multi.select(1.0)
    if failed:
        raise RuntimeError(f"pycurl: {len(failed)} downloads failed, first: {failed[0]}")


def run_aiohttp(jobs):
    import aiohttp

    async def one(session, url, path):
        async with session.get(url) as response:
            response.raise_for_status()
            with open(path, "wb") as f:
                async for chunk in response.content.iter_chunked(BUFFER):
                    f.write(chunk)

    async def main():
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            await asyncio.gather(*[one(session, url, path) for url, path in jobs])

    asyncio.run(main())


CLIENTS = {"cbring+curl": run_cbring, "cbring+curl/chunk": run_cbring_per_chunk,
           "pycurl": run_pycurl, "aiohttp": run_aiohttp}


# ---- measuring

def measure(client, base, folder, count, size):
    """Downloads count files of size; returns (seconds, cpu seconds) after checking every file."""
    os.makedirs(folder)
    jobs = [(f"{base}/{size}/{i}", os.path.join(folder, f"{i}.bin")) for i in range(count)]
    wall, cpu = time.perf_counter(), time.process_time()
    CLIENTS[client](jobs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    want = hashlib.sha256(_body(size)).digest()
    for _, path in jobs:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) != size or hashlib.sha256(data).digest() != want:
            raise AssertionError(f"{client}: {path} has {len(data)} bytes, or the wrong ones")
    shutil.rmtree(folder)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 small and 10 large files")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every client; the median is reported (default 3, 1 with --quick)")
    parser.add_argument("--small", type=int, default=None, help="number of small files")
    parser.add_argument("--large", type=int, default=None, help="number of large files")
    parser.add_argument("--small-size", type=int, default=8 * KIB)
    parser.add_argument("--large-size", type=int, default=8 * MIB)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated: " + ", ".join(CLIENTS))
    parser.add_argument("--dir", default=None,
                        help="where files are written (default: /dev/shm if it has room, so that the "
                             "file system's own cost and noise stay out; else the temporary folder)")
    parser.add_argument("--serve", nargs="*", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)

    small = args.small if args.small is not None else (1_000 if args.quick else 10_000)
    large = args.large if args.large is not None else (10 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 3)
    clients = args.clients.split(",")
    for client in clients:
        if client not in CLIENTS:
            parser.error(f"unknown client {client!r}; choose from {', '.join(CLIENTS)}")

    # every client's imports happen here, not in its first timed run
    if "aiohttp" in clients:
        import aiohttp  # noqa: F401
    import pycurl

    import cbring  # noqa: F401
    from curl_downloader import Downloader, _native  # noqa: F401
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}; example: libcurl {_native.curl_version()}; {pycurl.version.split()[1]}")
    print(f"{small} x {args.small_size // KIB} KiB and {large} x {args.large_size // MIB} MiB files, "
          f"{CONNECTIONS} connections, {rounds} round(s) in rotating order, median reported")

    folder = args.dir
    if folder is None and os.path.isdir("/dev/shm"):
        if shutil.disk_usage("/dev/shm").free > 2 * (small * args.small_size + large * args.large_size):
            folder = "/dev/shm"
    root = tempfile.mkdtemp(prefix="cbring-bench-", dir=folder)
    print(f"files are written to {root}, and deleted after each client's run")

    phases = [("small", small, args.small_size), ("large", large, args.large_size)]
    results = {}                                     # (client, phase) -> [(wall, cpu)]
    server = Server([args.small_size, args.large_size])
    try:
        for r in range(rounds):
            for phase, count, size in phases:
                if not count:
                    continue
                # side by side against the same server, one after the other; the
                # order rotates each round so that no client always goes first
                for client in clients[r % len(clients):] + clients[:r % len(clients)]:
                    folder = os.path.join(root, f"{client}-{phase}-{r}")
                    results.setdefault((client, phase), []).append(measure(client, server.base, folder, count, size))
    finally:
        server.close()
        shutil.rmtree(root, ignore_errors=True)

    print()
    rows = []
    for client in clients:
        row = [client]
        for phase, count, size in phases:
            if not count:
                row += ["-"] * 3
                continue
            wall = statistics.median(w for w, _ in results[(client, phase)])
            cpu = statistics.median(c for _, c in results[(client, phase)])
            row += [f"{count / wall:,.0f}", f"{count * size / wall / MIB:,.0f}", f"{cpu / count * 1e3:.3f}"]
        rows.append(row)
    header = ["client", "small files/s", "small MB/s", "small CPU ms/file",
              "large files/s", "large MB/s", "large CPU ms/file"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    for row in rows:
        print(line(row))
    if "cbring+curl" in clients and len(clients) > 1:
        print("\ncbring+curl against each other client, in the same run: files/s as a multiple of"
              " theirs (> 1: cbring+curl is faster), CPU per file as a multiple of theirs"
              " (< 1: cbring+curl spends less):")
        for phase, count, _ in phases:
            if not count:
                continue
            base_wall = statistics.median(w for w, _ in results[("cbring+curl", phase)])
            base_cpu = statistics.median(c for _, c in results[("cbring+curl", phase)])
            for client in clients:
                if client == "cbring+curl":
                    continue
                wall = statistics.median(w for w, _ in results[(client, phase)])
                cpu = statistics.median(c for _, c in results[(client, phase)])
                print(f"  {phase:5} cbring+curl vs {client:17} files/s x{wall / base_wall:.2f}, "
                      f"CPU per file x{base_cpu / cpu:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
