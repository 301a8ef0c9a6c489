"""Split-knowledge activation and the console's recovery of a person (issue 27, items 1
and 6), as a new MSP plays it and as an attacker tries it.

The guide's order: admin adds alice, bob and carol; the founding phase closes at bob (admin
is the first founder), so carol is admin's person. alice, independent of admin, activates
carol: carol's first login needs admin's temporary password AND alice's code, then carol
sets her own password and is her own person, so she can approve what admin proposes.
Neither admin (the maker) nor alice (the activator) gets in alone.

Each test starts from a fresh install (the founding phase is per install).
"""

from __future__ import annotations

import asyncio

from server.core.config import render_config
from server.ops import cli
from tests.server.conftest import ADMIN_PASSWORD, Api, make_user
from tests.server.test_persons import database, msp  # noqa: F401 - a fresh install per test

TEMP = "initial-{}-pw1"
FINAL = "final-{}-pw22"


async def login_status(api: Api, username: str, password: str, code: str | None = None):
    """POST /auth/login; (status, body)."""
    body = {"username": username, "password": password}
    if code is not None:
        body["activation_code"] = code
    return await api.as_(None).call("POST", "/auth/login", body)


async def add_admin(admin: Api, username: str, password: str | None = None) -> None:
    """admin creates an MSPOrg administrator with a temporary password (not logged in)."""
    status, body = await admin.call(
        "POST",
        "/orgs/MSPOrg/users",
        {
            "username": username,
            "role": "administrator",
            "password": password or TEMP.format(username),
        },
    )
    assert status == 201, body


async def activate(activator: Api, password: str, username: str) -> dict:
    """``activator`` activates ``username`` (asserts 201); the answer."""
    status, body = await activator.call(
        "POST", f"/orgs/MSPOrg/users/{username}/activation", {"current_password": password}
    )
    assert status == 201, body
    return body


async def first_login(api: Api, username: str, code: str) -> Api:
    """``username`` logs in with its temporary password and the code, sets its own."""
    status, body = await login_status(api, username, TEMP.format(username), code)
    assert status == 200 and body["must_change_password"], body
    user = api.as_(body["token"])
    status, body = await user.call(
        "POST",
        "/me/password",
        {"current_password": TEMP.format(username), "new_password": FINAL.format(username)},
    )
    assert status == 204, body
    return await api.login(username, FINAL.format(username))


async def propose_and_approve(proposer: Api, approver: Api, approver_name: str, user: str) -> None:
    """``proposer`` files a grant of ClientCo for ``user`` approved by ``approver``."""
    status, req = await proposer.call(
        "POST",
        "/org-access-requests",
        {"kind": "grant", "org": "ClientCo", "user": user, "approver": approver_name},
    )
    assert status == 201, req
    status, done = await approver.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": FINAL.format(approver_name)},
    )
    assert (status, done["status"]) == (200, "approved"), done


async def test_guide_order_carol_activated_then_approves(api, admin):
    """admin adds alice, bob, carol; carol (admin's person) cannot approve admin's
    proposal; alice activates her; neither admin nor alice alone logs in as carol; carol
    with both does, and then approves bob's access that admin proposes."""
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    await add_admin(admin, "carol")
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "alice"}
    )
    assert status == 201, org
    grant = {"kind": "grant", "org": "ClientCo", "user": "bob", "approver": "carol"}
    status, problem = await admin.call("POST", "/org-access-requests", grant)
    assert (status, problem["code"]) == (422, "approver_not_eligible"), problem

    # The maker cannot activate what it made.
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/users/carol/activation", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, problem["code"]) == (422, "activation_refused"), problem
    assert "made" in problem["detail"]
    alice = await api.login("alice", FINAL.format("alice"))
    # A wrong current password of the activator: nothing issued.
    status, problem = await alice.call(
        "POST", "/orgs/MSPOrg/users/carol/activation", {"current_password": "wrong-one-x1"}
    )
    assert status == 422 and problem["errors"][0]["field"] == "current_password", problem
    issued = await activate(alice, FINAL.format("alice"), "carol")
    assert issued["username"] == "carol" and len(issued["activation_code"]) == 34
    code = issued["activation_code"]

    # The maker alone: the temporary password without the code is refused ...
    status, problem = await login_status(api, "carol", TEMP.format("carol"))
    assert (status, problem["code"]) == (401, "activation_code_required"), problem
    # ... and a guessed code counts as a failed login, audited.
    status, problem = await login_status(api, "carol", TEMP.format("carol"), "AAAA-BBBB-CCCC")
    assert (status, problem["code"]) == (401, "invalid_activation_code"), problem
    # The activator alone: the code without the temporary password is refused.
    status, problem = await login_status(api, "carol", "guessed-Password-1", code)
    assert (status, problem.get("code")) == (401, "unauthenticated"), problem
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=login_failed&limit=10")
    reasons = [e["reason"] for e in page["items"] if e["target"] == "carol"]
    assert "invalid_activation_code" in reasons, page

    # carol with both (the code typed in lower case, without dashes) sets her password.
    carol = await first_login(api, "carol", code.replace("-", "").lower())
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_activated")
    assert page["items"][0]["target"] == "carol", page
    assert page["items"][0]["details"]["independent"] is True
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_activation_issued")
    assert page["items"][0]["actor"] == "alice"
    assert code not in str(page) and code.replace("-", "") not in str(page)
    # The code is spent: activating again is refused (carol is her own person).
    status, problem = await alice.call(
        "POST", "/orgs/MSPOrg/users/carol/activation", {"current_password": FINAL.format("alice")}
    )
    assert (status, problem["code"]) == (422, "activation_refused"), problem

    # Now the guide's request works: admin proposes bob, carol approves.
    status, approvers = await admin.call(
        "GET", "/org-access-requests/eligible-approvers?kind=grant&org=ClientCo&user=bob"
    )
    assert status == 200 and "carol" in [a["username"] for a in approvers["items"]], approvers
    status, req = await admin.call("POST", "/org-access-requests", grant)
    assert status == 201, req
    status, done = await carol.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": FINAL.format("carol")},
    )
    assert (status, done["status"]) == (200, "approved"), done
    bob = await api.login("bob", FINAL.format("bob"))
    status, body = await bob.call("GET", "/orgs/ClientCo")
    assert status == 200, body


async def test_reset_after_activation_voids_it(api, admin):
    """admin resets dave's password after alice activated it: the code pairs with the
    old temporary password only, so the activation is void and dave stays admin's."""
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    await add_admin(admin, "dave")
    alice = await api.login("alice", FINAL.format("alice"))
    code = (await activate(alice, FINAL.format("alice"), "dave"))["activation_code"]
    status, body = await admin.call(
        "PATCH", "/orgs/MSPOrg/users/dave", {"password": "another-Temp-pw-7"}
    )
    assert status == 200, body
    # The old pair opens nothing; the new password alone logs in (the activation is void).
    status, problem = await login_status(api, "dave", TEMP.format("dave"), code)
    assert status == 401, problem
    status, body = await login_status(api, "dave", "another-Temp-pw-7")
    assert status == 200, body
    dave = api.as_(body["token"])
    status, _ = await dave.call(
        "POST",
        "/me/password",
        {"current_password": "another-Temp-pw-7", "new_password": FINAL.format("dave")},
    )
    assert status == 204
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_activated")
    assert page["items"] == []


async def test_founders_leave_then_two_persons_add_a_third(api, admin):
    """bob (a founder) leaves: for frank (admin's person) no approver is left beside the
    proposer alice, as the attack pass found. admin and alice are still two persons, which
    is enough: alice activates erin (made by admin), and erin approves alice's proposal."""
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "bob"}
    )
    assert status == 201, org
    status, _ = await admin.call("PATCH", "/orgs/MSPOrg/users/bob", {"status": "disabled"})
    assert status == 200
    await add_admin(admin, "erin")
    await make_user(admin, "frank", "password_user")
    alice = await api.login("alice", FINAL.format("alice"))
    status, approvers = await alice.call(
        "GET", "/org-access-requests/eligible-approvers?kind=grant&org=ClientCo&user=frank"
    )
    assert approvers["items"] == [], approvers
    code = (await activate(alice, FINAL.format("alice"), "erin"))["activation_code"]
    erin = await first_login(api, "erin", code)
    status, approvers = await alice.call(
        "GET", "/org-access-requests/eligible-approvers?kind=grant&org=ClientCo&user=frank"
    )
    assert [a["username"] for a in approvers["items"]] == ["erin"], approvers
    await propose_and_approve(alice, erin, "erin", "frank")
    frank = await api.login("frank", FINAL.format("frank"))
    status, body = await frank.call("GET", "/orgs/ClientCo")
    assert status == 200, body


async def test_recover_person_on_the_console(api, admin, config, install_files, tmp_path, capsys):
    """Founders alice and bob leave: admin alone is one person, and no activation can
    help (admin made everyone else). `strongroom recover-person gina` on the server prints
    a temporary password and a code; gina logs in with both and is her own person; every
    administrator is told. With two persons, recovery is refused."""
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    for name in ("alice", "bob"):
        status, _ = await admin.call("PATCH", f"/orgs/MSPOrg/users/{name}", {"status": "disabled"})
        assert status == 200
    await add_admin(admin, "gina")
    await add_admin(admin, "hugo")
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/users/gina/activation", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, problem["code"]) == (422, "activation_refused"), problem

    config.security.master_key = str(install_files / "conf" / "master.key")
    config.server.tls_cert = str(install_files / "conf" / "tls.crt")
    config.server.tls_key = str(install_files / "conf" / "tls.key")
    (tmp_path / "conf").mkdir()
    conf = tmp_path / "conf" / "strongroom.toml"
    conf.write_text(render_config(config))
    capsys.readouterr()
    assert await asyncio.to_thread(cli.main, ["recover-person", "gina", "--config", str(conf)]) == 0
    out = capsys.readouterr().out
    printed = dict(line.split(":", 1) for line in out.splitlines()[:4])
    password, code = printed["temporary password"].strip(), printed["activation code"].strip()

    # The temporary password alone is not enough (nor is the old one).
    status, problem = await login_status(api, "gina", password)
    assert (status, problem["code"]) == (401, "activation_code_required"), problem
    status, body = await login_status(api, "gina", password, code)
    assert status == 200, body
    gina = api.as_(body["token"])
    status, _ = await gina.call(
        "POST", "/me/password", {"current_password": password, "new_password": FINAL.format("gina")}
    )
    assert status == 204
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=person_recovered")
    assert page["items"][0]["target"] == "gina" and page["items"][0]["actor"] == "system"
    assert password not in str(page) and code not in str(page)
    status, me = await admin.call("GET", "/me")
    assert any("recovered on the server's console" in n and "gina" in n for n in me["notices"])

    # Two persons now (admin and gina): gina activates hugo; recovery is refused.
    gina = await api.login("gina", FINAL.format("gina"))
    status, me = await gina.call("GET", "/me")
    assert me["notices"], me
    await activate(gina, FINAL.format("gina"), "hugo")
    assert await asyncio.to_thread(cli.main, ["recover-person", "hugo", "--config", str(conf)]) == 1
    assert "activation" in capsys.readouterr().err
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=person_recovered")
    assert len(page["items"]) == 1


async def test_eligible_approvers_say_why_not(api, admin):
    """Issue 27, item 2: every MSPOrg administrator is listed with its state: the
    proposer, the designee, the proposer's own people (made by it), a disabled one."""
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    await add_admin(admin, "carol")
    await add_admin(admin, "dora")
    status, _ = await admin.call("PATCH", "/orgs/MSPOrg/users/dora", {"status": "disabled"})
    assert status == 200
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "alice"}
    )
    assert status == 201, org
    status, answer = await admin.call(
        "GET", "/org-access-requests/eligible-approvers?kind=grant&org=ClientCo&user=bob"
    )
    assert status == 200, answer
    assert answer["items"] == [{"username": "alice", "full_name": ""}]
    states = {c["username"]: (c["eligible"], c["reason"]) for c in answer["candidates"]}
    assert states["alice"] == (True, None)
    assert "proposer" in states["admin"][1]
    assert "user who is given access" in states["bob"][1]
    assert "the proposer made the approver's account" in states["carol"][1]
    assert states["dora"] == (False, "dora is disabled")
