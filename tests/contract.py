"""The documented contract, checked on every real answer the server tests provoke.

``check_answers`` is a middleware the test servers carry: for each request to a route with
a declared operation it checks that the status is one OpenAPI documents for it, that a
success answer validates against the documented model (a 204 has no body) and that an
error answer is problem+json. Mismatches are collected and fail the test that caused them.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from server.web.openapi import responses_of

MISMATCHES = web.AppKey("contract_mismatches", list)


@functools.cache
def _adapter(model: Any) -> TypeAdapter:
    return TypeAdapter(model)


def check(method: str, path: str, handler: Any, status: int, content_type: str, body: bytes):
    """What is wrong with one answer, or None."""
    documented = responses_of(method, path, handler)
    if status not in documented:
        return f"status {status} is not documented"
    model = documented[status]
    if model is None:
        return f"a {status} answer must have no body" if body else None
    expected = "application/problem+json" if status >= 400 else "application/json"
    if content_type != expected:
        return f"content type {content_type}, documented {expected}"
    try:
        _adapter(model).validate_python(json.loads(body))
    except (ValidationError, ValueError) as exc:
        return f"answer does not match {getattr(model, '__name__', model)}: {exc}"
    return None


@web.middleware
async def check_answers(request: web.Request, handler) -> web.StreamResponse:
    """Check the answer of every declared operation against its documented responses."""
    response = await handler(request)
    route = request.match_info.route
    route_handler = request.match_info.handler
    if route.resource is None or not hasattr(route_handler, "spec"):
        return response
    body = response.body if isinstance(response, web.Response) else b""
    problem = check(
        request.method,
        route.resource.canonical.removeprefix("/api/v1"),
        route_handler,
        response.status,
        response.content_type,
        bytes(body or b""),
    )
    if problem:
        request.app[MISMATCHES].append(
            f"{request.method} {route.resource.canonical} -> {response.status}: {problem}"
        )
    return response


def install(app: web.Application) -> list[str]:
    """Put the checker on ``app``; return the list it fills with mismatches."""
    app[MISMATCHES] = []
    app.middlewares.insert(0, check_answers)
    return app[MISMATCHES]
