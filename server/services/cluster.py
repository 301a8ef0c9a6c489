"""The cluster as this node sees it: both nodes, roles, term, replication, witness."""

from __future__ import annotations

import datetime
import time
from typing import Any

from server.core.registration import read_registration
from server.node.peer import ask_once, peer_client, witness_client
from server.services.access import require_msp_admin
from server.services.context import Actor, Env
from server.store import db

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
    require_msp_admin(actor, "see the cluster")
    view = await describe(env)
    # the silent install's Name, MailId, Phone, Company, Country (issue 34, item 3)
    view["registration"] = read_registration(env.config.home)
    return view


async def describe(env: Env) -> dict[str, Any]:
    """The cluster view behind GET /cluster and ``strongroom status``."""
    node = env.node_state
    async with db.transaction(env.pool, readonly=True) as tx:
        in_recovery = await tx.fetchval("SELECT pg_is_in_recovery()")
        standbys = [] if in_recovery else [dict(r) for r in await tx.fetch(STANDBYS_SQL)]
        receiver = dict(await tx.fetchrow_one(RECEIVER_SQL)) if in_recovery else None
    this = {**node.as_dict(), "url": node.own_url, "database_in_recovery": in_recovery}
    if receiver is not None:
        this["receiving"] = receiver
    nodes = [this]
    peer = node.state.peer
    if peer.name:
        status, body = await ask_once(peer_client(env.config, peer.url, 1.0), "/api/v1/health")
        if status:
            silent_since = None
        else:  # the monitor's first miss, else this one
            silent_since = node.peer_silent_since or time.time()
        nodes.append(
            {
                "name": peer.name,
                "url": peer.url,
                "reachable": status != 0,
                "state": "reachable" if status else "unreachable",
                "unreachable_since": _iso(silent_since),
                "last_seen_at": _iso(node.peer_seen_at),
                "role": body.get("role"),
                "read_only": body.get("read_only"),
                "term": body.get("term"),
                "degraded": body.get("degraded"),
            }
        )
    witness = await _witness(env)
    return {
        "term": node.term,
        "nodes": nodes,
        "standbys": standbys,
        "replication": "sync"
        if any(s["sync_state"] == "sync" for s in standbys)
        else ("async" if standbys else ("standby" if in_recovery else "none")),
        "witness": witness,
        "promotion": _promotion(env, witness) if node.role == "secondary" else None,
    }


def _iso(wall: float | None) -> str | None:
    """A wall-clock time as ISO 8601 (UTC), None stays None."""
    if wall is None:
        return None
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).isoformat(timespec="seconds")


def _promotion(env: Env, witness: dict[str, Any] | None) -> dict[str, Any]:
    """Whether the witness would let this secondary promote now, and why (or why not).

    The witness grants the lease to another node only once the holder's lease expired
    and the holder last reported this standby in sync (replication/witness.py).
    """
    node = env.node_state
    if witness is None:
        return {
            "automatic": False,
            "witness_would_grant": None,
            "reason": "no witness: promotion is manual (strongroom promote)",
        }
    if not witness["reachable"]:
        grant, reason = False, "the witness does not answer: no promotion"
    elif witness.get("holder") in (None, node.name):
        grant, reason = True, "the witness would grant this node the lease"
    elif witness.get("expires_in", 0) > 0:
        grant = False
        reason = f"{witness['holder']} holds a live lease (expires in {witness['expires_in']} s)"
    elif not witness.get("standby_in_sync", False):
        grant = False
        reason = f"{witness['holder']} last reported this standby out of sync: refused"
    else:
        grant = True
        reason = f"{witness['holder']}'s lease expired with this standby in sync: would grant"
    return {"automatic": True, "witness_would_grant": grant, "reason": reason}


async def _witness(env: Env) -> dict[str, Any] | None:
    url = env.config.node.witness_url
    if not url:
        return None
    status, body = await ask_once(witness_client(env.config, 1.0), "/lease")
    return {"url": url, "reachable": status == 200, **(body if status == 200 else {})}
