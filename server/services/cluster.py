"""The cluster as this node sees it: its role and term, and its standbys' replication."""

from __future__ import annotations

from typing import Any

from server import db, permissions
from server.context import Actor, Env
from server.errors import Forbidden

_STANDBYS = """
SELECT application_name, client_addr::text AS address, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_seconds
FROM pg_stat_replication ORDER BY application_name
"""


async def cluster_state(env: Env, actor: Actor) -> dict[str, Any]:
    """Nodes, roles, replication state and lag (administrators of MSPOrg)."""
    if not (actor.org_is_msp and permissions.can_manage_users(actor.role)):
        raise Forbidden("only MSPOrg administrators see the cluster")
    config = env.config
    async with db.transaction(env.pool, readonly=True) as tx:
        in_recovery = await tx.fetchval("SELECT pg_is_in_recovery()")
        standbys = [] if in_recovery else [dict(r) for r in await tx.fetch(_STANDBYS)]
    return {
        "term": 0,
        "nodes": [
            {
                "name": config.node.name,
                "role": config.node.role,
                "url": config.server.public_url or f"https://localhost:{config.server.port}",
                "read_only": config.node.role != "primary",
                "database_in_recovery": in_recovery,
            }
        ],
        "standbys": standbys,
        "replication": "sync"
        if any(s["sync_state"] == "sync" for s in standbys)
        else ("async" if standbys else "none"),
        "witness": None,
    }
