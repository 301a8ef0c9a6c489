"""Login, sessions, first-login password change, throttling and the org login URL."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import ADMIN, ADMIN_PASSWORD, make_user


async def test_login_me_logout_over_https(api):
    """A full session: log in, read /me, log out; the token is dead afterwards."""
    status, body = await api.call(
        "POST", "/auth/login", {"username": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert status == 200
    assert body["user"] == {"username": ADMIN, "org": "MSPOrg", "role": "privileged_administrator"}
    assert body["must_change_password"] is False
    assert body["token"].startswith("srs_")
    me = api.as_(body["token"])
    status, profile = await me.call("GET", "/me")
    assert status == 200
    assert profile["username"] == ADMIN
    assert profile["access_scope"] == "all"
    assert profile["totp_enabled"] is False
    assert profile["managed_orgs"] == []
    assert (await me.call("POST", "/auth/logout"))[0] == 204
    status, problem = await me.call("GET", "/me")
    assert status == 401
    assert problem["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"username": ADMIN, "password": "wrong-password-1"}, "unauthenticated"),
        ({"username": "nobody", "password": "wrong-password-1"}, "unauthenticated"),
        ({"username": ADMIN, "password": ADMIN_PASSWORD, "org": "NoSuchOrg"}, "unauthenticated"),
        ({"username": ADMIN}, "validation_failed"),
        ({"username": ADMIN, "password": 5}, "validation_failed"),
        ({"username": ADMIN, "password": "x", "extra": 1}, "validation_failed"),
    ],
)
async def test_bad_logins(api, body, code):
    """Wrong password, unknown user, unknown org and malformed bodies are refused clearly."""
    status, problem = await api.call("POST", "/auth/login", body)
    assert status in (401, 422)
    assert problem["code"] == code
    if code == "unauthenticated":
        # The same words whether the user exists or not.
        assert problem["detail"] == "wrong username, password or organization"


async def test_requests_without_token_or_with_garbage(api):
    """No token, a malformed token and a forged token are all 401."""
    for token in (None, "garbage", "srs_" + "0" * 32 + "_" + "A" * 43):
        status, problem = await api.as_(token).call("GET", "/me")
        assert status == 401
        assert problem["code"] == "unauthenticated"


async def test_first_login_must_change_password(admin, api):
    """A new user can only reach /me and change its password until it has done so."""
    status, _ = await admin.call(
        "POST",
        "/orgs/MSPOrg/users",
        {"username": "newbie", "role": "password_user", "password": "initial-pass-123"},
    )
    assert status == 201
    status, body = await api.call(
        "POST", "/auth/login", {"username": "newbie", "password": "initial-pass-123"}
    )
    assert body["must_change_password"] is True
    newbie = api.as_(body["token"])
    status, problem = await newbie.call("GET", "/orgs/MSPOrg/users")
    assert (status, problem["code"]) == (403, "password_change_required")
    assert (await newbie.call("GET", "/me"))[0] == 200
    status, problem = await newbie.call(
        "POST", "/me/password", {"current_password": "initial-pass-123", "new_password": "short"}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "new_password")
    status, _ = await newbie.call(
        "POST",
        "/me/password",
        {"current_password": "initial-pass-123", "new_password": "a-much-better-pass-9"},
    )
    assert status == 204
    assert (await newbie.call("GET", "/orgs/MSPOrg/users"))[0] == 200


async def test_throttling_slows_guessing_then_lets_the_victim_back(api, admin):
    """After five wrong passwords the next try must wait (429 + Retry-After)."""
    password = await make_user(admin, "throttled", "password_user")
    for _ in range(5):
        status, _ = await api.call(
            "POST", "/auth/login", {"username": "throttled", "password": "not-the-password"}
        )
        assert status == 401
    status, problem = await api.call(
        "POST", "/auth/login", {"username": "throttled", "password": password}
    )
    assert (status, problem["code"]) == (429, "rate_limited")
    retry_after = int(api.last_headers["Retry-After"])
    assert 1 <= retry_after <= 300
    await asyncio.sleep(retry_after + 0.1)
    status, _ = await api.call(
        "POST", "/auth/login", {"username": "throttled", "password": password}
    )
    assert status == 200


async def test_disabled_user_loses_sessions_and_cannot_log_in(api, admin):
    """Disabling a user ends its sessions at once and refuses its logins."""
    password = await make_user(admin, "leaver", "password_user")
    leaver = await api.login("leaver", password)
    assert (await leaver.call("GET", "/me"))[0] == 200
    status, body = await admin.call("PATCH", "/orgs/MSPOrg/users/leaver", {"status": "disabled"})
    assert (status, body["status"]) == (200, "disabled")
    assert (await leaver.call("GET", "/me"))[0] == 401
    right = await api.call("POST", "/auth/login", {"username": "leaver", "password": password})
    wrong = await api.call("POST", "/auth/login", {"username": "leaver", "password": "nope-x1"})
    # No oracle: the right password on a disabled account answers like a wrong one.
    assert right == wrong
    assert right[0] == 401
    assert right[1]["detail"] == "wrong username, password or organization"
    _, trail = await admin.call("GET", "/orgs/MSPOrg/audit?operation=login_failed&actor=leaver")
    assert [e["reason"] for e in trail["items"][:2]] == ["wrong_password", "user_disabled"]


async def test_refresh_swaps_the_token(admin):
    """Refresh hands out a new token and the old one stops working."""
    status, body = await admin.call("POST", "/auth/refresh")
    assert status == 200
    fresh = admin.as_(body["token"])
    assert (await fresh.call("GET", "/me"))[0] == 200
    assert (await admin.call("GET", "/me"))[0] == 401


async def test_org_login_url(api, admin):
    """GET /<display_name> answers the org's login URL: before login the same for any name
    (issue 26: no client list to enumerate); after login the org's own spelling,
    case-insensitively, and 404 for a name the caller does not reach."""
    for name in ("msporg", "NoSuchOrg"):
        status, body = await api.call("GET", f"/{name}", raw=True)
        assert (status, body) == (200, {"org": name, "login": "/api/v1/auth/login"})
    status, body = await admin.call("GET", "/msporg", raw=True)
    assert (status, body) == (200, {"org": "MSPOrg", "login": "/api/v1/auth/login"})
    status, problem = await admin.call("GET", "/NoSuchOrg", raw=True)
    assert (status, problem["code"]) == (404, "not_found")
