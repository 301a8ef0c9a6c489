"""Directory login (issue 32): /orgs/{org}/directory, its test and its sync."""

from __future__ import annotations

from aiohttp import web

from server.services import directory
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.web.api import operation
from server.web.models.directory import (
    Directory,
    DirectoryBody,
    DirectorySync,
    DirectoryTest,
    DirectoryTestQuery,
)
from server.web.problem import json_response


@operation(answers={200: Directory})
async def get_directory(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """The org's directory configuration (active, and MSPOrg's pending one)."""
    return json_response(await directory.get_config(env, actor, org))


@operation(body=DirectoryBody, answers={200: Directory, 202: Directory})
async def put_directory(
    *, env: Env, actor: Actor, org: OrgArg, body: DirectoryBody
) -> web.Response:
    """Set the org's directory; MSPOrg's waits for a directory_config request's approval
    (202)."""
    data = body.model_dump()
    data["group_roles"] = [dict(m) for m in data["group_roles"]]
    answer, pending = await directory.put_config(env, actor, org, data)
    return json_response(answer, status=202 if pending else 200)


@operation(answers={204: None})
async def delete_directory(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Remove the org's directory (its users can no longer log in)."""
    await directory.delete_config(env, actor, org)
    return web.Response(status=204)


@operation(query=DirectoryTestQuery, answers={200: DirectoryTest})
async def test_directory(
    *, env: Env, actor: Actor, org: OrgArg, query: DirectoryTestQuery
) -> web.Response:
    """Connect, bind as the service account, search: what it found."""
    return json_response(
        await directory.test_connection(env, actor, org, query.configuration or None)
    )


@operation(answers={200: DirectorySync})
async def sync_directory(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Bring the org's directory users in step now: what changed."""
    return json_response(await directory.sync(env, actor, org))
