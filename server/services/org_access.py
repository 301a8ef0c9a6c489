"""Org access for MSP staff: dual-control requests, grants, revocation.

Every change that lets an MSPOrg user act in a client org is a request of one kind:

- ``grant``: a user or MSPOrg group gets access to a client org;
- ``account_manager``: an existing client org gets another account manager;
- ``group_member``: a user joins an MSPOrg group (needed while the group holds grants);
- ``user_confirmation``: an MSP-created client user of an org that has no confirmed
  administrator of its own is confirmed;
- ``audit_retention``: such an org's audit retention is shortened, or its trail purged
  now (the consent rule, ``dual_control.client_consents``).
- ``org_rename``: a client org gets a new display name (issue 26: one person renamed a
  client and took its old name for another org; a freed name is held back 30 days).
- ``org_purge``: a deleted client org is purged before its recovery window ends (issue
  27: deleting a client org is not one person's irreversible act).

A grant records what was approved (the designee's role, or the group's members and their
roles), and a group grant request the members it was filed for: its decision is refused
if they changed.

Who may propose and approve is decided by ``dual_control`` (the one rule), at filing
and again at decision. Every step is audited in MSPOrg's chain and in the chain of
each client org it touches.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, coded, field_error
from server.core.ids import parse_id
from server.core.names import display_name_problem
from server.services import audit_settings, directory, dual_control, orgs, recording
from server.services.access import (
    OrgArg,
    OrgRef,
    acting_org,
    find_org,
    name_of,
    org_ref,
    require_msp_admin,
)
from server.services.auth import reauthenticate
from server.services.context import Actor, Env
from server.store import db

REQUEST_SELECT = """
SELECT r.id, r.kind, r.client_org_id, o.display_name AS org, du.username AS designee_user,
       du.role AS designee_role,
       dg.name AS designee_group, tg.name AS target_group, r.subject,
       r.proposer_name AS proposer, r.approver_name AS approver,
       r.designee_user_id, r.designee_group_id, r.target_group_id, r.proposer_id,
       r.approver_id, r.reason,
       CASE WHEN r.status = 'pending' AND r.expires_at <= now() THEN 'expired'
            ELSE r.status END AS status,
       r.decision_reason, r.created_at, r.expires_at, r.decided_at, r.designee_members,
       array(SELECT m.username FROM users m WHERE m.id = ANY(r.designee_members)
             ORDER BY lower(m.username)) AS designee_member_names
FROM org_access_requests r
LEFT JOIN orgs o ON o.id = r.client_org_id
LEFT JOIN users du ON du.id = r.designee_user_id
LEFT JOIN user_groups dg ON dg.id = r.designee_group_id
LEFT JOIN user_groups tg ON tg.id = r.target_group_id
"""
_INSERT = (
    "INSERT INTO org_access_requests (org_id, kind, client_org_id, designee_user_id, "
    "designee_group_id, target_group_id, subject, proposer_id, proposer_name, approver_id, "
    "approver_name, reason, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
    "$12, now() + make_interval(days => $13)) RETURNING id"
)
# An active confirmed administrator of its own: then the client confirms its users. (MSP
# staff cannot disable one: dual_control.refuse_change_of_confirmed_client_user.)
_HAS_CONFIRMED_ADMIN = (
    "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND client_confirmed "
    "AND status = 'active' AND role = ANY($2::text[]))"
)
_GROUP_ORGS = (
    "SELECT o.id, o.display_name FROM org_access_grants g JOIN orgs o ON o.id = g.client_org_id "
    "WHERE g.group_id = $1"
)


def request_json(row: asyncpg.Record) -> dict[str, Any]:
    """An org access request as the API shows it: ``kind``, ``org`` (None for a
    group_member request), and ``user`` and/or ``group`` as the kind names them."""
    out: dict[str, Any] = {"id": str(row["id"]), "kind": row["kind"], "org": row["org"]}
    if row["kind"] == "group_member":
        out["group"] = row["target_group"]
        out["user"] = row["designee_user"]
    elif row["kind"] == "user_confirmation":
        out["user"] = row["subject"]
    elif row["kind"] == dual_control.CONSENT_REQUEST_KIND:
        out.update(retention_change(row["subject"]))
    elif row["kind"] == "org_rename":
        out["display_name"] = row["subject"]
    elif row["kind"] == directory.REQUEST_KIND:
        out["directory"] = json.loads(row["subject"])
    elif row["designee_user"] is not None:
        out["user"] = row["designee_user"]
        out["role"] = row["designee_role"]  # what the approver approves (held until decided)
    else:
        out["group"] = row["designee_group"]
        out["members"] = list(row["designee_member_names"])  # as filed (issue 26)
    out.update(
        {
            "proposer": row["proposer"],
            "approver": row["approver"],
            "reason": row["reason"],
            "status": row["status"],
            "decision_reason": row["decision_reason"],
            "created_at": row["created_at"].isoformat(),
            "expires_at": row["expires_at"].isoformat(),
            "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        }
    )
    return out


@dataclass
class Filing:
    """What a request names, resolved to ids (MSPOrg's RLS context unless noted)."""

    kind: str
    org: asyncpg.Record | None = None
    user_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    target_group_id: uuid.UUID | None = None
    subject: str = ""
    extra_principals: tuple[uuid.UUID, ...] = field(default=())

    async def parties(
        self, conn: asyncpg.Connection, proposer_id: uuid.UUID
    ) -> dual_control.Parties:
        """The request's parties now (``dual_control.parties``)."""
        return await dual_control.parties(
            conn, proposer_id, self.user_id, self.group_id, self.extra_principals
        )


async def _client_org(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    org = await find_org(conn, name)
    if org is None:
        raise ValidationFailed([{"field": "org", "message": f"no organization named {name!r}"}])
    if org["is_msp"]:
        raise ValidationFailed([{"field": "org", "message": "MSPOrg needs no access grant"}])
    await _refuse_deleted_org(conn, org)
    return org


async def _msp_user(
    conn: asyncpg.Connection,
    msp_id: uuid.UUID,
    name: str | None,
    roles: Collection[str] | None = None,
) -> uuid.UUID:
    """The id of the active MSPOrg user ``name`` (of one of ``roles`` when given), else 422."""
    if not name:
        raise field_error("user", "name the user")
    row = await conn.fetchrow(
        "SELECT id, role FROM users WHERE org_id = $1 AND lower(username) = lower($2) "
        "AND status = 'active'",
        msp_id,
        name,
    )
    if row is None or (roles is not None and row["role"] not in roles):
        kind = "user" if roles is None else "user of an eligible role"
        raise field_error("user", f"no active MSPOrg {kind} named {name!r}")
    user_id: uuid.UUID = row["id"]
    return user_id


async def _msp_group(conn: asyncpg.Connection, msp_id: uuid.UUID, name: str | None) -> uuid.UUID:
    """The id of MSPOrg's user group ``name``, else 422."""
    if not name:
        raise field_error("group", "name the group")
    gid: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM user_groups WHERE org_id = $1 AND name_fold(name) = name_fold($2)",
        msp_id,
        name,
    )
    if gid is None:
        raise field_error("group", f"no MSPOrg user group named {name!r}")
    return gid


async def _resolve(conn: asyncpg.Connection, actor: Actor, data: dict[str, Any]) -> Filing:
    """Resolve a request's names for its kind and refuse one that changes nothing."""
    kind = data.get("kind", "grant")
    msp = actor.org_id
    if kind == "grant":
        if ("user" in data) == ("group" in data):
            raise field_error("user", "name either a user or a group")
        client = await _client_org(conn, data.get("org") or "")
        filing = Filing(kind, org=client)
        await db.set_org(conn, msp)
        if "user" in data:
            filing.user_id = await _msp_user(conn, msp, data["user"])
        else:
            filing.group_id = await _msp_group(conn, msp, data["group"])
        if filing.user_id is not None and filing.user_id == client["account_manager_id"]:
            raise coded(Conflict, "already_granted", "that user is the org's account manager")
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM org_access_grants WHERE client_org_id = $1 AND "
            "(user_id = $2 OR group_id = $3))",
            client["id"],
            filing.user_id,
            filing.group_id,
        ):
            raise coded(Conflict, "already_granted", "that access is already granted")
    elif kind == "account_manager":
        client = await _client_org(conn, data.get("org") or "")
        filing = Filing(kind, org=client)
        await db.set_org(conn, msp)
        filing.user_id = await _msp_user(
            conn, msp, data.get("user"), permissions.ACCOUNT_MANAGER_ROLES
        )
        if filing.user_id == client["account_manager_id"]:
            raise coded(Conflict, "already_account_manager", "that user already manages it")
    elif kind == "group_member":
        await db.set_org(conn, msp)
        filing = Filing(kind, target_group_id=await _msp_group(conn, msp, data.get("group")))
        filing.user_id = await _msp_user(conn, msp, data.get("user"))
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2)",
            filing.target_group_id,
            filing.user_id,
        ):
            raise coded(Conflict, "already_member", "that user is already in the group")
    elif kind == dual_control.CONSENT_REQUEST_KIND:
        filing = await _resolve_audit_retention(conn, actor, data)
    elif kind == "org_rename":
        filing = await _resolve_rename(conn, actor, data)
    elif kind == "org_purge":
        filing = await _resolve_org_purge(conn, actor, data)
    elif kind == directory.REQUEST_KIND:
        filing = await _resolve_directory_config(conn, actor)
    else:
        filing = await _resolve_confirmation(conn, actor, data)
    return filing


async def _resolve_confirmation(
    conn: asyncpg.Connection, actor: Actor, data: dict[str, Any]
) -> Filing:
    """A user_confirmation: an unconfirmed user of a client org which has no confirmed
    administrator of its own. Any MSPOrg administrator may propose it (the one who made
    the user cannot: ``dual_control.proposer_problem``), as for org access."""
    org = await _client_org(conn, data.get("org") or "")
    org = org_ref(org, "msp")
    async with db.in_org(conn, org.id):
        user = await conn.fetchrow(
            "SELECT username, client_confirmed, must_change_password, "
            "coalesce(principal_id, id) AS principal "
            "FROM users WHERE org_id = $1 AND lower(username) = lower($2)",
            org.id,
            data.get("user") or "",
        )
        has_admin = await conn.fetchval(_HAS_CONFIRMED_ADMIN, org.id, list(permissions.ADMIN_ROLES))
    if user is None:
        raise field_error("user", f"no user named {data.get('user')!r} in {org.display_name}")
    dual_control.refuse_unconfirmable(user)
    if has_admin:
        raise coded(
            Conflict,
            "client_confirms",
            f"{org.display_name} has a confirmed administrator of its own; it confirms its users",
        )
    org_row = await find_org(conn, org.display_name)
    await db.set_org(conn, actor.org_id)
    return Filing(
        "user_confirmation",
        org=org_row,
        subject=user["username"],
        extra_principals=(user["principal"],),
    )


async def _audit_request(
    conn: db.Tx,
    env: Env,
    actor: Actor,
    row: asyncpg.Record,
    operation: str,
    reason: str | None = None,
) -> None:
    """Record a request's step in MSPOrg's chain and in each client org it touches."""
    org_ids = [actor.org_id]
    if row["client_org_id"] is not None and row["client_org_id"] != actor.org_id:
        org_ids.append(row["client_org_id"])
    elif row["target_group_id"] is not None:
        org_ids += [r["id"] for r in await conn.fetch(_GROUP_ORGS, row["target_group_id"])]
    details = _designee_details(row)
    for org_id in org_ids:
        await recording.writer(conn, env, org_id, actor.who).record(
            operation,
            target_type="org_access",
            target=row["org"] or row["target_group"],
            reason=reason,
            details=details,
        )
    await db.set_org(conn, actor.org_id)


async def file_request(env: Env, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """An MSPOrg administrator files a dual-control request naming its approver.

    Args:
        data: ``{"kind"?: grant|account_manager|group_member|user_confirmation, "org"?,
            "user"?, "group"?, "approver", "reason"?}`` (validated by the handler).
    Returns:
        The request (``request_json``), status ``pending``.
    Raises:
        ValidationFailed (unknown names), ``proposer_is_designee`` / ``approver_not_eligible``
        (422, the dual-control rule), Conflict (nothing to change, or already pending).
    """
    require_msp_admin(actor)
    days = env.config.security.access_request_days
    async with db.transaction(env.pool) as conn:
        filing = await _resolve(conn, actor, data)
        await db.set_org(conn, actor.org_id)
        who = await filing.parties(conn, actor.user_id)
        problem = await dual_control.proposer_problem(conn, who)
        if problem:
            raise field_error(
                "group" if who.designee_is_group else "user", problem, code="proposer_is_designee"
            )
        approver = await conn.fetchrow(
            "SELECT id, username FROM users WHERE org_id = $1 AND lower(username) = lower($2)",
            actor.org_id,
            data.get("approver") or "",
        )
        problem = await dual_control.approver_problem(
            conn, actor.org_id, approver["id"] if approver else None, who
        )
        if problem or approver is None:  # approver_problem refuses a missing approver
            raise field_error(
                "approver",
                problem or "the approver must be an active MSPOrg administrator",
                code="approver_not_eligible",
            )
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM org_access_requests WHERE kind = $1 AND "
            "status = 'pending' AND expires_at > now() AND client_org_id IS NOT DISTINCT FROM $2 "
            "AND designee_user_id IS NOT DISTINCT FROM $3 "
            "AND designee_group_id IS NOT DISTINCT FROM $4 "
            "AND target_group_id IS NOT DISTINCT FROM $5 AND subject = $6)",
            filing.kind,
            filing.org["id"] if filing.org else None,
            filing.user_id,
            filing.group_id,
            filing.target_group_id,
            filing.subject,
        ):
            raise coded(Conflict, "request_pending", "the same request is already pending")
        request_id = await conn.fetchval(
            _INSERT,
            actor.org_id,
            filing.kind,
            filing.org["id"] if filing.org else None,
            filing.user_id,
            filing.group_id,
            filing.target_group_id,
            filing.subject,
            actor.user_id,
            actor.username,
            approver["id"],
            approver["username"],
            data.get("reason", ""),
            days,
        )
        await _snapshot_members(conn, request_id, filing.group_id)
        row = await conn.fetchrow_one(REQUEST_SELECT + " WHERE r.id = $1", request_id)
        await _audit_request(
            conn, env, actor, row, "org_access_requested", reason=row["reason"] or None
        )
    return request_json(row)


async def eligible_approvers(env: Env, actor: Actor, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The MSPOrg administrators who could approve the request ``data`` describes if the
    caller filed it now (the same rule as filing; ``approver`` is not needed).

    Returns:
        Every MSPOrg administrator as ``{"username", "full_name", "eligible", "reason"}``
        in username order (``dual_control.approver_candidates``; issue 27, item 2).
    Raises:
        the same errors as ``file_request`` for names that do not resolve, and
        ``proposer_is_designee`` when the caller could not file it at all.
    """
    require_msp_admin(actor)
    async with db.transaction(env.pool, readonly=True) as conn:
        filing = await _resolve(conn, actor, data)
        await db.set_org(conn, actor.org_id)
        who = await filing.parties(conn, actor.user_id)
        problem = await dual_control.proposer_problem(conn, who)
        if problem:
            raise field_error(
                "group" if who.designee_is_group else "user", problem, code="proposer_is_designee"
            )
        candidates = await dual_control.approver_candidates(conn, actor.org_id, who)
    return candidates


def _designee_details(row: asyncpg.Record) -> dict[str, Any]:
    details = {
        "request_id": str(row["id"]),
        "kind": row["kind"],
        "approver": row["approver"],
        "proposer": row["proposer"],
    }
    for key, value in request_json(row).items():
        if (
            key in ("user", "group", "display_name", "members", "retention_days", "purge")
            and value is not None
        ):
            details[key] = value
    return details


async def list_requests(
    env: Env, actor: Actor, status: str | None, role: str | None
) -> list[dict[str, Any]]:
    """Requests where the actor is approver or proposer."""
    require_msp_admin(actor)
    if role not in (None, "approver", "proposer"):
        raise ValidationFailed([{"field": "role", "message": "must be approver or proposer"}])
    statuses = ("pending", "approved", "rejected", "cancelled", "expired")
    if status not in (None, *statuses):
        raise ValidationFailed(
            [{"field": "status", "message": "must be one of " + ", ".join(statuses)}]
        )
    async with db.transaction(env.pool, readonly=True) as conn:
        await db.set_org(conn, actor.org_id)
        # Only one's own requests: others' would name client users of unmanaged orgs.
        rows = await conn.fetch(
            "SELECT * FROM (" + REQUEST_SELECT + ") q WHERE "
            "(($1::text IS NULL AND (approver_id = $2 OR proposer_id = $2)) "
            " OR ($1 = 'approver' AND approver_id = $2) OR ($1 = 'proposer' AND proposer_id = $2))"
            " AND ($3::text IS NULL OR status = $3) ORDER BY created_at DESC",
            role,
            actor.user_id,
            status,
        )
    return [request_json(r) for r in rows]


async def _load(
    conn: asyncpg.Connection, actor: Actor, request_id: str, lock: bool = False
) -> asyncpg.Record:
    """One org access request (``REQUEST_SELECT``), locked if ``lock``; NotFound."""
    rid = parse_id(request_id, "org access request")
    await db.set_org(conn, actor.org_id)
    row = await conn.fetchrow(
        REQUEST_SELECT + " WHERE r.id = $1" + (" FOR UPDATE OF r" if lock else ""), rid
    )
    if row is None:
        raise NotFound("no such org access request")
    return row


def _require_pending(row: asyncpg.Record) -> None:
    if row["status"] == "expired":
        raise coded(Conflict, "request_expired", "this request has expired; file a new one")
    if row["status"] != "pending":
        raise coded(Conflict, "request_not_pending", f"this request is already {row['status']}")


async def _expire_if_due(env: Env, actor: Actor, request_id: str) -> None:
    async with db.transaction(env.pool) as conn:
        row = await _load(conn, actor, request_id, lock=True)
        if row["status"] == "expired":
            updated = await conn.execute(
                "UPDATE org_access_requests SET status = 'expired', decided_at = now() "
                "WHERE id = $1 AND status = 'pending'",
                row["id"],
            )
            if updated == "UPDATE 1":
                await _audit_request(conn, env, actor, row, "org_access_expired")


async def _decision_parties(conn: asyncpg.Connection, row: asyncpg.Record) -> dual_control.Parties:
    """The parties of a stored request as of now (group members, the client user's
    principal)."""
    extra: tuple[uuid.UUID, ...] = ()
    if row["kind"] == "user_confirmation":
        async with db.in_org(conn, row["client_org_id"]):
            principal = await conn.fetchval(
                "SELECT coalesce(principal_id, id) FROM users WHERE org_id = $1 "
                "AND lower(username) = lower($2)",
                row["client_org_id"],
                row["subject"],
            )
        extra = (principal,) if principal else ()
    return await dual_control.parties(
        conn, row["proposer_id"], row["designee_user_id"], row["designee_group_id"], extra
    )


async def _lock_parties(conn: asyncpg.Connection, actor: Actor, row: asyncpg.Record) -> None:
    """Hold the rows of everyone and every group the decision reads (in id order), so a
    password reset or a membership change cannot slip in between the check and the
    grant: each waits for the other."""
    groups = [g for g in (row["designee_group_id"], row["target_group_id"]) if g is not None]
    await conn.execute(
        "SELECT id FROM user_groups WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", groups
    )
    people = [p for p in (row["proposer_id"], actor.user_id, row["designee_user_id"]) if p]
    await conn.execute(
        "SELECT id FROM users WHERE id = ANY($1::uuid[]) OR id IN (SELECT user_id FROM "
        "group_members WHERE group_id = ANY($2::uuid[])) ORDER BY id FOR UPDATE",
        people,
        groups,
    )
    if row["kind"] == "user_confirmation":
        async with db.in_org(conn, row["client_org_id"]):
            await conn.execute(
                "SELECT id FROM users WHERE org_id = $1 ORDER BY id FOR UPDATE",
                row["client_org_id"],
            )


async def approve(env: Env, actor: Actor, request_id: str, password: str) -> dict[str, Any]:
    """The named approver approves (with its password); the change takes effect at once.

    Raises:
        Forbidden (not the named approver, or ``approver_not_eligible`` now), Conflict
        (not pending, expired, or the change no longer applies).
    """
    await _expire_if_due(env, actor, request_id)
    async with db.transaction(env.pool, readonly=True) as conn:
        row = await _load(conn, actor, request_id)
    if row["approver_id"] != actor.user_id:
        raise Forbidden("only the approver named in the request may approve it")
    _require_pending(row)
    await reauthenticate(env, actor, password)
    async with db.transaction(env.pool) as conn:
        row = await _load(conn, actor, request_id, lock=True)
        _require_pending(row)
        if row["proposer_id"] is None:
            raise coded(Conflict, "request_not_pending", "the proposer no longer exists")
        await _lock_parties(conn, actor, row)
        who = await _decision_parties(conn, row)
        problem = await dual_control.proposer_problem(
            conn, who
        ) or await dual_control.approver_problem(conn, actor.org_id, actor.user_id, who)
        if problem:
            raise coded(Forbidden, "approver_not_eligible", problem)
        await _refuse_changed_group(conn, row)
        await conn.execute(
            "UPDATE org_access_requests SET status = 'approved', decided_at = now() WHERE id = $1",
            row["id"],
        )
        await _apply(conn, env, actor, row)
        await _audit_request(conn, env, actor, row, "org_access_approved")
        row = await _load(conn, actor, request_id)
    if row["kind"] == dual_control.CONSENT_REQUEST_KIND:
        await _purge_if_asked(env, actor, row)
    if row["kind"] == "org_purge":
        await _purge_approved_org(env, actor, row)
    return request_json(row)


async def _apply(conn: db.Tx, env: Env, actor: Actor, row: asyncpg.Record) -> None:
    """Make an approved request's change (MSPOrg's RLS context on return)."""
    kind = row["kind"]
    if kind == "grant":
        await conn.execute(
            "INSERT INTO org_access_grants (org_id, client_org_id, user_id, group_id, "
            "request_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            actor.org_id,
            row["client_org_id"],
            row["designee_user_id"],
            row["designee_group_id"],
            row["id"],
        )
        await _record_approved(conn, row)
    elif kind == "org_rename":
        await orgs.rename_org(
            conn, env, actor, row["client_org_id"], row["subject"], str(row["id"])
        )
    elif kind == "group_member":
        await conn.execute(
            "INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            actor.org_id,
            row["target_group_id"],
            row["designee_user_id"],
        )
    elif kind == "account_manager":
        eligible = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND status = 'active' "
            "AND role = ANY($2::text[]))",
            row["designee_user_id"],
            list(permissions.ACCOUNT_MANAGER_ROLES),
        )
        if not eligible:
            raise coded(
                Conflict,
                "account_manager_not_eligible",
                "the new account manager is no longer an active MSPOrg user of an eligible role",
            )
        async with db.in_org(conn, row["client_org_id"]):
            await conn.execute(
                "UPDATE orgs SET account_manager_id = $2 WHERE id = $1",
                row["client_org_id"],
                row["designee_user_id"],
            )
    elif kind == dual_control.CONSENT_REQUEST_KIND:
        await _apply_audit_retention(conn, row)
    elif kind == "org_purge":
        await _refuse_restored_org(conn, row)
    elif kind == directory.REQUEST_KIND:
        await directory.apply_approved(conn, row["client_org_id"], row["subject"])
    else:
        async with db.in_org(conn, row["client_org_id"]):
            if await conn.fetchval(
                _HAS_CONFIRMED_ADMIN, row["client_org_id"], list(permissions.ADMIN_ROLES)
            ):
                raise coded(
                    Conflict,
                    "client_confirms",
                    f"{row['org']} has a confirmed administrator of its own again; it "
                    "confirms its users",
                )
            updated = await conn.execute(
                "UPDATE users SET client_confirmed = true, updated_at = now() "
                "WHERE org_id = $1 AND lower(username) = lower($2) AND NOT client_confirmed "
                "AND NOT must_change_password",
                row["client_org_id"],
                row["subject"],
            )
        if updated != "UPDATE 1":
            raise coded(
                Conflict,
                "already_confirmed",
                "that user is confirmed, gone, or has not set its own password",
            )


async def reject(env: Env, actor: Actor, request_id: str, reason: str) -> dict[str, Any]:
    """The named approver rejects the request."""
    return await _close(
        env,
        actor,
        request_id,
        reason,
        "rejected",
        "approver_id",
        "org_access_rejected",
        "only the approver named in the request may reject it",
    )


async def cancel(env: Env, actor: Actor, request_id: str, reason: str) -> dict[str, Any]:
    """The proposer withdraws its request."""
    return await _close(
        env,
        actor,
        request_id,
        reason,
        "cancelled",
        "proposer_id",
        "org_access_cancelled",
        "only the proposer may cancel a request",
    )


async def _close(
    env: Env,
    actor: Actor,
    request_id: str,
    reason: str,
    status: str,
    who_column: str,
    operation: str,
    refusal: str,
) -> dict[str, Any]:
    """Close a pending request as ``status`` (rejected, cancelled) if the actor is the one
    ``who_column`` names (else Forbidden ``refusal``), and record ``operation``."""
    require_msp_admin(actor)
    await _expire_if_due(env, actor, request_id)
    async with db.transaction(env.pool) as conn:
        row = await _load(conn, actor, request_id, lock=True)
        if row[who_column] != actor.user_id:
            raise Forbidden(refusal)
        _require_pending(row)
        await conn.execute(
            "UPDATE org_access_requests SET status = $2, decision_reason = $3, "
            "decided_at = now() WHERE id = $1",
            row["id"],
            status,
            reason,
        )
        await _audit_request(conn, env, actor, row, operation, reason=reason or None)
        row = await _load(conn, actor, request_id)
    return request_json(row)


# -- grants -------------------------------------------------------------------------


async def grants_of(
    conn: asyncpg.Connection, msp_id: uuid.UUID, client_id: uuid.UUID
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The users and the groups (with their members) granted access to org ``client_id``
    (leaves the RLS context in MSPOrg)."""
    await db.set_org(conn, msp_id)
    users = await conn.fetch(
        "SELECT u.username, u.role, g.approved_role, g.granted_at FROM org_access_grants g "
        "JOIN users u ON u.id = g.user_id WHERE g.client_org_id = $1 "
        "ORDER BY lower(u.username)",
        client_id,
    )
    groups = await conn.fetch(
        "SELECT ug.id, ug.name, g.granted_at, g.approved_members, "
        "array(SELECT u.username FROM group_members m "
        "JOIN users u ON u.id = m.user_id WHERE m.group_id = ug.id "
        "ORDER BY lower(u.username)) AS members FROM org_access_grants g "
        "JOIN user_groups ug ON ug.id = g.group_id WHERE g.client_org_id = $1 "
        "ORDER BY lower(ug.name)",
        client_id,
    )
    return users, groups


async def list_access(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """Current MSP grants for a client org."""
    require_msp_admin(actor)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await managed_client_org(conn, actor, org_name)
        users, groups = await grants_of(conn, actor.org_id, org.id)
    return {
        "users": [
            {
                "username": u["username"],
                "role": u["role"],
                "approved_role": u["approved_role"],
                "granted_at": u["granted_at"].isoformat(),
            }
            for u in users
        ],
        "groups": [
            {
                "name": g["name"],
                "members": list(g["members"]),
                "approved_members": approved_members(g),
                "granted_at": g["granted_at"].isoformat(),
            }
            for g in groups
        ],
    }


async def managed_client_org(conn: asyncpg.Connection, actor: Actor, name: OrgArg) -> OrgRef:
    """A client org the MSP actor manages (account manager or grant), else 404 exactly
    as for a missing org: an MSP user who neither manages an org nor holds a grant sees
    its name and nothing else."""
    org = await acting_org(conn, actor, name)
    if org.is_msp or org.via not in ("account_manager", "grant"):
        raise NotFound(f"no client organization named {name_of(name)!r}")
    return org


async def revoke(env: Env, actor: Actor, org_name: OrgArg, kind: str, name: str) -> None:
    """Withdraw a user's or group's access to a client org (no approval needed)."""
    require_msp_admin(actor)
    async with db.transaction(env.pool) as conn:
        org = await managed_client_org(conn, actor, org_name)
        await db.set_org(conn, actor.org_id)
        if kind == "user":
            removed = await conn.fetchval(
                "DELETE FROM org_access_grants g USING users u WHERE g.user_id = u.id AND "
                "g.client_org_id = $1 AND lower(u.username) = lower($2) RETURNING u.username",
                org.id,
                name,
            )
        else:
            removed = await conn.fetchval(
                "DELETE FROM org_access_grants g USING user_groups ug WHERE g.group_id = ug.id "
                "AND g.client_org_id = $1 AND name_fold(ug.name) = name_fold($2) RETURNING ug.name",
                org.id,
                name,
            )
        if removed is None:
            raise NotFound(f"{kind} {name!r} holds no access grant for {org.display_name}")
        for org_id in (actor.org_id, org.id):
            await recording.writer(conn, env, org_id, actor.who).record(
                "org_access_revoked",
                target_type="org_access",
                target=org.display_name,
                details={kind: removed},
            )


# -- audit_retention: a client's history shortened with a second person's approval -----


def retention_change(subject: str) -> dict[str, Any]:
    """What an ``audit_retention`` request asks, as kept in its subject:
    ``{"retention_days": n|None (unchanged), "purge": bool}``."""
    change = json.loads(subject)
    return {"retention_days": change.get("retention_days"), "purge": bool(change.get("purge"))}


async def _resolve_audit_retention(
    conn: asyncpg.Connection, actor: Actor, data: dict[str, Any]
) -> Filing:
    """An ``audit_retention`` request: a shorter ``retention_days`` and/or ``purge`` (now)
    for a client org that has no confirmed administrator of its own (one that has decides
    itself: ``dual_control.client_consents``). Any MSPOrg administrator may propose it; a
    second, independent one approves (``dual_control.approver_problem``).

    Raises:
        ValidationFailed (org, retention_days), Conflict ``client_confirms`` (the org has
        a confirmed administrator) or ``nothing_to_approve`` (a longer retention needs no
        request; a purge of a trail kept for ever purges nothing).
    """
    org = await _client_org(conn, data.get("org") or "")
    days = data.get("retention_days")
    purge = bool(data.get("purge"))
    low, high = audit_settings.MIN_RETENTION_DAYS, 36500
    if days is not None and not (isinstance(days, int) and low <= days <= high):
        raise field_error("retention_days", f"must be between {low} and {high}")
    async with db.in_org(conn, org["id"]):
        if await dual_control.client_has_confirmed_admin(conn, org["id"]):
            raise coded(
                Conflict,
                "client_confirms",
                f"{org['display_name']} has a confirmed administrator of its own; only it "
                "shortens its audit retention or purges its trail",
            )
        shorter = days is not None and await audit_settings.shortens(conn, org["id"], days)
        held = await conn.fetchval("SELECT days FROM audit_retention WHERE org_id = $1", org["id"])
    if purge and days is None and held is None:
        raise field_error(
            "retention_days",
            f"{org['display_name']} keeps its events for ever: a purge needs a retention",
        )
    if not (shorter or purge):
        raise coded(
            Conflict,
            "nothing_to_approve",
            "a retention as long or longer needs no request (PUT /orgs/{org}/audit/settings); "
            "name a shorter retention_days or purge: true",
        )
    await db.set_org(conn, actor.org_id)
    subject = json.dumps({"retention_days": days if shorter else None, "purge": purge})
    return Filing(dual_control.CONSENT_REQUEST_KIND, org=org, subject=subject)


async def _apply_audit_retention(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    """Set an approved ``audit_retention`` request's retention (the purge follows the
    commit: ``_purge_if_asked``), unless the org has since got a confirmed administrator
    of its own."""
    org_id = row["client_org_id"]
    change = retention_change(row["subject"])
    async with db.in_org(conn, org_id):
        if await dual_control.client_has_confirmed_admin(conn, org_id):
            raise coded(
                Conflict,
                "client_confirms",
                f"{row['org']} has a confirmed administrator of its own now; only it "
                "shortens its audit retention or purges its trail",
            )
        if change["retention_days"] is not None:
            await audit_settings.set_retention(conn, org_id, change["retention_days"])


async def _purge_if_asked(env: Env, actor: Actor, row: asyncpg.Record) -> None:
    """Purge the org's trail now when the approved ``audit_retention`` request asks."""
    if row["status"] == "approved" and retention_change(row["subject"])["purge"]:
        await audit_settings.purge(env, row["client_org_id"], actor.who)


# -- what was approved: renames, group members as filed, the grant's record (issue 26) --


async def _resolve_rename(conn: asyncpg.Connection, actor: Actor, data: dict[str, Any]) -> Filing:
    """An org_rename: a client org the proposer manages (account manager or grant, else
    404 as for a missing org) is to get the display name ``display_name``, one that is
    valid, not another org's and not given up by another org less than 30 days ago."""
    org = await managed_client_org(conn, actor, data.get("org") or "")
    name = data.get("display_name") or ""
    problem = display_name_problem(name)
    if problem:
        raise field_error("display_name", problem)
    if name == org.display_name:
        raise coded(Conflict, "display_name_unchanged", f"{org.display_name} already has that name")
    await orgs.refuse_unavailable_display_name(conn, name, org.id)
    org_row = await find_org(conn, org.display_name)
    await db.set_org(conn, actor.org_id)
    return Filing("org_rename", org=org_row, subject=name)


async def _snapshot_members(
    conn: asyncpg.Connection, request_id: uuid.UUID, group_id: uuid.UUID | None
) -> None:
    """Keep a group grant request's members as filed (the approver is shown these, and
    the decision is refused if they change: ``_refuse_changed_group``)."""
    if group_id is None:
        return
    await conn.execute("SELECT id FROM user_groups WHERE id = $1 FOR SHARE", group_id)
    await conn.execute(
        "UPDATE org_access_requests SET designee_members = array(SELECT user_id FROM "
        "group_members WHERE group_id = $2 ORDER BY user_id) WHERE id = $1",
        request_id,
        group_id,
    )


async def _refuse_changed_group(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    """Refuse the decision on a group grant request whose group's members are no longer
    those it was filed for (issue 26: a member added while it was pending would get in on
    an approval given for the others). The group's rows are locked by ``_lock_parties``.

    Raises:
        Conflict ``group_changed`` naming the members added and removed.
    """
    if row["kind"] != "grant" or row["designee_group_id"] is None:
        return
    now = {
        r["user_id"]: r["username"]
        for r in await conn.fetch(
            "SELECT m.user_id, u.username FROM group_members m JOIN users u ON u.id = m.user_id "
            "WHERE m.group_id = $1",
            row["designee_group_id"],
        )
    }
    if row["designee_members"] is None:
        raise coded(
            Conflict,
            "group_changed",
            "this request was filed before group members were recorded with it; file a new request",
        )
    filed = set(row["designee_members"])
    if filed == now.keys():
        return
    gone = await conn.fetch(
        "SELECT username FROM users WHERE id = ANY($1::uuid[])", list(filed - now.keys())
    )
    removed = sorted(r["username"] for r in gone)
    removed += ["a deleted user"] * (len(filed - now.keys()) - len(gone))
    added = sorted(now[u] for u in now.keys() - filed)
    parts = [f"added {', '.join(added)}"] if added else []
    parts += [f"removed {', '.join(removed)}"] if removed else []
    raise coded(
        Conflict,
        "group_changed",
        f"the group's members changed since filing: {'; '.join(parts)}; file a new request",
    )


async def _record_approved(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    """Keep with a new grant what was approved: the designee's role, or the group's
    members with their roles (a later raise is refused: ``dual_control``
    ``refuse_raise_of_reaching_user``)."""
    await conn.execute(
        "UPDATE org_access_grants SET approved_role = (SELECT role FROM users WHERE id = $2), "
        "approved_members = CASE WHEN $3::uuid IS NULL THEN NULL ELSE coalesce((SELECT "
        "jsonb_agg(jsonb_build_object('username', u.username, 'role', u.role) "
        "ORDER BY lower(u.username)) FROM group_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.group_id = $3), '[]'::jsonb) END WHERE request_id = $1",
        row["id"],
        row["designee_user_id"],
        row["designee_group_id"],
    )


def approved_members(grant: asyncpg.Record) -> list[dict[str, str]] | None:
    """A group grant's members as approved (``[{"username", "role"}]``; None for a grant
    approved before they were recorded)."""
    if grant["approved_members"] is None:
        return None
    members: list[dict[str, str]] = json.loads(grant["approved_members"])
    return members


# -- org_purge: a deleted org purged before its window ends, by two persons (issue 27) --


async def _refuse_deleted_org(conn: asyncpg.Connection, org: asyncpg.Record) -> None:
    """Refuse a request about a client org in its recovery window (restore it first; only
    an ``org_purge`` names a deleted org)."""
    if await conn.fetchval("SELECT deleted_at IS NOT NULL FROM orgs WHERE id = $1", org["id"]):
        raise field_error(
            "org",
            f"{org['display_name']} is deleted; restore it first "
            "(POST /orgs/deleted/{id}/restore)",
        )


async def _resolve_org_purge(
    conn: asyncpg.Connection, actor: Actor, data: dict[str, Any]
) -> Filing:
    """An ``org_purge``: a deleted client org (``org``: its display name or id, as
    ``GET /orgs/deleted`` lists it) is to be purged now. Any MSPOrg administrator may
    propose it; a second, independent one approves (``dual_control.approver_problem``).

    Raises:
        ValidationFailed: no deleted org of that name or id.
    """
    try:
        row = await orgs.deleted_org(conn, data.get("org") or "")
    except NotFound as exc:
        raise field_error("org", str(exc)) from None
    org = await conn.fetchrow(
        "SELECT id, display_name, name, is_msp, account_manager_id FROM orgs WHERE id = $1",
        row["id"],
    )
    await db.set_org(conn, actor.org_id)
    return Filing("org_purge", org=org, subject=str(row["id"]))


async def _refuse_restored_org(conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    """Refuse to approve an ``org_purge`` of an org restored since it was filed."""
    if not await conn.fetchval(
        "SELECT deleted_at IS NOT NULL FROM orgs WHERE id = $1", row["client_org_id"]
    ):
        raise coded(
            Conflict, "org_not_deleted", f"{row['org']} was restored; there is nothing to purge"
        )


async def _purge_approved_org(env: Env, actor: Actor, row: asyncpg.Record) -> None:
    """Purge the org an approved ``org_purge`` request names (after the approval's commit:
    the purge takes the request with the org; the approval stays in MSPOrg's chain)."""
    if row["status"] == "approved":
        await orgs.purge_org(
            env, row["client_org_id"], actor.who, f"org_purge request {row['id']} approved"
        )


# -- directory_config: MSPOrg's directory configuration, by two persons (issue 32) -------


async def _resolve_directory_config(conn: asyncpg.Connection, actor: Actor) -> Filing:
    """A ``directory_config`` request: MSPOrg's pending directory configuration, filed by
    the administrator who set it (so the approver, a second person by
    ``dual_control.approver_problem``, is independent of whoever chose the directory).
    The subject names the pending revision: a configuration changed after filing is not
    approved (``directory.apply_approved``, ``409 directory_changed``).

    Raises:
        Conflict ``nothing_to_approve`` (nothing pending), Forbidden
        ``not_your_configuration`` (another administrator set it: that one files).
    """
    await db.set_org(conn, actor.org_id)
    subject = await directory.pending_summary(conn, actor.org_id)
    configured_by = await conn.fetchval(
        "SELECT configured_by_id FROM org_directories WHERE org_id = $1 AND state = 'pending'",
        actor.org_id,
    )
    if configured_by != actor.user_id:
        raise coded(
            Forbidden,
            "not_your_configuration",
            "the administrator who set the pending directory configuration files its request",
        )
    org = await conn.fetchrow("SELECT * FROM orgs WHERE id = $1", actor.org_id)
    return Filing(directory.REQUEST_KIND, org=org, subject=subject)
