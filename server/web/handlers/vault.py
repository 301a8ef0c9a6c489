"""The vault of an org: resources, accounts, reveal, passwords, shares, resource groups,
password policies."""

from __future__ import annotations

from aiohttp import web

from server.core.password_policy import BUILTIN
from server.services import policies, sharing, vault
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import actor, works_read_only
from server.web.handlers.common import env as get_env
from server.web.models.common import Page
from server.web.models.vault import (
    AccountCreate,
    AccountCreated,
    AccountDetail,
    AccountUpdate,
    GeneratedPassword,
    PasswordBody,
    Policy,
    PolicyCreate,
    Resource,
    ResourceCreate,
    ResourceDetail,
    ResourceGroup,
    ResourceGroupCreate,
    ResourceGroupUpdate,
    ResourceListed,
    ResourcesQuery,
    ResourceUpdate,
    RevealBody,
    Revealed,
    Share,
    ShareCreate,
)
from server.web.org_scope import org_of
from server.web.problem import json_response


def _m(request: web.Request, key: str) -> str:
    return request.match_info[key]


@paging.paged_list
@operation(query=ResourcesQuery, answers={200: Page[ResourceListed]})
async def list_resources(
    request: web.Request, page: paging.Page, query: ResourcesQuery
) -> web.Response:
    """Resources I may see, with my permission (?q= searches name, URL, type, description)."""
    return json_response(
        await vault.list_resources(
            get_env(request), actor(request), org_of(request), query.given().get("q"), page
        )
    )


@operation(body=ResourceCreate, answers={201: ResourceDetail})
async def create_resource(request: web.Request, body: ResourceCreate) -> web.Response:
    """Add a resource; I own it."""
    data = body.given()
    return json_response(
        await vault.create_resource(get_env(request), actor(request), org_of(request), data),
        status=201,
    )


@operation(answers={200: ResourceDetail})
async def get_resource(request: web.Request) -> web.Response:
    """A resource with the accounts I may use (no passwords)."""
    return json_response(
        await vault.get_resource(
            get_env(request), actor(request), org_of(request), _m(request, "id")
        )
    )


@operation(body=ResourceUpdate, answers={200: Resource})
async def update_resource(request: web.Request, body: ResourceUpdate) -> web.Response:
    """Edit a resource (full permission)."""
    data = body.given()
    return json_response(
        await vault.update_resource(
            get_env(request), actor(request), org_of(request), _m(request, "id"), data
        )
    )


@operation(answers={204: None})
async def delete_resource(request: web.Request) -> web.Response:
    """Delete a resource and its accounts (full permission)."""
    await vault.delete_resource(
        get_env(request), actor(request), org_of(request), _m(request, "id")
    )
    return web.Response(status=204)


@operation(body=AccountCreate, answers={201: AccountCreated})
async def create_account(request: web.Request, body: AccountCreate) -> web.Response:
    """Add an account with a given or generated password."""
    data = body.given()
    return json_response(
        await vault.create_account(
            get_env(request), actor(request), org_of(request), _m(request, "id"), data
        ),
        status=201,
    )


@operation(answers={200: AccountDetail})
async def get_account(request: web.Request) -> web.Response:
    """Account metadata (no password)."""
    return json_response(
        await vault.get_account(
            get_env(request), actor(request), org_of(request), _m(request, "id")
        )
    )


@operation(body=AccountUpdate, answers={200: AccountCreated})
async def update_account(request: web.Request, body: AccountUpdate) -> web.Response:
    """Rename an account or change its notes or policy (full permission)."""
    data = body.given()
    return json_response(
        await vault.update_account(
            get_env(request), actor(request), org_of(request), _m(request, "id"), data
        )
    )


@operation(answers={204: None})
async def delete_account(request: web.Request) -> web.Response:
    """Delete an account (full permission)."""
    await vault.delete_account(get_env(request), actor(request), org_of(request), _m(request, "id"))
    return web.Response(status=204)


@works_read_only
@operation(body=RevealBody, answers={200: Revealed})
async def reveal(request: web.Request, body: RevealBody) -> web.Response:
    """Reveal an account's password (audited; a reason when the org requires one)."""
    data = body.given()
    return json_response(
        await vault.reveal_password(
            get_env(request),
            actor(request),
            org_of(request),
            _m(request, "id"),
            data.get("reason"),
        )
    )


@operation(body=PasswordBody, answers={204: None})
async def change_password(request: web.Request, body: PasswordBody) -> web.Response:
    """Set or generate a new password (modify permission; checked against the policy)."""
    data = body.given()
    await vault.change_password(
        get_env(request), actor(request), org_of(request), _m(request, "id"), data
    )
    return web.Response(status=204)


def _kind(request: web.Request) -> tuple[str, str]:
    if "name" in request.match_info:
        return "resource_group", _m(request, "name")
    kind = "account" if "/accounts/" in request.path else "resource"
    return kind, _m(request, "id")


@paging.paged_list
@operation(answers={200: Page[Share]})
async def list_shares(request: web.Request, page: paging.Page) -> web.Response:
    """Who an account, resource or resource group is shared with (full permission)."""
    kind, ref = _kind(request)
    items = await sharing.list_shares(get_env(request), actor(request), org_of(request), kind, ref)
    return json_response(paging.paged(items, page, paging.oldest_first))


@operation(body=ShareCreate, answers={201: Share})
async def add_share(request: web.Request, body: ShareCreate) -> web.Response:
    """Share with a user or group at view, modify or full (full permission to re-share)."""
    kind, ref = _kind(request)
    data = body.given()
    return json_response(
        await sharing.add_share(get_env(request), actor(request), org_of(request), kind, ref, data),
        status=201,
    )


@operation(answers={204: None})
async def remove_share(request: web.Request) -> web.Response:
    """Withdraw a share."""
    kind, ref = _kind(request)
    await sharing.remove_share(
        get_env(request), actor(request), org_of(request), kind, ref, _m(request, "share_id")
    )
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[ResourceGroup]})
async def list_resource_groups(request: web.Request, page: paging.Page) -> web.Response:
    """The org's resource groups."""
    items = await sharing.list_resource_groups(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=ResourceGroupCreate, answers={201: ResourceGroup})
async def create_resource_group(request: web.Request, body: ResourceGroupCreate) -> web.Response:
    """Create a resource group from resources I may share."""
    data = body.given()
    return json_response(
        await sharing.save_resource_group(get_env(request), actor(request), org_of(request), data),
        status=201,
    )


@operation(answers={200: ResourceGroup})
async def get_resource_group(request: web.Request) -> web.Response:
    """One resource group."""
    return json_response(
        await sharing.get_resource_group(
            get_env(request), actor(request), org_of(request), _m(request, "name")
        )
    )


@operation(body=ResourceGroupUpdate, answers={200: ResourceGroup})
async def update_resource_group(request: web.Request, body: ResourceGroupUpdate) -> web.Response:
    """Rename a resource group or replace its resources."""
    data = body.given()
    return json_response(
        await sharing.save_resource_group(
            get_env(request), actor(request), org_of(request), data, existing=_m(request, "name")
        )
    )


@operation(answers={204: None})
async def delete_resource_group(request: web.Request) -> web.Response:
    """Delete a resource group."""
    await sharing.delete_resource_group(
        get_env(request), actor(request), org_of(request), _m(request, "name")
    )
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[Policy]})
async def list_policies(request: web.Request, page: paging.Page) -> web.Response:
    """Password policies: the built-ins and the org's own."""
    items = await policies.list_policies(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, _builtin_first))


def _builtin_first(policy: dict) -> paging.Key:
    """The four built-ins from weakest to strongest, then the org's own by name."""
    rank = list(BUILTIN).index(policy["name"].lower()) if policy["builtin"] else 0
    return (not policy["builtin"], rank, policy["name"].lower(), policy["name"])


@operation(body=PolicyCreate, answers={201: Policy})
async def create_policy(request: web.Request, body: PolicyCreate) -> web.Response:
    """Add a custom password policy."""
    data = body.given()
    return json_response(
        await policies.create_policy(get_env(request), actor(request), org_of(request), data),
        status=201,
    )


@operation(answers={200: GeneratedPassword})
async def generate_password(request: web.Request) -> web.Response:
    """A random password that satisfies the named policy."""
    password = await policies.generate(
        get_env(request), actor(request), org_of(request), _m(request, "name")
    )
    return json_response({"password": password})
