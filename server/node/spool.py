"""The audit spool: where a node that cannot write its database records what happens.

A read-only secondary (or a fenced primary) still logs people in and reveals
passwords; each of those events is appended to ``spool/audit.jsonl`` and fsync'd
**before** the action's answer leaves the node (fail closed, as on the primary). Each
line is hash-chained to the one before with the audit key (HMAC-SHA-256), so an edit
or a removed line is detected when the spool is read.

The spool is shipped to the primary whenever it answers, and ingested into the
node's own database when the node is promoted. Every event carries a random
``spool_id``; the database keeps the ids it has ingested (sql/006), so an event
delivered twice (a lost answer, a promotion after shipping) is stored once.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from server.core.errors import ServiceUnavailable, coded
from server.core.files import write_durably
from server.store import audit, db
from server.store.keyring import AUDIT_KEY, KeyRing

GENESIS = "00" * 32


class SpoolTampered(Exception):
    """A spooled event does not match its chain link."""


def _mac(key: bytes, record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


class AuditSpool:
    """An append-only, fsync'd, chained file of audit events."""

    def __init__(self, path: Path, ring: KeyRing, pool: asyncpg.Pool) -> None:
        self.path = path
        self.ring = ring
        self.pool = pool
        self._lock = asyncio.Lock()
        self._key: bytes | None = None
        self._tail: str | None = None  # the last line's MAC, once known

    async def _audit_key(self) -> bytes:
        if self._key is None:
            async with db.transaction(self.pool, readonly=True) as tx:
                self._key = await self.ring.system_key(tx, AUDIT_KEY)
        return self._key

    async def append(self, org_id: uuid.UUID, event: audit.Event, node: str) -> None:
        """Record one event durably; raise ``audit_unavailable`` if it cannot be."""
        audit.check_details(event.details)
        try:
            key = await self._audit_key()
            async with self._lock:
                if self._tail is None:
                    records = await asyncio.to_thread(self._read)
                    self._tail = records[-1]["mac"] if records else GENESIS
                record = {
                    "spool_id": str(uuid.uuid4()),
                    "org_id": str(org_id),
                    "at": datetime.datetime.now(datetime.UTC).isoformat(),
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
                    "prev": self._tail,
                }
                mac = _mac(key, record)
                record["mac"] = mac
                await asyncio.to_thread(self._append_line, json.dumps(record) + "\n")
                self._tail = mac
        except (OSError, asyncpg.PostgresError, ServiceUnavailable) as exc:
            raise coded(
                ServiceUnavailable,
                "audit_unavailable",
                "the audit spool could not be written, so nothing was done",
            ) from exc

    def has_events(self) -> bool:
        """True when the spool file holds anything (a cheap check for the monitor)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def _append_line(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    async def pending(self) -> list[dict[str, Any]]:
        """Every spooled event not yet delivered, its chain checked."""
        key = await self._audit_key()
        async with self._lock:
            records = await asyncio.to_thread(self._read)
        verify(key, records)
        return records

    async def delivered(self, spool_ids: set[str]) -> int:
        """Drop delivered events from the spool (atomically rewritten); answer how many."""
        async with self._lock:
            records = await asyncio.to_thread(self._read)
            keep = [r for r in records if r["spool_id"] not in spool_ids]
            if len(keep) == len(records):
                return 0
            await asyncio.to_thread(
                write_durably, self.path, "".join(json.dumps(r) + "\n" for r in keep)
            )
            self._tail = keep[-1]["mac"] if keep else GENESIS
            return len(records) - len(keep)


def verify(key: bytes, records: list[dict[str, Any]]) -> None:
    """Check each record's MAC and that each links to the one before it."""
    prev = records[0]["prev"] if records else GENESIS
    for record in records:
        if record.get("prev") != prev or not hmac.compare_digest(
            record.get("mac", ""), _mac(key, record)
        ):
            raise SpoolTampered(f"spooled event {record.get('spool_id')} fails its chain check")
        prev = record["mac"]


_INGEST = (
    "WITH e AS (INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, "
    "target_type, target, outcome, reason, details, node) "
    "SELECT $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13 "
    "WHERE NOT EXISTS (SELECT 1 FROM audit_spool_ingested WHERE spool_id = $1) RETURNING id), "
    "s AS (INSERT INTO audit_spool_ingested (spool_id, org_id, event_id, node) "
    "SELECT $1, $2, id, $13 FROM e) "
    "INSERT INTO audit_pending (event_id, org_id) SELECT id, $2 FROM e RETURNING event_id"
)


async def ingest(pool: asyncpg.Pool, ring: KeyRing, records: list[dict[str, Any]]) -> int:
    """Store spooled events in this (writable) database exactly once; return how many were new.

    The chain of the batch is checked first; the chainer links the new events into
    their orgs' chains like any other.
    """
    async with db.transaction(pool, readonly=True) as tx:
        key = await ring.system_key(tx, AUDIT_KEY)
    verify(key, records)
    added = 0
    async with db.transaction(pool) as tx:
        for r in records:
            org_id = uuid.UUID(r["org_id"])
            audit.check_details(r["details"])
            await db.set_org(tx, org_id)
            new = await tx.fetchval(
                _INGEST,
                uuid.UUID(r["spool_id"]),
                org_id,
                datetime.datetime.fromisoformat(r["at"]),
                r["actor"],
                r["actor_org"],
                r["ip"],
                r["operation"],
                r["target_type"],
                r["target"],
                r["outcome"],
                r["reason"],
                json.dumps(r["details"]),
                r["node"],
            )
            added += new is not None
    return added
