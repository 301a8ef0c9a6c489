"""Dual control as an attacker plays it: one MSP administrator, alone (with any accounts
it makes), tries every path into a client org; each sequence ends without the secret.

The world: admin (founder), x and honest (the founding administrators, three people);
AcmeCo, managed by honest, whose own confirmed administrator cboss keeps a secret shared
with the client group 'staff'; OwnCo, which x manages legitimately.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from tests.server.conftest import ADMIN_PASSWORD, Api, confirm_by_request, make_user

SECRET = "Client-Only-Secret-77!"
_WORLD: dict = {}


async def _build(api: Api, admin: Api) -> dict:
    await make_user(admin, "x", "privileged_administrator")
    await make_user(admin, "honest", "administrator")
    x = await api.login("x", "final-x-pw22")
    honest = await api.login("honest", "final-honest-pw22")
    for org, manager in (("AcmeCo", "honest"), ("BetaCo", "honest"), ("OwnCo", "x")):
        status, body = await admin.call(
            "POST", "/orgs", {"name": org, "display_name": org, "account_manager": manager}
        )
        assert status == 201, body
    await make_user(honest, "cboss", "administrator", org="AcmeCo")
    cboss = await api.login("cboss", "final-cboss-pw22", org="AcmeCo")
    # The creator (honest) cannot propose its confirmation: admin does, x approves.
    await confirm_by_request(admin, x, "final-x-pw22", "AcmeCo", "cboss")
    await make_user(cboss, "worker", "password_user", org="AcmeCo")
    status, _ = await cboss.call(
        "POST", "/orgs/AcmeCo/groups", {"name": "staff", "members": ["worker"]}
    )
    assert status == 201
    status, res = await cboss.call(
        "POST", "/orgs/AcmeCo/resources", {"name": "dc01", "type": "Windows"}
    )
    assert status == 201, res
    status, acct = await cboss.call(
        "POST",
        f"/orgs/AcmeCo/resources/{res['id']}/accounts",
        {"username": "Administrator", "password": SECRET},
    )
    assert status == 201, acct
    status, _ = await cboss.call(
        "POST",
        f"/orgs/AcmeCo/resources/{res['id']}/shares",
        {"group": "staff", "permission": "view"},
    )
    assert status == 201
    worker = await api.login("worker", "final-worker-pw22", org="AcmeCo")
    status, shown = await worker.call("POST", f"/orgs/AcmeCo/accounts/{acct['id']}/reveal", {})
    assert (status, shown["password"]) == (200, SECRET)  # the client's own people do see it
    return {"x": x.token, "honest": honest.token, "cboss": cboss.token, "account": acct["id"]}


@pytest.fixture
async def world(api, admin) -> dict:
    """The world above (built once per module), with fresh API handles."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    return {
        "x": api.as_(_WORLD["x"]),
        "honest": api.as_(_WORLD["honest"]),
        "cboss": api.as_(_WORLD["cboss"]),
        "account": _WORLD["account"],
    }


async def assert_no_way_in(who: Api, account: str, org: str = "AcmeCo") -> None:
    """Neither the client's users, its report, nor the secret reach ``who``."""
    for path in (f"/orgs/{org}/users", f"/orgs/{org}/report", f"/orgs/{org}/access"):
        status, body = await who.call("GET", path)
        assert status >= 400, (path, body)
    status, body = await who.call("POST", f"/orgs/{org}/accounts/{account}/reveal", {})
    assert status >= 400 and SECRET not in str(body), body


async def test_account_manager_change_needs_a_request(world, api):
    """1. x names itself BetaCo's account manager, and honest hands AcmeCo to x: both
    refused; x cannot even edit BetaCo's description."""
    x, honest = world["x"], world["honest"]
    status, problem = await x.call("PATCH", "/orgs/BetaCo", {"account_manager": "x"})
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await x.call("PATCH", "/orgs/BetaCo", {"description": "mine now"})
    assert (status, problem["code"]) == (404, "not_found")
    status, problem = await honest.call("PATCH", "/orgs/AcmeCo", {"account_manager": "x"})
    assert (status, problem["code"]) == (409, "dual_control_required")
    # Through a request, x cannot be both proposer and designee ...
    status, problem = await x.call(
        "POST",
        "/org-access-requests",
        {"kind": "account_manager", "org": "AcmeCo", "user": "x", "approver": "admin"},
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    await assert_no_way_in(x, world["account"])
    # ... while honest may propose x, approved by the third person: then x manages it.
    status, req = await honest.call(
        "POST",
        "/org-access-requests",
        {"kind": "account_manager", "org": "BetaCo", "user": "x", "approver": "admin"},
    )
    assert status == 201, req
    admin = await api.login("admin", ADMIN_PASSWORD)
    status, done = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, done["status"]) == (200, "approved")
    status, org = await x.call("GET", "/orgs/BetaCo")
    assert (status, org["account_manager"]) == (200, "x")
    status, page = await x.call("GET", "/orgs/BetaCo/audit?operation=org_access_approved")
    assert page["items"][0]["details"]["kind"] == "account_manager"


async def test_sock_puppet_approvers(world):
    """2. x makes administrators it controls and names them approver, proposer or
    designee: every combination is refused, and deleting the puppet changes nothing."""
    x = world["x"]
    await make_user(x, "puppet1", "administrator")
    await make_user(x, "puppet2", "administrator")
    p1 = await x.login("puppet1", "final-puppet1-pw22")
    attempts = [
        (x, {"org": "AcmeCo", "user": "x", "approver": "puppet1"}, "proposer_is_designee"),
        (x, {"org": "AcmeCo", "user": "admin", "approver": "puppet1"}, "approver_not_eligible"),
        (p1, {"org": "AcmeCo", "user": "x", "approver": "puppet2"}, "proposer_is_designee"),
        (p1, {"org": "AcmeCo", "user": "puppet2", "approver": "x"}, "proposer_is_designee"),
        (x, {"org": "AcmeCo", "user": "puppet1", "approver": "honest"}, "proposer_is_designee"),
        (p1, {"org": "AcmeCo", "user": "admin", "approver": "puppet2"}, "approver_not_eligible"),
    ]
    for who, body, code in attempts:
        status, problem = await who.call("POST", "/org-access-requests", body)
        assert (status, problem["code"]) == (422, code), (body, problem)
    # Resetting an honest administrator's password makes it x's too.
    await make_user(world["honest"], "helper", "administrator")
    status, eligible = await x.call(
        "GET", "/org-access-requests/eligible-approvers?org=AcmeCo&user=admin"
    )
    assert "helper" in [e["username"] for e in eligible["items"]]
    status, _ = await x.call("PATCH", "/orgs/MSPOrg/users/helper", {"password": "Taken-Over-99!"})
    assert status == 200
    taken = await x.login("helper", "Taken-Over-99!")  # must change it, but can log in
    status, problem = await x.call(
        "POST", "/org-access-requests", {"org": "AcmeCo", "user": "admin", "approver": "helper"}
    )
    assert (status, problem["code"]) == (422, "approver_not_eligible")
    status, eligible = await x.call(
        "GET", "/org-access-requests/eligible-approvers?org=AcmeCo&user=admin"
    )
    assert [e["username"] for e in eligible["items"]] == ["honest"]
    status, _ = await x.call(
        "GET", "/org-access-requests/eligible-approvers?org=AcmeCo&user=puppet1"
    )
    assert status == 422  # x controls puppet1, so it cannot propose it at all
    # honest, who manages AcmeCo, cannot have its password set by x.
    status, problem = await x.call(
        "PATCH", "/orgs/MSPOrg/users/honest", {"password": "Taken-Over-99!"}
    )
    assert (status, problem["code"]) == (409, "dual_control_required")
    assert (await x.call("DELETE", "/orgs/MSPOrg/users/puppet1"))[0] == 204
    for who in (x, p1, taken):
        await assert_no_way_in(who, world["account"])


async def test_group_membership_after_approval(world, api, admin):
    """3. After a grant to MSPOrg group 'helpdesk' is approved, x (even as that request's
    approver) cannot add itself; adding a member is a request under the same rule."""
    x, honest = world["x"], world["honest"]
    await make_user(honest, "tech", "password_administrator")
    status, _ = await honest.call(
        "POST", "/orgs/MSPOrg/groups", {"name": "helpdesk", "members": ["tech"]}
    )
    assert status == 201
    # honest made tech, so honest cannot propose the group tech is in; admin can.
    status, problem = await honest.call(
        "POST", "/org-access-requests", {"org": "AcmeCo", "group": "helpdesk", "approver": "x"}
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    status, req = await admin.call(
        "POST", "/org-access-requests", {"org": "AcmeCo", "group": "helpdesk", "approver": "x"}
    )
    assert status == 201, req
    status, done = await x.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": "final-x-pw22"}
    )
    assert (status, done["status"]) == (200, "approved")
    status, problem = await x.call(
        "PATCH", "/orgs/MSPOrg/groups/helpdesk", {"members": ["tech", "x"]}
    )
    assert (status, problem["code"]) == (409, "dual_control_required")
    status, problem = await x.call(
        "POST",
        "/org-access-requests",
        {"kind": "group_member", "group": "helpdesk", "user": "x", "approver": "honest"},
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    status, group = await x.call("GET", "/orgs/MSPOrg/groups/helpdesk")
    assert group["members"] == ["tech"]
    # Nor can x put an account of its own in a fresh group and propose the group.
    await make_user(x, "puppet3", "password_user")
    await x.call("POST", "/orgs/MSPOrg/groups", {"name": "nightshift", "members": ["puppet3"]})
    status, problem = await x.call(
        "POST",
        "/org-access-requests",
        {"org": "AcmeCo", "group": "nightshift", "approver": "honest"},
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    await assert_no_way_in(x, world["account"])
    # Removing members needs no approval; the pending request kind shows in the report.
    status, req = await x.call(
        "POST",
        "/org-access-requests",
        {"kind": "group_member", "group": "helpdesk", "user": "admin", "approver": "honest"},
    )
    assert (status, req["group"], req["org"]) == (201, "helpdesk", None)
    status, report = await honest.call("GET", "/orgs/AcmeCo/report")
    assert [r["kind"] for r in report["pending_requests"]] == ["group_member"]
    await x.call("POST", f"/org-access-requests/{req['id']}/cancel", {})
    assert (await honest.call("PATCH", "/orgs/MSPOrg/groups/helpdesk", {"members": []}))[0] == 200


async def test_minted_client_users(world, api):
    """4. The account manager makes a client user with a password it knows, puts it in
    the client's group, and resets the client administrator's password: nothing."""
    honest, cboss = world["honest"], world["cboss"]
    status, user = await honest.call(
        "POST",
        "/orgs/AcmeCo/users",
        {"username": "mint", "role": "administrator", "password": "Minted-Pass-123"},
    )
    assert (status, user["confirmed"]) == (201, False)
    status, _ = await honest.call(
        "PATCH", "/orgs/AcmeCo/groups/staff", {"members": ["worker", "mint"]}
    )
    assert status == 200
    mint = await api.login("mint", "Minted-Pass-123", org="AcmeCo")
    await mint.call(
        "POST",
        "/me/password",
        {"current_password": "Minted-Pass-123", "new_password": "Minted-Pass-456"},
    )
    status, listing = await mint.call("GET", "/orgs/AcmeCo/resources")
    assert (status, listing["items"]) == (200, [])
    status, body = await mint.call("POST", f"/orgs/AcmeCo/accounts/{world['account']}/reveal", {})
    assert status == 404 and SECRET not in str(body)
    # Neither the MSP nor its minted administrator sets a confirmed user's password, and
    # the minted one cannot confirm itself or mint confirmed users.
    for who in (honest, mint):
        status, problem = await who.call(
            "PATCH", "/orgs/AcmeCo/users/cboss", {"password": "Reset-By-Msp-123"}
        )
        assert (status, problem["code"]) == (403, "client_confirms")
    assert (await mint.call("POST", "/orgs/AcmeCo/users/mint/confirm"))[0] == 403
    status, other = await mint.call(
        "POST",
        "/orgs/AcmeCo/users",
        {"username": "mint2", "role": "password_user", "password": "Minted-Pass-789"},
    )
    assert (status, other["confirmed"]) == (201, False)
    # An MSP user_confirmation is for orgs without an administrator of their own.
    status, problem = await honest.call(
        "POST",
        "/org-access-requests",
        {"kind": "user_confirmation", "org": "AcmeCo", "user": "mint", "approver": "admin"},
    )
    assert (status, problem["code"]) == (409, "client_confirms")
    # The client's own administrator confirms it; then it is one of the staff.
    status, user = await cboss.call("POST", "/orgs/AcmeCo/users/mint/confirm")
    assert (status, user["confirmed"]) == (200, True)
    status, shown = await mint.call("POST", f"/orgs/AcmeCo/accounts/{world['account']}/reveal", {})
    assert (status, shown["password"]) == (200, SECRET)
    await cboss.call("DELETE", "/orgs/AcmeCo/users/mint")


async def test_unmanaged_org_is_a_name_only(world):
    """5. An org x neither manages nor holds a grant for answers exactly like a missing one."""
    x = world["x"]
    for method, path in (
        ("GET", "/orgs/{}"),
        ("GET", "/orgs/{}/report"),
        ("GET", "/orgs/{}/access"),
        ("PATCH", "/orgs/{}"),
        ("DELETE", "/orgs/{}/access/users/honest"),
        ("DELETE", "/orgs/{}/access/groups/helpdesk"),
        ("GET", "/orgs/{}/users"),
    ):
        body = {"description": "x"} if method == "PATCH" else None
        real = await x.call(method, path.format("AcmeCo"), body)
        missing = await x.call(method, path.format("NoSuchCo"), body)
        assert (
            (real[0], real[1]["code"])
            == (missing[0], missing[1]["code"])
            == (
                404,
                "not_found",
            )
        ), path
    _, listing = await x.call("GET", "/orgs")
    acme = next(o for o in listing["items"] if o["display_name"] == "AcmeCo")
    assert set(acme) == {"display_name", "name", "is_msp", "managed"}


async def test_two_people_are_not_enough(world):
    """6. The proposer may not name itself as the designee."""
    x = world["x"]
    status, problem = await x.call(
        "POST", "/org-access-requests", {"org": "AcmeCo", "user": "x", "approver": "honest"}
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    # For tech (honest's account) only the founder is a third person: not x (proposer),
    # honest (tech's creator) or helper (whose password x set).
    status, eligible = await x.call(
        "GET", "/org-access-requests/eligible-approvers?org=AcmeCo&user=tech"
    )
    assert (status, [e["username"] for e in eligible["items"]]) == (200, ["admin"])


async def test_reset_racing_an_approval_never_wins_both(world, api, admin):
    """x files a grant for an honest person's new hire, then resets the hire's password
    while the approval runs: either the approval or the reset fails, never neither."""
    x, honest = world["x"], world["honest"]
    for i in range(6):
        name = f"hire{i}"
        await make_user(honest, name, "administrator")
        status, req = await x.call(
            "POST", "/org-access-requests", {"org": "BetaCo", "user": name, "approver": "admin"}
        )
        assert status == 201, req
        approve = admin.call(
            "POST",
            f"/org-access-requests/{req['id']}/approve",
            {"current_password": ADMIN_PASSWORD},
        )
        reset = x.call("PATCH", f"/orgs/MSPOrg/users/{name}", {"password": f"Seized-{name}-99"})
        (approved, _), (reset_status, _) = await asyncio.gather(approve, reset)
        assert not (approved == 200 and reset_status == 200), name


async def test_msp_cannot_disable_the_clients_administrator(world):
    """Disabling the client's confirmed administrator (to reopen confirmation to the MSP)
    is refused to MSP staff."""
    honest = world["honest"]
    status, problem = await honest.call("PATCH", "/orgs/AcmeCo/users/cboss", {"status": "disabled"})
    assert (status, problem["code"]) == (403, "client_confirms")
    status, problem = await honest.call("DELETE", "/orgs/AcmeCo/users/cboss")
    assert (status, problem["code"]) == (403, "client_confirms")


ROLES = ("administrator", "privileged_administrator", "password_administrator", "password_user")


async def test_random_sequences_by_one_administrator(world, api):
    """A few hundred random calls by x and the accounts it makes (users, roles, groups,
    memberships, requests, approvals, org edits, resets) never reach AcmeCo's users,
    report or secret. Set STRONGROOM_DUAL_CONTROL_SEED to replay a run."""
    seed = int(os.environ.get("STRONGROOM_DUAL_CONTROL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    x = world["x"]
    mine: dict[str, tuple[str, Api]] = {"x": ("final-x-pw22", x)}  # accounts x can act as
    groups: list[str] = []
    made = 0
    requests: list[str] = []

    async def seize(name: str, temporary: str) -> None:
        """Log in as an account whose password x chose, and set it for good."""
        final = f"{temporary}-own"
        who = await api.login(name, temporary)
        await who.call(
            "POST", "/me/password", {"current_password": temporary, "new_password": final}
        )
        mine[name] = (final, who)

    tally: dict[tuple[str, str, int], int] = {}

    class Tallied:
        """Counts each call's outcome, to show the run did reach the server's rules."""

        def __init__(self, api: Api) -> None:
            self.api = api

        async def call(self, method: str, path: str, body=None):
            status, answer = await self.api.call(method, path, body)
            kind = path.split("/")[1] if path.startswith("/org-access") else method
            key = (kind, (answer or {}).get("code", "") if status >= 400 else "", status)
            tally[key] = tally.get(key, 0) + 1
            return status, answer

    async def act(step: int) -> None:
        nonlocal made
        who_name = rng.choice(sorted(mine))
        password, plain = mine[who_name]
        who = Tallied(plain)
        choice = rng.randrange(10)
        names = [*sorted(mine), "honest", "admin", "tech"]
        if choice == 0 and made < 12:
            made += 1
            name = f"r{seed % 1000}u{made}"
            status, _ = await who.call(
                "POST",
                "/orgs/MSPOrg/users",
                {"username": name, "role": rng.choice(ROLES), "password": f"Pw-{name}-123456"},
            )
            if status == 201:
                await seize(name, f"Pw-{name}-123456")
        elif choice == 1:
            target = rng.choice(names)
            status, _ = await who.call(
                "PATCH", f"/orgs/MSPOrg/users/{target}", {"password": f"Seized-{target}-987"}
            )
            if status == 200:
                await seize(target, f"Seized-{target}-987")
        elif choice == 2:
            await who.call(
                "PATCH",
                f"/orgs/MSPOrg/users/{rng.choice(names)}",
                rng.choice([{"role": rng.choice(ROLES)}, {"status": "active"}]),
            )
        elif choice == 3:
            name = f"g{seed % 1000}n{step}"
            members = rng.sample(names, rng.randrange(3))
            status, _ = await who.call(
                "POST", "/orgs/MSPOrg/groups", {"name": name, "members": members}
            )
            if status == 201:
                groups.append(name)
        elif choice == 4 and groups:
            await who.call(
                "PATCH",
                f"/orgs/MSPOrg/groups/{rng.choice([*groups, 'helpdesk'])}",
                {"members": rng.sample(names, rng.randrange(4))},
            )
        elif choice in (5, 6):
            kind = rng.choice(["grant", "grant", "account_manager", "group_member"])
            body = {"kind": kind, "approver": rng.choice([*names, "honest"])}
            if kind == "group_member":
                body |= {"group": rng.choice([*groups, "helpdesk"]), "user": rng.choice(names)}
            elif kind == "grant" and groups and rng.random() < 0.3:
                body |= {"org": "AcmeCo", "group": rng.choice(groups)}
            else:
                body |= {"org": "AcmeCo", "user": rng.choice(names)}
            status, req = await who.call("POST", "/org-access-requests", body)
            if status == 201:
                requests.append(req["id"])
        elif choice == 7 and requests:
            await who.call(
                "POST",
                f"/org-access-requests/{rng.choice(requests)}/approve",
                {"current_password": password},
            )
        elif choice == 8:
            await who.call(
                "PATCH",
                "/orgs/AcmeCo",
                rng.choice([{"account_manager": rng.choice(names)}, {"vault_control": "msp"}]),
            )
        else:
            await who.call(
                "POST",
                "/orgs/OwnCo/users",
                {"username": f"c{step}", "role": "administrator", "password": f"Pw-c{step}-1234"},
            )

    for step in range(300):
        await act(step)
        if step % 25 == 24:
            for _name, (_pw, who) in mine.items():
                await assert_no_way_in(who, world["account"])
    for name, (_pw, who) in mine.items():
        await assert_no_way_in(who, world["account"])
        status, me = await who.call("GET", "/me")
        assert status != 200 or "AcmeCo" not in me["managed_orgs"], (seed, name)
    print(f"seed {seed}:", sorted(tally.items()))
    # The run reached the rules it is about: it made accounts and filed requests that
    # the dual-control rule refused.
    refused = {code for (_k, code, _s) in tally}
    assert len(mine) > 1 and {"proposer_is_designee", "approver_not_eligible"} & refused, tally
