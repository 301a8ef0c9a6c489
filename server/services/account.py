"""The caller's own account: profile, password, two-factor enrolment, API keys."""

from __future__ import annotations

from typing import Any

from server.core.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed, coded
from server.core.ids import parse_id
from server.security import totp
from server.security.passwords import check_login_password
from server.services import activation, dual_control, first_run, recording, tokens, two_factor
from server.services.access import orgs_reached
from server.services.auth import reauthenticate, wrong_second_factor
from server.services.context import Actor, Env
from server.store import db


async def change_password(env: Env, actor: Actor, current: str, new: str) -> None:
    """Change one's own login password; the user's other sessions and all its API keys end
    (as when an administrator resets it: a key made before the change must not outlive the
    credential it was made with; issue 26, item 11; OWASP ASVS 4.0 V3.3.3).

    Raises Forbidden ``session_required`` for an API key (``require_session``),
    ValidationFailed for a wrong current password or a weak or unchanged new one.
    """
    require_session(actor, "an API key cannot change the password; log in and change it there")
    async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
        await dual_control.refuse_password_of_directory_user(conn, actor.user_id)
    await reauthenticate(env, actor, current)
    problem = check_login_password(new, actor.username)
    if problem:
        raise ValidationFailed([{"field": "new_password", "message": problem}])
    if current == new:
        raise ValidationFailed(
            [{"field": "new_password", "message": "must differ from the current password"}]
        )
    new_hash = await env.hasher.hash(new)
    async with db.transaction(env.pool, actor.org_id) as conn:
        await conn.execute(
            "UPDATE users SET password_hash = $2, must_change_password = false, "
            "updated_at = now() WHERE id = $1",
            actor.user_id,
            new_hash,
        )
        await conn.execute(
            "DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2",
            actor.user_id,
            actor.session_id,
        )
        revoked = await conn.fetch(
            "DELETE FROM api_keys WHERE user_id = $1 RETURNING id", actor.user_id
        )
        trail = recording.writer(conn, env, actor.org_id, actor.who)
        await trail.record(
            "password_changed",
            target_type="user",
            target=actor.username,
            details={"self_service": True, "api_keys_revoked": len(revoked)},
        )
        activator = await dual_control.complete_activation(conn, actor.user_id, actor.session_id)
        if activator is not None:
            await trail.record(
                "user_activated",
                target_type="user",
                target=actor.username,
                details={"independent": True, "activated_by": activator},
            )
    if actor.org_is_msp:
        first_run.forget_if_changed(env.config, current)


async def begin_totp(env: Env, actor: Actor, current_password: str) -> dict[str, str]:
    """Start TOTP enrolment: a new secret, not active until confirmed with a code.

    Raises Forbidden ``session_required`` for an API key: a leaked key must not replace
    its owner's second factor (issue 26, item 11).
    """
    require_session(actor, "an API key cannot set up two-factor authentication; log in")
    await reauthenticate(env, actor, current_password)
    secret = totp.new_secret()
    async with db.transaction(env.pool, actor.org_id) as conn:
        blob = await env.ring.encrypt(
            conn, actor.org_id, "users", actor.user_id, "totp_pending", secret
        )
        await conn.execute("UPDATE users SET totp_pending = $2 WHERE id = $1", actor.user_id, blob)
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "totp_enrolment_started", target_type="user", target=actor.username
        )
    return {
        "secret": secret,
        "otpauth_uri": totp.provisioning_uri(secret, actor.username, actor.org),
    }


async def confirm_totp(env: Env, actor: Actor, code: str) -> dict[str, list[str]]:
    """Activate the pending TOTP secret once the user proves they have it, and make its
    ten recovery codes (issue 27, item 3; ``two_factor.issue_codes``).

    Returns:
        ``{"recovery_codes": [...]}``, shown this once.
    Raises Forbidden ``session_required`` for an API key (as ``begin_totp``).
    """
    require_session(actor, "an API key cannot set up two-factor authentication; log in")
    async with db.transaction(env.pool, actor.org_id) as conn:
        pending = await conn.fetchval(
            "SELECT totp_pending FROM users WHERE id = $1 FOR UPDATE", actor.user_id
        )
        if pending is None:
            raise coded(Conflict, "totp_not_started", "start TOTP enrolment first (POST /me/totp)")
        secret = await env.ring.decrypt(
            conn, actor.org_id, "users", actor.user_id, "totp_pending", pending
        )
        step = totp.matching_step(secret, code)
        if step is None:
            raise coded(
                BadRequest,
                "invalid_otp",
                "the code does not match; check the authenticator's clock",
            )
        active = await env.ring.encrypt(
            conn, actor.org_id, "users", actor.user_id, "totp_secret", secret
        )
        await conn.execute(
            "UPDATE users SET totp_secret = $2, totp_pending = NULL, totp_last_step = $3, "
            "updated_at = now() WHERE id = $1",
            actor.user_id,
            active,
            step,
        )
        codes = await two_factor.issue_codes(conn, actor.org_id, actor.user_id)
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "totp_enabled",
            target_type="user",
            target=actor.username,
            details={"recovery_codes": len(codes)},
        )
    return {"recovery_codes": codes}


async def disable_totp(env: Env, actor: Actor, current_password: str, code: str) -> None:
    """Turn the actor's own TOTP off, proven by the current password and a current code
    (used once, like a login's), from a logged-in session.

    Both proofs go through the login throttle (a wrong password or code counts as a
    failed attempt: OWASP Multifactor Authentication Cheat Sheet, "resetting MFA" asks
    for re-authentication and limits guesses); a wrong code is audited as
    ``totp_disable_failed``.

    Raises Forbidden ``session_required`` for an API key (a leaked script key must not
    remove a factor), 429 ``rate_limited`` after too many failures, ValidationFailed for a
    wrong password, Conflict ``totp_not_enabled`` when it is off, ``totp_required`` when an
    administrator requires it for this user, BadRequest ``invalid_otp`` for a wrong or
    already used code.
    """
    if actor.api_key_id is not None:
        raise coded(
            Forbidden,
            "session_required",
            "an API key cannot turn two-factor authentication off; log in and do it there",
        )
    await reauthenticate(env, actor, current_password)  # throttled like a login
    async with db.transaction(env.pool, actor.org_id) as conn:
        row = await conn.fetchrow_one(
            "SELECT totp_secret, totp_last_step, totp_required OR totp_policy_requires("
            "(SELECT totp_policy FROM orgs WHERE id = org_id), role) AS totp_required "
            "FROM users WHERE id = $1 FOR UPDATE",
            actor.user_id,
        )
        if row["totp_secret"] is None:
            raise coded(Conflict, "totp_not_enabled", "two-factor authentication is not on")
        if row["totp_required"]:
            raise coded(
                Conflict,
                "totp_required",
                "an administrator or your organization's policy requires two-factor "
                "authentication for you; it stays on",
            )
        secret = await env.ring.decrypt(
            conn, actor.org_id, "users", actor.user_id, "totp_secret", row["totp_secret"]
        )
        step = totp.matching_step(secret, code)
    if step is None or step <= (row["totp_last_step"] or -1):
        await wrong_second_factor(env, actor, "totp_disable_failed")
        raise coded(
            BadRequest,
            "invalid_otp",
            "the code does not match (or was already used); check the authenticator",
        )
    async with db.transaction(env.pool, actor.org_id) as conn:
        last = await conn.fetchval(
            "SELECT totp_last_step FROM users WHERE id = $1 FOR UPDATE", actor.user_id
        )
        if last is not None and step <= last:  # the same code used meanwhile
            raise coded(BadRequest, "invalid_otp", "the code was already used")
        await conn.execute(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = $2, "
            "updated_at = now() WHERE id = $1",
            actor.user_id,
            step,
        )
        await conn.execute("DELETE FROM totp_recovery_codes WHERE user_id = $1", actor.user_id)
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "totp_disabled", target_type="user", target=actor.username
        )


async def me(env: Env, actor: Actor) -> dict[str, Any]:
    """The actor's own profile, with the client orgs it manages and its capabilities in
    every org it may act in (org display name -> sorted capability names; its home org
    included; ``permissions.capabilities_in``)."""
    async with db.transaction(env.pool, actor.org_id) as conn:
        row = await conn.fetchrow_one(
            "SELECT username, role, access_scope, totp_secret IS NOT NULL AS totp_enabled, "
            "totp_required OR totp_policy_requires((SELECT totp_policy FROM orgs "
            "WHERE id = org_id), role) AS totp_required, must_change_password, full_name, "
            "email, (SELECT count(*) FROM totp_recovery_codes c WHERE c.user_id = users.id "
            "AND c.used_at IS NULL) AS recovery_codes FROM users WHERE id = $1",
            actor.user_id,
        )
        reached = await orgs_reached(conn, actor)
        told = await activation.notices(conn, actor)
    managed = [org.display_name for org in reached if org.via != "home"]
    return {
        "username": row["username"],
        "org": actor.org,
        "role": row["role"],
        "access_scope": row["access_scope"],
        "full_name": row["full_name"],
        "email": row["email"],
        "totp_enabled": row["totp_enabled"],
        "totp_required": row["totp_required"],
        "must_change_password": row["must_change_password"],
        "recovery_codes_remaining": row["recovery_codes"],
        "managed_orgs": managed,
        "capabilities": {org.display_name: sorted(org.capabilities) for org in reached},
        "notices": [n["text"] for n in told],
        "notice_items": told,
    }


API_KEY_MAX_DAYS = 365


async def create_api_key(
    env: Env, actor: Actor, name: str, expires_in_days: int | None = None
) -> dict[str, Any]:
    """Make an API key for the actor; the key itself is shown only now.

    Args:
        name: the key's label.
        expires_in_days: its lifetime, 1 to 365 days (default ``security.api_key_days``,
            90): a key that never expires outlives the reason it was made (OWASP REST
            Security Cheat Sheet, "API Keys"; ASVS 4.0 V3.3).

    Returns:
        ``{"id", "name", "key", "created_at", "expires_at"}``.

    Raises:
        Forbidden ``session_required`` when the actor authenticated with an API key: a
        key must not mint keys (a leaked key could otherwise outlive its own expiry and
        deletion); keys are made from a logged-in session.
    """
    if actor.api_key_id is not None:
        raise coded(
            Forbidden,
            "session_required",
            "an API key cannot create API keys; log in and create it from a session",
        )
    days = env.config.security.api_key_days if expires_in_days is None else expires_in_days
    key = tokens.new_token(tokens.API_KEY_PREFIX, actor.org_id)
    async with db.transaction(env.pool, actor.org_id) as conn:
        row = await conn.fetchrow_one(
            "INSERT INTO api_keys (org_id, user_id, name, token_hash, prefix, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, now() + make_interval(days => $6)) "
            "RETURNING id, created_at, expires_at",
            actor.org_id,
            actor.user_id,
            name,
            tokens.token_hash(key),
            key[-6:],
            days,
        )
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "api_key_created",
            target_type="api_key",
            target=name,
            details={"key_id": str(row["id"]), "expires_at": row["expires_at"].isoformat()},
        )
    return {
        "id": str(row["id"]),
        "name": name,
        "key": key,
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat(),
    }


async def list_api_keys(env: Env, actor: Actor) -> list[dict[str, Any]]:
    """The actor's API keys (never the keys themselves)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
        rows = await conn.fetch(
            "SELECT id, name, prefix, created_at, last_used_at, expires_at, "
            "expires_at <= now() AS expired FROM api_keys "
            "WHERE user_id = $1 ORDER BY created_at",
            actor.user_id,
        )
    return [
        {
            "id": str(r["id"]),
            "name": r["name"],
            "ends_with": r["prefix"],
            "created_at": r["created_at"].isoformat(),
            "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None,
            "expires_at": r["expires_at"].isoformat(),
            "expired": r["expired"],
        }
        for r in rows
    ]


async def delete_api_key(env: Env, actor: Actor, key_id: str) -> None:
    """Delete one of the actor's API keys."""
    kid = parse_id(key_id, "API key")
    async with db.transaction(env.pool, actor.org_id) as conn:
        name = await conn.fetchval(
            "DELETE FROM api_keys WHERE id = $1 AND user_id = $2 RETURNING name", kid, actor.user_id
        )
        if name is None:
            raise NotFound("no such API key")
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "api_key_deleted", target_type="api_key", target=name, details={"key_id": key_id}
        )


def require_session(actor: Actor, message: str) -> None:
    """Refuse an actor authenticated by an API key: changing one's own credentials (login
    password, second factor) needs a logged-in session, so a leaked script key cannot take
    over its owner's account (issue 26, item 11; OWASP ASVS 4.0 V3.3, V2.5).

    Raises:
        Forbidden ``session_required`` (403) with ``message``.
    """
    if actor.api_key_id is not None:
        raise coded(Forbidden, "session_required", message)


async def regenerate_recovery_codes(
    env: Env, actor: Actor, current_password: str, code: str
) -> dict[str, Any]:
    """Replace the actor's recovery codes, proven by its current password and a current
    TOTP code (used once, like a login's; a recovery code does not do here: whoever holds
    one code must not mint ten). Audited ``totp_recovery_codes_regenerated``.

    Returns:
        ``{"recovery_codes": [...]}``, shown once.
    Raises:
        Forbidden ``session_required`` (an API key), ValidationFailed (wrong password),
        429 ``rate_limited``, Conflict ``totp_not_enabled``, BadRequest ``invalid_otp``.
    """
    if actor.api_key_id is not None:
        raise coded(Forbidden, "session_required", "an API key cannot make recovery codes; log in")
    await reauthenticate(env, actor, current_password)
    async with db.transaction(env.pool, actor.org_id) as conn:
        row = await conn.fetchrow_one(
            "SELECT totp_secret, totp_last_step FROM users WHERE id = $1", actor.user_id
        )
        if row["totp_secret"] is None:
            raise coded(Conflict, "totp_not_enabled", "two-factor authentication is not on")
        secret = await env.ring.decrypt(
            conn, actor.org_id, "users", actor.user_id, "totp_secret", row["totp_secret"]
        )
    step = totp.matching_step(secret, code)
    if step is None or step <= (row["totp_last_step"] or -1):
        await wrong_second_factor(env, actor, "totp_recovery_codes_failed")
        raise coded(
            BadRequest,
            "invalid_otp",
            "the code does not match (or was already used); give a current code from the "
            "authenticator",
        )
    async with db.transaction(env.pool, actor.org_id) as conn:
        used = await conn.fetchval(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND "
            "(totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
            actor.user_id,
            step,
        )
        if used is None:
            raise coded(BadRequest, "invalid_otp", "the code was already used")
        codes = await two_factor.issue_codes(conn, actor.org_id, actor.user_id)
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "totp_recovery_codes_regenerated",
            target_type="user",
            target=actor.username,
            details={"count": len(codes)},
        )
    return {"recovery_codes": codes}
