"""GET /{display_name}: where a client org's users log in."""

from __future__ import annotations

from aiohttp import web

from server.core.errors import NotFound
from server.services.access import find_org
from server.services.context import Env
from server.store import db
from server.web.api import operation
from server.web.handlers.common import public
from server.web.models.orgs import OrgLogin
from server.web.problem import json_response


@public
@operation(answers={200: OrgLogin})
async def org_login(*, env: Env, display_name: str) -> web.Response:
    """The org's login URL, or 404 for an unknown org."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await find_org(conn, display_name)
    if org is None:
        raise NotFound(f"no organization named {display_name!r}")
    return json_response({"org": org["display_name"], "login": "/api/v1/auth/login"})
