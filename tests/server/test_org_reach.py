""" "May this actor act in org X", as an attacker plays it: the one rule
(sql/functions/org_reach.sql) behind every ``/orgs/{org}`` route, the hot reveal path,
``GET /me`` and dual control's "whom does this account open" must agree, and a lost way in
must close on the very next request.

The world: admin (founder), x and honest (the three founding administrators); ReachA,
ReachB and ReachC managed by honest; solo (made by honest) holds a direct grant to ReachA,
tech (made by honest) reaches ReachB through MSPOrg group 'desk'; idle reaches nothing.
"""

from __future__ import annotations

import uuid

import pytest

from tests.server.conftest import ADMIN_PASSWORD, Api, make_user

SECRET = "Reach-Only-Secret-41!"
_WORLD: dict = {}
USERS = ("solo", "tech", "honest", "x", "idle")


async def _approve(proposer: Api, approver: Api, approver_password: str, body: dict) -> None:
    status, req = await proposer.call("POST", "/org-access-requests", body)
    assert status == 201, req
    status, done = await approver.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": approver_password},
    )
    assert (status, done["status"]) == (200, "approved"), done


async def _build(api: Api, admin: Api) -> dict:
    await make_user(admin, "x", "privileged_administrator")
    await make_user(admin, "honest", "administrator")
    x = await api.login("x", "final-x-pw22")
    honest = await api.login("honest", "final-honest-pw22")
    for org in ("ReachA", "ReachB", "ReachC"):
        status, body = await admin.call(
            "POST", "/orgs", {"name": org, "display_name": org, "account_manager": "honest"}
        )
        assert status == 201, body
    await make_user(honest, "solo", "password_user")
    await make_user(honest, "tech", "password_user")
    await make_user(honest, "idle", "password_user")
    status, _ = await honest.call(
        "POST", "/orgs/MSPOrg/groups", {"name": "desk", "members": ["tech"]}
    )
    assert status == 201
    await _approve(admin, x, "final-x-pw22", {"org": "ReachA", "user": "solo", "approver": "x"})
    await _approve(admin, x, "final-x-pw22", {"org": "ReachB", "group": "desk", "approver": "x"})
    # A secret in ReachA shared with solo by name: the hot path has something to give.
    status, res = await honest.call(
        "POST", "/orgs/ReachA/resources", {"name": "web01", "type": "Linux"}
    )
    assert status == 201, res
    status, acct = await honest.call(
        "POST",
        f"/orgs/ReachA/resources/{res['id']}/accounts",
        {"username": "root", "password": SECRET},
    )
    assert status == 201, acct
    status, share = await honest.call(
        "POST",
        f"/orgs/ReachA/accounts/{acct['id']}/shares",
        {"user": "solo", "user_org": "MSPOrg", "permission": "view"},
    )
    assert status == 201, share
    tokens = {"x": x.token, "honest": honest.token, "account": acct["id"]}
    for name in ("solo", "tech", "idle"):
        tokens[name] = (await api.login(name, f"final-{name}-pw22")).token
    return tokens


@pytest.fixture
async def world(api, admin) -> dict:
    """The world above (built once per module), with fresh API handles."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    out = {name: api.as_(_WORLD[name]) for name in USERS}
    out["admin"] = admin
    out["account"] = _WORLD["account"]
    return out


async def _may_act(who: Api, orgs: list[str]) -> set[str]:
    """The orgs ``who`` may act in, as the REST API answers (200 versus 404 not_found)."""
    reached = set()
    for org in orgs:
        status, body = await who.call("GET", f"/orgs/{org}/resources")
        if status == 200:
            reached.add(org)
        else:
            assert (status, body["code"]) == (404, "not_found"), (org, body)
    return reached


async def test_dual_control_and_may_act_agree(world):
    """For every MSPOrg user, the orgs dual control says its password opens (a reset is
    refused naming them) are exactly the client orgs the API lets it act in, and the
    orgs GET /me lists."""
    admin = world["admin"]
    orgs = [o["display_name"] for o in (await admin.call("GET", "/orgs"))[1]["items"]]
    assert {"MSPOrg", "ReachA", "ReachB", "ReachC"} <= set(orgs)
    expected = {
        "solo": {"ReachA"},
        "tech": {"ReachB"},
        "honest": {"ReachA", "ReachB", "ReachC"},
        "x": set(),
        "idle": set(),
    }
    for name in USERS:
        who = world[name]
        acting = await _may_act(who, orgs)
        assert "MSPOrg" in acting
        clients = acting - {"MSPOrg"}
        assert clients == expected[name], name
        me = (await who.call("GET", "/me"))[1]
        assert set(me["managed_orgs"]) == clients, name
        assert set(me["capabilities"]) == acting, name
        if not clients:
            continue  # a reset would succeed (and log it out); nothing to compare
        status, problem = await admin.call(
            "PATCH", f"/orgs/MSPOrg/users/{name}", {"password": f"Seized-{name}-987"}
        )
        assert (status, problem["code"]) == (409, "dual_control_required"), problem
        named = problem["detail"].split(" reaches ", 1)[1].split(";", 1)[0].split(", ")
        assert set(named) == clients, (name, problem["detail"])


async def test_me_lists_capabilities_per_org(world):
    """GET /me: org display name -> sorted capability names, home org included."""
    status, me = await world["honest"].call("GET", "/me")
    assert status == 200
    every = ["add_resources", "administer", "manage_orgs", "manage_users", "manage_vault"]
    every.append("read_audit")
    assert me["capabilities"] == {org: every for org in ("MSPOrg", "ReachA", "ReachB", "ReachC")}
    status, me = await world["solo"].call("GET", "/me")
    assert me["capabilities"] == {"MSPOrg": [], "ReachA": []}
    assert me["managed_orgs"] == ["ReachA"]


async def test_revoked_grant_closes_the_next_request(world):
    """solo reveals its shared secret in ReachA; the grant is revoked; solo's very next
    requests (the hot reveal path and a transactional route alike) answer 404 as for an
    org that does not exist."""
    solo, honest = world["solo"], world["honest"]
    reveal = f"/orgs/ReachA/accounts/{world['account']}/reveal"
    status, shown = await solo.call("POST", reveal, {})
    assert (status, shown["password"]) == (200, SECRET)
    status, _ = await honest.call("DELETE", "/orgs/ReachA/access/users/solo")
    assert status == 204
    status, problem = await solo.call("POST", reveal, {})
    assert (status, problem["code"]) == (404, "not_found") and SECRET not in str(problem)
    elsewhere = reveal.replace("ReachA", "NoSuchOrg")
    status, missing = await solo.call("POST", elsewhere, {})
    assert (status, missing["code"]) == (404, "not_found")
    for path in ("/orgs/ReachA/resources", "/orgs/ReachA", "/orgs/ReachA/password-holds"):
        status, problem = await solo.call("GET", path)
        assert (status, problem["code"]) == (404, "not_found"), path
    me = (await solo.call("GET", "/me"))[1]
    assert me["managed_orgs"] == [] and set(me["capabilities"]) == {"MSPOrg"}


async def test_the_reveal_statement_decides_the_reach_itself(world, app_conn):
    """A reveal already on its way when the grant goes (the server resolved ReachA for solo
    a moment before) reveals nothing: the statement that reads the secret asks org_reach
    itself. Played as the server plays it, the stale org handed straight to
    reveal_accounts: no row for solo, no event; honest, who still reaches ReachA, gets one
    (so the check can tell)."""
    ids = {
        r["display_name"]: r["id"]
        for r in await app_conn.fetch("SELECT id, display_name FROM orgs")
    }
    account = uuid.UUID(world["account"])
    tr = app_conn.transaction()
    await tr.start()
    try:
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ids["MSPOrg"]))
        users = dict(await app_conn.fetch("SELECT username, id FROM users"))
        reveal = "SELECT * FROM reveal_accounts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"

        async def reveal_as(name: str) -> list:
            return await app_conn.fetch(
                reveal,
                [account],
                [users[name]],
                [ids["MSPOrg"]],
                ["ReachA"],
                [True],
                [None],
                [None],
                [name],
                ["MSPOrg"],
                ["127.0.0.1"],
                [None],
                ["test"],
            )

        refused = await reveal_as("solo")  # its grant was revoked (the test above)
        assert [(r["access"], r["password"]) for r in refused] == [("no_org", None)]
        assert [r["access"] for r in await reveal_as("honest")] == ["ok"]
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ids["ReachA"]))
        actors = await app_conn.fetch(
            "SELECT actor FROM audit_events WHERE operation = 'password_revealed' "
            "AND actor IN ('solo', 'honest') AND ip = '127.0.0.1' AND node = 'test'"
        )
        assert [r["actor"] for r in actors] == ["honest"]
    finally:
        await tr.rollback()


async def test_group_membership_removed_closes_the_next_request(world):
    """tech reaches ReachB only through group 'desk'; removed from it (no approval
    needed), it is out on its next request."""
    tech, honest = world["tech"], world["honest"]
    assert (await tech.call("GET", "/orgs/ReachB/resources"))[0] == 200
    status, _ = await honest.call("PATCH", "/orgs/MSPOrg/groups/desk", {"members": []})
    assert status == 200
    status, problem = await tech.call("GET", "/orgs/ReachB/resources")
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await tech.call("GET", "/orgs/ReachB/password-requests")
    assert (status, problem["code"]) == (404, "not_found")
    assert (await tech.call("GET", "/me"))[1]["managed_orgs"] == []


async def test_account_manager_changed_closes_the_next_request(world, api):
    """ReachC's account manager passes from honest to x (a request honest proposes and
    admin approves): honest is out of ReachC on its next request, x is in."""
    honest, x = world["honest"], world["x"]
    assert (await honest.call("GET", "/orgs/ReachC/users"))[0] == 200
    assert (await x.call("GET", "/orgs/ReachC/users"))[1]["code"] == "not_found"
    admin = await api.login("admin", ADMIN_PASSWORD)
    await _approve(
        honest,
        admin,
        ADMIN_PASSWORD,
        {"kind": "account_manager", "org": "ReachC", "user": "x", "approver": "admin"},
    )
    for path in ("/orgs/ReachC/users", "/orgs/ReachC", "/orgs/ReachC/report"):
        status, problem = await honest.call("GET", path)
        assert (status, problem["code"]) == (404, "not_found"), path
        assert (await x.call("GET", path))[0] == 200, path
    assert "ReachC" not in (await honest.call("GET", "/me"))[1]["capabilities"]
    assert "ReachC" in (await x.call("GET", "/me"))[1]["capabilities"]


async def test_custom_role_with_and_without_a_capability(world, api):
    """A custom role's capabilities decide, request by request: with read_audit its
    holder reads the audit trail and may not make a group; the role changed to manage_users,
    the next requests are the other way round, and GET /me says so."""
    admin = world["admin"]
    status, role = await admin.call(
        "POST", "/orgs/MSPOrg/roles", {"name": "reader", "permissions": ["read_audit"]}
    )
    assert status == 201, role
    await make_user(admin, "aud", "reader")
    aud = await api.login("aud", "final-aud-pw22")
    assert (await aud.call("GET", "/orgs/MSPOrg/audit"))[0] == 200
    assert (await aud.call("POST", "/orgs/MSPOrg/groups", {"name": "g1"}))[0] == 403
    assert (await aud.call("GET", "/me"))[1]["capabilities"] == {"MSPOrg": ["read_audit"]}
    status, _ = await admin.call(
        "PATCH", "/orgs/MSPOrg/roles/reader", {"permissions": ["manage_users"]}
    )
    assert status == 200
    assert (await aud.call("GET", "/orgs/MSPOrg/audit"))[0] == 403
    assert (await aud.call("POST", "/orgs/MSPOrg/groups", {"name": "g2"}))[0] == 201
    assert (await aud.call("GET", "/me"))[1]["capabilities"] == {"MSPOrg": ["manage_users"]}
    # A custom role never makes an administrator, whatever its capabilities.
    status, _ = await aud.call(
        "POST", "/orgs", {"name": "Mine", "display_name": "Mine", "account_manager": "aud"}
    )
    assert status == 403


async def test_reach_in_sql_needs_an_msp_home(world, app_conn):
    """org_reach itself, as the app role: a user whose home is a client org reaches
    nothing else even when named an org's account manager (as a bug or a tampered row
    might leave it), while the same row opens the org to an MSPOrg user; grants are read
    in MSPOrg's RLS context and the caller's context is restored."""
    ids = {
        r["display_name"]: r["id"]
        for r in await app_conn.fetch("SELECT id, display_name FROM orgs")
    }
    reach_one = "SELECT via FROM org_reach($1, $2, $3)"
    tr = app_conn.transaction()
    await tr.start()
    try:
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ids["MSPOrg"]))
        idle = await app_conn.fetchval("SELECT id FROM users WHERE username = 'idle'")
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ids["ReachB"]))
        await app_conn.execute(
            "UPDATE orgs SET account_manager_id = $1 WHERE id = $2", idle, ids["ReachB"]
        )
        assert await app_conn.fetchval(reach_one, idle, ids["ReachA"], ids["ReachB"]) is None
        rows = await app_conn.fetch("SELECT * FROM org_reach($1, $2)", idle, ids["ReachA"])
        assert [(r["org_id"], r["via"]) for r in rows] == [(ids["ReachA"], "home")]
        assert (
            await app_conn.fetchval(reach_one, idle, ids["MSPOrg"], ids["ReachB"])
            == "account_manager"
        )
        # solo's grant was revoked, tech left the group: from ReachB's context too, no
        # grant row answers for them, and the context is ReachB's again afterwards.
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ids["MSPOrg"]))
        solo = await app_conn.fetchval("SELECT id FROM users WHERE username = 'solo'")
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ids["ReachB"]))
        assert await app_conn.fetchval(reach_one, solo, ids["MSPOrg"], ids["ReachA"]) is None
        assert await app_conn.fetchval("SELECT app_org_id()") == ids["ReachB"]
    finally:
        await tr.rollback()
