"""The vault of an org: resources, accounts, reveal, passwords, shares, resource groups,
password policies."""

from __future__ import annotations

from aiohttp import web

from server.core.password_policy import BUILTIN
from server.services import password_expiry, policies, sharing, vault
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import authenticates_in_statement, client_ip, works_read_only
from server.web.keys import ACTOR, DEFERRED_TOKEN
from server.web.models.common import Page
from server.web.models.vault import (
    AccountCreate,
    AccountCreated,
    AccountDetail,
    AccountUpdate,
    GeneratedPassword,
    PasswordBody,
    PasswordExpiring,
    PasswordExpiryQuery,
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
from server.web.problem import json_response


@paging.paged_list
@operation(query=ResourcesQuery, answers={200: Page[ResourceListed]})
async def list_resources(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page, query: ResourcesQuery
) -> web.Response:
    """Resources I may see, with my permission (?q= searches name, URL, type, description)."""
    return json_response(await vault.list_resources(env, actor, org, query.given().get("q"), page))


@operation(body=ResourceCreate, answers={201: ResourceDetail})
async def create_resource(
    *, env: Env, actor: Actor, org: OrgArg, body: ResourceCreate
) -> web.Response:
    """Add a resource; I own it."""
    return json_response(await vault.create_resource(env, actor, org, body.given()), status=201)


@operation(answers={200: ResourceDetail})
async def get_resource(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """A resource with the accounts I may use (no passwords)."""
    return json_response(await vault.get_resource(env, actor, org, id))


@operation(body=ResourceUpdate, answers={200: Resource})
async def update_resource(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: ResourceUpdate
) -> web.Response:
    """Edit a resource (full permission)."""
    return json_response(await vault.update_resource(env, actor, org, id, body.given()))


@operation(answers={204: None})
async def delete_resource(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Delete a resource and its accounts (full permission)."""
    await vault.delete_resource(env, actor, org, id)
    return web.Response(status=204)


@operation(body=AccountCreate, answers={201: AccountCreated})
async def create_account(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: AccountCreate
) -> web.Response:
    """Add an account with a given or generated password."""
    return json_response(await vault.create_account(env, actor, org, id, body.given()), status=201)


@operation(answers={200: AccountDetail})
async def get_account(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Account metadata (no password)."""
    return json_response(await vault.get_account(env, actor, org, id))


@operation(body=AccountUpdate, answers={200: AccountCreated})
async def update_account(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: AccountUpdate
) -> web.Response:
    """Rename an account or change its notes or policy (full permission)."""
    return json_response(await vault.update_account(env, actor, org, id, body.given()))


@operation(answers={204: None})
async def delete_account(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Delete an account (full permission)."""
    await vault.delete_account(env, actor, org, id)
    return web.Response(status=204)


@works_read_only
@authenticates_in_statement
@operation(body=RevealBody, answers={200: Revealed}, resolve_org=False)
async def reveal(
    *, request: web.Request, env: Env, org: str, id: str, body: RevealBody
) -> web.Response:
    """Reveal an account's password (audited; a reason when the org requires one). The org
    is resolved, and the bearer token checked, by the reveal's own statement (one round
    trip, issue 28)."""
    reason = body.given().get("reason")
    deferred = request.get(DEFERRED_TOKEN)
    if deferred is not None and vault.is_account_id(id):

        def known(actor: Actor) -> None:
            request[ACTOR] = actor

        return json_response(
            await vault.reveal_password_with_token(
                env, deferred.token, client_ip(request), org, id, reason, known
            )
        )
    if deferred is not None:  # the token answers first, as at the door
        await deferred.authenticate()
    return json_response(await vault.reveal_password(env, request[ACTOR], org, id, reason))


@operation(body=PasswordBody, answers={204: None})
async def change_password(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: PasswordBody
) -> web.Response:
    """Set or generate a new password (modify permission; checked against the policy)."""
    await vault.change_password(env, actor, org, id, body.given())
    return web.Response(status=204)


def _kind(request: web.Request) -> tuple[str, str]:
    """What a share route is about: (kind, id or name) from its path (one handler serves
    /resources/{id}, /accounts/{id} and /resource-groups/{name})."""
    match = request.match_info
    if "name" in match:
        return "resource_group", match["name"]
    kind = "account" if "/accounts/" in request.path else "resource"
    return kind, match["id"]


@paging.paged_list
@operation(answers={200: Page[Share]})
async def list_shares(
    request: web.Request, *, env: Env, actor: Actor, org: OrgArg, page: paging.Page
) -> web.Response:
    """Who an account, resource or resource group is shared with (full permission)."""
    kind, ref = _kind(request)
    items = await sharing.list_shares(env, actor, org, kind, ref)
    return json_response(paging.paged(items, page, paging.oldest_first))


@operation(body=ShareCreate, answers={201: Share})
async def add_share(
    request: web.Request, *, env: Env, actor: Actor, org: OrgArg, body: ShareCreate
) -> web.Response:
    """Share with a user or group at view, modify or full (full permission to re-share)."""
    kind, ref = _kind(request)
    return json_response(
        await sharing.add_share(env, actor, org, kind, ref, body.given()), status=201
    )


@operation(answers={204: None})
async def remove_share(
    request: web.Request, *, env: Env, actor: Actor, org: OrgArg, share_id: str
) -> web.Response:
    """Withdraw a share."""
    kind, ref = _kind(request)
    await sharing.remove_share(env, actor, org, kind, ref, share_id)
    return web.Response(status=204)


# Adding resources to a group that has shares extends them: refused unless extend_shares.
_EXTENDS = {409: "shares_would_extend (problem: shares, resources)"}


@paging.paged_list
@operation(answers={200: Page[ResourceGroup]})
async def list_resource_groups(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page
) -> web.Response:
    """The org's resource groups."""
    items = await sharing.list_resource_groups(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=ResourceGroupCreate, answers={201: ResourceGroup}, errors=_EXTENDS)
async def create_resource_group(
    *, env: Env, actor: Actor, org: OrgArg, body: ResourceGroupCreate
) -> web.Response:
    """Create a resource group from resources I may share."""
    return json_response(
        await sharing.save_resource_group(env, actor, org, body.given()), status=201
    )


@operation(answers={200: ResourceGroup})
async def get_resource_group(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """One resource group."""
    return json_response(await sharing.get_resource_group(env, actor, org, name))


@operation(body=ResourceGroupUpdate, answers={200: ResourceGroup}, errors=_EXTENDS)
async def update_resource_group(
    *, env: Env, actor: Actor, org: OrgArg, name: str, body: ResourceGroupUpdate
) -> web.Response:
    """Rename a resource group or replace its resources."""
    return json_response(
        await sharing.save_resource_group(env, actor, org, body.given(), existing=name)
    )


@operation(answers={204: None})
async def delete_resource_group(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """Delete a resource group."""
    await sharing.delete_resource_group(env, actor, org, name)
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[Policy]})
async def list_policies(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """Password policies: the built-ins and the org's own."""
    items = await policies.list_policies(env, actor, org)
    return json_response(paging.paged(items, page, _builtin_first))


def _builtin_first(policy: dict) -> paging.Key:
    """The four built-ins from weakest to strongest, then the org's own by name."""
    rank = list(BUILTIN).index(policy["name"].lower()) if policy["builtin"] else 0
    return (not policy["builtin"], rank, policy["name"].lower(), policy["name"])


@operation(body=PolicyCreate, answers={201: Policy})
async def create_policy(*, env: Env, actor: Actor, org: OrgArg, body: PolicyCreate) -> web.Response:
    """Add a custom password policy."""
    return json_response(await policies.create_policy(env, actor, org, body.given()), status=201)


@operation(answers={200: GeneratedPassword})
async def generate_password(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """A random password that satisfies the named policy."""
    return json_response({"password": await policies.generate(env, actor, org, name)})


@paging.paged_list
@operation(query=PasswordExpiryQuery, answers={200: Page[PasswordExpiring]})
async def list_password_expiry(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page, query: PasswordExpiryQuery
) -> web.Response:
    """Passwords of the org expired or expiring within ``within_days`` days, soonest first
    (administrators and auditors; issue 31)."""
    items = await password_expiry.report(env, actor, org, query.within_days)
    return json_response(paging.paged(items, page, lambda i: (i["expires_at"], i["id"])))
