"""Password access control of an org: controls on accounts and resources, requests,
decisions, check-in, and who holds what (/orgs/{org}/…)."""

from __future__ import annotations

from aiohttp import web

from server import paging
from server.handlers.common import actor
from server.handlers.common import env as get_env
from server.problem import json_response, read_json
from server.services import password_requests as pr
from server.validation import validate


def _m(request: web.Request, key: str) -> str:
    return request.match_info[key]


async def get_account_control(request: web.Request) -> web.Response:
    """The access control in force on an account (its own or its resource's)."""
    return json_response(
        await pr.get_control(
            get_env(request), actor(request), _m(request, "org"), "account", _m(request, "id")
        )
    )


async def put_account_control(request: web.Request) -> web.Response:
    """Put an account under access control, change it, or take it off (needs full)."""
    data = validate(await read_json(request), pr.CONTROL_FIELDS)
    return json_response(
        await pr.set_control(
            get_env(request), actor(request), _m(request, "org"), "account", _m(request, "id"), data
        )
    )


async def get_resource_control(request: web.Request) -> web.Response:
    """The access control a resource gives its accounts by default."""
    return json_response(
        await pr.get_control(
            get_env(request), actor(request), _m(request, "org"), "resource", _m(request, "id")
        )
    )


async def put_resource_control(request: web.Request) -> web.Response:
    """Set a resource's default access control for its accounts (needs full)."""
    data = validate(await read_json(request), pr.CONTROL_FIELDS)
    return json_response(
        await pr.set_control(
            get_env(request),
            actor(request),
            _m(request, "org"),
            "resource",
            _m(request, "id"),
            data,
        )
    )


async def file_request(request: web.Request) -> web.Response:
    """Ask to check out a controlled password: {account, reason, window_minutes}."""
    data = validate(await read_json(request), pr.REQUEST_FIELDS)
    return json_response(
        await pr.file_request(get_env(request), actor(request), _m(request, "org"), data),
        status=201,
    )


@paging.paged_list
async def list_requests(request: web.Request, page: paging.Page) -> web.Response:
    """Password requests I filed or may decide (?role=approver|requester, ?status=)."""
    items = await pr.list_requests(
        get_env(request),
        actor(request),
        _m(request, "org"),
        request.query.get("role"),
        request.query.get("status"),
    )
    return json_response(paging.paged(items, page, paging.newest_first))


async def approve(request: web.Request) -> web.Response:
    """An eligible approver approves; the window opens once enough have."""
    data = validate(await read_json(request), pr.DECISION_FIELDS)
    return json_response(
        await pr.decide(
            get_env(request),
            actor(request),
            _m(request, "org"),
            _m(request, "id"),
            True,
            data.get("reason", ""),
        )
    )


async def reject(request: web.Request) -> web.Response:
    """An eligible approver rejects, with a reason."""
    data = validate(await read_json(request), pr.DECISION_FIELDS)
    return json_response(
        await pr.decide(
            get_env(request),
            actor(request),
            _m(request, "org"),
            _m(request, "id"),
            False,
            data.get("reason", ""),
        )
    )


async def withdraw(request: web.Request) -> web.Response:
    """The requester withdraws its pending request."""
    return json_response(
        await pr.withdraw(get_env(request), actor(request), _m(request, "org"), _m(request, "id"))
    )


async def check_in(request: web.Request) -> web.Response:
    """The holder checks the password in (an administrator may force it)."""
    return json_response(
        await pr.check_in(get_env(request), actor(request), _m(request, "org"), _m(request, "id"))
    )


@paging.paged_list
async def list_holds(request: web.Request, page: paging.Page) -> web.Response:
    """Open check-outs of the org: who holds which password until when (administrators)."""
    items = await pr.holds(get_env(request), actor(request), _m(request, "org"))
    return json_response(paging.paged(items, page, paging.newest_first))
