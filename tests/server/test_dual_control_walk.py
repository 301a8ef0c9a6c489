"""Issue 27 walked as a new administrator would, and the person count attacked.

1. The guide's order, one step after the other: the first administrator adds alice, bob and
   carol; carol is admin's person until alice activates her; a founder who is an account
   manager leaves and is replaced through the usual request, then deleted; the others
   leave until one person remains; the console recovers a second person; every
   administrator is told, and a notice once acknowledged stops showing (to that
   administrator only).
2. The person count of ``strongroom recover-person`` counts persons by the person rule,
   not principals: two siblings that a reset gave different principals are one person, so
   the console's recovery is not refused while no activation can succeed.

Each test starts from a fresh install (the founding phase is per install).
"""

from __future__ import annotations

import asyncio

import pytest

from server.core.config import render_config
from server.ops import cli
from tests.server.conftest import ADMIN_PASSWORD, Api, make_user
from tests.server.test_activation import FINAL, TEMP, activate, add_admin, first_login
from tests.server.test_persons import database, msp  # noqa: F401 - a fresh install per test


@pytest.fixture
def recover(config, install_files, tmp_path, capsys):
    """``strongroom recover-person USERNAME`` on the server: (exit code, printed fields,
    stderr)."""
    config.security.master_key = str(install_files / "conf" / "master.key")
    config.server.tls_cert = str(install_files / "conf" / "tls.crt")
    config.server.tls_key = str(install_files / "conf" / "tls.key")
    (tmp_path / "conf").mkdir()
    conf = tmp_path / "conf" / "strongroom.toml"
    conf.write_text(render_config(config))

    async def run(username: str) -> tuple[int, dict[str, str], str]:
        capsys.readouterr()
        code = await asyncio.to_thread(
            cli.main, ["recover-person", username, "--config", str(conf)]
        )
        out = capsys.readouterr()
        printed = (
            dict(
                (k.strip(), v.strip())
                for k, v in (ln.split(":", 1) for ln in out.out.splitlines()[:4])
            )
            if code == 0
            else {}
        )
        return code, printed, out.err

    return run


async def candidates(api: Api, query: str) -> dict[str, str | None]:
    """The approver candidates of an org access request: username -> reason (None when
    eligible)."""
    status, body = await api.call("GET", f"/org-access-requests/eligible-approvers?{query}")
    assert status == 200, body
    return {c["username"]: c["reason"] for c in body["candidates"]}


async def approve(proposer: Api, approver: Api, approver_name: str, request: dict) -> None:
    """``proposer`` files ``request`` naming ``approver``, which approves it."""
    status, req = await proposer.call(
        "POST", "/org-access-requests", {**request, "approver": approver_name}
    )
    assert status == 201, req
    status, done = await approver.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": FINAL.format(approver_name)},
    )
    assert (status, done["status"]) == (200, "approved"), done


async def test_new_administrator_walks_the_guide(api, admin, recover):
    """The guide's order to the end: adding staff, a founder and account manager leaving,
    the console's recovery, and its notice acknowledged."""
    # The first administrator adds alice, bob and carol; the founding phase closes at bob.
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    await add_admin(admin, "carol")
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "alice"}
    )
    assert status == 201, org
    # Proposing access for bob with carol approving: the picker says why carol cannot, in
    # words a new administrator understands.
    why = await candidates(admin, "kind=grant&org=ClientCo&user=bob")
    assert why["alice"] is None, why
    assert "given access" in (why["bob"] or "") and "proposer" in (why["admin"] or ""), why
    assert "the proposer made" in (why["carol"] or ""), why
    # alice activates carol; carol logs in with admin's temporary password and the code.
    alice = await api.login("alice", FINAL.format("alice"))
    code = (await activate(alice, FINAL.format("alice"), "carol"))["activation_code"]
    carol = await first_login(api, "carol", code)
    assert (await candidates(admin, "kind=grant&org=ClientCo&user=bob"))["carol"] is None
    await approve(admin, carol, "carol", {"kind": "grant", "org": "ClientCo", "user": "bob"})

    # alice, a founder and ClientCo's account manager, leaves: disabled at once; she
    # cannot be deleted while she manages ClientCo, and the usual request replaces her.
    status, body = await admin.call("PATCH", "/orgs/MSPOrg/users/alice", {"status": "disabled"})
    assert status == 200, body
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg/users/alice")
    assert (status, problem["code"]) == (409, "user_is_account_manager"), problem
    why = await candidates(admin, "kind=account_manager&org=ClientCo&user=bob")
    assert why["carol"] is None and "disabled" in (why["alice"] or ""), why
    request = {"kind": "account_manager", "org": "ClientCo", "user": "bob"}
    await approve(admin, carol, "carol", request)
    bob = await api.login("bob", FINAL.format("bob"))
    status, body = await bob.call("GET", "/orgs/ClientCo")
    assert (status, body.get("account_manager")) == (200, "bob"), body
    status, body = await admin.call("DELETE", "/orgs/MSPOrg/users/alice")
    assert status in (200, 204), body

    # Three persons remain (admin, bob, carol): the console refuses and names them.
    exit_code, _, err = await recover("carol")
    assert exit_code == 1 and "3 persons (admin, bob, carol)" in err, err
    # bob and carol leave too: admin alone is one person; nobody can activate erin.
    for name in ("bob", "carol"):
        status, body = await admin.call(
            "PATCH", f"/orgs/MSPOrg/users/{name}", {"status": "disabled"}
        )
        assert status == 200, body
    await add_admin(admin, "erin")
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/users/erin/activation", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, problem["code"]) == (422, "activation_refused"), problem
    exit_code, printed, _ = await recover("erin")
    assert exit_code == 0, printed
    status, body = await api.as_(None).call(
        "POST",
        "/auth/login",
        {
            "username": "erin",
            "password": printed["temporary password"],
            "activation_code": printed["activation code"],
        },
    )
    assert status == 200, body
    erin = api.as_(body["token"])
    status, _ = await erin.call(
        "POST",
        "/me/password",
        {"current_password": printed["temporary password"], "new_password": FINAL.format("erin")},
    )
    assert status == 204
    erin = await api.login("erin", FINAL.format("erin"))

    # Every administrator is told; admin acknowledges, and it stops showing to admin only.
    status, me = await admin.call("GET", "/me")
    assert len(me["notice_items"]) == 1 and "erin" in me["notices"][0], me
    notice = me["notice_items"][0]
    assert notice["kind"] == "person_recovered" and notice["text"] == me["notices"][0]
    status, problem = await admin.call(
        "POST", "/me/notices/acknowledge", {"ids": [notice["id"], "person_recovered:nothing"]}
    )
    assert (status, problem["code"]) == (422, "unknown_notice"), problem
    status, me = await admin.call("GET", "/me")
    assert me["notices"] == [me["notice_items"][0]["text"]], me  # nothing half-done
    status, done = await admin.call("POST", "/me/notices/acknowledge", {"ids": [notice["id"]]})
    assert status == 200 and done == {"acknowledged": [notice["id"]], "notices": []}, done
    status, me = await admin.call("GET", "/me")
    assert me["notices"] == [] and me["notice_items"] == [], me
    status, again = await admin.call("POST", "/me/notices/acknowledge", {"ids": [notice["id"]]})
    assert status == 200 and again["acknowledged"] == [], again
    status, me = await erin.call("GET", "/me")
    assert [n["id"] for n in me["notice_items"]] == [notice["id"]], me
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=notice_acknowledged")
    events = page["items"]
    assert [(e["actor"], e["details"]["notice"]) for e in events] == [("admin", notice["id"])]

    # Two persons again (admin and erin): erin activates fred, made by admin, and fred
    # approves what erin proposes.
    await add_admin(admin, "fred")
    fred = await first_login(
        api, "fred", (await activate(erin, FINAL.format("erin"), "fred"))["activation_code"]
    )
    await make_user(admin, "gus", "password_user")
    await approve(erin, fred, "fred", {"kind": "grant", "org": "ClientCo", "user": "gus"})


async def test_siblings_count_once_for_the_console(api, admin, recover):
    """Attack on the person count: admin made x and y (siblings, admin's person); a reset
    by alice gave y alice's principal. Once the founders are gone, x and y are two
    principals but one person (both hold admin's link), so no activation can add a third:
    the console must not refuse the recovery as if two persons remained."""
    await make_user(admin, "alice", "administrator")
    await make_user(admin, "bob", "administrator")
    await make_user(admin, "x", "privileged_administrator")
    await add_admin(admin, "y")
    alice = await api.login("alice", FINAL.format("alice"))
    status, body = await alice.call("PATCH", "/orgs/MSPOrg/users/y", {"password": TEMP.format("y")})
    assert status == 200, body
    status, body = await api.as_(None).call(
        "POST", "/auth/login", {"username": "y", "password": TEMP.format("y")}
    )
    assert status == 200, body
    status, _ = await api.as_(body["token"]).call(
        "POST",
        "/me/password",
        {"current_password": TEMP.format("y"), "new_password": FINAL.format("y")},
    )
    assert status == 204
    for name in ("alice", "bob"):
        status, body = await admin.call(
            "PATCH", f"/orgs/MSPOrg/users/{name}", {"status": "disabled"}
        )
        assert status == 200, body
    x = await api.login("x", FINAL.format("x"))
    status, body = await x.call("PATCH", "/orgs/MSPOrg/users/admin", {"status": "disabled"})
    assert status == 200, body

    # x and y cannot add a third: whatever x makes, y is its person too (admin's link).
    await add_admin(x, "zoe")
    y = await api.login("y", FINAL.format("y"))
    status, problem = await y.call(
        "POST", "/orgs/MSPOrg/users/zoe/activation", {"current_password": FINAL.format("y")}
    )
    assert (status, problem["code"]) == (422, "activation_refused"), problem
    assert "admin" in problem["detail"], problem

    # So the console recovers zoe: one person remains, not two.
    exit_code, printed, err = await recover("zoe")
    assert exit_code == 0, err
    status, page = await x.call("GET", "/orgs/MSPOrg/audit?operation=person_recovered")
    assert page["items"][0]["details"]["persons"] == 1, page
    assert printed["temporary password"] not in str(page)
