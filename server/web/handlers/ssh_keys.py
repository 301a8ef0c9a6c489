"""The caller's SSH public keys: /me/ssh-keys (issue 30, item 2)."""

from __future__ import annotations

from aiohttp import web

from server.services import ssh_keys
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.ssh_keys import SshKey, SshKeyBody
from server.web.problem import json_response


@operation(
    body=SshKeyBody,
    answers={201: SshKey},
    errors={
        403: "session_required",
        409: "ssh_key_exists, too_many_ssh_keys",
        422: "ssh_key_refused, validation_failed",
    },
)
async def add_ssh_key(*, env: Env, actor: Actor, body: SshKeyBody) -> web.Response:
    """Register one of my SSH public keys for the SSH gateway (from a session, not with an
    API key)."""
    data = body.given()
    answer = await ssh_keys.add_key(
        env, actor, data["public_key"], data.get("name"), data.get("expires_in_days")
    )
    return json_response(answer, status=201)


@paging.paged_list
@operation(answers={200: Page[SshKey]})
async def list_ssh_keys(*, env: Env, actor: Actor, page: paging.Page) -> web.Response:
    """My SSH public keys with their fingerprints."""
    items = await ssh_keys.list_keys(env, actor)
    return json_response(paging.paged(items, page, paging.oldest_first))


@operation(answers={204: None}, errors={403: "session_required", 404: "not_found"})
async def delete_ssh_key(*, env: Env, actor: Actor, key_id: str) -> web.Response:
    """Revoke one of my SSH public keys."""
    await ssh_keys.delete_key(env, actor, key_id)
    return web.Response(status=204)
