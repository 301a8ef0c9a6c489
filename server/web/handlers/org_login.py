"""GET /{display_name}: where a client org's users log in."""

from __future__ import annotations

from aiohttp import web

from server.core.errors import Unauthenticated
from server.services import auth
from server.services.access import login_address
from server.services.context import Actor, Env
from server.web.api import operation
from server.web.handlers.common import client_ip, public
from server.web.models.orgs import OrgLogin
from server.web.problem import json_response


@public
@operation(answers={200: OrgLogin})
async def org_login(*, request: web.Request, env: Env, display_name: str) -> web.Response:
    """The org's login URL: the same answer for any name before login (no client list to
    enumerate); after login, the org's spelling for an org the caller reaches, else 404."""
    actor = await _caller(request, env)
    return json_response(await login_address(env.pool, display_name, actor))


async def _caller(request: web.Request, env: Env) -> Actor | None:
    """The actor of a valid bearer token, or None (no token, or one that does not log in:
    an invalid token is answered like no token, so it reveals nothing either)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return await auth.authenticate(env, token.strip(), client_ip(request))
    except Unauthenticated:
        return None
