"""SIEM forwarding under load (issue 31): audit events per second forwarded to a real
rsyslog over TLS while reveals run, and the reveal throughput with forwarding on against
off in the same run (alternating rounds, so drift hits both alike).

Run (as root, with rsyslog and rsyslog-gnutls installed):
    .venv/bin/python -m bench.forwarding [--requests N] [--concurrency C] [--rounds R]
The server runs as its own process (``strongroom serve``), rsyslogd as another, both on
loopback. Target: reveal throughput with forwarding on >= 0.95 of off.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.harness import ADMIN_PASSWORD, CpuUse, cpu_of, database_cpu, free_port, progress
from bench.load import run_load
from bench.reveal import ACCOUNTS, wait_for
from server.core.config import load_config
from server.ops.install import init_install
from server.security.tls import client_context
from tests.targets.rsyslog import Rsyslog


async def _call(session, method: str, url: str, token: str, body=None) -> dict:
    async with session.request(
        method, url, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as answer:
        data = await answer.json(content_type=None) if answer.status != 204 else {}
        if answer.status >= 300:
            raise RuntimeError(f"{method} {url}: {answer.status} {data}")
        return data


async def prepare_vault(session, server: str) -> tuple[str, list[str]]:
    """Log in (changing the first password, then again), make one resource with
    ACCOUNTS accounts; return (token, account ids)."""
    api = f"{server}/api/v1"
    async with session.post(
        f"{api}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    ) as answer:
        token = (await answer.json())["token"]
    new = ADMIN_PASSWORD + "!"
    await _call(
        session,
        "POST",
        f"{api}/me/password",
        token,
        {"current_password": ADMIN_PASSWORD, "new_password": new},
    )
    async with session.post(
        f"{api}/auth/login", json={"username": "admin", "password": new}
    ) as answer:
        token = (await answer.json())["token"]
    resource = await _call(
        session, "POST", f"{api}/orgs/MSPOrg/resources", token, {"name": "bench", "type": "Linux"}
    )
    ids = []
    for i in range(ACCOUNTS):
        account = await _call(
            session,
            "POST",
            f"{api}/orgs/MSPOrg/resources/{resource['id']}/accounts",
            token,
            {"username": f"u{i}", "generate": True},
        )
        ids.append(account["id"])
    return token, ids


async def _caught_up(session, server: str, token: str, dest: str, seconds: float = 120) -> float:
    """Seconds until the destination's lag is 0."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        page = await _call(session, "GET", f"{server}/api/v1/orgs/MSPOrg/siem-destinations", token)
        (state,) = [d for d in page["items"] if d["id"] == dest]
        if state["lag"] == 0:
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise RuntimeError("forwarding did not catch up")


async def run(requests: int, concurrency: int, rounds: int) -> None:
    """Measure and print."""
    root = Path(tempfile.mkdtemp(prefix="strongroom-bench-", dir="/tmp"))
    root.chmod(0o755)
    home = root / "node"
    port = free_port()
    process = None
    try:
        progress("initialising a primary")
        await asyncio.to_thread(
            init_install,
            home,
            port=port,
            db_port=free_port(),
            admin_password=ADMIN_PASSWORD,
            progress=progress,
            msp_totp_policy="none",  # the bench's admin reveals without enrolling 2FA
        )
        conf = home / "conf" / "strongroom.toml"
        log = (home / "logs" / "bench-server.out").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "server.ops.cli", "serve", "--config", str(conf)],
            # The bench's rsyslog listens on 127.0.0.1 ([outbound] allow_loopback).
            env={**os.environ, "STRONGROOM_OUTBOUND_ALLOW_LOOPBACK": "true"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        connector = aiohttp.TCPConnector(
            ssl=client_context(home / "conf" / "tls.crt"), limit=concurrency + 4
        )
        with Rsyslog.started() as receiver:
            async with aiohttp.ClientSession(connector=connector) as session:
                server = f"https://127.0.0.1:{port}"
                await wait_for(session, f"{server}/api/v1/health")
                progress("creating accounts")
                token, ids = await prepare_vault(session, server)
                dest = await _call(
                    session,
                    "POST",
                    f"{server}/api/v1/orgs/MSPOrg/siem-destinations",
                    token,
                    {
                        "name": "bench",
                        "host": "127.0.0.1",
                        "port": receiver.tls_port,
                        "ca_pem": receiver.ca_pem,
                        "enabled": False,
                        "start": "now",
                    },
                )
                reveal_url = f"{server}/api/v1/orgs/MSPOrg/accounts/{{}}/reveal"
                auth = {"Authorization": f"Bearer {token}"}

                def reveal(i: int) -> tuple:
                    return (
                        "POST",
                        reveal_url.format(ids[i % len(ids)]),
                        {
                            "headers": auth,
                            "json": {},
                        },
                    )

                await run_load(session, reveal, 200, concurrency)  # warm up
                postmaster = int(
                    (home / "pgsql" / "data" / "postmaster.pid").read_text().split()[0]
                )
                cpu: dict[bool, CpuUse] = {}

                def cpu_now() -> tuple[float, float, float, float]:
                    """CPU seconds so far: server, database, this process, rsyslog."""
                    rsyslog = receiver.process.pid if receiver.process is not None else 0
                    return (
                        cpu_of(process.pid),
                        database_cpu(postmaster),
                        time.process_time(),
                        cpu_of(rsyslog) if rsyslog else 0.0,
                    )

                rates: dict[bool, list[float]] = {False: [], True: []}
                forwarded: list[float] = []
                for round_no in range(rounds):
                    for on in (False, True):
                        await _call(
                            session,
                            "PATCH",
                            f"{server}/api/v1/orgs/MSPOrg/siem-destinations/{dest['id']}",
                            token,
                            {"enabled": on},
                        )
                        if on:
                            await _caught_up(session, server, token, dest["id"])
                        before = len(receiver.lines())
                        progress(f"round {round_no + 1}: {requests} reveals, forwarding {on}")
                        cpu_before = cpu_now()
                        result = await run_load(session, reveal, requests, concurrency)
                        used = [b - a for a, b in zip(cpu_before, cpu_now(), strict=True)]
                        cpu.setdefault(on, CpuUse()).add(
                            used[0], used[1], used[2], len(result.latencies), receiver=used[3]
                        )
                        rate = requests / result.wall
                        rates[on].append(rate)
                        if on:
                            got = len(receiver.lines()) - before
                            forwarded.append(got / result.wall)
                            drain = await _caught_up(session, server, token, dest["id"])
                            progress(
                                f"  forwarded {got} events during the run "
                                f"({got / result.wall:.0f}/s), the rest in {drain:.1f} s"
                            )
                        progress(f"  {rate:.0f} reveals/s, {result.errors} errors")
        off, on = statistics.fmean(rates[False]), statistics.fmean(rates[True])
        # The machine's load: other work on it moves single rounds by far more than 5 %.
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        paired = [b / a for a, b in zip(rates[False], rates[True], strict=True)]
        print(f"ratio per round: {', '.join(f'{r:.3f}' for r in paired)}")
        print(
            f"reveals/s, forwarding off: {off:.0f} ({', '.join(f'{r:.0f}' for r in rates[False])})"
        )
        print(f"reveals/s, forwarding on:  {on:.0f} ({', '.join(f'{r:.0f}' for r in rates[True])})")
        print(f"events forwarded per second while revealing: {statistics.fmean(forwarded):.0f}")
        ratio = on / off
        print(f"ratio on/off: {ratio:.3f} (target >= 0.95): {'OK' if ratio >= 0.95 else 'BELOW'}")
        print("CPU per reveal (user + system), rsyslog being the receiver on this machine:")
        for state, use in sorted(cpu.items()):
            print(f"  forwarding {'on ' if state else 'off'}: {use.line()}")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        config = load_config(home / "conf" / "strongroom.toml") if home.exists() else None
        if config is not None:
            from server.ops.service import embedded_cluster

            cluster = embedded_cluster(config)
            if cluster is not None:
                cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
