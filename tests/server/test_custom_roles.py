"""A custom role with manage_users is no administrator in disguise (issue #26 item 3, and
item 11's role names and refusal messages), played as the attacker plays it.

The world: in MSPOrg the founder admin, the founding administrators mgr and x, and desk,
whose custom role Desk gives only manage_users. In the client org Cli (managed by mgr),
the confirmed client administrator cboss and cdesk, a confirmed user cboss made with
Cli's own Desk role (a confirmed client user passes the client-confirmation rule, so only
the custom-role rule stands between it and cboss). Each attack ends in: the thing was not
obtained (GET shows the state unchanged; a login with the attacker's password fails).
"""

from __future__ import annotations

import pytest

from tests.server.conftest import ADMIN, ADMIN_PASSWORD, Api, confirm_by_request, make_user

_WORLD: dict = {}


async def _build(api: Api, admin: Api) -> dict:
    await make_user(admin, "mgr", "administrator")
    await make_user(admin, "x", "privileged_administrator")
    mgr = await api.login("mgr", "final-mgr-pw22")
    x = await api.login("x", "final-x-pw22")
    status, role = await admin.call(
        "POST", "/orgs/MSPOrg/roles", {"name": "Desk", "permissions": ["manage_users"]}
    )
    assert status == 201, role
    await make_user(admin, "desk", "Desk")
    status, org = await admin.call(
        "POST", "/orgs", {"name": "Cli", "display_name": "Cli", "account_manager": "mgr"}
    )
    assert status == 201, org
    await make_user(mgr, "cboss", "administrator", org="Cli")
    await confirm_by_request(admin, x, "final-x-pw22", "Cli", "cboss")
    cboss = await api.login("cboss", "final-cboss-pw22", org="Cli")
    for name, granted in (("Desk", ["manage_users"]), ("Auditors", ["read_audit"])):
        status, role = await cboss.call(
            "POST", "/orgs/Cli/roles", {"name": name, "permissions": granted}
        )
        assert status == 201, role
    await make_user(cboss, "cdesk", "Desk", org="Cli")
    status, cdesk = await cboss.call("GET", "/orgs/Cli/users/cdesk")
    assert cdesk["confirmed"] is True
    desk = await api.login("desk", "final-desk-pw22")
    cdesk_api = await api.login("cdesk", "final-cdesk-pw22", org="Cli")
    return {"desk": desk.token, "cdesk": cdesk_api.token, "mgr": mgr.token, "cboss": cboss.token}


@pytest.fixture
async def world(api, admin) -> dict:
    """The world above (built once per module), with fresh API handles."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    return {k: api.as_(v) for k, v in _WORLD.items()}


# (org, the attacker's key in the world)
PLACES = [
    pytest.param("MSPOrg", "desk", id="MSPOrg"),
    pytest.param("Cli", "cdesk", id="client-org"),
]
# A built-in administrator of each org (a founder; the confirmed client administrator).
VICTIMS = {"MSPOrg": ("mgr", "final-mgr-pw22"), "Cli": ("cboss", "final-cboss-pw22")}


def _owner(world: dict, org: str) -> Api:
    return world["mgr"] if org == "MSPOrg" else world["cboss"]


async def _user(world: dict, org: str, username: str) -> dict:
    status, user = await _owner(world, org).call("GET", f"/orgs/{org}/users/{username}")
    assert status == 200, user
    return user


@pytest.mark.parametrize(("org", "attacker"), PLACES)
async def test_own_role_cannot_be_raised(world, org, attacker):
    """PATCH of the role it holds, adding every permission, or deleting it: own_role;
    the role keeps only manage_users and the attacker still cannot read the audit trail."""
    me = world[attacker]
    everything = ["manage_users", "read_audit", "add_resources", "manage_vault"]
    status, problem = await me.call("PATCH", f"/orgs/{org}/roles/Desk", {"permissions": everything})
    assert (status, problem["code"]) == (403, "own_role"), problem
    status, problem = await me.call("PATCH", f"/orgs/{org}/roles/Desk", {"description": "mine"})
    assert (status, problem["code"]) == (403, "own_role")
    status, problem = await me.call("DELETE", f"/orgs/{org}/roles/Desk")
    assert (status, problem["code"]) == (403, "own_role")
    status, roles = await _owner(world, org).call("GET", f"/orgs/{org}/roles")
    desk = next(r for r in roles["items"] if r["name"] == "Desk")
    assert desk["permissions"] == ["manage_users"]
    assert (await me.call("GET", f"/orgs/{org}/audit"))[0] == 403
    assert (await me.call("GET", "/me"))[1]["capabilities"][org] == ["manage_users"]


@pytest.mark.parametrize(("org", "attacker"), PLACES)
async def test_no_hand_on_a_builtin_administrator(world, api, org, attacker):
    """Demote, disable, reset the password of, change the profile or 2FA rule of, or delete
    a built-in administrator (a founder in MSPOrg, the confirmed client administrator in
    Cli): outranks_you, naming the target; it keeps its role and status, and the
    attacker's password does not open it while its own still does."""
    me = world[attacker]
    victim, victim_pw = VICTIMS[org]
    before = await _user(world, org, victim)
    attempts = [
        {"role": "password_user"},
        {"status": "disabled"},
        {"password": "Attacker-Chosen-99!"},
        {"totp_required": True},
        {"full_name": "Not Me"},
    ]
    for body in attempts:
        status, problem = await me.call("PATCH", f"/orgs/{org}/users/{victim}", body)
        assert (status, problem["code"]) == (403, "outranks_you"), (body, problem)
        assert victim in problem["detail"] and "administrator" in problem["detail"]
    status, problem = await me.call("DELETE", f"/orgs/{org}/users/{victim}")
    assert (status, problem["code"]) == (403, "outranks_you")
    assert await _user(world, org, victim) == before
    status, _ = await api.call(
        "POST",
        "/auth/login",
        {"username": victim, "password": "Attacker-Chosen-99!", "org": org},
    )
    assert status == 401
    await api.login(victim, victim_pw, org=org)


async def test_no_hand_on_the_privileged_founder(world, api):
    """The same for MSPOrg's privileged administrator, the founder admin."""
    desk = world["desk"]
    for body in ({"password": "Attacker-Chosen-99!"}, {"status": "disabled"}):
        status, problem = await desk.call("PATCH", f"/orgs/MSPOrg/users/{ADMIN}", body)
        assert (status, problem["code"]) == (403, "outranks_you")
    status, _ = await api.call(
        "POST", "/auth/login", {"username": ADMIN, "password": "Attacker-Chosen-99!"}
    )
    assert status == 401
    await api.login(ADMIN, ADMIN_PASSWORD)


@pytest.mark.parametrize(("org", "attacker"), PLACES)
async def test_nobody_grants_what_it_lacks(world, org, attacker):
    """A manage_users-only role may not make a password_auditor, nor give a password user
    a role with read_audit, nor create a role with read_audit, nor add read_audit to
    another role: permission_not_held, the message naming the permission; nothing made."""
    me = world[attacker]
    owner = _owner(world, org)
    body = {"username": f"aud-{attacker}", "role": "password_auditor", "password": "Aud-Pass-12345"}
    status, problem = await me.call("POST", f"/orgs/{org}/users", body)
    assert (status, problem["code"]) == (403, "permission_not_held"), problem
    assert "read_audit" in problem["detail"] and "password_auditor" in problem["detail"]
    assert (await owner.call("GET", f"/orgs/{org}/users/aud-{attacker}"))[0] == 404
    # A custom role with read_audit, on create and on update.
    status, role = await owner.call(
        "POST", f"/orgs/{org}/roles", {"name": f"Rd{attacker}", "permissions": ["read_audit"]}
    )
    assert status == 201, role
    status, problem = await me.call("POST", f"/orgs/{org}/users", {**body, "role": f"Rd{attacker}"})
    assert (status, problem["code"]) == (403, "permission_not_held")
    await make_user(owner, f"pu-{attacker}", "password_user", org=org)
    for role in ("password_auditor", f"Rd{attacker}", "password_administrator"):
        status, problem = await me.call("PATCH", f"/orgs/{org}/users/pu-{attacker}", {"role": role})
        assert (status, problem["code"]) == (403, "permission_not_held"), role
    assert (await _user(world, org, f"pu-{attacker}"))["role"] == "password_user"
    status, problem = await me.call(
        "POST", f"/orgs/{org}/roles", {"name": f"Mine{attacker}", "permissions": ["read_audit"]}
    )
    assert (status, problem["code"]) == (403, "permission_not_held")
    status, problem = await me.call(
        "POST",
        f"/orgs/{org}/roles",
        {"name": f"Mine{attacker}", "permissions": ["manage_users", "manage_vault"]},
    )
    assert (status, problem["code"]) == (403, "permission_not_held")
    assert "manage_vault" in problem["detail"]
    status, role = await owner.call(
        "POST", f"/orgs/{org}/roles", {"name": f"Ops{attacker}", "permissions": []}
    )
    assert status == 201
    status, problem = await me.call(
        "PATCH", f"/orgs/{org}/roles/Ops{attacker}", {"permissions": ["read_audit"]}
    )
    assert (status, problem["code"]) == (403, "permission_not_held")
    # Nor strip or delete a role that gives what it lacks.
    status, problem = await me.call("PATCH", f"/orgs/{org}/roles/Rd{attacker}", {"permissions": []})
    assert (status, problem["code"]) == (403, "permission_not_held")
    status, problem = await me.call("DELETE", f"/orgs/{org}/roles/Rd{attacker}")
    assert (status, problem["code"]) == (403, "permission_not_held")
    status, roles = await owner.call("GET", f"/orgs/{org}/roles")
    custom = {r["name"]: r["permissions"] for r in roles["items"] if not r["builtin"]}
    assert f"Mine{attacker}" not in custom
    assert (custom[f"Ops{attacker}"], custom[f"Rd{attacker}"]) == ([], ["read_audit"])


@pytest.mark.parametrize(("org", "attacker"), PLACES)
async def test_no_hand_on_a_user_who_can_do_more(world, api, org, attacker):
    """A user whose custom role reads the audit trail outranks a manage_users-only role:
    its password is not reset, it is not demoted, disabled or deleted."""
    me = world[attacker]
    owner = _owner(world, org)
    role = f"Rd{attacker}2"
    status, _ = await owner.call(
        "POST", f"/orgs/{org}/roles", {"name": role, "permissions": ["read_audit"]}
    )
    assert status == 201
    pw = await make_user(owner, f"reader-{attacker}", role, org=org)
    before = await _user(world, org, f"reader-{attacker}")
    for body in ({"password": "Attacker-Chosen-99!"}, {"role": "password_user"}):
        status, problem = await me.call("PATCH", f"/orgs/{org}/users/reader-{attacker}", body)
        assert (status, problem["code"]) == (403, "outranks_you")
        assert "read_audit" in problem["detail"]
    status, problem = await me.call("DELETE", f"/orgs/{org}/users/reader-{attacker}")
    assert (status, problem["code"]) == (403, "outranks_you")
    assert await _user(world, org, f"reader-{attacker}") == before
    await api.login(f"reader-{attacker}", pw, org=org)


@pytest.mark.parametrize(("org", "attacker"), PLACES)
@pytest.mark.parametrize(
    "name", ["Administrator", "adm1nistrator", "administrator", "Password_User", "ADMINISTRATORS"]
)
async def test_role_names_imitating_builtins(world, org, attacker, name):
    """A custom role named like a built-in one is refused to everyone (role_name_reserved,
    on the field name); no such role appears."""
    for who in (world[attacker], _owner(world, org)):
        status, problem = await who.call(
            "POST", f"/orgs/{org}/roles", {"name": name, "permissions": []}
        )
        assert (status, problem["code"]) == (422, "role_name_reserved"), problem
        assert problem["errors"][0]["field"] == "name"
    status, roles = await _owner(world, org).call("GET", f"/orgs/{org}/roles")
    assert name not in [r["name"] for r in roles["items"] if not r["builtin"]]


@pytest.mark.parametrize(("org", "attacker"), PLACES)
async def test_managing_password_users_still_works(world, api, org, attacker):
    """The feature stays: a manage_users custom role makes a password user, edits its
    profile, gives it its own role and back, resets its password, disables, enables and
    deletes it, and makes a role of what it holds."""
    me = world[attacker]
    name = f"staff-{attacker}"
    status, user = await me.call(
        "POST",
        f"/orgs/{org}/users",
        {"username": name, "role": "password_user", "password": "Staff-Pass-12345"},
    )
    assert status == 201, user
    for body in (
        {"full_name": "Staff Member"},
        {"role": "Desk"},
        {"role": "password_user"},
        {"password": "Staff-Reset-67890"},
        {"status": "disabled"},
        {"status": "active"},
    ):
        status, user = await me.call("PATCH", f"/orgs/{org}/users/{name}", body)
        assert status == 200, (body, user)
    assert (user["full_name"], user["role"], user["status"]) == (
        "Staff Member",
        "password_user",
        "active",
    )
    await api.login(name, "Staff-Reset-67890", org=org)
    status, role = await me.call(
        "POST", f"/orgs/{org}/roles", {"name": f"Helper{attacker}", "permissions": ["manage_users"]}
    )
    assert status == 201, role
    status, _ = await me.call("DELETE", f"/orgs/{org}/roles/Helper{attacker}")
    assert status == 204
    assert (await me.call("DELETE", f"/orgs/{org}/users/{name}"))[0] == 204
    assert (await _owner(world, org).call("GET", f"/orgs/{org}/users/{name}"))[0] == 404


async def test_refusal_messages_name_the_real_reason(world, api, admin):
    """A password user is told it manages no users, not that only a privileged
    administrator may assign a role; a custom role is told a built-in administrator role
    needs a built-in administrator; an administrator, that only a privileged one makes a
    privileged administrator."""
    await make_user(admin, "plain", "password_user")
    plain = await api.login("plain", "final-plain-pw22")
    body = {"username": "nobody", "role": "password_user", "password": "Nobody-Pass-123"}
    status, problem = await plain.call("POST", "/orgs/MSPOrg/users", body)
    assert (status, problem["code"]) == (403, "forbidden")
    assert "privileged" not in problem["detail"] and "manage users" in problem["detail"]
    status, problem = await world["desk"].call(
        "POST", "/orgs/MSPOrg/users", {**body, "role": "administrator"}
    )
    assert (status, problem["code"]) == (403, "forbidden")
    assert "built-in administrator" in problem["detail"]
    status, problem = await world["mgr"].call(
        "POST", "/orgs/MSPOrg/users", {**body, "role": "privileged_administrator"}
    )
    assert (status, problem["code"]) == (403, "forbidden")
    assert "only a privileged administrator" in problem["detail"]
