"""RFC 9457 problem+json responses and strict JSON request bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.errors import BadRequest, StrongroomError

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
    """Read a JSON object body, or raise a clear 4xx error."""
    if request.content_type not in ("application/json", ""):
        err = StrongroomError(f"expected Content-Type application/json, got {request.content_type}")
        err.status, err.code, err.title = 415, "unsupported_media_type", "Unsupported media type"
        raise err
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise BadRequest("the request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the request body is not valid JSON ({exc.msg} at line {exc.lineno}, "
            f"column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer."""
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)
