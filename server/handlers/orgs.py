"""Organizations and org access: /orgs, /orgs/import, /orgs/{org}/access|report,
/org-access-requests."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.handlers.common import actor
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import dual_control, org_access, org_import, org_report, orgs
from server.validation import Field, validate

REQUEST_FIELDS = {
    "kind": Field(str, choices=dual_control.KINDS),
    "org": Field(str, max_len=64),
    "user": Field(str, max_len=64),
    "group": Field(str, max_len=100),
    "approver": Field(str, required=True, max_len=64),
    "reason": Field(str, max_len=2000, allow_control=True),
}
DECISION_FIELDS = {"reason": Field(str, max_len=2000, allow_control=True)}


@paging.paged_list
async def list_orgs(request: web.Request, page: paging.Page) -> web.Response:
    """Organizations visible to the caller, with whether it manages each."""
    items = await orgs.list_orgs(get_env(request), actor(request))
    return json_response(paging.paged(items, page, _msp_first))


def _msp_first(org: dict) -> paging.Key:
    return (not org["is_msp"], org["display_name"].lower(), org["display_name"])


async def create_org(request: web.Request) -> web.Response:
    """Create a client organization (MSPOrg administrators)."""
    data = validate(await read_json(request), orgs.ORG_FIELDS)
    return json_response(await orgs.create_org(get_env(request), actor(request), data), status=201)


async def import_orgs(request: web.Request) -> web.Response:
    """Import organizations from a CSV/TXT file sent as the raw body."""
    filename = request.query.get("filename", "")
    raw = await request.read()
    return json_response(
        await org_import.import_orgs(get_env(request), actor(request), filename, raw)
    )


async def get_org(request: web.Request) -> web.Response:
    """One organization."""
    return json_response(
        await orgs.get_org(get_env(request), actor(request), request.match_info["org"])
    )


async def update_org(request: web.Request) -> web.Response:
    """Edit an organization's details, account manager or vault control."""
    data = validate(await read_json(request), orgs.ORG_UPDATE)
    return json_response(
        await orgs.update_org(get_env(request), actor(request), request.match_info["org"], data)
    )


async def delete_org(request: web.Request) -> web.Response:
    """Delete a client organization; ?confirm= must repeat its display name."""
    deleted = await orgs.delete_org(
        get_env(request), actor(request), request.match_info["org"], request.query.get("confirm")
    )
    return json_response({"deleted": deleted})


async def report(request: web.Request) -> web.Response:
    """Users, groups, MSP access (and through what) and pending requests of a client org."""
    return json_response(
        await org_report.report(get_env(request), actor(request), request.match_info["org"])
    )


async def get_access(request: web.Request) -> web.Response:
    """Current MSP grants for a client organization."""
    return json_response(
        await org_access.list_access(get_env(request), actor(request), request.match_info["org"])
    )


async def revoke_user(request: web.Request) -> web.Response:
    """Revoke a user's access grant (no approval needed)."""
    await org_access.revoke(
        get_env(request),
        actor(request),
        request.match_info["org"],
        "user",
        request.match_info["username"],
    )
    return web.Response(status=204)


async def revoke_group(request: web.Request) -> web.Response:
    """Revoke a user group's access grant (no approval needed)."""
    await org_access.revoke(
        get_env(request),
        actor(request),
        request.match_info["org"],
        "group",
        request.match_info["name"],
    )
    return web.Response(status=204)


ELIGIBILITY_QUERY = {
    k: v for k, v in REQUEST_FIELDS.items() if k in ("kind", "org", "user", "group")
}


async def eligible_approvers(request: web.Request) -> web.Response:
    """Who could approve the request that ?kind=&org=&user=|group= describes if I filed it."""
    data = validate(dict(request.query), ELIGIBILITY_QUERY)
    items = await org_access.eligible_approvers(get_env(request), actor(request), data)
    return json_response({"items": items, "next_cursor": None})


async def file_request(request: web.Request) -> web.Response:
    """File a dual-control request (org access, account manager, group member, client user
    confirmation), naming the approver."""
    data = validate(await read_json(request), REQUEST_FIELDS)
    return json_response(
        await org_access.file_request(get_env(request), actor(request), data), status=201
    )


@paging.paged_list
async def list_requests(request: web.Request, page: paging.Page) -> web.Response:
    """Org access requests where I am approver or proposer (?status=, ?role=)."""
    items = await org_access.list_requests(
        get_env(request), actor(request), request.query.get("status"), request.query.get("role")
    )
    return json_response(paging.paged(items, page, paging.newest_first))


async def approve_request(request: web.Request) -> web.Response:
    """Approve (the named approver, with its current password)."""
    data = validate(
        await read_json(request),
        {"current_password": Field(str, required=True, strip=False, max_len=1024)},
    )
    return json_response(
        await org_access.approve(
            get_env(request), actor(request), request.match_info["id"], data["current_password"]
        )
    )


async def reject_request(request: web.Request) -> web.Response:
    """Reject (the named approver), with an optional reason."""
    data = validate(await read_json(request), DECISION_FIELDS)
    return json_response(
        await org_access.reject(
            get_env(request), actor(request), request.match_info["id"], data.get("reason", "")
        )
    )


async def cancel_request(request: web.Request) -> web.Response:
    """Cancel (the proposer), with an optional reason."""
    data = validate(await read_json(request), DECISION_FIELDS)
    return json_response(
        await org_access.cancel(
            get_env(request), actor(request), request.match_info["id"], data.get("reason", "")
        )
    )
