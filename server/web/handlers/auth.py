"""POST /auth/login, /auth/logout, /auth/refresh."""

from __future__ import annotations

from aiohttp import web

from server.services import auth
from server.services.context import Actor, Env
from server.web.api import operation
from server.web.handlers.common import (
    before_password_change,
    before_totp_setup,
    client_ip,
    public,
    works_read_only,
)
from server.web.models.auth import LoginAnswer, LoginBody, RefreshAnswer
from server.web.problem import json_response


@public
@works_read_only
@operation(
    body=LoginBody,
    answers={200: LoginAnswer},
    errors={
        401: "otp_required, invalid_otp, activation_code_required, invalid_activation_code",
        429: "rate_limited (Retry-After)",
    },
)
async def login(request: web.Request, *, env: Env, body: LoginBody) -> web.Response:
    """Log in with username, password, org (default MSPOrg) and, when enabled, a TOTP code;
    an account being activated needs its ``activation_code`` too."""
    data = body.given()
    result = await auth.login(
        env,
        data["username"],
        data["password"],
        data.get("org"),
        data.get("otp"),
        client_ip(request),
        activation_code=data.get("activation_code"),
    )
    return json_response(result.as_dict())


@before_password_change
@before_totp_setup
@works_read_only
@operation(answers={204: None})
async def logout(*, env: Env, actor: Actor) -> web.Response:
    """End the current session."""
    await auth.logout(env, actor)
    return web.Response(status=204)


@operation(answers={200: RefreshAnswer})
async def refresh(*, env: Env, actor: Actor) -> web.Response:
    """Exchange the session token for a new one."""
    token, expires_at = await auth.refresh(env, actor)
    return json_response({"token": token, "expires_at": expires_at.isoformat()})
