"""A standby down for long does not fill the primary's disk (issue 33, item 3): the WAL
kept for it is bounded (replication.max_slot_wal_keep_size), shown in health, and a
standby that fell past it is re-seeded by a fresh base backup by itself."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from server.core.config import load_config
from tests.replication.harness import call, eventually, make_pair, run_cli

pytestmark = pytest.mark.timeout(400)


def _superuser(node, sql: str) -> None:
    config = load_config(node.config)

    async def run() -> None:
        conn = await asyncpg.connect(**config.superuser_dsn())
        try:
            for statement in sql.split(";"):
                if statement.strip():
                    await conn.execute(statement, timeout=300)
        finally:
            await conn.close()

    asyncio.run(run())


def test_a_standby_past_the_wal_limit_is_reseeded():
    pair = make_pair(
        witness=False,
        auto_rejoin=False,
        replication={"max_slot_wal_keep_size": "64MB", "wal_keep_size": "16MB"},
    )
    try:
        p, s = pair.primary, pair.secondary
        health = p.wait(lambda h: h.get("wal_retained"), 20, "WAL retained shown")
        slot = next(x for x in health["wal_retained"] if x["node"] == "node2")
        assert slot["limit_bytes"] == 64 * 2**20
        s.stop()
        # Well past the limit while the standby is away, then a checkpoint recycles it.
        _superuser(
            p,
            "CREATE TABLE filler AS SELECT repeat(md5(i::text), 30) AS t "
            "FROM generate_series(1, 150000) i; CHECKPOINT; DROP TABLE filler; "
            "SELECT pg_switch_wal(); CHECKPOINT",
        )
        health = p.wait(lambda h: "node2" in h.get("reseed", []), 30, "node2 to re-seed")
        assert health["degraded"] and "re-seed" in health["reason"]
        status, created = call(
            f"{p.url}/api/v1/orgs/MSPOrg/resources",
            "POST",
            {"name": "written-while-away", "type": "server"},
            token=pair.api_key,
            timeout=20,
        )
        assert status == 201, created
        assert "wal kept:" in run_cli("status", "--config", str(p.config)).stdout

        s.start()
        p.wait(
            lambda h: h.get("sync") == "sync" and not h["degraded"] and not h.get("reseed"),
            180,
            "the re-seeded standby in sync",
        )
        eventually(
            lambda: any(
                r["name"] == "written-while-away"
                for r in call(f"{s.url}/api/v1/orgs/MSPOrg/resources", token=pair.api_key)[1].get(
                    "items", []
                )
            ),
            20,
            "the re-seeded standby has what was written while it was away",
        )
        assert (
            "re-seeded by a fresh base backup" in (s.home / "logs" / "strongroom.log").read_text()
        )
    finally:
        pair.close()
