"""Issue 26, items 4 and 5, as an attacker plays them: an approved grant silently upgraded
(a promoted designee, a custom role raised under it), a client org renamed by one person
and its old display name taken by a look-alike, a pending group grant filled by someone
else. Each sequence ends with the client org, its audit and its users not reached.

The world: admin (founder), x and honest (the founding administrators, three people);
GlobexCo, managed by honest, whose confirmed administrator gboss keeps a secret. x is the
attacker: it makes its own accounts and controls each of them.
"""

from __future__ import annotations

import asyncpg
import pytest

from server.services import orgs
from server.web.keys import ENV
from tests.conftest import OWNER
from tests.server.conftest import ADMIN_PASSWORD, Api, confirm_by_request, make_user

SECRET = "Globex-Only-Secret-42!"
_WORLD: dict = {}


async def _build(api: Api, admin: Api) -> dict:
    await make_user(admin, "x", "privileged_administrator")
    await make_user(admin, "honest", "administrator")
    x = await api.login("x", "final-x-pw22")
    honest = await api.login("honest", "final-honest-pw22")
    status, body = await admin.call(
        "POST", "/orgs", {"name": "Globex", "display_name": "GlobexCo", "account_manager": "honest"}
    )
    assert status == 201, body
    await make_user(honest, "gboss", "administrator", org="GlobexCo")
    await confirm_by_request(admin, x, "final-x-pw22", "GlobexCo", "gboss")
    gboss = await api.login("gboss", "final-gboss-pw22", org="GlobexCo")
    status, res = await gboss.call(
        "POST", "/orgs/GlobexCo/resources", {"name": "fw01", "type": "Generic"}
    )
    assert status == 201, res
    status, acct = await gboss.call(
        "POST",
        f"/orgs/GlobexCo/resources/{res['id']}/accounts",
        {"username": "root", "password": SECRET},
    )
    assert status == 201, acct
    return {"x": x.token, "honest": honest.token, "gboss": gboss.token, "account": acct["id"]}


@pytest.fixture
async def world(api, admin) -> dict:
    """The world above (built once per module), with fresh API handles."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    return {
        "admin": admin,
        "x": api.as_(_WORLD["x"]),
        "honest": api.as_(_WORLD["honest"]),
        "gboss": api.as_(_WORLD["gboss"]),
        "account": _WORLD["account"],
    }


async def _grant(proposer: Api, approver: Api, approver_password: str, **names) -> dict:
    """A grant on GlobexCo filed by ``proposer`` and approved by ``approver``."""
    me = (await approver.call("GET", "/me"))[1]["username"]
    status, req = await proposer.call(
        "POST", "/org-access-requests", {"org": "GlobexCo", "approver": me, **names}
    )
    assert status == 201, req
    status, done = await approver.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": approver_password}
    )
    assert (status, done["status"]) == (200, "approved"), done
    return done


async def assert_not_reached(who: Api, account: str, org: str = "GlobexCo") -> None:
    """``who`` neither makes users in the client org, nor reads its audit, nor its secret."""
    status, body = await who.call(
        "POST",
        f"/orgs/{org}/users",
        {"username": "implant", "role": "administrator", "password": "implant-Pass-123!"},
    )
    assert status in (403, 404), body
    status, body = await who.call("GET", f"/orgs/{org}/audit")
    assert status in (403, 404), body
    status, body = await who.call("POST", f"/orgs/{org}/accounts/{account}/reveal", {})
    assert status >= 400 and SECRET not in str(body), body


# -- item 4: a grant covers what was approved ------------------------------------------


async def test_promoting_a_granted_password_user_is_refused(world, api):
    """x makes p (a password user: x controls it); honest proposes p's grant on GlobexCo,
    admin approves it for a password user. x then promotes p to administrator: refused,
    and p still cannot make client users or read the client's audit."""
    x, honest, admin = world["x"], world["honest"], world["admin"]
    await make_user(x, "p", "password_user")
    p = await api.login("p", "final-p-pw22")
    await _grant(honest, admin, ADMIN_PASSWORD, user="p")
    status, access = await honest.call("GET", "/orgs/GlobexCo/access")
    assert status == 200, access
    assert [(u["username"], u["role"], u["approved_role"]) for u in access["users"]] == [
        ("p", "password_user", "password_user")
    ]
    status, report = await honest.call("GET", "/orgs/GlobexCo/report")
    direct = [a for a in report["msp_access"] if a["via"] == "direct"]
    assert direct == [
        {
            "username": "p",
            "role": "password_user",
            "via": "direct",
            "approved_role": "password_user",
        }
    ]
    for role in ("administrator", "password_administrator", "password_auditor"):
        status, problem = await x.call("PATCH", "/orgs/MSPOrg/users/p", {"role": role})
        assert (status, problem["code"]) == (409, "dual_control_required"), (role, problem)
        assert "GlobexCo" in problem["detail"]
    status, me = await p.call("GET", "/me")
    assert me["role"] == "password_user"
    await assert_not_reached(p, world["account"])
    # A privileged administrator above an administrator is a raise too.
    await make_user(x, "q", "administrator")
    await _grant(honest, admin, ADMIN_PASSWORD, user="q")
    status, problem = await x.call(
        "PATCH", "/orgs/MSPOrg/users/q", {"role": "privileged_administrator"}
    )
    assert (status, problem["code"]) == (409, "dual_control_required")
    # Lowering is allowed: q becomes a password user.
    status, body = await x.call("PATCH", "/orgs/MSPOrg/users/q", {"role": "password_user"})
    assert (status, body["role"]) == (200, "password_user"), body
    # Revoked first, the user may be promoted (and needs a new request to come back).
    assert (await honest.call("DELETE", "/orgs/GlobexCo/access/users/q"))[0] == 204
    status, body = await x.call("PATCH", "/orgs/MSPOrg/users/q", {"role": "administrator"})
    assert (status, body["role"]) == (200, "administrator"), body
    q = await api.login("q", "final-q-pw22")
    await assert_not_reached(q, world["account"])


async def test_a_pending_grants_designee_is_held_as_filed(world, api):
    """The attack pass: honest files a grant for zed, a password user x made, reasoned
    "read-only"; before admin decides, x promotes zed to administrator. Refused: a user
    named in a pending request keeps its role until the decision, and the approver sees
    the role it approves. zed, approved, is still a password user."""
    x, honest, admin = world["x"], world["honest"], world["admin"]
    await make_user(x, "zed", "password_user")
    zed = await api.login("zed", "final-zed-pw22")
    status, req = await honest.call(
        "POST",
        "/org-access-requests",
        {"org": "GlobexCo", "user": "zed", "approver": "admin", "reason": "zed read-only"},
    )
    assert (status, req["role"]) == (201, "password_user"), req
    status, problem = await x.call("PATCH", "/orgs/MSPOrg/users/zed", {"role": "administrator"})
    assert (status, problem["code"]) == (409, "dual_control_required"), problem
    assert "pending request for GlobexCo" in problem["detail"]
    status, queue = await admin.call("GET", "/org-access-requests?role=approver&status=pending")
    assert [(r["user"], r["role"]) for r in queue["items"] if r["id"] == req["id"]] == [
        ("zed", "password_user")
    ]
    status, done = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, done["status"]) == (200, "approved"), done
    status, access = await honest.call("GET", "/orgs/GlobexCo/access")
    assert ("zed", "password_user", "password_user") in [
        (u["username"], u["role"], u["approved_role"]) for u in access["users"]
    ]
    await assert_not_reached(zed, world["account"])
    assert (await honest.call("DELETE", "/orgs/GlobexCo/access/users/zed"))[0] == 204


async def test_promoting_an_account_manager_is_refused(world, api):
    """An account manager (a password administrator) reaches its org as one: raising it
    to administrator is refused too."""
    x, honest, admin = world["x"], world["honest"], world["admin"]
    await make_user(x, "pam", "password_administrator")
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Pam", "display_name": "PamCo", "account_manager": "pam"}
    )
    assert status == 201, org
    status, problem = await x.call("PATCH", "/orgs/MSPOrg/users/pam", {"role": "administrator"})
    assert (status, problem["code"]) == (409, "dual_control_required")
    assert "PamCo" in problem["detail"]
    status, body = await honest.call("GET", "/orgs/MSPOrg/users/pam")
    assert body["role"] == "password_administrator"


async def test_raising_a_custom_role_held_by_a_granted_user_is_refused(world, api):
    """x gives its account c an empty custom role; c is granted GlobexCo; x then adds
    manage_users and read_audit to that role: refused. Without a reaching holder, the same
    edit passes; lowering passes."""
    x, honest, admin = world["x"], world["honest"], world["admin"]
    status, body = await x.call("POST", "/orgs/MSPOrg/roles", {"name": "viewer", "permissions": []})
    assert status == 201, body
    status, body = await x.call(
        "POST", "/orgs/MSPOrg/roles", {"name": "spare", "permissions": ["read_audit"]}
    )
    assert status == 201, body
    await make_user(x, "c", "viewer")
    c = await api.login("c", "final-c-pw22")
    await _grant(honest, admin, ADMIN_PASSWORD, user="c")
    status, problem = await x.call(
        "PATCH", "/orgs/MSPOrg/roles/viewer", {"permissions": ["manage_users", "read_audit"]}
    )
    assert (status, problem["code"]) == (409, "dual_control_required"), problem
    assert "c reaches GlobexCo" in problem["detail"]
    status, problem = await x.call("PATCH", "/orgs/MSPOrg/users/c", {"role": "spare"})
    assert (status, problem["code"]) == (409, "dual_control_required"), problem
    await assert_not_reached(c, world["account"])
    status, body = await x.call("PATCH", "/orgs/MSPOrg/roles/viewer", {"description": "read only"})
    assert status == 200, body
    status, body = await x.call("PATCH", "/orgs/MSPOrg/roles/spare", {"permissions": []})
    assert status == 200, body  # lowering; and nobody holding it reaches a client
    status, body = await x.call(
        "PATCH", "/orgs/MSPOrg/roles/spare", {"permissions": ["manage_users"]}
    )
    assert status == 200, body


# -- item 4: a client's display name changes only by request -----------------------------


async def test_rename_needs_a_request_and_the_old_name_is_held(world, api):
    """honest (GlobexCo's account manager) renames GlobexCo by PATCH: refused; its free
    text name still changes. By request (approved by admin) the rename happens; then x
    creates an org under the old display name, in any case, directly or by import: refused,
    and the old name still leads nowhere but to the real client (its users log in)."""
    x, honest, admin = world["x"], world["honest"], world["admin"]
    status, problem = await honest.call("PATCH", "/orgs/GlobexCo", {"display_name": "GlobexOld"})
    assert (status, problem["code"]) == (409, "dual_control_required"), problem
    assert "org_rename" in problem["detail"]
    status, problem = await honest.call(
        "PATCH", "/orgs/GlobexCo", {"display_name": "globexco", "description": "x"}
    )
    assert (status, problem["code"]) == (409, "dual_control_required")
    status, org = await honest.call("PATCH", "/orgs/GlobexCo", {"name": "Globex Corporation"})
    assert (status, org["name"], org["display_name"]) == (200, "Globex Corporation", "GlobexCo")
    # x does not manage GlobexCo: it cannot even propose the rename.
    status, problem = await x.call(
        "POST",
        "/org-access-requests",
        {"kind": "org_rename", "org": "GlobexCo", "display_name": "Mine", "approver": "admin"},
    )
    assert status == 404, problem
    # The proposer cannot approve its own rename.
    status, problem = await honest.call(
        "POST",
        "/org-access-requests",
        {
            "kind": "org_rename",
            "org": "GlobexCo",
            "display_name": "GlobexOld",
            "approver": "honest",
        },
    )
    assert (status, problem["code"]) == (422, "approver_not_eligible")
    status, problem = await honest.call(
        "POST",
        "/org-access-requests",
        {"kind": "org_rename", "org": "GlobexCo", "display_name": "bad name", "approver": "admin"},
    )
    assert (status, problem["code"]) == (422, "validation_failed")
    status, eligible = await honest.call(
        "GET",
        "/org-access-requests/eligible-approvers?kind=org_rename&org=GlobexCo"
        "&display_name=GlobexOld",
    )
    assert status == 200, eligible
    names = {a["username"] for a in eligible["items"]}
    assert "honest" not in names and {"admin", "x"} <= names
    status, req = await honest.call(
        "POST",
        "/org-access-requests",
        {
            "kind": "org_rename",
            "org": "GlobexCo",
            "display_name": "GlobexOld",
            "approver": "admin",
            "reason": "client rebranded",
        },
    )
    assert status == 201, req
    assert (req["kind"], req["org"], req["display_name"]) == ("org_rename", "GlobexCo", "GlobexOld")
    status, done = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, done["status"], done["org"]) == (200, "approved", "GlobexOld"), done
    assert (await honest.call("GET", "/orgs/GlobexCo"))[0] == 404
    status, org = await honest.call("GET", "/orgs/GlobexOld")
    assert (status, org["display_name"]) == (200, "GlobexOld")
    status, page = await world["gboss"].call("GET", "/orgs/GlobexOld/audit?operation=org_updated")
    assert status == 200, page
    assert page["items"][0]["details"]["display_name"] == "GlobexOld"
    assert page["items"][0]["details"]["previous_display_name"] == "GlobexCo"
    # The look-alike: x (an MSPOrg administrator) takes the old display name.
    for name in ("GlobexCo", "GLOBEXCO"):
        status, problem = await x.call(
            "POST", "/orgs", {"name": "Globex", "display_name": name, "account_manager": "x"}
        )
        assert (status, problem["code"]) == (409, "display_name_reserved"), problem
    status, result = await x.call(
        "POST",
        "/orgs/import?filename=orgs.csv",
        data=b"name,display_name,account_manager\nGlobex,globexco,x\n",
        headers={"Content-Type": "text/csv"},
    )
    assert status == 200, result
    assert [(r["status"], r["code"]) for r in result["results"]] == [
        ("failed", "display_name_reserved")
    ]
    assert (await x.call("GET", "/orgs/GlobexCo"))[0] == 404
    # A rename request to a held name is refused when filed.
    status, problem = await honest.call(
        "POST",
        "/org-access-requests",
        {"kind": "org_rename", "org": "GlobexOld", "display_name": "MSPOrg", "approver": "admin"},
    )
    assert (status, problem["code"]) == (409, "display_name_taken")
    # The org that gave its name up may take it back (by request).
    status, req = await honest.call(
        "POST",
        "/org-access-requests",
        {"kind": "org_rename", "org": "GlobexOld", "display_name": "GlobexCo", "approver": "x"},
    )
    assert status == 201, req
    x_password = "final-x-pw22"
    status, done = await x.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": x_password}
    )
    assert (status, done["status"]) == (200, "approved"), done
    gboss = await api.login("gboss", "final-gboss-pw22", org="GlobexCo")
    status, shown = await gboss.call(
        "POST", f"/orgs/GlobexCo/accounts/{world['account']}/reveal", {}
    )
    assert (status, shown["password"]) == (200, SECRET)
    # ... and now GlobexOld is held for GlobexCo in turn.
    status, problem = await x.call(
        "POST", "/orgs", {"name": "G", "display_name": "GlobexOld", "account_manager": "x"}
    )
    assert (status, problem["code"]) == (409, "display_name_reserved")


async def test_a_deleted_orgs_display_name_is_held(world):
    """x makes and deletes TempCo; nobody can make another TempCo for 30 days."""
    x = world["x"]
    status, org = await x.call(
        "POST", "/orgs", {"name": "Temp", "display_name": "TempCo", "account_manager": "x"}
    )
    assert status == 201, org
    status, gone = await x.call("DELETE", "/orgs/TempCo?confirm=TempCo")
    assert status == 200, gone
    status, problem = await x.call(
        "POST", "/orgs", {"name": "Temp", "display_name": "tempco", "account_manager": "x"}
    )
    assert (status, problem["code"]) == (409, "display_name_reserved"), problem


async def test_a_held_name_is_free_after_30_days(world, pg_server, database, live_server):
    """The hold ends: a name given up 31 days ago may be taken by another org."""
    x = world["x"]
    status, org = await x.call(
        "POST", "/orgs", {"name": "Old", "display_name": "OldCo", "account_manager": "x"}
    )
    assert status == 201, org
    assert (await x.call("DELETE", "/orgs/OldCo?confirm=OldCo"))[0] == 200
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=OWNER,
        password=pg_server.owner_password,
        database=database,
    )
    try:
        # Issue 27: the deleted org keeps its name until it is purged (its window ended).
        async with conn.transaction():
            old_id = await conn.fetchval("SELECT id FROM orgs WHERE display_name = 'OldCo'")
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(old_id))
            await conn.execute(
                "UPDATE orgs SET purge_at = now() - interval '1 second' WHERE id = $1", old_id
            )
        assert await orgs.purge_due(live_server.app[ENV]) == 1
        async with conn.transaction():
            org_id = await conn.fetchval(
                "SELECT org_id FROM retired_display_names WHERE name = 'oldco'"
            )
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            await conn.execute(
                "UPDATE retired_display_names SET freed_at = now() - interval '31 days' "
                "WHERE name = 'oldco'"
            )
    finally:
        await conn.close()
    status, org = await x.call(
        "POST", "/orgs", {"name": "Old", "display_name": "OldCo", "account_manager": "x"}
    )
    assert status == 201, org


# -- item 5: a pending group grant filled by someone else --------------------------------


async def test_group_filled_while_pending_is_refused(world, api):
    """honest files a grant on GlobexCo for the empty MSPOrg group 'ops'; x adds its own
    account m1 while it is pending; admin sees the members as filed and approves: refused
    with group_changed naming m1, nothing is granted, and m1 gets 404 on the org. The
    group_updated event names m1."""
    x, honest, admin = world["x"], world["honest"], world["admin"]
    await make_user(x, "m1", "administrator")
    m1 = await api.login("m1", "final-m1-pw22")
    status, body = await x.call("POST", "/orgs/MSPOrg/groups", {"name": "ops"})
    assert status == 201, body
    org = (await honest.call("GET", "/orgs/GlobexCo"))[1]["display_name"]
    status, req = await honest.call(
        "POST", "/org-access-requests", {"org": org, "group": "ops", "approver": "admin"}
    )
    assert status == 201, req
    assert req["members"] == []
    status, body = await x.call("PATCH", "/orgs/MSPOrg/groups/ops", {"members": ["m1"]})
    assert status == 200, body
    status, page = await admin.call("GET", "/org-access-requests?role=approver&status=pending")
    shown = next(r for r in page["items"] if r["id"] == req["id"])
    assert (shown["group"], shown["members"]) == ("ops", [])
    status, problem = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, problem["code"]) == (409, "group_changed"), problem
    assert "added m1" in problem["detail"]
    status, access = await honest.call("GET", f"/orgs/{org}/access")
    assert access["groups"] == []
    for path in (f"/orgs/{org}", f"/orgs/{org}/users", f"/orgs/{org}/audit"):
        assert (await m1.call("GET", path))[0] == 404, path
    await assert_not_reached(m1, world["account"], org)
    status, page = await x.call("GET", "/orgs/MSPOrg/audit?operation=group_updated")
    details = page["items"][0]["details"]
    assert (details["members_added"], details["members_removed"]) == (["m1"], [])
    # The request stays pending (the approver rejects it); a new one names m1.
    status, _ = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/reject", {"reason": "group changed"}
    )
    assert status == 200
    status, req = await honest.call(
        "POST", "/org-access-requests", {"org": org, "group": "ops", "approver": "admin"}
    )
    assert (status, req["members"]) == (201, ["m1"]), req
    # Removing a member while pending is a change too.
    status, body = await x.call("PATCH", "/orgs/MSPOrg/groups/ops", {"members": []})
    assert status == 200, body
    status, problem = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, problem["code"]) == (409, "group_changed")
    assert "removed m1" in problem["detail"]
    status, page = await x.call("GET", "/orgs/MSPOrg/audit?operation=group_updated")
    details = page["items"][0]["details"]
    assert (details["members_added"], details["members_removed"]) == ([], ["m1"])
    # Unchanged, the grant goes through and records its members as approved.
    assert (await x.call("PATCH", "/orgs/MSPOrg/groups/ops", {"members": ["m1"]}))[0] == 200
    status, _ = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/reject", {"reason": "group changed"}
    )
    status, req = await honest.call(
        "POST", "/org-access-requests", {"org": org, "group": "ops", "approver": "admin"}
    )
    assert status == 201, req
    status, done = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, done["status"]) == (200, "approved"), done
    status, access = await honest.call("GET", f"/orgs/{org}/access")
    assert access["groups"][0]["name"] == "ops"
    assert access["groups"][0]["approved_members"] == [{"username": "m1", "role": "administrator"}]
    status, page = await honest.call("GET", f"/orgs/{org}/audit?operation=org_access_approved")
    assert page["items"][0]["details"]["members"] == ["m1"]
