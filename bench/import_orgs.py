"""Import 10,000 and 50,000 organizations from a CSV file over HTTPS: time, memory, health.

Run: .venv/bin/python -m bench.import_orgs [--rows N [N ...]]   (default: 10000 50000)
Target (issue 4): under 10 s for 10,000 rows on these 2-core machines, every row created
and audited. Each size runs on its own fresh primary (served in this process) and
reports the process's peak resident memory during the import above what it held just
before (sampled every 5 ms from /proc/self/status), and the slowest GET /health answered
while the import ran (issue 13, item 4: the health check stays fast). 50,000 rows of this file are
3.8 MB, within the default 4 MiB body limit.
Baseline in the same run: the same number of single-row INSERTs into a scratch table
pipelined in one transaction (the least database work one row each could cost).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import threading
import time
from pathlib import Path

import asyncpg

from bench.harness import ADMIN_PASSWORD, primary, progress


def make_file(rows: int) -> bytes:
    """A CSV with a header, quoted fields, UTF-8 names and CRLF line ends."""
    lines = ["name,display_name,description,account_manager,department,location"]
    for i in range(rows):
        lines.append(
            f'"Client {i:05d}, Ltd",Client{i:05d},"Managed since 2026",admin,Dept {i % 17},Zürich'
        )
    return ("\r\n".join(lines) + "\r\n").encode()


async def baseline(config, rows: int) -> float:
    """Seconds for ``rows`` pipelined INSERTs in one transaction (owner role: the app role
    may not create tables, even temporary ones)."""
    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        await conn.execute("CREATE TEMP TABLE scratch (id int, name text, display_name text)")
        start = time.perf_counter()
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO scratch VALUES ($1, $2, $3)",
                [(i, f"Client {i}", f"Client{i}") for i in range(rows)],
            )
        return time.perf_counter() - start
    finally:
        await conn.close()


def resident_kib() -> int:
    """This process's resident memory (VmRSS) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakMemory:
    """Samples VmRSS in a thread; ``peak`` is the highest value seen while running."""

    def __init__(self) -> None:
        self.before = resident_kib()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, resident_kib())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


async def watch_health(http, stop: asyncio.Event) -> list[float]:
    """GET /health every 50 ms until ``stop``; the latency of each answer."""
    latencies = []
    while not stop.is_set():
        start = time.perf_counter()
        async with http.get("/api/v1/health") as resp:
            await resp.read()
        latencies.append(time.perf_counter() - start)
        try:
            await asyncio.wait_for(stop.wait(), 0.05)
        except TimeoutError:
            pass
    return latencies


async def run(rows: int) -> None:
    """Measure and print."""
    async with primary() as node:
        http = node.session
        async with http.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        async with http.post(
            "/api/v1/me/password",
            headers={"Authorization": f"Bearer {token}"},
            json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "x"},
        ) as resp:
            assert resp.status == 204
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
        body = make_file(rows)
        progress(f"baseline: {rows} pipelined single-row INSERTs")
        base = await baseline(node.config, rows)
        progress(f"importing {rows} organizations ({len(body) / 1e6:.1f} MB) over HTTPS")
        stop = asyncio.Event()
        health = asyncio.create_task(watch_health(http, stop))
        with PeakMemory() as memory:
            start = time.perf_counter()
            async with http.post(
                "/api/v1/orgs/import?filename=orgs.csv", data=io.BytesIO(body), headers=headers
            ) as resp:
                result = await resp.json()
                answer_bytes = resp.content_length or 0
            elapsed = time.perf_counter() - start
        stop.set()
        latencies = await health
        assert resp.status == 200, result
        progress("checking the audit trail")
        async with http.get("/api/v1/orgs/MSPOrg/audit/verify", headers=headers) as resp:
            verify = await resp.json()
        audited = 0
        cursor = None
        while True:
            query = "?operation=org_imported&limit=1000" + (f"&cursor={cursor}" if cursor else "")
            async with http.get(f"/api/v1/orgs/MSPOrg/audit{query}", headers=headers) as resp:
                page = await resp.json()
            audited += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    print(f"rows: {rows}, created: {result['created']}, failed: {result['failed']}")
    print(f"import: {elapsed:.2f} s ({rows / elapsed:.0f} orgs/s); target < 10 s for 10,000 rows")
    print(
        f"audited org_imported events: {audited}; MSPOrg chain ok: {verify['ok']} "
        f"({verify['events']} events)"
    )
    print(f"baseline (bare INSERTs): {base:.2f} s; ratio import / baseline: {elapsed / base:.1f}")
    print(
        f"peak memory during the import: +{(memory.peak - memory.before) / 1024:.0f} MiB "
        f"over {memory.before / 1024:.0f} MiB before (client and server in one process; "
        f"file {len(body) / 1e6:.1f} MB, answer {answer_bytes / 1e6:.1f} MB)"
    )
    if latencies:
        print(
            f"GET /health during the import: {len(latencies)} answers, slowest "
            f"{max(latencies) * 1000:.0f} ms, median "
            f"{sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"
        )


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000])
    args = parser.parse_args()
    for rows in args.rows:
        asyncio.run(run(rows))


if __name__ == "__main__":
    main()
