"""Users' SSH public keys for the SSH gateway (issue 30, item 2): a user registers,
lists and revokes their own keys; every change is audited.

The rules: ed25519, ECDSA or RSA of at least 3072 bits (``server.security.ssh_keys``);
an optional expiry (1 to 3650 days); one key names one user in an org (a key already
registered there is refused); keys are added and revoked only from a logged-in session,
never with an API key (a leaked script key must not give itself an SSH login: OWASP ASVS
4.0 V3.3, as for API keys and the second factor).
"""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg

from server.core.errors import Conflict, NotFound, coded, field_error
from server.core.ids import parse_id
from server.core.names import identifier_problem
from server.security.ssh_keys import KeyRefused, PublicKey, parse_public_key
from server.services import recording
from server.services.account import require_session
from server.services.context import Actor, Env
from server.store import db

MAX_DAYS = 3650
MAX_KEYS_PER_USER = 50

_COLUMNS = (
    "id, name, algorithm, bits, fingerprint, created_at, expires_at, last_used_at, "
    "expires_at IS NOT NULL AND expires_at <= now() AS expired"
)


def _shown(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "algorithm": row["algorithm"],
        "bits": row["bits"],
        "fingerprint": row["fingerprint"],
        "created_at": row["created_at"].isoformat(),
        "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
        "last_used_at": row["last_used_at"].isoformat() if row["last_used_at"] else None,
        "expired": bool(row["expired"]),
    }


async def add_key(
    env: Env, actor: Actor, public_key: str, name: str | None, expires_in_days: int | None
) -> dict[str, Any]:
    """Register ``public_key`` (OpenSSH one-line form) for the actor.

    Args:
        name: a label (default: the key's comment, else its algorithm).
        expires_in_days: 1 to 3650, or None for a key that does not expire.

    Returns: the key as listed (``_shown``).

    Raises:
        Forbidden ``session_required`` for an API key; ValidationFailed
        ``ssh_key_refused`` (field ``public_key``) for a key not accepted; Conflict
        ``ssh_key_exists`` when the actor already registered this key (unique per user,
        migration 046: another user's key neither blocks nor is revealed); Conflict
        ``too_many_ssh_keys`` past 50 keys.
    """
    require_session(actor, "an API key cannot add SSH keys; log in and add it from a session")
    try:
        key = parse_public_key(public_key)
    except KeyRefused as exc:
        raise field_error("public_key", str(exc), "ssh_key_refused") from None
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
        raise field_error("expires_in_days", f"must be between 1 and {MAX_DAYS}")
    if name is not None and identifier_problem(name):
        raise field_error("name", identifier_problem(name) or "")
    label = (name or key.comment or key.algorithm).strip()[:100]
    if not label or identifier_problem(label):  # a comment with control characters
        label = key.algorithm
    try:
        row = await _insert(env, actor, key, label, expires_in_days)
    except asyncpg.UniqueViolationError:  # the same key, registered by the actor meanwhile
        raise _exists() from None
    return _shown(row)


def _exists() -> Conflict:
    return coded(Conflict, "ssh_key_exists", "you have already registered this SSH key")


async def _insert(
    env: Env, actor: Actor, key: PublicKey, label: str, expires_in_days: int | None
) -> asyncpg.Record:
    async with db.transaction(env.pool, actor.org_id) as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM user_ssh_keys WHERE user_id = $1", actor.user_id
        )
        if count >= MAX_KEYS_PER_USER:
            raise coded(
                Conflict, "too_many_ssh_keys", f"at most {MAX_KEYS_PER_USER} SSH keys per user"
            )
        if await conn.fetchval(
            "SELECT 1 FROM user_ssh_keys WHERE user_id = $1 AND fingerprint = $2",
            actor.user_id,
            key.fingerprint,
        ):
            raise _exists()
        row = await conn.fetchrow_one(
            "INSERT INTO user_ssh_keys (org_id, user_id, name, algorithm, bits, "
            "public_key, fingerprint, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
            "CASE WHEN $8::int IS NULL THEN NULL "
            "ELSE now() + make_interval(days => $8::int) END) "
            f"RETURNING {_COLUMNS}",
            actor.org_id,
            actor.user_id,
            label,
            key.algorithm,
            key.bits,
            key.openssh,
            key.fingerprint,
            expires_in_days,
        )
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "ssh_key_added",
            target_type="ssh_key",
            target=label,
            details={
                "key_id": str(row["id"]),
                "fingerprint": key.fingerprint,
                "algorithm": key.algorithm,
                "expires_at": row["expires_at"].isoformat() if row["expires_at"] else None,
            },
        )
    return row


async def list_keys(env: Env, actor: Actor) -> list[dict[str, Any]]:
    """The actor's SSH public keys with fingerprints, oldest first (expired ones marked)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM user_ssh_keys WHERE user_id = $1 ORDER BY created_at, id",
            actor.user_id,
        )
    return [_shown(r) for r in rows]


async def delete_key(env: Env, actor: Actor, key_id: str) -> None:
    """Revoke one of the actor's SSH keys (a gateway login with it is refused from now on).

    Raises: Forbidden ``session_required`` for an API key; NotFound for a key that is not
    the actor's.
    """
    require_session(actor, "an API key cannot revoke SSH keys; log in and revoke it")
    kid = parse_id(key_id, "SSH key")
    async with db.transaction(env.pool, actor.org_id) as conn:
        row = await conn.fetchrow(
            "DELETE FROM user_ssh_keys WHERE id = $1 AND user_id = $2 RETURNING name, fingerprint",
            kid,
            actor.user_id,
        )
        if row is None:
            raise NotFound("no such SSH key")
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "ssh_key_deleted",
            target_type="ssh_key",
            target=row["name"],
            details={"key_id": key_id, "fingerprint": row["fingerprint"]},
        )


def usable(expires_at: datetime.datetime | None, now: datetime.datetime) -> bool:
    """Is a key with this expiry usable at ``now``? (None: it does not expire.)"""
    return expires_at is None or expires_at > now
