"""List and reveal latency at scale: 1,000 orgs x 100 resources x 2 accounts, 20 users each.

Run: .venv/bin/python -m bench.scale [--orgs 1000] [--small 100]
Builds --small orgs, measures, grows to --orgs (10x the data) and measures the same users
again, so the baseline is the small database of the same run. Targets (issue 5): list
p95 < 10 ms, reveal p95 < 15 ms, and list time growing with what a user can see, not with
the database: 10x data -> <= 1.5x time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import uuid

from bench.harness import ADMIN_PASSWORD, percentile, primary, progress, summary_ms
from server.services.runtime import hasher_for
from server.store import db
from server.store.keyring import KeyRing

USER_PASSWORD = "bench-user-password-1"
USERS, RESOURCES = 20, 100
WARM_UP = 10  # unrecorded list requests per user before its measured rounds


async def login(session, username: str, org: str, password: str) -> dict:
    """Log in; return the Authorization header."""
    async with session.post(
        "/api/v1/auth/login", json={"username": username, "password": password, "org": org}
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return {"Authorization": f"Bearer {body['token']}"}


async def populate(pool, ring: KeyRing, org_id: uuid.UUID, password_hash: str) -> None:
    """20 users (one group of 10), 100 resources x 2 accounts, and shares: 'few' gets 5
    resources, group 'many' gets 50 resources and a resource group of 40 more."""
    async with db.transaction(pool, org_id) as tx:
        users = [(uuid.uuid4(), f"user{i:02d}") for i in range(USERS)]
        roles = ["administrator"] + ["password_user"] * (USERS - 1)
        await tx.executemany(
            "INSERT INTO users (id, org_id, username, role, access_scope, password_hash, "
            "must_change_password) VALUES ($1, $2, $3, $4, $5, $6, false)",
            [
                (
                    uid,
                    org_id,
                    name,
                    roles[i],
                    "all" if i == 0 else "owned_and_shared",
                    password_hash,
                )
                for i, (uid, name) in enumerate(users)
            ],
        )
        group = uuid.uuid4()
        await tx.execute(
            "INSERT INTO user_groups (id, org_id, name) VALUES ($1, $2, 'many')", group, org_id
        )
        await tx.executemany(
            "INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3)",
            [(org_id, group, u[0]) for u in users[2:12]],
        )
        owner = users[0][0]
        resources = [uuid.uuid4() for _ in range(RESOURCES)]
        await tx.executemany(
            "INSERT INTO resources (id, org_id, name, type, url, owner_id) "
            "VALUES ($1, $2, $3, 'Linux', $4, $5)",
            [
                (rid, org_id, f"server-{i:03d}", f"srv{i:03d}.example", owner)
                for i, rid in enumerate(resources)
            ],
        )
        rows = []
        for rid in resources:
            for name in ("root", "svc"):
                aid = uuid.uuid4()
                sealed = await ring.encrypt(
                    tx, org_id, "accounts", aid, "password", f"Pw-{aid.hex[:12]}-!"
                )
                rows.append((aid, org_id, rid, name, sealed, owner))
        await tx.executemany(
            "INSERT INTO accounts (id, org_id, resource_id, username, password, owner_id) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )
        shares = [(org_id, rid, users[1][0], None, "view") for rid in resources[:5]]
        shares += [(org_id, rid, None, group, "view") for rid in resources[5:55]]
        await tx.executemany(
            "INSERT INTO shares (org_id, resource_id, user_id, group_id, permission) "
            "VALUES ($1, $2, $3, $4, $5)",
            shares,
        )
        rg = uuid.uuid4()
        await tx.execute(
            "INSERT INTO resource_groups (id, org_id, name) VALUES ($1, $2, 'rg')", rg, org_id
        )
        await tx.executemany(
            "INSERT INTO resource_group_members (org_id, resource_group_id, resource_id) "
            "VALUES ($1, $2, $3)",
            [(org_id, rg, rid) for rid in resources[55:95]],
        )
        await tx.execute(
            "INSERT INTO shares (org_id, resource_group_id, group_id, permission) "
            "VALUES ($1, $2, $3, 'view')",
            org_id,
            rg,
            group,
        )


async def grow(node, pool, ring, start: int, stop: int, token: dict, password_hash: str):
    """Import orgs start..stop-1 through the API, then fill each directly."""
    lines = ["name,display_name,account_manager"]
    lines += [f"Org {i},Org{i:04d},admin" for i in range(start, stop)]
    async with node.session.post(
        "/api/v1/orgs/import?filename=orgs.csv",
        data="\n".join(lines).encode(),
        headers={**token, "Content-Type": "text/csv"},
    ) as resp:
        result = await resp.json()
        assert result["created"] == stop - start, result
    async with db.transaction(pool) as tx:
        ids = {
            r["display_name"]: r["id"]
            for r in await tx.fetch("SELECT id, display_name FROM orgs WHERE NOT is_msp")
        }
    for n, i in enumerate(range(start, stop), start=1):
        await populate(pool, ring, ids[f"Org{i:04d}"], password_hash)
        if n % 50 == 0 or n == stop - start:
            progress(f"filled {n}/{stop - start} orgs")


async def measure(node, probes: list[tuple[str, str]], rounds: int) -> dict[str, dict]:
    """List and reveal latencies per kind of user, sequential requests over HTTPS."""
    results: dict[str, dict[str, list[float]]] = {}
    for org in probes:
        for kind, username in (
            ("few shares", "user01"),
            ("many shares", "user02"),
            ("scope all", "user00"),
        ):
            auth = await login(node.session, username, org, USER_PASSWORD)
            bucket = results.setdefault(kind, {"list": [], "reveal": [], "visible": []})
            async with node.session.get(f"/api/v1/orgs/{org}/resources", headers=auth) as r:
                items = (await r.json())["items"]
            bucket["visible"].append(len(items))
            for _ in range(WARM_UP):  # the same for both measurements: caches warm
                async with node.session.get(f"/api/v1/orgs/{org}/resources", headers=auth) as r:
                    await r.read()
            async with node.session.get(
                f"/api/v1/orgs/{org}/resources/{items[0]['id']}", headers=auth
            ) as r:
                account = (await r.json())["accounts"][0]["id"]
            for _ in range(rounds):
                start = time.perf_counter()
                async with node.session.get(f"/api/v1/orgs/{org}/resources", headers=auth) as r:
                    await r.read()
                bucket["list"].append(time.perf_counter() - start)
                start = time.perf_counter()
                async with node.session.post(
                    f"/api/v1/orgs/{org}/accounts/{account}/reveal", headers=auth, json={}
                ) as r:
                    await r.read()
                    assert r.status == 200
                bucket["reveal"].append(time.perf_counter() - start)
    return results


async def explain_list(config, org: str) -> None:
    """Print the plan of the list query for the 'many shares' user (for investigations)."""
    import asyncpg

    conn = await asyncpg.connect(**config.app_dsn())
    try:
        async with conn.transaction():
            org_id = await conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", org)
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            user = await conn.fetchval("SELECT id FROM users WHERE username = 'user02'")
            plan = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) WITH ap AS (SELECT resource_id, count(*) AS n "
                "FROM account_permissions($1, $2, false) GROUP BY resource_id) "
                "SELECT r.id, rp.permission, coalesce(ap.n, 0) FROM resource_permissions($1, $2, "
                "false) rp JOIN resources r ON r.id = rp.resource_id LEFT JOIN ap ON "
                "ap.resource_id = r.id ORDER BY lower(r.name)",
                user,
                org_id,
            )
        print("\n".join(r[0] for r in plan))
    finally:
        await conn.close()


async def quiesce(config) -> None:
    """Bring the system to a steady state after a bulk load, the same way before both
    measurements: vacuum and planner statistics (as autovacuum would do shortly), a
    checkpoint (so that writing the load's pages back does not land in the middle of a
    measurement), and a full collection of this process's garbage (server and client
    run here)."""
    import asyncpg

    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    conn = await asyncpg.connect(**config.superuser_dsn())
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    gc.collect()


def report(title: str, results: dict) -> None:
    """Print one measurement."""
    print(title)
    for kind, bucket in results.items():
        print(f"  {kind:12s} sees {bucket['visible'][0]:3d} resources")
        print(f"    list:   {summary_ms(bucket['list'])}")
        print(f"    reveal: {summary_ms(bucket['reveal'])}")


async def run(orgs: int, small: int, rounds: int, explain: bool = False) -> None:
    """Build, measure, grow, measure."""
    async with primary(tune=lambda c: setattr(c.database, "pool_max", 10)) as node:
        token = await login(node.session, "admin", "MSPOrg", ADMIN_PASSWORD)
        async with node.session.post(
            "/api/v1/me/password",
            headers=token,
            json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "x"},
        ):
            pass
        password_hash = hasher_for(node.config).hash_sync(USER_PASSWORD)
        ring = KeyRing.from_file(node.config.path(node.config.security.master_key))
        pool = await db.create_pool(node.config)
        try:
            progress(f"building {small} orgs")
            await grow(node, pool, ring, 0, small, token, password_hash)
            await quiesce(node.config)
            probes = [f"Org{i:04d}" for i in range(0, small, max(1, small // 5))][:5]
            before = await measure(node, probes, rounds)
            progress(f"growing to {orgs} orgs")
            await grow(node, pool, ring, small, orgs, token, password_hash)
            await quiesce(node.config)
            after = await measure(node, probes, rounds)
            if explain:
                await explain_list(node.config, probes[0])
        finally:
            await pool.close()
    report(
        f"with {small} orgs ({small * RESOURCES} resources, {small * RESOURCES * 2} accounts):",
        before,
    )
    report(
        f"with {orgs} orgs ({orgs * RESOURCES} resources, {orgs * RESOURCES * 2} "
        f"accounts, {orgs * USERS} users):",
        after,
    )
    print(f"growth x{orgs / small:.0f} in data; list time ratio after / before (target <= 1.5):")
    for kind in before:
        p50 = percentile(after[kind]["list"], 50) / percentile(before[kind]["list"], 50)
        p95 = percentile(after[kind]["list"], 95) / percentile(before[kind]["list"], 95)
        print(f"  {kind:12s} p50 {p50:.2f}   p95 {p95:.2f}")


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--explain", action="store_true", help="print the list query's plan")
    args = parser.parse_args()
    asyncio.run(run(args.orgs, args.small, args.rounds, args.explain))


if __name__ == "__main__":
    main()
