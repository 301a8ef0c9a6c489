"""Logging in through the SSH gateway (issue 30, item 2): who an SSH user name names,
which registered key logs them in, the second factor, and the ordinary session it makes.

The rules, in one place (server/gateway only calls these):

- The SSH user name says user and org: ``alice`` is MSPOrg's alice; ``alice@acme`` is
  alice of the client org acme. The name is split at its LAST ``@``: what follows names
  the org when it has the shape of an org's display name (letters and digits only), so
  ``alice@example.com`` (a dot) is MSPOrg's user of that name, and ``alice@example.com@acme``
  that user in acme. MSPOrg's user ``bob@acme`` writes ``bob@acme@MSPOrg``. Display names
  never hold ``@`` or ``.`` (server/core/names.py), so every form reads one way only.
- A key logs its user in when it is registered for them (``/me/ssh-keys``), not expired,
  and the user is active; then the user's TOTP code (keyboard-interactive) when 2FA is on.
- The same throttle as the HTTPS login (its key ``org/user`` and the address): a wrong
  code, a disabled user's key, an expired key, or a connection that offered no registered
  key counts as one failed login and is audited as ``login_failed``.
- A user who must change their password, set up 2FA first or finish an activation logs in
  over HTTPS first (the gateway never lets a key stand in for those steps).
- Success makes an ordinary session (so logout, disable and a password reset end it),
  audited as ``login`` with ``via: ssh_gateway``, the key's ``fingerprint`` and the client
  address.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import asyncpg

from server.core.errors import Unauthenticated, coded
from server.core.names import DISPLAY_NAME
from server.security import totp
from server.services import auth, recording, session_moves, tokens
from server.services.access import MSP_ORG
from server.services.context import Env
from server.store import audit, db
from server.store.audit import Who

VIA = "ssh_gateway"


def parse_ssh_user(name: str) -> tuple[str, str]:
    """(username, org display name) named by an SSH user name (module docstring)."""
    head, at, tail = name.rpartition("@")
    if at and head and DISPLAY_NAME.match(tail):
        return head, tail
    return name, MSP_ORG


@dataclass(frozen=True)
class KeyHolder:
    """The user a registered, unexpired key belongs to, as found before the signature and
    the second factor are checked."""

    user_id: uuid.UUID
    username: str
    org_id: uuid.UUID
    org: str
    key_id: uuid.UUID
    fingerprint: str
    needs_otp: bool

    @property
    def throttle_key(self) -> str:
        """The HTTPS login's throttle key for this user."""
        return f"{self.org.lower()}/{self.username.lower()}"


_KEY_OWNER = (
    "SELECT u.id, u.username, u.status, u.must_change_password, u.totp_secret IS NOT NULL "
    "AS has_totp, (u.totp_required OR totp_policy_requires((SELECT totp_policy FROM orgs "
    "WHERE id = $1), u.role)) AND u.totp_secret IS NULL AS must_enrol_totp, "
    "EXISTS (SELECT 1 FROM user_activations a WHERE a.user_id = u.id) AS activating, "
    "k.id AS key_id, k.public_key, k.expires_at, k.expires_at IS NOT NULL AND "
    "k.expires_at <= now() AS expired "
    "FROM users u LEFT JOIN user_ssh_keys k ON k.user_id = u.id AND k.fingerprint = $3 "
    "WHERE u.org_id = $1 AND lower(u.username) = lower($2)"
)


def throttle_key(ssh_user: str) -> str:
    """The login throttle's key for an SSH user name (the HTTPS login's ``org/user``)."""
    username, org = parse_ssh_user(ssh_user)
    return f"{org.lower()}/{username.lower()}"


async def match_key(
    env: Env, ssh_user: str, public_key: str, fingerprint: str, ip: str
) -> KeyHolder | None:
    """The user ``ssh_user`` names, when ``public_key`` (OpenSSH form, no comment) is one
    of their registered keys and may log in now; else None.

    A key that is simply not registered answers None and is not counted here (clients
    offer several keys): ``connection_failed`` counts the connection once.

    Raises: the HTTPS login's 429 ``rate_limited`` while this user and address are locked
    out; Unauthenticated with the reason as its code for a registered key of a disabled
    user, an expired key, or a user who must first change their password, set up 2FA or
    finish an activation (``user_disabled``, ``ssh_key_expired``, ``https_login_first``):
    counted as a failed login and audited (``login_failed``). The SSH client is answered
    as for any other refused key.
    """
    username, org_name = parse_ssh_user(ssh_user)
    key = f"{org_name.lower()}/{username.lower()}"
    wait = env.throttle.retry_after(key, ip)
    if wait:
        raise auth.rate_limited(wait)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await conn.fetchrow(
            "SELECT id, display_name FROM orgs WHERE lower(display_name) = lower($1) "
            "AND deleted_at IS NULL",
            org_name,
        )
        if org is None:
            return None
        await db.set_org(conn, org["id"])
        row = await conn.fetchrow(_KEY_OWNER, org["id"], username, fingerprint)
    if row is None or row["key_id"] is None or row["public_key"] != public_key:
        return None
    reason = None
    if row["status"] != "active":
        reason = "user_disabled"
    elif row["expired"]:
        reason = "ssh_key_expired"
    elif row["must_change_password"] or row["must_enrol_totp"] or row["activating"]:
        reason = "https_login_first"
    if reason is not None:
        env.throttle.failed(key, ip)
        await auth.audit_login_failure(env, org, row["username"], ip, reason, _via(fingerprint))
        raise coded(Unauthenticated, reason, "this key does not log in now")
    return KeyHolder(
        row["id"],
        row["username"],
        org["id"],
        org["display_name"],
        row["key_id"],
        fingerprint,
        row["has_totp"],
    )


def _via(fingerprint: str) -> dict[str, str]:
    return {"via": VIA, "fingerprint": fingerprint}


async def connection_failed(
    env: Env, ssh_user: str, ip: str, reason: str, count: bool = True
) -> None:
    """Count a gateway connection that tried to log in and did not (no registered key
    offered, the signature or the code never given) as one failed login of the user it
    named, and audit it (``login_failed`` with ``reason``; an unknown user is not named).
    ``count`` False: audited only (a login refused for the sessions cap proved the key)."""
    username, org_name = parse_ssh_user(ssh_user)
    if count:
        env.throttle.failed(f"{org_name.lower()}/{username.lower()}", ip)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await conn.fetchrow(
            "SELECT id, display_name FROM orgs WHERE lower(display_name) = lower($1) "
            "AND deleted_at IS NULL",
            org_name,
        )
        known = None
        if org is not None:
            await db.set_org(conn, org["id"])
            known = await conn.fetchval(
                "SELECT username FROM users WHERE org_id = $1 AND lower(username) = lower($2)",
                org["id"],
                username,
            )
    await auth.audit_login_failure(env, org, known or auth.UNKNOWN_USER, ip, reason, {"via": VIA})


@dataclass(frozen=True)
class GatewaySession:
    """A session made by a gateway login: its bearer token (handed to the TUI only) and
    when it ends at the latest."""

    token: str
    expires_at: datetime.datetime
    holder: KeyHolder


async def open_session(
    env: Env, holder: KeyHolder, ip: str, otp: str | None = None
) -> GatewaySession:
    """Finish a gateway login whose key signature was verified: check the TOTP code when
    the user has 2FA, then make an ordinary session and audit the login (``via``,
    ``fingerprint``, the client address).

    Raises:
        Unauthenticated ``invalid_otp`` for a wrong, expired or reused code (a failed
        login, counted and audited); Unauthenticated when the user, their key or their
        password changed since the key was matched; 429 ``rate_limited`` while locked out.
    """
    wait = env.throttle.retry_after(holder.throttle_key, ip)
    if wait:
        raise auth.rate_limited(wait)
    async with db.transaction(env.pool, holder.org_id, readonly=True) as conn:
        user = await conn.fetchrow(
            "SELECT u.id, u.username, u.role, u.status, u.password_hash, u.totp_secret, "
            "u.totp_last_step, k.expires_at IS NOT NULL AND k.expires_at <= now() AS expired "
            "FROM users u JOIN user_ssh_keys k ON k.user_id = u.id AND k.id = $2 "
            "WHERE u.id = $1",
            holder.user_id,
            holder.key_id,
        )
        seed = None
        if user is not None and user["totp_secret"] is not None:
            seed = await env.ring.decrypt(
                conn, holder.org_id, "users", user["id"], "totp_secret", user["totp_secret"]
            )
    if user is None or user["status"] != "active" or user["expired"]:
        raise Unauthenticated("the user or the key changed during login; try again")
    step = None
    if seed is not None:
        step = totp.matching_step(seed, (otp or "").strip())
        if step is None:
            await _wrong_code(env, holder, ip, "invalid_otp")
    token = tokens.new_token(tokens.SESSION_PREFIX, holder.org_id)
    expires_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        hours=env.config.security.session_max_hours
    )
    who = Who(holder.username, holder.org, ip)
    method = "ssh_key+totp" if step is not None else "ssh_key"
    details = {"method": method, **_via(holder.fingerprint)}
    if not env.node_state.records_in_database():
        await _read_only_session(env, holder, user, step, token, expires_at, who, details)
        return GatewaySession(token, expires_at, holder)
    async with db.transaction(env.pool, holder.org_id, prompt=True) as conn:
        current = await conn.fetchrow(
            "SELECT status, password_hash FROM users WHERE id = $1 FOR NO KEY UPDATE",
            holder.user_id,
        )
        if (
            current is None
            or current["status"] != "active"
            or current["password_hash"] != user["password_hash"]
        ):
            raise Unauthenticated("the user changed during login; try again")
        if step is not None and (
            await conn.fetchval(
                "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND "
                "(totp_last_step IS NULL OR totp_last_step < $2) RETURNING id",
                holder.user_id,
                step,
            )
            is None
        ):
            replayed = True
        else:
            replayed = False
            if (
                await conn.fetchval(
                    "UPDATE user_ssh_keys SET last_used_at = now() WHERE id = $1 "
                    "AND (expires_at IS NULL OR expires_at > now()) RETURNING id",
                    holder.key_id,
                )
                is None
            ):
                raise Unauthenticated("the SSH key was revoked during login")
            await conn.execute(
                "INSERT INTO sessions (org_id, user_id, token_hash, expires_at, ip) "
                "VALUES ($1, $2, $3, $4, $5)",
                holder.org_id,
                holder.user_id,
                tokens.token_hash(token),
                expires_at,
                ip,
            )
            await recording.writer(conn, env, holder.org_id, who).record(
                "login", target_type="user", target=holder.username, details=details
            )
    if replayed:
        await _wrong_code(env, holder, ip, "otp_reused")
    env.throttle.succeeded(holder.throttle_key, ip)
    return GatewaySession(token, expires_at, holder)


async def _wrong_code(env: Env, holder: KeyHolder, ip: str, reason: str) -> None:
    """Count and audit a wrong second factor; raises Unauthenticated ``invalid_otp``."""
    env.throttle.failed(holder.throttle_key, ip)
    org = {"id": holder.org_id, "display_name": holder.org}
    await auth.audit_login_failure(env, org, holder.username, ip, reason, _via(holder.fingerprint))
    err = Unauthenticated("the one-time code is wrong, expired or already used")
    err.code = "invalid_otp"
    raise err


async def _read_only_session(
    env: Env,
    holder: KeyHolder,
    user: asyncpg.Record,
    step: int | None,
    token: str,
    expires_at: datetime.datetime,
    who: Who,
    details: dict[str, str],
) -> None:
    """A gateway login on a node that cannot write (a secondary): as the HTTPS login there,
    the session and the TOTP step are kept in memory and the event is spooled."""
    if step is not None and not env.local.use_step(holder.user_id, step, user["totp_last_step"]):
        await _wrong_code(env, holder, who.ip, "otp_reused")
    event = audit.Event(
        who, "login", "user", holder.username, details={**details, "read_only": True}
    )
    await recording.record(env, holder.org_id, event)
    env.local.start(
        tokens.token_hash(token),
        holder.user_id,
        holder.org_id,
        expires_at,
        binding=session_moves.binding(user["password_hash"]),
        ip=who.ip,
    )
    env.throttle.succeeded(holder.throttle_key, who.ip)


async def refused_request(env: Env, session: GatewaySession, ip: str, what: str) -> None:
    """Audit a request the gateway refuses on a logged-in connection (``what``: shell,
    exec, port forwarding, agent forwarding, sftp, a subsystem) as
    ``gateway_request_refused`` (issue 30, item 3). Never the command's text."""
    holder = session.holder
    event = audit.Event(
        Who(holder.username, holder.org, ip),
        "gateway_request_refused",
        "user",
        holder.username,
        outcome="failure",
        reason=what,
        details={"request": what, **_via(holder.fingerprint)},
    )
    await recording.record(env, holder.org_id, event)


async def close_session(env: Env, session: GatewaySession, ip: str) -> None:
    """End a gateway session when its SSH connection closes (audited ``logout``); one
    already ended (logged out in the TUI, the user disabled, the password reset) is left
    as it is."""
    try:
        actor = await auth.authenticate(env, session.token, ip)
    except Unauthenticated:
        return
    await auth.logout(env, actor)


async def keep_alive(env: Env, session: GatewaySession, ip: str) -> None:
    """The user typed in a brokered session (``ssh ... connect``, or Connect in the TUI):
    that is activity of their gateway login, as a request from the TUI is. Its last-seen
    is refreshed the way every request refreshes it (``auth.authenticate``: at most once
    every 30 seconds, sql/functions/authenticate_token.sql), so a session in which the
    user keeps working is not cut by the login's idle limit
    (``security.session_idle_minutes``); its own idle limit
    (``gateway.connect_idle_seconds``) still counts the user's keys.

    A login that has already ended (logged out, idle, expired, the user disabled) is left
    as it is: nothing is revived, and ``session_alive`` reports it. Database errors are
    raised (the caller asks the rule right after, which fails closed).
    """
    try:
        await auth.authenticate(env, session.token, ip)
    except Unauthenticated:
        return


async def session_alive(env: Env, session: GatewaySession) -> bool:
    """Does a gateway session still stand: not logged out, not past its lifetime or its
    idle limit, its user active? Read only (it never refreshes last-seen, so idleness is
    what the user does in the TUI). The gateway asks this periodically and closes the
    connection of a session that ended (issue 30, item 2: logout, disable and a password
    reset end it)."""
    token_hash = tokens.token_hash(session.token)
    holder = session.holder
    idle = datetime.timedelta(minutes=env.config.security.session_idle_minutes)
    now = datetime.datetime.now(datetime.UTC)
    local = env.local.sessions.get(token_hash)
    if local is not None and local.moved_at is None:
        if local.expires_at <= now or local.last_seen_at + idle <= now:
            return False
        async with db.transaction(env.pool, holder.org_id, readonly=True) as conn:
            status = await conn.fetchval("SELECT status FROM users WHERE id = $1", holder.user_id)
        return bool(status == "active")
    async with db.transaction(env.pool, holder.org_id, readonly=True) as conn:
        row = await conn.fetchrow(
            "SELECT s.id, s.expires_at > now() AND s.last_seen_at + $2 > now() AS live, "
            "u.status = 'active' AS active FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = $1",
            token_hash,
            idle,
        )
    if local is not None and row is None:
        return True  # moved to the primary, its row not replicated here yet
    return bool(
        row is not None and row["live"] and row["active"] and row["id"] not in env.local.ended
    )
