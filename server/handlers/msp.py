"""The MSP's own settings: replicating settings across client orgs (/msp/…)."""

from __future__ import annotations

from aiohttp import web

from server.handlers.common import actor
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import replication_settings
from server.validation import validate


async def get_replicate_settings(request: web.Request) -> web.Response:
    """Which categories MSPOrg replicates to client orgs, and the name-clash rule."""
    return json_response(await replication_settings.get_settings(get_env(request), actor(request)))


async def put_replicate_settings(request: web.Request) -> web.Response:
    """Save the categories and apply them to every client org; per-org results."""
    data = validate(await read_json(request), replication_settings.SETTINGS_FIELDS)
    return json_response(
        await replication_settings.save_and_apply(get_env(request), actor(request), data)
    )
