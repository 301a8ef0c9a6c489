"""Organizations and org access: /orgs, /orgs/import, /orgs/{org}/access|report,
/org-access-requests."""

from __future__ import annotations

from aiohttp import web

from server.services import org_access, org_import, org_report, orgs
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.orgs import (
    Access,
    AccessRequest,
    ApproveBody,
    DecisionBody,
    DeleteOrgQuery,
    EligibilityQuery,
    EligibleApprovers,
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
from server.web.problem import json_response


@paging.paged_list
@operation(answers={200: Page[Org]})
async def list_orgs(*, env: Env, actor: Actor, page: paging.Page) -> web.Response:
    """Organizations visible to the caller, with whether it manages each."""
    items = await orgs.list_orgs(env, actor)
    return json_response(paging.paged(items, page, _msp_first))


def _msp_first(org: dict) -> paging.Key:
    return (not org["is_msp"], org["display_name"].lower(), org["display_name"])


@operation(
    body=OrgCreate,
    answers={201: Org},
    errors={409: "display_name_taken, display_name_reserved (given up by another org < 30 days)"},
)
async def create_org(*, env: Env, actor: Actor, body: OrgCreate) -> web.Response:
    """Create a client organization (MSPOrg administrators)."""
    return json_response(await orgs.create_org(env, actor, body.given()), status=201)


@operation(
    query=ImportQuery,
    answers={200: ImportResult},
    errors={400: "inconsistent_fields (with line), unsupported_file_type"},
    raw_body=("text/csv", "text/plain"),
)
async def import_orgs(
    request: web.Request, *, env: Env, actor: Actor, query: ImportQuery
) -> web.Response:
    """Import organizations from a CSV/TXT file sent as the raw body."""
    raw = await request.read()
    return json_response(await org_import.import_orgs(env, actor, query.filename, raw))


@operation(answers={200: Org})
async def get_org(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """One organization."""
    return json_response(await orgs.get_org(env, actor, org))


@operation(
    body=OrgUpdate,
    answers={200: Org},
    errors={409: "dual_control_required (a new account manager or display name: a request)"},
)
async def update_org(*, env: Env, actor: Actor, org: OrgArg, body: OrgUpdate) -> web.Response:
    """Edit an organization's details, account manager or vault control."""
    return json_response(await orgs.update_org(env, actor, org, body.given()))


@operation(query=DeleteOrgQuery, answers={200: OrgDeleted})
async def delete_org(*, env: Env, actor: Actor, org: OrgArg, query: DeleteOrgQuery) -> web.Response:
    """Delete a client organization, recoverably: ?confirm= must repeat its display name; it
    is kept (logins refused, hidden) until ``purge_at``, restorable by any MSPOrg
    administrator (POST /orgs/deleted/{id}/restore)."""
    return json_response(await orgs.delete_org(env, actor, org, query.given().get("confirm")))


@operation(answers={200: Report})
async def report(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Users, groups, MSP access (and through what) and pending requests of a client org."""
    return json_response(await org_report.report(env, actor, org))


@operation(answers={200: Access})
async def get_access(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Current MSP grants for a client organization."""
    return json_response(await org_access.list_access(env, actor, org))


@operation(answers={204: None})
async def revoke_user(*, env: Env, actor: Actor, org: OrgArg, username: str) -> web.Response:
    """Revoke a user's access grant (no approval needed)."""
    await org_access.revoke(env, actor, org, "user", username)
    return web.Response(status=204)


@operation(answers={204: None})
async def revoke_group(*, env: Env, actor: Actor, org: OrgArg, name: str) -> web.Response:
    """Revoke a user group's access grant (no approval needed)."""
    await org_access.revoke(env, actor, org, "group", name)
    return web.Response(status=204)


@operation(
    query=EligibilityQuery,
    answers={200: EligibleApprovers},
    errors={409: "nothing_to_approve (directory_config: no pending configuration)"},
)
async def eligible_approvers(*, env: Env, actor: Actor, query: EligibilityQuery) -> web.Response:
    """Who could approve the request that ?kind=&org=&user=|group= describes if I filed it
    (``items``), and every MSPOrg administrator with the reason it could not
    (``candidates``)."""
    candidates = await org_access.eligible_approvers(env, actor, query.given())
    items = [
        {"username": c["username"], "full_name": c["full_name"]}
        for c in candidates
        if c["eligible"]
    ]
    return json_response({"items": items, "next_cursor": None, "candidates": candidates})


@operation(
    body=RequestBody,
    answers={201: AccessRequest},
    errors={
        409: "request_pending; org_rename: display_name_taken, display_name_reserved, "
        "display_name_unchanged",
        422: "approver_not_eligible",
    },
)
async def file_request(*, env: Env, actor: Actor, body: RequestBody) -> web.Response:
    """File a dual-control request (org access, account manager, group member, client user
    confirmation, org rename), naming the approver."""
    return json_response(await org_access.file_request(env, actor, body.given()), status=201)


@paging.paged_list
@operation(query=RequestsQuery, answers={200: Page[AccessRequest]})
async def list_requests(
    *, env: Env, actor: Actor, page: paging.Page, query: RequestsQuery
) -> web.Response:
    """Org access requests where I am approver or proposer (?status=, ?role=)."""
    given = query.given()
    items = await org_access.list_requests(env, actor, given.get("status"), given.get("role"))
    return json_response(paging.paged(items, page, paging.newest_first))


@operation(
    body=ApproveBody,
    answers={200: AccessRequest},
    errors={409: "group_changed (a group grant's members differ from those filed)"},
)
async def approve_request(*, env: Env, actor: Actor, id: str, body: ApproveBody) -> web.Response:
    """Approve (the named approver, with its current password)."""
    return json_response(await org_access.approve(env, actor, id, body.given()["current_password"]))


@operation(body=DecisionBody, answers={200: AccessRequest})
async def reject_request(*, env: Env, actor: Actor, id: str, body: DecisionBody) -> web.Response:
    """Reject (the named approver), with an optional reason."""
    return json_response(await org_access.reject(env, actor, id, body.given().get("reason", "")))


@operation(body=DecisionBody, answers={200: AccessRequest})
async def cancel_request(*, env: Env, actor: Actor, id: str, body: DecisionBody) -> web.Response:
    """Cancel (the proposer), with an optional reason."""
    return json_response(await org_access.cancel(env, actor, id, body.given().get("reason", "")))
