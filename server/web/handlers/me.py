"""The caller's own account: /me, password, TOTP, API keys."""

from __future__ import annotations

from aiohttp import web

from server.services import account, activation
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import before_password_change, before_totp_setup
from server.web.models.auth import (
    AcknowledgeNoticesBody,
    ApiKey,
    ApiKeyBody,
    ApiKeyCreated,
    ChangePasswordBody,
    CurrentPasswordBody,
    Me,
    NoticesAcknowledged,
    OtpBody,
    RecoveryCodes,
    TotpDisableBody,
    TotpSecret,
)
from server.web.models.common import Page
from server.web.problem import json_response


@before_password_change
@before_totp_setup
@operation(answers={200: Me})
async def get_me(*, env: Env, actor: Actor) -> web.Response:
    """Who am I: username, org, role, scope, 2FA state, managed orgs."""
    return json_response(await account.me(env, actor))


@before_password_change
@before_totp_setup
@operation(body=ChangePasswordBody, answers={204: None}, errors={403: "session_required"})
async def change_password(*, env: Env, actor: Actor, body: ChangePasswordBody) -> web.Response:
    """Change my login password (needs the current one and a session, not an API key); my
    other sessions and all my API keys end."""
    await account.change_password(env, actor, body.current_password, body.new_password)
    return web.Response(status=204)


@before_totp_setup
@operation(body=CurrentPasswordBody, answers={200: TotpSecret}, errors={403: "session_required"})
async def begin_totp(*, env: Env, actor: Actor, body: CurrentPasswordBody) -> web.Response:
    """Start TOTP enrolment (needs the current password and a session); returns the secret
    once."""
    return json_response(await account.begin_totp(env, actor, body.current_password))


@before_totp_setup
@operation(
    body=OtpBody, answers={200: RecoveryCodes}, errors={400: "invalid_otp", 403: "session_required"}
)
async def confirm_totp(*, env: Env, actor: Actor, body: OtpBody) -> web.Response:
    """Confirm enrolment with a code; from now on login asks for one (or one of the ten
    recovery codes answered here, shown this once)."""
    return json_response(await account.confirm_totp(env, actor, body.otp))


@operation(
    body=TotpDisableBody,
    answers={204: None},
    errors={
        400: "invalid_otp",
        403: "session_required",
        409: "totp_not_enabled, totp_required",
        422: "validation_failed",
        429: "rate_limited",
    },
)
async def disable_totp(*, env: Env, actor: Actor, body: TotpDisableBody) -> web.Response:
    """Turn my TOTP off with my current password and a current code (from a session, and
    refused while an administrator requires it)."""
    await account.disable_totp(env, actor, body.current_password, body.otp)
    return web.Response(status=204)


@operation(body=ApiKeyBody, answers={201: ApiKeyCreated})
async def create_api_key(*, env: Env, actor: Actor, body: ApiKeyBody) -> web.Response:
    """Make an API key; the key is in this answer and never again."""
    data = body.given()
    return json_response(
        await account.create_api_key(env, actor, data["name"], data.get("expires_in_days")),
        status=201,
    )


@paging.paged_list
@operation(answers={200: Page[ApiKey]})
async def list_api_keys(*, env: Env, actor: Actor, page: paging.Page) -> web.Response:
    """My API keys (names and last use, never the keys)."""
    items = await account.list_api_keys(env, actor)
    return json_response(paging.paged(items, page, paging.oldest_first))


@operation(answers={204: None})
async def delete_api_key(*, env: Env, actor: Actor, key_id: str) -> web.Response:
    """Delete one of my API keys."""
    await account.delete_api_key(env, actor, key_id)
    return web.Response(status=204)


@operation(
    body=AcknowledgeNoticesBody,
    answers={200: NoticesAcknowledged},
    errors={422: "unknown_notice"},
)
async def acknowledge_notices(
    *, env: Env, actor: Actor, body: AcknowledgeNoticesBody
) -> web.Response:
    """I have read these notices of GET /me: they stop showing to me (audited
    notice_acknowledged); other administrators are still told."""
    return json_response(await activation.acknowledge_notices(env, actor, body.ids))
