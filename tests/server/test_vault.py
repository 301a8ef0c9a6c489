"""The vault: who sees, reveals, changes and re-shares which password, and the audit of it."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import Api, confirm_by_request, make_user

_WORLD: dict = {}
ORG = "acme"
STRONG = "Correct-Horse-42-Battery!"


async def _build(api: Api, admin: Api) -> dict:
    """MSP staff, client org acme with users, groups, resources, accounts and shares."""
    tokens, ids = {}, {}
    await make_user(admin, "mgr", "privileged_administrator")
    await make_user(admin, "outsider", "administrator")
    for name in ("mgr", "outsider"):
        tokens[name] = (await api.login(name, f"final-{name}-pw22")).token
    tokens["admin"] = admin.token
    mgr = api.as_(tokens["mgr"])
    status, _ = await mgr.call(
        "POST", "/orgs", {"name": "Acme", "display_name": ORG, "account_manager": "mgr"}
    )
    assert status == 201
    # The client's own administrator, made by the MSP and confirmed by two MSP people;
    # it makes the client's other users, so they are confirmed from the start.
    await make_user(mgr, "boss", "administrator", org=ORG, access_scope="all")
    tokens["boss"] = (await api.login("boss", "final-boss-pw22", org=ORG)).token
    await confirm_by_request(admin, api.as_(tokens["outsider"]), "final-outsider-pw22", ORG, "boss")
    boss = api.as_(tokens["boss"])
    people = [
        ("owner1", "password_administrator", {}),
        ("direct", "password_user", {}),
        ("grouped", "password_user", {}),
        ("ops2", "password_user", {}),
        ("viarg", "password_user", {}),
        ("nobody", "password_user", {}),
        ("leaver", "password_user", {}),
        ("sharee", "password_user", {}),
    ]
    for name, role, extra in people:
        await make_user(boss, name, role, org=ORG, **extra)
        tokens[name] = (await api.login(name, f"final-{name}-pw22", org=ORG)).token
    assert (
        await mgr.call(
            "POST", f"/orgs/{ORG}/groups", {"name": "ops", "members": ["grouped", "ops2"]}
        )
    )[0] == 201
    owner = api.as_(tokens["owner1"])
    for res in ("R1", "R2", "R3"):
        status, body = await owner.call(
            "POST", f"/orgs/{ORG}/resources", {"name": res, "type": "Linux", "url": f"{res}.acme"}
        )
        assert status == 201, body
        ids[res] = body["id"]
    for res, acct in (("R1", "a1a"), ("R1", "a1b"), ("R2", "a2"), ("R3", "a3")):
        status, body = await owner.call(
            "POST",
            f"/orgs/{ORG}/resources/{ids[res]}/accounts",
            {"username": acct, "password": f"{STRONG}{acct}", "notes": f"notes of {acct}"},
        )
        assert status == 201, body
        ids[acct] = body["id"]
    shares = [
        (f"/resources/{ids['R1']}", {"user": "direct", "permission": "view"}),
        (f"/accounts/{ids['a1b']}", {"user": "direct", "permission": "modify"}),
        (f"/resources/{ids['R2']}", {"group": "ops", "permission": "modify"}),
        (f"/resources/{ids['R2']}", {"user": "grouped", "permission": "view"}),
        (f"/resources/{ids['R1']}", {"user": "leaver", "permission": "full"}),
    ]
    for path, body in shares:
        status, share = await owner.call("POST", f"/orgs/{ORG}{path}/shares", body)
        assert status == 201, share
    status, _ = await owner.call(
        "POST", f"/orgs/{ORG}/resource-groups", {"name": "RG1", "resources": [ids["R3"]]}
    )
    assert status == 201
    status, _ = await owner.call(
        "POST", f"/orgs/{ORG}/resource-groups/RG1/shares", {"user": "viarg", "permission": "view"}
    )
    assert status == 201
    # A share that is later revoked, and a user that is later deleted.
    status, gone = await owner.call(
        "POST",
        f"/orgs/{ORG}/resources/{ids['R3']}/shares",
        {"user": "direct", "permission": "full"},
    )
    assert (await owner.call("DELETE", f"/orgs/{ORG}/resources/{ids['R3']}/shares/{gone['id']}"))[
        0
    ] == 204
    assert (await boss.call("DELETE", f"/orgs/{ORG}/users/leaver"))[0] == 204
    return {"tokens": tokens, "ids": ids}


@pytest.fixture
async def world(api, admin):
    """The vault world, built once per module; each test gets clients on its own session."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    users = {name: api.as_(token) for name, token in _WORLD["tokens"].items()}
    return users, _WORLD["ids"]


async def visible(user: Api) -> dict[str, str]:
    """Resource name -> permission as the user's list shows it."""
    status, body = await user.call("GET", f"/orgs/{ORG}/resources")
    assert status == 200, body
    return {r["name"]: r["permission"] for r in body["items"]}


async def reveal(user: Api, account_id: str) -> tuple[int, dict]:
    """POST …/reveal."""
    return await user.call("POST", f"/orgs/{ORG}/accounts/{account_id}/reveal", {})


async def change(user: Api, account_id: str) -> int:
    """PUT a generated password; the status."""
    return (
        await user.call("PUT", f"/orgs/{ORG}/accounts/{account_id}/password", {"generate": True})
    )[0]


async def reshare(user: Api, resource_id: str) -> int:
    """Try to re-share a resource with 'sharee'; the status."""
    return (
        await user.call(
            "POST",
            f"/orgs/{ORG}/resources/{resource_id}/shares",
            {"user": "sharee", "permission": "view"},
        )
    )[0]


async def test_owner(world):
    """The adder owns: sees, reveals, changes and re-shares everything it added."""
    users, ids = world
    owner = users["owner1"]
    assert await visible(owner) == {"R1": "owner", "R2": "owner", "R3": "owner"}
    status, body = await reveal(owner, ids["a3"])
    assert (status, body["password"], body["notes"]) == (200, f"{STRONG}a3", "notes of a3")
    assert await change(owner, ids["a3"]) == 204
    assert await reshare(owner, ids["R3"]) == 201


async def test_direct_share_and_account_over_resource(world):
    """A resource shared at view, with one account shared at modify: the account wins."""
    users, ids = world
    direct = users["direct"]
    assert await visible(direct) == {"R1": "view"}
    _status, res = await direct.call("GET", f"/orgs/{ORG}/resources/{ids['R1']}")
    assert {a["username"]: a["permission"] for a in res["accounts"]} == {
        "a1a": "view",
        "a1b": "modify",
    }
    assert (await reveal(direct, ids["a1a"]))[1]["password"] == f"{STRONG}a1a"
    assert await change(direct, ids["a1a"]) == 403
    assert await change(direct, ids["a1b"]) == 204
    assert await reshare(direct, ids["R1"]) == 403


async def test_group_share_and_user_over_group(world):
    """A group share applies to members; a direct share to the user outranks it."""
    users, ids = world
    assert await visible(users["grouped"]) == {"R2": "view"}
    assert (await reveal(users["grouped"], ids["a2"]))[0] == 200
    assert await change(users["grouped"], ids["a2"]) == 403
    assert await visible(users["ops2"]) == {"R2": "modify"}
    assert await change(users["ops2"], ids["a2"]) == 204
    assert await reshare(users["ops2"], ids["R2"]) == 403


async def test_resource_group_share(world):
    """A resource group share reaches the resources in the group, and nothing else."""
    users, ids = world
    assert await visible(users["viarg"]) == {"R3": "view"}
    assert (await reveal(users["viarg"], ids["a3"]))[0] == 200
    assert (await reveal(users["viarg"], ids["a1a"]))[0] == 404


async def test_revoked_and_unshared_see_nothing(world):
    """The revoked share gives nothing; a user with no share sees and reveals nothing."""
    users, ids = world
    assert "R3" not in await visible(users["direct"])
    assert await visible(users["nobody"]) == {}
    for account in ("a1a", "a2", "a3"):
        status, problem = await reveal(users["nobody"], ids[account])
        assert (status, problem["code"]) == (404, "not_found")
    assert await change(users["nobody"], ids["a1a"]) == 404


async def test_deleted_user_is_gone(world):
    """A deleted user's session is dead and its shares went with it."""
    users, ids = world
    assert (await users["leaver"].call("GET", f"/orgs/{ORG}/resources"))[0] == 401
    _status, shares = await users["owner1"].call("GET", f"/orgs/{ORG}/resources/{ids['R1']}/shares")
    assert "leaver" not in [s["user"] for s in shares["items"]]


async def test_super_admin_sees_all_in_home_org_only(world):
    """Scope all sees every resource of its own org with full permission."""
    users, ids = world
    assert await visible(users["boss"]) == {"R1": "full", "R2": "full", "R3": "full"}
    assert (await reveal(users["boss"], ids["a2"]))[0] == 200
    assert await reshare(users["boss"], ids["R2"]) == 201
    # The MSP's privileged admin with scope all, as account manager, sees nothing unshared.
    assert await visible(users["mgr"]) == {}
    assert (await reveal(users["mgr"], ids["a1a"]))[0] == 404


async def test_msp_user_with_share_and_without_access(world):
    """A share to an MSP user who manages the org works; an MSP user without access gets 404."""
    users, ids = world
    status, share = await users["owner1"].call(
        "POST",
        f"/orgs/{ORG}/resources/{ids['R1']}/shares",
        {"user": "mgr", "user_org": "MSPOrg", "permission": "view"},
    )
    assert status == 201, share
    assert (share["user"], share["user_org"]) == ("mgr", "MSPOrg")
    assert await visible(users["mgr"]) == {"R1": "view"}
    assert (await reveal(users["mgr"], ids["a1a"]))[0] == 200
    status, problem = await users["owner1"].call(
        "POST",
        f"/orgs/{ORG}/resources/{ids['R1']}/shares",
        {"user": "outsider", "user_org": "MSPOrg", "permission": "view"},
    )
    assert (status, problem["errors"][0]["field"]) == (422, "user")
    status, problem = await users["outsider"].call("GET", f"/orgs/{ORG}/resources")
    assert (status, problem["code"]) == (404, "not_found")


async def test_client_user_cannot_reach_msp_vault(world, admin):
    """A client user never sees MSPOrg's vault, even by id."""
    users, _ = world
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "Core router", "type": "Cisco IOS"}
    )
    assert status == 201
    status, _ = await users["boss"].call("GET", f"/orgs/MSPOrg/resources/{res['id']}")
    assert status == 404
    status, _problem = await users["boss"].call("GET", "/orgs/MSPOrg/resources")
    assert status == 404


async def test_every_reveal_is_audited_exactly_once(world):
    """N reveals leave N password_revealed events; no password in the trail."""
    users, ids = world
    mgr = users["mgr"]

    async def count() -> int:
        status, page = await mgr.call(
            "GET", f"/orgs/{ORG}/audit?operation=password_revealed&limit=1000"
        )
        assert status == 200
        return len(page["items"]), str(page)

    before, _ = await count()
    for _ in range(3):
        assert (await reveal(users["owner1"], ids["a3"]))[0] == 200
    assert (await reveal(users["nobody"], ids["a3"]))[0] == 404
    after, trail = await count()
    assert after - before == 3
    assert STRONG not in trail


async def test_concurrent_reveals_each_get_their_own_answer(world):
    """Reveals arriving together are applied in one statement: each caller still gets its
    own answer (its password, or 404 when not entitled) and one event per reveal."""
    users, ids = world
    mgr = users["mgr"]

    async def count() -> int:
        status, page = await mgr.call(
            "GET", f"/orgs/{ORG}/audit?operation=password_revealed&limit=1000"
        )
        assert status == 200
        return len(page["items"])

    before = await count()
    callers = [("owner1", "a3"), ("nobody", "a3"), ("direct", "a1a")] * 10
    answers = await asyncio.gather(*(reveal(users[u], ids[a]) for u, a in callers))
    expected = {
        (u, a): (await reveal(users[u], ids[a]))[0] for u, a in set(callers)
    }  # the same reveals one at a time
    for (u, a), (status, body) in zip(callers, answers, strict=True):
        assert status == expected[(u, a)], (u, a, body)
        if status == 200:
            assert body["password"]
    assert [s for s, _ in answers].count(404) == 10
    entitled = sum(1 for u, a in set(callers) if expected[(u, a)] == 200)
    assert await count() - before == 20 + entitled


async def test_tampered_ciphertext_fails_closed(world, owner_conn):
    """A ciphertext moved from another account does not decrypt: no password, an error,
    and a failure recorded."""
    users, _ids = world
    owner = users["owner1"]
    await owner.call("POST", f"/orgs/{ORG}/resources", {"name": "Tamper", "type": "Linux"})
    status, listing = await owner.call("GET", f"/orgs/{ORG}/resources?q=Tamper")
    rid = listing["items"][0]["id"]
    made = {}
    for acct in ("t1", "t2"):
        status, body = await owner.call(
            "POST",
            f"/orgs/{ORG}/resources/{rid}/accounts",
            {"username": acct, "password": STRONG + acct},
        )
        made[acct] = body["id"]
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await owner_conn.execute(
            "UPDATE accounts SET password = (SELECT password FROM accounts WHERE id = $2) "
            "WHERE id = $1",
            made["t1"],
            made["t2"],
        )
    status, problem = await reveal(owner, made["t1"])
    assert (status, problem["code"]) == (500, "secret_integrity_failed")
    assert STRONG not in str(problem)
    status, page = await users["mgr"].call(
        "GET", f"/orgs/{ORG}/audit?operation=password_reveal_failed&limit=5"
    )
    assert (page["items"][0]["outcome"], page["items"][0]["reason"]) == (
        "failure",
        "ciphertext_invalid",
    )


async def test_search(world):
    """?q= narrows the list by name, URL or type, case-insensitively; LIKE wildcards are
    literal."""
    users, _ = world
    _, body = await users["owner1"].call("GET", f"/orgs/{ORG}/resources?q=r2.ACME")
    assert [r["name"] for r in body["items"]] == ["R2"]
    _status, body = await users["owner1"].call("GET", f"/orgs/{ORG}/resources?q=%25")
    assert body["items"] == []
