"""The MSP's own settings: replicating settings across client orgs (/msp/…)."""

from __future__ import annotations

from aiohttp import web

from server.services import replication_settings
from server.services.context import Actor, Env
from server.web.api import operation
from server.web.models.org_settings import ReplicateSettings, ReplicateSettingsBody
from server.web.problem import json_response


@operation(answers={200: ReplicateSettings})
async def get_replicate_settings(*, env: Env, actor: Actor) -> web.Response:
    """Which categories MSPOrg replicates to client orgs, and the name-clash rule."""
    return json_response(await replication_settings.get_settings(env, actor))


@operation(body=ReplicateSettingsBody, answers={200: ReplicateSettings})
async def put_replicate_settings(
    *, env: Env, actor: Actor, body: ReplicateSettingsBody
) -> web.Response:
    """Save the categories and apply them to every client org; per-org results."""
    return json_response(await replication_settings.save_and_apply(env, actor, body.given()))
