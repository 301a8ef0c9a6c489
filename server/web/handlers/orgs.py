"""Organizations and org access: /orgs, /orgs/import, /orgs/{org}/access|report,
/org-access-requests."""

from __future__ import annotations

from aiohttp import web

from server.services import org_access, org_import, org_report, orgs
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import actor
from server.web.handlers.common import env as get_env
from server.web.models.common import Page
from server.web.models.orgs import (
    Access,
    AccessRequest,
    ApproveBody,
    Approver,
    DecisionBody,
    DeleteOrgQuery,
    EligibilityQuery,
    ImportQuery,
    ImportResult,
    Org,
    OrgCreate,
    OrgDeleted,
    OrgUpdate,
    Report,
    RequestBody,
    RequestsQuery,
)
from server.web.org_scope import org_of
from server.web.problem import json_response


@paging.paged_list
@operation(answers={200: Page[Org]})
async def list_orgs(request: web.Request, page: paging.Page) -> web.Response:
    """Organizations visible to the caller, with whether it manages each."""
    items = await orgs.list_orgs(get_env(request), actor(request))
    return json_response(paging.paged(items, page, _msp_first))


def _msp_first(org: dict) -> paging.Key:
    return (not org["is_msp"], org["display_name"].lower(), org["display_name"])


@operation(body=OrgCreate, answers={201: Org})
async def create_org(request: web.Request, body: OrgCreate) -> web.Response:
    """Create a client organization (MSPOrg administrators)."""
    data = body.given()
    return json_response(await orgs.create_org(get_env(request), actor(request), data), status=201)


@operation(
    query=ImportQuery,
    answers={200: ImportResult},
    errors={400: "inconsistent_fields (with line), unsupported_file_type"},
    raw_body=("text/csv", "text/plain"),
)
async def import_orgs(request: web.Request, query: ImportQuery) -> web.Response:
    """Import organizations from a CSV/TXT file sent as the raw body."""
    filename = query.filename
    raw = await request.read()
    return json_response(
        await org_import.import_orgs(get_env(request), actor(request), filename, raw)
    )


@operation(answers={200: Org})
async def get_org(request: web.Request) -> web.Response:
    """One organization."""
    return json_response(await orgs.get_org(get_env(request), actor(request), org_of(request)))


@operation(body=OrgUpdate, answers={200: Org})
async def update_org(request: web.Request, body: OrgUpdate) -> web.Response:
    """Edit an organization's details, account manager or vault control."""
    data = body.given()
    return json_response(
        await orgs.update_org(get_env(request), actor(request), org_of(request), data)
    )


@operation(query=DeleteOrgQuery, answers={200: OrgDeleted})
async def delete_org(request: web.Request, query: DeleteOrgQuery) -> web.Response:
    """Delete a client organization; ?confirm= must repeat its display name."""
    deleted = await orgs.delete_org(
        get_env(request), actor(request), org_of(request), query.given().get("confirm")
    )
    return json_response({"deleted": deleted})


@operation(answers={200: Report})
async def report(request: web.Request) -> web.Response:
    """Users, groups, MSP access (and through what) and pending requests of a client org."""
    return json_response(await org_report.report(get_env(request), actor(request), org_of(request)))


@operation(answers={200: Access})
async def get_access(request: web.Request) -> web.Response:
    """Current MSP grants for a client organization."""
    return json_response(
        await org_access.list_access(get_env(request), actor(request), org_of(request))
    )


@operation(answers={204: None})
async def revoke_user(request: web.Request) -> web.Response:
    """Revoke a user's access grant (no approval needed)."""
    await org_access.revoke(
        get_env(request),
        actor(request),
        org_of(request),
        "user",
        request.match_info["username"],
    )
    return web.Response(status=204)


@operation(answers={204: None})
async def revoke_group(request: web.Request) -> web.Response:
    """Revoke a user group's access grant (no approval needed)."""
    await org_access.revoke(
        get_env(request),
        actor(request),
        org_of(request),
        "group",
        request.match_info["name"],
    )
    return web.Response(status=204)


@operation(query=EligibilityQuery, answers={200: Page[Approver]})
async def eligible_approvers(request: web.Request, query: EligibilityQuery) -> web.Response:
    """Who could approve the request that ?kind=&org=&user=|group= describes if I filed it."""
    data = query.given()
    items = await org_access.eligible_approvers(get_env(request), actor(request), data)
    return json_response({"items": items, "next_cursor": None})


@operation(
    body=RequestBody,
    answers={201: AccessRequest},
    errors={422: "approver_not_eligible"},
)
async def file_request(request: web.Request, body: RequestBody) -> web.Response:
    """File a dual-control request (org access, account manager, group member, client user
    confirmation), naming the approver."""
    data = body.given()
    return json_response(
        await org_access.file_request(get_env(request), actor(request), data), status=201
    )


@paging.paged_list
@operation(query=RequestsQuery, answers={200: Page[AccessRequest]})
async def list_requests(
    request: web.Request, page: paging.Page, query: RequestsQuery
) -> web.Response:
    """Org access requests where I am approver or proposer (?status=, ?role=)."""
    items = await org_access.list_requests(
        get_env(request), actor(request), query.given().get("status"), query.given().get("role")
    )
    return json_response(paging.paged(items, page, paging.newest_first))


@operation(body=ApproveBody, answers={200: AccessRequest})
async def approve_request(request: web.Request, body: ApproveBody) -> web.Response:
    """Approve (the named approver, with its current password)."""
    data = body.given()
    return json_response(
        await org_access.approve(
            get_env(request), actor(request), request.match_info["id"], data["current_password"]
        )
    )


@operation(body=DecisionBody, answers={200: AccessRequest})
async def reject_request(request: web.Request, body: DecisionBody) -> web.Response:
    """Reject (the named approver), with an optional reason."""
    data = body.given()
    return json_response(
        await org_access.reject(
            get_env(request), actor(request), request.match_info["id"], data.get("reason", "")
        )
    )


@operation(body=DecisionBody, answers={200: AccessRequest})
async def cancel_request(request: web.Request, body: DecisionBody) -> web.Response:
    """Cancel (the proposer), with an optional reason."""
    data = body.given()
    return json_response(
        await org_access.cancel(
            get_env(request), actor(request), request.match_info["id"], data.get("reason", "")
        )
    )
