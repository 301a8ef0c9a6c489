"""The failover monitor: a background task of ``strongroom serve`` on each node.

Every ``monitor_interval`` it looks at the local PostgreSQL, the peer's health and
(when configured) the witness, then acts:

On the primary
- renews the witness lease, reporting whether its standby is synchronous; each
  renewal lets it write for ``fence_after`` seconds from when it was sent;
- seeing its standby streaming also lets it write for a short while (the standby
  cannot promote while it hears from this node);
- when neither holds, ``Node.writable`` turns false by itself: the node is fenced
  before the lease can expire at the witness;
- drops to asynchronous replication only after the witness has recorded that its
  standby is not in sync (the witness then refuses that standby the lease), and goes
  back to synchronous when the standby has caught up;
- a peer or witness reporting a higher term deposes it: it fences and, when
  ``auto_rejoin`` is set, rejoins as the new secondary.

On the secondary
- counts the primary alive while its WAL receiver hears from it or its app answers;
- after ``failover_timeout`` without either, asks the witness for the lease and, when
  granted, promotes: pg_promote, clears synchronous_standby_names (inherited from the
  base backup), makes a slot for the old primary, ingests its audit spool;
- ships its audit spool to the primary while the primary answers.

Timings: fence_after < lease TTL (witness) < failover_timeout, and the standby-seen
grace below keeps a primary from writing past the moment its standby may promote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

from replication import roles
from replication.cluster import REPLICATION_ROLE, Cluster, ClusterError, Source
from replication.http import PinnedClient, ask_once, peer_client, witness_client
from server import spool
from server.config import Config
from server.context import Env
from server.keys import ENV
from server.node import HaState, ha_state_path

log = logging.getLogger("strongroom.monitor")

RECEIVER_FRESH = 3.0  # a WAL receiver that heard from the primary this recently: alive
WAL_SENDER_TIMEOUT = 4.0  # replication/cluster.py sets wal_sender/receiver_timeout to this
STANDBY_GRACE = 2.0  # how long the primary waits for its standby before going async
CALL_TIMEOUT = 0.8

_LOCAL = """
SELECT pg_is_in_recovery() AS recovery,
       current_setting('synchronous_standby_names') AS sync_names
"""
_STANDBYS = "SELECT application_name, state, sync_state FROM pg_stat_replication"
_RECEIVER = (
    "SELECT status, extract(epoch FROM now() - last_msg_receipt_time)::float8 AS age "
    "FROM pg_stat_wal_receiver"
)


def slot_name(node_name: str) -> str:
    """The replication slot a node streams through on its peer."""
    return "strongroom_" + "".join(c if c.isalnum() else "_" for c in node_name.lower())


def peer_source(state: HaState) -> Source:
    """The peer's PostgreSQL, reached as the replication role."""
    return Source(
        state.peer.db_host, state.peer.db_port, REPLICATION_ROLE, state.replication_password
    )


def rejoin_cluster(cluster: Cluster, source: Source, node_name: str) -> str:
    """Make a former primary's (or a lost standby's) cluster a standby of ``source``.

    pg_rewind first; when it cannot (WAL already gone), a fresh base backup.
    Answers which of the two was done.
    """
    try:
        cluster.stop(mode="fast")
    except ClusterError:
        cluster.stop(mode="immediate")
    how = "pg_rewind"
    try:
        cluster.rewind(source)
    except ClusterError as exc:
        log.warning("pg_rewind failed (%s); taking a fresh base backup instead", exc)
        cluster.remove()
        cluster.base_backup(source, slot_name(node_name))
        how = "base backup"
    cluster.make_standby(source, slot_name(node_name), node_name)
    cluster.start()
    return how


class Monitor:
    """One node's failover monitor (see the module docstring)."""

    def __init__(self, env: Env, cluster: Cluster | None) -> None:
        self.env = env
        self.node = env.node_state
        self.cluster = cluster
        cfg = env.config.node
        self.cfg = cfg
        self.witness = witness_client(env.config, CALL_TIMEOUT)
        self._peer: PinnedClient | None = None
        self._conn: asyncpg.Connection | None = None
        self.last_primary_seen = time.monotonic()
        self.last_standby_seen = time.monotonic()
        # The primary may write this long after it last saw its standby streaming: the
        # standby may have stopped hearing it up to WAL_SENDER_TIMEOUT earlier.
        self.standby_grace = max(0.0, cfg.failover_timeout - WAL_SENDER_TIMEOUT - 0.5)
        self.rejoining = False
        self._anchor_copy: asyncio.Task | None = None

    # -- plumbing -----------------------------------------------------------------

    @property
    def peer(self) -> PinnedClient | None:
        url = self.node.state.peer.url
        if not url:
            return None
        if self._peer is None or self._peer.base != url.rstrip("/"):
            # The cluster secret authenticates spool shipping; health ignores it.
            self._peer = peer_client(
                self.env.config, url, CALL_TIMEOUT, self.node.state.cluster_secret
            )
        return self._peer

    async def _local(self) -> asyncpg.Connection | None:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        dsn = self.env.config.superuser_dsn()
        dsn["timeout"] = 1.0
        try:
            self._conn = await asyncpg.connect(**dsn)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            self._conn = None
        return self._conn

    async def _query(self, query: str, *, many: bool = False) -> Any:
        conn = await self._local()
        if conn is None:
            return None
        try:
            if many:
                return await conn.fetch(query, timeout=1.0)
            return await conn.fetchrow(query, timeout=1.0)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._drop_local()
            return None

    async def _drop_local(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None

    async def _peer_health(self) -> tuple[int, dict]:
        peer = self.peer
        if peer is None:
            return 0, {}
        return await peer.call("GET", "/api/v1/health")

    async def close(self) -> None:
        """Release connections."""
        if self._anchor_copy is not None:
            self._anchor_copy.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._anchor_copy
        await self._drop_local()
        for client in (self.witness, self._peer):
            if client is not None:
                await client.close()

    # -- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Watch and act until cancelled."""
        while True:
            started = time.monotonic()
            try:
                if self.node.role == "primary":
                    await self.primary_step()
                else:
                    await self.secondary_step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("failover monitor step failed (will retry)")
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.05, self.cfg.monitor_interval - elapsed))

    # -- primary ------------------------------------------------------------------

    async def primary_step(self) -> None:
        node = self.node
        checked = time.monotonic()
        (local, standbys), (peer_status, peer) = await asyncio.gather(
            self._local_primary(), self._peer_health()
        )
        if peer_status and peer.get("role") == "primary" and peer.get("term", 0) > node.term:
            await self._deposed(f"{node.state.peer.name} is primary with term {peer['term']}")
            return
        if local is None:
            node.degraded = True  # no database: no renewal, the deadline runs out
            return
        if local["recovery"]:
            log.warning("the local database is a standby now; serving read-only")
            await self._became_secondary()
            return
        peer_name = node.state.peer.name
        mine = [s for s in standbys if s["application_name"] == peer_name]
        streaming = any(s["state"] == "streaming" for s in mine)
        in_sync = any(s["state"] == "streaming" and s["sync_state"] == "sync" for s in mine)
        if streaming:
            self.last_standby_seen = checked
            node.allow_writes_until(checked + self.standby_grace)

        lease_held = False
        if self.witness is None:
            node.allow_writes_until(math.inf)  # manual failover: nothing to fence against
        else:
            sent = time.monotonic()
            status, body = await self.witness.call(
                "POST", "/lease", {"node": node.name, "sync": in_sync}
            )
            node.witness_reachable = status != 0
            if status == 200:
                node.raise_term(int(body["term"]))
                node.allow_writes_until(sent + self.cfg.fence_after)
                lease_held = True
            elif status == 409:
                await self._deposed(
                    f"the witness gave the lease to {body.get('holder')} (term {body.get('term')})"
                )
                return

        await self._manage_sync(local["sync_names"], streaming, in_sync, lease_held, peer_name)
        if self.env.anchors.unshipped and peer_status and self._anchor_copy is None:
            # In its own task: a slow peer must never delay the next lease renewal.
            self._anchor_copy = asyncio.create_task(self._copy_anchors())
        if node.writable() and self.env.spool.has_events():
            # Spooled while fenced, or left over from a promotion whose ingest failed.
            await self._ingest_own_spool()

    async def _local_primary(self) -> tuple[Any, list]:
        local = await self._query(_LOCAL)
        if local is None or local["recovery"]:
            return local, []
        return local, await self._query(_STANDBYS, many=True) or []

    async def _manage_sync(
        self, sync_names: str, streaming: bool, in_sync: bool, lease_held: bool, peer: str
    ) -> None:
        node = self.node
        if not peer:
            node.sync, node.degraded = "none", False
            return
        if sync_names and not streaming:
            node.sync, node.degraded = "sync", True  # commits wait for the standby
            away = time.monotonic() - self.last_standby_seen
            # The renewal just granted said in_sync=false: the witness will not hand
            # the lease to the lagging standby, so acknowledging alone is safe now.
            if lease_held and not in_sync and away > STANDBY_GRACE:
                await self._set_sync_names("")
                log.warning("standby %s gone for %.1f s: replicating asynchronously", peer, away)
        elif not sync_names and streaming:
            await self._set_sync_names(f'"{peer}"')
            log.info("standby %s streaming: replication is synchronous again", peer)
        elif not sync_names:
            node.sync, node.degraded = "async", True
        else:
            node.sync, node.degraded = ("sync", False) if in_sync else ("sync", True)

    async def _set_sync_names(self, value: str) -> None:
        conn = await self._local()
        if conn is None:
            return
        quoted = value.replace("'", "''")
        await conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{quoted}'")
        await conn.execute("SELECT pg_reload_conf()")

    async def _deposed(self, reason: str) -> None:
        if not self.node.fence_reason:
            log.error("fenced: %s", reason)
        self.node.fence(f"this node is no longer the primary: {reason}")
        if self.cfg.auto_rejoin and self.cluster is not None:
            await self.rejoin()

    async def rejoin(self) -> None:
        """Become the new primary's standby (pg_rewind, else a base backup)."""
        if self.rejoining:
            return
        self.rejoining = True
        try:
            await self._drop_local()
            assert self.cluster is not None
            how = await asyncio.to_thread(
                rejoin_cluster, self.cluster, peer_source(self.node.state), self.node.name
            )
            log.warning("rejoined as the standby of %s (%s)", self.node.state.peer.name, how)
            await self._became_secondary()
        except ClusterError as exc:
            log.error("rejoin failed (will retry): %s", exc)
        finally:
            self.rejoining = False

    async def _became_secondary(self) -> None:
        node = self.node
        node.role = "secondary"
        node.fence_reason = ""
        node.write_deadline = 0.0
        node.primary_url = node.state.peer.url
        node.sync, node.degraded = "none", False
        self.last_primary_seen = time.monotonic()
        await self.env.pool.expire_connections()

    # -- secondary ----------------------------------------------------------------

    async def secondary_step(self) -> None:
        node = self.node
        now = time.monotonic()
        (local, receiver), (peer_status, peer) = await asyncio.gather(
            self._local_secondary(), self._peer_health()
        )
        if local is None:
            return
        if not local["recovery"]:
            log.warning("the local database was promoted; this node is the primary now")
            node.state = type(node.state).load(node.state_path)  # a manual promote's term
            await self._became_primary(None)
            return
        fresh = (
            receiver is not None
            and receiver["status"] == "streaming"
            and (receiver["age"] or 0.0) < RECEIVER_FRESH
        )
        if peer_status == 200 and peer.get("role") == "primary":
            node.raise_term(int(peer.get("term", 0)))
            if not peer.get("read_only", True) or fresh:
                self.last_primary_seen = now
            await self._ship_spool()
        if fresh:
            self.last_primary_seen = now
        silent = now - self.last_primary_seen
        if self.witness is None or silent < self.cfg.failover_timeout:
            return
        sent = time.monotonic()
        status, body = await self.witness.call("POST", "/lease", {"node": node.name})
        node.witness_reachable = status != 0
        if status == 200:
            log.warning(
                "primary silent for %.1f s and the witness granted term %s: promoting",
                silent,
                body["term"],
            )
            node.raise_term(int(body["term"]))
            await self._promote()
            await self._became_primary(sent)

    async def _local_secondary(self) -> tuple[Any, Any]:
        local = await self._query(_LOCAL)
        if local is None or not local["recovery"]:
            return local, None
        return local, await self._query(_RECEIVER)

    async def _promote(self) -> None:
        conn = await self._local()
        if conn is None:
            raise ClusterError("the local database does not answer; cannot promote")
        await promote_database(conn, self.node.state.peer.name)

    async def _became_primary(self, lease_sent: float | None) -> None:
        node = self.node
        node.role = "primary"
        node.primary_url = node.own_url
        node.fence_reason = ""
        if self.witness is None:
            node.write_deadline = math.inf
        elif lease_sent is not None:
            node.write_deadline = lease_sent + self.cfg.fence_after
        self.last_standby_seen = time.monotonic()
        await self.env.pool.expire_connections()
        await self._ingest_own_spool()

    async def _ingest_own_spool(self) -> None:
        records = await self.env.spool.pending()
        if not records:
            return
        added = await spool.ingest(self.env.pool, self.env.ring, records)
        await self.env.spool.delivered({r["spool_id"] for r in records})
        log.info("ingested %d spooled audit events (%d new)", len(records), added)

    async def _copy_anchors(self) -> None:
        """Copy the audit anchors written since the last copy to the peer (server/anchors.py),
        so the secondary can tell a cut audit trail after a failover too."""
        anchors = self.env.anchors
        try:
            url = self.node.state.peer.url
            sent = dict(anchors.unshipped)
            if not url or not sent:
                return
            client = peer_client(self.env.config, url, 5.0, self.node.state.cluster_secret)
            try:
                status, _ = await client.call(
                    "POST",
                    "/api/v1/cluster/anchors",
                    {"anchors": [anchors.signed(a) for a in sent.values()]},
                )
            finally:
                await client.close()
            if status == 200:
                for org_id, anchor in sent.items():
                    if anchors.unshipped.get(org_id) is anchor:
                        del anchors.unshipped[org_id]
            elif status:
                log.warning("the peer refused the audit anchors (HTTP %d)", status)
        except Exception:
            log.exception("copying audit anchors to the peer failed (will retry)")
        finally:
            self._anchor_copy = None

    async def _ship_spool(self) -> None:
        peer = self.peer
        if peer is None:
            return
        try:
            records = await self.env.spool.pending()
        except Exception:
            log.exception("the audit spool cannot be read")
            return
        if not records:
            return
        status, _ = await peer.call(
            "POST", "/api/v1/cluster/spool", {"events": records}, budget=5.0
        )
        if status == 200:
            await self.env.spool.delivered({r["spool_id"] for r in records})
            log.info("shipped %d spooled audit events to the primary", len(records))


async def promote_database(conn: asyncpg.Connection, peer_name: str) -> None:
    """Promote the local standby and make it ready to be a primary with a standby.

    A promoted standby inherits synchronous_standby_names from its base backup and
    would hang its first commit: it is cleared here (the monitor sets it again when
    the peer streams). The peer's slot is made afresh for its rejoin.
    """
    if await conn.fetchval("SELECT pg_is_in_recovery()"):
        promoted = await conn.fetchval("SELECT pg_promote(true, 60)")
        if not promoted:
            raise ClusterError("pg_promote did not finish within 60 s")
        # The control file names the new timeline only after a checkpoint; until then
        # pg_rewind on the old primary would see "same timeline, no rewind required".
        await conn.execute("CHECKPOINT")
    await conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
    await conn.execute("SELECT pg_reload_conf()")
    if peer_name:
        slot = slot_name(peer_name)
        await conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = $1 AND NOT active",
            slot,
        )
        await roles.ensure_slot(conn, slot)


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run the failover monitor while the app lives.

    Only for the embedded PostgreSQL: an external database (a Patroni or managed
    cluster) manages its own failover, and the node keeps its configured role.
    """
    env = app[ENV]
    if not env.config.database.embedded:
        yield
        return
    db = env.config.database
    cluster = None
    with contextlib.suppress(ClusterError):
        cluster = Cluster(env.config.path(db.data_dir), db.port, listen=db.listen)
    monitor = Monitor(env, cluster)
    task = asyncio.create_task(monitor.run(), name="failover-monitor")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await monitor.close()


async def replaced_by(config: Config) -> str | None:
    """Before a former primary starts its database: has another node taken over?

    Asks the witness (who holds the lease, at what term) and the peer (its role and
    term). Answers why this node must not start read-write, or None when it may.
    """
    state = HaState.load(ha_state_path(config))
    if not state.peer.name:
        return None
    status, lease = await ask_once(witness_client(config, 2.0), "/lease")
    holder = lease.get("holder")
    if status == 200 and holder and holder != config.node.name and lease["term"] > state.term:
        return f"the witness gave {holder} the lease at term {lease['term']}"
    status, health = await ask_once(peer_client(config, state.peer.url, 2.0), "/api/v1/health")
    if status and health.get("role") == "primary" and health.get("term", 0) > state.term:
        return f"{state.peer.name} is primary at term {health['term']}"
    return None


async def peer_primary_answers(config: Config, state: HaState) -> str | None:
    """Why a manual promotion would be unsafe (the primary still takes writes), or None."""
    if not state.peer.url:
        return None
    status, health = await ask_once(peer_client(config, state.peer.url, 2.0), "/api/v1/health")
    if status == 200 and health.get("role") == "primary" and not health.get("read_only"):
        return f"the primary {state.peer.name} at {state.peer.url} still takes writes"
    return None
