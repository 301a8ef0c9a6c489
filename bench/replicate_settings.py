"""Replicate all ten categories of MSPOrg's settings to 1,000 client orgs over HTTPS.

Run: .venv/bin/python -m bench.replicate_settings [--orgs N]   (default: 1000)
Target (issue 17): under 30 s for 1,000 client orgs on these 2-core machines.
The template: 5 user groups, 5 resource groups shared to them, 3 password policies,
3 roles, 3 resource types, 5 field definitions, 2 audit operation settings, a retention.
Baseline in the same run: the 30 s target, and the first full apply against the second
(idempotent: nothing to change, every org read and audited).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time

from bench.harness import ADMIN_PASSWORD, primary, progress
from server.services.replication_settings import CATEGORIES

ALL = list(CATEGORIES)


async def template(http, headers) -> None:
    """MSPOrg's settings to replicate."""
    calls = []
    for i in range(5):
        calls.append(("/orgs/MSPOrg/groups", {"name": f"Team {i}", "default_permission": "view"}))
        calls.append(("/orgs/MSPOrg/resource-groups", {"name": f"Servers {i}"}))
        calls.append((f"/orgs/MSPOrg/resource-groups/Servers {i}/shares", {"group": f"Team {i}"}))
        calls.append(
            (
                "/orgs/MSPOrg/field-definitions",
                {"applies_to": "resource", "name": f"F{i}", "kind": "text"},
            )
        )
    for i in range(3):
        calls.append(
            (
                "/orgs/MSPOrg/password-policies",
                {"name": f"Policy {i}", "min_length": 16 + i, "max_length": 64},
            )
        )
        calls.append(("/orgs/MSPOrg/roles", {"name": f"Role{i}", "permissions": ["read_audit"]}))
        calls.append(("/orgs/MSPOrg/resource-types", {"name": f"Appliance {i}"}))
    for path, body in calls:
        async with http.post("/api/v1" + path, json=body, headers=headers) as resp:
            assert resp.status == 201, (path, await resp.text())
    async with http.put(
        "/api/v1/orgs/MSPOrg/audit/settings",
        json={"retention_days": 365, "operations": {"password_revealed": {"alert": True}}},
        headers=headers,
    ) as resp:
        assert resp.status == 200


async def timed_put(http, headers, categories) -> tuple[float, dict]:
    start = time.perf_counter()
    async with http.put(
        "/api/v1/msp/replicate-settings", json={"categories": categories}, headers=headers
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
    return time.perf_counter() - start, body


async def run(orgs: int) -> None:
    """Measure and print."""
    async with primary() as node:
        http = node.session
        async with http.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(
            "/api/v1/me/password",
            headers=headers,
            json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "x"},
        ) as resp:
            assert resp.status == 204
        progress(f"importing {orgs} client orgs")
        lines = ["name,display_name,account_manager"] + [
            f"Client {i},Client{i:05d},admin" for i in range(orgs)
        ]
        async with http.post(
            "/api/v1/orgs/import?filename=orgs.csv",
            data=io.BytesIO(("\n".join(lines) + "\n").encode()),
            headers={**headers, "Content-Type": "text/csv"},
        ) as resp:
            assert resp.status == 200, await resp.text()
        progress("making MSPOrg's template")
        await template(http, headers)
        progress("baseline: a save with no categories")
        empty, _ = await timed_put(http, headers, [])
        progress(f"replicating all ten categories to {orgs} orgs")
        first, body = await timed_put(http, headers, ALL)
        assert body["failed"] == 0, body["results"][:3]
        created = sum(r["created"] for r in body["results"])
        progress("again (idempotent)")
        second, body = await timed_put(http, headers, ALL)
        assert sum(r["created"] + r["updated"] for r in body["results"]) == 0
    print(f"replicate settings to {orgs} client orgs (all ten categories)")
    print(
        f"  first apply:   {first:7.2f} s  ({created} objects created; target < 30 s: "
        f"ratio {first / 30:.2f} of the target)"
    )
    print(
        f"  second apply:  {second:7.2f} s  (nothing to change; ratio {second / first:.2f} "
        "of the first)"
    )
    print(f"  empty save:    {empty:7.2f} s  (baseline: no org visited)")


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.orgs))


if __name__ == "__main__":
    main()
