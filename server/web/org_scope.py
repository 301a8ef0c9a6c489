"""The org of an ``/orgs/{org}`` route, resolved once before its handler.

``@operation`` (server/web/api.py) calls ``resolve`` after validating the request: one
batched statement (``Env.orgs_by_name``, sql/functions/org_reach.sql) finds the org and decides
whether the actor may act there and how; the handler hands ``org_of(request)`` to its
service. The step itself never answers: when the org is missing or out of the actor's
reach, ``org_of`` gives the name as written and the service answers exactly as it did
for a name (its permission checks first, then 404 ``org_not_found``), and a service
that works inside a transaction checks the reach again there (``access.acting_org``),
so a grant revoked meanwhile stops the very next request.
"""

from __future__ import annotations

from aiohttp import web

from server.core.errors import StrongroomError
from server.services.access import OrgArg, OrgRef, resolve_org
from server.web.keys import ACTOR, ENV

ACTING_ORG = web.RequestKey("acting_org", OrgRef)
_SCOPED = "/orgs/{org}"


def scoped(request: web.Request) -> bool:
    """Whether the request's route is ``/orgs/{org}`` or below it."""
    info = request.match_info
    if "org" not in info:
        return False
    route = info.route
    canonical = route.resource.canonical if route.resource is not None else ""
    return _SCOPED in canonical


async def resolve(request: web.Request) -> None:
    """Resolve the route's org for its actor into ``request[ACTING_ORG]`` (an
    ``access.OrgRef``: id, display name, is_msp, via and the actor's capabilities there).

    Nothing is stored for a route without ``{org}``, an anonymous request, an org that
    does not exist or that the actor does not reach, or when the lookup fails (the
    service then meets the same failure at its usual point, after its own checks).
    """
    if not scoped(request):
        return
    who = request.get(ACTOR)
    if who is None:
        return
    env = request.app[ENV]
    try:
        request[ACTING_ORG] = await resolve_org(
            env.pool, env.orgs_by_name, who, request.match_info["org"]
        )
    except StrongroomError:
        return


def org_of(request: web.Request) -> OrgArg:
    """What a handler hands its service for ``{org}``: the resolved org, or the name as
    written when the step found none (server/services/access.py ``OrgArg``)."""
    return request.get(ACTING_ORG) or request.match_info["org"]
