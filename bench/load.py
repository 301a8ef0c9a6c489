"""A bounded HTTPS load generator: C concurrent keep-alive clients, N requests, loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp


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
    (method, url, kwargs)."""
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
