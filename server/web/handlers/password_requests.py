"""Password access control of an org: controls on accounts and resources, requests,
decisions, check-in, and who holds what (/orgs/{org}/…)."""

from __future__ import annotations

from aiohttp import web

from server.services import password_requests as pr
from server.store import paging
from server.web.api import operation
from server.web.handlers.common import actor
from server.web.handlers.common import env as get_env
from server.web.models.common import Page
from server.web.models.password_requests import (
    AccessControl,
    ControlBody,
    PasswordDecisionBody,
    PasswordRequest,
    PasswordRequestBody,
    PasswordRequestsQuery,
)
from server.web.org_scope import org_of
from server.web.problem import json_response


def _m(request: web.Request, key: str) -> str:
    return request.match_info[key]


@operation(answers={200: AccessControl})
async def get_account_control(request: web.Request) -> web.Response:
    """The access control in force on an account (its own or its resource's)."""
    return json_response(
        await pr.get_control(
            get_env(request), actor(request), org_of(request), "account", _m(request, "id")
        )
    )


@operation(body=ControlBody, answers={200: AccessControl})
async def put_account_control(request: web.Request, body: ControlBody) -> web.Response:
    """Put an account under access control, change it, or take it off (needs full)."""
    data = body.given()
    return json_response(
        await pr.set_control(
            get_env(request), actor(request), org_of(request), "account", _m(request, "id"), data
        )
    )


@operation(answers={200: AccessControl})
async def get_resource_control(request: web.Request) -> web.Response:
    """The access control a resource gives its accounts by default."""
    return json_response(
        await pr.get_control(
            get_env(request), actor(request), org_of(request), "resource", _m(request, "id")
        )
    )


@operation(body=ControlBody, answers={200: AccessControl})
async def put_resource_control(request: web.Request, body: ControlBody) -> web.Response:
    """Set a resource's default access control for its accounts (needs full)."""
    data = body.given()
    return json_response(
        await pr.set_control(
            get_env(request),
            actor(request),
            org_of(request),
            "resource",
            _m(request, "id"),
            data,
        )
    )


@operation(body=PasswordRequestBody, answers={201: PasswordRequest})
async def file_request(request: web.Request, body: PasswordRequestBody) -> web.Response:
    """Ask to check out a controlled password: {account, reason, window_minutes}."""
    data = body.given()
    return json_response(
        await pr.file_request(get_env(request), actor(request), org_of(request), data),
        status=201,
    )


@paging.paged_list
@operation(query=PasswordRequestsQuery, answers={200: Page[PasswordRequest]})
async def list_requests(
    request: web.Request, page: paging.Page, query: PasswordRequestsQuery
) -> web.Response:
    """Password requests I filed or may decide (?role=approver|requester, ?status=)."""
    items = await pr.list_requests(
        get_env(request),
        actor(request),
        org_of(request),
        query.given().get("role"),
        query.given().get("status"),
    )
    return json_response(paging.paged(items, page, paging.newest_first))


@operation(body=PasswordDecisionBody, answers={200: PasswordRequest})
async def approve(request: web.Request, body: PasswordDecisionBody) -> web.Response:
    """An eligible approver approves; the window opens once enough have."""
    data = body.given()
    return json_response(
        await pr.decide(
            get_env(request),
            actor(request),
            org_of(request),
            _m(request, "id"),
            True,
            data.get("reason", ""),
        )
    )


@operation(body=PasswordDecisionBody, answers={200: PasswordRequest})
async def reject(request: web.Request, body: PasswordDecisionBody) -> web.Response:
    """An eligible approver rejects, with a reason."""
    data = body.given()
    return json_response(
        await pr.decide(
            get_env(request),
            actor(request),
            org_of(request),
            _m(request, "id"),
            False,
            data.get("reason", ""),
        )
    )


@operation(answers={200: PasswordRequest})
async def withdraw(request: web.Request) -> web.Response:
    """The requester withdraws its pending request."""
    return json_response(
        await pr.withdraw(get_env(request), actor(request), org_of(request), _m(request, "id"))
    )


@operation(answers={200: PasswordRequest})
async def check_in(request: web.Request) -> web.Response:
    """The holder checks the password in (an administrator may force it)."""
    return json_response(
        await pr.check_in(get_env(request), actor(request), org_of(request), _m(request, "id"))
    )


@paging.paged_list
@operation(answers={200: Page[PasswordRequest]})
async def list_holds(request: web.Request, page: paging.Page) -> web.Response:
    """Open check-outs of the org: who holds which password until when (administrators)."""
    items = await pr.holds(get_env(request), actor(request), org_of(request))
    return json_response(paging.paged(items, page, paging.newest_first))
