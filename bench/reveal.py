"""Reveal throughput and latency at 32 concurrent HTTPS keep-alive clients, against a
minimal aiohttp + asyncpg baseline measured in the same run; the other hot reads (list the
resources of an org, GET /me, a login) against the same baseline.

Run: .venv/bin/python -m bench.reveal [--requests N] [--concurrency C]
Both servers run as separate processes on loopback; the target (issue 28) is a reveal
ratio >= 0.85 and a reveal p99 < 25 ms at 32 clients on a quiet 2-core machine.

Profiling (development only, issue 28): ``--pg-stats`` loads pg_stat_statements into the
bench's own throwaway cluster and prints what each SQL statement of the reveal run cost
(nested statements of the SQL functions included); ``--py-spy FILE`` records the server
process with py-spy (a development tool, ``pip install py-spy``; FILE.svg: a flame graph,
FILE.txt: collapsed stacks) during the reveal run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

from bench.harness import (
    ADMIN_PASSWORD,
    CpuUse,
    cpu_of,
    database_cpu,
    free_port,
    percentile,
    progress,
    summary_ms,
)
from bench.load import LoadResult, run_load
from server.core.config import load_config
from server.ops.install import init_install
from server.security.tls import client_context

ACCOUNTS = 50
LOGIN_CONCURRENCY = 2  # Argon2id is CPU-bound: more logins at once only queue


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


PG_STATS_CONF = (
    "\n# bench.reveal --pg-stats (development only)\n"
    "shared_preload_libraries = 'pg_stat_statements'\n"
    "pg_stat_statements.track = 'all'\n"
    "track_functions = 'all'\n"
)
PG_STATS_REPORT = (
    "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, "
    "round(mean_exec_time::numeric, 3) AS mean_ms, rows, toplevel, "
    "shared_blks_hit + shared_blks_read AS blocks, "
    "regexp_replace(query, '\\s+', ' ', 'g') AS query "
    "FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' "
    "ORDER BY total_exec_time DESC LIMIT 25"
)
FUNCTION_REPORT = (
    "SELECT funcname, calls, round(total_time::numeric, 1) AS total_ms, "
    "round(self_time::numeric, 1) AS self_ms FROM pg_stat_user_functions "
    "ORDER BY total_time DESC LIMIT 15"
)


def enable_pg_stats(config) -> None:
    """Load pg_stat_statements into the bench's own cluster (stopped; it starts with the
    server): appended after Strongroom's include, so it wins over the managed settings."""
    conf = config.path(config.database.data_dir) / "postgresql.conf"
    with conf.open("a") as handle:
        handle.write(PG_STATS_CONF)


async def superuser_sql(config, *statements: str) -> list[list[asyncpg.Record]]:
    """Run statements as the cluster's superuser in the Strongroom database."""
    conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
    try:
        return [await conn.fetch(statement) for statement in statements]
    finally:
        await conn.close()


def print_pg_stats(report: list[asyncpg.Record], functions: list[asyncpg.Record], n: int) -> None:
    """What each statement cost during the reveal run, per reveal."""
    print(f"pg_stat_statements during the reveal run ({n} reveals; ms per reveal):")
    for row in report:
        print(
            f"  {row['calls']:7d} calls {row['total_ms'] / n:7.3f} ms/reveal "
            f"mean {row['mean_ms']:7.3f} ms rows {row['rows']:6d} "
            f"{'top ' if row['toplevel'] else 'nest'} blk {row['blocks']:7d}  "
            f"{row['query'][:110]}"
        )
    print("pg_stat_user_functions (ms per reveal, total / self):")
    for row in functions:
        print(
            f"  {row['funcname']:28s} {row['calls']:7d} calls "
            f"{row['total_ms'] / n:7.3f} / {row['self_ms'] / n:7.3f}"
        )


async def measured(
    name: str, load, server_pid: int, postmaster: int, cpu: dict[str, CpuUse]
) -> LoadResult:
    """Run ``load`` (a coroutine giving a LoadResult) and add its CPU use to cpu[name]."""
    before = (cpu_of(server_pid), database_cpu(postmaster), time.process_time())
    result = await load
    after = (cpu_of(server_pid), database_cpu(postmaster), time.process_time())
    cpu.setdefault(name, CpuUse()).add(
        *(b - a for a, b in zip(before, after, strict=True)), len(result.latencies)
    )
    return result


def start_py_spy(out: str, pid: int) -> subprocess.Popen:
    """py-spy (a development tool) recording the server process until stopped."""
    fmt = "raw" if out.endswith(".txt") else "flamegraph"
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", fmt, "-o", out, "--rate", "250"],
        stdout=subprocess.DEVNULL,
    )


def stop_py_spy(spy: subprocess.Popen) -> None:
    """Stop the recording; py-spy writes its file on SIGINT."""
    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=60)


def merge(results: list[LoadResult]) -> LoadResult:
    """Rounds of one load as one result: their latencies, wall times and errors added."""
    return LoadResult(
        [x for r in results for x in r.latencies],
        sum(r.wall for r in results),
        sum(r.errors for r in results),
    )


P99_TARGET = 0.025  # seconds (issue 28)


def p99_floor(base: LoadResult, concurrency: int) -> str:
    """What the p99 target asks of this machine, in words.

    With ``concurrency`` clients each waiting for its answer, the mean latency is
    concurrency / throughput (Little's law). A server whose latencies were spread like the
    baseline's (p99 = k x mean, k measured in this run) stays under P99_TARGET only at
    concurrency x k / P99_TARGET requests per second or more; the line says how many and
    how many times the baseline's own throughput that is.
    """
    shape = percentile(base.latencies, 99) / statistics.fmean(base.latencies)
    needed = concurrency * shape / P99_TARGET
    return (
        f"p99 < {P99_TARGET * 1000:.0f} ms at {concurrency} clients, spread like the baseline "
        f"(p99 {shape:.2f} x mean), needs >= {needed:.0f} req/s: "
        f"{needed / base.throughput:.2f} x the baseline's throughput in this run"
    )


def cpu_ceiling(use: CpuUse) -> str:
    """The most reveals per second this machine's cores could give with every one of them
    busy, at the CPU a reveal cost in this run (server + database + this process, the
    client: all on the same machine here), and without the client's share (clients on
    other machines, as in use)."""
    cores = os.cpu_count() or 1
    per = (use.server + use.database + use.client) / max(1, use.requests)
    alone = (use.server + use.database) / max(1, use.requests)
    return (
        f"CPU ceiling: {per * 1000:.2f} ms per reveal on {cores} cores allows at most "
        f"{cores / per:.0f} req/s with the client here, {cores / alone:.0f} req/s without it"
    )


def print_result(name: str, result, base) -> None:
    """One line: throughput, latencies, errors and the ratio to the baseline."""
    print(
        f"{name:27s} {result.throughput:7.0f} req/s; {summary_ms(result.latencies)}; "
        f"errors {result.errors}; ratio {result.throughput / base.throughput:.2f}"
    )


async def run(
    requests: int,
    concurrency: int,
    pg_stats: bool = False,
    py_spy: str | None = None,
    reveal_only: bool = False,
    rounds: int = 3,
) -> None:
    """Measure and print."""
    root = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir="/tmp"))
    root.chmod(0o755)
    home = root / "node"
    port, base_port = free_port(), free_port()
    procs: list[subprocess.Popen] = []
    config = None
    others: dict[str, object] = {}
    cpu: dict[str, CpuUse] = {}
    report: list = []
    functions: list = []
    try:
        progress("initialising a primary")
        await asyncio.to_thread(
            init_install,
            home,
            port=port,
            db_port=free_port(),
            admin_password=ADMIN_PASSWORD,
            progress=progress,
            # A new install asks MSPOrg's administrators for TOTP (issue 27); the bench's
            # admin logs in with a password only (the reveal path is the same either way).
            msp_totp_policy="none",
        )
        conf = home / "conf" / "strongroom.toml"
        config = load_config(conf)
        if pg_stats:
            enable_pg_stats(config)
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
            if pg_stats:
                await superuser_sql(config, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
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

            def resources(i: int):
                return ("GET", f"{server}/api/v1/orgs/MSPOrg/resources", {"headers": auth})

            def me(i: int):
                return ("GET", f"{server}/api/v1/me", {"headers": auth})

            credentials = {"username": "admin", "password": ADMIN_PASSWORD + "!"}

            def login(i: int):
                return ("POST", f"{server}/api/v1/auth/login", {"json": credentials})

            progress("warming up")
            await run_load(session, strongroom, 200, concurrency)
            await run_load(session, minimal, 200, concurrency)
            # Alternate the loads in rounds, so that a busy neighbour on a shared machine
            # weighs on each about alike; profiling looks at one reveal run.
            rounds = 1 if pg_stats or py_spy else max(1, rounds)
            chunk = max(1, requests // rounds)
            loads = {"baseline": minimal, "reveal": strongroom}
            if not reveal_only:
                loads |= {"list resources of an org": resources, "GET /me": me}
            parts: dict[str, list] = {name: [] for name in loads}
            postmaster = int(
                (config.path(config.database.data_dir) / "postmaster.pid").read_text().split()[0]
            )
            for n in range(rounds):
                for name, make in loads.items():
                    progress(f"round {n + 1}/{rounds}: {name}, {chunk} requests")
                    profiled = name == "reveal"
                    if profiled and pg_stats:
                        await superuser_sql(
                            config, "SELECT pg_stat_statements_reset()", "SELECT pg_stat_reset()"
                        )
                    spy = start_py_spy(py_spy, procs[0].pid) if profiled and py_spy else None
                    server_pid = procs[1 if name == "baseline" else 0].pid
                    parts[name].append(
                        await measured(
                            name,
                            run_load(session, make, chunk, concurrency),
                            server_pid,
                            postmaster,
                            cpu,
                        )
                    )
                    if spy is not None:
                        stop_py_spy(spy)
                    if profiled and pg_stats:
                        report, functions = await superuser_sql(
                            config, PG_STATS_REPORT, FUNCTION_REPORT
                        )
            merged = {name: merge(results) for name, results in parts.items()}
            base, ours = merged.pop("baseline"), merged.pop("reveal")
            others.update(merged)
            if not reveal_only:
                logins = max(8, requests // 200)
                progress(f"login: {logins} requests, {LOGIN_CONCURRENCY} concurrent")
                others["login (Argon2id)"] = await run_load(
                    session, login, logins, LOGIN_CONCURRENCY
                )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)
        if config is not None:
            from server.ops.service import embedded_cluster

            embedded_cluster(config).stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"concurrency {concurrency}, {chunk * rounds} requests each in {rounds} alternating "
        f"rounds (logins: {LOGIN_CONCURRENCY} concurrent), HTTPS keep-alive, loopback"
    )
    print(
        f"baseline (SELECT + INSERT):  {base.throughput:7.0f} req/s; "
        f"{summary_ms(base.latencies)}; errors {base.errors}"
    )
    print_result("strongroom reveal:", ours, base)
    for name, result in others.items():
        print_result(f"{name}:", result, base)
    print(
        f"ratio reveal / baseline throughput: {ours.throughput / base.throughput:.2f} "
        "(target >= 0.85, p99 < 25 ms)"
    )
    print(p99_floor(base, concurrency))
    if "reveal" in cpu:
        print(cpu_ceiling(cpu["reveal"]))
    print("CPU per request (user + system; the server is the one answering the load):")
    for name, use in cpu.items():
        print(f"  {name:25s} {use.line()}")
    if pg_stats:
        print_pg_stats(report, functions, chunk)


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--pg-stats", action="store_true", help="print pg_stat_statements of the reveal run"
    )
    parser.add_argument("--py-spy", metavar="FILE", help="record the server with py-spy")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternate the loads in this many rounds"
    )
    parser.add_argument("--reveal-only", action="store_true", help="skip the other hot reads")
    args = parser.parse_args()
    asyncio.run(
        run(
            args.requests,
            args.concurrency,
            args.pg_stats,
            args.py_spy,
            args.reveal_only,
            args.rounds,
        )
    )


if __name__ == "__main__":
    main()
