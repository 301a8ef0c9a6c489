"""Import 10,000 organizations from a CSV file over HTTPS and time it.

Run: .venv/bin/python -m bench.import_orgs [--rows N]
Target (issue 4): under 10 s on these 2-core machines, every row created and audited.
Baseline in the same run: the same number of single-row INSERTs into a scratch table
pipelined in one transaction (the least database work one row each could cost).
"""

from __future__ import annotations

import argparse
import asyncio
import time

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
        start = time.perf_counter()
        async with http.post(
            "/api/v1/orgs/import?filename=orgs.csv", data=body, headers=headers
        ) as resp:
            result = await resp.json()
        elapsed = time.perf_counter() - start
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


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    asyncio.run(run(args.rows))


if __name__ == "__main__":
    main()
