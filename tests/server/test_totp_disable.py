"""Turning one's own TOTP off (POST /me/totp/disable): a current, unused code; never while
an administrator requires it."""

from __future__ import annotations

from server import totp
from tests.server.conftest import make_user
from tests.server.test_totp import enrol


async def test_disable_needs_a_fresh_code(api, admin):
    """A wrong or already used code is refused; the next one turns 2FA off for good."""
    password = await make_user(admin, "untwofa", "password_user")
    user = await api.login("untwofa", password)
    status, problem = await user.call("POST", "/me/totp/disable", {"otp": "123456"})
    assert (status, problem["code"]) == (409, "totp_not_enabled")
    secret, used_step = await enrol(user, password)
    wrong = f"{(int(totp.code_at(secret, used_step * 30)) + 1) % 1_000_000:06d}"
    for code in (wrong, totp.code_at(secret, used_step * 30)):  # wrong, then replayed
        status, problem = await user.call("POST", "/me/totp/disable", {"otp": code})
        assert (status, problem["code"]) == (400, "invalid_otp"), code
    status, body = await user.call(
        "POST", "/me/totp/disable", {"otp": totp.code_at(secret, (used_step + 1) * 30)}
    )
    assert status == 204, body
    status, me = await user.call("GET", "/me")
    assert me["totp_enabled"] is False
    assert await api.login("untwofa", password)  # no code asked


async def test_disable_refused_when_required(api, admin):
    """A user whose administrator requires 2FA cannot turn it off."""
    password = await make_user(admin, "mustfa", "password_user")
    user = await api.login("mustfa", password)
    secret, used_step = await enrol(user, password)
    status, body = await admin.call("PATCH", "/orgs/MSPOrg/users/mustfa", {"totp_required": True})
    assert status == 200, body
    code = totp.code_at(secret, (used_step + 1) * 30)
    user = await api.login("mustfa", password, otp=code)
    status, problem = await user.call(
        "POST", "/me/totp/disable", {"otp": totp.code_at(secret, (used_step + 1) * 30)}
    )
    assert (status, problem["code"]) == (409, "totp_required")
