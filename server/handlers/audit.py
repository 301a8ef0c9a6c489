"""The audit trail of an org: /orgs/{org}/audit and /orgs/{org}/audit/verify."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.api import operation
from server.handlers.common import actor
from server.handlers.common import env as get_env
from server.models.audit import AuditEvent, AuditQuery, ChainCheck
from server.models.common import Page
from server.problem import json_response
from server.services import audit_trail


@paging.paged_list
@operation(query=AuditQuery, answers={200: Page[AuditEvent]})
async def list_audit(request: web.Request, page: paging.Page, query: AuditQuery) -> web.Response:
    """Events newest first; filters since, until, operation, actor; paged."""
    return json_response(
        await audit_trail.list_events(
            get_env(request), actor(request), request.match_info["org"], query.given(), page
        )
    )


@operation(answers={200: ChainCheck})
async def verify_audit(request: web.Request) -> web.Response:
    """Check the org's hash chain and name the first broken link."""
    return json_response(
        await audit_trail.verify_chain(get_env(request), actor(request), request.match_info["org"])
    )
