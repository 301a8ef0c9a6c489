"""Audit operation type settings and purge: what may be switched off, alerts, and a purge
that leaves a verifiable chain in which any other change is still found."""

from __future__ import annotations

import asyncio

from tests.server.conftest import Api, make_user

ORG = "PurgeCo"


async def _org(admin: Api) -> None:
    if (await admin.call("GET", f"/orgs/{ORG}"))[0] == 404:
        status, _ = await admin.call(
            "POST", "/orgs", {"name": ORG, "display_name": ORG, "account_manager": "admin"}
        )
        assert status == 201


async def _chained(admin: Api) -> dict:
    """The verify answer once the chainer has linked every event."""
    for _ in range(100):
        _status, result = await admin.call("GET", f"/orgs/{ORG}/audit/verify")
        if result.get("pending") == 0:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(result)


async def test_switch_off_and_alerts(admin):
    """A routine operation can stop being recorded; one that touches secrets cannot; an
    alerting operation's events are listed as alerts."""
    await _org(admin)
    status, problem = await admin.call(
        "PUT",
        f"/orgs/{ORG}/audit/settings",
        {"operations": {"password_revealed": {"recorded": False}}},
    )
    assert (status, problem["errors"][0]["field"]) == (422, "operations.password_revealed")
    for op in ("group_updated", "account_updated", "resource_group_updated", "\u00e9t\u00e9"):
        status, problem = await admin.call(
            "PUT", f"/orgs/{ORG}/audit/settings", {"operations": {op: {"recorded": False}}}
        )
        assert status == 422, (op, problem)
    status, settings = await admin.call(
        "PUT",
        f"/orgs/{ORG}/audit/settings",
        {
            "operations": {
                "resource_updated": {"recorded": False},
                "password_revealed": {"alert": True},
            }
        },
    )
    assert status == 200, settings
    _, res = await admin.call("POST", f"/orgs/{ORG}/resources", {"name": "r1", "type": "Linux"})
    await admin.call("PATCH", f"/orgs/{ORG}/resources/{res['id']}", {"location": "Oslo"})
    _, page = await admin.call("GET", f"/orgs/{ORG}/audit?operation=resource_updated")
    assert page["items"] == []
    _, acct = await admin.call(
        "POST", f"/orgs/{ORG}/resources/{res['id']}/accounts", {"username": "u", "generate": True}
    )
    await admin.call("POST", f"/orgs/{ORG}/accounts/{acct['id']}/reveal", {})
    _, alerts = await admin.call("GET", f"/orgs/{ORG}/audit/alerts")
    assert [a["operation"] for a in alerts["items"]] == ["password_revealed"]
    assert (await _chained(admin))["ok"] is True


async def test_purge_leaves_a_verifiable_chain(api, admin, owner_conn):
    """Events past the retention are purged behind a sealed checkpoint; the chain still
    verifies; altering a remaining event or the checkpoint is found. PurgeCo has no
    confirmed administrator of its own, so shortening its retention and purging it take an
    approved audit_retention request (issue 26, item 8)."""
    await _org(admin)
    for i in range(3):
        await admin.call("POST", f"/orgs/{ORG}/resources", {"name": f"p{i}", "type": "Linux"})
    before = await _chained(admin)
    assert before["ok"] is True
    status, _problem = await admin.call("PUT", f"/orgs/{ORG}/audit/settings", {"retention_days": 7})
    assert status == 422
    status, problem = await admin.call("PUT", f"/orgs/{ORG}/audit/settings", {"retention_days": 30})
    assert (status, problem["code"]) == (409, "dual_control_required")
    old = before["events"] - 2  # all but the newest two are made 40 days old
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE audit_events SET at = at - interval '40 days' WHERE id IN "
            "(SELECT event_id FROM audit_links WHERE org_id = $1 AND seq <= $2)",
            org,
            old,
        )
    pw = await make_user(admin, "second", "administrator")
    second = await api.login("second", pw)
    status, req = await admin.call(
        "POST",
        "/org-access-requests",
        {
            "kind": "audit_retention",
            "org": ORG,
            "retention_days": 30,
            "purge": True,
            "approver": "second",
        },
    )
    assert status == 201, req
    status, done = await second.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": pw}
    )
    assert (status, done["status"]) == (200, "approved"), done
    _, page = await admin.call("GET", f"/orgs/{ORG}/audit?operation=audit_purged&limit=1")
    done = page["items"][0]["details"]
    assert (done["checkpoint_seq"], done["events"]) == (old, old), done
    after = await _chained(admin)
    assert after["ok"] is True, after
    assert after["events"] == before["events"] + 3  # the request, its approval, the purge
    # Any other change is still found: a remaining event, then the checkpoint.
    async with owner_conn.transaction():
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE audit_events SET target = 'forged' WHERE id = (SELECT event_id FROM "
            "audit_links WHERE org_id = $1 AND seq = $2)",
            org,
            old + 1,
        )
    bad = (await admin.call("GET", f"/orgs/{ORG}/audit/verify"))[1]
    assert (bad["ok"], bad["first_bad_seq"]) == (False, old + 1)
    async with owner_conn.transaction():
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE audit_checkpoints SET seq = seq - 1 WHERE org_id = $1", org
        )
    bad = (await admin.call("GET", f"/orgs/{ORG}/audit/verify"))[1]
    assert bad["ok"] is False and "checkpoint" in bad["problem"]
