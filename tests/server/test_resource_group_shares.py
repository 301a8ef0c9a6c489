"""A share on a resource group reaches what is added to the group later: adding is refused
with 409 shares_would_extend unless the adder says ``extend_shares`` (attack pass, session
10: a client administrator shared an empty group with itself, an administrator filled it
later, and the client administrator revealed what it never had)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.server.conftest import Api, confirm_by_request, make_user

_WORLD: dict = {}
ORG = "acme"
SECRET = "Db02-Secret-pw-77!"
WEB = "Web01-Secret-pw-78!"


async def _build(api: Api, admin: Api) -> dict:
    """Client org acme: boss (client administrator, scope all), cadmin (a client
    administrator with no rights on any resource), owner1 (password administrator) who
    owns web01 and db02 with one account each, alice and a group ops."""
    tokens, ids = {"admin": admin.token}, {}
    await make_user(admin, "mgr", "privileged_administrator")
    await make_user(admin, "outsider", "administrator")
    for name in ("mgr", "outsider"):
        tokens[name] = (await api.login(name, f"final-{name}-pw22")).token
    mgr = api.as_(tokens["mgr"])
    status, body = await mgr.call(
        "POST", "/orgs", {"name": "Acme", "display_name": ORG, "account_manager": "mgr"}
    )
    assert status == 201, body
    await make_user(mgr, "boss", "administrator", org=ORG, access_scope="all")
    tokens["boss"] = (await api.login("boss", "final-boss-pw22", org=ORG)).token
    await confirm_by_request(admin, api.as_(tokens["outsider"]), "final-outsider-pw22", ORG, "boss")
    boss = api.as_(tokens["boss"])
    for name, role in (
        ("cadmin", "administrator"),
        ("owner1", "password_administrator"),
        ("alice", "password_user"),
        ("opsman", "password_user"),
    ):
        await make_user(boss, name, role, org=ORG)
        tokens[name] = (await api.login(name, f"final-{name}-pw22", org=ORG)).token
    status, body = await boss.call(
        "POST", f"/orgs/{ORG}/groups", {"name": "ops", "members": ["opsman"]}
    )
    assert status == 201, body
    owner = api.as_(tokens["owner1"])
    for res, acct, password in (("web01", "www", WEB), ("db02", "dba", SECRET)):
        status, body = await owner.call(
            "POST", f"/orgs/{ORG}/resources", {"name": res, "type": "Linux"}
        )
        assert status == 201, body
        ids[res] = body["id"]
        status, body = await owner.call(
            "POST",
            f"/orgs/{ORG}/resources/{ids[res]}/accounts",
            {"username": acct, "password": password},
        )
        assert status == 201, body
        ids[acct] = body["id"]
    return {"tokens": tokens, "ids": ids}


@pytest.fixture
async def world(api, admin):
    """The world, built once per module; clients on this test's session."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    return {n: api.as_(t) for n, t in _WORLD["tokens"].items()}, _WORLD["ids"]


async def revealed_by(mgr: Api, actor: str) -> list[dict]:
    """The password_revealed events of ``actor`` in acme."""
    status, page = await mgr.call(
        "GET", f"/orgs/{ORG}/audit?operation=password_revealed&limit=1000"
    )
    assert status == 200, page
    return [e for e in page["items"] if e["actor"] == actor]


async def test_share_made_on_an_empty_group_does_not_widen_later(world):
    """The attack: cadmin shares the empty RG with itself (allowed: nothing in it), an
    administrator later puts db02 in it without saying extend_shares: refused, the 409
    names cadmin (full) and db02 (no ids), nothing changed, and cadmin still cannot
    reveal db02's password."""
    users, ids = world
    cadmin, owner = users["cadmin"], users["owner1"]
    assert (await cadmin.call("POST", f"/orgs/{ORG}/resource-groups", {"name": "RG"}))[0] == 201
    status, share = await cadmin.call(
        "POST", f"/orgs/{ORG}/resource-groups/RG/shares", {"user": "cadmin", "permission": "full"}
    )
    assert status == 201, share

    # cadmin cannot put db02 in itself: it does not hold full on it, extend_shares or not.
    status, body = await cadmin.call(
        "PATCH",
        f"/orgs/{ORG}/resource-groups/RG",
        {"resources": [ids["db02"]], "extend_shares": True},
    )
    assert status == 422, body

    # The legitimate administrator fills the group: told who would gain what.
    status, body = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/RG", {"resources": [ids["db02"]]}
    )
    assert (status, body["code"]) == (409, "shares_would_extend"), body
    assert body["shares"] == [{"user": "cadmin", "permission": "full"}]
    assert body["resources"] == ["db02"]
    assert "cadmin (full)" in body["detail"] and "db02" in body["detail"]
    text = json.dumps(body)
    assert ids["db02"] not in text and share["id"] not in text  # names, no ids
    # A rename in the same request is not half-applied either.
    status, body = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/RG", {"name": "RG-new", "resources": [ids["db02"]]}
    )
    assert (status, body["code"]) == (409, "shares_would_extend"), body
    status, group = await owner.call("GET", f"/orgs/{ORG}/resource-groups/RG")
    assert (status, group["resources"]) == (200, []), group

    # The secret was not obtained.
    status, body = await cadmin.call("POST", f"/orgs/{ORG}/accounts/{ids['dba']}/reveal", {})
    assert status in (403, 404), body
    assert SECRET not in json.dumps(body)
    assert await revealed_by(users["mgr"], "cadmin") == []
    status, page = await cadmin.call("GET", f"/orgs/{ORG}/resources")
    assert "db02" not in {r["name"] for r in page["items"]}


async def test_sharing_a_group_needs_full_on_each_resource(world):
    """Kept: sharing a group that holds a resource the sharer has no full permission on
    is refused, and reveals nothing."""
    users, ids = world
    owner, cadmin = users["owner1"], users["cadmin"]
    status, body = await owner.call(
        "POST", f"/orgs/{ORG}/resource-groups", {"name": "Held", "resources": [ids["db02"]]}
    )
    assert status == 201, body
    status, body = await cadmin.call(
        "POST", f"/orgs/{ORG}/resource-groups/Held/shares", {"user": "cadmin", "permission": "full"}
    )
    assert status == 403, body
    assert "db02" in body["detail"]
    status, _ = await cadmin.call("POST", f"/orgs/{ORG}/accounts/{ids['dba']}/reveal", {})
    assert status in (403, 404)
    assert await revealed_by(users["mgr"], "cadmin") == []


async def test_extending_knowingly_is_allowed_and_audited(world):
    """owner1 shares an empty group with alice (view) and ops (modify); adding web01 is
    refused until extend_shares, then done, audited with the shares extended, and alice
    reveals web01's account. Adding nothing new (a rename, or taking one out) needs no
    extend_shares."""
    users, ids = world
    owner, alice = users["owner1"], users["alice"]
    assert (await owner.call("POST", f"/orgs/{ORG}/resource-groups", {"name": "Web"}))[0] == 201
    for body in ({"user": "alice", "permission": "view"}, {"group": "ops", "permission": "modify"}):
        status, share = await owner.call("POST", f"/orgs/{ORG}/resource-groups/Web/shares", body)
        assert status == 201, share
    status, body = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/Web", {"resources": [ids["web01"]]}
    )
    assert (status, body["code"]) == (409, "shares_would_extend"), body
    assert body["shares"] == [
        {"user": "alice", "permission": "view"},
        {"group": "ops", "permission": "modify"},
    ]
    assert (await alice.call("POST", f"/orgs/{ORG}/accounts/{ids['www']}/reveal", {}))[0] == 404

    status, group = await owner.call(
        "PATCH",
        f"/orgs/{ORG}/resource-groups/Web",
        {"resources": [ids["web01"]], "extend_shares": True},
    )
    assert status == 200, group
    assert [r["name"] for r in group["resources"]] == ["web01"]
    status, page = await users["mgr"].call(
        "GET", f"/orgs/{ORG}/audit?operation=resource_group_updated&limit=100"
    )
    assert status == 200, page
    event = next(e for e in page["items"] if e["target"] == "Web")
    assert event["actor"] == "owner1"
    assert event["details"]["shares_extended"] == [
        {"user": "alice", "permission": "view", "resources": ["web01"]},
        {"group": "ops", "permission": "modify", "resources": ["web01"]},
    ]
    status, body = await alice.call("POST", f"/orgs/{ORG}/accounts/{ids['www']}/reveal", {})
    assert status == 200, body

    # Nothing added: no confirmation asked.
    status, group = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/Web", {"name": "Web2", "resources": [ids["web01"]]}
    )
    assert status == 200, group
    status, group = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/Web2", {"resources": []}
    )
    assert (status, group["resources"]) == (200, []), group
    # A group without shares takes resources without it, at creation or later.
    status, group = await owner.call(
        "POST", f"/orgs/{ORG}/resource-groups", {"name": "Lone", "resources": [ids["web01"]]}
    )
    assert status == 201, group
    status, group = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/Lone", {"resources": [ids["web01"], ids["db02"]]}
    )
    assert status == 200, group


async def test_replication_never_shares_what_the_client_put_in_its_groups(world):
    """Attack (left open since session 10): MSPOrg's groups reach acme empty; acme fills
    them (db02 in Backups, alice in Night; web01 in Tools, shared with Day at view when
    that share arrived on the empty group). The MSP then shares Backups with Night at full
    and raises Tools→Day to full, and applies again. Acme's result says both were kept;
    no share reaches Backups, Tools→Day stays view, and alice still cannot reveal db02's
    password. An empty group still gets its share."""
    users, ids = world
    admin, boss, owner, alice = users["admin"], users["boss"], users["owner1"], users["alice"]
    for path, body in (
        ("/orgs/MSPOrg/resource-groups", {"name": "Backups"}),
        ("/orgs/MSPOrg/resource-groups", {"name": "Tools"}),
        ("/orgs/MSPOrg/resource-groups", {"name": "Spare"}),
        ("/orgs/MSPOrg/groups", {"name": "Night"}),
        ("/orgs/MSPOrg/groups", {"name": "Day"}),
        ("/orgs/MSPOrg/resource-groups/Tools/shares", {"group": "Day", "permission": "view"}),
    ):
        status, answer = await admin.call("POST", path, body)
        assert status == 201, (path, answer)
    replicate = {"categories": ["user_groups", "resource_groups", "resource_group_shares"]}
    status, done = await admin.call("PUT", "/msp/replicate-settings", replicate)
    assert (status, done["failed"]) == (200, 0), done

    # Acme fills its replicas: its own people, its own resources (Tools knowingly).
    for group in ("Night", "Day"):
        status, body = await boss.call(
            "PATCH", f"/orgs/{ORG}/groups/{group}", {"members": ["alice"]}
        )
        assert status == 200, body
    status, body = await owner.call(
        "PATCH", f"/orgs/{ORG}/resource-groups/Backups", {"resources": [ids["db02"]]}
    )
    assert status == 200, body
    status, body = await owner.call(
        "PATCH",
        f"/orgs/{ORG}/resource-groups/Tools",
        {"resources": [ids["web01"]], "extend_shares": True},
    )
    assert status == 200, body

    # The MSP shares Backups with Night at full, raises Tools→Day, shares Spare; applies.
    for path, body in (
        ("/orgs/MSPOrg/resource-groups/Backups/shares", {"group": "Night", "permission": "full"}),
        ("/orgs/MSPOrg/resource-groups/Spare/shares", {"group": "Night", "permission": "full"}),
    ):
        status, answer = await admin.call("POST", path, body)
        assert status == 201, (path, answer)
    status, shares = await admin.call("GET", "/orgs/MSPOrg/resource-groups/Tools/shares")
    (tools_day,) = shares["items"]
    status, _ = await admin.call(
        "DELETE", f"/orgs/MSPOrg/resource-groups/Tools/shares/{tools_day['id']}"
    )
    assert status == 204
    status, answer = await admin.call(
        "POST", "/orgs/MSPOrg/resource-groups/Tools/shares", {"group": "Day", "permission": "full"}
    )
    assert status == 201, answer
    status, done = await admin.call("PUT", "/msp/replicate-settings", replicate)
    assert (status, done["failed"]) == (200, 0), done
    (result,) = [r for r in done["results"] if r["org"] == ORG]
    kept = {k["name"]: k["why"] for k in result["kept"]}
    assert set(kept) == {"Backups → Night", "Tools → Day"}, kept
    assert kept["Backups → Night"].startswith("not replicated: the client's group holds 1 ")
    assert kept["Tools → Day"].startswith("kept its level: ")

    # What acme has: nothing on Backups, Tools→Day at view, Spare (empty) shared.
    levels = {}
    for rg in ("Backups", "Tools", "Spare"):
        status, shares = await boss.call("GET", f"/orgs/{ORG}/resource-groups/{rg}/shares")
        assert status == 200, shares
        levels[rg] = [(s["group"], s["permission"]) for s in shares["items"]]
    assert levels == {"Backups": [], "Tools": [("Day", "view")], "Spare": [("Night", "full")]}

    # The secret was not obtained.
    status, body = await alice.call("POST", f"/orgs/{ORG}/accounts/{ids['dba']}/reveal", {})
    assert status in (403, 404), body
    assert SECRET not in json.dumps(body)
    revealed = await revealed_by(users["mgr"], "alice")
    assert [e for e in revealed if e["details"]["account_id"] == ids["dba"]] == []


async def test_sharing_and_filling_a_group_at_once_never_both_pass(world):
    """Attack pass, session 12: cadmin (no right on db02) shares an empty group with
    itself while owner1 fills it with db02, both at once. Each check saw the other's
    change not yet committed, so both passed (23 times in 30) and cadmin revealed the
    password. Now one waits for the other: either the fill is refused (409, the group is
    shared) or the share is (403, db02 is in it), in every round, and the secret was
    not revealed."""
    users, ids = world
    cadmin, owner = users["cadmin"], users["owner1"]
    for round_ in range(12):
        group = f"Race{round_}"
        assert (await cadmin.call("POST", f"/orgs/{ORG}/resource-groups", {"name": group}))[
            0
        ] == 201
        (filled, _), (shared, _) = await asyncio.gather(
            owner.call(
                "PATCH", f"/orgs/{ORG}/resource-groups/{group}", {"resources": [ids["db02"]]}
            ),
            cadmin.call(
                "POST",
                f"/orgs/{ORG}/resource-groups/{group}/shares",
                {"user": "cadmin", "permission": "full"},
            ),
        )
        assert (filled, shared) in ((200, 403), (409, 201)), (round_, filled, shared)
    status, body = await cadmin.call("POST", f"/orgs/{ORG}/accounts/{ids['dba']}/reveal", {})
    assert status in (403, 404), body
    assert SECRET not in json.dumps(body)
    revealed = await revealed_by(users["mgr"], "cadmin")
    assert [e for e in revealed if e["details"]["account_id"] == ids["dba"]] == []
