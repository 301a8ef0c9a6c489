"""Users and user groups of an org: /orgs/{org}/users, /orgs/{org}/groups."""

from __future__ import annotations

from aiohttp import web

from server.services import users
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import actor
from server.web.handlers.common import env as get_env
from server.web.models.common import Page
from server.web.models.users import (
    DeleteUserQuery,
    Group,
    GroupCreate,
    GroupUpdate,
    User,
    UserCreate,
    UserDeleted,
    UserUpdate,
)
from server.web.org_scope import org_of
from server.web.problem import json_response


def _org(request: web.Request) -> str:
    return org_of(request)


@paging.paged_list
@operation(answers={200: Page[User]})
async def list_users(request: web.Request, page: paging.Page) -> web.Response:
    """The org's users."""
    items = await users.list_users(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, paging.by_name("username")))


@operation(body=UserCreate, answers={201: User})
async def create_user(request: web.Request, body: UserCreate) -> web.Response:
    """Add a user to the org."""
    data = body.given()
    user = await users.create_user(get_env(request), actor(request), org_of(request), data)
    return json_response(user, status=201)


@operation(answers={200: User})
async def get_user(request: web.Request) -> web.Response:
    """One user."""
    return json_response(
        await users.get_user(
            get_env(request), actor(request), org_of(request), request.match_info["username"]
        )
    )


@operation(body=UserUpdate, answers={200: User})
async def update_user(request: web.Request, body: UserUpdate) -> web.Response:
    """Change a user's role, status, scope, profile or password."""
    data = body.given()
    return json_response(
        await users.update_user(
            get_env(request), actor(request), org_of(request), request.match_info["username"], data
        )
    )


@operation(answers={200: User})
async def confirm_user(request: web.Request) -> web.Response:
    """Confirm a user the MSP created or gave a password (a confirmed org administrator)."""
    return json_response(
        await users.confirm_user(
            get_env(request), actor(request), org_of(request), request.match_info["username"]
        )
    )


@operation(query=DeleteUserQuery, answers={200: UserDeleted, 204: None})
async def delete_user(request: web.Request, query: DeleteUserQuery) -> web.Response:
    """Remove a user; ?new_owner= names who receives what it owns (200 with the counts)."""
    result = await users.delete_user(
        get_env(request),
        actor(request),
        org_of(request),
        request.match_info["username"],
        query.given().get("new_owner"),
    )
    if any(result["transferred"].values()):
        return json_response(result)
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[Group]})
async def list_groups(request: web.Request, page: paging.Page) -> web.Response:
    """The org's user groups."""
    items = await users.list_groups(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=GroupCreate, answers={201: Group})
async def create_group(request: web.Request, body: GroupCreate) -> web.Response:
    """Create a user group."""
    data = body.given()
    group = await users.create_group(get_env(request), actor(request), org_of(request), data)
    return json_response(group, status=201)


@operation(answers={200: Group})
async def get_group(request: web.Request) -> web.Response:
    """One user group with its members."""
    return json_response(
        await users.get_group(
            get_env(request), actor(request), org_of(request), request.match_info["name"]
        )
    )


@operation(body=GroupUpdate, answers={200: Group})
async def update_group(request: web.Request, body: GroupUpdate) -> web.Response:
    """Rename a group or replace its members."""
    data = body.given()
    return json_response(
        await users.update_group(
            get_env(request), actor(request), org_of(request), request.match_info["name"], data
        )
    )


@operation(answers={204: None})
async def delete_group(request: web.Request) -> web.Response:
    """Delete a user group."""
    await users.delete_group(
        get_env(request), actor(request), org_of(request), request.match_info["name"]
    )
    return web.Response(status=204)
