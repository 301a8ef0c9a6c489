"""Removing a secondary from its primary (issue 33, item 2): ``strongroom cluster
remove-node NAME``, ``POST /cluster/nodes/{name}/remove`` (the TUI's server view) and the
silent uninstall of a secondary all end here, on the primary.

The removal clears the node from synchronous replication (so no commit waits for it),
ends its WAL sender and drops its replication slot (so no WAL is kept for it), forgets it
as the peer (``conf/ha-state.json``: the failover monitor stops expecting it) and is
audited in MSPOrg (``cluster_node_removed``). A replacement can be enrolled right after.
Audit events still in the removed node's spool cannot be fetched from here: the answer
says whether the node answered and whether it reported any left (a node being uninstalled
ships its spool before it asks for its removal).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from replication.roles import slot_name
from server.core.errors import Conflict, NotFound, coded
from server.node.mode import Peer
from server.node.peer import ask_once, peer_client
from server.services import recording
from server.services.context import Env
from server.store import audit

_CLEAR_SYNC = "ALTER SYSTEM SET synchronous_standby_names = ''"
_RELOAD = "SELECT pg_reload_conf()"
_END_SENDERS = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication WHERE application_name = $1
"""
_END_SLOT_USER = """
SELECT count(pg_terminate_backend(active_pid)) FROM pg_replication_slots
WHERE slot_name = $1 AND active_pid IS NOT NULL
"""
_DROP_SLOT = """
SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
WHERE slot_name = $1 AND NOT active
"""
_SLOT_EXISTS = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1"


async def remove_node(env: Env, name: str, who: audit.Who) -> dict[str, Any]:
    """Remove the secondary ``name`` from this primary (module docstring).

    Args:
        env: this primary's environment.
        name: the node to remove (this primary's peer, or a node whose slot is left).
        who: who asked (an MSPOrg administrator, or the node itself through the cluster
            secret), for the audit event.

    Returns:
        ``{"removed", "slot_dropped", "was_peer", "node_reachable", "spool"}``.

    Raises:
        Conflict ``not_primary`` (409): this node is not a primary that may act;
        NotFound ``no_such_node`` (404): neither the peer nor a slot of that name.
    """
    node = env.node_state
    if node.role != "primary" or node.fence_reason:
        raise coded(
            Conflict,
            "not_primary",
            "remove a node on the primary (this node is not the primary now)",
            primary=node.primary_url or None,
        )
    if name == node.name:
        raise coded(Conflict, "not_primary", "a node cannot remove itself; remove the secondary")
    peer = node.state.peer
    was_peer = peer.name == name
    conn = await asyncpg.connect(**env.config.superuser_dsn())
    try:
        slot = slot_name(name)
        # A slot name is at most 63 bytes (PostgreSQL's NAMEDATALEN): a longer one names
        # no node, and asking for it would be an error.
        if not was_peer and (
            len(slot.encode()) > 63 or not await conn.fetchval(_SLOT_EXISTS, slot)
        ):
            raise coded(NotFound, "no_such_node", f"no node named {name!r} is enrolled here")
        reached, spool_left = await _ask_spool(env, peer) if was_peer else (False, None)
        if was_peer:
            await conn.execute(_CLEAR_SYNC)
            await conn.execute(_RELOAD)
            node.state.peer = Peer()
            node.state.save(node.state_path)
            node.sync, node.degraded, node.sync_reason = "none", False, ""
            node.commits_wait, node.writes_blocked = False, ""
            node.peer_seen_at = node.peer_silent_since = None
        dropped = await _drop_slot(conn, name, slot)
    finally:
        await conn.close()
    spool = (
        "the node did not answer: any audit events left in its spool were not collected"
        if was_peer and not reached
        else (
            "the node reports audit events not yet shipped: they were not collected"
            if spool_left
            else "nothing left to collect"
        )
    )
    details = {"slot_dropped": dropped, "was_peer": was_peer, "node_reachable": reached}
    msp_id = await env.pool.fetchval("SELECT id FROM orgs WHERE is_msp")
    await recording.record(
        env,
        msp_id,
        audit.Event(who, "cluster_node_removed", "node", name, details={**details, "spool": spool}),
    )
    return {"removed": name, **details, "spool": spool}


async def _ask_spool(env: Env, peer: Peer) -> tuple[bool, bool | None]:
    """Whether the node answers, and whether it reports unshipped audit events."""
    status, health = await ask_once(peer_client(env.config, peer.url, 2.0), "/api/v1/health")
    return status != 0, health.get("spool_pending") if status else None


async def _drop_slot(conn: asyncpg.Connection, name: str, slot: str) -> bool:
    """End the node's WAL senders and drop its slot (retried while a sender lets go)."""
    for _ in range(20):
        await conn.fetchval(_END_SENDERS, name)
        await conn.fetchval(_END_SLOT_USER, slot)
        await conn.fetchval(_DROP_SLOT, slot)
        if not await conn.fetchval(_SLOT_EXISTS, slot):
            return True
        await asyncio.sleep(0.25)
    return False
