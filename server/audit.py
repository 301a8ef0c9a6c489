"""The audit trail: append an event to an org's hash chain, list, and verify.

``record`` runs inside the caller's transaction, so an operation and its audit
event commit together or not at all (fail closed). Each event's MAC covers its
fields and the previous event's MAC, keyed with the audit key (a random key
wrapped by the master key, so master-key rotation does not break old chains).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from server import db
from server.errors import ServiceUnavailable, coded
from server.keyring import AUDIT_KEY, KeyRing

GENESIS = bytes(32)

# Keys that must never appear in an audit event's details: the one guard for
# "no secret in the audit trail".
_SECRET_WORDS = {"password", "secret", "token", "otp", "passphrase", "seed", "hash", "key"}
_HARMLESS_LAST = {"name", "policy", "id", "count", "required", "enabled", "version", "prefix"}


class AuditError(Exception):
    """An event could not be recorded; the operation must fail."""


@dataclass(frozen=True)
class Who:
    """Who did it, from where (an unauthenticated login names the attempted user)."""

    actor: str
    actor_org: str
    ip: str = ""


def _check_details(details: dict[str, Any]) -> None:
    for key, value in details.items():
        parts = key.lower().split("_")
        if _SECRET_WORDS.intersection(parts) and parts[-1] not in _HARMLESS_LAST:
            raise AuditError(f"refusing to audit a field named {key!r}: it may hold a secret")
        if isinstance(value, dict):
            _check_details(value)


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(key: bytes, prev: bytes, fields: dict[str, Any]) -> bytes:
    return hmac.new(key, prev + _canonical(fields), hashlib.sha256).digest()


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    at = row["at"]
    return {
        "org_id": str(row["org_id"]),
        "seq": row["seq"],
        "at": at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "actor_org": row["actor_org"],
        "ip": row["ip"],
        "operation": row["operation"],
        "target_type": row["target_type"],
        "target": row["target"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "details": row["details"],
        "node": row["node"],
    }


@dataclass(frozen=True)
class Event:
    """One thing that happened, before it is chained."""

    who: Who
    operation: str
    target_type: str = ""
    target: str = ""
    outcome: str = "success"
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _row(org_id: uuid.UUID, seq: int, at: datetime.datetime, event: Event, node: str):
    return {
        "org_id": org_id,
        "seq": seq,
        "at": at,
        "actor": event.who.actor,
        "actor_org": event.who.actor_org,
        "ip": event.who.ip,
        "operation": event.operation,
        "target_type": event.target_type,
        "target": event.target,
        "outcome": event.outcome,
        "reason": event.reason,
        "details": event.details,
        "node": node,
    }


async def genesis(
    conn: asyncpg.Connection, ring: KeyRing, org_id: uuid.UUID, event: Event, node: str
) -> tuple[datetime.datetime, bytes]:
    """Time and MAC of the first event of a new org's chain (written by create_org_with_chain)."""
    _check_details(event.details)
    key = await ring.system_key(conn, AUDIT_KEY)
    at = _now()
    return at, _mac(key, GENESIS, _fields(_row(org_id, 1, at, event, node)))


async def record(
    conn: asyncpg.Connection,
    ring: KeyRing,
    org_id: uuid.UUID,
    who: Who,
    operation: str,
    *,
    target_type: str = "",
    target: str = "",
    outcome: str = "success",
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    node: str = "",
) -> int:
    """Append one event to ``org_id``'s chain inside the caller's transaction; return its seq."""
    event = Event(who, operation, target_type, target, outcome, reason, details or {})
    return (await record_many(conn, ring, org_id, [event], node=node))[-1]


async def record_many(
    conn: asyncpg.Connection,
    ring: KeyRing,
    org_id: uuid.UUID,
    events: list[Event],
    *,
    node: str = "",
) -> list[int]:
    """Append events to one org's chain, in order, inside the caller's transaction.

    Any failure raises ``audit_unavailable`` (503) and the caller's transaction rolls
    back with it: no audit row, no operation.
    """
    for event in events:
        _check_details(event.details)
    try:
        key = await ring.system_key(conn, AUDIT_KEY)
        async with db.in_org(conn, org_id):
            return await _append(conn, key, org_id, events, node)
    except (asyncpg.PostgresError, OSError) as exc:
        raise coded(
            ServiceUnavailable,
            "audit_unavailable",
            "the audit trail could not be written, so nothing was changed",
        ) from exc


async def _append(
    conn: asyncpg.Connection, key: bytes, org_id: uuid.UUID, events: list[Event], node: str
) -> list[int]:
    # The head row lock serialises appends to one org's chain across transactions.
    head = await conn.fetchrow(
        "SELECT seq, hash FROM audit_heads WHERE org_id = $1 FOR UPDATE", org_id
    )
    if head is None:
        raise AuditError(f"org {org_id} has no audit chain")
    seq, prev = head["seq"], head["hash"]
    columns: dict[str, list] = {name: [] for name in _INSERT_COLUMNS}
    for event in events:
        seq += 1
        row = _row(org_id, seq, _now(), event, node)
        mac = _mac(key, prev, _fields(row))
        row.update(details=json.dumps(event.details), prev_hash=prev, hash=mac)
        for name in _INSERT_COLUMNS:
            columns[name].append(row[name])
        prev = mac
    await conn.execute(_INSERT_EVENTS, org_id, seq, prev, *columns.values())
    return list(range(head["seq"] + 1, seq + 1))


_INSERT_COLUMNS = (
    "org_id",
    "seq",
    "at",
    "actor",
    "actor_org",
    "ip",
    "operation",
    "target_type",
    "target",
    "outcome",
    "reason",
    "details",
    "node",
    "prev_hash",
    "hash",
)
_INSERT_EVENTS = (
    # One round trip: append the events and move the head ($1 org, $2 seq, $3 hash).
    "WITH appended AS (INSERT INTO audit_events (" + ", ".join(_INSERT_COLUMNS) + ") "
    "SELECT o, s, a, ac, ao, i, op, tt, t, oc, r, d::jsonb, n, ph, h FROM unnest("
    "$4::uuid[], $5::bigint[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], "
    "$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], "
    "$17::bytea[], $18::bytea[]) AS u(o, s, a, ac, ao, i, op, tt, t, oc, r, d, n, ph, h) "
    "RETURNING 1) "
    "UPDATE audit_heads SET seq = $2, hash = $3 WHERE org_id = $1"
)


@dataclass
class Verification:
    """The result of checking one org's chain."""

    ok: bool
    events: int
    head: str
    first_bad_seq: int | None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The API's answer shape."""
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


async def verify(conn: asyncpg.Connection, ring: KeyRing, org_id: uuid.UUID) -> Verification:
    """Recompute an org's chain and report the first event that does not fit."""
    key = await ring.system_key(conn, AUDIT_KEY)
    async with db.in_org(conn, org_id):
        return await _verify(conn, key, org_id)


async def _verify(conn: asyncpg.Connection, key: bytes, org_id: uuid.UUID) -> Verification:
    prev, expected_seq, count = GENESIS, 1, 0
    async for row in conn.cursor(
        "SELECT * FROM audit_events WHERE org_id = $1 ORDER BY seq", org_id, prefetch=500
    ):
        record_ = dict(row)
        record_["details"] = json.loads(record_["details"])
        if record_["seq"] != expected_seq:
            return Verification(
                False, count, prev.hex(), expected_seq, f"event {expected_seq} is missing"
            )
        if record_["prev_hash"] != prev or not hmac.compare_digest(
            _mac(key, prev, _fields(record_)), record_["hash"]
        ):
            return Verification(
                False, count, prev.hex(), record_["seq"], f"event {record_['seq']} was altered"
            )
        prev, expected_seq, count = record_["hash"], expected_seq + 1, count + 1
    head = await conn.fetchrow("SELECT seq, hash FROM audit_heads WHERE org_id = $1", org_id)
    if head is not None and (head["seq"] != count or head["hash"] != prev):
        return Verification(
            False, count, prev.hex(), count + 1, f"events after {count} are missing"
        )
    return Verification(True, count, prev.hex(), None)


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    """An audit event as the API shows it."""
    return {
        "seq": row["seq"],
        "at": row["at"].isoformat(),
        "actor": row["actor"],
        "actor_org": row["actor_org"],
        "ip": row["ip"],
        "operation": row["operation"],
        "target_type": row["target_type"],
        "target": row["target"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "details": json.loads(row["details"]),
    }
