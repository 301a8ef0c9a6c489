"""This node and its pair: health, the cluster view, enrollment, audit spool delivery."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from server.web.models.common import Answer, Body, JsonObject, integer, text


class Health(Answer):
    """``GET /health``: the node's role and whether its database answers (503 when not)."""

    model_config = ConfigDict(extra="allow")  # operational details grow with the node

    status: Literal["ok", "unavailable"]
    role: str
    read_only: bool
    term: int
    degraded: bool
    # A primary's replication now: "sync", "async" (its standby is away and it stopped
    # waiting for it) or "none" (no standby); None on a secondary (issue 33).
    sync: Literal["sync", "async", "none"] | None = None
    # True while writes answer 503 standby_unavailable (replication.synchronous_required).
    writes_blocked: bool = False
    reason: str | None = None  # why degraded, asynchronous or blocked, in words
    spool_pending: bool = False  # audit events spooled here, not yet shipped
    # A primary: per standby slot {node, slot, active, wal_status, retained_bytes,
    # limit_bytes}; degraded once one passes replication.wal_retained_warning of the limit.
    wal_retained: list[dict[str, Any]] | None = None
    reseed: list[str] = []  # standbys that fell past the WAL kept: re-seeded by base backup
    # A primary: the name of the standby it streams to (None: none); a secondary that is
    # not named is removed from the pair (503 node_removed to everything but its health).
    standby: str | None = None
    # A primary: SIEM forwarding {destinations, lag (the largest), failing: ["org/name"]}.
    forwarding: dict[str, Any] | None = None


class RemoveNodeBody(Body):
    """``POST /cluster/remove-node`` (node to node, cluster secret): the node to remove."""

    name: Annotated[str, Field(min_length=1, max_length=63)]


class NodeRemoved(Answer):
    """A secondary removed from this primary (issue 33)."""

    removed: str
    slot_dropped: bool
    was_peer: bool
    node_reachable: bool
    spool: str
    # Audit events collected from the removed node's spool and recorded here (issue 33).
    spool_collected: int = 0


class ClusterView(Answer):
    """``GET /cluster``: both nodes, replication, lag and the witness."""

    model_config = ConfigDict(extra="allow")

    term: int
    nodes: list[dict[str, Any]]
    standbys: list[dict[str, Any]]
    replication: str
    witness: dict[str, Any] | None
    promotion: dict[str, Any] | None = None  # on a secondary: would the witness allow it
    # The silent install's registration details (name, mail, phone, company, country);
    # None when the node was not made by a silent install.
    registration: dict[str, str] | None = None


class Enrollment(Answer):
    """What a secondary receives when it enrolls (secrets: the pair's, over pinned TLS)."""

    model_config = ConfigDict(extra="allow")


# ``POST /cluster/enroll``: the one-time token's secret, the secondary's node name, its
# API address and its database's address, as ``strongroom init --secondary`` sends them
# (replication.enroll.init_secondary).
class EnrollBody(Body):
    secret: text(200, non_empty=True)
    name: text(63, non_empty=True)
    url: text(500, non_empty=True)
    db_host: text(255, non_empty=True)
    db_port: integer()


class SpoolBody(Body):
    """``POST /cluster/spool``: audit events the secondary spooled (peer node only)."""

    events: list[JsonObject]


class SpoolHeld(Answer):
    """``POST /cluster/spool/collect`` (peer node only): the audit events this node holds
    in its spool, for a primary removing it to record (issue 33, item 5)."""

    events: list[JsonObject]


class SpoolDeliveredBody(Body):
    """``POST /cluster/spool/delivered`` (peer node only): the spooled events the primary
    has recorded, which this node may drop."""

    spool_ids: Annotated[list[Annotated[str, Field(max_length=36)]], Field(max_length=100_000)]


class SpoolDropped(Answer):
    """How many spooled events were dropped."""

    dropped: int


class MovedSession(Body):
    """A session made on the secondary while it could not write (never the token)."""

    token_hash: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    org_id: str
    user_id: str
    binding: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    created_at: str
    last_seen_at: str
    expires_at: str
    ip: Annotated[str, Field(max_length=64)] = ""


class EndedSession(Body):
    """A session logged out on the secondary that the primary may hold."""

    token_hash: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    org_id: str


class SessionsBody(Body):
    """``POST /cluster/sessions``: sessions and logouts of the secondary (peer node only)."""

    sessions: Annotated[list[MovedSession], Field(max_length=100_000)]
    ended: Annotated[list[EndedSession], Field(max_length=100_000)] = []


class SessionsMoved(Answer):
    """Which moved sessions the primary stored and refused (token hashes), how many
    logouts ended a session."""

    accepted: list[str]
    refused: list[str]
    ended: int


class AnchorsBody(Body):
    """``POST /cluster/anchors``: the peer's signed audit anchors (peer node only)."""

    anchors: Annotated[list[JsonObject], Field(max_length=100_000)]


class Received(Answer):
    """How many spooled events (or anchors) arrived and how many were new."""

    received: int
    added: int


class StandbyStoppingBody(Body):
    """``POST /cluster/standby-stopping`` (node to node, cluster secret): the standby that
    is stopping gracefully."""

    name: Annotated[str, Field(min_length=1, max_length=63)]


class StandbyStoppingNoted(Answer):
    """Whether the primary took the word: ``noted`` is false when ``name`` is not its
    standby (nothing changes then)."""

    noted: bool
