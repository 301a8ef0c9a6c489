"""Idempotency keys (issue 33, item 4): a POST carried out once however often it is sent.

A client that did not get an answer (a timeout, a 503 ``outcome_unknown``) cannot tell
whether its change was made; retrying it with the same ``Idempotency-Key`` header is safe:

- the first request's work and the key's row commit in the same transaction
  (``db.transaction`` writes the pending key before its COMMIT), so a key on file means
  the work was done and no key means it was not;
- once the answer is known it is stored with the key (never an answer that holds a
  secret: only its status is kept then), and a retry within ``KEEP_HOURS`` gets it back;
- a retry whose key is on file without an answer (the work committed, its answer was
  lost) is refused (409 ``idempotent_answer_lost``) rather than done twice; a key reused
  for a different request is refused (422 ``idempotency_key_reused``).

Keys are per user, kept in the user's org (row-level security). Table: sql/032.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.core.secret_names import answer_holds_secret

KEEP_HOURS = 24
MAX_KEY = 200


@dataclass
class PendingKey:
    """The key of the request being handled, written with its first committed change."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    key: str
    request_hash: bytes
    written: bool = False


pending: contextvars.ContextVar[PendingKey | None] = contextvars.ContextVar(
    "idempotency_pending", default=None
)

_FIND = f"""
SELECT request_hash, status, answer, answer_kept FROM idempotency_keys
WHERE org_id = $1 AND user_id = $2 AND key = $3
  AND created_at > now() - interval '{KEEP_HOURS} hours'
"""
_INSERT = """
INSERT INTO idempotency_keys (org_id, user_id, key, request_hash) VALUES ($1, $2, $3, $4)
"""
_FORGET_OLD = f"""
DELETE FROM idempotency_keys
WHERE org_id = $1 AND user_id = $2 AND created_at <= now() - interval '{KEEP_HOURS} hours'
"""
_COMPLETE = """
INSERT INTO idempotency_keys (org_id, user_id, key, request_hash, status, answer, answer_kept)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
ON CONFLICT (org_id, user_id, key) DO UPDATE
    SET status = EXCLUDED.status, answer = EXCLUDED.answer, answer_kept = EXCLUDED.answer_kept
    WHERE idempotency_keys.request_hash = EXCLUDED.request_hash
"""


def request_hash(method: str, path: str, query: str, body: bytes) -> bytes:
    """SHA-256 of what makes two requests the same request."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode()):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(body)
    return digest.digest()


def holds_secret(value: Any) -> bool:
    """True when a JSON answer has a field, at any depth, that may hold a secret (the one
    rule: ``server.core.secret_names.answer_holds_secret``); such an answer is not kept."""
    return answer_holds_secret(value)


async def find(conn: asyncpg.Connection, key: PendingKey) -> asyncpg.Record | None:
    """The key's row if it was used in the last ``KEEP_HOURS`` (call in the user's org)."""
    return await conn.fetchrow(_FIND, key.org_id, key.user_id, key.key)


async def write_pending(conn: asyncpg.Connection, current_org: uuid.UUID | None) -> None:
    """Inside a write transaction, just before its COMMIT: file the request's key (if any,
    once) in the user's org, then return to ``current_org``'s context. A concurrent request
    with the same key makes this fail (unique key): that transaction rolls back."""
    key = pending.get()
    if key is None or key.written:
        return
    await conn.execute("SELECT set_config('app.org_id', $1, true)", str(key.org_id))
    await conn.execute(_INSERT, key.org_id, key.user_id, key.key, key.request_hash)
    await conn.execute(
        "SELECT set_config('app.org_id', $1, true)", str(current_org) if current_org else ""
    )


async def complete(conn: asyncpg.Connection, key: PendingKey, status: int, body: bytes) -> None:
    """Store the answer with the key (its status only when it holds a secret or is not
    JSON), and forget the user's keys older than ``KEEP_HOURS`` (call in the user's org)."""
    answer: Any = None
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        answer = None
    kept = body == b"" or (answer is not None and not holds_secret(answer))
    await conn.execute(_FORGET_OLD, key.org_id, key.user_id)
    await conn.execute(
        _COMPLETE,
        key.org_id,
        key.user_id,
        key.key,
        key.request_hash,
        status,
        json.dumps(answer) if kept and answer is not None else None,
        kept,
    )
