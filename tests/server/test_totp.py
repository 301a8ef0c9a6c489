"""Two-factor authentication with TOTP: enrolment, login, replay, concurrency, enforcement."""

from __future__ import annotations

import asyncio
import time

from server.security import totp
from tests.server.conftest import make_user


async def enrol(user, password: str) -> tuple[str, int]:
    """Enrol a user in TOTP; return (secret, the step its confirmation consumed)."""
    status, body = await user.call("POST", "/me/totp", {"current_password": password})
    assert status == 200, body
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    secret = body["secret"]
    now = time.time()
    status, body = await user.call("POST", "/me/totp/confirm", {"otp": totp.code_at(secret, now)})
    assert status == 200, body
    assert len(body["recovery_codes"]) == 10  # shown once (issue 27)
    return secret, int(now // 30)


async def test_enrol_needs_current_password(api, admin):
    """Starting enrolment without the right current password is refused."""
    password = await make_user(admin, "careful", "password_user")
    user = await api.login("careful", password)
    status, problem = await user.call("POST", "/me/totp", {"current_password": "nope-nope"})
    assert (status, problem["code"]) == (422, "validation_failed")


async def test_login_with_totp_and_replay(api, admin):
    """Once enrolled, login asks for a code, refuses a wrong one and never takes one twice."""
    password = await make_user(admin, "twofa", "administrator")
    user = await api.login("twofa", password)
    secret, used_step = await enrol(user, password)
    status, me = await user.call("GET", "/me")
    assert me["totp_enabled"] is True

    creds = {"username": "twofa", "password": password}
    status, problem = await api.call("POST", "/auth/login", creds)
    assert (status, problem["code"]) == (401, "otp_required")
    wrong = f"{(int(totp.code_at(secret, time.time())) + 1) % 1_000_000:06d}"
    status, problem = await api.call("POST", "/auth/login", {**creds, "otp": wrong})
    assert (status, problem["code"]) == (401, "invalid_otp")
    # The step used at confirmation cannot be used again.
    status, problem = await api.call(
        "POST", "/auth/login", {**creds, "otp": totp.code_at(secret, used_step * 30)}
    )
    assert (status, problem["code"]) == (401, "invalid_otp")
    # The next step (inside the ±1 window) works once, and only once.
    code = totp.code_at(secret, (used_step + 1) * 30)
    status, body = await api.call("POST", "/auth/login", {**creds, "otp": code})
    assert status == 200, body
    status, problem = await api.call("POST", "/auth/login", {**creds, "otp": code})
    assert (status, problem["code"]) == (401, "invalid_otp")


async def test_concurrent_logins_with_one_code(api, admin):
    """Two logins racing with the same code: exactly one gets in."""
    password = await make_user(admin, "racer", "password_user")
    user = await api.login("racer", password)
    secret, used_step = await enrol(user, password)
    code = totp.code_at(secret, (used_step + 1) * 30)
    body = {"username": "racer", "password": password, "otp": code}
    results = await asyncio.gather(*(api.call("POST", "/auth/login", body) for _ in range(4)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, results
    assert all(s == 401 for s in statuses if s != 200)


async def test_totp_required_forces_enrolment(api, admin):
    """A user created with totp_required can do nothing but enrol until it has."""
    await make_user(
        admin, "mustenrol", "password_user", totp_required=True, password="mustenrol-secret-1"
    )
    user = await api.login("mustenrol", "mustenrol-secret-1")
    status, problem = await user.call("GET", "/orgs/MSPOrg/users")
    assert (status, problem["code"]) == (403, "totp_setup_required")
    await enrol(user, "mustenrol-secret-1")
    assert (await user.call("GET", "/orgs/MSPOrg/users"))[0] == 200


async def test_totp_secret_is_encrypted_at_rest(api, admin, owner_conn):
    """The stored TOTP seed is ciphertext, not the base32 secret."""
    password = await make_user(admin, "sealed", "password_user")
    user = await api.login("sealed", password)
    secret, _ = await enrol(user, password)
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        blob = await owner_conn.fetchval("SELECT totp_secret FROM users WHERE username = 'sealed'")
    assert secret.encode() not in blob
    assert len(blob) >= 4 + 12 + len(secret) + 16
