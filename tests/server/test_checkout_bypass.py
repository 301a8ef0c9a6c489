"""Check-out switched off or bypassed by one user (issue 26, item 7), and check-in
rotation that leaves secret additional fields unchanged (item 11).

Each attack ends in "the secret was not revealed": the weakening does not take effect
(it becomes a request for the control's approvers) and the reveal still answers
``checkout_required``; a controlled password replaced outside a window is refused, and
the next approved check-out reveals the original value.

The world: client org GuardCo with its confirmed administrator gadmin, who made keeper
(owns resource edge-fw and its account admin), fuller (full share), modder (modify
share) and greq (view share); gappr (the control's approver) was made by gthird, another
MSP person granted GuardCo, and confirmed by gadmin.
"""

from __future__ import annotations

import pytest

from tests.server.conftest import Api, guarded_client_org

ORG = "GuardCo"
P0 = "Original-Edge-Pass-1!"
_WORLD: dict = {}


async def _build(api: Api, admin: Api) -> dict:
    world = await guarded_client_org(
        api,
        admin,
        ORG,
        {"manager": "gmgr", "third": "gthird", "client_admin": "gadmin", "approver": "gappr"},
        [
            ("keeper", "password_administrator"),
            ("fuller", "password_user"),
            ("modder", "password_user"),
            ("greq", "password_user"),
        ],
        {"name": "edge-fw", "type": "Cisco IOS"},
        {"username": "admin", "password": P0},
    )
    tokens = world["tokens"]
    keeper = api.as_(tokens["keeper"])
    resource, account = world["resource"], world["account"]
    for user, level in (("fuller", "full"), ("modder", "modify"), ("greq", "view")):
        status, _ = await keeper.call(
            "POST",
            f"/orgs/{ORG}/resources/{resource}/shares",
            {"user": user, "permission": level},
        )
        assert status == 201
    status, control = await keeper.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{account}/access-control",
        {"enabled": True, "approvers": ["gappr"], "max_window_minutes": 30},
    )
    assert (status, control["enabled"]) == (200, True), control
    return world


@pytest.fixture
async def world(api, admin) -> dict:
    """The world above (built once per module) with API handles by name."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    people = {name: api.as_(token) for name, token in _WORLD["tokens"].items()}
    return {**people, "account": _WORLD["account"], "resource": _WORLD["resource"]}


def control_path(account: str) -> str:
    """The account's access control."""
    return f"/orgs/{ORG}/accounts/{account}/access-control"


async def reveal(who: Api, account: str) -> tuple[int, dict]:
    """POST …/reveal."""
    return await who.call("POST", f"/orgs/{ORG}/accounts/{account}/reveal", {})


async def check_out(who: Api, approver: Api, account: str) -> str:
    """``who`` files a check-out request that ``approver`` approves; the request id."""
    status, filed = await who.call(
        "POST",
        f"/orgs/{ORG}/password-requests",
        {"account": account, "reason": "change window", "window_minutes": 10},
    )
    assert status == 201, filed
    status, done = await approver.call(
        "POST", f"/orgs/{ORG}/password-requests/{filed['id']}/approve", {}
    )
    assert (status, done["status"]) == (200, "approved"), done
    return str(filed["id"])


async def check_in(who: Api, rid: str) -> dict:
    """Check request ``rid`` in (asserts 200)."""
    status, back = await who.call("POST", f"/orgs/{ORG}/password-requests/{rid}/check-in")
    assert (status, back["status"]) == (200, "checked_in"), back
    return back


async def withdraw(who: Api, rid: str) -> None:
    """Withdraw an access control change request (asserts 200)."""
    status, gone = await who.call("POST", f"/orgs/{ORG}/access-control-requests/{rid}/withdraw")
    assert (status, gone["status"]) == (200, "withdrawn"), gone


@pytest.mark.parametrize("who", ["fuller", "keeper"])
async def test_switching_the_control_off_is_only_a_request(world, who):
    """A full-permission non-owner, and the owner, put enabled:false and reveal: the PUT
    files a request (202), the control stays on, the reveal answers checkout_required."""
    actor, account = world[who], world["account"]
    status, filed = await actor.call("PUT", control_path(account), {"enabled": False})
    assert (status, filed["status"], filed["weakens"]) == (202, "pending", ["enabled"]), filed
    assert (filed["current"]["enabled"], filed["proposed"]["enabled"]) == (True, False)
    assert filed["requester"] == who and filed["approvals_needed"] == 1
    status, control = await actor.call("GET", control_path(account))
    assert (status, control["enabled"], control["approvers"]) == (200, True, ["gappr"])
    status, problem = await reveal(actor, account)
    assert (status, problem["code"]) == (403, "checkout_required")
    # Every other way of weakening it is a request too; strengthening is not.
    for weaker in (
        {"enabled": True, "approvers": [who]},
        {"enabled": True, "approvers": ["gappr"], "max_window_minutes": 600},
        {"enabled": True, "approvers": ["gappr"], "max_window_minutes": 30, "exclusive": False},
    ):
        status, problem = await actor.call("PUT", control_path(account), weaker)
        assert (status, problem["code"]) == (409, "request_pending"), problem
    await withdraw(actor, filed["id"])
    status, other = await actor.call(
        "PUT", control_path(account), {"enabled": True, "approvers": [who, "gappr"]}
    )
    assert (status, other["weakens"]) == (202, ["approvers", "max_window_minutes"]), other
    await withdraw(actor, other["id"])
    status, problem = await reveal(actor, account)
    assert (status, problem["code"]) == (403, "checkout_required")
    _, audit = await world["gadmin"].call(
        "GET", f"/orgs/{ORG}/audit?operation=access_control_change_requested&limit=1"
    )
    assert audit["items"][0]["actor"] == who


async def test_the_requester_and_its_peers_do_not_decide(world):
    """The requester cannot approve its own weakening; a user who is not an approver of
    the control cannot either; the requester's queue shows it, the approver's too."""
    fuller, greq, gappr = world["fuller"], world["greq"], world["gappr"]
    account = world["account"]
    status, filed = await fuller.call("PUT", control_path(account), {"enabled": False})
    assert status == 202
    for who in (fuller, greq, world["keeper"]):
        status, problem = await who.call(
            "POST", f"/orgs/{ORG}/access-control-requests/{filed['id']}/approve", {}
        )
        assert (status, problem["code"]) == (403, "approver_not_eligible"), problem
    _, mine = await fuller.call(
        "GET", f"/orgs/{ORG}/access-control-requests?role=requester&status=pending"
    )
    assert [r["id"] for r in mine["items"]] == [filed["id"]]
    _, queue = await gappr.call(
        "GET", f"/orgs/{ORG}/access-control-requests?role=approver&status=pending"
    )
    assert [r["id"] for r in queue["items"]] == [filed["id"]]
    status, problem = await gappr.call(
        "POST", f"/orgs/{ORG}/access-control-requests/{filed['id']}/withdraw"
    )
    assert status == 403
    status, done = await gappr.call(
        "POST", f"/orgs/{ORG}/access-control-requests/{filed['id']}/reject", {"reason": "no"}
    )
    assert (status, done["status"], done["decided_by"]) == (200, "rejected", "gappr@GuardCo")
    status, control = await fuller.call("GET", control_path(account))
    assert control["enabled"] is True


async def test_modify_user_cannot_replace_a_controlled_password(world):
    """A modify-permission user (and the owner) replace the controlled password outside a
    window: refused, and the next approved check-out reveals the original value; the
    holder of a check-out may change it."""
    modder, keeper, greq, gappr = world["modder"], world["keeper"], world["greq"], world["gappr"]
    account = world["account"]
    for who in (modder, keeper):
        for body in ({"password": "Chosen-By-Attacker-9!"}, {"generate": True}):
            status, problem = await who.call(
                "PUT", f"/orgs/{ORG}/accounts/{account}/password", body
            )
            assert (status, problem["code"]) == (409, "checkout_required"), problem
    status, problem = await keeper.call(
        "PATCH", f"/orgs/{ORG}/accounts/{account}", {"notes": "the new one is in the safe"}
    )
    assert (status, problem["code"]) == (409, "checkout_required")
    status, renamed = await keeper.call(
        "PATCH", f"/orgs/{ORG}/accounts/{account}", {"username": "admin"}
    )
    assert status == 200, renamed  # metadata needs no check-out
    held = await check_out(greq, gappr, account)
    status, shown = await reveal(greq, account)
    assert (status, shown["password"]) == (200, P0)
    # While greq holds it (exclusive), the modify user still cannot change it.
    status, problem = await modder.call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/password", {"generate": True}
    )
    assert (status, problem["code"]) == (409, "checked_out")
    await check_in(greq, held)
    # A check-out held by the changer: the change goes through.
    mine = await check_out(modder, gappr, account)
    status, _ = await modder.call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/password", {"password": "Changed-In-Window-7!"}
    )
    assert status == 204
    await check_in(modder, mine)
    status, problem = await modder.call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/password", {"password": "After-The-Window-7!"}
    )
    assert (status, problem["code"]) == (409, "checkout_required")


async def test_an_independent_approver_turns_the_control_off(world):
    """The approval path works: fuller asks to switch the control off, gappr (an
    approver of the control, independent of fuller) approves, the control is off and
    greq reveals; re-enabling applies at once; a request on a control that changed since
    is refused."""
    fuller, keeper, greq, gappr = world["fuller"], world["keeper"], world["greq"], world["gappr"]
    account = world["account"]
    status, filed = await fuller.call("PUT", control_path(account), {"enabled": False})
    assert status == 202
    status, done = await gappr.call(
        "POST", f"/orgs/{ORG}/access-control-requests/{filed['id']}/approve", {"reason": "ok"}
    )
    assert (status, done["status"], done["approved_by"]) == (200, "approved", ["gappr@GuardCo"])
    status, control = await greq.call("GET", control_path(account))
    assert control["enabled"] is False
    status, shown = await reveal(greq, account)
    assert status == 200 and shown["password"]
    _, audit = await world["gadmin"].call(
        "GET", f"/orgs/{ORG}/audit?operation=access_control_changed&limit=1"
    )
    details = audit["items"][0]["details"]
    assert (details["enabled"], details["request_id"]) == (False, filed["id"])
    assert details["requested_by"] == "fuller@GuardCo"
    # Turning it on again is a strengthening: at once, by the owner alone.
    body = {"enabled": True, "approvers": ["gappr"], "max_window_minutes": 30}
    status, control = await keeper.call("PUT", control_path(account), body)
    assert (status, control["enabled"]) == (200, True), control
    status, problem = await reveal(greq, account)
    assert (status, problem["code"]) == (403, "checkout_required")
    # A request filed against a control that then changed cannot be approved.
    status, stale = await fuller.call("PUT", control_path(account), {"enabled": False})
    assert status == 202
    status, _ = await keeper.call("PUT", control_path(account), {**body, "max_window_minutes": 20})
    assert status == 200
    status, problem = await gappr.call(
        "POST", f"/orgs/{ORG}/access-control-requests/{stale['id']}/approve", {}
    )
    assert (status, problem["code"]) == (409, "control_changed")
    status, control = await greq.call("GET", control_path(account))
    assert (control["enabled"], control["max_window_minutes"]) == (True, 20)
    await withdraw(fuller, stale["id"])


async def test_resource_control_weakening_is_a_request(world):
    """The resource's default control: switching it off is a request as well, and an
    account that inherits it stays controlled."""
    keeper, greq = world["keeper"], world["greq"]
    res = world["resource"]
    status, made = await keeper.call(
        "POST", f"/orgs/{ORG}/resources/{res}/accounts", {"username": "ro", "generate": True}
    )
    assert status == 201
    path = f"/orgs/{ORG}/resources/{res}/access-control"
    status, _ = await keeper.call("PUT", path, {"enabled": True, "approvers": ["gappr"]})
    assert status == 200
    status, filed = await keeper.call("PUT", path, {"enabled": False})
    assert (status, filed["target_type"], filed["weakens"]) == (202, "resource", ["enabled"])
    status, problem = await reveal(greq, made["id"])
    assert (status, problem["code"]) == (403, "checkout_required")
    # An account-level switch-off of an inherited control is a weakening too.
    status, own = await keeper.call("PUT", control_path(made["id"]), {"enabled": False})
    assert (status, own["target_type"]) == (202, "account"), own
    await withdraw(keeper, filed["id"])
    await withdraw(keeper, own["id"])


async def test_check_in_rotation_names_secret_fields_left_unchanged(world, owner_conn):
    """Check-in with rotation generates a new password but cannot rotate a secret field:
    it says so (``secret_fields_to_change``), the account keeps the mark until a holder
    of a check-out changes the field, and no change happens outside a check-out."""
    gadmin, keeper, greq, gappr = world["gadmin"], world["keeper"], world["greq"], world["gappr"]
    status, _ = await gadmin.call(
        "POST",
        f"/orgs/{ORG}/field-definitions",
        {"applies_to": "account", "name": "recovery_code", "kind": "secret"},
    )
    assert status == 201
    status, made = await keeper.call(
        "POST",
        f"/orgs/{ORG}/resources/{world['resource']}/accounts",
        {"username": "svc", "generate": True, "fields": {"recovery_code": "RC-1111"}},
    )
    assert status == 201, made
    account = made["id"]
    status, _ = await keeper.call(
        "PUT", control_path(account), {"enabled": True, "approvers": ["gappr"]}
    )
    assert status == 200
    # Rotation at check-in on a resource without a connection can no longer be set (issue
    # 29: 422); a control made before that still rotates in the vault, as here.
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE access_controls SET rotate_on_checkin = true WHERE account_id = $1::uuid",
            account,
        )
    held = await check_out(greq, gappr, account)
    status, shown = await reveal(greq, account)
    assert (status, shown["fields"]) == (200, {"recovery_code": "RC-1111"})
    back = await check_in(greq, held)
    assert (back["rotated"], back["secret_fields_to_change"]) == (True, ["recovery_code"])
    status, info = await keeper.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["secret_fields_to_change"] == ["recovery_code"]
    _, audit = await gadmin.call("GET", f"/orgs/{ORG}/audit?operation=password_checked_in&limit=1")
    assert audit["items"][0]["details"]["fields_to_change"] == ["recovery_code"]
    assert "RC-1111" not in str(audit)
    # Changing the secret field needs a check-out too.
    new_fields = {"fields": {"recovery_code": "RC-2222"}}
    status, problem = await keeper.call("PATCH", f"/orgs/{ORG}/accounts/{account}", new_fields)
    assert (status, problem["code"]) == (409, "checkout_required")
    mine = await check_out(keeper, gappr, account)
    status, _ = await keeper.call("PATCH", f"/orgs/{ORG}/accounts/{account}", new_fields)
    assert status == 200
    status, info = await keeper.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["secret_fields_to_change"] == []
    status, shown = await reveal(keeper, account)
    assert shown["fields"] == {"recovery_code": "RC-2222"}
    await check_in(keeper, mine)
