"""Reading an org's audit trail and verifying its chain (the API side of server/store/audit.py).

A deleted org's trail outlives it (issue 26, item 8): deleting an org keeps its events,
links, chain head, retention and purge checkpoint (none has a foreign key to the org row;
sql/027) and leaves a tombstone in MSPOrg (``deleted_orgs``: its id, names, when and by
whom). MSPOrg's administrators and auditors list deleted orgs and read and verify their
trails (``/audit/deleted-orgs``) until the retention the org had ends: the hourly purge
goes on applying it (``audit_settings.purge_all``), and nothing new enters the trail.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.core import operations, permissions
from server.core.errors import Forbidden, NotFound, ValidationFailed
from server.core.ids import parse_id
from server.services.access import OrgArg, acting_org, require_audit_reader
from server.services.context import Actor, Env
from server.store import audit, db, paging


def _parse_time(field: str, value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed([{"field": field, "message": "must be an ISO 8601 time"}]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


async def list_events(
    env: Env, actor: Actor, org_name: OrgArg, query: dict[str, str], page: paging.Page
) -> dict[str, Any]:
    """Events newest first, filtered by time, operation and actor, paged by seq."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await acting_org(conn, actor, org_name)
        require_audit_reader(actor, org)
        return await _events(conn, org.id, query, page)


async def _events(
    conn: db.Tx, org_id: uuid.UUID, query: dict[str, str], page: paging.Page
) -> dict[str, Any]:
    """One page of org ``org_id``'s events, newest first (``list_events``' filters)."""
    (before,) = page.after_as(int) or (None,)
    since = _parse_time("since", query.get("since"))
    until = _parse_time("until", query.get("until"))
    async with db.in_org(conn, org_id):
        rows = await conn.fetch(
            "SELECT e.*, l.seq FROM audit_events e LEFT JOIN audit_links l ON l.event_id = e.id "
            "WHERE e.org_id = $1 "
            "AND ($2::bigint IS NULL OR e.id < $2) "
            "AND ($3::timestamptz IS NULL OR at >= $3) "
            "AND ($4::timestamptz IS NULL OR at < $4) "
            "AND ($5::text IS NULL OR operation = $5) "
            "AND ($6::text IS NULL OR lower(actor) = lower($6)) "
            "ORDER BY e.id DESC LIMIT $7",
            org_id,
            before,
            since,
            until,
            query.get("operation"),
            query.get("actor"),
            page.limit + 1,
        )
    found = paging.cut(rows, page, lambda row: (row["id"],))
    found["items"] = [audit.event_json(r) for r in found["items"]]
    return found


async def verify_chain(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """Chain what is waiting, then recompute the org's chain and report the first broken
    link, or a tail missing since the node's latest anchor (server/store/anchors.py)."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await acting_org(conn, actor, org_name)
        require_audit_reader(actor, org)
    await audit.chain_pending(env.pool, env.ring, {org.id}, env.anchors, env.node)
    async with db.transaction(env.pool, org.id, readonly=True) as conn:
        result = await audit.verify(conn, env.ring, org.id, env.anchors)
    return result.as_dict()


def operation_catalogue(actor: Actor) -> dict[str, Any]:
    """Every operation the audit trail records, for readers of the audit (the TUI's
    operation picker keeps no copy).

    Returns:
        ``{"operations": [{"name", "category", "description"}]}`` by name; category is
        ``routine`` (an org may stop recording it), ``security`` or ``secret_access``
        (server/core/operations.py).
    Raises:
        Forbidden: the actor may not read the audit trail (``permissions.can_read_audit``).
    """
    if not permissions.can_read_audit(actor):
        raise Forbidden("only administrators and auditors read the audit trail")
    return {
        "operations": [
            {"name": op.name, "category": op.category, "description": op.description}
            for op in operations.OPERATIONS.values()
        ]
    }


# -- deleted orgs' trails ------------------------------------------------------------


@dataclass(frozen=True)
class DeletedOrg:
    """A deleted org whose audit trail is kept (``deleted_orgs``, in MSPOrg)."""

    id: uuid.UUID
    display_name: str
    name: str
    deleted_at: datetime.datetime
    deleted_by: str
    msp_id: uuid.UUID


_DELETED = (
    "SELECT deleted_org_id AS id, display_name, name, deleted_at, deleted_by, org_id AS msp_id "
    "FROM deleted_orgs"
)


async def deleted_orgs(conn: db.Tx | asyncpg.Connection) -> list[DeletedOrg]:
    """Every deleted org whose trail is kept, newest deletion first (in MSPOrg's RLS
    context)."""
    rows = await conn.fetch(_DELETED + " ORDER BY deleted_at DESC, deleted_org_id")
    return [DeletedOrg(**dict(r)) for r in rows]


async def keep_trail_of_deleted(
    conn: db.Tx,
    msp_id: uuid.UUID,
    org_id: uuid.UUID,
    display_name: str,
    name: str,
    deleted_by: str,
) -> None:
    """Leave the tombstone of org ``org_id``, purged in this transaction (deleted by
    ``deleted_by``), so its audit trail stays readable by MSPOrg's auditors until its
    retention ends (the RLS context is restored)."""
    async with db.in_org(conn, msp_id):
        await conn.execute(
            "INSERT INTO deleted_orgs (org_id, deleted_org_id, display_name, name, deleted_by) "
            "VALUES ($1, $2, $3, $4, $5)",
            msp_id,
            org_id,
            display_name,
            name,
            deleted_by,
        )


def _require_msp_audit_reader(actor: Actor) -> None:
    if not (actor.org_is_msp and permissions.can_read_audit(actor)):
        raise Forbidden("only MSPOrg administrators and auditors read deleted orgs' audit trails")


async def _deleted(conn: db.Tx, actor: Actor, deleted_id: str) -> tuple[DeletedOrg, int | None]:
    """The deleted org ``deleted_id`` names and its retention in days (None: for ever),
    else NotFound; the RLS context is MSPOrg's on return."""
    gone_id = parse_id(deleted_id, "deleted org")
    await db.set_org(conn, actor.org_id)
    row = await conn.fetchrow(_DELETED + " WHERE deleted_org_id = $1", gone_id)
    if row is None:
        raise NotFound("no such deleted org")
    async with db.in_org(conn, gone_id):
        days = await conn.fetchval("SELECT days FROM audit_retention WHERE org_id = $1", gone_id)
    return DeletedOrg(**dict(row)), days


def _deleted_json(gone: DeletedOrg, days: int | None) -> dict[str, Any]:
    until = gone.deleted_at + datetime.timedelta(days=days) if days is not None else None
    return {
        "id": str(gone.id),
        "display_name": gone.display_name,
        "name": gone.name,
        "deleted_at": gone.deleted_at.isoformat(),
        "deleted_by": gone.deleted_by,
        "retention_days": days,
        "retained_until": until.isoformat() if until else None,
    }


async def list_deleted_orgs(env: Env, actor: Actor, page: paging.Page) -> dict[str, Any]:
    """Deleted orgs whose audit trails are kept, for MSPOrg's audit readers.

    Returns:
        A page of ``{"id", "display_name", "name", "deleted_at", "deleted_by",
        "retention_days", "retained_until"}`` (``retained_until``: when the last event
        deleting it will be purged; None when kept for ever), newest deletion first.
    Raises:
        Forbidden: not an MSPOrg user who reads the audit trail.
    """
    _require_msp_audit_reader(actor)
    async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
        gone = await deleted_orgs(conn)
        days = {}
        for g in gone:
            async with db.in_org(conn, g.id):
                days[g.id] = await conn.fetchval(
                    "SELECT days FROM audit_retention WHERE org_id = $1", g.id
                )
    items = [_deleted_json(g, days[g.id]) for g in gone]
    for item in items:
        item["created_at"] = item["deleted_at"]  # the order paging.newest_first reads
    found = paging.paged(items, page, paging.newest_first)
    for item in found["items"]:
        del item["created_at"]
    return found


async def list_deleted_events(
    env: Env, actor: Actor, deleted_id: str, query: dict[str, str], page: paging.Page
) -> dict[str, Any]:
    """A deleted org's events, as ``list_events`` gives a living org's (MSPOrg's audit
    readers; NotFound for an id that names no deleted org)."""
    _require_msp_audit_reader(actor)
    async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
        gone, _days = await _deleted(conn, actor, deleted_id)
        return await _events(conn, gone.id, query, page)


async def verify_deleted(env: Env, actor: Actor, deleted_id: str) -> dict[str, Any]:
    """Verify a deleted org's chain as ``verify_chain`` does a living org's."""
    _require_msp_audit_reader(actor)
    async with db.transaction(env.pool, actor.org_id, readonly=True) as conn:
        gone, _days = await _deleted(conn, actor, deleted_id)
    await audit.chain_pending(env.pool, env.ring, {gone.id}, env.anchors, env.node)
    async with db.transaction(env.pool, gone.id, readonly=True) as conn:
        result = await audit.verify(conn, env.ring, gone.id, env.anchors)
    return result.as_dict()
