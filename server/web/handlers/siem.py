"""SIEM destinations of an org's audit trail (/orgs/{org}/siem-destinations, issue 31)."""

from __future__ import annotations

from aiohttp import web

from server.services import siem
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.siem import (
    SiemDestination,
    SiemDestinationBody,
    SiemDestinationCreated,
    SiemDestinationPatch,
    SiemTestResult,
)
from server.web.problem import json_response

OWN_ADMINS = {403: "siem_own_administrators (only the org's own administrators)"}


@paging.paged_list
@operation(answers={200: Page[SiemDestination]}, errors=OWN_ADMINS)
async def list_destinations(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page
) -> web.Response:
    """The org's SIEM destinations with their delivery state (cursor, lag, last error),
    by name."""
    items = await siem.list_destinations(env, actor, org)
    return json_response(paging.paged(items, page, paging.by_name("name")))


@operation(
    body=SiemDestinationBody,
    answers={201: SiemDestinationCreated},
    errors={
        **OWN_ADMINS,
        409: "siem_destination_exists",
        422: "destination_not_allowed (this server, link-local, unspecified or multicast)",
    },
)
async def create_destination(
    *, env: Env, actor: Actor, org: OrgArg, body: SiemDestinationBody
) -> web.Response:
    """Add a destination; its verification key is in this answer only."""
    answer = await siem.create_destination(env, actor, org, body.model_dump())
    return json_response(answer, status=201)


@operation(
    body=SiemDestinationPatch,
    answers={200: SiemDestination},
    errors={
        **OWN_ADMINS,
        422: "destination_not_allowed (this server, link-local, unspecified or multicast)",
    },
)
async def update_destination(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: SiemDestinationPatch
) -> web.Response:
    """Pause or resume a destination (a resumed one catches up from its cursor), or edit
    its host, port, transport, format, CAs or client certificate: the cursor stays (the
    receiver continues the chain); the forwarder reconnects at once."""
    changes = {k: v for k, v in body.given().items() if v is not None}
    return json_response(await siem.update_destination(env, actor, org, id, changes))


@operation(answers={204: None}, errors=OWN_ADMINS)
async def delete_destination(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Remove a destination and its cursor."""
    await siem.delete_destination(env, actor, org, id)
    return web.Response(status=204)


@operation(answers={200: SiemTestResult}, errors=OWN_ADMINS)
async def send_test(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Send one test message now (outside the chain) and say whether it left."""
    return json_response(await siem.send_test(env, actor, org, id))
