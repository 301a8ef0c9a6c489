"""Authentication middleware: bearer token → Actor, and the first-login gates."""

from __future__ import annotations

from aiohttp import web

from server.core.errors import Forbidden, Unauthenticated, coded
from server.services import auth
from server.web.handlers.common import client_ip
from server.web.keys import ACTOR, ENV


@web.middleware
async def auth_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Authenticate every request to a non-public route."""
    match = request.match_info
    if match.http_exception is not None:
        return await handler(request)
    target = match.handler
    if getattr(target, "public", False):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send 'Authorization: Bearer <token>' (log in first)")
    actor = await auth.authenticate(request.app[ENV], token.strip(), client_ip(request))
    request[ACTOR] = actor  # known from here on, also to a refusal's audit event
    if actor.must_change_password and not getattr(target, "before_password_change", False):
        raise coded(
            Forbidden,
            "password_change_required",
            "change your password first (POST /api/v1/me/password)",
        )
    if actor.totp_setup_required and not getattr(target, "before_totp_setup", False):
        raise coded(
            Forbidden,
            "totp_setup_required",
            "two-factor authentication is required: enrol first (POST /api/v1/me/totp)",
        )
    return await handler(request)
