"""Org access for MSP staff: dual-control requests, grants, revocation, and the org report.

The dual-control rule lives in ``approver_problem``: the approver must be an active
MSPOrg administrator who is neither the proposer, nor the designee, nor a member of
the designee group. It is checked when a request is filed and again when it is
decided. Every step is audited in MSPOrg's chain and in the client org's chain.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from server import audit, db, permissions
from server.context import Actor, Env
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed, coded, field_error
from server.services.access import find_org
from server.services.auth import reauthenticate
from server.services.orgs import require_msp_admin
from server.validation import parse_id

REQUEST_SELECT = """
SELECT r.id, r.client_org_id, o.display_name AS org, du.username AS designee_user,
       dg.name AS designee_group, pu.username AS proposer, au.username AS approver,
       r.designee_user_id, r.designee_group_id, r.proposer_id, r.approver_id, r.reason,
       CASE WHEN r.status = 'pending' AND r.expires_at <= now() THEN 'expired'
            ELSE r.status END AS status,
       r.decision_reason, r.created_at, r.expires_at, r.decided_at
FROM org_access_requests r
JOIN orgs o ON o.id = r.client_org_id
JOIN users pu ON pu.id = r.proposer_id
JOIN users au ON au.id = r.approver_id
LEFT JOIN users du ON du.id = r.designee_user_id
LEFT JOIN user_groups dg ON dg.id = r.designee_group_id
"""


def request_json(row: asyncpg.Record) -> dict[str, Any]:
    """An org access request as the API shows it."""
    out: dict[str, Any] = {"id": str(row["id"]), "org": row["org"]}
    if row["designee_user"] is not None:
        out["user"] = row["designee_user"]
    else:
        out["group"] = row["designee_group"]
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


async def approver_problem(
    conn: asyncpg.Connection,
    msp_id: uuid.UUID,
    approver_id: uuid.UUID,
    proposer_id: uuid.UUID,
    designee_user_id: uuid.UUID | None,
    designee_group_id: uuid.UUID | None,
) -> str | None:
    """Why the approver may not decide this request, or None (the dual-control rule)."""
    approver = await conn.fetchrow(
        "SELECT status, role FROM users WHERE id = $1 AND org_id = $2", approver_id, msp_id
    )
    if (
        approver is None
        or approver["status"] != "active"
        or approver["role"] not in permissions.ADMIN_ROLES
    ):
        return "the approver must be an active MSPOrg administrator"
    if approver_id == proposer_id:
        return "the approver cannot be the proposer"
    if designee_user_id is not None and approver_id == designee_user_id:
        return "the approver cannot be the user who is given access"
    if designee_group_id is not None and await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2)",
        designee_group_id,
        approver_id,
    ):
        return "the approver cannot be a member of the group that is given access"
    return None


async def _client_org(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    org = await find_org(conn, name)
    if org is None:
        raise ValidationFailed([{"field": "org", "message": f"no organization named {name!r}"}])
    if org["is_msp"]:
        raise ValidationFailed([{"field": "org", "message": "MSPOrg needs no access grant"}])
    return org


async def _audit_both(
    conn,
    env: Env,
    actor: Actor,
    client_id: uuid.UUID,
    operation: str,
    target: str,
    details: dict[str, Any],
    reason: str | None = None,
):
    for org_id in (actor.org_id, client_id):
        await audit.record(
            conn,
            env.ring,
            org_id,
            actor.who,
            operation,
            target_type="org_access",
            target=target,
            reason=reason,
            details=details,
            node=env.node,
        )


async def file_request(env: Env, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """An MSPOrg administrator asks for a user or group to be given access to a client org."""
    require_msp_admin(actor)
    if ("user" in data) == ("group" in data):
        raise ValidationFailed([{"field": "user", "message": "name either a user or a group"}])
    days = env.config.security.access_request_days
    async with db.transaction(env.pool) as conn:
        org = await _client_org(conn, data["org"])
        await db.set_org(conn, actor.org_id)
        user_id = group_id = None
        if "user" in data:
            user_id = await conn.fetchval(
                "SELECT id FROM users WHERE org_id = $1 AND lower(username) = lower($2) "
                "AND status = 'active'",
                actor.org_id,
                data["user"],
            )
            if user_id is None:
                raise ValidationFailed(
                    [{"field": "user", "message": "no active MSPOrg user of that name"}]
                )
        else:
            group_id = await conn.fetchval(
                "SELECT id FROM user_groups WHERE org_id = $1 AND lower(name) = lower($2)",
                actor.org_id,
                data["group"],
            )
            if group_id is None:
                raise ValidationFailed(
                    [{"field": "group", "message": "no MSPOrg user group of that name"}]
                )
        approver_id = await conn.fetchval(
            "SELECT id FROM users WHERE org_id = $1 AND lower(username) = lower($2)",
            actor.org_id,
            data["approver"],
        )
        problem = (
            "the approver must be an active MSPOrg administrator"
            if approver_id is None
            else await approver_problem(
                conn, actor.org_id, approver_id, actor.user_id, user_id, group_id
            )
        )
        if problem:
            raise field_error("approver", problem, code="approver_not_eligible")
        if user_id is not None and user_id == org["account_manager_id"]:
            raise coded(Conflict, "already_granted", "that user is the org's account manager")
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM org_access_grants WHERE client_org_id = $1 AND "
            "(user_id = $2 OR group_id = $3))",
            org["id"],
            user_id,
            group_id,
        ):
            raise coded(Conflict, "already_granted", "that access is already granted")
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM org_access_requests WHERE client_org_id = $1 AND "
            "status = 'pending' AND expires_at > now() AND "
            "(designee_user_id = $2 OR designee_group_id = $3))",
            org["id"],
            user_id,
            group_id,
        ):
            raise coded(Conflict, "request_pending", "the same request is already pending")
        request_id = await conn.fetchval(
            "INSERT INTO org_access_requests (org_id, client_org_id, designee_user_id, "
            "designee_group_id, proposer_id, approver_id, reason, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(days => $8)) "
            "RETURNING id",
            actor.org_id,
            org["id"],
            user_id,
            group_id,
            actor.user_id,
            approver_id,
            data.get("reason", ""),
            days,
        )
        row = await conn.fetchrow(REQUEST_SELECT + " WHERE r.id = $1", request_id)
        await _audit_both(
            conn,
            env,
            actor,
            org["id"],
            "org_access_requested",
            row["org"],
            _designee_details(row),
            reason=row["reason"] or None,
        )
    return request_json(row)


def _designee_details(row: asyncpg.Record) -> dict[str, Any]:
    details = {
        "request_id": str(row["id"]),
        "approver": row["approver"],
        "proposer": row["proposer"],
    }
    if row["designee_user"] is not None:
        details["user"] = row["designee_user"]
    else:
        details["group"] = row["designee_group"]
    return details


async def list_requests(
    env: Env, actor: Actor, status: str | None, role: str | None
) -> list[dict[str, Any]]:
    """Requests where the actor is approver or proposer (privileged administrators: all)."""
    require_msp_admin(actor)
    if role not in (None, "approver", "proposer"):
        raise ValidationFailed([{"field": "role", "message": "must be approver or proposer"}])
    statuses = ("pending", "approved", "rejected", "cancelled", "expired")
    if status not in (None, *statuses):
        raise ValidationFailed(
            [{"field": "status", "message": "must be one of " + ", ".join(statuses)}]
        )
    see_all = actor.role == permissions.PRIVILEGED_ADMINISTRATOR and role is None
    async with db.transaction(env.pool, readonly=True) as conn:
        await db.set_org(conn, actor.org_id)
        rows = await conn.fetch(
            "SELECT * FROM (" + REQUEST_SELECT + ") q WHERE "
            "($1 OR ($2::text IS NULL AND (approver_id = $3 OR proposer_id = $3)) "
            " OR ($2 = 'approver' AND approver_id = $3) OR ($2 = 'proposer' AND proposer_id = $3))"
            " AND ($4::text IS NULL OR status = $4) ORDER BY created_at DESC",
            see_all,
            role,
            actor.user_id,
            status,
        )
    return [request_json(r) for r in rows]


async def _load(conn: asyncpg.Connection, actor: Actor, request_id: str, lock: bool = False):
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
                await _audit_both(
                    conn,
                    env,
                    actor,
                    row["client_org_id"],
                    "org_access_expired",
                    row["org"],
                    _designee_details(row),
                )


async def approve(env: Env, actor: Actor, request_id: str, password: str) -> dict[str, Any]:
    """The named approver approves (with its password); the grant takes effect at once."""
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
        problem = await approver_problem(
            conn,
            actor.org_id,
            actor.user_id,
            row["proposer_id"],
            row["designee_user_id"],
            row["designee_group_id"],
        )
        if problem:
            raise coded(Forbidden, "approver_not_eligible", problem)
        await conn.execute(
            "UPDATE org_access_requests SET status = 'approved', decided_at = now() WHERE id = $1",
            row["id"],
        )
        await conn.execute(
            "INSERT INTO org_access_grants (org_id, client_org_id, user_id, group_id, "
            "request_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            actor.org_id,
            row["client_org_id"],
            row["designee_user_id"],
            row["designee_group_id"],
            row["id"],
        )
        await _audit_both(
            conn,
            env,
            actor,
            row["client_org_id"],
            "org_access_approved",
            row["org"],
            _designee_details(row),
        )
        row = await _load(conn, actor, request_id)
    return request_json(row)


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


async def _close(env, actor, request_id, reason, status, who_column, operation, refusal):
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
        await _audit_both(
            conn,
            env,
            actor,
            row["client_org_id"],
            operation,
            row["org"],
            _designee_details(row),
            reason=reason or None,
        )
        row = await _load(conn, actor, request_id)
    return request_json(row)


# -- grants -------------------------------------------------------------------------


async def grants_of(conn: asyncpg.Connection, msp_id: uuid.UUID, client_id: uuid.UUID):
    await db.set_org(conn, msp_id)
    users = await conn.fetch(
        "SELECT u.username, u.role, g.granted_at FROM org_access_grants g "
        "JOIN users u ON u.id = g.user_id WHERE g.client_org_id = $1 "
        "ORDER BY lower(u.username)",
        client_id,
    )
    groups = await conn.fetch(
        "SELECT ug.id, ug.name, g.granted_at, array(SELECT u.username FROM group_members m "
        "JOIN users u ON u.id = m.user_id WHERE m.group_id = ug.id "
        "ORDER BY lower(u.username)) AS members FROM org_access_grants g "
        "JOIN user_groups ug ON ug.id = g.group_id WHERE g.client_org_id = $1 "
        "ORDER BY lower(ug.name)",
        client_id,
    )
    return users, groups


async def list_access(env: Env, actor: Actor, org_name: str) -> dict[str, Any]:
    """Current MSP grants for a client org."""
    require_msp_admin(actor)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await client_org_or_404(conn, org_name)
        users, groups = await grants_of(conn, actor.org_id, org["id"])
    return {
        "users": [
            {
                "username": u["username"],
                "role": u["role"],
                "granted_at": u["granted_at"].isoformat(),
            }
            for u in users
        ],
        "groups": [
            {
                "name": g["name"],
                "members": list(g["members"]),
                "granted_at": g["granted_at"].isoformat(),
            }
            for g in groups
        ],
    }


async def client_org_or_404(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    org = await find_org(conn, name)
    if org is None or org["is_msp"]:
        raise NotFound(f"no client organization named {name!r}")
    return org


async def revoke(env: Env, actor: Actor, org_name: str, kind: str, name: str) -> None:
    """Withdraw a user's or group's access to a client org (no approval needed)."""
    require_msp_admin(actor)
    async with db.transaction(env.pool) as conn:
        org = await client_org_or_404(conn, org_name)
        await db.set_org(conn, actor.org_id)
        if kind == "user":
            removed = await conn.fetchval(
                "DELETE FROM org_access_grants g USING users u WHERE g.user_id = u.id AND "
                "g.client_org_id = $1 AND lower(u.username) = lower($2) RETURNING u.username",
                org["id"],
                name,
            )
        else:
            removed = await conn.fetchval(
                "DELETE FROM org_access_grants g USING user_groups ug WHERE g.group_id = ug.id "
                "AND g.client_org_id = $1 AND lower(ug.name) = lower($2) RETURNING ug.name",
                org["id"],
                name,
            )
        if removed is None:
            raise NotFound(f"{kind} {name!r} holds no access grant for {org['display_name']}")
        await _audit_both(
            conn, env, actor, org["id"], "org_access_revoked", org["display_name"], {kind: removed}
        )
