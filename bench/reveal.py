"""Reveal throughput and latency at 32 concurrent HTTPS keep-alive clients, against a
minimal aiohttp + asyncpg baseline measured in the same run.

Run: .venv/bin/python -m bench.reveal [--requests N] [--concurrency C]
Both servers run as separate processes on loopback; the target is a ratio >= 0.7.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from bench.harness import ADMIN_PASSWORD, free_port, progress, summary_ms
from bench.load import run_load
from server.core.config import load_config
from server.ops.install import init_install
from server.security.tls import client_context

ACCOUNTS = 50


async def wait_for(session: aiohttp.ClientSession, url: str, timeout: float = 30) -> None:
    """Poll until the URL answers at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as resp:
                await resp.read()
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


async def prepare_vault(session: aiohttp.ClientSession, base: str) -> tuple[str, list[str]]:
    """Log in, create one resource with ACCOUNTS accounts; return (token, account ids)."""
    async with session.post(
        f"{base}/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    ) as r:
        token = (await r.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with session.post(
        f"{base}/api/v1/me/password",
        headers=auth,
        json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "!"},
    ) as r:
        assert r.status == 204
    async with session.post(
        f"{base}/api/v1/orgs/MSPOrg/resources",
        headers=auth,
        json={"name": "bench", "type": "Linux"},
    ) as r:
        resource = (await r.json())["id"]
    ids = []
    for i in range(ACCOUNTS):
        async with session.post(
            f"{base}/api/v1/orgs/MSPOrg/resources/{resource}/accounts",
            headers=auth,
            json={"username": f"u{i}", "generate": True},
        ) as r:
            ids.append((await r.json())["id"])
    return token, ids


async def prepare_baseline(config) -> None:
    """Tables for the baseline handler, made by the owner role, usable by the app role."""
    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        await conn.execute(
            "CREATE TABLE bench_items (id int PRIMARY KEY, secret text NOT NULL);"
            "CREATE TABLE bench_log (id bigserial PRIMARY KEY, item_id int NOT NULL, "
            "at timestamptz NOT NULL DEFAULT now());"
            f'GRANT SELECT ON bench_items TO "{config.database.app_user}";'
            f'GRANT INSERT ON bench_log TO "{config.database.app_user}";'
            f'GRANT USAGE ON SEQUENCE bench_log_id_seq TO "{config.database.app_user}";'
        )
        await conn.executemany(
            "INSERT INTO bench_items VALUES ($1, $2)", [(i, f"secret-{i}") for i in range(ACCOUNTS)]
        )
    finally:
        await conn.close()


async def run(requests: int, concurrency: int) -> None:
    """Measure and print."""
    root = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir="/tmp"))
    root.chmod(0o755)
    home = root / "node"
    port, base_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    config = None
    try:
        progress("initialising a primary")
        await asyncio.to_thread(
            init_install,
            home,
            port=port,
            db_port=free_port(),
            admin_password=ADMIN_PASSWORD,
            progress=progress,
        )
        conf = home / "conf" / "strongroom.toml"
        config = load_config(conf)
        log = (home / "logs" / "bench-server.out").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "server.ops.cli", "serve", "--config", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        connector = aiohttp.TCPConnector(
            ssl=client_context(home / "conf" / "tls.crt"), limit=concurrency
        )
        async with aiohttp.ClientSession(connector=connector) as session:
            server = f"https://127.0.0.1:{port}"
            await wait_for(session, f"{server}/api/v1/health")
            progress(f"creating {ACCOUNTS} accounts")
            token, ids = await prepare_vault(session, server)
            await prepare_baseline(config)
            app_dsn = {k: v for k, v in config.app_dsn().items() if k != "timeout"}
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.baseline_server",
                        "--dsn",
                        json.dumps(app_dsn),
                        "--port",
                        str(base_port),
                        "--cert",
                        str(home / "conf" / "tls.crt"),
                        "--key",
                        str(home / "conf" / "tls.key"),
                    ]
                )
            )
            baseline_url = f"https://127.0.0.1:{base_port}"
            await wait_for(session, f"{baseline_url}/")

            auth = {"Authorization": f"Bearer {token}"}

            def strongroom(i: int):
                return (
                    "POST",
                    f"{server}/api/v1/orgs/MSPOrg/accounts/{ids[i % len(ids)]}/reveal",
                    {"headers": auth, "json": {}},
                )

            def minimal(i: int):
                return ("POST", f"{baseline_url}/reveal/{i % ACCOUNTS}", {})

            progress("warming up")
            await run_load(session, strongroom, 200, concurrency)
            await run_load(session, minimal, 200, concurrency)
            progress(f"baseline: {requests} requests, {concurrency} concurrent")
            base = await run_load(session, minimal, requests, concurrency)
            progress(f"strongroom reveal: {requests} requests, {concurrency} concurrent")
            ours = await run_load(session, strongroom, requests, concurrency)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        if config is not None:
            from server.ops.service import embedded_cluster

            embedded_cluster(config).stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
    print(f"concurrency {concurrency}, {requests} requests each, HTTPS keep-alive, loopback")
    print(
        f"baseline (SELECT + INSERT): {base.throughput:7.0f} req/s; {summary_ms(base.latencies)};"
        f" errors {base.errors}"
    )
    print(
        f"strongroom reveal:          {ours.throughput:7.0f} req/s; "
        f"{summary_ms(ours.latencies)}; errors {ours.errors}"
    )
    print(
        f"ratio reveal / baseline throughput: {ours.throughput / base.throughput:.2f} "
        "(target >= 0.7)"
    )


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency))


if __name__ == "__main__":
    main()
