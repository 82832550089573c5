"""How fast the asyncio Dispatcher routes completions, against plain asyncio.

    PYTHONPATH=src python bench/aio_dispatch.py [--requests N] [--rounds R]

Three cases, interleaved round by round in one process, medians and spread:

register    register() N contexts: futures per second.
routing     then dispatch() batches holding their REQUEST_COMPLETE (and the
            other five events of each request, as cbring._testing.Producers
            sends them) until every future is resolved: completions per
            second.  Target: 1M/s.
e2e         one task per request awaits dispatcher.register(); a native
            producer feeds the ring; the Dispatcher's runner drains and routes:
            requests per second, from the first task to the last result.
plain       the same N tasks awaiting plain loop futures that one callback
            resolves with set_result(): asyncio's own future-resolution rate.
            e2e / plain is the ratio the issue asks to be >= 0.8.
"""

import argparse
import asyncio
import statistics
import time

import cbring
from cbring import _testing, aio

EVENTS = _testing.EVENTS_PER_REQUEST


def filled_ring(requests):
    ring = cbring.Ring(1 << 22)
    with _testing.Producers(ring.status_callback, threads=1, events=EVENTS * requests):
        pass
    return ring


def routing(requests):
    ring = filled_ring(requests)
    batches = []
    while True:
        b = ring.drain(4096)
        if not len(b):
            break
        batches.append(b)

    async def main():
        d = aio.Dispatcher(ring)
        t0 = time.perf_counter()
        futures = [d.register(_testing.context(0, r)) for r in range(requests)]
        t1 = time.perf_counter()
        for b in batches:
            d.dispatch(b)
        t2 = time.perf_counter()
        assert all(f.done() for f in futures) and d.pending == 0
        for f in futures:
            f.exception()   # every 16th is a WinINetError: retrieved, not logged
        return t1 - t0, t2 - t1

    registering, routing_ = asyncio.run(main())
    ring.close()
    return requests / registering, requests / routing_


def e2e(requests):
    async def main():
        ring = cbring.Ring(1 << 16, overflow="spill")
        async with aio.Dispatcher(ring) as d:
            async def one(r):
                return await d.register(_testing.context(0, r))

            t0 = time.perf_counter()
            tasks = [asyncio.ensure_future(one(r)) for r in range(requests)]
            await asyncio.sleep(0)     # every task has registered
            producers = _testing.Producers(ring.status_callback, threads=1,
                                           events=EVENTS * requests).start()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            t1 = time.perf_counter()
            producers.join()
            ring.close()
        assert len(results) == requests
        return t1 - t0

    return requests / asyncio.run(main())


def plain(requests):
    async def main():
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(requests)]

        async def one(f):
            return await f

        def resolve_all():
            for f in futures:
                f.set_result(1)

        t0 = time.perf_counter()
        tasks = [asyncio.ensure_future(one(f)) for f in futures]
        await asyncio.sleep(0)
        loop.call_soon(resolve_all)
        await asyncio.gather(*tasks)
        return time.perf_counter() - t0

    return requests / asyncio.run(main())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rates = {name: [] for name in ("register", "routing", "e2e", "plain")}
    ratios = []
    for _ in range(args.rounds):
        registering, routed = routing(args.requests)
        rates["register"].append(registering)
        rates["routing"].append(routed)
        rates["e2e"].append(e2e(args.requests))
        rates["plain"].append(plain(args.requests))
        ratios.append(rates["e2e"][-1] / rates["plain"][-1])
    print(f"{args.requests} requests, {args.rounds} rounds interleaved; median [min, max]")
    for name, values in rates.items():
        print(f"  {name:8} {statistics.median(values) / 1e3:8.0f}k/s "
              f"[{min(values) / 1e3:.0f}k, {max(values) / 1e3:.0f}k]")
    print(f"  routing vs the 1M/s target: x{statistics.median(rates['routing']) / 1e6:.2f}")
    print(f"  e2e / plain asyncio (target >= 0.80): x{statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}, {max(ratios):.2f}]")


if __name__ == "__main__":
    main()
