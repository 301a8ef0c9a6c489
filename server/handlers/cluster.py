"""The cluster's own endpoints: the view of both nodes, enrollment, audit spool delivery."""

from __future__ import annotations

import hmac

from aiohttp import web

from replication import enroll as enrollment
from server import spool
from server.errors import Unauthenticated, ValidationFailed
from server.handlers.common import actor, env, public, works_read_only
from server.problem import json_response, read_json
from server.services.cluster import cluster_state


async def cluster(request: web.Request) -> web.Response:
    """Nodes, roles, term, replication state and lag, witness (MSPOrg administrators)."""
    return json_response(await cluster_state(env(request), actor(request)))


@public
async def enroll(request: web.Request) -> web.Response:
    """Enroll a secondary with a one-time token (sent by strongroom init --secondary)."""
    return json_response(await enrollment.enroll(env(request), await read_json(request)))


@public
async def receive_spool(request: web.Request) -> web.Response:
    """Ingest audit events spooled on the secondary (node-to-node, cluster secret)."""
    e = env(request)
    _require_peer(request, "deliver spooled audit events")
    data = await read_json(request)
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(r, dict) for r in events):
        raise ValidationFailed([{"field": "events", "message": "must be a list of events"}])
    try:
        added = await spool.ingest(e.pool, e.ring, events)
    except (spool.SpoolTampered, KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed([{"field": "events", "message": str(exc)}]) from None
    return json_response({"received": len(events), "added": added})


def _require_peer(request: web.Request, what: str) -> None:
    """Only the other node of the pair, holding the cluster secret, gets past."""
    secret = env(request).node_state.state.cluster_secret
    given = request.headers.get("Authorization", "")
    if not secret or not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
        raise Unauthenticated(f"only the peer node may {what}")


@public
@works_read_only
async def receive_anchors(request: web.Request) -> web.Response:
    """Keep a copy of the peer's audit anchors (node-to-node, cluster secret); each must
    carry a valid signature."""
    _require_peer(request, "deliver audit anchors")
    data = await read_json(request)
    anchors = data.get("anchors")
    if not isinstance(anchors, list) or len(anchors) > 100_000:
        raise ValidationFailed([{"field": "anchors", "message": "must be a list of anchors"}])
    try:
        added = await env(request).anchors.accept(anchors)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed([{"field": "anchors", "message": str(exc)}]) from None
    return json_response({"received": len(anchors), "added": added})
