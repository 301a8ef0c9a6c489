"""The failover monitor: a background task of ``strongroom serve`` on each node.

Every ``monitor_interval`` it looks at the local PostgreSQL, the peer's health and
(when configured) the witness, then acts:

On the primary
- renews the witness lease, reporting whether its standby is synchronous; each
  renewal lets it write for ``fence_after`` seconds from when it was sent, and only
  a renewal opens a fenced primary again;
- a standby that confirms this primary's WAL (replication/fence.py) keeps an *open*
  primary open ``STANDBY_HOLD`` seconds longer (the standby cannot promote while it follows), but
  never reopens a fenced one;
- when neither holds, ``Node.writable`` turns false by itself: the node is fenced
  before the lease can expire at the witness;
- drops to asynchronous replication once the standby has stopped confirming WAL for
  ``STANDBY_FRESH`` seconds and the witness has recorded that it is not in sync (the
  witness then refuses that standby the lease), and goes back to synchronous when
  the standby keeps up again;
- without a witness (issue 33): a standby that is away (not streaming, or no WAL
  confirmed for ``STANDBY_FRESH``) makes commits wait, so logins, logouts, reveals and
  token checks record locally at once (their waiting commits are released); after
  ``replication.async_after`` the primary drops to asynchronous replication, or, with
  ``replication.synchronous_required``, refuses writes at once (503
  standby_unavailable) and ends writes waiting on the standby (503 outcome_unknown);
  every change of mode is audited in MSPOrg (``replication_mode_changed``);
- a peer or witness reporting a higher term deposes it: it fences and, when
  ``auto_rejoin`` is set, rejoins as the new secondary (replication/rejoin.py), and
  while the new primary does not answer it waits, its data untouched.

On the secondary
- counts the primary alive while the primary's application answers as a writable
  primary: a primary whose server hangs, whose database hangs or dies, or that is
  cut off stops answering, and cannot renew its lease either;
- after ``failover_timeout`` without that, asks the witness for the lease and, when
  granted (only once the old lease expired and the old primary last reported this
  standby in sync), promotes (replication/promote.py) and ingests its audit spool;
- ships its audit spool to the primary while the primary answers; removes the data
  directory a rejoin replaced once it streams.

Timings: fence_after < lease TTL (witness) < failover_timeout: a primary fences by
its own clock before its lease can expire, and its lease expires before the standby
may ask for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from replication import rejoin as rejoining
from replication import roles
from replication.cluster import Cluster, ClusterError
from replication.fence import STANDBY_HOLD, STANDBY_SQL, StandbyWatch
from replication.promote import promote_database
from replication.rejoin import PeerUnreachable, peer_source
from replication.roles import slot_name
from server.core.config import Config
from server.node import spool
from server.node.mode import HaState, ha_state_path
from server.node.peer import PinnedClient, ask_once, peer_client, witness_client
from server.services import recording, session_moves
from server.services.context import Env
from server.services.orgs import SYSTEM
from server.store import audit, db

log = logging.getLogger("strongroom.monitor")

CALL_TIMEOUT = 0.8
REJOIN_RETRY = 3.0  # seconds between attempts to reach a peer that did not answer

_LOCAL = """
SELECT pg_is_in_recovery() AS recovery,
       current_setting('synchronous_standby_names') AS sync_names
"""
_RECEIVER = "SELECT status FROM pg_stat_wal_receiver"
_SET_SYNC_NAMES = "ALTER SYSTEM SET synchronous_standby_names = '{value}'"
_RELOAD = "SELECT pg_reload_conf()"
# Commits waiting on the standby: of what a read-only node would also record (released:
# they are then committed here, as durable as the audit spool), and of ordinary writes
# (ended when synchronous replication is required: their clients get outcome_unknown).
_RELEASE_PROMPT = """
SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
WHERE wait_event = 'SyncRep' AND application_name = $1
  AND now() - query_start >= make_interval(secs => $2)
"""
_SLOTS = """
SELECT slot_name, active, wal_status,
       (pg_current_wal_lsn() - restart_lsn)::bigint AS retained_bytes
FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY slot_name
"""
_DROP_LOST_SLOT = """
SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots
WHERE slot_name = $1 AND NOT active AND wal_status = 'lost'
"""
_WAL_SETTING = "SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = $1"
SLOT_CHECK_EVERY = 2.0  # seconds between looks at the slots' retained WAL
RESEED_GRACE = 30.0  # after a re-seed, seconds the standby has to stream before another
PROMPT_WAIT = 0.5  # no witness: the longest a login's or reveal's commit waits on a standby
_END_WAITING_WRITES = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE wait_event = 'SyncRep' AND application_name <> $1 AND usename = $2
"""


class PeerProbe:
    """The peer's health, asked in the background one request at a time, so that a step
    never waits on a silent peer (a frozen primary would otherwise slow every step of
    its standby by the call's timeout)."""

    def __init__(self, ask: Callable[[], Awaitable[tuple[int, dict]]]) -> None:
        self._ask = ask
        self._task: asyncio.Task | None = None
        self._sent = 0.0

    def poll(self) -> tuple[float, int, dict] | None:
        """The last finished probe's (send time, status, body), if one finished since the
        last poll; starts the next probe."""
        answer = None
        if self._task is not None and self._task.done():
            failed = self._task.cancelled() or self._task.exception() is not None
            status, body = (0, {}) if failed else self._task.result()
            answer = (self._sent, status, body)
            self._task = None
        if self._task is None:
            self._sent = time.monotonic()
            self._task = asyncio.create_task(self._ask(), name="peer-health")
        return answer

    async def close(self) -> None:
        """Stop the probe in flight."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


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
        self.standby = StandbyWatch()
        self.rejoining = False
        self._anchor_copy: asyncio.Task | None = None
        self.next_rejoin = 0.0
        self.probe = PeerProbe(self._peer_health)
        self.away_since: float | None = None  # no witness: when the standby went away
        self.next_slot_check = 0.0
        self.reseeded_at = -math.inf  # monotonic time of the last re-seed (a secondary)
        self.wal_limits_set = False
        self._audits: set[asyncio.Task] = set()

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

    async def _query(self, query: str, *args: Any) -> Any:
        conn = await self._local()
        if conn is None:
            return None
        try:
            return await conn.fetchrow(query, *args, timeout=1.0)
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
        await self.probe.close()
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
            delay = self.cfg.monitor_interval - elapsed
            if self.node.role == "secondary":  # wake when the failover timeout runs out
                due = self.last_primary_seen + self.cfg.failover_timeout - time.monotonic()
                delay = min(delay, due + 0.01) if due > 0 else delay
            await asyncio.sleep(max(0.05, delay))

    # -- primary ------------------------------------------------------------------

    async def primary_step(self) -> None:
        """Renew the lease, judge the standby, fence or go asynchronous (module docstring)."""
        node = self.node
        checked = time.monotonic()
        if node.fence_reason:  # deposed: only the rejoin is left to do
            if self.cfg.auto_rejoin and self.cluster is not None:
                await self.rejoin()
            return
        local, standby = await self._local_primary()
        probe = self.probe.poll()
        _, peer_status, peer = probe or (0.0, 0, {})
        if probe is not None and node.state.peer.name:
            node.peer_answered(peer_status != 0)
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
        self.standby.observe(standby, checked)
        keeps_up = self.standby.keeps_up(checked)
        in_sync = self.standby.in_sync(checked)
        if keeps_up:
            node.standby_kept_up(self.standby.kept_up_at + STANDBY_HOLD)
            node.reseed.discard(peer_name)  # a re-seeded standby streams again
        await self._watch_slots(peer_name)

        lease_held = False
        if self.witness is None:
            node.lease_renewed(math.inf)  # manual failover: nothing to fence against
        else:
            sent = time.monotonic()
            status, body = await self.witness.call(
                "POST", "/lease", {"node": node.name, "sync": in_sync}
            )
            node.witness_reachable = status != 0
            if status == 200:
                node.raise_term(int(body["term"]))
                node.lease_renewed(sent + self.cfg.fence_after)
                lease_held = True
            elif status == 409:
                await self._deposed(
                    f"the witness gave the lease to {body.get('holder')} (term {body.get('term')})"
                )
                return

        if self.witness is None:
            await self._manage_alone(local["sync_names"], standby, keeps_up, peer_name)
        else:
            await self._manage_sync(local["sync_names"], keeps_up, in_sync, lease_held, peer_name)
        if self.env.anchors.unshipped and peer_status and self._anchor_copy is None:
            # In its own task: a slow peer must never delay the next lease renewal.
            self._anchor_copy = asyncio.create_task(self._copy_anchors())
        if node.records_in_database() and self.env.spool.has_events():
            # Spooled while fenced, or left over from a promotion whose ingest failed.
            await self._ingest_own_spool()
        if node.records_in_database() and (self.env.local.sessions or self.env.local.ended_hashes):
            await session_moves.store_own(self.env)  # logins made while fenced

    async def _local_primary(self) -> tuple[Any, Any]:
        local = await self._query(_LOCAL)
        if local is None or local["recovery"] or not self.node.state.peer.name:
            return local, None
        return local, await self._query(STANDBY_SQL, self.node.state.peer.name)

    async def _manage_sync(
        self, sync_names: str, keeps_up: bool, in_sync: bool, lease_held: bool, peer: str
    ) -> None:
        node = self.node
        if not peer:
            if sync_names:  # a removed node (remove-node) must never be waited for
                await self._set_sync_names("")
            node.sync, node.degraded = "none", False
            return
        node.sync_reason = "" if keeps_up else f"standby {peer} does not confirm WAL"
        if sync_names and not keeps_up:
            node.sync, node.degraded = "sync", True  # commits wait for the standby
            # The renewal just granted said in_sync=false: the witness will not hand
            # the lease to the lagging standby, so acknowledging alone is safe now.
            if lease_held and not in_sync:
                await self._set_sync_names("")
                self._audit_mode("async", f"standby {peer} stopped confirming WAL")
                away = self.standby.away(time.monotonic())
                log.warning(
                    "standby %s has not confirmed WAL for %s: replicating asynchronously",
                    peer,
                    "ever" if math.isinf(away) else f"{away:.1f} s",
                )
        elif not sync_names and keeps_up:
            await self._set_sync_names(f'"{peer}"')
            log.info("standby %s keeps up: replication is synchronous again", peer)
            self._audit_mode("sync", f"standby {peer} keeps up again")
        elif not sync_names:
            node.sync, node.degraded = "async", True
            node.sync_reason = f"standby {peer} is not in sync: replicating asynchronously"
        else:
            node.sync, node.degraded = ("sync", False) if in_sync else ("sync", True)

    async def _manage_alone(self, sync_names: str, row: Any, keeps_up: bool, peer: str) -> None:
        """A primary without a witness: synchronous while its standby streams and keeps
        up; when it is away, commits stop waiting for it after ``async_after`` (or, when
        synchronous replication is required, writes are refused at once). Issue 33."""
        node, rep = self.node, self.env.config.replication
        now = time.monotonic()
        if not peer:
            if sync_names:  # a removed node (remove-node) must never be waited for
                await self._set_sync_names("")
            node.sync, node.degraded, node.sync_reason = "none", False, ""
            node.commits_wait, node.writes_blocked, self.away_since = False, "", None
            return
        if row is not None and row["state"] == "streaming" and keeps_up:
            if sync_names:  # a standby that just stopped may not look away yet
                await self._release_waiters(end_writes=False, after=PROMPT_WAIT)
            self.away_since = None
            if not sync_names:
                await self._set_sync_names(f'"{peer}"')
                log.info("standby %s keeps up: replication is synchronous again", peer)
                self._audit_mode("sync", f"standby {peer} streams and keeps up again")
            elif node.writes_blocked:
                log.info("standby %s keeps up again: writes are accepted", peer)
                self._audit_mode("sync", f"standby {peer} keeps up again: writes accepted")
            node.sync, node.degraded, node.sync_reason = "sync", False, ""
            node.commits_wait, node.writes_blocked = False, ""
            return
        if self.away_since is None:
            last = self.standby.kept_up_at
            self.away_since = min(now, last) if math.isfinite(last) else now
        away = now - self.away_since
        node.degraded = True
        if rep.synchronous_required:
            if not node.writes_blocked:
                log.warning("standby %s is away: writes refused (synchronous required)", peer)
                self._audit_mode("blocked", f"standby {peer} is away; synchronous required")
            node.writes_blocked = (
                f"standby {peer} is away and replication.synchronous_required is set"
            )
            node.sync = "sync" if sync_names else "async"
            node.commits_wait = bool(sync_names)
            node.sync_reason = f"standby {peer} away for {away:.0f} s"
            if sync_names:
                await self._release_waiters(end_writes=True)
            return
        node.writes_blocked = ""
        if not sync_names:
            node.sync, node.commits_wait = "async", False
            node.sync_reason = f"standby {peer} is away: replicating asynchronously"
            return
        stopped = now < node.peer_stopping_until  # it said so at its graceful stop
        if away >= rep.async_after or stopped:
            await self._set_sync_names("")
            node.sync, node.commits_wait = "async", False
            node.sync_reason = f"standby {peer} is away: replicating asynchronously"
            if stopped:
                log.warning("standby %s stopped (it said so): replicating asynchronously", peer)
                self._audit_mode("async", f"standby {peer} stopped (it said so at its stop)")
                return
            log.warning(
                "standby %s away for %.1f s (no witness): replicating asynchronously",
                peer,
                away,
            )
            self._audit_mode("async", f"standby {peer} away for {away:.1f} s")
            return
        node.sync, node.commits_wait = "sync", True
        node.sync_reason = (
            f"standby {peer} away for {away:.0f} s: writes wait, asynchronous after "
            f"{rep.async_after:g} s"
        )
        await self._release_waiters(end_writes=False)

    async def _watch_slots(self, peer: str) -> None:
        """Apply the WAL limits once, then every ``SLOT_CHECK_EVERY``: record the WAL each
        standby's slot retains, warn near the limit, and when a standby fell past it (its
        slot ``lost``) make its slot afresh and mark it for a re-seed (issue 33, item 3)."""
        now = time.monotonic()
        if now < self.next_slot_check:
            return
        self.next_slot_check = now + SLOT_CHECK_EVERY
        conn = await self._local()
        if conn is None:
            return
        node, rep = self.node, self.env.config.replication
        try:
            if not self.wal_limits_set:
                await self._apply_wal_limits(conn)
            limit = await conn.fetchval(_WAL_SETTING, "max_slot_wal_keep_size", timeout=1.0)
            rows = await conn.fetch(_SLOTS, timeout=1.0)
            slots, warnings = [], []

            def say() -> None:
                # Every standby still to re-seed is said for as long as it waits (its
                # fresh slot is no longer "lost"), and at once, before the slot is made.
                reseeding = [
                    f"{n} fell past the WAL kept for it: re-seeding it" for n in sorted(node.reseed)
                ]
                node.wal_warning = "; ".join([*reseeding, *warnings])

            for row in rows:
                name = peer if peer and row["slot_name"] == slot_name(peer) else row["slot_name"]
                retained = int(row["retained_bytes"] or 0)
                slots.append(
                    {
                        "node": name,
                        "slot": row["slot_name"],
                        "active": row["active"],
                        "wal_status": row["wal_status"],
                        "retained_bytes": retained,
                        "limit_bytes": int(limit) if limit and limit > 0 else None,
                    }
                )
                if row["wal_status"] == "lost":
                    if name not in node.reseed:
                        log.warning("standby %s fell past the WAL kept for it: re-seed", name)
                    node.reseed.add(name)
                    say()
                    if await conn.fetchval(_DROP_LOST_SLOT, row["slot_name"], timeout=5.0):
                        await roles.ensure_slot(conn, row["slot_name"])
                elif limit and limit > 0 and retained > rep.wal_retained_warning * limit:
                    warnings.append(
                        f"{name}'s slot retains {retained // 2**20} MB of WAL "
                        f"(limit {int(limit) // 2**20} MB)"
                    )
            node.wal_slots = slots
            say()
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._drop_local()

    async def _apply_wal_limits(self, conn: asyncpg.Connection) -> None:
        """Set max_slot_wal_keep_size and wal_keep_size as configured (the former sized
        from the data directory's free space when not set)."""
        rep = self.env.config.replication
        keep = rep.max_slot_wal_keep_size or wal_limit_for(self.env.config)
        for name, value in (("max_slot_wal_keep_size", keep), ("wal_keep_size", rep.wal_keep_size)):
            await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        await conn.execute(_RELOAD)
        self.wal_limits_set = True
        log.info("WAL kept for an absent standby: up to %s", keep)

    async def _release_waiters(self, end_writes: bool, after: float = 0.0) -> None:
        """Release the commits of logins, reveals and token checks waiting on the absent
        standby (those waiting ``after`` seconds or more); with ``end_writes``, end the
        ordinary writes waiting too."""
        conn = await self._local()
        if conn is None:
            return
        try:
            await conn.fetchval(_RELEASE_PROMPT, db.PROMPT_APPLICATION, after, timeout=1.0)
            if end_writes:
                ended = await conn.fetchval(
                    _END_WAITING_WRITES,
                    db.PROMPT_APPLICATION,
                    self.env.config.database.app_user,
                    timeout=1.0,
                )
                if ended:
                    log.warning("ended %d write(s) waiting on the absent standby", ended)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._drop_local()

    def _audit_mode(self, mode: str, reason: str) -> None:
        """Audit a change of the replication mode in MSPOrg, in a task of its own (the
        monitor never waits on it)."""
        task = asyncio.create_task(self._record_mode(mode, reason))
        self._audits.add(task)
        task.add_done_callback(self._audits.discard)

    async def _record_mode(self, mode: str, reason: str) -> None:
        try:
            msp_id = await self.env.pool.fetchval("SELECT id FROM orgs WHERE is_msp", timeout=5)
            event = audit.Event(
                SYSTEM,
                "replication_mode_changed",
                "node",
                self.node.name,
                details={"mode": mode, "standby": self.node.state.peer.name, "reason": reason},
            )
            await recording.record(self.env, msp_id, event)
        except Exception:
            log.exception("could not audit the replication mode change (%s)", mode)

    async def _set_sync_names(self, value: str) -> None:
        conn = await self._local()
        if conn is None:
            return
        await conn.execute(_SET_SYNC_NAMES.format(value=value.replace("'", "''")))
        await conn.execute(_RELOAD)

    async def _deposed(self, reason: str) -> None:
        if not self.node.fence_reason:
            log.error("fenced: %s", reason)
        self.node.fence(f"this node is no longer the primary: {reason}")
        if self.cfg.auto_rejoin and self.cluster is not None:
            await self.rejoin()

    async def rejoin(self) -> None:
        """Become the new primary's standby; while the peer does not answer, wait.

        Nothing of the local data is changed until the peer answers (PeerUnreachable);
        attempts are spaced ``REJOIN_RETRY`` apart and health says why the node waits.
        """
        if self.rejoining or time.monotonic() < self.next_rejoin:
            return
        self.rejoining = True
        node = self.node
        try:
            assert self.cluster is not None
            source = peer_source(node.state)
            await asyncio.to_thread(rejoining.check_peer, self.cluster, source)
            await self._drop_local()
            how = await asyncio.to_thread(
                rejoining.rejoin_cluster, self.cluster, source, node.name, node.term
            )
            log.warning("rejoined as the standby of %s (%s)", node.state.peer.name, how)
            node.rejoin = ""
            await self._became_secondary()
        except PeerUnreachable as exc:
            if not node.rejoin:
                log.error("cannot rejoin yet, waiting for the peer (data untouched): %s", exc)
            node.rejoin = f"waiting for {node.state.peer.name}: {exc}"
            self.next_rejoin = time.monotonic() + REJOIN_RETRY
        except ClusterError as exc:
            log.error("rejoin failed (will retry; data untouched): %s", exc)
            node.rejoin = f"rejoin failed, retrying: {exc}"
            self.next_rejoin = time.monotonic() + REJOIN_RETRY
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
        self.standby = StandbyWatch()
        await self.env.pool.expire_connections()

    # -- secondary ----------------------------------------------------------------

    async def secondary_step(self) -> None:
        """Watch the primary's application; promote when it is gone and the witness agrees."""
        node = self.node
        local, receiver = await self._local_secondary()
        probe = self.probe.poll()
        asked, peer_status, peer = probe or (0.0, 0, {})
        if probe is not None:
            node.peer_answered(peer_status != 0)
        if local is None:
            return
        if not local["recovery"]:
            log.warning("the local database was promoted; this node is the primary now")
            node.state = type(node.state).load(node.state_path)  # a manual promote's term
            await self._became_primary(None)
            return
        if peer_status == 200 and peer.get("role") == "primary":
            node.raise_term(int(peer.get("term", 0)))
            if not peer.get("read_only", True):
                was = node.removed
                node.standby_named(peer)
                if node.removed and not was:
                    log.warning("this node was %s", node.removed)
                # Alive at some moment after the probe was sent: count from the sending.
                self.last_primary_seen = max(self.last_primary_seen, asked)
                await self._ship_spool()
                await self._move_sessions()
        streaming = receiver is not None and receiver["status"] == "streaming"
        if (
            peer_status == 200
            and node.name in peer.get("reseed", [])
            and not streaming  # a re-seeded standby streams: the primary will notice
            and asked > self.reseeded_at + RESEED_GRACE
        ):
            await self._reseed()
            return
        if receiver is not None and receiver["status"] == "streaming":
            await self._forget_replaced()
        silent = time.monotonic() - self.last_primary_seen
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
            log.warning(
                "promoted: writable %.2f s after the lease was granted", time.monotonic() - sent
            )

    async def _local_secondary(self) -> tuple[Any, Any]:
        local = await self._query(_LOCAL)
        if local is None or not local["recovery"]:
            return local, None
        return local, await self._query(_RECEIVER)

    async def _reseed(self) -> None:
        """This standby fell past the WAL its primary kept: replace its data by a fresh base
        backup (the old directory kept until it streams). It is not in sync meanwhile, so
        the witness would not let it promote; the monitor waits for the copy."""
        if self.cluster is None or self.rejoining or time.monotonic() < self.next_rejoin:
            return
        node = self.node
        self.rejoining = True
        node.rejoin = f"re-seeding from {node.state.peer.name}: past the WAL it kept"
        log.warning("%s", node.rejoin)
        try:
            source = peer_source(node.state)
            await self._drop_local()
            await self.env.pool.expire_connections()
            await asyncio.to_thread(
                rejoining.rejoin_cluster, self.cluster, source, node.name, node.term, True
            )
            log.warning("re-seeded by a fresh base backup from %s", node.state.peer.name)
            self.reseeded_at = time.monotonic()
            node.rejoin = ""
            self.last_primary_seen = time.monotonic()
            await self.env.pool.expire_connections()
        except ClusterError as exc:  # PeerUnreachable included: data untouched
            log.error("re-seed failed (will retry): %s", exc)
            node.rejoin = f"re-seed failed, retrying: {exc}"
            self.next_rejoin = time.monotonic() + REJOIN_RETRY
        finally:
            self.rejoining = False

    async def _forget_replaced(self) -> None:
        """The new standby streams: the data directory its rejoin replaced can go."""
        if self.cluster is None or not rejoining.has_replaced(self.cluster):
            return
        removed = await asyncio.to_thread(rejoining.remove_replaced, self.cluster)
        log.info("standby streams: removed %s", ", ".join(str(p) for p in removed))

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
        node.rejoin = ""
        if self.witness is None:
            node.write_deadline = math.inf
        elif lease_sent is not None:
            node.write_deadline = lease_sent + self.cfg.fence_after
        self.standby = StandbyWatch()
        await self.env.pool.expire_connections()
        await self._ingest_own_spool()
        await session_moves.store_own(self.env)

    async def _ingest_own_spool(self) -> None:
        records = await self.env.spool.pending()
        if not records:
            return
        added = await spool.ingest(self.env.pool, self.env.ring, records)
        await self.env.spool.delivered({r["spool_id"] for r in records})
        log.info("ingested %d spooled audit events (%d new)", len(records), added)

    async def _copy_anchors(self) -> None:
        """Copy the audit anchors written since the last copy to the peer (server/store/anchors.py),
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

    async def _ship_spool(self, client: PinnedClient | None = None) -> None:
        peer = client or self.peer
        if peer is None or not self.env.spool.has_events():
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

    async def ship_before_stop(self) -> None:
        """A graceful stop (the server no longer listens and every request in flight has
        been answered): a secondary ships what its audit spool holds to the primary, a
        primary that may write records it in its own database, before the process exits
        (issue 33, item 5). What cannot be delivered stays in the spool (and in backups).
        A secondary also tells its primary it is stopping, so that a primary without a
        witness stops waiting for it as soon as it goes (``note_standby_stopping``)."""
        if self.node.role == "secondary":
            await self._say_stopping()
        if not self.env.spool.has_events():
            return
        try:
            if self.node.role == "secondary":
                await self._ship_before_stop()
            elif self.node.records_in_database():
                await asyncio.wait_for(self._ingest_own_spool(), 6.0)
        except Exception:
            log.exception("could not deliver the audit spool before stopping")
        if self.env.spool.has_events():
            log.warning(
                "stopping with audit events still in the spool (%s): they are shipped when "
                "this node runs again",
                self.env.spool.path,
            )

    async def _say_stopping(self) -> None:
        """Tell the primary this standby is stopping (best effort, at most 2 s: a primary
        that does not hear it falls back on ``replication.async_after``)."""
        url = self.node.state.peer.url
        if not url:
            return
        client = peer_client(self.env.config, url, 2.0, self.node.state.cluster_secret)
        try:
            status, _ = await asyncio.wait_for(
                client.call(
                    "POST",
                    "/api/v1/cluster/standby-stopping",
                    {"name": self.node.name},
                    budget=2.0,
                ),
                2.5,
            )
            if status != 200:
                log.info("the primary did not take the word that this node stops (%s)", status)
        except Exception as exc:  # a stop goes on whatever the primary answers
            log.info("could not tell the primary this node stops: %s", exc)
        finally:
            await client.close()

    async def _ship_before_stop(self, seconds: float = 6.0) -> None:
        """Ship the spool through a client of its own (the monitor's may hold a connection
        its cancelled step broke), retried until it is empty or ``seconds`` pass."""
        url = self.node.state.peer.url
        if not url:
            return
        client = peer_client(self.env.config, url, 2.0, self.node.state.cluster_secret)
        deadline = time.monotonic() + seconds
        try:
            while self.env.spool.has_events() and time.monotonic() < deadline:
                left = max(0.1, deadline - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ship_spool(client), left)
                if self.env.spool.has_events():
                    await asyncio.sleep(0.2)
        finally:
            await client.close()

    async def _move_sessions(self) -> None:
        """Send the sessions made here while the primary was away (and the logouts it has
        not heard of) to the primary: server/services/session_moves.py."""
        peer, local = self.peer, self.env.local
        if peer is None or not (local.unmoved() or local.ended_hashes):
            return
        sent = session_moves.outgoing(local)
        status, answer = await peer.call("POST", "/api/v1/cluster/sessions", sent, budget=5.0)
        if status == 200:
            session_moves.answered(local, sent, answer)
            log.info(
                "moved %d sessions to the primary (%d refused), %d logouts sent",
                len(answer.get("accepted", [])),
                len(answer.get("refused", [])),
                len(sent["ended"]),
            )
        elif status:
            log.warning("the primary refused the moved sessions (HTTP %d): %s", status, answer)


async def replaced_by(config: Config) -> tuple[str, int] | None:
    """Before a former primary starts its database: has another node taken over?

    Asks the witness (who holds the lease, at what term) and the peer (its role and
    term). Answers why this node must not start read-write and the new term, or None
    when it may.
    """
    state = HaState.load(ha_state_path(config))
    if not state.peer.name:
        return None
    status, lease = await ask_once(witness_client(config, 2.0), "/lease")
    holder = lease.get("holder")
    if status == 200 and holder and holder != config.node.name and lease["term"] > state.term:
        return f"the witness gave {holder} the lease at term {lease['term']}", lease["term"]
    status, health = await ask_once(peer_client(config, state.peer.url, 2.0), "/api/v1/health")
    if status and health.get("role") == "primary" and health.get("term", 0) > state.term:
        return f"{state.peer.name} is primary at term {health['term']}", health["term"]
    return None


async def peer_primary_answers(config: Config, state: HaState) -> str | None:
    """Why a manual promotion would be unsafe (the primary still takes writes), or None."""
    if not state.peer.url:
        return None
    status, health = await ask_once(peer_client(config, state.peer.url, 2.0), "/api/v1/health")
    if status == 200 and health.get("role") == "primary" and not health.get("read_only"):
        return f"the primary {state.peer.name} at {state.peer.url} still takes writes"
    return None


def wal_limit_for(config: Config) -> str:
    """The default max_slot_wal_keep_size: a quarter of the free space where the data
    directory lives, between 1 GB and 64 GB (issue 33, item 3)."""
    import shutil

    folder = config.path(config.database.data_dir)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free_mb = shutil.disk_usage(folder).free // 2**20
    return f"{max(1024, min(64 * 1024, free_mb // 4))}MB"
