"""Authentication middleware: bearer token → Actor, and the first-login gates."""

from __future__ import annotations

from aiohttp import web

from server.core.errors import Unauthenticated
from server.services import auth, tokens
from server.web.handlers.common import client_ip
from server.web.keys import ACTOR, DEFERRED_TOKEN, ENV, DeferredToken


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
    if getattr(target, "authenticates_in_statement", False) and _deferrable(request, token):
        token = token.strip()
        request[DEFERRED_TOKEN] = DeferredToken(token, lambda: authenticate_now(request, token))
        return await handler(request)
    await authenticate_now(request, token)
    return await handler(request)


async def authenticate_now(request: web.Request, token: str) -> None:
    """Authenticate the request's token, set its actor and apply the first-login gates
    (``auth.refuse_before_setup``)."""
    request.pop(DEFERRED_TOKEN, None)
    target = request.match_info.handler
    actor = await auth.authenticate(request.app[ENV], token.strip(), client_ip(request))
    request[ACTOR] = actor  # known from here on, also to a refusal's audit event
    auth.refuse_before_setup(
        actor,
        getattr(target, "before_password_change", False),
        getattr(target, "before_totp_setup", False),
    )


def _deferrable(request: web.Request, token: str) -> bool:
    """Whether the handler may check ``token`` itself: it is well-formed, and this node
    keeps no session in memory (a read-only period's sessions are decided here)."""
    local = request.app[ENV].local
    return tokens.parse(token.strip()) is not None and not local.sessions and not local.ended
