"""GET /{display_name}: where a client org's users log in."""

from __future__ import annotations

from aiohttp import web

from server import db
from server.api import operation
from server.errors import NotFound
from server.handlers.common import env as get_env
from server.handlers.common import public
from server.models.orgs import OrgLogin
from server.problem import json_response
from server.services.access import find_org


@public
@operation(answers={200: OrgLogin})
async def org_login(request: web.Request) -> web.Response:
    """The org's login URL, or 404 for an unknown org."""
    name = request.match_info["display_name"]
    async with db.transaction(get_env(request).pool, readonly=True) as conn:
        org = await find_org(conn, name)
    if org is None:
        raise NotFound(f"no organization named {name!r}")
    return json_response({"org": org["display_name"], "login": "/api/v1/auth/login"})
