"""A bounded HTTPS load generator: C concurrent keep-alive clients, N requests, loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from server.ops.collector import settle


@dataclass
class LoadResult:
    """Latencies (seconds) and throughput of one run."""

    latencies: list[float]
    wall: float
    errors: int

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return len(self.latencies) / self.wall


async def run_load(
    session: aiohttp.ClientSession,
    make_request: Callable[[int], tuple],
    requests: int,
    concurrency: int,
) -> LoadResult:
    """Send ``requests`` requests, ``concurrency`` at a time; make_request(i) gives
    (method, url, kwargs).

    The load generator's own garbage collection is settled first (once per process, as
    the server does: server/ops/collector.py): a full collection of the bench process
    (which holds the installer's and the server's modules) took 36-54 ms, and every
    request in flight then looked 40 ms slower whichever server it was sent to.
    """
    settle()
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            method, url, kwargs = make_request(i)
            start = time.perf_counter()
            async with session.request(method, url, **kwargs) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(latencies, time.perf_counter() - start, errors)
