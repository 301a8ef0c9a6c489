"""The MSP story end to end over HTTPS: three administrators, an org, dual-control access,
a client user, and deletion."""

from __future__ import annotations

import pytest

from tests.server.conftest import make_user


@pytest.fixture
async def staff(api, admin):
    """MSP administrators A, B, C and an MSP password administrator D, logged in.

    Dual control counts persons: A and B are founding administrators (independent of
    admin); C is admin's and D is B's, so A, C and D are three different people.
    """
    people = {}
    for name, role, creator in (
        ("a", "administrator", None),
        ("b", "administrator", None),
        ("c", "administrator", None),
        ("d", "password_administrator", "b"),
    ):
        status, _ = await admin.call("GET", f"/orgs/MSPOrg/users/{name}")
        password = f"final-{name}-pw22"
        if status == 404:
            password = await make_user(people[creator] if creator else admin, name, role)
        people[name] = await api.login(name, password)
    return people


async def test_the_whole_story(api, admin, staff):
    """A creates abc with B as account manager; A asks access for D naming C; only C can
    approve; D then acts in abc; a client user sees only abc; only B deletes it."""
    a, b, c, d = staff["a"], staff["b"], staff["c"], staff["d"]
    status, org = await a.call(
        "POST",
        "/orgs",
        {
            "name": "ABC Manufacturing",
            "display_name": "abc",
            "account_manager": "b",
            "description": "Widgets",
            "department": "Ops",
            "location": "Leeds",
        },
    )
    assert status == 201, org
    assert org["account_manager"] == "b" and org["vault_control"] == "both"

    # B manages abc; D does not reach it yet.
    status, me_b = await b.call("GET", "/me")
    assert me_b["managed_orgs"] == ["abc"]
    assert (await d.call("GET", "/orgs/abc/users"))[0] == 404
    assert (await b.call("GET", "/orgs/abc/users"))[0] == 200

    status, req = await a.call(
        "POST",
        "/org-access-requests",
        {"org": "abc", "user": "d", "approver": "c", "reason": "night cover"},
    )
    assert status == 201, req
    assert (req["status"], req["proposer"], req["approver"], req["user"]) == (
        "pending",
        "a",
        "c",
        "d",
    )
    rid = req["id"]

    # Neither A, nor D, nor B, nor the privileged admin can approve: only C.
    for who, password in (
        (a, "final-a-pw22"),
        (d, "final-d-pw22"),
        (b, "final-b-pw22"),
        (admin, "first-Password-123"),
    ):
        status, problem = await who.call(
            "POST", f"/org-access-requests/{rid}/approve", {"current_password": password}
        )
        assert status == 403, problem
    status, queue = await c.call("GET", "/org-access-requests?status=pending&role=approver")
    assert [r["id"] for r in queue["items"]] == [rid]
    status, problem = await c.call(
        "POST", f"/org-access-requests/{rid}/approve", {"current_password": "wrong-password-x"}
    )
    assert status == 422
    status, done = await c.call(
        "POST", f"/org-access-requests/{rid}/approve", {"current_password": "final-c-pw22"}
    )
    assert (status, done["status"]) == (200, "approved")
    status, problem = await c.call(
        "POST", f"/org-access-requests/{rid}/approve", {"current_password": "final-c-pw22"}
    )
    assert (status, problem["code"]) == (409, "request_not_pending")

    # D now acts in abc with its own role; B (account manager) adds a client user.
    assert (await d.call("GET", "/orgs/abc/users"))[0] == 200
    assert "abc" in (await d.call("GET", "/me"))[1]["managed_orgs"]
    # Through the grant D reveals what the account manager shares with it.
    _, res = await b.call("POST", "/orgs/abc/resources", {"name": "dsrv", "type": "Linux"})
    _, acct = await b.call(
        "POST", f"/orgs/abc/resources/{res['id']}/accounts", {"username": "root", "generate": True}
    )
    await b.call(
        "POST",
        f"/orgs/abc/resources/{res['id']}/shares",
        {"user": "d", "user_org": "MSPOrg", "permission": "view"},
    )
    status, secret = await d.call("POST", f"/orgs/abc/accounts/{acct['id']}/reveal", {})
    assert status == 200 and len(secret["password"]) >= 14
    status, _ = await b.call(
        "POST",
        "/orgs/abc/users",
        {"username": "clara", "role": "administrator", "password": "clara-initial-1"},
    )
    assert status == 201
    clara = await api.login("clara", "clara-initial-1", org="abc")
    await clara.call(
        "POST",
        "/me/password",
        {"current_password": "clara-initial-1", "new_password": "clara-final-pw-2"},
    )
    status, visible = await clara.call("GET", "/orgs")
    assert [o["display_name"] for o in visible["items"]] == ["abc"]
    for path in ("/orgs/MSPOrg/users", "/orgs/MSPOrg/audit"):
        status, problem = await clara.call("GET", path)
        assert (status, problem["code"]) == (404, "not_found")

    status, report = await b.call("GET", "/orgs/abc/report")
    assert status == 200
    vias = {(x["username"], x["via"]) for x in report["msp_access"]}
    assert {("b", "account_manager"), ("d", "direct")} <= vias
    assert [u["username"] for u in report["users"]] == ["clara"]

    # Both chains recorded the approval.
    for who, org_name in ((a, "MSPOrg"), (b, "abc")):
        status, page = await who.call(
            "GET", f"/orgs/{org_name}/audit?operation=org_access_approved"
        )
        assert status == 200 and len(page["items"]) == 1, (org_name, page)

    # Deleting: the client's own admin, C (no access) and a wrong confirmation fail.
    assert (await clara.call("DELETE", "/orgs/abc?confirm=abc"))[0] == 403
    assert (await c.call("DELETE", "/orgs/abc?confirm=abc"))[0] == 404
    status, problem = await b.call("DELETE", "/orgs/abc?confirm=abd")
    assert (status, problem["code"]) == (400, "confirmation_mismatch")
    status, res = await b.call("POST", "/orgs/abc/resources", {"name": "fw", "type": "Cisco IOS"})
    await b.call(
        "POST",
        f"/orgs/abc/resources/{res['id']}/accounts",
        {"username": "enable", "generate": True},
    )
    status, result = await b.call("DELETE", "/orgs/abc?confirm=abc")
    assert status == 200, result
    assert result["deleted"] == {
        "users": 1,
        "groups": 0,
        "resources": 2,
        "accounts": 2,
        "resource_groups": 0,
        "policies": 0,
        "roles": 0,
        "fields": 0,
    }
    assert result["purge_at"]  # kept, restorable, until then (issue 27)
    assert (await clara.call("GET", "/me"))[0] == 401
    assert (await b.call("GET", "/orgs/abc"))[0] == 404
    status, page = await a.call("GET", "/orgs/MSPOrg/audit?operation=org_deleted")
    assert page["items"][0]["target"] == "abc"
    assert page["items"][0]["details"]["users"] == 1


async def test_dual_control_rules(admin, staff, api):
    """Approver = proposer, approver = designee, approver in the designee group, a
    non-administrator approver are refused at filing; cancel and reject work."""
    a, c = staff["a"], staff["c"]
    await a.call(
        "POST", "/orgs", {"name": "Rules", "display_name": "rules", "account_manager": "b"}
    )
    bad = [
        ({"org": "rules", "user": "d", "approver": "a"}, "approver_not_eligible"),
        ({"org": "rules", "user": "c", "approver": "c"}, "approver_not_eligible"),
        ({"org": "rules", "user": "d", "approver": "d"}, "approver_not_eligible"),
        ({"org": "MSPOrg", "user": "d", "approver": "c"}, "validation_failed"),
        ({"org": "nowhere", "user": "d", "approver": "c"}, "validation_failed"),
        ({"org": "rules", "approver": "c"}, "validation_failed"),
    ]
    for body, code in bad:
        status, problem = await a.call("POST", "/org-access-requests", body)
        assert (status, problem["code"]) == (422, code), body
    status, _ = await admin.call(
        "POST", "/orgs/MSPOrg/groups", {"name": "oncall", "members": ["c", "d"]}
    )
    status, problem = await a.call(
        "POST", "/org-access-requests", {"org": "rules", "group": "oncall", "approver": "c"}
    )
    assert (status, problem["code"]) == (422, "approver_not_eligible")
    # Rule re-checked at decision: C joins the designee group after filing.
    await admin.call("PATCH", "/orgs/MSPOrg/groups/oncall", {"members": ["d"]})
    status, req = await a.call(
        "POST", "/org-access-requests", {"org": "rules", "group": "oncall", "approver": "c"}
    )
    assert status == 201
    await admin.call("PATCH", "/orgs/MSPOrg/groups/oncall", {"members": ["d", "c"]})
    status, problem = await c.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": "final-c-pw22"}
    )
    assert (status, problem["code"]) == (403, "approver_not_eligible")
    # A password user cannot file requests.
    status, problem = await staff["d"].call(
        "POST", "/org-access-requests", {"org": "rules", "user": "d", "approver": "c"}
    )
    assert status == 403
    # Cancel by the proposer only; reject by the approver only.
    assert (await c.call("POST", f"/org-access-requests/{req['id']}/cancel", {}))[0] == 403
    status, body = await a.call(
        "POST", f"/org-access-requests/{req['id']}/cancel", {"reason": "wrong group"}
    )
    assert (status, body["status"]) == (200, "cancelled")
    status, req2 = await a.call(
        "POST", "/org-access-requests", {"org": "rules", "user": "d", "approver": "c"}
    )
    assert (await a.call("POST", f"/org-access-requests/{req2['id']}/reject", {}))[0] == 403
    status, body = await c.call(
        "POST", f"/org-access-requests/{req2['id']}/reject", {"reason": "not needed"}
    )
    assert (status, body["status"], body["decision_reason"]) == (200, "rejected", "not needed")


async def test_expired_request_cannot_be_approved(staff, owner_conn):
    """A request past its expiry is shown expired and approving it fails."""
    a, c = staff["a"], staff["c"]
    await a.call("POST", "/orgs", {"name": "Old", "display_name": "old", "account_manager": "b"})
    status, req = await a.call(
        "POST", "/org-access-requests", {"org": "old", "user": "d", "approver": "c"}
    )
    async with owner_conn.transaction():
        msp = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(msp))
        await owner_conn.execute(
            "UPDATE org_access_requests SET expires_at = now() - interval '1 minute' "
            "WHERE id = $1::uuid",
            req["id"],
        )
    status, listing = await c.call("GET", "/org-access-requests?role=approver&status=expired")
    assert req["id"] in [r["id"] for r in listing["items"]]
    status, problem = await c.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": "final-c-pw22"}
    )
    assert (status, problem["code"]) == (409, "request_expired")


async def test_group_grant_and_revoke(admin, staff):
    """A grant through an MSPOrg group lets its members in; revoking takes it away."""
    a, c, d = staff["a"], staff["c"], staff["d"]
    await a.call("POST", "/orgs", {"name": "Grp", "display_name": "grp", "account_manager": "b"})
    await admin.call("POST", "/orgs/MSPOrg/groups", {"name": "helpdesk", "members": ["d"]})
    status, req = await a.call(
        "POST", "/org-access-requests", {"org": "grp", "group": "helpdesk", "approver": "c"}
    )
    assert status == 201, req
    await c.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": "final-c-pw22"}
    )
    assert (await d.call("GET", "/orgs/grp/users"))[0] == 200
    # A filed it but manages nothing there: it sees the org's name only.
    for path in ("/orgs/grp", "/orgs/grp/access", "/orgs/grp/report"):
        assert (await a.call("GET", path))[0] == 404
    assert (await a.call("DELETE", "/orgs/grp/access/groups/helpdesk"))[0] == 404
    b = staff["b"]
    status, access = await b.call("GET", "/orgs/grp/access")
    assert access["groups"][0]["name"] == "helpdesk"
    status, report = await b.call("GET", "/orgs/grp/report")
    assert ("d", "group:helpdesk") in {(x["username"], x["via"]) for x in report["msp_access"]}
    assert (await b.call("DELETE", "/orgs/grp/access/groups/helpdesk"))[0] == 204
    assert (await d.call("GET", "/orgs/grp/users"))[0] == 404
    assert (await b.call("DELETE", "/orgs/grp/access/groups/helpdesk"))[0] == 404
