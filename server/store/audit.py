"""The audit trail: record events, chain them, list and verify.

A ``Writer`` records inside the caller's transaction, so an operation and its audit
event commit together or not at all (fail closed); every event's operation is one of the
catalogue's (server/core/operations.py). Right after commit the chainer links
each event into its org's one hash chain: a link's MAC covers the event's fields,
its sequence number and the previous link's MAC, keyed with the audit key (a random
key wrapped by the master key, so master-key rotation does not break old chains).
Chaining after commit keeps writers from queueing on one lock while their commits
reach the disk.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from server.core import operations
from server.core.errors import ServiceUnavailable, coded
from server.core.secret_names import names_secret
from server.store import db
from server.store.anchors import Anchor, AnchorLog
from server.store.keyring import AUDIT_KEY, KeyRing

log = logging.getLogger(__name__)

GENESIS = bytes(32)


class AuditError(Exception):
    """An event could not be recorded; the operation must fail."""


@dataclass(frozen=True)
class Who:
    """Who did it, from where (an unauthenticated login names the attempted user)."""

    actor: str
    actor_org: str
    ip: str = ""


def check_details(details: dict[str, Any]) -> None:
    """Refuse (``AuditError``) a detail, at any depth, whose name may hold a secret (the
    one rule: ``server.core.secret_names.names_secret``; the guard for "no secret in the
    audit trail")."""
    for key, value in details.items():
        if names_secret(key):
            raise AuditError(f"refusing to audit a field named {key!r}: it may hold a secret")
        if isinstance(value, dict):
            check_details(value)


# The canonical form a link's MAC covers; made once (json.dumps makes an encoder per call,
# and the chainer encodes every event: issue 28). Never change its settings: every link
# already made was computed with them.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Events MAC'd between two yields to the event loop when the chainer links a long batch
# (about 2 ms of work: a request waiting behind it is not held longer; issue 28).
YIELD_EVERY = 64


def _canonical(fields: dict[str, Any]) -> bytes:
    return _CANONICAL.encode(fields).encode()


def _mac(key: bytes, prev: bytes, fields: dict[str, Any]) -> bytes:
    return hmac.new(key, prev + _canonical(fields), hashlib.sha256).digest()


def checkpoint_mac(
    key: bytes, org_id: uuid.UUID, seq: int, link_hash: bytes, at: datetime.datetime
) -> bytes:
    """The MAC that seals a purge checkpoint: it stands for links 1..seq, the last of
    which had MAC ``link_hash`` (the audit key, as for links)."""
    fields = {
        "checkpoint": str(org_id),
        "seq": seq,
        "hash": link_hash.hex(),
        "at": at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
    }
    return hmac.new(key, b"checkpoint" + _canonical(fields), hashlib.sha256).digest()


@dataclass(frozen=True)
class Event:
    """One thing that happened; its operation must be in the catalogue
    (server/core/operations.py), else ``AuditError``."""

    who: Who
    operation: str
    target_type: str = ""
    target: str = ""
    outcome: str = "success"
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if operations.get(self.operation) is None:
            raise AuditError(
                f"{self.operation!r} is not in the catalogue of audited operations "
                "(server/core/operations.py)"
            )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _fields(org_id: uuid.UUID, seq: int, row: dict[str, Any]) -> dict[str, Any]:
    """What a link's MAC covers: the event's every field, its place in the chain."""
    return {
        "org_id": str(org_id),
        "seq": seq,
        "event_id": row["id"],
        "at": row["at"].astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "actor_org": row["actor_org"],
        "ip": row["ip"],
        "operation": row["operation"],
        "target_type": row["target_type"],
        "target": row["target"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "details": json.loads(row["details"])
        if isinstance(row["details"], str)
        else row["details"],
        "node": row["node"],
    }


@dataclass(frozen=True)
class Writer:
    """The audit trail of one org as one actor's transaction writes it.

    Made once per transaction (``Writer(tx, org_id, who, node)``, or in services
    ``recording.writer(tx, env, org_id, who)``); each ``record`` writes inside that
    transaction, so the operation and its event commit together or not at all (fail
    closed). The chainer links the events after commit.
    """

    conn: db.Tx | asyncpg.Connection
    org_id: uuid.UUID
    who: Who
    node: str = ""

    def event(
        self,
        operation: str,
        target_type: str = "",
        target: str = "",
        *,
        outcome: str = "success",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Event:
        """An event by this writer's actor (``AuditError`` for an operation not in the
        catalogue)."""
        return Event(self.who, operation, target_type, target, outcome, reason, details or {})

    async def record(
        self,
        operation: str,
        target_type: str = "",
        target: str = "",
        *,
        outcome: str = "success",
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Write one event (see ``record_many`` for the errors)."""
        event = self.event(
            operation, target_type, target, outcome=outcome, reason=reason, details=details
        )
        await self.record_many([event])

    async def record_many(self, events: list[Event]) -> None:
        """Write events for this org, in order, inside the transaction, in one statement.

        Raises:
            AuditError: a detail's name may hold a secret (``check_details``).
            ServiceUnavailable ``audit_unavailable`` (503): the database refused them; the
            caller's transaction rolls back with it: no audit row, no operation.
        """
        await _insert(self.conn, self.org_id, events, self.node)

    def for_org(self, org_id: uuid.UUID) -> Writer:
        """The same transaction, actor and node writing another org's trail."""
        return replace(self, org_id=org_id)

    def by(self, who: Who) -> Writer:
        """The same transaction and org, another actor."""
        return replace(self, who=who)


async def _insert(
    conn: db.Tx | asyncpg.Connection, org_id: uuid.UUID, events: list[Event], node: str
) -> None:
    for event in events:
        check_details(event.details)
    columns: dict[str, list[Any]] = {name: [] for name in _EVENT_COLUMNS}
    for event in events:
        values = {
            "at": _now(),
            "actor": event.who.actor,
            "actor_org": event.who.actor_org,
            "ip": event.who.ip,
            "operation": event.operation,
            "target_type": event.target_type,
            "target": event.target,
            "outcome": event.outcome,
            "reason": event.reason,
            "details": json.dumps(event.details),
            "node": node,
        }
        for name in _EVENT_COLUMNS:
            columns[name].append(values[name])
    try:
        async with db.in_org(conn, org_id):
            await conn.execute(_INSERT_EVENTS, org_id, *columns.values())
    except (asyncpg.PostgresError, OSError) as exc:
        raise coded(
            ServiceUnavailable,
            "audit_unavailable",
            "the audit trail could not be written, so nothing was changed",
        ) from exc


_EVENT_COLUMNS = (
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
)
_INSERT_EVENTS = (
    # One round trip: the events and their places in the chainer's queue.
    "WITH e AS (INSERT INTO audit_events (org_id, " + ", ".join(_EVENT_COLUMNS) + ") "
    "SELECT $1, a, ac, ao, i, op, tt, t, oc, r, d::jsonb, n FROM unnest("
    "$2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) "
    "AS u(a, ac, ao, i, op, tt, t, oc, r, d, n) "
    # An operation the org switched off is not recorded (routine ones only, core/operations).
    "WHERE NOT EXISTS (SELECT 1 FROM audit_operation_settings s WHERE s.org_id = $1 "
    "AND s.operation = u.op AND NOT s.recorded) RETURNING id) "
    "INSERT INTO audit_pending (event_id, org_id) SELECT id, $1 FROM e"
)


async def chain_org(
    conn: db.Tx | asyncpg.Connection,
    ring: KeyRing,
    org_id: uuid.UUID,
    heads: dict[uuid.UUID, tuple[int, bytes]] | None = None,
    bases: dict[uuid.UUID, tuple[int, bytes]] | None = None,
) -> int:
    """Link an org's committed pending events into its chain; return how many.

    Call inside a transaction. The head row lock makes concurrent chainers take turns;
    only committed events are visible, so nothing is linked that could still roll back.
    The new head (seq, hash) goes into ``heads`` for anchoring after the commit, and
    the head it started from into ``bases`` (first call per org only).
    """
    key = await ring.system_key(conn, AUDIT_KEY)
    async with db.in_org(conn, org_id):
        head = await conn.fetchrow(
            "SELECT seq, hash FROM audit_heads WHERE org_id = $1 FOR UPDATE", org_id
        )
        if head is None:
            return 0
        rows = await conn.fetch(
            "SELECT e.* FROM audit_pending p JOIN audit_events e ON e.id = p.event_id "
            "WHERE p.org_id = $1 ORDER BY p.event_id LIMIT 5000",
            org_id,
        )
        if not rows:
            return 0
        seq, prev = head["seq"], head["hash"]
        seqs, ids, prevs, hashes = [], [], [], []
        for n, row in enumerate(rows, 1):
            if n % YIELD_EVERY == 0:  # let requests run between slices of a long batch
                await asyncio.sleep(0)
            seq += 1
            mac = _mac(key, prev, _fields(org_id, seq, row))
            seqs.append(seq)
            ids.append(row["id"])
            prevs.append(prev)
            hashes.append(mac)
            prev = mac
        await conn.execute(
            "WITH linked AS (INSERT INTO audit_links (org_id, seq, event_id, prev_hash, hash) "
            "SELECT $1, s, e, p, h FROM unnest($2::bigint[], $3::bigint[], $4::bytea[], "
            "$5::bytea[]) AS u(s, e, p, h) RETURNING event_id), "
            "gone AS (DELETE FROM audit_pending WHERE org_id = $1 "
            "AND event_id IN (SELECT event_id FROM linked)) "
            "UPDATE audit_heads SET seq = $6, hash = $7 WHERE org_id = $1",
            org_id,
            seqs,
            ids,
            prevs,
            hashes,
            seq,
            prev,
        )
    if heads is not None:
        heads[org_id] = (seq, prev)
    if bases is not None:
        bases.setdefault(org_id, (head["seq"], head["hash"]))
    return len(rows)


async def chain_pending(
    pool: asyncpg.Pool,
    ring: KeyRing,
    orgs: set[uuid.UUID] | None = None,
    anchors: AnchorLog | None = None,
    node: str = "",
) -> int:
    """Chain every org with events waiting (or just ``orgs``); return events linked.

    With ``anchors``, each moved head is appended to the anchor log once its links
    have committed (server/store/anchors.py).
    """
    if orgs is None:
        orgs = {r[0] for r in await pool.fetch("SELECT audit_orgs_pending()")}
    linked = 0
    heads: dict[uuid.UUID, tuple[int, bytes]] = {}
    bases: dict[uuid.UUID, tuple[int, bytes]] = {}
    try:
        for org_id in orgs:
            while True:
                async with db.transaction(pool, org_id) as tx:
                    count = await chain_org(tx, ring, org_id, heads, bases)
                linked += count
                if count < 5000:
                    break
    finally:
        if anchors is not None and heads:
            await _anchor(pool, anchors, heads, bases, node)
    return linked


async def _anchor(
    pool: asyncpg.Pool,
    anchors: AnchorLog,
    heads: dict[uuid.UUID, tuple[int, bytes]],
    bases: dict[uuid.UUID, tuple[int, bytes]],
    node: str,
) -> None:
    """Anchor the new heads of chains that still hold their latest anchored link.

    A chain cut back below its anchor (or rewritten there) is not anchored again:
    otherwise, once it grew past the old anchor, a newer anchor would bless the
    rewritten chain and the cut would no longer show. When the chaining started
    from the anchored head itself, that is proven without asking the database.
    """
    for org_id in list(heads):
        anchor = await anchors.latest(org_id)
        if anchor is None or bases.get(org_id) == (anchor.seq, anchor.hash):
            continue
        async with db.transaction(pool, org_id, readonly=True) as tx:
            held = await tx.fetchval(
                "SELECT hash FROM audit_links WHERE org_id = $1 AND seq = $2", org_id, anchor.seq
            )
        if held != anchor.hash:
            del heads[org_id]
            log.error(
                "audit chain of org %s no longer holds its anchored link %d: not anchoring "
                "it again (run `strongroom audit verify`)",
                org_id,
                anchor.seq,
            )
    if heads:
        await anchors.record(heads, node)


@dataclass
class Verification:
    """The result of checking one org's chain."""

    ok: bool
    events: int
    head: str
    first_bad_seq: int | None
    problem: str | None = None
    pending: int = 0
    anchored_seq: int | None = None  # the latest anchor's link, when the node has one
    warning: str | None = None  # e.g. no anchor log: a deleted tail would go unnoticed

    def as_dict(self) -> dict[str, Any]:
        """The API's answer shape."""
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "pending": self.pending,
            "anchored_seq": self.anchored_seq,
            "warning": self.warning,
        }


async def verify(
    conn: db.Tx | asyncpg.Connection,
    ring: KeyRing,
    org_id: uuid.UUID,
    anchors: AnchorLog | None = None,
) -> Verification:
    """Recompute an org's chain and report the first link that does not fit, any event
    that is in neither the chain nor the queue, and, with ``anchors``, a chain that is
    shorter than its latest anchor or differs from it (a deleted tail).

    The anchor is read before the chain: anchors are written after their links commit,
    so every anchored link is in what the walk then reads.
    """
    key = await ring.system_key(conn, AUDIT_KEY)
    anchor = await anchors.latest(org_id, conn) if anchors is not None else None
    async with db.in_org(conn, org_id):
        result = await _verify(conn, key, org_id, anchor)
    result.anchored_seq = anchor.seq if anchor is not None else None
    if anchors is not None and anchors.rejected:
        # A line that fails its signature was written by someone without the key.
        altered = (
            f"the anchor log {anchors.path} holds {anchors.rejected} line(s) that fail their "
            "signature: it was altered"
        )
        if result.ok:
            result.ok, result.first_bad_seq = False, result.events + 1
        result.problem = f"{result.problem}; {altered}" if result.problem else altered
    elif anchors is not None and anchor is None and result.events:
        result.warning = (
            f"no anchor for this chain in {anchors.path} (missing or new): a deleted tail "
            "of newest events would go unnoticed"
        )
    return result


def _against_anchor(anchor: Anchor, count: int, prev: bytes) -> Verification | None:
    """The verdict when the intact chain of ``count`` links does not reach ``anchor``."""
    if count >= anchor.seq:
        return None
    missing = anchor.seq - count
    return Verification(
        False,
        count,
        prev.hex(),
        count + 1,
        f"the chain ends at link {count} but the anchor log recorded link {anchor.seq} "
        f"at {anchor.at}: the newest {missing} event(s), links {count + 1}-{anchor.seq}, "
        "are missing",
    )


async def _verify(
    conn: db.Tx | asyncpg.Connection, key: bytes, org_id: uuid.UUID, anchor: Anchor | None
) -> Verification:
    prev, expected, count = GENESIS, 1, 0
    # A purge leaves a sealed checkpoint in place of the chain's prefix.
    checkpoint = await conn.fetchrow(
        "SELECT seq, hash, at, mac FROM audit_checkpoints WHERE org_id = $1", org_id
    )
    if checkpoint is not None:
        sealed = checkpoint_mac(
            key, org_id, checkpoint["seq"], checkpoint["hash"], checkpoint["at"]
        )
        if not hmac.compare_digest(sealed, checkpoint["mac"]):
            return Verification(False, 0, GENESIS.hex(), 1, "the purge checkpoint was altered")
        prev, expected, count = checkpoint["hash"], checkpoint["seq"] + 1, checkpoint["seq"]
        if anchor is not None and anchor.seq == checkpoint["seq"] and anchor.hash != prev:
            return Verification(
                False, count, prev.hex(), count, "the purge checkpoint differs from the anchor log"
            )
    async for row in conn.cursor(
        "SELECT l.seq, l.prev_hash, l.hash, e.* FROM audit_links l "
        "LEFT JOIN audit_events e ON e.id = l.event_id WHERE l.org_id = $1 ORDER BY l.seq",
        org_id,
        prefetch=500,
    ):
        if row["seq"] != expected:
            return Verification(False, count, prev.hex(), expected, f"link {expected} is missing")
        if row["id"] is None:
            return Verification(
                False, count, prev.hex(), row["seq"], f"the event of link {row['seq']} is missing"
            )
        if row["prev_hash"] != prev or not hmac.compare_digest(
            _mac(key, prev, _fields(org_id, row["seq"], row)), row["hash"]
        ):
            return Verification(
                False, count, prev.hex(), row["seq"], f"event {row['seq']} was altered"
            )
        if anchor is not None and row["seq"] == anchor.seq and row["hash"] != anchor.hash:
            return Verification(
                False,
                count,
                prev.hex(),
                row["seq"],
                f"link {row['seq']} differs from the anchor log's record of it "
                f"({anchor.at}): the chain was cut back and rewritten",
            )
        prev, expected, count = row["hash"], expected + 1, count + 1
    head = await conn.fetchrow("SELECT seq, hash FROM audit_heads WHERE org_id = $1", org_id)
    if head is not None and (head["seq"] != count or head["hash"] != prev):
        return Verification(False, count, prev.hex(), count + 1, f"links after {count} are missing")
    stray = await conn.fetchval(
        "SELECT min(e.id) FROM audit_events e WHERE e.org_id = $1 AND NOT EXISTS "
        "(SELECT 1 FROM audit_links l WHERE l.event_id = e.id) AND NOT EXISTS "
        "(SELECT 1 FROM audit_pending p WHERE p.org_id = e.org_id AND p.event_id = e.id)",
        org_id,
    )
    pending = await conn.fetchval("SELECT count(*) FROM audit_pending WHERE org_id = $1", org_id)
    if stray is not None:
        return Verification(
            False, count, prev.hex(), count + 1, f"event id {stray} is in no chain", pending
        )
    if anchor is not None and (short := _against_anchor(anchor, count, prev)):
        short.pending = pending
        return short
    return Verification(True, count, prev.hex(), None, None, pending)


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    """An audit event as the API shows it (seq is null until the event is chained)."""
    return {
        "id": row["id"],
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
        "node": row["node"],
    }
