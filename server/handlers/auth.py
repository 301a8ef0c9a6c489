"""POST /auth/login, /auth/logout, /auth/refresh."""

from __future__ import annotations

from aiohttp import web

from server.handlers.common import (
    actor,
    before_password_change,
    before_totp_setup,
    client_ip,
    public,
    works_read_only,
)
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import auth
from server.validation import Field, validate

LOGIN = {
    "username": Field(str, required=True, max_len=64),
    "password": Field(str, required=True, max_len=1024, strip=False),
    "org": Field(str, max_len=64),
    "otp": Field(str, max_len=12),
}


@public
@works_read_only
async def login(request: web.Request) -> web.Response:
    """Log in with username, password, org (default MSPOrg) and, when enabled, a TOTP code."""
    data = validate(await read_json(request), LOGIN)
    result = await auth.login(
        get_env(request),
        data["username"],
        data["password"],
        data.get("org"),
        data.get("otp"),
        client_ip(request),
    )
    return json_response(result.as_dict())


@before_password_change
@before_totp_setup
@works_read_only
async def logout(request: web.Request) -> web.Response:
    """End the current session."""
    await auth.logout(get_env(request), actor(request))
    return web.Response(status=204)


async def refresh(request: web.Request) -> web.Response:
    """Exchange the session token for a new one."""
    token, expires_at = await auth.refresh(get_env(request), actor(request))
    return json_response({"token": token, "expires_at": expires_at.isoformat()})
