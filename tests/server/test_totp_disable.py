"""Turning one's own TOTP off (POST /me/totp/disable): the current password and a current,
unused code, from a session; guesses are throttled and audited; never while an
administrator requires it."""

from __future__ import annotations

from server.security import totp
from tests.server.conftest import make_user
from tests.server.test_totp import enrol


async def test_disable_needs_a_fresh_code(api, admin):
    """A wrong or already used code is refused; the next one turns 2FA off for good."""
    password = await make_user(admin, "untwofa", "password_user")
    user = await api.login("untwofa", password)
    off = {"current_password": password}
    status, problem = await user.call("POST", "/me/totp/disable", off | {"otp": "123456"})
    assert (status, problem["code"]) == (409, "totp_not_enabled")
    secret, used_step = await enrol(user, password)
    wrong = f"{(int(totp.code_at(secret, used_step * 30)) + 1) % 1_000_000:06d}"
    for code in (wrong, totp.code_at(secret, used_step * 30)):  # wrong, then replayed
        status, problem = await user.call("POST", "/me/totp/disable", off | {"otp": code})
        assert (status, problem["code"]) == (400, "invalid_otp"), code
    status, body = await user.call(
        "POST", "/me/totp/disable", off | {"otp": totp.code_at(secret, (used_step + 1) * 30)}
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
        "POST",
        "/me/totp/disable",
        {"current_password": password, "otp": totp.code_at(secret, (used_step + 1) * 30)},
    )
    assert (status, problem["code"]) == (409, "totp_required")


async def test_a_stolen_session_cannot_guess_its_way_past_two_factor(api, admin):
    """The attacker holds the victim's session (or a key made from it) but neither its
    password nor its authenticator: no call turns 2FA off, guesses of the code run into
    the login throttle and are audited, and full-width digits are a wrong code, not a
    500."""
    password = await make_user(admin, "victim2fa", "password_user")
    victim = await api.login("victim2fa", password)
    secret, used_step = await enrol(victim, password)
    stolen = await api.login("victim2fa", password, otp=totp.code_at(secret, (used_step + 1) * 30))
    status, key = await stolen.call("POST", "/me/api-keys", {"name": "loot"})
    assert status == 201, key
    by_key = api.as_(key["key"])
    status, problem = await by_key.call(
        "POST", "/me/totp/disable", {"current_password": "guess-one-pw-1", "otp": "000000"}
    )
    assert (status, problem["code"]) == (403, "session_required")
    status, problem = await stolen.call(
        "POST", "/me/totp/disable", {"current_password": "guess-one-pw-1", "otp": "000000"}
    )
    assert (status, problem["code"]) == (422, "validation_failed")
    answers = []
    for guess in ("\uff11\uff12\uff13\uff14\uff15\uff16", *(f"{n:06d}" for n in range(8))):
        status, problem = await stolen.call(
            "POST", "/me/totp/disable", {"current_password": password, "otp": guess}
        )
        answers.append((status, problem.get("code")))
    assert answers[0] == (400, "invalid_otp")  # full-width digits: a wrong code
    assert (429, "rate_limited") in answers, answers  # the throttle stops the guessing
    status, me = await victim.call("GET", "/me")
    assert me["totp_enabled"] is True  # two-factor stayed on
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=totp_disable_failed")
    assert status == 200, page
    failed = [e for e in page["items"] if e["target"] == "victim2fa"]
    assert failed and all(e["outcome"] == "failure" for e in failed)
