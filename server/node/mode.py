"""This node's place in the pair: role, term, whether it may write right now.

``Node`` is the one place that knows the node's mode. The read-only middleware asks
``refuse_write()`` before any write route runs, so no handler has its own check.

A primary may write only until ``write_deadline`` (a monotonic time): the failover
monitor moves the deadline forward each time it renews the witness lease
(``lease_renewed``) or sees its standby keeping up (``standby_kept_up``). When the
monitor cannot do either (the node was frozen, cut off, or its monitor died) the
deadline passes by itself and the node is fenced, before the lease can expire at the
witness. Once fenced, only a lease renewal opens it again: evidence of a streaming
standby may keep an open primary open but never reopens a fenced one (a stale
``pg_stat_replication`` row must not). Without a witness the deadline never passes:
promotion is then manual.

The term and what the node knows about its peer are kept in ``conf/ha-state.json``
(written atomically and fsync'd).
"""

from __future__ import annotations

import json
import math
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from server.core.config import Config
from server.core.errors import StrongroomError
from server.core.files import write_durably


class ReadOnly(StrongroomError):
    """A write was sent to a node that does not take writes now."""

    status = 503
    code = "read_only"
    title = "Read-only node"


class StandbyUnavailable(StrongroomError):
    """A write on a primary that must replicate synchronously while its standby is away."""

    status = 503
    code = "standby_unavailable"
    title = "Standby unavailable"


class NodeRemoved(StrongroomError):
    """A request to a secondary its primary no longer counts as its standby."""

    status = 503
    code = "node_removed"
    title = "Node removed from the pair"


@dataclass
class Peer:
    """The other node of the pair, as this node reaches it."""

    name: str = ""
    url: str = ""
    db_host: str = ""
    db_port: int = 0


@dataclass
class HaState:
    """What survives a restart: the highest term seen, the peer, the cluster secret."""

    term: int = 0
    peer: Peer = field(default_factory=Peer)
    cluster_secret: str = ""  # authenticates node-to-node calls (spool shipping)
    replication_password: str = ""  # the replication role's, shared by both nodes

    @classmethod
    def load(cls, path: Path) -> HaState:
        """Read the state file (a missing file is a fresh node)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        return cls(
            term=int(raw.get("term", 0)),
            peer=Peer(**raw.get("peer", {})),
            cluster_secret=raw.get("cluster_secret", ""),
            replication_password=raw.get("replication_password", ""),
        )

    def save(self, path: Path) -> None:
        """Replace the state file atomically and durably."""
        write_durably(path, json.dumps(asdict(self), indent=2) + "\n")


@dataclass
class Node:
    """The running node's mode, shared by the web app and the failover monitor."""

    name: str
    role: str  # "primary" or "secondary": what the local database is
    state_path: Path
    state: HaState
    witness: bool = False  # a witness is configured (automatic failover)
    write_deadline: float = math.inf
    fence_reason: str = ""
    degraded: bool = False
    sync: str = "none"  # "sync", "async" or "none" (no standby)
    witness_reachable: bool | None = None
    primary_url: str = ""  # where writes go when this node cannot take them
    own_url: str = ""
    rejoin: str = ""  # why a deposed node is not yet the new standby ("" when not waiting)
    peer_seen_at: float | None = None  # wall clock of the peer's last health answer
    peer_silent_since: float | None = None  # wall clock of the first miss after that
    # Issue 33 (a pair without a witness): commits wait on a standby that is away (the
    # monitor sets it); logins, logouts and reveals then record locally (spool, memory)
    # and reads run READ ONLY, so none of them waits for it.
    commits_wait: bool = False
    # Why writes are refused at once (replication.synchronous_required and the standby
    # away); "" when they are not.
    writes_blocked: str = ""
    sync_reason: str = ""  # why replication is not synchronous now ("" when it is)
    # Issue 33, item 3 (a primary): the WAL each standby's slot retains, a warning when one
    # nears replication.max_slot_wal_keep_size, and the standbys that fell past it and
    # must be re-seeded by a fresh base backup (they ask for it when they see their name).
    wal_slots: list[dict[str, Any]] = field(default_factory=list)
    wal_warning: str = ""
    reseed: set[str] = field(default_factory=set)
    # A primary: until when (monotonic) its standby's word that it is stopping gracefully
    # holds (POST /cluster/standby-stopping); a witness-less primary then stops waiting for
    # it as soon as it goes, not after replication.async_after (issue 33).
    peer_stopping_until: float = 0.0
    # A secondary its primary no longer counts as its standby (``strongroom cluster
    # remove-node`` while it was away, or a replacement enrolled): why, in words; "" when
    # it is the standby. Its data no longer follows the primary, so it serves nothing but
    # its health and node-to-node calls (``refuse_if_removed``).
    removed: str = ""

    def peer_answered(self, answered: bool) -> None:
        """Record one health probe of the peer (the monitor's): when it last answered
        and since when it has not."""
        now = time.time()
        if answered:
            self.peer_seen_at, self.peer_silent_since = now, None
        elif self.peer_silent_since is None:
            self.peer_silent_since = now

    @property
    def term(self) -> int:
        """The highest term this node knows."""
        return self.state.term

    def writable(self) -> bool:
        """True when this node is a primary that may take writes at this instant."""
        return (
            self.role == "primary"
            and not self.fence_reason
            and not self.writes_blocked
            and time.monotonic() < self.write_deadline
        )

    def records_in_database(self) -> bool:
        """True when what a login, logout or reveal records may go to this node's database
        now: it may write and no commit waits on an absent standby (issue 33). Otherwise
        such events take the audit spool, sessions stay in memory, as on a secondary."""
        return self.writable() and not self.commits_wait

    def reads_read_only(self) -> bool:
        """True when this primary's reads must run in READ ONLY transactions (sql/008): it
        may not write, or its commits would wait on an absent standby."""
        return self.role == "primary" and not self.records_in_database()

    def fenced(self) -> bool:
        """True when this node's database is a primary's but the node may not write now
        (a lost lease or term; not a write block for an absent standby)."""
        return self.role == "primary" and not self.writes_blocked and not self.writable()

    def refuse_write(self) -> None:
        """Raise ``read_only`` (503, with the primary's address) unless writes are allowed."""
        if self.writable():
            return
        if self.role == "primary" and self.writes_blocked:
            raise StandbyUnavailable(
                f"writes are refused: {self.writes_blocked}; logins, reveals and reads keep working"
            )
        if self.role == "primary":
            reason = self.fence_reason or "it cannot confirm it is still the primary"
            # A fenced primary's peer is where writes most likely go now.
            raise ReadOnly(
                f"this node is fenced and refuses writes: {reason}",
                primary=self.state.peer.url or self.primary_url,
            )
        raise ReadOnly(
            "this node is a read-only secondary; send changes to the primary",
            primary=self.primary_url,
        )

    def standby_named(self, primary: dict[str, Any]) -> None:
        """Read a writable primary's health answer (the monitor's probe): is this node still
        the standby it names (``standby``)? A primary that does not say (an older
        version) changes nothing. Source: session 9's note (a removed node that still
        ran said it was healthy and answered from data that no longer followed)."""
        if self.role != "secondary" or "standby" not in primary:
            return
        named = primary.get("standby")
        if named == self.name:
            self.removed = ""
            return
        instead = f" (its standby is now {named})" if named else ""
        self.removed = (
            f"removed from the pair: the primary at {self.primary_url or self.state.peer.url} "
            f"no longer streams to this node{instead}; its data is out of date. Stop it and "
            "delete its directory, or enroll it again (strongroom init --secondary)"
        )

    def refuse_if_removed(self) -> None:
        """Raise ``node_removed`` (503, with the primary's address) on a removed node."""
        if self.removed:
            raise NodeRemoved(
                f"this node was {self.removed}",
                primary=self.primary_url or self.state.peer.url or None,
            )

    def raise_term(self, term: int) -> None:
        """Remember a higher term (durably) when one is seen."""
        if term > self.state.term:
            self.state.term = term
            self.state.save(self.state_path)

    def lease_renewed(self, deadline: float) -> None:
        """The witness renewed the lease: write until ``deadline`` (opens a fenced node).

        Args:
            deadline: monotonic time, the renewal's send time plus ``fence_after``.
        """
        self.write_deadline = max(self.write_deadline, deadline)

    def standby_kept_up(self, deadline: float) -> None:
        """The standby confirmed recent WAL: an *open* primary may write until ``deadline``.

        Never reopens a fenced primary (the evidence may be stale); never shortens.
        """
        if self.writable():
            self.write_deadline = max(self.write_deadline, deadline)

    def fence(self, reason: str) -> None:
        """Refuse writes from now on (a primary that lost its lease or its term)."""
        self.fence_reason = reason
        self.write_deadline = 0.0

    def as_dict(self) -> dict[str, Any]:
        """How health and the cluster view show this node."""
        return {
            "name": self.name,
            "role": self.role,
            "read_only": not self.writable(),
            "term": self.term,
            "degraded": self.degraded,
            "fenced": self.fenced(),
            "fence_reason": self.fence_reason or None,
            "replication": self.sync,
            "rejoin": self.rejoin or None,
            "writes_blocked": self.writes_blocked or None,
            "replication_reason": self.sync_reason or None,
            "wal_retained": self.wal_slots,
            "wal_warning": self.wal_warning or None,
        }


def ha_state_path(config: Config) -> Path:
    """Where a node keeps its term and its peer."""
    return config.home / "conf" / "ha-state.json"


def load_node(config: Config) -> Node:
    """This node's mode at start-up, from what is on disk.

    An embedded cluster with ``standby.signal`` is a secondary, anything else a primary
    (the configured role only matters for an external database). A primary paired with
    a secondary takes no write until its failover monitor has checked the term.
    """
    state_path = ha_state_path(config)
    state = HaState.load(state_path)
    if config.database.embedded:
        standby = (config.path(config.database.data_dir) / "standby.signal").exists()
        role = "secondary" if standby else "primary"
    else:
        role = config.node.role
    own_url = config.server.public_url or f"https://{socket.gethostname()}:{config.server.port}"
    return Node(
        name=config.node.name,
        role=role,
        state_path=state_path,
        state=state,
        witness=bool(config.node.witness_url),
        # Paired, or arbitrated by a witness: no write before the monitor's first check.
        write_deadline=0.0 if state.peer.name or config.node.witness_url else math.inf,
        primary_url=own_url if role == "primary" else state.peer.url,
        own_url=own_url,
    )
