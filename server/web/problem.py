"""RFC 9457 problem+json responses and strict JSON request bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.core.errors import BadRequest, StrongroomError
from server.web import strict_json

PROBLEM_TYPE = "https://strongroom.invalid/problems/"


def problem(
    status: int, code: str, title: str, detail: str, headers: dict | None = None, **extra: Any
) -> web.Response:
    """Build an ``application/problem+json`` response."""
    body = {
        "type": PROBLEM_TYPE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if k != "retry_after"})
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers or {},
    )


async def read_json(request: web.Request) -> dict[str, Any]:
    """Read a JSON object body strictly (``server.web.strict_json``), or raise a clear 4xx error.

    Raises:
        StrongroomError: 415 ``unsupported_media_type`` for another content type, 415
            ``unsupported_charset`` for a charset other than UTF-8, 400 with the strict
            reader's code for a body it refuses, 400 ``bad_request`` for a non-object.
    """
    raw = await request.read()
    if not raw.strip():  # no body says nothing, whatever its declared type: no fields given
        return {}
    # No Content-Type at all is taken as JSON (aiohttp reports application/octet-stream).
    declared = "Content-Type" in request.headers
    if declared and request.content_type not in ("application/json", ""):
        err = StrongroomError(f"expected Content-Type application/json, got {request.content_type}")
        err.status, err.code, err.title = 415, "unsupported_media_type", "Unsupported media type"
        raise err
    charset = request.charset
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        err = StrongroomError(f"JSON bodies are UTF-8; charset {charset[:40]!r} is not accepted")
        err.status, err.code, err.title = 415, "unsupported_charset", "Unsupported charset"
        raise err
    data = strict_json.loads(raw)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.json_response(data, status=status, dumps=_dumps)


_WRITER = json.JSONEncoder(default=str)  # made once, as json.dumps would per call


def _dumps(data: Any) -> str:
    return _WRITER.encode(data)
