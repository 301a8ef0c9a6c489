"""GET /api/v1/health: is this node up, and what is its role."""

from __future__ import annotations

import asyncio
import datetime
import logging

import asyncpg
from aiohttp import web

from server.services.first_run import pending_hint
from server.web.api import operation
from server.web.handlers.common import public
from server.web.keys import BACKUP_STATUS, CONFIG, ENV, FORWARDER, POOL
from server.web.models.cluster import Health
from server.web.problem import json_response

log = logging.getLogger(__name__)


@public
@operation(answers={200: Health}, errors={503: "the database does not answer (a Health body)"})
async def health(request: web.Request) -> web.Response:
    """Answer the node's role and whether its database answers.

    The probe must answer whatever state the database is in (restarting, rewound,
    frozen and thawed), so any failure of the check means "unreachable", never a 500.
    """
    database_ok = True
    try:
        async with asyncio.timeout(2):
            await request.app[POOL].fetchval("SELECT 1")
    except (asyncpg.PostgresError, OSError, TimeoutError):
        database_ok = False
    except Exception:
        log.warning("health: the database check failed unexpectedly", exc_info=True)
        database_ok = False
    node = request.app[ENV].node_state
    backups = request.app.get(BACKUP_STATUS)
    body = {
        "status": "ok" if database_ok else "unavailable",
        "role": node.role,
        "read_only": not node.writable(),
        "term": node.term,
        "degraded": node.degraded,
        "database": "ok" if database_ok else "unreachable",
        "name": node.name,
        "primary": node.primary_url or None,
        "rejoin": node.rejoin or None,  # why a deposed primary is not yet the standby
        "sync": node.sync if node.role == "primary" else None,
        "writes_blocked": bool(node.writes_blocked),
        "reason": "; ".join(
            r for r in (node.writes_blocked or node.sync_reason, node.wal_warning) if r
        )
        or None,
        # WAL each standby's slot retains, and the standbys to re-seed (issue 33, item 3).
        "wal_retained": node.wal_slots if node.role == "primary" else None,
        "reseed": sorted(node.reseed),
        # A primary: the standby it streams to (a removed secondary sees it is not named).
        "standby": (node.state.peer.name or None) if node.role == "primary" else None,
        # Audit events spooled here and not yet shipped (a node being removed says so).
        "spool_pending": request.app[ENV].spool.has_events(),
    }
    if node.role == "primary" and (node.wal_warning or node.reseed):
        body["degraded"] = True
    if node.removed:
        body["degraded"], body["reason"] = True, f"this node was {node.removed}"
    if backups is not None:  # the last good backup; degraded when scheduled ones lapse
        body["last_backup"] = backups.as_dict()
        if node.role == "primary" and backups.overdue(datetime.datetime.now(datetime.UTC)):
            body["degraded"] = True
    forwarder = request.app.get(FORWARDER)
    if forwarder is not None and node.role == "primary":
        # SIEM forwarding (issue 31): destinations, the largest cursor lag, failing ones.
        body["forwarding"] = forwarder.summary()
    hint = pending_hint(request.app[CONFIG])
    if hint:
        body["initial_admin_password"] = hint  # where it is kept, never the password
    return json_response(body, status=200 if database_ok else 503)
