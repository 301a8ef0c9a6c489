"""The caller's own account: /me, password, TOTP, API keys."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.errors import field_error
from server.handlers.common import actor, before_password_change, before_totp_setup
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import account
from server.validation import Field, validate


@before_password_change
@before_totp_setup
async def get_me(request: web.Request) -> web.Response:
    """Who am I: username, org, role, scope, 2FA state, managed orgs."""
    return json_response(await account.me(get_env(request), actor(request)))


@before_password_change
@before_totp_setup
async def change_password(request: web.Request) -> web.Response:
    """Change my login password (needs the current one)."""
    data = validate(
        await read_json(request),
        {
            "current_password": Field(str, required=True, strip=False, max_len=1024),
            "new_password": Field(str, required=True, strip=False),
        },
    )
    await account.change_password(
        get_env(request), actor(request), data["current_password"], data["new_password"]
    )
    return web.Response(status=204)


@before_totp_setup
async def begin_totp(request: web.Request) -> web.Response:
    """Start TOTP enrolment (needs the current password); returns the secret once."""
    data = validate(
        await read_json(request),
        {
            "current_password": Field(str, required=True, strip=False, max_len=1024),
        },
    )
    return json_response(
        await account.begin_totp(get_env(request), actor(request), data["current_password"])
    )


@before_totp_setup
async def confirm_totp(request: web.Request) -> web.Response:
    """Confirm enrolment with a code; from now on login asks for one."""
    data = validate(await read_json(request), {"otp": Field(str, required=True, max_len=12)})
    await account.confirm_totp(get_env(request), actor(request), data["otp"])
    return web.Response(status=204)


async def create_api_key(request: web.Request) -> web.Response:
    """Make an API key; the key is in this answer and never again."""
    data = validate(
        await read_json(request),
        {"name": Field(str, required=True, max_len=100), "expires_in_days": Field(int)},
    )
    days = data.get("expires_in_days")
    if days is not None and not 1 <= days <= account.API_KEY_MAX_DAYS:
        raise field_error(
            "expires_in_days", f"must be between 1 and {account.API_KEY_MAX_DAYS} days"
        )
    return json_response(
        await account.create_api_key(get_env(request), actor(request), data["name"], days),
        status=201,
    )


@paging.paged_list
async def list_api_keys(request: web.Request, page: paging.Page) -> web.Response:
    """My API keys (names and last use, never the keys)."""
    items = await account.list_api_keys(get_env(request), actor(request))
    return json_response(paging.paged(items, page, paging.oldest_first))


async def delete_api_key(request: web.Request) -> web.Response:
    """Delete one of my API keys."""
    await account.delete_api_key(get_env(request), actor(request), request.match_info["key_id"])
    return web.Response(status=204)
