"""The cluster's own endpoints: the view of both nodes, enrollment, audit spool delivery,
audit anchor copies."""

from __future__ import annotations

import functools
import hmac

from aiohttp import web

from replication import enroll as enrollment
from replication import membership
from server.core.errors import Conflict, Unauthenticated, ValidationFailed, coded
from server.node import spool
from server.services import session_moves
from server.services.access import MSP_ORG, require_msp_admin
from server.services.cluster import cluster_state
from server.services.context import Actor, Env
from server.store.audit import Who
from server.web.api import operation
from server.web.handlers.common import public, works_read_only
from server.web.keys import ENV
from server.web.models.cluster import (
    AnchorsBody,
    ClusterView,
    EnrollBody,
    Enrollment,
    NodeRemoved,
    Received,
    RemoveNodeBody,
    SessionsBody,
    SessionsMoved,
    SpoolBody,
    SpoolDeliveredBody,
    SpoolDropped,
    SpoolHeld,
    StandbyStoppingBody,
    StandbyStoppingNoted,
)
from server.web.problem import json_response


@operation(answers={200: ClusterView})
async def cluster(*, env: Env, actor: Actor) -> web.Response:
    """Nodes, roles, term, replication state and lag, witness (MSPOrg administrators)."""
    return json_response(await cluster_state(env, actor))


@public
@operation(
    body=EnrollBody,
    answers={200: Enrollment},
    errors={403: "invalid_enrollment_token, name_taken"},
)
async def enroll(*, env: Env, body: EnrollBody) -> web.Response:
    """Enroll a secondary with a one-time token (sent by strongroom init --secondary)."""
    return json_response(
        await enrollment.enroll(
            env,
            secret=body.secret,
            name=body.name,
            url=body.url,
            db_host=body.db_host,
            db_port=body.db_port,
        )
    )


def _require_peer(request: web.Request, what: str) -> None:
    """Only the other node of the pair, holding the cluster secret, gets past."""
    secret = request.app[ENV].node_state.state.cluster_secret
    given = request.headers.get("Authorization", "")
    if not secret or not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
        raise Unauthenticated(f"only the peer node may {what}")


def peer_only(what: str):
    """Refuse anyone but the peer node (the cluster secret as bearer) before the body is
    read."""

    def wrap(handler):
        @functools.wraps(handler)
        async def checked(request: web.Request, **given):
            _require_peer(request, what)
            return await handler(request, **given)

        checked.peer_only = True  # type: ignore[attr-defined]  # its 401s are audited
        return checked

    return wrap


@public
@peer_only("deliver spooled audit events")
@operation(body=SpoolBody, answers={200: Received}, errors={401: "unauthenticated (not the peer)"})
async def receive_spool(*, env: Env, body: SpoolBody) -> web.Response:
    """Ingest audit events spooled on the secondary (node-to-node, cluster secret)."""
    events = body.given()["events"]
    try:
        added = await spool.ingest(env.pool, env.ring, events)
    except (spool.SpoolTampered, KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed([{"field": "events", "message": str(exc)}]) from None
    return json_response({"received": len(events), "added": added})


@public
@peer_only("move sessions")
@operation(
    body=SessionsBody, answers={200: SessionsMoved}, errors={401: "unauthenticated (not the peer)"}
)
async def receive_sessions(*, env: Env, body: SessionsBody) -> web.Response:
    """Store the sessions the secondary made while it could not write, if their users
    and credentials are unchanged, and end those logged out there (node-to-node)."""
    try:
        answer = await session_moves.store(env, body.given(), env.node_state.state.peer.name)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed([{"field": "sessions", "message": str(exc)}]) from None
    return json_response(answer)


@public
@works_read_only
@peer_only("deliver audit anchors")
@operation(
    body=AnchorsBody, answers={200: Received}, errors={401: "unauthenticated (not the peer)"}
)
async def receive_anchors(*, env: Env, body: AnchorsBody) -> web.Response:
    """Keep a copy of the peer's audit anchors (node-to-node, cluster secret); each must
    carry a valid signature."""
    anchors = body.given()["anchors"]
    try:
        added = await env.anchors.accept(anchors)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed([{"field": "anchors", "message": str(exc)}]) from None
    return json_response({"received": len(anchors), "added": added})


@works_read_only  # a primary refusing writes for want of its standby may remove it
@operation(
    answers={200: NodeRemoved},
    errors={404: "no_such_node", 409: "not_primary"},
)
async def remove_node(*, env: Env, actor: Actor, name: str) -> web.Response:
    """Remove a secondary from this primary: no longer waited for, its replication slot
    dropped, forgotten as the peer (MSPOrg administrators; the TUI's server view)."""
    require_msp_admin(actor, "remove a node from the cluster")
    return json_response(await membership.remove_node(env, name, actor.who))


@public
@works_read_only
@peer_only("remove a node")
@operation(
    body=RemoveNodeBody,
    answers={200: NodeRemoved},
    errors={401: "unauthenticated (not a node of the pair)", 404: "no_such_node"},
)
async def remove_node_by_peer(*, env: Env, body: RemoveNodeBody) -> web.Response:
    """Remove a secondary (node to node, cluster secret): ``strongroom cluster remove-node``
    on this node, or a secondary's silent uninstall asking its primary."""
    name = body.given()["name"]
    # The cluster secret: this node's own command line, or the removed node's uninstall.
    who = Who("cluster-secret", MSP_ORG)
    return json_response(await membership.remove_node(env, name, who))


@public
@works_read_only
@peer_only("say a standby is stopping")
@operation(
    body=StandbyStoppingBody,
    answers={200: StandbyStoppingNoted},
    errors={401: "unauthenticated (not a node of the pair)"},
)
async def standby_stopping(*, env: Env, body: StandbyStoppingBody) -> web.Response:
    """A secondary stopping gracefully tells its primary (node to node, cluster secret), so
    that a pair without a witness stops waiting for it as soon as it goes (issue 33)."""
    return json_response({"noted": membership.note_standby_stopping(env, body.given()["name"])})


@public
@works_read_only
@peer_only("collect the audit spool")
@operation(
    answers={200: SpoolHeld},
    errors={401: "unauthenticated (not the peer)", 409: "spool_tampered"},
)
async def hand_over_spool(*, env: Env) -> web.Response:
    """The audit events held in this node's spool, for its primary removing it to record
    (node to node, cluster secret; issue 33, item 5). Nothing is dropped until the primary
    says they are recorded (``POST /cluster/spool/delivered``)."""
    try:
        events = await env.spool.pending()
    except spool.SpoolTampered as exc:
        raise coded(
            Conflict, "spool_tampered", f"the audit spool fails its chain check: {exc}"
        ) from None
    return json_response({"events": events})


@public
@works_read_only
@peer_only("acknowledge spooled audit events")
@operation(
    body=SpoolDeliveredBody,
    answers={200: SpoolDropped},
    errors={401: "unauthenticated (not the peer)"},
)
async def spool_delivered(*, env: Env, body: SpoolDeliveredBody) -> web.Response:
    """Drop the spooled events the primary has recorded (node to node, cluster secret)."""
    dropped = await env.spool.delivered(set(body.given()["spool_ids"]))
    return json_response({"dropped": dropped})
