"""2FA an org can require, and recovery codes (issue 27, item 3)."""

from __future__ import annotations

import time

from server.security import recovery_codes, totp
from tests.server.conftest import ADMIN_PASSWORD, Api, confirm_by_request, make_user


async def _enrol(user: Api, password: str) -> tuple[str, int, list[str]]:
    """Enrol ``user``: (secret, the step its confirmation used, its recovery codes)."""
    status, body = await user.call("POST", "/me/totp", {"current_password": password})
    assert status == 200, body
    secret = body["secret"]
    step = int(time.time() // 30)
    status, body = await user.call(
        "POST", "/me/totp/confirm", {"otp": totp.code_at(secret, step * 30)}
    )
    assert status == 200, body
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(recovery_codes.looks_like_code(c) for c in codes)
    return secret, step, codes


async def _client_org(admin: Api, name: str) -> None:
    status, body = await admin.call(
        "POST", "/orgs", {"name": name, "display_name": name, "account_manager": "admin"}
    )
    assert status == 201, body


async def test_lowering_a_clients_policy_needs_the_client(api, admin):
    """A client org with a confirmed administrator of its own: the MSP may raise its 2FA
    policy but not lower it (403 client_confirms); the client's administrator may. (First
    in this module: tfann and tfben are founders, three persons with admin.)"""
    ann_pw = await make_user(admin, "tfann", "administrator")
    ben_pw = await make_user(admin, "tfben", "administrator")
    ann, ben = await api.login("tfann", ann_pw), await api.login("tfben", ben_pw)
    await _client_org(admin, "tfa2")
    chief_pw = await make_user(admin, "chief", "administrator", org="tfa2")
    await confirm_by_request(ann, ben, ben_pw, "tfa2", "chief")
    status, _ = await admin.call("PUT", "/orgs/tfa2/security-settings", {"totp_policy": "everyone"})
    assert status == 200
    status, problem = await admin.call(
        "PUT", "/orgs/tfa2/security-settings", {"totp_policy": "none"}
    )
    assert (status, problem["code"]) == (403, "client_confirms")
    status, answer = await api.call(
        "POST", "/auth/login", {"username": "chief", "password": chief_pw, "org": "tfa2"}
    )
    chief = api.as_(answer["token"])
    await _enrol(chief, chief_pw)
    status, body = await chief.call("PUT", "/orgs/tfa2/security-settings", {"totp_policy": "none"})
    assert (status, body["totp_policy"]) == (200, "none"), body


async def test_required_2fa_first_login_is_enrolment_only(api, admin):
    """An org requiring 2FA of its administrators: its administrator's first login gives a
    session that can only enrol (everything else 403 totp_setup_required); once enrolled
    the same session works, and the next login asks for a code. A password user of the
    same org is not asked."""
    await _client_org(admin, "tfa1")
    status, body = await admin.call(
        "PUT", "/orgs/tfa1/security-settings", {"totp_policy": "administrators"}
    )
    assert (status, body) == (200, {"org": "tfa1", "totp_policy": "administrators"})
    assert (await admin.call("GET", "/orgs/tfa1/security-settings"))[1]["totp_policy"] == (
        "administrators"
    )
    boss_pw = await make_user(admin, "boss", "administrator", org="tfa1")
    plain_pw = await make_user(admin, "plain", "password_user", org="tfa1")

    status, answer = await api.call(
        "POST", "/auth/login", {"username": "boss", "password": boss_pw, "org": "tfa1"}
    )
    assert status == 200 and answer["must_enrol_totp"] is True, answer
    boss = api.as_(answer["token"])
    for method, path in (("GET", "/orgs/tfa1/users"), ("GET", "/orgs"), ("POST", "/me/api-keys")):
        status, problem = await boss.call(method, path, {"name": "k"} if method == "POST" else None)
        assert (status, problem["code"]) == (403, "totp_setup_required"), path
    status, me = await boss.call("GET", "/me")
    assert (me["totp_required"], me["totp_enabled"]) == (True, False)
    secret, step, _codes = await _enrol(boss, boss_pw)
    assert (await boss.call("GET", "/orgs/tfa1/users"))[0] == 200

    creds = {"username": "boss", "password": boss_pw, "org": "tfa1"}
    status, problem = await api.call("POST", "/auth/login", creds)
    assert (status, problem["code"]) == (401, "otp_required")
    status, answer = await api.call(
        "POST", "/auth/login", {**creds, "otp": totp.code_at(secret, (step + 1) * 30)}
    )
    assert status == 200 and answer["must_enrol_totp"] is False, answer
    # The policy keeps it on: it cannot be switched off.
    status, problem = await boss.call(
        "POST",
        "/me/totp/disable",
        {"current_password": boss_pw, "otp": totp.code_at(secret, (step + 2) * 30)},
    )
    assert (status, problem["code"]) == (409, "totp_required")

    status, answer = await api.call(
        "POST", "/auth/login", {"username": "plain", "password": plain_pw, "org": "tfa1"}
    )
    assert status == 200 and answer["must_enrol_totp"] is False
    # "everyone" takes in the password user too, and a user may not set it.
    plain = api.as_(answer["token"])
    status, problem = await plain.call(
        "PUT", "/orgs/tfa1/security-settings", {"totp_policy": "none"}
    )
    assert status == 403, problem
    status, _ = await admin.call("PUT", "/orgs/tfa1/security-settings", {"totp_policy": "everyone"})
    assert status == 200
    status, problem = await plain.call("GET", "/orgs/tfa1/resources")
    assert (status, problem["code"]) == (403, "totp_setup_required")
    status, problem = await admin.call(
        "PUT", "/orgs/tfa1/security-settings", {"totp_policy": "sometimes"}
    )
    assert status == 422
    _, page = await admin.call("GET", "/orgs/tfa1/audit?operation=org_security_updated")
    assert [e["details"]["totp_policy"] for e in page["items"]] == ["everyone", "administrators"]


async def test_recovery_codes_used_reused_regenerated(api, admin):
    """A recovery code logs in once, in place of a TOTP code, and says how many remain; the
    same code again is refused; regenerating (password + a current TOTP code) replaces
    them all; a recovery code cannot mint new ones."""
    password = await make_user(admin, "roamer", "password_user")
    user = await api.login("roamer", password)
    secret, step, codes = await _enrol(user, password)
    creds = {"username": "roamer", "password": password}

    status, answer = await api.call("POST", "/auth/login", {**creds, "otp": codes[0].upper()})
    assert status == 200, answer
    assert answer["recovery_codes_remaining"] == 9
    status, problem = await api.call("POST", "/auth/login", {**creds, "otp": codes[0]})
    assert (status, problem["code"]) == (401, "invalid_otp")
    status, problem = await api.call("POST", "/auth/login", {**creds, "otp": "abcd-efgh-jkmn-pqrs"})
    assert (status, problem["code"]) == (401, "invalid_otp")
    # A wrong password with a good code spends nothing.
    status, _ = await api.call(
        "POST", "/auth/login", {**creds, "password": "wrong-password-x", "otp": codes[1]}
    )
    assert status == 401
    status, answer = await api.call("POST", "/auth/login", {**creds, "otp": codes[1]})
    assert (status, answer["recovery_codes_remaining"]) == (200, 8)
    session = api.as_(answer["token"])
    assert (await session.call("GET", "/me"))[1]["recovery_codes_remaining"] == 8

    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=totp_recovery_code_used")
    used = [e for e in page["items"] if e["target"] == "roamer"]
    assert [e["details"]["remaining"] for e in used] == [8, 9]
    assert all(codes[0] not in str(e) and codes[1] not in str(e) for e in page["items"])

    status, problem = await session.call(
        "POST", "/me/totp/recovery-codes", {"current_password": password, "otp": codes[2]}
    )
    assert status in (400, 422), problem
    status, problem = await session.call(
        "POST",
        "/me/totp/recovery-codes",
        {"current_password": "wrong-password-x", "otp": totp.code_at(secret, (step + 1) * 30)},
    )
    assert status == 422, problem
    status, fresh = await session.call(
        "POST",
        "/me/totp/recovery-codes",
        {"current_password": password, "otp": totp.code_at(secret, (step + 1) * 30)},
    )
    assert status == 200, fresh
    new = fresh["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(codes)
    status, problem = await api.call("POST", "/auth/login", {**creds, "otp": codes[3]})
    assert (status, problem["code"]) == (401, "invalid_otp")  # the old ones are gone
    status, answer = await api.call("POST", "/auth/login", {**creds, "otp": new[0]})
    assert (status, answer["recovery_codes_remaining"]) == (200, 9)


async def test_reset_of_another_users_2fa_follows_the_reset_rules(api, admin):
    """An administrator turns another user's 2FA off (its sessions end; it logs in with its
    password again), but not that of an MSPOrg user who reaches a client org: whoever can
    reset its second factor could act there as it (the password reset's rule)."""
    password = await make_user(admin, "lostphone", "password_user")
    user = await api.login("lostphone", password)
    await _enrol(user, password)
    status, body = await admin.call("DELETE", "/orgs/MSPOrg/users/lostphone/totp")
    assert (status, body["totp_enabled"]) == (200, False), body
    assert (await user.call("GET", "/me"))[0] == 401
    await api.login("lostphone", password)
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg/users/lostphone/totp")
    assert (status, problem["code"]) == (409, "totp_not_enabled")
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg/users/admin/totp")
    assert status == 403

    # An account manager of a client org: refused, and its second factor stays.
    manager_pw = await make_user(admin, "keeper", "administrator")
    keeper = await api.login("keeper", manager_pw)
    await _enrol(keeper, manager_pw)
    status, body = await admin.call(
        "POST", "/orgs", {"name": "kept", "display_name": "kept", "account_manager": "keeper"}
    )
    assert status == 201, body
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg/users/keeper/totp")
    assert (status, problem["code"]) == (409, "dual_control_required")
    status, problem = await api.call(
        "POST", "/auth/login", {"username": "keeper", "password": manager_pw}
    )
    assert (status, problem["code"]) == (401, "otp_required")
    # And a user who is not a built-in administrator cannot reset an administrator's.
    pa_pw = await make_user(admin, "pa", "password_administrator")
    pa = await api.login("pa", pa_pw)
    status, problem = await pa.call("DELETE", "/orgs/MSPOrg/users/keeper/totp")
    assert status == 403, problem


async def test_msp_users_see_client_names_not_details(api, admin):
    """MSPOrg's password users, auditors and password administrators see the client orgs'
    names in GET /orgs, as administrators do, and nothing else of them (issue 27, item 4)."""
    await _client_org(admin, "named1")
    for name, role in (
        ("pu", "password_user"),
        ("paud", "password_auditor"),
        ("padm", "password_administrator"),
    ):
        who = await api.login(name, await make_user(admin, name, role))
        _, listing = await who.call("GET", "/orgs")
        entry = next(o for o in listing["items"] if o["display_name"] == "named1")
        assert set(entry) == {"display_name", "name", "is_msp", "managed"}, entry
        for path in ("/orgs/named1", "/orgs/named1/report", "/orgs/named1/users"):
            status, problem = await who.call("GET", path)
            assert (status, problem["code"]) == (404, "not_found"), (name, path)


async def test_msp_policy_requires_its_administrators(api, admin):
    """MSPOrg's policy ``administrators`` (a new install's default) takes its built-in
    administrators to enrolment, the privileged one included, and not its password
    users. (Last in this module: admin ends enrolled.)"""
    pu_pw = await make_user(admin, "mspplain", "password_user")
    adm_pw = await make_user(admin, "mspadm", "administrator")
    status, _ = await admin.call(
        "PUT", "/orgs/MSPOrg/security-settings", {"totp_policy": "administrators"}
    )
    assert status == 200
    status, problem = await admin.call("GET", "/orgs")
    assert (status, problem["code"]) == (403, "totp_setup_required")
    for name, password, must in (("mspplain", pu_pw, False), ("mspadm", adm_pw, True)):
        status, answer = await api.call(
            "POST", "/auth/login", {"username": name, "password": password}
        )
        assert (status, answer["must_enrol_totp"]) == (200, must), name
    await _enrol(admin, ADMIN_PASSWORD)
    assert (await admin.call("GET", "/orgs"))[0] == 200
