"""The MSP's own settings: replicating settings across client orgs (/msp/…)."""

from __future__ import annotations

from aiohttp import web

from server.services import replication_settings
from server.web.api import operation
from server.web.handlers.common import actor
from server.web.handlers.common import env as get_env
from server.web.models.org_settings import ReplicateBody, ReplicateSettings
from server.web.problem import json_response


@operation(answers={200: ReplicateSettings})
async def get_replicate_settings(request: web.Request) -> web.Response:
    """Which categories MSPOrg replicates to client orgs, and the name-clash rule."""
    return json_response(await replication_settings.get_settings(get_env(request), actor(request)))


@operation(body=ReplicateBody, answers={200: ReplicateSettings})
async def put_replicate_settings(request: web.Request, body: ReplicateBody) -> web.Response:
    """Save the categories and apply them to every client org; per-org results."""
    data = body.given()
    return json_response(
        await replication_settings.save_and_apply(get_env(request), actor(request), data)
    )
