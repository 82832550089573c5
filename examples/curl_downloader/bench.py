"""Downloads many small files and some large ones from a loopback server with
several clients, interleaved in one run, and prints one table:

    cbring+curl/set    this example, Downloader.get_all(): one awaitable for
                       the whole set of downloads
    cbring+curl        this example, one asyncio.gather of Downloader.get()
                       calls: a task and a future per download
    cbring+curl/chunk  get() with one RESPONSE_RECEIVED per chunk libcurl
                       hands over (progress_step=1), to show what events cost
    pycurl             pycurl.CurlMulti driven from Python (perform /
                       info_read / select), writing through file.write
    aiohttp            aiohttp.ClientSession, one asyncio.gather, iter_chunked

Every client does the same work: the same files from the same server, the
same connections and transfers in flight, 64 KiB reads, every body written
to its own file (to /dev/shm when it has room, see --dir), and one result
per download, the example's Transfer(context, handle, received, result),
with the bytes received taken from the client (the sum of RESPONSE_RECEIVED;
pycurl's SIZE_DOWNLOAD; aiohttp's chunks).  Afterwards, outside the timed
part, every result is checked (a success, received == size) and every file
(size and sha256).  CPU time is this process's user + system time (every
thread: the example's native thread counts); the server runs in a process
of its own.  Imports, and a first Ring, happen before any timing.

    python bench.py                  10,000 x 8 KiB and 100 x 8 MiB files, 5 rounds
    python bench.py --quick          1,000 x 8 KiB and 10 x 8 MiB files, 3 rounds
    python bench.py --instructions   also instructions per small download, per
                                     client, counted by valgrind (cachegrind)
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


# the server: its own process, asyncio, keep-alive, bodies from memory

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


# the clients: each downloads jobs [(url, path)] and returns one result per job

CONNECTIONS = 16
IN_FLIGHT = 2 * CONNECTIONS      # transfers at once: the example's default max_transfers
BUFFER = 64 * KIB
PROGRESS_STEP = 1 << 20          # the example's default


def run_cbring(jobs, progress_step=PROGRESS_STEP):
    import cbring
    from curl_downloader import Downloader

    async def main():
        async with Downloader(cbring.Ring(), connections=CONNECTIONS, max_transfers=IN_FLIGHT,
                              buffer_size=BUFFER, progress_step=progress_step) as downloader:
            return await asyncio.gather(*[downloader.get(url, path) for url, path in jobs])

    return asyncio.run(main())


def run_cbring_set(jobs):
    import cbring
    from curl_downloader import Downloader

    async def main():
        async with Downloader(cbring.Ring(), connections=CONNECTIONS, max_transfers=IN_FLIGHT,
                              buffer_size=BUFFER, progress_step=PROGRESS_STEP) as downloader:
            return await downloader.get_all(jobs)

    return asyncio.run(main())


def run_cbring_per_chunk(jobs):
    return run_cbring(jobs, progress_step=1)


def run_pycurl(jobs):
    import cbring
    import pycurl
    from curl_downloader import Transfer

    ok = cbring.AsyncResult(1, 0)
    multi = pycurl.CurlMulti()
    multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, CONNECTIONS)
    multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, CONNECTIONS)
    free = []
    for _ in range(IN_FLIGHT):
        c = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.BUFFERSIZE, BUFFER)
        c.setopt(pycurl.FAILONERROR, 1)
        c.setopt(pycurl.FOLLOWLOCATION, 1)
        free.append(c)
    results = [None] * len(jobs)
    queue = list(reversed(range(len(jobs))))
    active = 0
    failed = []

    def done(c, error=None):
        c.file.close()
        if error is None:
            results[c.index] = Transfer(c.index + 1, c.index + 1, int(c.getinfo(pycurl.SIZE_DOWNLOAD_T)), ok)
        else:
            failed.append(error)
        multi.remove_handle(c)
        free.append(c)

    while queue or active:                          # each pass finishes or waits for >= 1 transfer
        while queue and free:
            i = queue.pop()
            url, path = jobs[i]
            c = free.pop()
            c.index = i
            c.file = open(path, "wb")
            c.setopt(pycurl.URL, url)
            c.setopt(pycurl.WRITEDATA, c.file)
            multi.add_handle(c)
            active += 1
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            left, oks, errors = multi.info_read()
            for c in oks:
                done(c)
                active -= 1
            for c, code, message in errors:
                done(c, message)
                active -= 1
            if not left:
                break
        if active:
            multi.select(1.0)
    if failed:
        raise RuntimeError(f"pycurl: {len(failed)} downloads failed, first: {failed[0]}")
    return results


def run_aiohttp(jobs):
    import aiohttp
    import cbring
    from curl_downloader import Transfer

    ok = cbring.AsyncResult(1, 0)

    async def one(session, i, url, path):
        received = 0
        async with session.get(url) as response:
            response.raise_for_status()
            with open(path, "wb") as f:
                async for chunk in response.content.iter_chunked(BUFFER):
                    f.write(chunk)
                    received += len(chunk)
        return Transfer(i + 1, i + 1, received, ok)

    async def main():
        connector = aiohttp.TCPConnector(limit=CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            return await asyncio.gather(*[one(session, i, url, path) for i, (url, path) in enumerate(jobs)])

    return asyncio.run(main())


CLIENTS = {"cbring+curl/set": run_cbring_set, "cbring+curl": run_cbring,
           "cbring+curl/chunk": run_cbring_per_chunk, "pycurl": run_pycurl, "aiohttp": run_aiohttp}
DEFAULT_CLIENTS = "cbring+curl/set,cbring+curl,pycurl,aiohttp"
SETTINGS = {
    "cbring+curl/set": f"Downloader.get_all, connections={CONNECTIONS}, max_transfers={IN_FLIGHT}, "
                       f"buffer_size={BUFFER}, progress_step={PROGRESS_STEP}",
    "cbring+curl": f"gather of Downloader.get, connections={CONNECTIONS}, max_transfers={IN_FLIGHT}, "
                   f"buffer_size={BUFFER}, progress_step={PROGRESS_STEP}",
    "cbring+curl/chunk": f"gather of Downloader.get, connections={CONNECTIONS}, max_transfers={IN_FLIGHT}, "
                         f"buffer_size={BUFFER}, progress_step=1",
    "pycurl": f"CurlMulti, MAX_TOTAL/HOST_CONNECTIONS={CONNECTIONS}, {IN_FLIGHT} reused easy handles, "
              f"BUFFERSIZE={BUFFER}, NOSIGNAL, FAILONERROR, FOLLOWLOCATION, WRITEDATA=file",
    "aiohttp": f"ClientSession, TCPConnector(limit={CONNECTIONS}), gather, iter_chunked({BUFFER}), "
               f"auto_decompress=False",
}


# measuring

def measure(client, base, folder, count, size, check_files=True):
    """Downloads count files of size; returns (seconds, cpu seconds) after
    checking every result and (unless check_files is false) every file."""
    os.makedirs(folder)
    jobs = [(f"{base}/{size}/{i}", os.path.join(folder, f"{i}.bin")) for i in range(count)]
    wall, cpu = time.perf_counter(), time.process_time()
    results = CLIENTS[client](jobs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if len(results) != count:
        raise AssertionError(f"{client}: {len(results)} results for {count} downloads")
    for result in results:
        if isinstance(result, BaseException):
            raise AssertionError(f"{client}: a download failed: {result!r}")
        if result.received != size or result.result.dwResult != 1:
            raise AssertionError(f"{client}: {result!r} for a file of {size} bytes")
    want = hashlib.sha256(_body(size)).digest() if check_files else None
    for _, path in jobs if check_files else ():
        with open(path, "rb") as f:
            data = f.read()
        if len(data) != size or hashlib.sha256(data).digest() != want:
            raise AssertionError(f"{client}: {path} has {len(data)} bytes, or the wrong ones")
    shutil.rmtree(folder)
    return wall, cpu


def spread(values, fmt):
    """median [min-max] of values."""
    values = sorted(values)
    return f"{fmt(statistics.median(values))} [{fmt(values[0])}-{fmt(values[-1])}]"


def instructions(client, count, size, folder):
    """Instructions per download of this process (every thread, the server's
    not; the files' checks left out), from two runs under valgrind (cachegrind, no cache simulation), of
    count and count // 5 downloads: the difference cancels start-up."""
    import re
    counts = []
    for n in (count // 5, count):
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, __file__, "--one", client, "--small", str(n), "--small-size", str(size),
             "--dir", folder],
            capture_output=True, text=True, check=True).stderr
        counts.append(int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", "")))
    return (counts[1] - counts[0]) / (count - count // 5)


def run_one(client, count, size, folder):
    """--one: one run of one client, for valgrind; it checks the results but
    not the files, whose sha256 would cost more instructions than a download."""
    import cbring
    cbring.Ring()
    server = Server([size])
    try:
        measure(client, server.base, tempfile.mkdtemp(prefix="cbring-one-", dir=folder) + "/f", count, size, check_files=False)
    finally:
        server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 small and 10 large files, 3 rounds")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every client, interleaved; medians and spread are reported "
                             "(default 5, 3 with --quick)")
    parser.add_argument("--small", type=int, default=None, help="number of small files")
    parser.add_argument("--large", type=int, default=None, help="number of large files")
    parser.add_argument("--small-size", type=int, default=8 * KIB)
    parser.add_argument("--large-size", type=int, default=8 * MIB)
    parser.add_argument("--clients", default=DEFAULT_CLIENTS, help="comma-separated, from: " + ", ".join(CLIENTS))
    parser.add_argument("--dir", default=None,
                        help="where files are written (default: /dev/shm if it has room, so that the "
                             "file system's own cost and noise stay out; else the temporary folder)")
    parser.add_argument("--instructions", type=int, nargs="?", const=2000, default=None, metavar="N",
                        help="also count instructions per small download with valgrind, from runs of "
                             "N and N/5 downloads (default N: 2000)")
    parser.add_argument("--serve", nargs="*", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        return serve(args.serve)
    if args.one is not None:
        return run_one(args.one, args.small, args.small_size, args.dir)

    small = args.small if args.small is not None else (1_000 if args.quick else 10_000)
    large = args.large if args.large is not None else (10 if args.quick else 100)
    rounds = args.rounds or (3 if args.quick else 5)
    clients = args.clients.split(",")
    for client in clients:
        if client not in CLIENTS:
            parser.error(f"unknown client {client!r}; choose from {', '.join(CLIENTS)}")

    # every client's imports happen here, not in its first timed run
    if "aiohttp" in clients:
        import aiohttp  # noqa: F401
    import pycurl

    import cbring
    from curl_downloader import Downloader, _native  # noqa: F401
    cbring.Ring()                                    # the first Ring's one-time set-up
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.machine()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"example: {_native.curl_version().split()[0]}; {pycurl.version.split()[0]} on "
          f"{pycurl.version.split()[1]}")
    print(f"{small} x {args.small_size // KIB} KiB and {large} x {args.large_size // MIB} MiB files, "
          f"{rounds} interleaved round(s) in rotating order; median [min-max] of the rounds")
    for client in clients:
        print(f"  {client:17} {SETTINGS[client]}")

    folder = args.dir
    if folder is None and os.path.isdir("/dev/shm"):
        if shutil.disk_usage("/dev/shm").free > 2 * (small * args.small_size + large * args.large_size):
            folder = "/dev/shm"
    root = tempfile.mkdtemp(prefix="cbring-bench-", dir=folder)
    print(f"files are written to {root}, and deleted after each client's run")

    phases = [("small", small, args.small_size), ("large", large, args.large_size)]
    results = {}                                     # (client, phase) -> [(wall, cpu)] per round
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
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    print()
    rows = []
    for client in clients:
        row = [client]
        for phase, count, size in phases:
            if not count:
                row += ["-"] * 2
                continue
            runs = results[(client, phase)]
            row += [spread([count / w for w, _ in runs], lambda x: f"{x:,.0f}"),
                    spread([c / count * 1e6 for _, c in runs], lambda x: f"{x:,.1f}")]
        rows.append(row)
    header = ["client", "small files/s", "small CPU us/file", "large files/s", "large CPU us/file"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    for row in rows:
        print(line(row))
    print(f"load average after the runs: {load}")
    ours = [c for c in clients if c.startswith("cbring")]
    if "pycurl" in clients and ours:
        print("\ncbring / pycurl, per round (the same round's runs, side by side), median [min-max]:"
              "\n  speed = cbring files/s / pycurl files/s (> 1: cbring is faster);"
              " CPU = cbring CPU per file / pycurl CPU per file (< 1: cbring spends less)")
        for phase, count, _ in phases:
            if not count:
                continue
            theirs = results[("pycurl", phase)]
            for client in ours:
                mine = results[(client, phase)]
                speed = [tw / mw for (mw, _), (tw, _) in zip(mine, theirs)]
                cpu = [mc / tc for (_, mc), (_, tc) in zip(mine, theirs)]
                print(f"  {phase:5} {client:17} / pycurl: speed {spread(speed, lambda x: f'{x:.2f}')}, "
                      f"CPU {spread(cpu, lambda x: f'{x:.2f}')}")
    if args.instructions:
        if shutil.which("valgrind") is None:
            print("\n--instructions: valgrind is not installed (apt-get install valgrind)")
        else:
            n = args.instructions
            print(f"\ninstructions per small download (valgrind, this process, every thread; "
                  f"runs of {n} and {n // 5} downloads, the difference):")
            counted = {client: instructions(client, n, args.small_size, root) for client in clients}
            for client in clients:
                rel = f", x{counted[client] / counted['pycurl']:.2f} pycurl's" if "pycurl" in counted else ""
                print(f"  {client:17} {counted[client]:,.0f}{rel}")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
