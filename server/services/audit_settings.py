"""Audit operation type settings (recorded? alert?) and audit purge settings (retention).

Settings name operations of the catalogue (server/core/operations.py). An org may stop
recording a few routine operations and mark any operation as raising an alert
(``GET …/audit/alerts`` lists those events). Operations that touch secrets, access or keys
cannot be switched off: only ``SWITCHABLE`` (the catalogue's routine ones) can. Retention
purges events older than N days (at least 30): the purged prefix of the chain is replaced
by a sealed checkpoint (``audit_checkpoints``, sql/015), from which ``audit verify``
continues, so any other change is still detected. The primary's server purges hourly,
the trails of deleted orgs too (they stay readable until their retention ends:
``audit_trail``).

Shortening a client org's retention, or purging its trail now, weakens the client
against its own people: only its confirmed administrator does it, or, in an org without
one, an approved request of kind ``audit_retention`` (``dual_control.client_consents``,
issue 26 item 8). Lengthening needs no one's consent.
"""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from server.core import operations, permissions
from server.core.errors import Forbidden, ValidationFailed
from server.services import audit_trail, dual_control, recording
from server.services.access import MSP_ORG, OrgArg, enter_org, msp_org_id
from server.services.context import Actor, Env
from server.store import audit, db
from server.store.audit import Who
from server.store.keyring import AUDIT_KEY

# Routine changes of metadata (the catalogue's routine category): never a secret, an
# access right (membership, shares, resource groups), a key or a login.
SWITCHABLE = operations.switchable()
OPERATION_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MIN_RETENTION_DAYS = 30  # so the server alone cannot make recent history disappear
SYSTEM = Who("system", MSP_ORG)


def _require(actor: Actor) -> None:
    if not permissions.is_administrator(actor):
        raise Forbidden("only administrators (built-in roles) change audit settings")


async def get_settings(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """``{"retention_days", "operations": [{"operation","recorded","alert","switchable"}]}``:
    every switchable operation and every operation with a setting."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        if not permissions.can_read_audit(actor):
            raise Forbidden("only administrators and auditors read audit settings")
        return await _settings(tx, org.id)


async def _settings(tx: db.Tx, org_id: uuid.UUID) -> dict[str, Any]:
    rows = {
        r["operation"]: r
        for r in await tx.fetch(
            "SELECT operation, recorded, alert FROM audit_operation_settings WHERE org_id = $1",
            org_id,
        )
    }
    days = await tx.fetchval("SELECT days FROM audit_retention WHERE org_id = $1", org_id)
    names = sorted(SWITCHABLE | set(rows))
    return {
        "retention_days": days,
        "operations": [
            {
                "operation": op,
                "recorded": rows[op]["recorded"] if op in rows else True,
                "alert": rows[op]["alert"] if op in rows else False,
                "switchable": op in SWITCHABLE,
            }
            for op in names
        ],
    }


async def put_settings(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Change retention and per-operation settings; audited (it cannot be switched off).

    Args:
        data: ``{"retention_days"?: int|null, "operations"?: {op: {"recorded"?, "alert"?}}}``.
    Raises:
        ValidationFailed: retention under 30 days, an unknown or malformed operation, or
        switching off an operation that is not switchable. Forbidden ``client_confirms`` /
        Conflict ``dual_control_required``: a shorter retention of a client org without
        its consent (``dual_control.client_consents``).
    """
    _require(actor)
    errors = _check(data)
    if errors:
        raise ValidationFailed(errors)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        if "retention_days" in data:
            if await shortens(tx, org.id, data["retention_days"]):
                await dual_control.client_consents(
                    tx, actor, org.id, "shortens its audit retention"
                )
            await set_retention(tx, org.id, data["retention_days"])
        for op, setting in data.get("operations", {}).items():
            await tx.execute(
                "INSERT INTO audit_operation_settings (org_id, operation, recorded, alert) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, operation) DO UPDATE SET "
                "recorded = coalesce($5, audit_operation_settings.recorded), "
                "alert = coalesce($6, audit_operation_settings.alert)",
                org.id,
                op,
                setting.get("recorded", True),
                setting.get("alert", False),
                setting.get("recorded"),
                setting.get("alert"),
            )
        await recording.writer(tx, env, org.id, actor.who).record(
            "audit_settings_changed",
            target_type="org",
            target=org.display_name,
            details={
                "retention_days": data.get("retention_days"),
                "operations": sorted(data.get("operations", {})),
            },
        )
        return await _settings(tx, org.id)


def _check(data: dict[str, Any]) -> list[dict[str, str]]:
    """The problems of a settings change (``put_settings``' ``data``), as field errors."""
    errors: list[dict[str, str]] = []
    days = data.get("retention_days")
    if days is not None and not MIN_RETENTION_DAYS <= days <= 36500:
        errors.append(
            {
                "field": "retention_days",
                "message": f"must be between {MIN_RETENTION_DAYS} and 36500, or null",
            }
        )
    for op, setting in data.get("operations", {}).items():
        path = f"operations.{op}"
        if not OPERATION_NAME.fullmatch(op):
            errors.append({"field": path, "message": "is not an operation name"})
            continue
        if operations.get(op) is None:
            errors.append(
                {
                    "field": path,
                    "message": "is not an operation the server records (GET /audit/operations)",
                }
            )
            continue
        if not isinstance(setting, dict) or set(setting) - {"recorded", "alert"}:
            errors.append({"field": path, "message": 'must be {"recorded"?, "alert"?}'})
            continue
        if any(not isinstance(v, bool) for v in setting.values()):
            errors.append({"field": path, "message": "takes true or false"})
            continue
        if setting.get("recorded") is False and op not in SWITCHABLE:
            errors.append(
                {"field": path, "message": "touches secrets, access or keys: always recorded"}
            )
    return errors


async def alerts(
    env: Env, actor: Actor, org_name: OrgArg, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest events of operations marked as alerts (readers of the audit)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        if not permissions.can_read_audit(actor):
            raise Forbidden("only administrators and auditors read the audit trail")
        rows = await tx.fetch(
            "SELECT e.* FROM audit_events e JOIN audit_operation_settings s ON "
            "s.org_id = e.org_id AND s.operation = e.operation AND s.alert "
            "WHERE e.org_id = $1 ORDER BY e.id DESC LIMIT $2",
            org.id,
            limit,
        )
    return [
        {
            "id": str(r["id"]),
            "at": r["at"].isoformat(),
            "actor": r["actor"],
            "actor_org": r["actor_org"],
            "operation": r["operation"],
            "target": r["target"],
            "outcome": r["outcome"],
            "created_at": r["at"].isoformat(),
        }
        for r in rows
    ]


async def purge(
    env: Env, org_id: uuid.UUID, who: Who, deleted: audit_trail.DeletedOrg | None = None
) -> dict[str, Any]:
    """Purge one org's events older than its retention (nothing without one), leaving a
    sealed checkpoint; the purge itself is audited afterwards: in the org's chain, or for
    a ``deleted`` org in MSPOrg's (nothing new enters a deleted org's trail, so it ends
    when its retention does).

    Returns:
        ``{"purged": n, "checkpoint_seq": seq|None}``.
    """
    async with db.transaction(env.pool, org_id) as tx:
        days = await tx.fetchval("SELECT days FROM audit_retention WHERE org_id = $1", org_id)
        if days is None:
            return {"purged": 0, "checkpoint_seq": None}
        first_recent = await tx.fetchval(
            "SELECT min(l.seq) FROM audit_links l JOIN audit_events e ON e.id = l.event_id "
            "WHERE l.org_id = $1 AND e.at >= now() - make_interval(days => $2)",
            org_id,
            days,
        )
        last = await tx.fetchrow(
            "SELECT seq, hash FROM audit_links WHERE org_id = $1 AND seq = "
            "coalesce($2 - 1, (SELECT max(seq) FROM audit_links WHERE org_id = $1))",
            org_id,
            first_recent,
        )
        if last is None:
            return {"purged": 0, "checkpoint_seq": None}
        key = await env.ring.system_key(tx, AUDIT_KEY)
        at = datetime.datetime.now(datetime.UTC)
        mac = audit.checkpoint_mac(key, org_id, last["seq"], last["hash"], at)
        purged = await tx.fetchval(
            "SELECT purge_audit($1, $2, $3, $4, $5)", org_id, last["seq"], last["hash"], at, mac
        )
        details = {"events": purged, "checkpoint_seq": last["seq"], "retention_days": days}
        if deleted is None:
            await recording.writer(tx, env, org_id, who).record(
                "audit_purged", target_type="org", details=details
            )
        else:
            await recording.writer(tx, env, deleted.msp_id, who).record(
                "audit_purged",
                target_type="deleted_org",
                target=deleted.display_name,
                details={**details, "deleted_org": str(org_id)},
            )
    return {"purged": purged, "checkpoint_seq": last["seq"]}


async def purge_org(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """Purge now, by an administrator of the org (``purge``); a client org's trail only
    with its consent (``dual_control.client_consents``: its confirmed administrator, else
    a request of kind ``audit_retention`` with ``purge``).

    Raises:
        Forbidden ``client_confirms`` / Conflict ``dual_control_required``.
    """
    _require(actor)
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        await dual_control.client_consents(tx, actor, org.id, "purges its audit trail")
    return await purge(env, org.id, actor.who)


async def purge_all(env: Env) -> int:
    """Purge every org with a retention, deleted orgs' trails included (the primary's
    hourly run); events purged."""
    async with db.transaction(env.pool, readonly=True) as tx:
        org_ids = [r["id"] for r in await tx.fetch("SELECT id FROM orgs")]
        await db.set_org(tx, await msp_org_id(tx))
        deleted = await audit_trail.deleted_orgs(tx)
    total = 0
    for org_id in org_ids:
        total += (await purge(env, org_id, SYSTEM))["purged"]
    for gone in deleted:
        total += (await purge(env, gone.id, SYSTEM, gone))["purged"]
    return total


async def shortens(tx: db.Tx, org_id: uuid.UUID, days: int | None) -> bool:
    """Whether a retention of ``days`` (None: for ever) would purge org ``org_id``'s events
    sooner than its retention now (in the org's RLS context)."""
    held = await tx.fetchval("SELECT days FROM audit_retention WHERE org_id = $1", org_id)
    return days is not None and (held is None or days < held)


async def set_retention(tx: db.Tx, org_id: uuid.UUID, days: int | None) -> None:
    """Set org ``org_id``'s retention (in its RLS context); the caller has the consent."""
    await tx.execute(
        "INSERT INTO audit_retention (org_id, days) VALUES ($1, $2) "
        "ON CONFLICT (org_id) DO UPDATE SET days = $2",
        org_id,
        days,
    )
