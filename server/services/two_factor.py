"""Two-factor authentication an org can require, and recovery codes (issue 27, item 3).

- **Policy.** Each org's ``totp_policy``: ``none``, ``administrators`` (its built-in
  administrators must use TOTP) or ``everyone``. The rule is the SQL function
  ``totp_policy_requires`` (sql/functions/totp_policy_requires.sql), which login, token
  authentication and ``/me`` ask. A user who must use TOTP and has none gets, after a
  correct password, a session limited to enrolment (``totp_setup_required``: the
  middleware answers 403 ``totp_setup_required`` everywhere but /me, /me/totp,
  /me/totp/confirm and /auth/logout). The org's built-in administrators set it (MSPOrg's
  for MSPOrg; for a client org its own administrators and the MSP administrators who
  reach it); lowering a client org's policy from the MSP side needs the client's consent
  (``dual_control.client_consents``) when it has a confirmed administrator of its own.
- **Recovery codes.** Ten one-time codes made when TOTP is confirmed, shown once, kept
  hashed (server/security/recovery_codes.py); a login may give one in place of a TOTP code;
  each use is audited ``totp_recovery_code_used`` with the count left, which the login
  answer also gives; ``account.regenerate_recovery_codes`` (password + a current TOTP
  code) replaces them.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Forbidden, field_error
from server.security import recovery_codes
from server.services import dual_control, recording
from server.services.access import OrgArg, acting_org
from server.services.context import Actor, Env
from server.store import db

POLICIES = ("none", "administrators", "everyone")
_STRENGTH = {name: rank for rank, name in enumerate(POLICIES)}


async def policy_requires(conn: asyncpg.Connection | db.Tx, org_id: uuid.UUID, role: str) -> bool:
    """Whether org ``org_id``'s policy makes a user of ``role`` use TOTP
    (``totp_policy_requires``; the registry ``orgs`` is readable in any RLS context)."""
    found: bool = await conn.fetchval(
        "SELECT totp_policy_requires((SELECT totp_policy FROM orgs WHERE id = $1), $2)",
        org_id,
        role,
    )
    return bool(found)


async def _settings_org(conn: db.Tx, actor: Actor, org_name: OrgArg) -> Any:
    """The org whose security settings ``actor`` reads or sets: one it acts in, as a
    built-in administrator (MSPOrg's administrators for MSPOrg; for a client org its own
    administrators and MSP administrators who reach it). Raises NotFound / Forbidden."""
    org = await acting_org(conn, actor, org_name)
    if not permissions.is_administrator(actor) or (org.is_msp and not actor.org_is_msp):
        raise Forbidden("only the org's administrators manage its security settings")
    return org


async def get_settings(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """An org's security settings: ``{"org", "totp_policy"}``."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await _settings_org(conn, actor, org_name)
        policy = await conn.fetchval("SELECT totp_policy FROM orgs WHERE id = $1", org.id)
    return {"org": org.display_name, "totp_policy": policy}


async def put_settings(
    env: Env, actor: Actor, org_name: OrgArg, totp_policy: str
) -> dict[str, Any]:
    """Set an org's two-factor policy (audited ``org_security_updated`` in the org's chain
    and the actor's).

    Raises:
        ValidationFailed for an unknown policy; Forbidden (not its administrator) or
        ``client_confirms`` (an MSP administrator lowering the policy of a client org
        that has a confirmed administrator of its own: ``dual_control.client_consents``).
    """
    if totp_policy not in POLICIES:
        raise field_error("totp_policy", f"must be one of {', '.join(POLICIES)}")
    async with db.transaction(env.pool) as conn:
        org = await _settings_org(conn, actor, org_name)
        await db.set_org(conn, org.id)
        old = await conn.fetchval("SELECT totp_policy FROM orgs WHERE id = $1 FOR UPDATE", org.id)
        if old == totp_policy:
            return {"org": org.display_name, "totp_policy": old}
        lowering = _STRENGTH[totp_policy] < _STRENGTH[old]
        if (
            lowering
            and not org.is_msp
            and await dual_control.client_has_confirmed_admin(conn, org.id)
        ):
            await dual_control.client_consents(conn, actor, org.id, "lowers its two-factor policy")
        await conn.execute("UPDATE orgs SET totp_policy = $2 WHERE id = $1", org.id, totp_policy)
        for org_id in dict.fromkeys((org.id, actor.org_id)):
            await recording.writer(conn, env, org_id, actor.who).record(
                "org_security_updated",
                target_type="org",
                target=org.display_name,
                details={"totp_policy": totp_policy, "previous_totp_policy": old},
            )
    return {"org": org.display_name, "totp_policy": totp_policy}


# -- recovery codes -------------------------------------------------------------------


async def issue_codes(
    conn: asyncpg.Connection | db.Tx, org_id: uuid.UUID, user_id: uuid.UUID
) -> list[str]:
    """Replace user ``user_id``'s recovery codes with ten new ones (a new salt; the old
    codes stop working), in the caller's transaction and the user's org's RLS context.

    Returns:
        The codes, to be shown once (never stored in clear, logged or audited).
    """
    salt = recovery_codes.new_salt()
    codes = recovery_codes.new_codes()
    await conn.execute("DELETE FROM totp_recovery_codes WHERE user_id = $1", user_id)
    await conn.execute("UPDATE users SET totp_recovery_salt = $2 WHERE id = $1", user_id, salt)
    await conn.executemany(
        "INSERT INTO totp_recovery_codes (org_id, user_id, code_hash) VALUES ($1, $2, $3)",
        [(org_id, user_id, recovery_codes.digest(salt, c)) for c in codes],
    )
    return codes


async def use_code(conn: asyncpg.Connection | db.Tx, user_id: uuid.UUID, code: str) -> int | None:
    """Spend one of user ``user_id``'s unused recovery codes matching ``code`` (the user's
    row must be locked by the caller, so two logins cannot spend one code twice).

    Returns:
        How many unused codes remain after this one, or None when ``code`` matches none
        (wrong, already used, or replaced).
    """
    salt = await conn.fetchval("SELECT totp_recovery_salt FROM users WHERE id = $1", user_id)
    if salt is None or not recovery_codes.looks_like_code(code):
        return None
    spent = await conn.fetchval(
        "UPDATE totp_recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 "
        "AND used_at IS NULL RETURNING id",
        user_id,
        recovery_codes.digest(bytes(salt), code),
    )
    if spent is None:
        return None
    return await remaining(conn, user_id)


async def remaining(conn: asyncpg.Connection | db.Tx, user_id: uuid.UUID) -> int:
    """How many unused recovery codes user ``user_id`` holds."""
    left: int = await conn.fetchval(
        "SELECT count(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        user_id,
    )
    return left
