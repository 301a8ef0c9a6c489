"""Reading an org's audit trail and verifying its chain (the API side of server/store/audit.py)."""

from __future__ import annotations

import datetime
from typing import Any

from server.core import operations, permissions
from server.core.errors import Forbidden, ValidationFailed
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
    (before,) = page.after_as(int) or (None,)
    since = _parse_time("since", query.get("since"))
    until = _parse_time("until", query.get("until"))
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await acting_org(conn, actor, org_name)
        require_audit_reader(actor, org)
        await db.set_org(conn, org.id)
        rows = await conn.fetch(
            "SELECT e.*, l.seq FROM audit_events e LEFT JOIN audit_links l ON l.event_id = e.id "
            "WHERE e.org_id = $1 "
            "AND ($2::bigint IS NULL OR e.id < $2) "
            "AND ($3::timestamptz IS NULL OR at >= $3) "
            "AND ($4::timestamptz IS NULL OR at < $4) "
            "AND ($5::text IS NULL OR operation = $5) "
            "AND ($6::text IS NULL OR lower(actor) = lower($6)) "
            "ORDER BY e.id DESC LIMIT $7",
            org.id,
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
