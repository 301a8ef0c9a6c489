"""Rotate passwords on local sshd targets through Strongroom, against a bare asyncssh loop.

Run: .venv/bin/python -m bench.rotation [--targets N] [--accounts M] [--concurrency C]
(as root: it starts N sshd daemons on loopback and creates M local users per target, all
removed at the end). The issue's size is 10 targets x 100 accounts; the default here is
scaled down to 10 x 20 (200 accounts), because every account costs four SSH logins (two
per side) with yescrypt hashing on a shared 2-core machine.

Strongroom side: ``POST …/accounts/{id}/rotation/reset`` over HTTPS for every account, at
most C at once (the schedule's bound), each one the whole two-phase change: seal the
pending password, ``chpasswd`` through the resource's reconciliation account (uid 0) with
the pinned host key, log in as the account with the new password, make it current with the
old one in the history, audited. Baseline, in the same run: a bare asyncssh loop doing the
same network work per account (connect as the reconciliation account, ``chpasswd``,
connect as the account with the new password), C at once. Reports accounts per second for
both, their ratio (target >= 0.8) and the peak memory of the process (server included).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import secrets
import time
import warnings

import pyotp

from bench.harness import ADMIN_PASSWORD, primary, progress
from tests.targets.sshd import Sshd

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import asyncssh


def rss_mib() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def login(http, password: str = ADMIN_PASSWORD) -> dict:
    async with http.post(
        "/api/v1/auth/login", json={"username": "admin", "password": password}
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    headers = {"Authorization": f"Bearer {body['token']}"}
    async with http.post(  # the first login must choose a new password
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": password, "new_password": password + "x"},
    ) as resp:
        assert resp.status == 204
    # MSPOrg's default two-factor policy asks administrators to enrol before anything else.
    body = {"current_password": password + "x"}
    async with http.post("/api/v1/me/totp", json=body, headers=headers) as resp:
        secret = (await resp.json())["secret"]
        assert resp.status == 200, secret
    code = pyotp.TOTP(secret).now()
    async with http.post("/api/v1/me/totp/confirm", json={"otp": code}, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    return headers


async def call(http, headers, method: str, path: str, body: dict | None = None) -> dict:
    async with http.request(method, "/api/v1" + path, json=body or {}, headers=headers) as resp:
        answer = await resp.json(content_type=None)
        assert resp.status in (200, 201), (path, resp.status, answer)
        return answer


async def baseline(users, concurrency: int) -> float:
    """The bare loop: chpasswd through root, then a login as the account; seconds."""
    gate = asyncio.Semaphore(concurrency)

    async def one(sshd: Sshd, root: tuple[str, str], user: str) -> None:
        known = asyncssh.import_known_hosts(f"[{sshd.host}]:{sshd.port} {sshd.public_key}\n")
        new = secrets.token_urlsafe(18)
        opts = {"known_hosts": known, "client_keys": None, "agent_path": None}
        async with gate:
            async with asyncssh.connect(
                sshd.host, sshd.port, username=root[0], password=root[1], **opts
            ) as conn:
                done = await conn.run("LC_ALL=C chpasswd", input=f"{user}:{new}\n", check=False)
                assert done.exit_status == 0, done.stderr
            async with asyncssh.connect(sshd.host, sshd.port, username=user, password=new, **opts):
                pass

    start = time.perf_counter()
    await asyncio.gather(*(one(t, r, u) for (t, r), u in users))
    return time.perf_counter() - start


async def run(n_targets: int, per_target: int, concurrency: int) -> None:
    daemons = [Sshd() for _ in range(n_targets)]
    try:
        for d in daemons:
            d.start()
        progress(f"{n_targets} sshd targets on loopback; creating {n_targets * per_target} users")
        roots = []
        users = []  # ((target, root), username)
        for d in daemons:
            root_pw = "Rk-9" + secrets.token_urlsafe(18)
            root = (d.add_user(root_pw, root=True), root_pw)
            roots.append(root)
            for _ in range(per_target):
                users.append(((d, root), d.add_user("Bench-Start-1x")))
        async with primary() as node:
            http = node.session
            headers = await login(http)
            accounts = []
            for i, d in enumerate(daemons):
                target = {"name": f"t{i}", "type": "Linux"}
                res = await call(http, headers, "POST", "/orgs/MSPOrg/resources", target)
                rec = await call(
                    http,
                    headers,
                    "POST",
                    f"/orgs/MSPOrg/resources/{res['id']}/accounts",
                    {"username": roots[i][0], "password": roots[i][1]},
                )
                await call(
                    http,
                    headers,
                    "PUT",
                    f"/orgs/MSPOrg/resources/{res['id']}/connection",
                    {
                        "connector": "ssh",
                        "host": d.host,
                        "port": d.port,
                        "host_key": d.fingerprint,
                        "reconciliation_account": rec["id"],
                        "max_parallel": concurrency,
                    },
                )
                for (target, _), user in users:
                    if target is d:
                        acct = await call(
                            http,
                            headers,
                            "POST",
                            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
                            {"username": user, "password": "Bench-Start-1x"},
                        )
                        accounts.append(acct["id"])
            progress(f"{len(accounts)} accounts in the vault; rotating through Strongroom")
            gate = asyncio.Semaphore(concurrency)

            async def reset(account: str) -> None:
                async with gate:
                    await call(
                        http, headers, "POST", f"/orgs/MSPOrg/accounts/{account}/rotation/reset"
                    )

            start = time.perf_counter()
            await asyncio.gather(*(reset(a) for a in accounts))
            ours = time.perf_counter() - start
            memory = rss_mib()
            progress("bare asyncssh loop (chpasswd + login) on the same accounts")
            bare = await baseline(users, concurrency)
        n = len(accounts)
        print(f"accounts: {n} on {n_targets} sshd targets, {concurrency} at once")
        print(f"strongroom: {n / ours:7.1f} accounts/s ({ours:.1f} s; change + verify, audited)")
        print(f"bare loop:  {n / bare:7.1f} accounts/s ({bare:.1f} s)")
        print(f"ratio:      {bare / ours:.2f} (target >= 0.8)")
        print(f"peak memory of the process (server, client and baseline): {memory:.0f} MiB")
    finally:
        for d in daemons:
            d.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--accounts", type=int, default=20, help="accounts per target")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.targets, args.accounts, args.concurrency))


if __name__ == "__main__":
    main()
