"""Passwords changed on the systems they open (issue 29): a resource's connection to its
target, reset / verify / history of an account, schedules and the report."""

from __future__ import annotations

import datetime

from aiohttp import web

from server.services import rotation
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.common import Page
from server.web.models.rotation import (
    Connection,
    ConnectionSet,
    ConnectorInfo,
    HistoryEntry,
    HistoryRevealed,
    HostKeyScan,
    ResetBody,
    ResetDone,
    RotationReport,
    Schedule,
    ScheduleSet,
    Verified,
)
from server.web.models.vault import RevealBody
from server.web.problem import json_response

TARGET_ERRORS = {
    502: "target_unreachable, target_timeout, target_login_failed, target_refused, "
    "target_tls_failed, target_misconfigured, target_no_reconciliation_account, "
    "target_not_allowed (the target's address is this server, link-local or multicast), "
    "host_key_unknown, host_key_changed (the current password is unchanged; the failure "
    "is recorded on the account)"
}


@paging.paged_list
@operation(answers={200: Page[ConnectorInfo]})
async def list_connectors(*, actor: Actor, page: paging.Page) -> web.Response:
    """The connectors this server offers (what they serve, the settings they need)."""
    return json_response(paging.paged(rotation.list_connectors(), page, paging.by_name("name")))


@operation(answers={200: Connection})
async def get_connection(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """A resource's connection to its target (view permission)."""
    return json_response(await rotation.get_connection(env, actor, org, id))


@operation(
    body=ConnectionSet,
    answers={200: Connection},
    errors={
        422: "unknown_option, option_invalid (e.g. ca_pem not PEM text), "
        "destination_not_allowed (this server, link-local, unspecified or multicast)"
    },
)
async def set_connection(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: ConnectionSet
) -> web.Response:
    """Set a resource's connection: connector, host, port, pinned host key, reconciliation
    account, options (full permission)."""
    return json_response(await rotation.set_connection(env, actor, org, id, body.given()))


@operation(answers={204: None}, errors={409: "connection_in_use"})
async def delete_connection(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Remove a resource's connection (full permission)."""
    await rotation.delete_connection(env, actor, org, id)
    return web.Response(status=204)


@operation(answers={200: HostKeyScan}, errors={409: "no_connection, no_host_key", **TARGET_ERRORS})
async def scan_host_key(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """The fingerprint of the key the target presents now, to confirm before pinning it."""
    return json_response(await rotation.scan_host_key(env, actor, org, id))


@operation(
    body=ResetBody,
    answers={200: ResetDone},
    errors={
        409: "no_connection, rotation_in_progress, checked_out, checkout_required",
        **TARGET_ERRORS,
    },
)
async def reset(*, env: Env, actor: Actor, org: OrgArg, id: str, body: ResetBody) -> web.Response:
    """Change the password on the target now (given, or generated under the account's
    policy), verify it and make it current; modify permission and the check-out rule."""
    return json_response(await rotation.reset(env, actor, org, id, body.given()))


@operation(answers={200: Verified}, errors={409: "no_connection, rotation_in_progress"})
async def verify(*, env: Env, actor: Actor, org: OrgArg, id: str) -> web.Response:
    """Log in to the target with the current password now and record the outcome."""
    return json_response(await rotation.verify(env, actor, org, id))


@paging.paged_list
@operation(answers={200: Page[HistoryEntry]})
async def list_history(
    *, env: Env, actor: Actor, org: OrgArg, id: str, page: paging.Page
) -> web.Response:
    """An account's earlier passwords, newest first (no secret; full permission)."""
    items = await rotation.list_history(env, actor, org, id)
    return json_response(paging.paged(items, page, _newest_first))


def _newest_first(item: dict) -> paging.Key:
    stamp = datetime.datetime.fromisoformat(item["replaced_at"]).timestamp()
    return (-stamp, item["id"])


@operation(body=RevealBody, answers={200: HistoryRevealed}, errors={409: "checked_out"})
async def reveal_history(
    *, env: Env, actor: Actor, org: OrgArg, id: str, history_id: str, body: RevealBody
) -> web.Response:
    """Reveal one earlier password (full permission; audited; a reason when the org asks
    for one, as for a reveal)."""
    reason = body.given().get("reason")
    return json_response(await rotation.reveal_history(env, actor, org, id, history_id, reason))


@operation(body=ScheduleSet, answers={200: Schedule})
async def set_account_schedule(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: ScheduleSet
) -> web.Response:
    """Set an account's rotation / verification schedule (null: inherit); full permission."""
    return json_response(await rotation.set_schedule(env, actor, org, "account", id, body.given()))


@operation(body=ScheduleSet, answers={200: Schedule})
async def set_resource_schedule(
    *, env: Env, actor: Actor, org: OrgArg, id: str, body: ScheduleSet
) -> web.Response:
    """Set the schedule a resource's accounts inherit (null: inherit); full permission."""
    return json_response(await rotation.set_schedule(env, actor, org, "resource", id, body.given()))


@operation(body=ScheduleSet, answers={200: Schedule})
async def set_group_schedule(
    *, env: Env, actor: Actor, org: OrgArg, name: str, body: ScheduleSet
) -> web.Response:
    """Set the schedule a resource group's accounts inherit; full permission on its
    resources."""
    return json_response(
        await rotation.set_schedule(env, actor, org, "resource_group", name, body.given())
    )


@operation(answers={200: RotationReport})
async def report(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Accounts whose verification or change failed, or whose password is past its age."""
    return json_response(await rotation.report(env, actor, org))
