"""Removing a secondary from its primary (issue 33, item 2): ``strongroom cluster
remove-node NAME``, ``POST /cluster/nodes/{name}/remove`` (the TUI's server view) and the
silent uninstall of a secondary all end here, on the primary.

The removal clears the node from synchronous replication (so no commit waits for it),
ends its WAL sender and drops its replication slot (so no WAL is kept for it), forgets it
as the peer (``conf/ha-state.json``: the failover monitor stops expecting it) and is
audited in MSPOrg (``cluster_node_removed``). A replacement can be enrolled right after.
Audit events still in the removed node's spool are collected when it answers (issue 33,
item 5): asked with the cluster secret, it hands them over, this primary records them
(exactly once: each carries its ``spool_id``) and tells it to drop them. The answer says
how many were collected, or why they could not be (the node did not answer, or its spool
fails its chain check); a node being uninstalled ships its spool before it asks for its
removal.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from replication.roles import slot_name
from server.core.errors import Conflict, NotFound, ServiceUnavailable, coded
from server.node import spool
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
        ``{"removed", "slot_dropped", "was_peer", "node_reachable", "spool",
        "spool_collected"}``.

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
        reached, collected, spool = (
            await collect_spool(env, peer) if was_peer else (False, 0, "nothing left to collect")
        )
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
    details = {
        "slot_dropped": dropped,
        "was_peer": was_peer,
        "node_reachable": reached,
        "spool_collected": collected,
    }
    msp_id = await env.pool.fetchval("SELECT id FROM orgs WHERE is_msp")
    await recording.record(
        env,
        msp_id,
        audit.Event(who, "cluster_node_removed", "node", name, details={**details, "spool": spool}),
    )
    return {"removed": name, **details, "spool": spool}


async def collect_spool(env: Env, peer: Peer) -> tuple[bool, int, str]:
    """Collect the audit events left in the spool of the node being removed (issue 33,
    item 5) and record them here, exactly once.

    Args:
        env: this primary's environment (its database records the events).
        peer: the node being removed.

    Returns:
        (whether the node answered, how many events were collected, what happened in
        words: ``collected N …``, ``nothing left to collect`` or why not).
    """
    status, health = await ask_once(peer_client(env.config, peer.url, 2.0), "/api/v1/health")
    if not status:
        return (
            False,
            0,
            ("the node did not answer: any audit events left in its spool were not collected"),
        )
    client = peer_client(env.config, peer.url, 10.0, env.node_state.state.cluster_secret)
    try:
        status, held = await client.call("POST", "/api/v1/cluster/spool/collect", {})
        if status != 200:
            left = "it reports audit events left" if health.get("spool_pending") else "none"
            return (
                True,
                0,
                (
                    f"its spool could not be collected (HTTP {status} {held.get('code', '')}); "
                    f"{left}: they were not collected"
                ),
            )
        events = held.get("events", [])
        if not events:
            return True, 0, "nothing left to collect"
        try:
            await spool.ingest(env.pool, env.ring, events)
        except (spool.SpoolTampered, KeyError, ValueError, TypeError) as exc:
            return True, 0, f"its spool fails its check ({exc}): not collected"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ServiceUnavailable) as exc:
            return True, 0, f"its spool could not be recorded here ({exc}): not collected"
        ids = [e["spool_id"] for e in events]
        status, _ = await client.call("POST", "/api/v1/cluster/spool/delivered", {"spool_ids": ids})
        dropped = "" if status == 200 else " (the node was not told: it may send them again)"
        return (
            True,
            len(events),
            (f"collected {len(events)} audit event(s) from its spool and recorded them{dropped}"),
        )
    finally:
        await client.close()


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


# How long a standby's word that it is stopping holds: its stop has shipped its spool and
# stops its database within seconds; a stop that failed must not shorten a later absence's
# grace for long.
STOPPING_NOTICE_SECONDS = 60.0


def note_standby_stopping(env: Env, name: str) -> bool:
    """A primary takes its standby's word that it is stopping gracefully (``strongroom
    stop`` on the secondary, after it shipped its audit spool): once the standby's WAL
    receiver is gone, a pair without a witness replicates asynchronously at once instead
    of holding commits for ``replication.async_after`` (replication/monitor.py; issue 33).

    ``name`` is the stopping node; returns False (and changes nothing) when it is not this
    primary's standby or this node is not a primary. Nothing is written: the mode change
    itself is audited by the monitor when it happens (``replication_mode_changed``).
    """
    node = env.node_state
    if node.role != "primary" or not name or name != node.state.peer.name:
        return False
    node.peer_stopping_until = time.monotonic() + STOPPING_NOTICE_SECONDS
    return True
