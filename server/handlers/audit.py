"""The audit trail of an org: /orgs/{org}/audit and /orgs/{org}/audit/verify."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.handlers.common import actor
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import audit_settings, audit_trail
from server.validation import validate


@paging.paged_list
async def list_audit(request: web.Request, page: paging.Page) -> web.Response:
    """Events newest first; filters since, until, operation, actor; paged."""
    return json_response(
        await audit_trail.list_events(
            get_env(request), actor(request), request.match_info["org"], dict(request.query), page
        )
    )


async def verify_audit(request: web.Request) -> web.Response:
    """Check the org's hash chain and name the first broken link."""
    return json_response(
        await audit_trail.verify_chain(get_env(request), actor(request), request.match_info["org"])
    )


async def get_audit_settings(request: web.Request) -> web.Response:
    """Retention and per-operation settings (recorded, alert) of the org."""
    return json_response(
        await audit_settings.get_settings(
            get_env(request), actor(request), request.match_info["org"]
        )
    )


async def put_audit_settings(request: web.Request) -> web.Response:
    """Change retention and per-operation settings."""
    data = validate(await read_json(request), audit_settings.SETTINGS_FIELDS)
    return json_response(
        await audit_settings.put_settings(
            get_env(request), actor(request), request.match_info["org"], data
        )
    )


@paging.paged_list
async def list_alerts(request: web.Request, page: paging.Page) -> web.Response:
    """The newest events of operations marked as alerts."""
    items = await audit_settings.alerts(get_env(request), actor(request), request.match_info["org"])
    return json_response(paging.paged(items, page, paging.newest_first))


async def purge_audit(request: web.Request) -> web.Response:
    """Purge events older than the org's retention now (leaves a sealed checkpoint)."""
    return json_response(
        await audit_settings.purge_org(get_env(request), actor(request), request.match_info["org"])
    )
