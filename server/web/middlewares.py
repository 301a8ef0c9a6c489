"""HTTP middlewares: every failure becomes application/problem+json with a stable code."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from server.core.errors import BadRequest, StrongroomError, coded
from server.services.denials import Refusal
from server.store import db
from server.web.keys import ACTOR, CONFIG, DENIALS, ENV
from server.web.problem import problem

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


@web.middleware
async def error_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Turn domain errors, HTTP errors and crashes into problem+json answers (and refuse a
    malformed request line first: ``check_request_line``)."""
    try:
        if request.query_string or len(request.raw_path) > MAX_URL:
            check_request_line(request)
        _refuse_nul(request)
        return await handler(request)
    except StrongroomError as err:
        headers = {}
        if "retry_after" in err.extra:
            headers["Retry-After"] = str(err.extra["retry_after"])
        await note_refusal(request, err.status, err.code)
        return problem(err.status, err.code, err.title, err.detail, headers=headers, **err.extra)
    except HttpProcessingError as exc:
        # The body's framing broke while a handler read it: its text quotes the bytes (a
        # login body holds a password), so only its class is logged (issue 26, item 10).
        log.warning("refused a malformed request body from %s (%s)", request.remote, describe(exc))
        return problem(400, MALFORMED, MALFORMED_TITLE, MALFORMED_DETAIL)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, title = _HTTP_CODES.get(exc.status, ("http_error", exc.reason))
        await note_refusal(request, exc.status, code)
        detail = _http_detail(request, exc)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        return problem(exc.status, code, title, detail, headers=headers)
    except Exception as exc:
        unavailable = db.no_writable_database(exc)
        if unavailable is not None:  # one line, no traceback: it happens to every request
            log.warning("%s %s: %s", request.method, request.path, unavailable.detail)
            return problem(
                503,
                unavailable.code,
                unavailable.title,
                unavailable.detail,
                headers={"Retry-After": str(unavailable.extra["retry_after"])},
                **unavailable.extra,
            )
        reference = secrets.token_hex(6)
        log.exception(
            "unexpected error (reference %s) on %s %s", reference, request.method, request.path
        )
        return problem(
            500,
            "internal_error",
            "Internal server error",
            "An unexpected error occurred; the server log has the details "
            f"(reference {reference}).",
        )


async def note_refusal(request: web.Request, status: int, code: str) -> None:
    """Hand a refused request to the audit's count of refusals (server/services/denials.py
    decides whether it is security-relevant and records it in the actor's org): its
    status, code, method, route pattern and path, never its query, body or headers."""
    denials = request.app.get(DENIALS)
    if denials is None or status < 400 or status >= 500:
        return
    match = request.match_info
    resource = match.route.resource if match.http_exception is None else None
    refusal = Refusal(
        status,
        code,
        request.method,
        resource.canonical if resource is not None else "",
        request.path,
        request.get(ACTOR),
        request.remote or "",
        node_route=getattr(match.handler, "peer_only", False),
    )
    await denials.note(request.app[ENV], refusal)


MALFORMED = "malformed_request"
MALFORMED_TITLE = "Malformed request"
MALFORMED_DETAIL = (
    "the request is not valid HTTP/1.1 (request line, a header, or the body's framing); "
    "nothing in it was used"
)


def describe(exc: BaseException | None) -> str:
    """A loggable name for a refused request's fault: the exception's class only, never its
    text (aiohttp's parser exceptions quote the request's bytes: keys, passwords)."""
    return type(exc).__name__ if exc is not None else "unknown"


def _refuse_nul(request: web.Request) -> None:
    """A NUL character in the path or a query value can name nothing (PostgreSQL text
    cannot hold one): refuse it at the door rather than deep in a query."""
    if "\x00" in request.path or any("\x00" in v for v in request.query.values()):
        raise coded(BadRequest, "invalid_characters", "the address must not contain NUL characters")


def _http_detail(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no such endpoint: {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        limit = request.app[CONFIG].server.max_body_bytes
        return f"the request body is larger than the {limit} bytes allowed"
    return exc.reason


_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a secondary removed from the pair still answers: its health (monitoring says why)
# and the cluster's calls (its primary collects its audit spool; the server view).
_REMOVED_NODE_ANSWERS = ("/api/v1/health", "/api/v1/cluster")


@web.middleware
async def read_only_middleware(request: web.Request, handler) -> web.StreamResponse:
    """The one write gate: a change reaches its handler only on a node that may write;
    a secondary removed from the pair answers nothing but its health and cluster calls.

    Handlers marked ``@works_read_only`` (login, logout, reveal) run everywhere; their
    services keep what they would write in memory and the audit spool instead.
    """
    node = request.app[ENV].node_state
    if node.removed and not request.path.startswith(_REMOVED_NODE_ANSWERS):
        node.refuse_if_removed()
    route_handler = request.match_info.handler
    if request.method not in _READS and not getattr(route_handler, "works_read_only", False):
        request.app[ENV].node_state.refuse_write()
    return await handler(request)


SERVER_NAME = "Strongroom"
HSTS = "max-age=31536000"  # one year; the server only ever speaks HTTPS


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers on every answer (OWASP HTTP Headers and REST Security cheat sheets).

    ``Cache-Control: no-store``: no proxy or browser keeps an answer (it may hold a
    password). ``Strict-Transport-Security``: a browser never tries plain HTTP.
    ``Server`` names the product only, never library versions (ASVS 4.0 V14.3.3).
    """
    apply_security_headers(response)


def apply_security_headers(response: web.StreamResponse) -> None:
    """Set the headers every answer carries (``security_headers``); also used for answers
    that never reach the application (``server.web.parser_errors``)."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    response.headers["Server"] = SERVER_NAME


MAX_URL = 8192


class UriTooLong(StrongroomError):
    """The request's URL is longer than the server reads."""

    status = 414
    code = "uri_too_long"
    title = "URI too long"


def check_request_line(request: web.Request) -> None:
    """Refuse an over-long URL (414 ``uri_too_long``) and a query parameter given twice
    (400 ``repeated_parameter``: every parameter of this API takes one value).

    Called by ``error_middleware`` before anything else (one middleware less on the hot
    path)."""
    if len(request.raw_path) > MAX_URL:
        raise UriTooLong(f"the URL is longer than {MAX_URL} bytes")
    query = request.query
    if len(query) != len(set(query.keys())):
        name = next(k for k in query if len(query.getall(k)) > 1)
        raise coded(
            BadRequest,
            "repeated_parameter",
            f"the query parameter {name[:64]!r} is given more than once",
            parameter=name[:64],
        )
