"""Authentication: login (password, TOTP, throttling), sessions, API keys, self-service.

Slow work (Argon2id) never holds a database connection: a login reads the user in
one short transaction, verifies off the event loop, then writes the session and
the audit event in a second transaction that re-checks the user did not change.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import (
    Forbidden,
    NotFound,
    ServiceUnavailable,
    StrongroomError,
    Unauthenticated,
    ValidationFailed,
    coded,
)
from server.node.local_state import LocalSession
from server.node.mode import ReadOnly
from server.security import recovery_codes, totp
from server.services import directory, dual_control, recording, session_moves, tokens, two_factor
from server.services.access import MSP_ORG, msp_org_id
from server.services.context import Actor, Env
from server.store import audit, db
from server.store.audit import Who

MOVE_REPLAY_GRACE = 10.0  # s a moved session waits here for its row to replicate back
UNKNOWN_USER = "(unknown user)"  # how a failed login names a user that does not exist


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def rate_limited(retry_after: int) -> StrongroomError:
    """The 429 answer with its Retry-After."""
    err = StrongroomError(
        f"too many failed attempts; try again in {retry_after} s", retry_after=retry_after
    )
    err.status, err.code, err.title = 429, "rate_limited", "Too many requests"
    return err


@dataclass
class LoginResult:
    """What a successful login hands back."""

    token: str
    expires_at: datetime.datetime
    must_change_password: bool
    username: str
    org: str
    role: str
    # Issue 27, item 3: a session limited to TOTP enrolment, and how many recovery codes
    # remain after a login that used one (None: none was used).
    must_enrol_totp: bool = False
    recovery_codes_remaining: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The API's answer shape."""
        return {
            "token": self.token,
            "expires_at": self.expires_at.isoformat(),
            "must_change_password": self.must_change_password,
            "must_enrol_totp": self.must_enrol_totp,
            "recovery_codes_remaining": self.recovery_codes_remaining,
            "user": {"username": self.username, "org": self.org, "role": self.role},
        }


WRONG_CREDENTIALS = "wrong username, password or organization"

_USER_FOR_LOGIN = (
    "SELECT id, username, role, status, password_hash, must_change_password, totp_secret, "
    "totp_last_step, (totp_required OR totp_policy_requires((SELECT totp_policy FROM orgs "
    "WHERE id = $1), role)) AND totp_secret IS NULL AS must_enrol_totp "
    "FROM users WHERE org_id = $1 AND lower(username) = lower($2)"
)


async def login(
    env: Env,
    username: str,
    password: str,
    org_name: str | None,
    otp: str | None,
    ip: str,
    activation_code: str | None = None,
) -> LoginResult:
    """Check credentials (and TOTP), start a session, audit the outcome. While an
    activation is pending (issue 27, item 1), the temporary password alone is not enough:
    ``activation_code`` must match too (``dual_control.pending_activation``)."""
    org_name = org_name or MSP_ORG
    throttle_key = f"{org_name.lower()}/{username.lower()}"
    wait = env.throttle.retry_after(throttle_key, ip)
    if wait:
        raise rate_limited(wait)

    async with db.transaction(env.pool) as conn:
        org = await conn.fetchrow(
            "SELECT id, display_name FROM orgs WHERE lower(display_name) = lower($1) "
            "AND deleted_at IS NULL",  # a deleted org's users cannot log in (issue 27)
            org_name,
        )
        user = pending = None
        if org is not None:
            await db.set_org(conn, org["id"])
            user = await conn.fetchrow(_USER_FOR_LOGIN, org["id"], username)
            if user is not None:
                pending = await dual_control.pending_activation(
                    conn, user["id"], user["password_hash"]
                )
    # Issue 32: a directory user's password is checked by its org's directory.
    checked = None
    if org is not None:
        try:
            checked = await directory.check_login(
                env, org, user["id"] if user else None, username, password, ip
            )
        except ServiceUnavailable:
            # The directory is away: every name of the org is answered alike (the hash's
            # time spent, the attempt counted), as a local name's wrong password is below.
            await env.hasher.verify(password, None)
            env.throttle.failed(throttle_key, ip)
            raise
    if checked is None or checked.local:
        ok = await env.hasher.verify(password, user["password_hash"] if user else None)
        if not ok and checked is not None and checked.unavailable is not None:
            # A local user's wrong password while the directory is away gets the 503 every
            # other name gets then; its right password still logs in (attack pass, session
            # 12: a 401 here told local names apart).
            env.throttle.failed(throttle_key, ip)
            await _audit_failure(env, org, username, ip, "wrong_password")
            raise checked.unavailable
    else:
        # The hash's time is spent here too, or a local user of a directory org would
        # answer slower than a directory user or an unknown name, telling them apart
        # (OWASP Authentication Cheat Sheet, "Authentication Responses").
        await env.hasher.verify(password, None)
        ok = checked.ok
        if checked.user_id is not None and org is not None:  # created or updated by it
            async with db.transaction(env.pool, org["id"]) as conn:
                user = await conn.fetchrow(
                    _USER_FOR_LOGIN.replace("lower(username) = lower($2)", "id = $2"),
                    org["id"],
                    checked.user_id,
                )

    if not ok or user is None or org is None or user["status"] != "active":
        # A disabled account answers exactly like a wrong password, whether or not the
        # password was right: the answer must not confirm a password (OWASP
        # Authentication Cheat Sheet, "Authentication and Error Messages"). Only the
        # audit trail, read by administrators, tells the two apart.
        env.throttle.failed(throttle_key, ip)
        reason = "user_disabled" if ok and user is not None else "wrong_password"
        if user is None:
            # A name no user has is often a password typed into the wrong field: it is
            # not written down (OWASP Logging Cheat Sheet: never log passwords).
            username, reason = UNKNOWN_USER, "unknown_user"
        await _audit_failure(env, org, username, ip, reason)
        raise Unauthenticated(WRONG_CREDENTIALS)

    if pending is not None:
        await _check_activation_code(env, org, user["username"], ip, pending, activation_code)
    step = None
    recovery = None  # a recovery code given in place of the TOTP code (issue 27)
    if user["totp_secret"] is not None:
        if not otp:
            raise coded(Unauthenticated, "otp_required", "enter the code from your authenticator")
        if recovery_codes.looks_like_code(otp):
            recovery = otp
    if user["totp_secret"] is not None and recovery is None:
        async with db.transaction(env.pool, org["id"]) as conn:
            seed = await env.ring.decrypt(
                conn, org["id"], "users", user["id"], "totp_secret", user["totp_secret"]
            )
        step = totp.matching_step(seed, otp or "")
        if step is None:
            env.throttle.failed(throttle_key, ip)
            await _audit_failure(env, org, username, ip, "invalid_otp")
            raise coded(Unauthenticated, "invalid_otp", "the one-time code is wrong or expired")

    token = tokens.new_token(tokens.SESSION_PREFIX, org["id"])
    expires_at = _now() + datetime.timedelta(hours=env.config.security.session_max_hours)
    who = Who(user["username"], org["display_name"], ip)
    new_hash = None
    if checked is None and env.hasher.needs_rehash(user["password_hash"]):
        new_hash = await env.hasher.hash(password)
    method = "password+recovery_code" if recovery else "password+totp" if step else "password"
    if pending is not None:
        method += "+activation_code"
    if checked is not None:
        method = "directory_" + method  # the password was the directory's (issue 32)
    if not env.node_state.records_in_database():
        if recovery:
            raise coded(
                ServiceUnavailable,
                "read_only",
                "a recovery code can be used only where the server can write; log in on "
                "the primary",
            )
        return await _login_read_only(env, user, org, step, token, expires_at, who, method)
    async with db.transaction(env.pool, org["id"], prompt=True) as conn:
        current = await conn.fetchrow(
            # NO KEY UPDATE: concurrent logins still take turns, but a write that merely
            # references the user (a foreign key's KEY SHARE lock), perhaps waiting on an
            # absent standby, never holds a login up (issue 33).
            "SELECT status, password_hash FROM users WHERE id = $1 FOR NO KEY UPDATE",
            user["id"],
        )
        if (
            current is None
            or current["status"] != "active"
            or current["password_hash"] != user["password_hash"]
        ):
            raise Unauthenticated("the user changed during login; try again")
        # A time step is consumed atomically: of two concurrent logins with the
        # same code, the row lock lets exactly one through.
        replayed = (
            step is not None
            and await conn.fetchval(
                "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND "
                "(totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
                user["id"],
                step,
            )
            is None
        )
        left = None
        if recovery is not None:
            left = await two_factor.use_code(conn, user["id"], recovery)
            replayed = left is None
            if left is not None:
                await recording.writer(conn, env, org["id"], who).record(
                    "totp_recovery_code_used",
                    target_type="user",
                    target=user["username"],
                    details={"remaining": left},
                )
        if not replayed:
            if new_hash:
                await conn.execute(
                    "UPDATE users SET password_hash = $2 WHERE id = $1", user["id"], new_hash
                )
            session_id = await conn.fetchval(
                "INSERT INTO sessions (org_id, user_id, token_hash, expires_at, ip) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                org["id"],
                user["id"],
                tokens.token_hash(token),
                expires_at,
                ip,
            )
            if pending is not None:
                await dual_control.activation_redeemed(
                    conn, user["id"], session_id, new_hash or user["password_hash"]
                )
            await recording.writer(conn, env, org["id"], who).record(
                "login", target_type="user", target=user["username"], details={"method": method}
            )
    if replayed and recovery is not None:
        env.throttle.failed(throttle_key, ip)
        await _audit_failure(env, org, username, ip, "invalid_recovery_code")
        raise coded(
            Unauthenticated, "invalid_otp", "the recovery code is wrong or was already used"
        )
    if replayed:
        env.throttle.failed(throttle_key, ip)
        await _audit_failure(env, org, username, ip, "otp_reused")
        raise coded(Unauthenticated, "invalid_otp", "this one-time code was already used")
    env.throttle.succeeded(throttle_key, ip)
    return LoginResult(
        token,
        expires_at,
        user["must_change_password"],
        user["username"],
        org["display_name"],
        user["role"],
        must_enrol_totp=user["must_enrol_totp"],
        recovery_codes_remaining=left,
    )


async def _check_activation_code(
    env: Env,
    org: asyncpg.Record,
    username: str,
    ip: str,
    pending: asyncpg.Record,
    code: str | None,
) -> None:
    """Refuse a login without the pending activation's code, or with a wrong one (a wrong
    one counts as a failed login and is audited). Issue 27, item 1: neither the maker (who
    knows the temporary password) nor the activator (who knows the code) logs in alone."""
    if not code:
        raise coded(
            Unauthenticated,
            "activation_code_required",
            "this account is being activated: enter the activation code the activating "
            "administrator gave you, with the temporary password",
        )
    if not dual_control.activation_code_matches(pending, code):
        env.throttle.failed(f"{org['display_name'].lower()}/{username.lower()}", ip)
        await _audit_failure(env, org, username, ip, "invalid_activation_code")
        raise coded(Unauthenticated, "invalid_activation_code", "the activation code is wrong")
    if not env.node_state.records_in_database():
        raise ReadOnly("an activation's first login needs the primary server; try again there")


async def _login_read_only(
    env: Env,
    user: asyncpg.Record,
    org: asyncpg.Record,
    step: int | None,
    token: str,
    expires_at: datetime.datetime,
    who: Who,
    method: str,
) -> LoginResult:
    """A login on a node that cannot write: session and TOTP step in memory, event spooled."""
    throttle_key = f"{org['display_name'].lower()}/{user['username'].lower()}"
    if step is not None and not env.local.use_step(user["id"], step, user["totp_last_step"]):
        env.throttle.failed(throttle_key, who.ip)
        await _audit_failure(env, org, user["username"], who.ip, "otp_reused")
        raise coded(Unauthenticated, "invalid_otp", "this one-time code was already used")
    event = audit.Event(
        who, "login", "user", user["username"], details={"method": method, "read_only": True}
    )
    await recording.record(env, org["id"], event)
    env.local.start(
        tokens.token_hash(token),
        user["id"],
        org["id"],
        expires_at,
        binding=session_moves.binding(user["password_hash"]),
        ip=who.ip,
    )
    env.throttle.succeeded(throttle_key, who.ip)
    return LoginResult(
        token,
        expires_at,
        user["must_change_password"],
        user["username"],
        org["display_name"],
        user["role"],
        must_enrol_totp=user["must_enrol_totp"],
    )


async def _audit_failure(
    env: Env, org: asyncpg.Record | None, username: str, ip: str, reason: str
) -> None:
    if org is None:
        async with db.transaction(env.pool, readonly=True) as conn:
            org_id = await msp_org_id(conn)
    else:
        org_id = org["id"]
    event = audit.Event(
        Who(username[:64], org["display_name"] if org else MSP_ORG, ip),
        "login_failed",
        "user",
        username[:64],
        outcome="failure",
        reason=reason,
        details={} if org else {"note": "unknown organization"},
    )
    await recording.record(env, org_id, event)


async def authenticate(env: Env, token: str, ip: str) -> Actor:
    """The actor behind a bearer token, or Unauthenticated (expired, revoked, disabled).

    One round trip: ``authenticate_token`` (sql/002) sets the RLS org, looks the token
    up, ends an expired session and refreshes last-seen.
    """
    parsed = tokens.parse(token)
    if parsed is None:
        raise Unauthenticated("the token is not valid")
    kind, org_id = parsed
    idle = datetime.timedelta(minutes=env.config.security.session_idle_minutes)
    local: LocalSession | str | None = None
    if env.local.sessions:
        local = env.local.find(tokens.token_hash(token), idle)
        if local == "expired":
            raise Unauthenticated("the session has expired; log in again")
        if isinstance(local, LocalSession) and local.moved_at is None:
            return await _local_actor(env, local, ip)
    row = await env.authentications.call(
        org_id,
        tokens.token_hash(token),
        kind == tokens.SESSION_PREFIX,
        idle,
    )
    if row is None:  # authenticate_tokens answers every call, a missing token included
        raise db.MissingRow("authenticate_tokens answered no row for a call")
    if isinstance(local, LocalSession):
        # Moved to the primary: its replicated row decides from now on, once it is here
        # (a session not moved was answered above).
        moved_at = local.moved_at
        if (
            row["status"] == "missing"
            and moved_at is not None
            and time.monotonic() - moved_at < MOVE_REPLAY_GRACE
        ):
            return await _local_actor(env, local, ip)
        env.local.drop({local.token_hash})
    if row["session_id"] in env.local.ended:
        raise Unauthenticated("the session has ended or the API key is not valid; log in again")
    return await token_actor(env, kind, org_id, row, ip)


async def with_custom_role(env: Env, actor: Actor) -> Actor:
    """``actor`` with its custom role's permissions resolved (built-in roles: as is).

    A role that no longer exists permits nothing.
    """
    if permissions.is_builtin(actor.role):
        return actor
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        granted = await tx.fetchval(
            "SELECT permissions FROM roles WHERE org_id = $1 AND name = $2",
            actor.org_id,
            actor.role,
        )
    allowed = frozenset(granted or ()) & frozenset(permissions.CAPABILITIES)
    return dataclasses.replace(actor, custom_capabilities=allowed)


_ACTOR_OF_USER = (
    "SELECT us.username, us.role, us.access_scope, us.status, us.must_change_password, "
    "us.password_hash, "
    "(us.totp_required OR totp_policy_requires(o.totp_policy, us.role)) "
    "AND us.totp_secret IS NULL AS totp_setup, o.display_name, o.is_msp "
    "FROM users us JOIN orgs o ON o.id = us.org_id WHERE us.id = $1"
)


async def _local_actor(env: Env, session: LocalSession, ip: str) -> Actor:
    async with db.transaction(env.pool, session.org_id, readonly=True) as tx:
        row = await tx.fetchrow(_ACTOR_OF_USER, session.user_id)
    if row is None or row["status"] != "active":
        env.local.drop({session.token_hash})
        raise Unauthenticated("this user is disabled")
    if session.binding and session.binding != session_moves.binding(row["password_hash"]):
        env.local.drop({session.token_hash})
        raise Unauthenticated("the session has ended: the password was changed; log in again")
    actor = Actor(
        user_id=session.user_id,
        username=row["username"],
        org_id=session.org_id,
        org=row["display_name"],
        org_is_msp=row["is_msp"],
        role=row["role"],
        access_scope=row["access_scope"],
        ip=ip,
        session_id=session.id,
        must_change_password=row["must_change_password"],
        totp_setup_required=row["totp_setup"],
        local_session=True,
    )
    return await with_custom_role(env, actor)


async def logout(env: Env, actor: Actor) -> None:
    """End the actor's session."""
    if actor.session_id is None:
        raise Forbidden("an API key cannot log out; delete the key instead")
    own = env.local.forget(actor.session_id)
    if own or not env.node_state.records_in_database():
        if not own:  # replicated: this node cannot delete it, so it refuses it from now on
            env.local.ended.add(actor.session_id)
            async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
                token_hash = await conn.fetchval(
                    "SELECT token_hash FROM sessions WHERE id = $1", actor.session_id
                )
            if token_hash is not None:  # and the primary ends it when it hears of it
                env.local.ended_hashes[bytes(token_hash)] = actor.org_id
        event = audit.Event(actor.who, "logout", "user", actor.username)
        await recording.record(env, actor.org_id, event)
        return
    async with db.transaction(env.pool, actor.org_id, prompt=True) as conn:
        await conn.execute("DELETE FROM sessions WHERE id = $1", actor.session_id)
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "logout", target_type="user", target=actor.username
        )


async def refresh(env: Env, actor: Actor) -> tuple[str, datetime.datetime]:
    """Swap the session's token for a new one (the absolute lifetime does not move).

    Audited as ``session_refreshed`` in the same transaction (no event, no new token).
    """
    if actor.session_id is None:
        raise Forbidden("API keys do not need refreshing")
    token = tokens.new_token(tokens.SESSION_PREFIX, actor.org_id)
    async with db.transaction(env.pool, actor.org_id) as conn:
        expires_at = await conn.fetchval(
            "UPDATE sessions SET token_hash = $2, last_seen_at = now() WHERE id = $1 "
            "RETURNING expires_at",
            actor.session_id,
            tokens.token_hash(token),
        )
        if expires_at is None:
            raise Unauthenticated("the session has ended; log in again")
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "session_refreshed", target_type="user", target=actor.username
        )
    return token, expires_at


async def reauthenticate(env: Env, actor: Actor, password: str) -> None:
    """Confirm the actor's current password before a sensitive operation."""
    key = f"{actor.org.lower()}/{actor.username.lower()}"
    wait = env.throttle.retry_after(key, actor.ip)
    if wait:
        raise rate_limited(wait)
    async with db.transaction(env.pool, actor.org_id) as conn:
        phc = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", actor.user_id)
    ok = await directory.directory_password_ok(env, actor.org_id, actor.user_id, password)
    if ok is None:  # a local user (issue 32: a directory user's is checked by its directory)
        ok = await env.hasher.verify(password, phc)
    if not ok:
        env.throttle.failed(key, actor.ip)
        raise ValidationFailed(
            [{"field": "current_password", "message": "is not correct"}],
            "the current password is not correct",
        )
    if actor.session_id is not None:
        async with db.transaction(env.pool, actor.org_id) as conn:
            await conn.execute(
                "UPDATE sessions SET reauth_at = now() WHERE id = $1", actor.session_id
            )


async def wrong_second_factor(env: Env, actor: Actor, operation: str) -> None:
    """Count a wrong TOTP code given by a logged-in actor as a failed login attempt (the
    login throttle's key and address) and audit it as ``operation`` (a failure)."""
    env.throttle.failed(f"{actor.org.lower()}/{actor.username.lower()}", actor.ip)
    async with db.transaction(env.pool, actor.org_id) as conn:
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            operation, target_type="user", target=actor.username, outcome="failure"
        )


async def local_actor(env: Env, username: str) -> Actor:
    """An MSPOrg user acting from the server's own command line (trusted by holding the
    configuration and master key); audited with the address ``local-cli``."""
    async with db.transaction(env.pool) as conn:
        msp_id = await msp_org_id(conn)
        await db.set_org(conn, msp_id)
        row = await conn.fetchrow(
            "SELECT id, username, role, access_scope, status FROM users "
            "WHERE org_id = $1 AND lower(username) = lower($2)",
            msp_id,
            username,
        )
    if row is None or row["status"] != "active":
        raise NotFound(f"no active MSPOrg user named {username!r}")
    return Actor(
        user_id=row["id"],
        username=row["username"],
        org_id=msp_id,
        org=MSP_ORG,
        org_is_msp=True,
        role=row["role"],
        access_scope=row["access_scope"],
        ip="local-cli",
    )


async def audit_login_failure(
    env: Env,
    org: asyncpg.Record | dict[str, Any] | None,
    username: str,
    ip: str,
    reason: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a refused login (``login_failed`` with ``reason``) as the HTTPS login does,
    with ``details`` added (the SSH gateway's ``via`` and key fingerprint, issue 30).
    ``org`` None: an org that does not exist (recorded in MSPOrg)."""
    if org is None:
        async with db.transaction(env.pool, readonly=True) as conn:
            org_id = await msp_org_id(conn)
    else:
        org_id = org["id"]
    event = audit.Event(
        Who(username[:64], org["display_name"] if org else MSP_ORG, ip),
        "login_failed",
        "user",
        username[:64],
        outcome="failure",
        reason=reason,
        details={**(details or {}), **({} if org else {"note": "unknown organization"})},
    )
    await recording.record(env, org_id, event)


async def token_actor(env: Env, kind: str, org_id: Any, row: Any, ip: str) -> Actor:
    """The actor a token's check answered (``authenticate_token``, sql/functions/; also
    part of ``reveal_accounts_with_tokens``), with its custom role resolved.

    Args:
        kind: the token's prefix (``tokens.parse``); org_id: the home org it names; row:
            the check's answer (status, session_id, api_key_id, user_id, role, ...; the
            user's name and org as ``username``/``org_display_name`` or ``actor_name``/
            ``actor_org``); ip: the peer address.

    Raises:
        Unauthenticated: the token names nothing (or was logged out), has expired, or its
        user is disabled (its org deleted). The messages are the door's (issue 28 moved
        them here so that the reveal's own token check answers alike).
    """
    if row["status"] == "missing":
        raise Unauthenticated("the session has ended or the API key is not valid; log in again")
    if row["status"] == "expired":
        if kind != tokens.SESSION_PREFIX:
            raise Unauthenticated("the API key has expired; create a new one from a session")
        raise Unauthenticated("the session has expired; log in again")
    if row["status"] == "disabled":
        raise Unauthenticated("this user is disabled")
    named = "actor_name" in row.keys()
    return await with_custom_role(
        env,
        Actor(
            user_id=row["user_id"],
            username=row["actor_name" if named else "username"],
            org_id=org_id,
            org=row["actor_org" if named else "org_display_name"],
            org_is_msp=row["actor_org_is_msp" if named else "org_is_msp"],
            role=row["role"],
            access_scope=row["access_scope"],
            ip=ip,
            session_id=row["session_id"],
            api_key_id=row["api_key_id"],
            must_change_password=row["must_change_password"],
            totp_setup_required=row["totp_setup_required"],
        ),
    )


def refuse_before_setup(
    actor: Actor, before_password_change: bool = False, before_totp_setup: bool = False
) -> None:
    """The first-login gates: an actor who must change its password, or enrol in TOTP,
    does only that first (the routes marked for it: ``before_*``).

    Raises:
        Forbidden ``password_change_required`` / ``totp_setup_required``.
    """
    if actor.must_change_password and not before_password_change:
        raise coded(
            Forbidden,
            "password_change_required",
            "change your password first (POST /api/v1/me/password)",
        )
    if actor.totp_setup_required and not before_totp_setup:
        raise coded(
            Forbidden,
            "totp_setup_required",
            "two-factor authentication is required: enrol first (POST /api/v1/me/totp)",
        )
