"""Users and user groups of an org: /orgs/{org}/users, /orgs/{org}/groups."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.handlers.common import actor
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import users
from server.validation import validate


def _org(request: web.Request) -> str:
    return request.match_info["org"]


@paging.paged_list
async def list_users(request: web.Request, page: paging.Page) -> web.Response:
    """The org's users."""
    items = await users.list_users(get_env(request), actor(request), _org(request))
    return json_response(paging.paged(items, page, paging.by_name("username")))


async def create_user(request: web.Request) -> web.Response:
    """Add a user to the org."""
    data = validate(await read_json(request), users.USER_CREATE)
    user = await users.create_user(get_env(request), actor(request), _org(request), data)
    return json_response(user, status=201)


async def get_user(request: web.Request) -> web.Response:
    """One user."""
    return json_response(
        await users.get_user(
            get_env(request), actor(request), _org(request), request.match_info["username"]
        )
    )


async def update_user(request: web.Request) -> web.Response:
    """Change a user's role, status, scope, profile or password."""
    data = validate(await read_json(request), users.USER_UPDATE)
    return json_response(
        await users.update_user(
            get_env(request), actor(request), _org(request), request.match_info["username"], data
        )
    )


async def confirm_user(request: web.Request) -> web.Response:
    """Confirm a user the MSP created or gave a password (a confirmed org administrator)."""
    return json_response(
        await users.confirm_user(
            get_env(request), actor(request), _org(request), request.match_info["username"]
        )
    )


async def delete_user(request: web.Request) -> web.Response:
    """Remove a user; ?new_owner= names who receives what it owns (200 with the counts)."""
    result = await users.delete_user(
        get_env(request),
        actor(request),
        _org(request),
        request.match_info["username"],
        request.query.get("new_owner"),
    )
    if any(result["transferred"].values()):
        return json_response(result)
    return web.Response(status=204)


@paging.paged_list
async def list_groups(request: web.Request, page: paging.Page) -> web.Response:
    """The org's user groups."""
    items = await users.list_groups(get_env(request), actor(request), _org(request))
    return json_response(paging.paged(items, page, paging.by_name("name")))


async def create_group(request: web.Request) -> web.Response:
    """Create a user group."""
    data = validate(await read_json(request), users.GROUP_CREATE)
    group = await users.create_group(get_env(request), actor(request), _org(request), data)
    return json_response(group, status=201)


async def get_group(request: web.Request) -> web.Response:
    """One user group with its members."""
    return json_response(
        await users.get_group(
            get_env(request), actor(request), _org(request), request.match_info["name"]
        )
    )


async def update_group(request: web.Request) -> web.Response:
    """Rename a group or replace its members."""
    data = validate(await read_json(request), users.GROUP_UPDATE)
    return json_response(
        await users.update_group(
            get_env(request), actor(request), _org(request), request.match_info["name"], data
        )
    )


async def delete_group(request: web.Request) -> web.Response:
    """Delete a user group."""
    await users.delete_group(
        get_env(request), actor(request), _org(request), request.match_info["name"]
    )
    return web.Response(status=204)
