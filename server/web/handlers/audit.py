"""The audit trail of an org (/orgs/{org}/audit, …/verify, …/settings, …/alerts,
…/purge), the trails of deleted orgs (/audit/deleted-orgs) and the catalogue of audited
operations (/audit/operations)."""

from __future__ import annotations

from aiohttp import web

from server.services import audit_settings, audit_trail
from server.services.access import OrgArg
from server.services.context import Actor, Env
from server.store import paging
from server.web.api import operation
from server.web.models.audit import (
    AuditAlert,
    AuditEvent,
    AuditOperations,
    AuditQuery,
    AuditSettings,
    AuditSettingsBody,
    ChainCheck,
    DeletedOrg,
    PurgeResult,
)
from server.web.models.common import Page
from server.web.problem import json_response

# A shorter retention or a purge of a client org without its consent (issue 26, item 8).
CONSENT_ERRORS = {
    403: "client_confirms (only the org's confirmed administrator)",
    409: "dual_control_required (the org has none: a request of kind audit_retention)",
}


@paging.paged_list
@operation(query=AuditQuery, answers={200: Page[AuditEvent]})
async def list_audit(
    *, env: Env, actor: Actor, org: OrgArg, page: paging.Page, query: AuditQuery
) -> web.Response:
    """Events newest first; filters since, until, operation, actor; paged."""
    return json_response(await audit_trail.list_events(env, actor, org, query.given(), page))


@operation(answers={200: ChainCheck})
async def verify_audit(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Check the org's hash chain and name the first broken link."""
    return json_response(await audit_trail.verify_chain(env, actor, org))


@operation(answers={200: AuditSettings})
async def get_audit_settings(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Retention and per-operation settings (recorded, alert) of the org."""
    return json_response(await audit_settings.get_settings(env, actor, org))


@operation(
    body=AuditSettingsBody,
    answers={200: AuditSettings},
    errors=CONSENT_ERRORS,
)
async def put_audit_settings(
    *, env: Env, actor: Actor, org: OrgArg, body: AuditSettingsBody
) -> web.Response:
    """Change retention and per-operation settings."""
    return json_response(await audit_settings.put_settings(env, actor, org, body.given()))


@paging.paged_list
@operation(answers={200: Page[AuditAlert]})
async def list_alerts(*, env: Env, actor: Actor, org: OrgArg, page: paging.Page) -> web.Response:
    """The newest events of operations marked as alerts."""
    items = await audit_settings.alerts(env, actor, org)
    return json_response(paging.paged(items, page, paging.newest_first))


@operation(answers={200: PurgeResult}, errors=CONSENT_ERRORS)
async def purge_audit(*, env: Env, actor: Actor, org: OrgArg) -> web.Response:
    """Purge events older than the org's retention now (leaves a sealed checkpoint)."""
    return json_response(await audit_settings.purge_org(env, actor, org))


@operation(answers={200: AuditOperations})
async def audit_operations(*, actor: Actor) -> web.Response:
    """Every operation the audit trail records, with its category (routine, security,
    secret_access) and description."""
    return json_response(audit_trail.operation_catalogue(actor))


@paging.paged_list
@operation(answers={200: Page[DeletedOrg]})
async def list_deleted_orgs(*, env: Env, actor: Actor, page: paging.Page) -> web.Response:
    """Deleted orgs whose audit trails are kept until their retention ends (MSPOrg's
    administrators and auditors), newest deletion first."""
    return json_response(await audit_trail.list_deleted_orgs(env, actor, page))


@paging.paged_list
@operation(query=AuditQuery, answers={200: Page[AuditEvent]})
async def list_deleted_audit(
    *, env: Env, actor: Actor, id: str, page: paging.Page, query: AuditQuery
) -> web.Response:
    """A deleted org's events newest first, filtered and paged as an org's."""
    return json_response(await audit_trail.list_deleted_events(env, actor, id, query.given(), page))


@operation(answers={200: ChainCheck})
async def verify_deleted_audit(*, env: Env, actor: Actor, id: str) -> web.Response:
    """Check a deleted org's hash chain and name the first broken link."""
    return json_response(await audit_trail.verify_deleted(env, actor, id))
