"""Login latency over HTTPS, against the bare Argon2id verify it is built on.

Run: .venv/bin/python -m bench.login [--logins N] [--concurrency C]
Prints p50/p95/p99 login latency, the Argon2id parameters, and the ratio of the
login p50 to a bare Argon2id verify p50 measured in the same run (the floor).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.harness import ADMIN_PASSWORD, percentile, primary, progress, summary_ms
from server.services.runtime import hasher_for


async def run(logins: int, concurrency: int) -> None:
    """Measure and print."""
    async with primary() as node:
        hasher = hasher_for(node.config)
        progress(f"baseline: {logins} bare Argon2id verifies")
        phc = hasher.hash_sync(ADMIN_PASSWORD)
        bare = []
        for _ in range(logins):
            start = time.perf_counter()
            await hasher.verify(ADMIN_PASSWORD, phc)
            bare.append(time.perf_counter() - start)

        body = {"username": "admin", "password": ADMIN_PASSWORD}

        async def one() -> float:
            start = time.perf_counter()
            async with node.session.post("/api/v1/auth/login", json=body) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            return time.perf_counter() - start

        await one()  # warm the pool and TLS session
        progress(f"{logins} sequential logins over HTTPS")
        sequential = [await one() for _ in range(logins)]
        progress(f"{logins} logins, {concurrency} at a time")
        sem = asyncio.Semaphore(concurrency)

        async def limited() -> float:
            async with sem:
                return await one()

        start = time.perf_counter()
        concurrent = await asyncio.gather(*(limited() for _ in range(logins)))
        wall = time.perf_counter() - start

    print(f"password hashing: {hasher.params.describe()}")
    print(f"bare Argon2id verify:      {summary_ms(bare)}")
    print(f"login, sequential:         {summary_ms(sequential)}")
    print(
        f"login, {concurrency} concurrent:      {summary_ms(concurrent)} "
        f"({logins / wall:.1f} logins/s)"
    )
    ratio = percentile(sequential, 50) / percentile(bare, 50)
    print(f"ratio login p50 / bare verify p50: {ratio:.2f} (1.00 = login costs only the hash)")


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.logins, args.concurrency))


if __name__ == "__main__":
    main()
