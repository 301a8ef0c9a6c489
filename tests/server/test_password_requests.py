"""Password access control: request, approval, a time-limited exclusive check-out,
check-in with rotation, expiry, forced check-in, and approvals that are not independent.

The world: client org VaultCo with its confirmed administrator cadmin (scope all), who made
keeper (owns the account), req and req2 (may view it) and proxy; appr (its approver) was
made by vthird, another MSP person granted VaultCo, and confirmed by cadmin: accounts one
person made are one person (issue 26), so the approver must come from someone else.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import Api, guarded_client_org, make_user

ORG = "VaultCo"
P0 = "First-Secret-Pass-1!"
_WORLD: dict = {}


async def _build(api: Api, admin: Api) -> dict:
    world = await guarded_client_org(
        api,
        admin,
        ORG,
        {"manager": "vmgr", "third": "vthird", "client_admin": "cadmin", "approver": "appr"},
        [("keeper", "password_administrator"), ("req", "password_user"), ("req2", "password_user")],
        {"name": "core-db", "type": "MS SQL Server"},
        {"username": "sa", "password": P0},
    )
    tokens = world["tokens"]
    keeper, cadmin = api.as_(tokens["keeper"]), api.as_(tokens["cadmin"])
    resource, account = world["resource"], world["account"]
    for user in ("req", "req2", "appr"):
        status, _ = await keeper.call(
            "POST",
            f"/orgs/{ORG}/resources/{resource}/shares",
            {"user": user, "permission": "view"},
        )
        assert status == 201
    await make_user(cadmin, "proxy", "password_user", org=ORG)
    tokens["proxy"] = (await api.login("proxy", "final-proxy-pw22", org=ORG)).token
    status, control = await keeper.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{account}/access-control",
        {
            "enabled": True,
            "approvers": ["appr", "proxy"],
            "max_window_minutes": 30,
            "exclusive": True,
        },
    )
    assert (status, control["approvers"]) == (200, ["appr", "proxy"]), control
    return world


async def legacy_rotation(owner_conn, account: str) -> None:
    """Turn rotation at check-in on for ``account``'s control as it stood before issue 29:
    its resource has no connection, so the API refuses it now (422), but a control made
    before still rotates in the vault."""
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE access_controls SET rotate_on_checkin = true WHERE account_id = $1::uuid",
            account,
        )


@pytest.fixture
async def world(api, admin, owner_conn) -> dict:
    """The world above (built once per module) with API handles by name."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
        await legacy_rotation(owner_conn, _WORLD["account"])
    people = {name: api.as_(token) for name, token in _WORLD["tokens"].items()}
    return {**people, "account": _WORLD["account"], "resource": _WORLD["resource"]}


async def reveal(who: Api, account: str) -> tuple[int, dict]:
    """POST …/reveal."""
    return await who.call("POST", f"/orgs/{ORG}/accounts/{account}/reveal", {})


async def request(who: Api, account: str, minutes: int = 10) -> dict:
    """File a request (asserts 201)."""
    status, body = await who.call(
        "POST",
        f"/orgs/{ORG}/password-requests",
        {"account": account, "reason": "maintenance window", "window_minutes": minutes},
    )
    assert status == 201, body
    return body


async def decide(who: Api, rid: str, verb: str = "approve") -> tuple[int, dict]:
    """Approve or reject a request."""
    return await who.call("POST", f"/orgs/{ORG}/password-requests/{rid}/{verb}", {})


async def set_control(world: dict, account: str, body: dict, approver: Api | None = None) -> None:
    """The keeper puts ``body`` in force on the account: a change that weakens the control
    (here: new approvers) is a request (202) that ``approver`` approves (issue 26)."""
    status, answer = await world["keeper"].call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/access-control", body
    )
    if status == 202:
        status, answer = await (approver or world["appr"]).call(
            "POST", f"/orgs/{ORG}/access-control-requests/{answer['id']}/approve", {}
        )
        assert (status, answer["status"]) == (200, "approved"), answer
    else:
        assert status == 200, answer


async def end_window(owner_conn, rid: str, column: str = "ends_at") -> None:
    """Move a request's window end (or expiry) into the past, as time would."""
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            f"UPDATE password_requests SET {column} = now() - interval '1 second' "
            "WHERE id = $1::uuid",
            rid,
        )
        if column == "ends_at":
            await owner_conn.execute("DELETE FROM open_checkouts WHERE request_id = $1::uuid", rid)
            await owner_conn.execute(
                "INSERT INTO open_checkouts SELECT id, org_id, ends_at FROM password_requests "
                "WHERE id = $1::uuid",
                rid,
            )


async def test_request_approve_reveal_check_in_rotates(world, owner_conn):
    """No reveal without a check-out; the approved requester reveals within its window,
    a second user is refused while it holds it; check-in rotates the password."""
    req, req2, appr, keeper = world["req"], world["req2"], world["appr"], world["keeper"]
    account = world["account"]
    status, problem = await reveal(req, account)
    assert (status, problem["code"]) == (403, "checkout_required")
    mine = await request(req, account)
    assert mine["status"] == "pending"
    status, problem = await decide(req, mine["id"])
    assert (status, problem["code"]) == (403, "approver_not_eligible")
    status, queue = await appr.call("GET", f"/orgs/{ORG}/password-requests?role=approver")
    assert [r["id"] for r in queue["items"]] == [mine["id"]]
    status, done = await decide(appr, mine["id"])
    assert (status, done["status"], done["approved_by"]) == (200, "approved", ["appr"])
    status, shown = await reveal(req, account)
    assert (status, shown["password"]) == (200, P0)
    # Exclusive: req2 sees who holds it until when, cannot reveal nor open its own window.
    status, problem = await reveal(req2, account)
    assert (status, problem["code"], problem["holder"]) == (409, "checked_out", "req@VaultCo")
    theirs = await request(req2, account)
    status, problem = await decide(appr, theirs["id"])
    assert (status, problem["code"]) == (409, "checked_out")
    status, problem = await keeper.call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/password", {"generate": True}
    )
    assert (status, problem["code"]) == (409, "checked_out")
    status, info = await req2.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert (info["access"]["state"], info["access"]["holder"]) == ("held", "req@VaultCo")
    # Check-in: the password changes, and is never shown again.
    status, back = await req.call("POST", f"/orgs/{ORG}/password-requests/{mine['id']}/check-in")
    assert (status, back["status"]) == (200, "checked_in")
    status, problem = await reveal(req, account)
    assert (status, problem["code"]) == (403, "checkout_required")
    status, done = await decide(appr, theirs["id"])
    assert (status, done["status"]) == (200, "approved")
    status, shown = await reveal(req2, account)
    assert status == 200 and shown["password"] != P0
    # The window ends: the reveal stops at once, the sweeper checks it in and rotates.
    await end_window(owner_conn, theirs["id"])
    status, problem = await reveal(req2, account)
    assert (status, problem["code"]) == (403, "checkout_required")
    for _ in range(60):
        _, listing = await req2.call("GET", f"/orgs/{ORG}/password-requests?role=requester")
        state = {r["id"]: r for r in listing["items"]}[theirs["id"]]
        if state["status"] == "checked_in":
            break
        await asyncio.sleep(0.5)
    assert (state["status"], state["checked_in_by"]) == ("checked_in", "system@MSPOrg")
    _, audit = await world["cadmin"].call(
        "GET", f"/orgs/{ORG}/audit?operation=password_checked_in&limit=5"
    )
    assert [e["details"]["rotated"] for e in audit["items"]] == [True, True]
    assert all(P0 not in str(e) for e in audit["items"])


async def test_expiry_force_check_in_and_proxies(world, owner_conn):
    """An unanswered request expires; an administrator forces a check-in (audited); a
    requester's own approval, one by an account it made and one by its sibling (an account
    made by the same person) are refused."""
    req, appr, cadmin = world["req"], world["appr"], world["cadmin"]
    account = world["account"]
    old = await request(req, account)
    await end_window(owner_conn, old["id"], column="expires_at")
    status, problem = await decide(appr, old["id"])
    assert (status, problem["code"]) == (409, "request_expired")
    held = await request(req, account)
    assert (await decide(appr, held["id"]))[0] == 200
    status, holds = await cadmin.call("GET", f"/orgs/{ORG}/password-holds")
    assert [(h["requester"], h["account"]) for h in holds["items"]] == [("req", "sa")]
    assert (await req.call("GET", f"/orgs/{ORG}/password-holds"))[0] == 403
    status, forced = await cadmin.call(
        "POST", f"/orgs/{ORG}/password-requests/{held['id']}/check-in"
    )
    assert (status, forced["checked_in_by"]) == (200, "cadmin@VaultCo")
    _, page = await cadmin.call("GET", f"/orgs/{ORG}/audit?operation=password_checked_in&limit=1")
    assert page["items"][0]["details"]["forced"] is True
    # proxy, made by cadmin as req was, is req's sibling: one person, it cannot approve.
    sibling = await request(req, account)
    status, problem = await decide(world["proxy"], sibling["id"])
    assert (status, problem["code"]) == (403, "approver_not_eligible"), problem
    assert "made by the same person (cadmin)" in problem["detail"]
    assert (await req.call("POST", f"/orgs/{ORG}/password-requests/{sibling['id']}/withdraw"))[
        0
    ] == 200
    # deputy makes proxy2, which the keeper (unaware) adds as an approver: proxy2 cannot
    # approve deputy's request; appr can.
    await make_user(cadmin, "deputy", "administrator", org=ORG)
    deputy = await cadmin.login("deputy", "final-deputy-pw22", org=ORG)
    await make_user(deputy, "proxy2", "password_user", org=ORG)
    proxy2 = await cadmin.login("proxy2", "final-proxy2-pw22", org=ORG)
    await world["keeper"].call(
        "POST",
        f"/orgs/{ORG}/resources/{world['resource']}/shares",
        {"user": "deputy", "permission": "view"},
    )
    await set_control(
        world,
        account,
        {"enabled": True, "approvers": ["appr", "proxy2"], "rotate_on_checkin": True},
    )
    own = await request(deputy, account)
    for who in (proxy2, deputy):
        status, problem = await decide(who, own["id"])
        assert (status, problem["code"]) == (403, "approver_not_eligible"), problem
    status, done = await decide(appr, own["id"], "reject")
    assert (status, done["status"]) == (200, "rejected")
    # Withdrawal by the requester only.
    pending = await request(req, account)
    assert (await appr.call("POST", f"/orgs/{ORG}/password-requests/{pending['id']}/withdraw"))[
        0
    ] == 403
    status, gone = await req.call("POST", f"/orgs/{ORG}/password-requests/{pending['id']}/withdraw")
    assert (status, gone["status"]) == (200, "withdrawn")


async def test_no_independent_approver_no_request(world):
    """A control whose only approver is the requester's own creation accepts no request."""
    cadmin, keeper = world["cadmin"], world["keeper"]
    status, res = await keeper.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "fw", "type": "Cisco IOS"}
    )
    status, acct = await keeper.call(
        "POST", f"/orgs/{ORG}/resources/{res['id']}/accounts", {"username": "en", "generate": True}
    )
    status, _ = await keeper.call(
        "PUT",
        f"/orgs/{ORG}/resources/{res['id']}/access-control",
        {"enabled": True, "approvers": ["proxy"]},
    )
    assert status == 200
    status, control = await keeper.call("GET", f"/orgs/{ORG}/accounts/{acct['id']}/access-control")
    assert (control["enabled"], control["inherited_from"]) == (True, "resource")
    status, problem = await cadmin.call(
        "POST",
        f"/orgs/{ORG}/password-requests",
        {"account": acct["id"], "reason": "x", "window_minutes": 5},
    )
    assert (status, problem["code"]) == (422, "no_eligible_approver")
    # A window too long as well: both said at once, not one per attempt.
    status, problem = await cadmin.call(
        "POST",
        f"/orgs/{ORG}/password-requests",
        {"account": acct["id"], "reason": "x", "window_minutes": 99999},
    )
    assert (status, problem["code"]) == (422, "no_eligible_approver")
    assert [e["field"] for e in problem["errors"]] == ["account", "window_minutes"], problem


async def test_every_problem_of_an_access_control_at_once(world):
    """Newcomer pass, session 11: the access control form was refused in rounds (a
    number, then an unknown approver, then an unknown group). One answer now names every
    field, and nothing is written."""
    keeper = world["keeper"]
    _, res = await keeper.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "rounds", "type": "Linux"}
    )
    path = f"/orgs/{ORG}/resources/{res['id']}/access-control"
    body = {
        "enabled": True,
        "approvers": ["appr", "ghost"],
        "approver_groups": ["phantom"],
        "approvals_needed": 9,
        "max_window_minutes": 0,
    }
    status, problem = await keeper.call("PUT", path, body)
    assert (status, problem["code"]) == (422, "validation_failed"), problem
    assert {e["field"]: e["message"] for e in problem["errors"]} == {
        "approvals_needed": "must be between 1 and 5",
        "max_window_minutes": "must be between 1 and 10080 (7 days)",
        "approvers": f"not in {ORG}: ghost",
        "approver_groups": f"not in {ORG}: phantom",
    }
    status, problem = await keeper.call("PUT", path, {"enabled": True, "approvals_needed": 0})
    assert {e["field"] for e in problem["errors"]} == {"approvals_needed", "approvers"}
    # Newcomer pass, session 12: more approvals than approvers could never be approved.
    status, problem = await keeper.call(
        "PUT", path, {"enabled": True, "approvers": ["appr"], "approvals_needed": 2}
    )
    assert (status, [e["field"] for e in problem["errors"]]) == (422, ["approvals_needed"])
    assert "approvers named are 1 active user" in problem["errors"][0]["message"], problem
    status, control = await keeper.call("GET", path)
    assert (status, control["enabled"]) == (200, False)  # nothing written


async def test_two_approvals_at_once_open_one_exclusive_window(world):
    """req and req2 each ask; appr approves both at the same moment: one window opens."""
    req, req2, appr = world["req"], world["req2"], world["appr"]
    account = world["account"]
    # Dropping proxy2 weakens the control: appr, independent of the keeper, approves it.
    await set_control(world, account, {"enabled": True, "approvers": ["appr"]})
    first, second = await request(req, account), await request(req2, account)
    results = await asyncio.gather(decide(appr, first["id"]), decide(appr, second["id"]))
    assert sorted(status for status, _ in results) == [200, 409]
    revealed = [(await reveal(who, account))[0] for who in (req, req2)]
    assert sorted(revealed) == [200, 409]


async def test_deleting_a_link_keeps_the_chain(world):
    """cadmin made deputy, deputy made proxy2: deleting deputy does not make proxy2
    independent of cadmin."""
    cadmin = world["cadmin"]
    account = world["account"]
    await set_control(world, account, {"enabled": True, "approvers": ["proxy2"]})
    body = {"account": account, "reason": "x", "window_minutes": 5}
    status, problem = await cadmin.call("POST", f"/orgs/{ORG}/password-requests", body)
    assert (status, problem["code"]) == (422, "no_eligible_approver")
    assert (await cadmin.call("DELETE", f"/orgs/{ORG}/users/deputy"))[0] == 204
    status, problem = await cadmin.call("POST", f"/orgs/{ORG}/password-requests", body)
    assert (status, problem["code"]) == (422, "no_eligible_approver")


async def test_approvers_that_cannot_approve_are_refused_and_explained(api, world):
    """Issue 27, item 2: access control refuses approvers that could never approve (an
    unconfirmed user, a disabled one, an empty group) with the reason; the check-out's
    approver list says who could approve and why not; the refusal names the real cause."""
    cadmin, keeper = world["cadmin"], world["keeper"]
    vmgr = await api.login("vmgr", "final-vmgr-pw22")
    status, body = await vmgr.call(
        "POST",
        f"/orgs/{ORG}/users",
        {"username": "unconf", "role": "password_user", "password": "initial-unconf-pw1"},
    )
    assert status == 201, body
    await make_user(cadmin, "gone", "password_user", org=ORG)
    status, _ = await cadmin.call("PATCH", f"/orgs/{ORG}/users/gone", {"status": "disabled"})
    assert status == 200
    status, _ = await cadmin.call("POST", f"/orgs/{ORG}/groups", {"name": "nobody"})
    assert status == 201
    _, res = await keeper.call("POST", f"/orgs/{ORG}/resources", {"name": "lab", "type": "Linux"})
    _, acct = await keeper.call(
        "POST",
        f"/orgs/{ORG}/resources/{res['id']}/accounts",
        {"username": "root", "generate": True},
    )
    path = f"/orgs/{ORG}/accounts/{acct['id']}/access-control"
    for body, why in (
        ({"approvers": ["unconf"]}, "unconfirmed"),
        ({"approvers": ["gone"]}, "disabled"),
        ({"approver_groups": ["nobody"]}, "no members"),
    ):
        status, problem = await keeper.call("PUT", path, {"enabled": True, **body})
        assert (status, problem["code"]) == (422, "approver_cannot_approve"), problem
        assert why in problem["detail"], problem
    status, control = await keeper.call("GET", path)
    assert control["enabled"] is False  # nothing half-written
    status, _ = await keeper.call("PUT", path, {"enabled": True, "approvers": ["proxy", "appr"]})
    assert status == 200
    status, answer = await cadmin.call(
        "GET", f"/orgs/{ORG}/password-requests/eligible-approvers?account={acct['id']}"
    )
    assert status == 200, answer
    states = {c["username"]: c for c in answer["candidates"]}
    assert states["appr"]["eligible"] is True and states["appr"]["reason"] is None
    assert states["proxy"]["eligible"] is False and "made" in states["proxy"]["reason"]
    # The refusal of a check-out names each approver's cause.
    status, res = await keeper.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "sw", "type": "Linux"}
    )
    _, acct = await keeper.call(
        "POST", f"/orgs/{ORG}/resources/{res['id']}/accounts", {"username": "adm", "generate": True}
    )
    status, _ = await keeper.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{acct['id']}/access-control",
        {"enabled": True, "approvers": ["proxy"]},
    )
    assert status == 200
    status, problem = await cadmin.call(
        "POST",
        f"/orgs/{ORG}/password-requests",
        {"account": acct["id"], "reason": "x", "window_minutes": 5},
    )
    assert (status, problem["code"]) == (422, "no_eligible_approver")
    assert "proxy" in problem["detail"] and "made" in problem["detail"], problem
