"""Password access control of an org: controls on accounts and resources, requests,
decisions, check-in, and who holds what (/orgs/{org}/…)."""

from __future__ import annotations

from aiohttp import web

from server.services import password_requests as pr
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.password_requests import (
    AccessControl,
    AccessControlBody,
    AccessControlChangeRequest,
    CheckoutApprovers,
    CheckoutApproversQuery,
    ControlRequestsQuery,
    PasswordDecisionBody,
    PasswordRequest,
    PasswordRequestBody,
    PasswordRequestsQuery,
)
from server.web.problem import json_response


@operation(answers={200: AccessControl})
async def get_account_control(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """The access control in force on an account (its own or its resource's)."""
    return json_response(await pr.get_control(env, actor, org, "account", id))


def _control_answer(applied: bool, body: dict) -> web.Response:
    """200 with the control now in force, or 202 with the change request filed."""
    return json_response(body, status=200 if applied else 202)


@operation(body=AccessControlBody, answers={200: AccessControl, 202: AccessControlChangeRequest})
async def put_account_control(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: AccessControlBody
) -> web.Response:
    """Put an account under access control or strengthen it (needs full); a change that
    weakens it or takes it off answers 202 with a request its approvers decide."""
    return _control_answer(*await pr.set_control(env, actor, org, "account", id, body.given()))


@operation(answers={200: AccessControl})
async def get_resource_control(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """The access control a resource gives its accounts by default."""
    return json_response(await pr.get_control(env, actor, org, "resource", id))


@operation(body=AccessControlBody, answers={200: AccessControl, 202: AccessControlChangeRequest})
async def put_resource_control(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: AccessControlBody
) -> web.Response:
    """Set a resource's default access control for its accounts (needs full); a change
    that weakens it answers 202 with a request its approvers decide."""
    return _control_answer(*await pr.set_control(env, actor, org, "resource", id, body.given()))


@operation(body=PasswordRequestBody, answers={201: PasswordRequest})
async def file_request(
    *, env: Env, actor: Actor, org: OrgArg, body: PasswordRequestBody
) -> web.Response:
    """Ask to check out a controlled password: {account, reason, window_minutes}."""
    return json_response(await pr.file_request(env, actor, org, body.given()), status=201)


@paging.paged_list
@operation(query=PasswordRequestsQuery, answers={200: Page[PasswordRequest]})
async def list_requests(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page, query: PasswordRequestsQuery
) -> web.Response:
    """Password requests I filed or may decide (?role=approver|requester, ?status=)."""
    given = query.given()
    items = await pr.list_requests(env, actor, org, given.get("role"), given.get("status"))
    return json_response(paging.paged(items, page, paging.newest_first))


@operation(query=CheckoutApproversQuery, answers={200: CheckoutApprovers})
async def checkout_approvers(
    *, env: Env, actor: Actor, org: OrgArg, query: CheckoutApproversQuery
) -> web.Response:
    """The approvers of the control on ?account=, each with whether it could approve my
    check-out and, if not, why."""
    return json_response(await pr.checkout_approvers(env, actor, org, query.account))


@operation(body=PasswordDecisionBody, answers={200: PasswordRequest})
async def approve(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: PasswordDecisionBody
) -> web.Response:
    """An eligible approver approves; the window opens once enough have."""
    return json_response(await pr.decide(env, actor, org, id, True, body.given().get("reason", "")))


@operation(body=PasswordDecisionBody, answers={200: PasswordRequest})
async def reject(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: PasswordDecisionBody
) -> web.Response:
    """An eligible approver rejects, with a reason."""
    return json_response(
        await pr.decide(env, actor, org, id, False, body.given().get("reason", ""))
    )


@operation(answers={200: PasswordRequest})
async def withdraw(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """The requester withdraws its pending request."""
    return json_response(await pr.withdraw(env, actor, org, id))


@operation(answers={200: PasswordRequest})
async def check_in(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """The holder checks the password in (an administrator may force it)."""
    return json_response(await pr.check_in(env, actor, org, id))


@paging.paged_list
@operation(answers={200: Page[PasswordRequest]})
async def list_holds(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """Open check-outs of the org: who holds which password until when (administrators)."""
    items = await pr.holds(env, actor, org)
    return json_response(paging.paged(items, page, paging.newest_first))


@paging.paged_list
@operation(query=ControlRequestsQuery, answers={200: Page[AccessControlChangeRequest]})
async def list_control_requests(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page, query: ControlRequestsQuery
) -> web.Response:
    """Access control changes I asked for or may decide (?role=approver|requester, ?status=)."""
    given = query.given()
    items = await pr.list_control_requests(env, actor, org, given.get("role"), given.get("status"))
    return json_response(paging.paged(items, page, paging.newest_first))


@operation(body=PasswordDecisionBody, answers={200: AccessControlChangeRequest})
async def approve_control_request(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: PasswordDecisionBody
) -> web.Response:
    """An approver of the control approves the change; it applies once enough have."""
    reason = body.given().get("reason", "")
    return json_response(await pr.decide_control_request(env, actor, org, id, True, reason))


@operation(body=PasswordDecisionBody, answers={200: AccessControlChangeRequest})
async def reject_control_request(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: PasswordDecisionBody
) -> web.Response:
    """An approver of the control rejects the change, with a reason."""
    reason = body.given().get("reason", "")
    return json_response(await pr.decide_control_request(env, actor, org, id, False, reason))


@operation(answers={200: AccessControlChangeRequest})
async def withdraw_control_request(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """The requester withdraws its pending access control change."""
    return json_response(await pr.withdraw_control_request(env, actor, org, id))
