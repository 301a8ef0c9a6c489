"""GET /api/v1/health: is this node up, and what is its role."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from server.handlers.common import public
from server.keys import CONFIG, POOL
from server.problem import json_response


async def cluster(request: web.Request) -> web.Response:
    """Nodes, roles, replication state and lag, term (MSPOrg administrators)."""
    from server.handlers.common import actor, env
    from server.services.cluster import cluster_state

    return json_response(await cluster_state(env(request), actor(request)))


@public
async def health(request: web.Request) -> web.Response:
    """Answer the node's role and whether its database answers."""
    config = request.app[CONFIG]
    database_ok = True
    try:
        async with asyncio.timeout(2):
            await request.app[POOL].fetchval("SELECT 1")
    except (asyncpg.PostgresError, OSError, TimeoutError):
        database_ok = False
    role = config.node.role
    body = {
        "status": "ok" if database_ok else "unavailable",
        "role": role,
        "read_only": role != "primary",
        "term": 0,
        "degraded": False,
        "database": "ok" if database_ok else "unreachable",
    }
    return json_response(body, status=200 if database_ok else 503)
