"""The ``Idempotency-Key`` header on POSTs (issue 33, item 4; server/store/idempotency.py).

An authenticated POST carrying the header is looked up first: a key on file for the same
request answers the stored answer again (header ``Idempotent-Replayed: true``), or
refuses when that answer is not kept; otherwise the request runs with the key pending,
so its first committed transaction files it, and a successful answer is stored with it.
Requests that are safe to repeat and whose answers may hold secrets (login, logout,
reveal: ``works_read_only``) ignore the header.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from server.core.errors import Conflict, coded, field_error
from server.store import db, idempotency
from server.web.keys import ACTOR, ENV

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


@web.middleware
async def idempotency_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Answer a repeated POST from its key's record; file and complete a new one."""
    raw = request.headers.get(HEADER)
    actor = request.get(ACTOR)
    target = request.match_info.handler
    if (
        raw is None
        or request.method != "POST"
        or actor is None
        or getattr(target, "works_read_only", False)
    ):
        return await handler(request)
    key_text = raw.strip()
    if not key_text or len(key_text) > idempotency.MAX_KEY or not key_text.isprintable():
        raise field_error(
            HEADER,
            f"the {HEADER} header must be 1 to {idempotency.MAX_KEY} printable characters",
            code="invalid_idempotency_key",
        )
    body = await request.read()
    key = idempotency.PendingKey(
        actor.org_id,
        actor.user_id,
        key_text,
        idempotency.request_hash(request.method, request.path, request.query_string, body),
    )
    env = request.app[ENV]
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        found = await idempotency.find(tx.conn, key)
    if found is not None:
        return _replay(found, key)
    token = idempotency.pending.set(key)
    try:
        response = await handler(request)
    finally:
        idempotency.pending.reset(token)
    if 200 <= response.status < 300 and isinstance(response, web.Response):
        try:
            async with db.transaction(env.pool, actor.org_id) as tx:
                await idempotency.complete(tx.conn, key, response.status, response.body or b"")
        except Exception:  # the work is done: its answer still goes out
            log.warning("could not store an Idempotency-Key's answer", exc_info=True)
    return response


def _replay(found, key: idempotency.PendingKey) -> web.Response:
    if bytes(found["request_hash"]) != key.request_hash:
        raise field_error(
            HEADER,
            f"this {HEADER} was used for a different request in the last "
            f"{idempotency.KEEP_HOURS} hours; use a new key for a new request",
            code="idempotency_key_reused",
        )
    if found["status"] is None:
        raise coded(
            Conflict,
            "idempotent_answer_lost",
            "the first request with this Idempotency-Key was carried out, but its answer "
            "was lost; look the result up instead of repeating it",
        )
    if not found["answer_kept"]:
        raise coded(
            Conflict,
            "idempotent_answer_withheld",
            f"the first request with this Idempotency-Key succeeded (HTTP {found['status']}); "
            "its answer held a secret and is not kept: look the result up",
            first_status=found["status"],
        )
    answer = found["answer"]
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return web.Response(
        status=found["status"],
        body=text.encode() if answer is not None else b"",
        content_type="application/json",
        headers={REPLAYED: "true"},
    )
