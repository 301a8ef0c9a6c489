"""Users and user groups: who may manage them, the role rules, and bad input."""

from __future__ import annotations

import pytest

from tests.server.conftest import make_user


async def test_create_list_get_user_without_secrets(admin):
    """A created user is listed and shown with no hash or secret in the answer."""
    status, user = await admin.call(
        "POST",
        "/orgs/MSPOrg/users",
        {
            "username": "alice",
            "full_name": "Alice A",
            "email": "alice@example.com",
            "role": "administrator",
            "password": "alice-initial-pw",
        },
    )
    assert status == 201
    assert user["must_change_password"] is True
    assert user["access_scope"] == "owned_and_shared"
    status, listing = await admin.call("GET", "/orgs/MSPOrg/users")
    assert "alice" in [u["username"] for u in listing["items"]]
    text = str(listing)
    assert "argon2" not in text and "alice-initial-pw" not in text
    status, one = await admin.call("GET", "/orgs/msporg/users/ALICE")
    assert (status, one["username"]) == (200, "alice")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"username": "bad name", "role": "password_user", "password": "long-enough-pw"},
            "username",
        ),
        (
            {"username": "x\u001b[31m", "role": "password_user", "password": "long-enough-pw"},
            "username",
        ),
        ({"username": "bob", "role": "wizard", "password": "long-enough-pw"}, "role"),
        ({"username": "bob", "role": "password_user", "password": "short"}, "password"),
        (
            {
                "username": "bob",
                "role": "password_user",
                "password": "long-enough-pw",
                "email": "not-an-email",
            },
            "email",
        ),
        (
            {
                "username": "bob",
                "role": "password_user",
                "password": "long-enough-pw",
                "colour": "blue",
            },
            "colour",
        ),
        ({"role": "password_user", "password": "long-enough-pw"}, "username"),
    ],
)
async def test_bad_user_input(admin, body, field):
    """Invalid fields answer 422 naming the field; nothing is created."""
    status, problem = await admin.call("POST", "/orgs/MSPOrg/users", body)
    assert status == 422
    assert problem["code"] == "validation_failed"
    assert field in [e["field"] for e in problem["errors"]]
    status, listing = await admin.call("GET", "/orgs/MSPOrg/users")
    assert "bob" not in [u["username"] for u in listing["items"]]


async def test_duplicate_username_differing_in_case(admin):
    """Usernames are unique per org regardless of case."""
    body = {"username": "Carol", "role": "password_user", "password": "carol-password-1"}
    assert (await admin.call("POST", "/orgs/MSPOrg/users", body))[0] == 201
    status, problem = await admin.call("POST", "/orgs/MSPOrg/users", {**body, "username": "CAROL"})
    assert (status, problem["code"]) == (409, "username_taken")


async def test_role_rules(api, admin):
    """Only privileged administrators make privileged administrators or grant scope all;
    nobody changes their own role; password users manage nobody."""
    pw = await make_user(admin, "dave", "administrator")
    dave = await api.login("dave", pw)
    status, problem = await dave.call(
        "POST",
        "/orgs/MSPOrg/users",
        {"username": "eve", "role": "privileged_administrator", "password": "eve-password-12"},
    )
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await dave.call(
        "POST",
        "/orgs/MSPOrg/users",
        {
            "username": "eve",
            "role": "password_user",
            "password": "eve-password-12",
            "access_scope": "all",
        },
    )
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await dave.call(
        "PATCH", "/orgs/MSPOrg/users/dave", {"role": "privileged_administrator"}
    )
    assert status == 403
    status, problem = await admin.call(
        "PATCH", "/orgs/MSPOrg/users/admin", {"role": "administrator"}
    )
    assert status == 403
    upw = await make_user(admin, "frank", "password_user")
    frank = await api.login("frank", upw)
    status, problem = await frank.call(
        "POST",
        "/orgs/MSPOrg/users",
        {"username": "gina", "role": "password_user", "password": "gina-password-12"},
    )
    assert (status, problem["code"]) == (403, "forbidden")
    # A privileged administrator may grant scope all.
    status, body = await admin.call("PATCH", "/orgs/MSPOrg/users/frank", {"access_scope": "all"})
    assert (status, body["access_scope"]) == (200, "all")


async def test_last_privileged_administrator_stays(admin):
    """MSPOrg cannot lose its last active privileged administrator."""
    await make_user(admin, "pa2", "privileged_administrator")
    status, _ = await admin.call("PATCH", "/orgs/MSPOrg/users/pa2", {"status": "disabled"})
    assert status == 200
    # admin is now the only active one: nobody may remove it (and it may not remove itself).
    status, _problem = await admin.call("DELETE", "/orgs/MSPOrg/users/admin")
    assert status == 403


async def test_delete_user_ends_its_sessions(api, admin):
    """Deleting a user removes it and its sessions."""
    pw = await make_user(admin, "temp", "password_user")
    temp = await api.login("temp", pw)
    assert (await admin.call("DELETE", "/orgs/MSPOrg/users/temp"))[0] == 204
    assert (await temp.call("GET", "/me"))[0] == 401
    assert (await admin.call("GET", "/orgs/MSPOrg/users/temp"))[0] == 404


async def test_groups(admin):
    """Groups hold the org's users; unknown members are refused; renames and deletes work."""
    await make_user(admin, "g1", "password_user")
    await make_user(admin, "g2", "password_user")
    status, group = await admin.call(
        "POST", "/orgs/MSPOrg/groups", {"name": "Night Shift", "members": ["g1", "G2"]}
    )
    assert (status, group["members"]) == (201, ["g1", "g2"])
    status, problem = await admin.call("POST", "/orgs/MSPOrg/groups", {"name": "night shift"})
    assert (status, problem["code"]) == (409, "group_name_taken")
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/groups", {"name": "Ghosts", "members": ["nobody"]}
    )
    assert status == 422
    assert "nobody" in problem["detail"]
    status, group = await admin.call(
        "PATCH", "/orgs/MSPOrg/groups/Night%20Shift", {"name": "Day Shift", "members": ["g1"]}
    )
    assert (status, group["name"], group["members"]) == (200, "Day Shift", ["g1"])
    status, listing = await admin.call("GET", "/orgs/MSPOrg/groups")
    assert [g["name"] for g in listing["items"]] == ["Day Shift"]
    assert (await admin.call("DELETE", "/orgs/MSPOrg/groups/Day%20Shift"))[0] == 204
    assert (await admin.call("GET", "/orgs/MSPOrg/groups/Day%20Shift"))[0] == 404


async def test_unknown_org_is_404(admin):
    """An org that does not exist answers 404 like one the caller may not see."""
    status, problem = await admin.call("GET", "/orgs/Nowhere/users")
    assert (status, problem["code"]) == (404, "not_found")


async def test_admin_password_reset(api, admin):
    """An administrator resets a user's password: a temporary one that must be changed at
    the next login; the user's sessions and API keys end; the audit says so without it."""
    pw = await make_user(admin, "forgetful", "password_user")
    old = await api.login("forgetful", pw)
    status, key = await old.call("POST", "/me/api-keys", {"name": "script"})
    assert status == 201, key
    status, body = await admin.call(
        "PATCH", "/orgs/MSPOrg/users/forgetful", {"password": "Temporary-Pass-42"}
    )
    assert (status, body["must_change_password"]) == (200, True)
    assert (await old.call("GET", "/me"))[0] == 401
    assert (await api.as_(key["key"]).call("GET", "/me"))[0] == 401
    again = await api.login("forgetful", "Temporary-Pass-42")
    status, problem = await again.call("GET", "/orgs")
    assert (status, problem["code"]) == (403, "password_change_required")
    status, _ = await again.call(
        "POST",
        "/me/password",
        {"current_password": "Temporary-Pass-42", "new_password": "Mine-Again-Pass-7"},
    )
    assert status == 204
    assert (await again.call("GET", "/orgs"))[0] == 200
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_updated&limit=1")
    assert page["items"][0]["details"]["credentials_reset"] is True
    assert "Temporary-Pass-42" not in str(page)


async def test_deleting_an_owner_names_the_heir(api, admin):
    """A user who owns resources is deleted only when a new owner is named, who then
    owns them (audited); without one, nothing is deleted."""
    pw = await make_user(admin, "leaving", "password_administrator")
    await make_user(admin, "heir", "password_user")
    leaving = await api.login("leaving", pw)
    status, res = await leaving.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "left-behind", "type": "Linux"}
    )
    assert status == 201
    await leaving.call(
        "POST", f"/orgs/MSPOrg/resources/{res['id']}/accounts", {"username": "r", "generate": True}
    )
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg/users/leaving")
    assert (status, problem["code"]) == (409, "user_owns_resources")
    assert (problem["resources"], problem["accounts"]) == (1, 1)
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg/users/leaving?new_owner=nobody")
    assert (status, problem["errors"][0]["field"]) == (422, "new_owner")
    assert (await admin.call("GET", "/orgs/MSPOrg/users/leaving"))[0] == 200
    status, body = await admin.call("DELETE", "/orgs/MSPOrg/users/leaving?new_owner=heir")
    assert (status, body["transferred"]) == (200, {"resources": 1, "accounts": 1})
    heir = await api.login("heir", "final-heir-pw22")
    status, listing = await heir.call("GET", "/orgs/MSPOrg/resources")
    assert [(r["name"], r["permission"]) for r in listing["items"]] == [("left-behind", "owner")]
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=ownership_transferred")
    assert page["items"][0]["details"]["to"] == "heir@MSPOrg"
