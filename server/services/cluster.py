"""The cluster as this node sees it: both nodes, roles, term, replication, witness."""

from __future__ import annotations

from typing import Any

from replication.http import ask_once, peer_client, witness_client
from server import db, permissions
from server.context import Actor, Env
from server.errors import Forbidden

STANDBYS_SQL = """
SELECT application_name, client_addr::text AS address, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_seconds
FROM pg_stat_replication ORDER BY application_name
"""
RECEIVER_SQL = """
SELECT status,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS lag_bytes,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age
FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver ON true
"""


async def cluster_state(env: Env, actor: Actor) -> dict[str, Any]:
    """Nodes, roles, term, replication state and lag, witness (MSPOrg administrators)."""
    if not (actor.org_is_msp and actor.role in permissions.ADMIN_ROLES):
        raise Forbidden("only MSPOrg administrators see the cluster")
    return await describe(env)


async def describe(env: Env) -> dict[str, Any]:
    """The cluster view behind GET /cluster and ``strongroom status``."""
    node = env.node_state
    async with db.transaction(env.pool, readonly=True) as tx:
        in_recovery = await tx.fetchval("SELECT pg_is_in_recovery()")
        standbys = [] if in_recovery else [dict(r) for r in await tx.fetch(STANDBYS_SQL)]
        receiver = dict(await tx.fetchrow(RECEIVER_SQL)) if in_recovery else None
    this = {**node.as_dict(), "url": node.own_url, "database_in_recovery": in_recovery}
    if receiver is not None:
        this["receiving"] = receiver
    nodes = [this]
    peer = node.state.peer
    if peer.name:
        status, body = await ask_once(peer_client(env.config, peer.url, 1.0), "/api/v1/health")
        nodes.append(
            {
                "name": peer.name,
                "url": peer.url,
                "reachable": status != 0,
                "role": body.get("role"),
                "read_only": body.get("read_only"),
                "term": body.get("term"),
                "degraded": body.get("degraded"),
            }
        )
    return {
        "term": node.term,
        "nodes": nodes,
        "standbys": standbys,
        "replication": "sync"
        if any(s["sync_state"] == "sync" for s in standbys)
        else ("async" if standbys else ("standby" if in_recovery else "none")),
        "witness": await _witness(env),
    }


async def _witness(env: Env) -> dict[str, Any] | None:
    url = env.config.node.witness_url
    if not url:
        return None
    status, body = await ask_once(witness_client(env.config, 1.0), "/lease")
    return {"url": url, "reachable": status == 200, **(body if status == 200 else {})}
