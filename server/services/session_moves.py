"""Sessions made on a node that could not write move to the primary with its audit spool.

A login on a read-only secondary (or a fenced primary) keeps its session in memory
(``server/node/local_state.py``). When the primary answers again, the secondary's monitor
sends each live one to it (node-to-node, the cluster secret, pinned TLS): the token's
SHA-256 (never the token), the user and org, creation, last-seen and expiry times and
a *binding*: the SHA-256 of the user's password hash at login. The primary stores it
in ``sessions`` only when, at that moment, the user still exists in that org, is
active, has the same password hash (a password change or reset changed it) and the
session is neither expired nor idle too long; the expiry never exceeds the primary's
own ``session_max_hours`` from the login. Any of those events on the primary before
the move refuses it, and every one after it ends the stored row like any other
session's. Two facts on the primary make that hold even when a move is sent twice or
late (sql/022): a session that ended there (logout, refresh, expiry, a password change)
leaves its hash in ``ended_sessions`` until it would have expired, and a move of that
hash is refused; and a user's ``sessions_valid_after`` (set when it is disabled or its
password or second factor changes) refuses any moved session made before it, even if
the user was enabled again meanwhile. Times come on the primary's clock: none later
than now, the expiry at most ``session_max_hours`` after the login. Logouts made on
the secondary of sessions the primary may hold are sent as well and end them there. A
node that is promoted (or whose fence lifts) stores its own sessions the same way.

Left: logouts not yet sent live in the secondary's memory only; a secondary restarted
before the primary answers forgets them (README, High availability).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.node.local_state import LocalSession, LocalState
from server.services import recording
from server.services.context import Env
from server.store import db
from server.store.audit import Who


def binding(password_hash: str | None) -> str:
    """What ties a moved session to the credentials it was made with."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()


def outgoing(local: LocalState) -> dict[str, Any]:
    """The body for ``POST /cluster/sessions``: this node's unmoved sessions and the
    logouts the primary has not yet heard of."""
    return {
        "sessions": [_as_record(s) for s in local.unmoved()],
        "ended": [
            {"token_hash": h.hex(), "org_id": str(org)} for h, org in local.ended_hashes.items()
        ],
    }


def _as_record(session: LocalSession) -> dict[str, Any]:
    return {
        "token_hash": session.token_hash.hex(),
        "org_id": str(session.org_id),
        "user_id": str(session.user_id),
        "binding": session.binding,
        "created_at": session.created_at.isoformat(),
        "last_seen_at": session.last_seen_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "ip": session.ip,
    }


def answered(local: LocalState, sent: dict[str, Any], answer: dict[str, Any]) -> None:
    """Apply the primary's answer: stored sessions are marked moved, refused ones end
    here too, and the logouts it received are forgotten."""
    local.moved({bytes.fromhex(h) for h in answer.get("accepted", [])})
    local.drop({bytes.fromhex(h) for h in answer.get("refused", [])})
    for item in sent["ended"]:
        local.ended_hashes.pop(bytes.fromhex(item["token_hash"]), None)


_USER = (
    "SELECT u.username, u.password_hash, u.status, u.sessions_valid_after, o.display_name "
    "FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = $1 AND u.org_id = $2 "
    "FOR UPDATE OF u"
)
_STORE = (
    "INSERT INTO sessions (org_id, user_id, token_hash, created_at, last_seen_at, "
    "expires_at, ip) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (token_hash) DO NOTHING"
)
_ENDED = "SELECT EXISTS (SELECT 1 FROM ended_sessions WHERE token_hash = $1)"  # sql/022
_PURGE_ENDED = "DELETE FROM ended_sessions WHERE keep_until < now()"


@dataclass
class Times:
    """A moved session's times, on this node's clock: never later than now (a peer's
    clock running ahead must not stretch a session), the expiry at most
    ``session_max_hours`` after the login."""

    created: datetime.datetime
    last_seen: datetime.datetime
    expires: datetime.datetime


def _times(record: dict[str, Any], env: Env) -> Times | None:
    """The record's times capped to now, or None when they cannot be read (naive,
    malformed or out of range)."""
    now = datetime.datetime.now(datetime.UTC)
    max_age = datetime.timedelta(hours=env.config.security.session_max_hours)
    try:
        created = min(datetime.datetime.fromisoformat(record["created_at"]), now)
        last_seen = min(datetime.datetime.fromisoformat(record["last_seen_at"]), now)
        expires = min(datetime.datetime.fromisoformat(record["expires_at"]), created + max_age)
        if None in (created.tzinfo, last_seen.tzinfo, expires.tzinfo):
            return None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return Times(created, last_seen, expires)


def _refusal(
    user: asyncpg.Record | None, record: dict[str, Any], times: Times | None, env: Env
) -> str | None:
    """Why a moved session may not be stored, or None."""
    now = datetime.datetime.now(datetime.UTC)
    idle = datetime.timedelta(minutes=env.config.security.session_idle_minutes)
    if user is None:
        return "unknown_user"
    if user["status"] != "active":
        return "user_disabled"
    if not hmac.compare_digest(binding(user["password_hash"]), str(record.get("binding"))):
        return "credentials_changed"
    if times is None:
        return "bad_times"
    valid_after = user["sessions_valid_after"]
    if valid_after is not None and times.created <= valid_after:
        return "sessions_ended"  # disabled, or password or second factor changed, since
    if times.expires <= now or times.last_seen + idle <= now:
        return "expired"
    return None


async def store(env: Env, body: dict[str, Any], node: str) -> dict[str, Any]:
    """Store moved sessions on this (writable) node and end the logouts sent with them.

    Args:
        body: ``{"sessions": [record, …], "ended": [{"token_hash", "org_id"}, …]}``
        node: the sending node's name (for the audit trail).

    Returns:
        ``{"accepted": [hex…], "refused": [hex…], "ended": n}``; each stored or refused
        session is audited in its org (``session_moved`` / ``session_move_refused``).
    """
    ended: dict[bytes, uuid.UUID] = {
        bytes.fromhex(e["token_hash"]): uuid.UUID(e["org_id"]) for e in body.get("ended", [])
    }
    accepted: list[str] = []
    refused: list[str] = []
    async with db.transaction(env.pool) as tx:
        for record in body.get("sessions", []):
            token_hash = bytes.fromhex(record["token_hash"])
            org_id, user_id = uuid.UUID(record["org_id"]), uuid.UUID(record["user_id"])
            await db.set_org(tx, org_id)
            user = await tx.fetchrow(_USER, user_id, org_id)
            times = _times(record, env)
            why: str | None
            if token_hash in ended or await tx.fetchval(_ENDED, token_hash):
                why = "logged_out"  # ended here, or with this very message
            else:
                why = _refusal(user, record, times, env)
            if user is None:
                refused.append(record["token_hash"])
                continue
            who = Who(user["username"], user["display_name"], str(record.get("ip", ""))[:64])
            trail = recording.writer(tx, env, org_id, who)
            if why is not None or times is None:
                refused.append(record["token_hash"])
                await trail.record(
                    "session_move_refused",
                    target_type="user",
                    target=user["username"],
                    outcome="failure",
                    reason=why,
                    details={"from_node": node},
                )
                continue
            await tx.execute(
                _STORE,
                org_id,
                user_id,
                token_hash,
                times.created,
                times.last_seen,
                times.expires,
                str(record.get("ip", ""))[:64],
            )
            await trail.record(
                "session_moved",
                target_type="user",
                target=user["username"],
                details={"from_node": node},
            )
            accepted.append(record["token_hash"])
        gone = 0
        for token_hash, org_id in ended.items():
            await db.set_org(tx, org_id)
            status = await tx.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)
            gone += int(status.split()[-1])
    return {"accepted": accepted, "refused": refused, "ended": gone}


async def store_own(env: Env) -> None:
    """A node that may write again stores the sessions it made while it could not."""
    local = env.local
    if not local.sessions and not local.ended_hashes:
        return
    sent = outgoing(local)
    answer = await store(env, sent, env.node)
    answered(local, sent, answer)
    # Its own database holds them now: no replication to wait for.
    local.drop({bytes.fromhex(h) for h in answer["accepted"]})


async def purge_ended(env: Env) -> None:
    """Forget ended sessions past the time they would have expired anyway (hourly, by
    the sweeper: such a hash can no longer be moved, ``_refusal`` says expired)."""
    async with db.transaction(env.pool) as tx:
        await tx.execute(_PURGE_ENDED)
