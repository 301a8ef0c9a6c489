"""A client's consent (issue 26, items 6 and 8), as an attacker plays it: one MSPOrg
administrator rewrites a client's roles by replication, shortens its audit retention and
purges it, or deletes the org to lose its history. Each sequence ends with the client's
roles and history intact; the second-person path and the deleted org's kept trail work.

The world: admin (founder, privileged), m1 and m2 (the founding administrators, three
people); Globex, managed by admin, whose own confirmed administrator gboss keeps a custom
role ``ops`` held by gops; Initech, managed by admin, with no users of its own (the MSP
runs it alone).
"""

from __future__ import annotations

import asyncio

from server.services import audit_settings, orgs
from server.web.keys import ENV
from tests.server.conftest import Api, confirm_by_request, make_user

_WORLD: dict = {}
ALL = ["manage_users", "read_audit", "add_resources", "manage_vault"]


async def _build(api: Api, admin: Api) -> dict:
    await make_user(admin, "m1", "administrator")
    await make_user(admin, "m2", "administrator")
    m1 = await api.login("m1", "final-m1-pw22")
    m2 = await api.login("m2", "final-m2-pw22")
    for org in ("Globex", "Initech"):
        status, body = await admin.call(
            "POST", "/orgs", {"name": org, "display_name": org, "account_manager": "admin"}
        )
        assert status == 201, body
    await make_user(admin, "gboss", "administrator", org="Globex")
    await confirm_by_request(m1, m2, "final-m2-pw22", "Globex", "gboss")
    gboss = await api.login("gboss", "final-gboss-pw22", org="Globex")
    status, body = await gboss.call(
        "POST", "/orgs/Globex/roles", {"name": "ops", "permissions": ["add_resources"]}
    )
    assert status == 201, body
    await make_user(gboss, "gops", "ops", org="Globex")
    status, body = await gboss.call(
        "POST",
        "/orgs/Globex/roles",
        {"name": "shift", "permissions": ["read_audit", "add_resources"]},
    )
    assert status == 201, body
    return {"m1": m1.token, "m2": m2.token, "gboss": gboss.token}


async def _world(api: Api, admin: Api) -> dict:
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    return {name: api.as_(token) for name, token in _WORLD.items()}


async def _roles(who: Api, org: str) -> dict:
    status, roles = await who.call("GET", f"/orgs/{org}/roles")
    assert status == 200, roles
    return {r["name"]: sorted(r["permissions"]) for r in roles["items"] if not r["builtin"]}


async def _events(who: Api, org: str) -> list[dict]:
    status, page = await who.call("GET", f"/orgs/{org}/audit?limit=1000")
    assert status == 200, page
    return page["items"]


async def _chained(who: Api, path: str) -> dict:
    """The verify answer at ``path`` once the chainer has linked every event."""
    for _ in range(100):
        status, result = await who.call("GET", path)
        assert status == 200, result
        if result.get("pending") == 0:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(result)


async def test_replication_cannot_raise_a_client_role(api, admin, owner_conn):
    """Item 6: m1, who cannot open Globex, replicates an all-permission ``ops`` with
    role_conflict overwrite. Globex's ops keeps its permissions (the MSP's version is added
    as ops-MSP, and the result says why); gops still cannot reset gboss's password. No
    built-in look-alike is created; in Initech (no confirmed administrator) overwriting
    lowers a role but never raises one."""
    w = await _world(api, admin)
    m1, gboss = w["m1"], w["gboss"]
    assert (await m1.call("GET", "/orgs/Globex"))[0] == 404  # m1 cannot open Globex
    status, body = await admin.call(
        "POST", "/orgs/MSPOrg/roles", {"name": "ops", "permissions": ALL}
    )
    assert status == 201, body
    await admin.call("POST", "/orgs/MSPOrg/roles", {"name": "night", "permissions": ["read_audit"]})
    await admin.call("POST", "/orgs/MSPOrg/roles", {"name": "shift", "permissions": ["read_audit"]})
    # A look-alike of a built-in role in MSPOrg (put there behind the API's back).
    async with owner_conn.transaction():
        msp = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(msp))
        await owner_conn.execute(
            "INSERT INTO roles (org_id, name, permissions) VALUES ($1, 'Adm1nistrator', $2)",
            msp,
            ALL,
        )
    # Initech: a role the MSP version lowers, and one it would raise.
    await admin.call(
        "POST",
        "/orgs/Initech/roles",
        {"name": "night", "permissions": ["read_audit", "add_resources"]},
    )
    await admin.call("POST", "/orgs/Initech/roles", {"name": "ops", "permissions": []})

    status, done = await m1.call(
        "PUT",
        "/msp/replicate-settings",
        {"categories": ["user_roles"], "role_conflict": "overwrite"},
    )
    assert status == 200 and done["failed"] == 0, done
    results = {r["org"]: r for r in done["results"]}

    # Globex: its own ops kept, the MSP's beside it; the reason is in the answer.
    assert (await _roles(gboss, "Globex"))["ops"] == ["add_resources"]
    assert (await _roles(gboss, "Globex"))["ops-MSP"] == sorted(ALL)
    kept = {k["name"]: k["why"] for k in results["Globex"]["kept"]}
    assert "raise" in kept["ops"] and "ops-MSP" in kept["ops"]
    # Even a lowering is Globex's own administrator's to make.
    assert "confirmed administrator" in kept["shift"]
    assert (await _roles(gboss, "Globex"))["shift"] == ["add_resources", "read_audit"]
    assert "built-in" in kept["Adm1nistrator"]
    assert all("dm1n" not in name for name in await _roles(gboss, "Globex"))
    # gops still cannot reset Globex's confirmed administrator, nor make a user.
    gops = await api.login("gops", "final-gops-pw22", org="Globex")
    status, problem = await gops.call(
        "PATCH", "/orgs/Globex/users/gboss", {"password": "Taken-Over-Pass-1"}
    )
    assert status == 403, problem
    status, _ = await gops.call(
        "POST",
        "/orgs/Globex/users",
        {"username": "mine", "role": "administrator", "password": "Mine-Pass-12345"},
    )
    assert status == 403
    await api.login("gboss", "final-gboss-pw22", org="Globex")  # its password is its own

    # Initech: night lowered (overwritten), ops kept (raising), and said why.
    roles = await _roles(admin, "Initech")
    assert (roles["night"], roles["ops"], roles["ops-MSP"]) == (["read_audit"], [], sorted(ALL))
    kept = {k["name"]: k["why"] for k in results["Initech"]["kept"]}
    assert "raise" in kept["ops"]
    _, page = await admin.call("GET", "/orgs/Initech/audit?operation=settings_replicated&limit=1")
    details = page["items"][0]["details"]
    assert details["overwritten_roles"] == ["night"]
    assert {k["name"] for k in details["kept"]} == {"ops", "Adm1nistrator"}
    assert roles["shift"] == ["read_audit"]  # a new replica in Initech

    # Raising the MSP's own replica later does not raise the client's copy either.
    await admin.call(
        "PATCH", "/orgs/MSPOrg/roles/night", {"permissions": ["read_audit", "manage_users"]}
    )
    status, done = await m1.call(
        "PUT",
        "/msp/replicate-settings",
        {"categories": ["user_roles"], "role_conflict": "overwrite"},
    )
    assert (await _roles(admin, "Initech"))["night"] == ["read_audit"]
    assert (await _roles(gboss, "Globex"))["night"] == ["read_audit"]


async def test_one_person_cannot_shorten_or_purge_a_clients_history(api, admin, owner_conn):
    """Item 8: admin, Globex's account manager, sets Globex's retention to 30 days and
    purges: refused (client_confirms), every event still there. In Initech (no confirmed
    administrator) it is refused too (dual_control_required), and replication does not
    shorten either. Globex's own confirmed administrator may."""
    w = await _world(api, admin)
    gboss = w["gboss"]
    before = await _events(admin, "Globex")
    status, problem = await admin.call("PUT", "/orgs/Globex/audit/settings", {"retention_days": 30})
    assert (status, problem["code"]) == (403, "client_confirms"), problem
    status, problem = await admin.call("POST", "/orgs/Globex/audit/purge")
    assert (status, problem["code"]) == (403, "client_confirms"), problem
    status, problem = await admin.call(
        "POST",
        "/org-access-requests",
        {"kind": "audit_retention", "org": "Globex", "retention_days": 30, "approver": "m2"},
    )
    assert (status, problem["code"]) == (409, "client_confirms"), problem
    after = await _events(admin, "Globex")
    assert {e["id"] for e in before} <= {e["id"] for e in after}
    status, settings = await admin.call("GET", "/orgs/Globex/audit/settings")
    assert settings["retention_days"] is None
    # Lengthening needs no one's consent (nothing to lengthen from "for ever": a no-op).
    assert (await admin.call("PUT", "/orgs/Globex/audit/settings", {"retention_days": None}))[
        0
    ] == 200

    # Initech has no confirmed administrator: a second person must agree.
    for method, path, body in (
        ("PUT", "/orgs/Initech/audit/settings", {"retention_days": 30}),
        ("POST", "/orgs/Initech/audit/purge", None),
    ):
        status, problem = await admin.call(method, path, body)
        assert (status, problem["code"]) == (409, "dual_control_required"), problem
        assert "audit_retention" in problem["detail"]
    # Replication never shortens a client's retention (Initech keeps events for ever).
    await admin.call("PUT", "/orgs/MSPOrg/audit/settings", {"retention_days": 30})
    status, done = await admin.call(
        "PUT", "/msp/replicate-settings", {"categories": ["audit_purge_settings"]}
    )
    assert status == 200, done
    kept = {r["org"]: [k["name"] for k in r["kept"]] for r in done["results"]}
    assert kept["Initech"] == kept["Globex"] == ["retention_days"]
    for org in ("Initech", "Globex"):
        assert (await admin.call("GET", f"/orgs/{org}/audit/settings"))[1]["retention_days"] is None
    await admin.call("PUT", "/orgs/MSPOrg/audit/settings", {"retention_days": None})

    # Globex's own confirmed administrator decides for Globex.
    status, settings = await gboss.call(
        "PUT", "/orgs/Globex/audit/settings", {"retention_days": 60}
    )
    assert (status, settings["retention_days"]) == (200, 60)
    status, done = await gboss.call("POST", "/orgs/Globex/audit/purge")
    assert (status, done["purged"]) == (200, 0)  # nothing is 60 days old


async def test_second_person_shortens_and_purges_by_request(api, admin, owner_conn):
    """The request path: admin files an audit_retention request for Initech; it cannot
    approve it itself, nor through an administrator it made; m2 approves, and the
    retention is set and the old events purged behind a checkpoint that verifies."""
    w = await _world(api, admin)
    m1, m2 = w["m1"], w["m2"]
    for i in range(3):
        await admin.call("POST", "/orgs/Initech/resources", {"name": f"r{i}", "type": "Linux"})
    before = await _chained(admin, "/orgs/Initech/audit/verify")
    old = before["events"] - 1
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = 'Initech'")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE audit_events SET at = at - interval '40 days' WHERE id IN "
            "(SELECT event_id FROM audit_links WHERE org_id = $1 AND seq <= $2)",
            org,
            old,
        )
    ask = {"kind": "audit_retention", "org": "Initech", "retention_days": 30, "purge": True}
    status, problem = await admin.call("POST", "/org-access-requests", {**ask, "approver": "admin"})
    assert (status, problem["code"]) == (422, "approver_not_eligible")
    # m1's puppet (made after the founding phase) is m1's person: not a second one.
    await make_user(m1, "puppet", "administrator")
    status, problem = await m1.call("POST", "/org-access-requests", {**ask, "approver": "puppet"})
    assert (status, problem["code"]) == (422, "approver_not_eligible"), problem
    # Nothing to approve: a longer retention, or nothing asked.
    status, problem = await admin.call(
        "POST",
        "/org-access-requests",
        {"kind": "audit_retention", "org": "Initech", "approver": "m2"},
    )
    assert (status, problem["code"]) == (409, "nothing_to_approve"), problem
    status, approvers = await admin.call(
        "GET",
        "/org-access-requests/eligible-approvers?kind=audit_retention&org=Initech&purge=true&retention_days=30",
    )
    assert status == 200, approvers
    assert "m2" in [a["username"] for a in approvers["items"]]
    assert "admin" not in [a["username"] for a in approvers["items"]]

    status, req = await admin.call("POST", "/org-access-requests", {**ask, "approver": "m2"})
    assert status == 201, req
    assert (req["kind"], req["org"], req["retention_days"], req["purge"]) == (
        "audit_retention",
        "Initech",
        30,
        True,
    )
    status, done = await m2.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": "final-m2-pw22"}
    )
    assert (status, done["status"]) == (200, "approved"), done
    status, settings = await admin.call("GET", "/orgs/Initech/audit/settings")
    assert settings["retention_days"] == 30
    _, page = await admin.call("GET", "/orgs/Initech/audit?operation=audit_purged")
    (purged,) = page["items"]
    assert (purged["actor"], purged["details"]["checkpoint_seq"]) == ("m2", old)
    _, page = await admin.call("GET", "/orgs/Initech/audit?operation=org_access_approved")
    assert page["items"][0]["details"]["retention_days"] == 30
    after = await _chained(admin, "/orgs/Initech/audit/verify")
    assert after["ok"] is True, after


async def test_a_deleted_orgs_trail_stays_readable_and_verifiable(
    api, admin, live_server, owner_conn
):
    """Item 8: Umbrella is deleted; MSPOrg's auditor lists it, reads its events and
    verifies its chain; a client user or an MSP password user cannot; the hourly purge
    ends the trail once the retention it had has passed."""
    await _world(api, admin)
    status, _ = await admin.call(
        "POST",
        "/orgs",
        {"name": "Umbrella", "display_name": "Umbrella", "account_manager": "admin"},
    )
    assert status == 201
    await admin.call("POST", "/orgs/Umbrella/resources", {"name": "hive", "type": "Linux"})
    status, gone = await admin.call("DELETE", "/orgs/Umbrella?confirm=Umbrella")
    assert status == 200, gone
    # Issue 27: a deleted org is kept for its recovery window; its trail is detached when
    # it is purged (here: the window made to end, then the sweeper's round).
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = 'Umbrella'")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await owner_conn.execute(
            "UPDATE orgs SET purge_at = now() - interval '1 second' WHERE id = $1", org_id
        )
    assert await orgs.purge_due(live_server.app[ENV]) == 1
    await make_user(admin, "aud", "password_auditor")
    aud = await api.login("aud", "final-aud-pw22")
    status, listing = await aud.call("GET", "/audit/deleted-orgs")
    assert status == 200, listing
    (umbrella,) = [o for o in listing["items"] if o["display_name"] == "Umbrella"]
    assert (umbrella["deleted_by"], umbrella["retention_days"], umbrella["retained_until"]) == (
        "admin",
        None,
        None,
    )
    path = f"/audit/deleted-orgs/{umbrella['id']}"
    status, page = await aud.call("GET", path)
    assert status == 200, page
    ops = [e["operation"] for e in page["items"]]
    assert ops[:2] == ["org_purged", "org_deleted"]  # issue 27: kept, then purged
    assert {"resource_created", "org_created"} <= set(ops)
    status, page = await aud.call("GET", path + "?operation=resource_created")
    assert [e["target"] for e in page["items"]] == ["hive"]
    verified = await _chained(aud, path + "/verify")
    assert verified["ok"] is True and verified["events"] == len(ops), verified
    # Nobody else reads it; an unknown id is not found.
    pw = await make_user(admin, "plain", "password_user")
    plain = await api.login("plain", pw)
    gboss = (await _world(api, admin))["gboss"]
    for who in (plain, gboss):
        for p in ("/audit/deleted-orgs", path, path + "/verify"):
            status, problem = await who.call("GET", p)
            assert (status, problem["code"]) == (403, "forbidden"), (p, problem)
    status, _ = await aud.call("GET", "/audit/deleted-orgs/00000000-0000-0000-0000-000000000000")
    assert status == 404
    # Its retention (30 days, set behind the API's back here) ends the trail: the hourly
    # purge removes what is older, behind a checkpoint that still verifies.
    async with owner_conn.transaction():
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", umbrella["id"])
        await owner_conn.execute(
            "INSERT INTO audit_retention (org_id, days) VALUES ($1, 30)", umbrella["id"]
        )
        await owner_conn.execute(
            "UPDATE audit_events SET at = at - interval '40 days' WHERE org_id = $1",
            umbrella["id"],
        )
    assert await audit_settings.purge_all(live_server.app[ENV]) >= len(ops)
    status, page = await aud.call("GET", path)
    assert page["items"] == []
    verified = await _chained(aud, path + "/verify")
    assert verified["ok"] is True, verified
    _, page = await aud.call("GET", "/orgs/MSPOrg/audit?operation=audit_purged&limit=1")
    assert page["items"][0]["target"] == "Umbrella"
    status, listing = await aud.call("GET", "/audit/deleted-orgs")
    (umbrella,) = [o for o in listing["items"] if o["display_name"] == "Umbrella"]
    assert umbrella["retention_days"] == 30 and umbrella["retained_until"]
