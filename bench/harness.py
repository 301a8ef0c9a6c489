"""A throwaway primary for benchmarks: init into a scratch dir, serve in-process over HTTPS."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from server.core.config import Config, load_config
from server.ops.install import init_install
from server.ops.service import embedded_cluster
from server.security.tls import client_context, server_context
from server.web.app import create_app

ADMIN_PASSWORD = "bench-Admin-password-1"


def free_port() -> int:
    """A loopback TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def progress(message: str) -> None:
    """One progress line on stderr."""
    print(f"  … {message}", file=sys.stderr, flush=True)


def percentile(samples: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank)."""
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(samples: list[float]) -> str:
    """p50/p95/p99 of samples in seconds, shown in milliseconds."""
    return (
        f"p50 {percentile(samples, 50) * 1000:.1f} ms, "
        f"p95 {percentile(samples, 95) * 1000:.1f} ms, "
        f"p99 {percentile(samples, 99) * 1000:.1f} ms, "
        f"mean {statistics.fmean(samples) * 1000:.1f} ms"
    )


@dataclass
class Node:
    """A running benchmark node."""

    config: Config
    url: str
    session: aiohttp.ClientSession


@asynccontextmanager
async def primary(tune=None) -> AsyncIterator[Node]:
    """Make a fresh primary in /tmp, serve it on loopback, clean everything up afterwards."""
    root = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir="/tmp"))
    root.chmod(0o755)
    home = root / "node"
    progress(f"initialising a primary in {home}")
    await asyncio.to_thread(
        init_install,
        home,
        port=free_port(),
        db_port=free_port(),
        admin_password=ADMIN_PASSWORD,
        progress=progress,
        msp_totp_policy="none",  # a scratch node driven by scripts: no 2FA enrolment first
    )
    config = load_config(home / "conf" / "strongroom.toml")
    config.server.host = "127.0.0.1"
    config.outbound.allow_loopback = True  # the benches' targets and receivers are on loopback
    if tune:
        tune(config)
    cluster = embedded_cluster(config)
    cluster.start()
    runner = None
    try:
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(
            runner,
            "127.0.0.1",
            config.server.port,
            ssl_context=server_context(
                config.path(config.server.tls_cert), config.path(config.server.tls_key)
            ),
        )
        await site.start()
        url = f"https://127.0.0.1:{config.server.port}"
        connector = aiohttp.TCPConnector(
            ssl=client_context(config.path(config.server.tls_cert)), limit=256
        )
        async with aiohttp.ClientSession(url, connector=connector) as session:
            yield Node(config, url, session)
    finally:
        if runner is not None:
            await runner.cleanup()
        cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def cpu_of(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) process ``pid`` used so far; with ``children``, also
    those of its children that ended (PostgreSQL's exited backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def database_cpu(postmaster: int) -> float:
    """CPU seconds of the bench's PostgreSQL: the postmaster, its live children (backends,
    WAL writer, checkpointer, ...) and the children that ended."""
    total = cpu_of(postmaster, children=True)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            total += cpu_of(int(stat.parent.name))
    return total


@dataclass
class CpuUse:
    """CPU milliseconds per request of each side of one load: the HTTP server answering
    it, the database and the load's client (this process). On a shared machine this moves
    far less than throughput does: it says where a request's work is (issue 28)."""

    server: float = 0.0
    database: float = 0.0
    client: float = 0.0
    requests: int = 0
    receiver: float | None = None  # a receiver's (bench.forwarding: rsyslog), when there is one

    def add(
        self,
        server: float,
        database: float,
        client: float,
        requests: int,
        receiver: float | None = None,
    ) -> None:
        """Add one run's CPU seconds and its request count."""
        self.server += server
        self.database += database
        self.client += client
        self.requests += requests
        if receiver is not None:
            self.receiver = (self.receiver or 0.0) + receiver

    def line(self) -> str:
        """'server x ms, database y ms, client z ms[, receiver r ms]' per request."""
        n = max(1, self.requests) / 1000
        text = (
            f"server {self.server / n:.3f} ms, database {self.database / n:.3f} ms, "
            f"client {self.client / n:.3f} ms"
        )
        if self.receiver is not None:
            text += f", receiver {self.receiver / n:.3f} ms"
        return text
