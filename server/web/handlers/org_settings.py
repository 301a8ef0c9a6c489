"""Per-org settings: custom roles, resource types, additional field definitions
(/orgs/{org}/roles, /resource-types, /field-definitions)."""

from __future__ import annotations

from aiohttp import web

from server.services import org_settings as settings
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import actor
from server.web.handlers.common import env as get_env
from server.web.models.common import Page
from server.web.models.org_settings import (
    DefinitionBody,
    FieldDefinition,
    ResourceType,
    RoleAnswer,
    RoleBody,
    RoleUpdateBody,
    TypeBody,
)
from server.web.org_scope import org_of
from server.web.problem import json_response


def _org(request: web.Request) -> str:
    return org_of(request)


@paging.paged_list
@operation(answers={200: Page[RoleAnswer]})
async def list_roles(request: web.Request, page: paging.Page) -> web.Response:
    """Built-in roles, then the org's custom roles."""
    items = await settings.list_roles(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=RoleBody, answers={201: RoleAnswer})
async def create_role(request: web.Request, body: RoleBody) -> web.Response:
    """Add a custom role: {name, description?, permissions: [...]}."""
    data = body.given()
    role = await settings.create_role(get_env(request), actor(request), org_of(request), data)
    return json_response(role, status=201)


@operation(body=RoleUpdateBody, answers={200: RoleAnswer})
async def update_role(request: web.Request, body: RoleUpdateBody) -> web.Response:
    """Change a custom role's description or permissions."""
    data = body.given()
    return json_response(
        await settings.update_role(
            get_env(request), actor(request), org_of(request), request.match_info["name"], data
        )
    )


@operation(answers={204: None})
async def delete_role(request: web.Request) -> web.Response:
    """Delete a custom role nobody holds."""
    await settings.delete_role(
        get_env(request), actor(request), org_of(request), request.match_info["name"]
    )
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[ResourceType]})
async def list_types(request: web.Request, page: paging.Page) -> web.Response:
    """The built-in resource types, then the org's own."""
    items = await settings.list_types(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(body=TypeBody, answers={201: ResourceType})
async def create_type(request: web.Request, body: TypeBody) -> web.Response:
    """Add a resource type: {name}."""
    data = body.given()
    made = await settings.create_type(get_env(request), actor(request), org_of(request), data)
    return json_response(made, status=201)


@operation(answers={204: None})
async def delete_type(request: web.Request) -> web.Response:
    """Delete a custom resource type no resource uses."""
    await settings.delete_type(
        get_env(request), actor(request), org_of(request), request.match_info["name"]
    )
    return web.Response(status=204)


@paging.paged_list
@operation(answers={200: Page[FieldDefinition]})
async def list_definitions(request: web.Request, page: paging.Page) -> web.Response:
    """The org's additional field definitions."""
    items = await settings.list_definitions(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, _definition_order))


def _definition_order(item: dict) -> paging.Key:
    return (item["applies_to"], item["resource_type"] or "", item["name"].lower(), item["id"])


@operation(body=DefinitionBody, answers={201: FieldDefinition})
async def create_definition(request: web.Request, body: DefinitionBody) -> web.Response:
    """Define an additional field: {applies_to, resource_type?, name, kind, required?,
    default?, choices?}."""
    data = body.given()
    made = await settings.create_definition(get_env(request), actor(request), org_of(request), data)
    return json_response(made, status=201)


@operation(answers={204: None})
async def delete_definition(request: web.Request) -> web.Response:
    """Remove a field definition."""
    await settings.delete_definition(
        get_env(request), actor(request), org_of(request), request.match_info["id"]
    )
    return web.Response(status=204)
