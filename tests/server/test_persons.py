"""Persons in dual control (issue 26, items 1 and 2), as an attacker plays it.

1. The founding phase is decided by what was created, not by what is active: demoting or
   disabling founders cannot hold it open, two creations at once cannot both be the third
   founder, and a demoted founder promoted again is its promoter's person.
2. Accounts that share any link of their credential chains are one person: siblings made
   by one administrator do not approve each other's check-out.

Each test starts from a fresh install (its own database: the founding phase is per
install), where only init's administrator ``admin`` exists.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from server.services.orgs import bootstrap_msp
from server.services.runtime import hasher_for
from server.store import db
from server.store.keyring import KeyRing
from tests.conftest import OWNER, config_for, drop_database, make_database
from tests.server.conftest import ADMIN, ADMIN_PASSWORD, Api, confirm_by_request, make_user

SECRET = "Fw01-Root-Secret-91!"


@pytest.fixture
def database(pg_server) -> Iterator[str]:
    """A fresh, fully migrated database for each test (overrides the module-wide one)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    make_database(pg_server, name)
    yield name
    drop_database(pg_server, name)


@pytest.fixture
def msp(pg_server, install_files, database) -> str:
    """MSPOrg with init's privileged administrator 'admin' (as tests/server/conftest.py,
    once per test)."""
    config = config_for(pg_server, install_files, database)

    async def run() -> None:
        ring = KeyRing.from_file(config.path(config.security.master_key))
        pool = await db.create_pool(config)
        try:
            await bootstrap_msp(pool, ring, hasher_for(config), ADMIN, ADMIN_PASSWORD)
        finally:
            await pool.close()
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=pg_server.port,
            user=OWNER,
            password=pg_server.owner_password,
            database=database,
        )
        try:
            async with conn.transaction():
                org_id = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
                await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
                await conn.execute("UPDATE users SET must_change_password = false")
        finally:
            await conn.close()

    asyncio.run(run())
    return "MSPOrg"


async def independence(admin: Api) -> dict[str, bool]:
    """Whether each MSPOrg user was created independent (its user_created audit event)."""
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_created&limit=200")
    assert status == 200, page
    return {
        e["target"]: e["details"]["independent"]
        for e in page["items"]
        if "independent" in (e["details"] or {})
    }


async def founders(owner_conn) -> list[str]:
    """MSPOrg's founders as stored (users.founder)."""
    async with owner_conn.transaction():
        msp = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(msp))
        rows = await owner_conn.fetch("SELECT username FROM users WHERE founder ORDER BY 1")
    return [r["username"] for r in rows]


async def set_role(admin: Api, username: str, change: dict) -> dict:
    """PATCH an MSPOrg user (asserts 200); the answer."""
    status, body = await admin.call("PATCH", f"/orgs/MSPOrg/users/{username}", change)
    assert status == 200, body
    return body


async def assert_org_unreached(who: Api, org: str = "ClientCo") -> None:
    """``who`` neither opens the org nor its users nor its report (404 as for a missing
    org) and manages nothing there."""
    for path in (f"/orgs/{org}", f"/orgs/{org}/users", f"/orgs/{org}/report"):
        status, body = await who.call("GET", path)
        assert (status, body["code"]) == (404, "not_found"), (path, body)
    status, me = await who.call("GET", "/me")
    assert status == 200 and org not in me["managed_orgs"], me


async def test_demoted_founders_do_not_hold_the_phase_open(api, admin, owner_conn):
    """(a) admin creates p1 and p2 as administrators and demotes them at once; bob and
    carol come next; p1 and p2 are promoted again. The phase closed at p2 (what was
    created counts), so bob and carol are admin's; re-promoted, p1 and p2 are admin's too.
    No pair of them gets admin into the client org, or makes it its account manager."""
    await make_user(admin, "p1", "administrator")
    await make_user(admin, "p2", "administrator")
    for name in ("p1", "p2"):
        await set_role(admin, name, {"role": "password_user"})
    await make_user(admin, "bob", "administrator")
    await make_user(admin, "carol", "administrator")
    assert await independence(admin) == {"p1": True, "p2": True, "bob": False, "carol": False}
    assert await founders(owner_conn) == ["admin", "p1", "p2"]
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=founding_phase_closed")
    assert (status, len(page["items"])) == (200, 1)  # closed when p2 was created
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "bob"}
    )
    assert status == 201, org
    for name in ("p1", "p2"):
        await set_role(admin, name, {"role": "administrator"})
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_updated&limit=2")
    assert [e["details"] for e in page["items"]] == [
        {"role": "administrator", "independent": False}
    ] * 2
    p1 = await api.login("p1", "final-p1-pw22")
    p2 = await api.login("p2", "final-p2-pw22")
    carol = await api.login("carol", "final-carol-pw22")
    attempts = [
        (p1, {"org": "ClientCo", "user": "admin", "approver": "p2"}, "proposer_is_designee"),
        (p1, {"org": "ClientCo", "user": "carol", "approver": "p2"}, "proposer_is_designee"),
        (carol, {"org": "ClientCo", "user": "p1", "approver": "p2"}, "proposer_is_designee"),
        (
            p1,
            {"kind": "account_manager", "org": "ClientCo", "user": "admin", "approver": "p2"},
            "proposer_is_designee",
        ),
    ]
    for who, body, code in attempts:
        status, problem = await who.call("POST", "/org-access-requests", body)
        assert (status, problem["code"]) == (422, code), (body, problem)
    # Nobody in MSPOrg is independent of admin now: it has no approver at all.
    status, problem = await p1.call(
        "GET", "/org-access-requests/eligible-approvers?org=ClientCo&user=admin"
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    status, problem = await admin.call(
        "GET", "/org-access-requests/eligible-approvers?org=ClientCo&user=carol"
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    status, problem = await admin.call(
        "POST", "/org-access-requests", {"org": "ClientCo", "user": "p1", "approver": "p2"}
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee"), problem
    await assert_org_unreached(admin)
    for who in (p1, p2, carol):
        await assert_org_unreached(who)


async def test_disabled_founders_do_not_hold_the_phase_open(api, admin, owner_conn):
    """(b) The variant with disabling: admin creates p1 and p2, disables them, creates bob
    and carol, enables p1 and p2 again. Three founders were created by p2 (init's
    administrator names its co-founders), so bob and carol are admin's person, and
    re-enabling changes no one's person: admin has no fourth and fifth independent person."""
    await make_user(admin, "p1", "administrator")
    await make_user(admin, "p2", "administrator")
    for name in ("p1", "p2"):
        await set_role(admin, name, {"status": "disabled"})
    await make_user(admin, "bob", "administrator")
    await make_user(admin, "carol", "administrator")
    for name in ("p1", "p2"):
        user = await set_role(admin, name, {"status": "active"})
        assert user["status"] == "active"
    assert await independence(admin) == {"p1": True, "p2": True, "bob": False, "carol": False}
    assert await founders(owner_conn) == ["admin", "p1", "p2"]
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_updated&limit=4")
    assert all("independent" not in e["details"] for e in page["items"])
    status, _ = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "p1"}
    )
    assert status == 201
    bob = await api.login("bob", "final-bob-pw22")
    p1 = await api.login("p1", "final-p1-pw22")
    attempts = [
        (bob, {"org": "ClientCo", "user": "admin", "approver": "carol"}, "proposer_is_designee"),
        (p1, {"org": "ClientCo", "user": "admin", "approver": "carol"}, "approver_not_eligible"),
        (p1, {"org": "ClientCo", "user": "bob", "approver": "carol"}, "approver_not_eligible"),
        (p1, {"org": "ClientCo", "user": "carol", "approver": "admin"}, "approver_not_eligible"),
    ]
    messages = []
    for who, body, code in attempts:
        status, problem = await who.call("POST", "/org-access-requests", body)
        assert (status, problem["code"]) == (422, code), (body, problem)
        messages.append(problem["errors"][0]["message"])
    assert messages[2] == (
        "the approver and the designee were made by the same person (admin), who created "
        "their accounts or set their passwords: one person"
    )
    for who in (admin, bob):
        await assert_org_unreached(who)


async def test_concurrent_creations_make_one_third_founder(api, admin, owner_conn):
    """(c) With two founders, admin and f2 each create administrators at the same moment:
    exactly one of them becomes the third founder; the rest are their creators' persons."""
    await make_user(admin, "f2", "privileged_administrator")
    f2 = await api.login("f2", "final-f2-pw22")
    calls = [
        who.call(
            "POST",
            "/orgs/MSPOrg/users",
            {"username": name, "role": "administrator", "password": f"Initial-{name}-pw1"},
        )
        for who, name in ((admin, "c1"), (f2, "c2"), (admin, "c3"), (f2, "c4"))
    ]
    results = await asyncio.gather(*calls)
    assert [status for status, _ in results] == [201] * 4, results
    made = await independence(admin)
    assert made["f2"] is True
    assert sum(made[n] for n in ("c1", "c2", "c3", "c4")) == 1, made
    assert len(await founders(owner_conn)) == 3
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=founding_phase_closed")
    assert len(page["items"]) == 1


async def test_re_promoted_founder_is_its_promoters_person(api, admin, owner_conn):
    """A founder demoted after the phase closed and promoted again by another founder is
    that founder's person: it no longer approves for it. Disabling and re-enabling a
    founder keeps it independent."""
    await make_user(admin, "f2", "administrator")
    await make_user(admin, "f3", "administrator")
    f2 = await api.login("f2", "final-f2-pw22")
    status, _ = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "f2"}
    )
    assert status == 201  # f2 manages it: f3 reaches no client org, so its role may rise
    await set_role(admin, "f3", {"status": "disabled"})
    await set_role(admin, "f3", {"status": "active"})
    status, eligible = await f2.call(
        "GET", "/org-access-requests/eligible-approvers?org=ClientCo&user=admin"
    )
    assert [e["username"] for e in eligible["items"]] == ["f3"]
    await set_role(admin, "f3", {"role": "password_user"})
    await set_role(f2, "f3", {"role": "administrator"})
    status, eligible = await f2.call(
        "GET", "/org-access-requests/eligible-approvers?org=ClientCo&user=admin"
    )
    assert (status, eligible["items"]) == (200, [])
    status, problem = await f2.call(
        "POST", "/org-access-requests", {"org": "ClientCo", "user": "admin", "approver": "f3"}
    )
    assert (status, problem["code"]) == (422, "approver_not_eligible")
    assert "the proposer made the approver's account" in problem["errors"][0]["message"]
    await assert_org_unreached(admin)


async def test_siblings_do_not_approve_each_others_checkout(api, admin):
    """(d) In a client org, an administrator with no permission on fw01/root makes s1 and
    s2, puts s1 in the share group and s2 in the approver group: s1's request is refused
    to s2 and s1 reveals nothing. An approver made by someone else still approves."""
    await make_user(admin, "x", "privileged_administrator")
    await make_user(admin, "honest", "administrator")
    x = await api.login("x", "final-x-pw22")
    honest = await api.login("honest", "final-honest-pw22")
    status, _ = await admin.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "honest"}
    )
    assert status == 201
    await make_user(honest, "cboss", "administrator", org="ClientCo")
    await confirm_by_request(admin, x, "final-x-pw22", "ClientCo", "cboss")
    cboss = await api.login("cboss", "final-cboss-pw22", org="ClientCo")
    await make_user(cboss, "keeper", "password_administrator", org="ClientCo")
    await make_user(cboss, "cadm", "administrator", org="ClientCo")
    keeper = await api.login("keeper", "final-keeper-pw22", org="ClientCo")
    cadm = await api.login("cadm", "final-cadm-pw22", org="ClientCo")
    # An approver independent of cadm's accounts: made by another MSP person (x, granted
    # ClientCo by dual control) and confirmed by the client's administrator.
    status, req = await admin.call(
        "POST", "/org-access-requests", {"org": "ClientCo", "user": "x", "approver": "honest"}
    )
    assert status == 201, req
    status, _ = await honest.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": "final-honest-pw22"},
    )
    assert status == 200
    await make_user(x, "outsider", "password_user", org="ClientCo")
    status, _ = await cboss.call("POST", "/orgs/ClientCo/users/outsider/confirm")
    assert status == 200
    # (An access control refuses an empty approver group, issue 27: outsider seeds it.)
    for group, members in (("share", []), ("approvers", ["outsider"])):
        status, _ = await cboss.call(
            "POST", "/orgs/ClientCo/groups", {"name": group, "members": members}
        )
        assert status == 201
    status, res = await keeper.call(
        "POST", "/orgs/ClientCo/resources", {"name": "fw01", "type": "Cisco IOS"}
    )
    status, acct = await keeper.call(
        "POST",
        f"/orgs/ClientCo/resources/{res['id']}/accounts",
        {"username": "root", "password": SECRET},
    )
    assert status == 201, acct
    status, _ = await keeper.call(
        "POST",
        f"/orgs/ClientCo/resources/{res['id']}/shares",
        {"group": "share", "permission": "view"},
    )
    assert status == 201
    status, control = await keeper.call(
        "PUT",
        f"/orgs/ClientCo/accounts/{acct['id']}/access-control",
        {"enabled": True, "approver_groups": ["approvers"]},
    )
    assert status == 200, control
    # The attack: cadm (no permission on fw01/root) makes s1 and s2.
    status, body = await cadm.call("POST", f"/orgs/ClientCo/accounts/{acct['id']}/reveal", {})
    assert status == 404 and SECRET not in str(body)
    await make_user(cadm, "s1", "password_user", org="ClientCo")
    await make_user(cadm, "s2", "password_user", org="ClientCo")
    for group, members in (("share", ["s1"]), ("approvers", ["s2"])):
        status, _ = await cadm.call("PATCH", f"/orgs/ClientCo/groups/{group}", {"members": members})
        assert status == 200
    s1 = await api.login("s1", "final-s1-pw22", org="ClientCo")
    s2 = await api.login("s2", "final-s2-pw22", org="ClientCo")
    ask = {"account": acct["id"], "reason": "maintenance", "window_minutes": 10}
    # With s2 the only approver, s1 cannot even ask: nobody could approve it.
    status, problem = await s1.call("POST", "/orgs/ClientCo/password-requests", ask)
    assert (status, problem["code"]) == (422, "no_eligible_approver"), problem
    # With outsider among the approvers s1 asks, and s2 still cannot approve.
    status, _ = await cadm.call(
        "PATCH", "/orgs/ClientCo/groups/approvers", {"members": ["s2", "outsider"]}
    )
    assert status == 200
    status, asked = await s1.call("POST", "/orgs/ClientCo/password-requests", ask)
    assert status == 201, asked
    status, problem = await s2.call(
        "POST", f"/orgs/ClientCo/password-requests/{asked['id']}/approve", {}
    )
    assert (status, problem["code"]) == (403, "approver_not_eligible"), problem
    assert problem["detail"] == (
        "the approver and the requester were made by the same person (cadm), who created "
        "their accounts or set their passwords: one person"
    )
    for who in (s1, s2, cadm):
        status, body = await who.call("POST", f"/orgs/ClientCo/accounts/{acct['id']}/reveal", {})
        assert status in (403, 404) and SECRET not in str(body), body
    status, body = await s1.call("POST", f"/orgs/ClientCo/accounts/{acct['id']}/reveal", {})
    assert (status, body["code"]) == (403, "checkout_required")
    # outsider, another person, does approve: then s1 reveals.
    outsider = await api.login("outsider", "final-outsider-pw22", org="ClientCo")
    status, done = await outsider.call(
        "POST", f"/orgs/ClientCo/password-requests/{asked['id']}/approve", {}
    )
    assert status == 200, done
    status, shown = await s1.call("POST", f"/orgs/ClientCo/accounts/{acct['id']}/reveal", {})
    assert (status, shown["password"]) == (200, SECRET)  # two persons did agree


async def test_a_reset_by_another_founder_keeps_the_makers_link(api, admin):
    """The attack pass: admin makes xavier and yvonne; carol and bob each reset one of them
    ("forgot my password") and hand the new password to whoever asked — admin. The reset
    adds the resetter to the account's chain and keeps admin in it, so the two remain
    admin's person: yvonne's request for admin's access, approved by xavier, is refused,
    and admin never reaches the client org."""
    await make_user(admin, "bob", "administrator")
    await make_user(admin, "carol", "administrator")
    bob = await api.login("bob", "final-bob-pw22")
    carol = await api.login("carol", "final-carol-pw22")
    status, _ = await bob.call(
        "POST", "/orgs", {"name": "Client", "display_name": "ClientCo", "account_manager": "bob"}
    )
    assert status == 201
    await make_user(admin, "xavier", "administrator")
    await make_user(admin, "yvonne", "administrator")
    for resetter, name in ((carol, "xavier"), (bob, "yvonne")):
        status, body = await resetter.call(
            "PATCH", f"/orgs/MSPOrg/users/{name}", {"password": f"Temp-{name}-pw-2024!"}
        )
        assert status == 200, body
    for name in ("xavier", "yvonne"):  # admin, handed the new passwords, sets its own
        temp = await api.login(name, f"Temp-{name}-pw-2024!")
        status, _ = await temp.call(
            "POST",
            "/me/password",
            {"current_password": f"Temp-{name}-pw-2024!", "new_password": f"Own-{name}-pw-2024!"},
        )
        assert status == 204
    yvonne = await api.login("yvonne", "Own-yvonne-pw-2024!")
    status, eligible = await yvonne.call(
        "GET", "/org-access-requests/eligible-approvers?org=ClientCo&user=admin"
    )
    # yvonne is admin's person still: it cannot even propose admin's access.
    assert (status, eligible["code"]) == (422, "proposer_is_designee"), eligible
    status, problem = await yvonne.call(
        "POST", "/org-access-requests", {"org": "ClientCo", "user": "admin", "approver": "xavier"}
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee"), problem
    assert "the designee made the proposer's account" in problem["detail"]
    await assert_org_unreached(admin)


async def test_a_deleted_founder_does_not_free_its_seat(api, admin, owner_conn):
    """The attack pass: admin makes p1 (a founder), deletes it and makes p2 and p3: the
    phase closed when the third founder was created (p2), so p3 is admin's person."""
    await make_user(admin, "p1", "administrator")
    assert (await admin.call("DELETE", "/orgs/MSPOrg/users/p1"))[0] in (200, 204)
    await make_user(admin, "p2", "administrator")
    await make_user(admin, "p3", "administrator")
    created = await independence(admin)
    assert (created["p2"], created["p3"]) == (True, False), created
    assert await founders(owner_conn) == ["admin", "p2"]
