"""The cluster's own endpoints: the view of both nodes, enrollment, audit spool delivery."""

from __future__ import annotations

import functools
import hmac

from aiohttp import web

from replication import enroll as enrollment
from server import spool
from server.api import operation
from server.errors import Unauthenticated, ValidationFailed
from server.handlers.common import actor, env, public
from server.models.cluster import ClusterView, Enrollment, SpoolBody, SpoolReceived
from server.models.common import Body
from server.problem import json_response
from server.services.cluster import cluster_state
from server.validation import model_for


@operation(answers={200: ClusterView})
async def cluster(request: web.Request) -> web.Response:
    """Nodes, roles, term, replication state and lag, witness (MSPOrg administrators)."""
    return json_response(await cluster_state(env(request), actor(request)))


@public
@operation(
    body=model_for(enrollment.ENROLL_FIELDS, "EnrollBody"),
    answers={200: Enrollment},
    errors={403: "invalid_enrollment_token, name_taken"},
)
async def enroll(request: web.Request, body: Body) -> web.Response:
    """Enroll a secondary with a one-time token (sent by strongroom init --secondary)."""
    return json_response(await enrollment.enroll(env(request), body.given()))


def peer_only(handler):
    """Refuse anyone but the peer node (the cluster secret as bearer) before reading the
    body."""

    @functools.wraps(handler)
    async def checked(request: web.Request, *args):
        secret = env(request).node_state.state.cluster_secret
        given = request.headers.get("Authorization", "")
        if not secret or not hmac.compare_digest(given.encode(), f"Bearer {secret}".encode()):
            raise Unauthenticated("only the peer node may deliver spooled audit events")
        return await handler(request, *args)

    return checked


@public
@peer_only
@operation(
    body=SpoolBody, answers={200: SpoolReceived}, errors={401: "unauthenticated (not the peer)"}
)
async def receive_spool(request: web.Request, body: SpoolBody) -> web.Response:
    """Ingest audit events spooled on the secondary (node-to-node, cluster secret)."""
    e = env(request)
    events = body.given()["events"]
    try:
        added = await spool.ingest(e.pool, e.ring, events)
    except (spool.SpoolTampered, KeyError, ValueError, TypeError) as exc:
        raise ValidationFailed([{"field": "events", "message": str(exc)}]) from None
    return json_response({"received": len(events), "added": added})
