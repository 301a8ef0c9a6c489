"""Requests the HTTP parser refuses: answered like every other answer, logged without bytes.

aiohttp's parser refuses a malformed request (a control byte in a header value, broken
chunk framing, an over-long line) before the application sees it. Left alone, aiohttp
logs the exception, whose text quotes the raw bytes around the fault (the whole
``Authorization`` header, a login body with its password), and answers a text/plain 400
that echoes the same bytes, without HSTS or ``Cache-Control: no-store`` (issue 26,
item 10). aiohttp offers no hook for these answers (aio-libs/aiohttp#3287, #9882): its
``RequestHandler.handle_error`` builds them, so ``install`` replaces that method
process-wide, like ``server.web.app`` replaces the ``Server`` header's default.

The rule (OWASP ASVS 4.0 V7.1.1, V14.4): never log or echo raw request bytes; an error
answer carries the same security headers and problem+json shape as any other.
"""

from __future__ import annotations

import logging

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError

from server.web.middlewares import (
    MALFORMED,
    MALFORMED_DETAIL,
    MALFORMED_TITLE,
    apply_security_headers,
    describe,
)
from server.web.problem import problem

log = logging.getLogger(__name__)

# aiohttp's own loggers that may hold a parser exception (its text quotes request bytes).
AIOHTTP_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.internal", "aiohttp.access")


class RedactRequestBytes(logging.Filter):
    """Strip the text of HTTP parser exceptions from log records (defence in depth: a
    record aiohttp logs outside ``handle_error`` keeps its message, loses the bytes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        if info and isinstance(info[1], HttpProcessingError):
            record.msg = f"{record.getMessage()} ({describe(info[1])}; request bytes withheld)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def malformed_answer(status: int = 400) -> web.Response:
    """The answer to a request the parser refused: problem+json ``malformed_request`` with
    the security headers, and the connection closed (the stream cannot be trusted)."""
    resp = problem(status, MALFORMED, MALFORMED_TITLE, MALFORMED_DETAIL)
    apply_security_headers(resp)
    resp.force_close()
    return resp


def _handle_error(
    self: web_protocol.RequestHandler,
    request: web.BaseRequest,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    """Replacement for ``RequestHandler.handle_error`` (same contract: answers the error,
    closes the connection; raises ConnectionError when an answer was already started)."""
    del message  # aiohttp's message quotes the request's bytes: never used
    if isinstance(exc, HttpProcessingError):
        # Port scanners and TLS-on-the-wrong-port send a bad method first: not news.
        level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
        log.log(level, "refused a malformed request from %s (%s)", request.remote, describe(exc))
    elif status >= 500 and exc is not None:
        log.error("request from %s failed", request.remote, exc_info=exc)
    if request.writer.output_size > 0:
        raise ConnectionError("an answer was already started; the connection is closed")
    if status == 504:
        resp = problem(504, "timeout", "Gateway timeout", "the request took too long")
    elif status >= 500:
        resp = problem(500, "internal_error", "Internal server error", "an unexpected error")
    else:
        return malformed_answer(status)
    apply_security_headers(resp)
    resp.force_close()
    return resp


def install() -> None:
    """Answer and log parser-refused requests by this module's rule, for every aiohttp server
    in the process (idempotent)."""
    web_protocol.RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]
    for name in AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactRequestBytes) for f in logger.filters):
            logger.addFilter(RedactRequestBytes())
