"""Users and user groups of an org: /orgs/{org}/users, /orgs/{org}/groups."""

from __future__ import annotations

from aiohttp import web

from server.services import activation, users
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.users import (
    Activation,
    ActivationBody,
    DeleteUserQuery,
    Group,
    GroupCreate,
    GroupUpdate,
    User,
    UserCreate,
    UserDeleted,
    UserUpdate,
)
from server.web.problem import json_response


@paging.paged_list
@operation(answers={200: Page[User]})
async def list_users(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """The org's users."""
    items = await users.list_users(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("username")))


@operation(body=UserCreate, answers={201: User})
async def create_user(*, env: Env, actor: Actor, org: OrgArg, body: UserCreate) -> web.Response:
    """Add a user to the org."""
    return json_response(await users.create_user(env, actor, org, body.given()), status=201)


@operation(answers={200: User})
async def get_user(*, env: Env, actor: Actor, org: OrgArg, username: str) -> web.Response:
    """One user."""
    return json_response(await users.get_user(env, actor, org, username))


@operation(body=UserUpdate, answers={200: User})
async def update_user(
    *, env: Env, actor: Actor, org: OrgArg, username: str, body: UserUpdate
) -> web.Response:
    """Change a user's role, status, scope, profile or password."""
    return json_response(await users.update_user(env, actor, org, username, body.given()))


@operation(answers={200: User})
async def confirm_user(*, env: Env, actor: Actor, org: OrgArg, username: str) -> web.Response:
    """Confirm a user the MSP created or gave a password (a confirmed org administrator)."""
    return json_response(await users.confirm_user(env, actor, org, username))


@operation(query=DeleteUserQuery, answers={200: UserDeleted, 204: None})
async def delete_user(
    *, env: Env, actor: Actor, org: OrgArg, username: str, query: DeleteUserQuery
) -> web.Response:
    """Remove a user; ?new_owner= names who receives what it owns (200 with the counts)."""
    result = await users.delete_user(env, actor, org, username, query.given().get("new_owner"))
    if any(result["transferred"].values()):
        return json_response(result)
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[Group]})
async def list_groups(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """The org's user groups."""
    items = await users.list_groups(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=GroupCreate, answers={201: Group})
async def create_group(*, env: Env, actor: Actor, org: OrgArg, body: GroupCreate) -> web.Response:
    """Create a user group."""
    return json_response(await users.create_group(env, actor, org, body.given()), status=201)


@operation(answers={200: Group})
async def get_group(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """One user group with its members."""
    return json_response(await users.get_group(env, actor, org, name))


@operation(body=GroupUpdate, answers={200: Group})
async def update_group(
    *, env: Env, actor: Actor, org: OrgArg, name: str, body: GroupUpdate
) -> web.Response:
    """Rename a group or replace its members."""
    return json_response(await users.update_group(env, actor, org, name, body.given()))


@operation(answers={204: None})
async def delete_group(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """Delete a user group."""
    await users.delete_group(env, actor, org, name)
    return web.Response(status=204)


@operation(body=ActivationBody, answers={201: Activation}, errors={422: "activation_refused"})
async def issue_activation(
    *, env: Env, actor: Actor, org: OrgArg, username: str, body: ActivationBody
) -> web.Response:
    """Activate an MSPOrg administrator account as an independent person (issue 27): the
    one-time activation code its first login needs with its maker's temporary password."""
    result = await activation.issue_activation(env, actor, org, username, body.current_password)
    return json_response(result, status=201)
