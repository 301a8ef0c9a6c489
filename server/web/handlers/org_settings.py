"""Per-org settings: custom roles, resource types, additional field definitions
(/orgs/{org}/roles, /resource-types, /field-definitions)."""

from __future__ import annotations

from aiohttp import web

from server.services import org_settings as settings
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.org_settings import (
    FieldDefinition,
    FieldDefinitionBody,
    ResourceType,
    ResourceTypeBody,
    RoleAnswer,
    RoleBody,
    RoleUpdateBody,
)
from server.web.problem import json_response


@paging.paged_list
@operation(answers={200: Page[RoleAnswer]})
async def list_roles(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """Built-in roles, then the org's custom roles."""
    items = await settings.list_roles(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=RoleBody, answers={201: RoleAnswer})
async def create_role(*, env: Env, actor: Actor, org: OrgArg, body: RoleBody) -> web.Response:
    """Add a custom role: {name, description?, permissions: [...]}."""
    return json_response(await settings.create_role(env, actor, org, body.given()), status=201)


@operation(body=RoleUpdateBody, answers={200: RoleAnswer})
async def update_role(
    *, env: Env, actor: Actor, org: OrgArg, name: str, body: RoleUpdateBody
) -> web.Response:
    """Change a custom role's description or permissions."""
    return json_response(await settings.update_role(env, actor, org, name, body.given()))


@operation(answers={204: None})
async def delete_role(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """Delete a custom role nobody holds."""
    await settings.delete_role(env, actor, org, name)
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[ResourceType]})
async def list_types(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """The built-in resource types, then the org's own."""
    items = await settings.list_types(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=ResourceTypeBody, answers={201: ResourceType})
async def create_type(
    *, env: Env, actor: Actor, org: OrgArg, body: ResourceTypeBody
) -> web.Response:
    """Add a resource type: {name}."""
    return json_response(await settings.create_type(env, actor, org, body.given()), status=201)


@operation(answers={204: None})
async def delete_type(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """Delete a custom resource type no resource uses."""
    await settings.delete_type(env, actor, org, name)
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[FieldDefinition]})
async def list_definitions(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page
) -> web.Response:
    """The org's additional field definitions."""
    items = await settings.list_definitions(env, actor, org)
    return json_response(paging.paged(items, page, _definition_order))


def _definition_order(item: dict) -> paging.Key:
    return (item["applies_to"], item["resource_type"] or "", item["name"].lower(), item["id"])


@operation(body=FieldDefinitionBody, answers={201: FieldDefinition})
async def create_definition(
    *, env: Env, actor: Actor, org: OrgArg, body: FieldDefinitionBody
) -> web.Response:
    """Define an additional field: {applies_to, resource_type?, name, kind, required?,
    default?, choices?}."""
    made = await settings.create_definition(env, actor, org, body.given())
    return json_response(made, status=201)


@operation(answers={204: None})
async def delete_definition(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Remove a field definition."""
    await settings.delete_definition(env, actor, org, id)
    return web.Response(status=204)
