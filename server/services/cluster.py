"""The cluster as this node sees it: both nodes, roles, term, replication, witness."""

from __future__ import annotations

from typing import Any

from replication.http import PinnedClient
from server import db, permissions
from server.context import Actor, Env
from server.errors import Forbidden
from server.tls import fingerprint

_STANDBYS = """
SELECT application_name, client_addr::text AS address, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float8 AS lag_seconds
FROM pg_stat_replication ORDER BY application_name
"""
_RECEIVER = """
SELECT status,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS lag_bytes,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age
FROM (SELECT 1) one LEFT JOIN pg_stat_wal_receiver ON true
"""


async def cluster_state(env: Env, actor: Actor) -> dict[str, Any]:
    """Nodes, roles, term, replication state and lag, witness (MSPOrg administrators)."""
    if not (actor.org_is_msp and permissions.can_manage_users(actor.role)):
        raise Forbidden("only MSPOrg administrators see the cluster")
    return await describe(env)


async def describe(env: Env) -> dict[str, Any]:
    """The cluster view behind GET /cluster and ``strongroom status``."""
    node = env.node_state
    async with db.transaction(env.pool, readonly=True) as tx:
        in_recovery = await tx.fetchval("SELECT pg_is_in_recovery()")
        standbys = [] if in_recovery else [dict(r) for r in await tx.fetch(_STANDBYS)]
        receiver = dict(await tx.fetchrow(_RECEIVER)) if in_recovery else None
    this = {**node.as_dict(), "url": node.own_url, "database_in_recovery": in_recovery}
    if receiver is not None:
        this["receiving"] = receiver
    nodes = [this]
    peer = node.state.peer
    if peer.name:
        cert = env.config.path(env.config.server.tls_cert)
        client = PinnedClient(peer.url, fingerprint(cert), timeout=1.0)
        try:
            status, body = await client.call("GET", "/api/v1/health")
        finally:
            await client.close()
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
    cfg = env.config.node
    if not cfg.witness_url:
        return None
    client = PinnedClient(cfg.witness_url, cfg.witness_fingerprint, cfg.witness_token, 1.0)
    try:
        status, body = await client.call("GET", "/lease")
    finally:
        await client.close()
    return {"url": cfg.witness_url, "reachable": status == 200, **(body if status == 200 else {})}
