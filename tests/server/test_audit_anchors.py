"""Audit tail truncation is caught by the anchor log (issue 13, item 2); own module and
database, since it cuts MSPOrg's chain on purpose."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from server.store.anchors import Anchor
from server.web.keys import ENV

# The tamper from the issue: the org's last 3 events deleted, its head moved back to
# the 56th link, as the database superuser (who bypasses row-level security).
TRUNCATE_TAIL = """
WITH org AS (SELECT id FROM orgs WHERE is_msp),
     gone AS (DELETE FROM audit_links WHERE org_id = (SELECT id FROM org) AND seq > $1
              RETURNING event_id)
DELETE FROM audit_events WHERE id IN (SELECT event_id FROM gone)
"""
MOVE_HEAD_BACK = """
UPDATE audit_heads h SET seq = l.seq, hash = l.hash FROM audit_links l, orgs o
WHERE o.is_msp AND h.org_id = o.id AND l.org_id = o.id AND l.seq = $1
"""


async def verify(admin) -> dict:
    """GET …/audit/verify for MSPOrg, once the chainer has linked (and anchored) every
    event written so far (a slow machine may still be chaining the login)."""
    for _ in range(100):
        status, result = await admin.call("GET", "/orgs/MSPOrg/audit/verify")
        assert status == 200, result
        if result.get("pending") == 0 and (
            not result["ok"] or result.get("anchored_seq") == result["events"]
        ):
            return result
        await asyncio.sleep(0.05)
    return result


async def add_events(admin, count: int) -> None:
    """``count`` audited operations (resources created) in MSPOrg."""
    for _ in range(count):
        body = {"name": f"pad-{uuid.uuid4().hex[:8]}", "type": "Linux"}
        assert (await admin.call("POST", "/orgs/MSPOrg/resources", body))[0] == 201


@pytest.fixture
async def superuser(pg_server, database):
    """A superuser connection to this module's database."""
    conn = await asyncpg.connect(**pg_server.superuser_dsn(database))
    yield conn
    await conn.close()


async def test_intact_chain_reports_its_anchor(admin):
    """An untouched chain verifies and says which link the anchor log holds."""
    result = await verify(admin)
    assert result["ok"] is True
    assert result["anchored_seq"] == result["events"]


async def test_deleting_the_last_three_events_is_named(admin, superuser):
    """59 links; the last 3 events deleted and the head moved back to link 56: verify
    fails at link 57 and names the missing tail; growing the chain again does not
    hide it."""
    await add_events(admin, 59 - (await verify(admin))["events"])
    assert (await verify(admin))["events"] == 59
    async with superuser.transaction():
        await superuser.execute(TRUNCATE_TAIL, 56)
        await superuser.execute(MOVE_HEAD_BACK, 56)
    result = await verify(admin)
    assert (result["ok"], result["events"], result["first_bad_seq"]) == (False, 56, 57)
    assert result["anchored_seq"] == 59
    assert "links 57-59" in result["problem"] and "missing" in result["problem"]

    await add_events(admin, 6)  # the rewritten chain (links 57-62) passes the old anchor
    result = await verify(admin)
    assert (result["ok"], result["first_bad_seq"], result["anchored_seq"]) == (False, 59, 59)
    assert "differs from the anchor log" in result["problem"]


async def test_peer_copy_of_anchors(api, admin, live_server):
    """POST /cluster/anchors (node to node) keeps signed anchors from the peer, refuses a
    forged one and any caller without the cluster secret; a copied anchor ahead of the
    chain makes verify name the missing tail."""
    env = live_server.app[ENV]
    env.node_state.state.cluster_secret = "pair-secret-for-test"
    peer = api.as_("pair-secret-for-test")
    org_id = await env.pool.fetchval("SELECT id FROM orgs WHERE is_msp")
    await verify(admin)
    ahead = Anchor(org_id, 10_000, bytes(32), "2030-01-01T00:00:00+00:00", "node2")
    await env.anchors.key()
    signed = env.anchors.signed(ahead)
    forged = {**signed, "seq": 20_000}

    status, problem = await api.as_("wrong").call("POST", "/cluster/anchors", {"anchors": [signed]})
    assert (status, problem["code"]) == (401, "unauthenticated")
    status, problem = await peer.call("POST", "/cluster/anchors", {"anchors": [forged]})
    assert (status, problem["code"]) == (422, "validation_failed")
    status, body = await peer.call("POST", "/cluster/anchors", {"anchors": [signed]})
    assert (status, body) == (200, {"received": 1, "added": 1})
    status, body = await peer.call("POST", "/cluster/anchors", {"anchors": [signed]})
    assert (status, body["added"]) == (200, 0)  # already held
    result = await verify(admin)
    assert (result["ok"], result["anchored_seq"]) == (False, 10_000)
    assert "the newest" in result["problem"]


async def test_an_altered_anchor_log_fails_verify(admin, live_server):
    """A line that fails its signature (written without the key) makes verify fail."""
    anchors = live_server.app[ENV].anchors
    with anchors.path.open("a") as log:
        log.write('{"org_id": "00000000-0000-0000-0000-000000000000", "seq": 1, "mac": "x"}\n')
    result = await verify(admin)
    assert result["ok"] is False and "fail their signature" in result["problem"]
