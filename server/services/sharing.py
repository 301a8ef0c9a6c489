"""Sharing: shares on accounts, resources and resource groups; resource groups themselves.

Re-sharing needs 'full' on the target (or ownership). A share names one user or one
user group of the org, or, with ``user_org`` = MSPOrg, an MSP user who may act in the
org, so MSP staff and the client can share both ways.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, coded, field_error
from server.core.ids import parse_id
from server.services import entitlement, recording
from server.services.access import MSP_ORG, OrgArg, OrgRef, enter_org, reach
from server.services.context import Actor, Env
from server.store import db

TARGET_COLUMNS = {
    "account": "account_id",
    "resource": "resource_id",
    "resource_group": "resource_group_id",
}


async def _target(
    tx: db.Tx, actor: Actor, org: OrgRef, kind: str, ref: str
) -> tuple[uuid.UUID, str]:
    """(id, label) of a share target the actor may re-share, else 404/403."""
    if kind == "resource_group":
        _require_vault_manager(actor)
        row = await tx.fetchrow(
            "SELECT id, name FROM resource_groups WHERE org_id = $1 "
            "AND name_fold(name) = name_fold($2)",
            org.id,
            ref,
        )
        if row is None:
            raise NotFound(f"no resource group named {ref!r}")
        return row["id"], row["name"]
    target_id = parse_id(ref, kind)
    if kind == "resource":
        permission = await entitlement.resource_permission(tx, actor, org, target_id)
        label = await tx.fetchval("SELECT name FROM resources WHERE id = $1", target_id)
    else:
        permission = await entitlement.account_permission(tx, actor, org, target_id)
        label = await tx.fetchval("SELECT username FROM accounts WHERE id = $1", target_id)
    if permission is None:
        raise NotFound(f"no such {kind}")
    if not entitlement.allows(permission, "share"):
        raise Forbidden(f"re-sharing needs full permission; yours is {permission}")
    return target_id, label


def _require_vault_manager(actor: Actor) -> None:
    if not permissions.can_manage_vault(actor):
        raise Forbidden("your role cannot manage resource groups")


async def _grantee(tx: db.Tx, org: OrgRef, data: dict[str, Any]) -> tuple[str, uuid.UUID, str]:
    """('user'|'group', id, label) of the share's recipient."""
    if ("user" in data) == ("group" in data):
        raise field_error("user", "name either a user or a group")
    if "group" in data:
        gid = await tx.fetchval(
            "SELECT id FROM user_groups WHERE org_id = $1 AND name_fold(name) = name_fold($2)",
            org.id,
            data["group"],
        )
        if gid is None:
            raise field_error(
                "group", f"no user group named {data['group']!r} in {org.display_name}"
            )
        return "group", gid, data["group"]
    user_org = data.get("user_org") or org.display_name
    if user_org.lower() == org.display_name.lower():
        uid = await tx.fetchval(
            "SELECT id FROM users WHERE org_id = $1 AND "
            "lower(username) = lower($2) AND status = 'active'",
            org.id,
            data["user"],
        )
        if uid is None:
            raise field_error("user", f"no active user {data['user']!r} in {org.display_name}")
        return "user", uid, data["user"]
    if user_org.lower() != MSP_ORG.lower() or org.is_msp:
        raise field_error("user_org", "must be this org or MSPOrg")
    return "user", await _msp_user_in(tx, org, data["user"]), f"{data['user']}@{MSP_ORG}"


async def _msp_user_in(tx: db.Tx, org: OrgRef, username: str) -> uuid.UUID:
    """An MSPOrg user who may act in ``org`` (account manager or grant), else 422."""
    msp_id = await tx.fetchval("SELECT id FROM orgs WHERE is_msp")
    async with db.in_org(tx, msp_id):
        row = await tx.fetchrow(
            "SELECT id, username, role, access_scope FROM users WHERE "
            "org_id = $1 AND lower(username) = lower($2) AND "
            "status = 'active'",
            msp_id,
            username,
        )
    if row is not None and await reach(tx, row["id"], msp_id, org.id) is not None:
        user_id: uuid.UUID = row["id"]
        return user_id
    raise field_error(
        "user", f"{username!r} is not an MSPOrg user with access to {org.display_name}"
    )


def share_json(row: asyncpg.Record) -> dict[str, Any]:
    """A share as the API shows it."""
    return {
        "id": str(row["id"]),
        "permission": row["permission"],
        "user": row["username"],
        "user_org": row["user_org"],
        "group": row["group_name"],
        "created_at": row["created_at"].isoformat(),
    }


_SHARE_SELECT = (
    "SELECT s.id, s.permission, s.created_at, u.username, "
    "(SELECT display_name FROM orgs WHERE id = u.org_id) AS user_org, g.name AS group_name "
    "FROM shares s LEFT JOIN users u ON u.id = s.user_id "
    "LEFT JOIN user_groups g ON g.id = s.group_id "
)


async def list_shares(
    env: Env, actor: Actor, org_name: OrgArg, kind: str, ref: str
) -> list[dict[str, Any]]:
    """Who a target is shared with (needs full on it)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        target_id, _ = await _target(tx, actor, org, kind, ref)
        rows = await tx.fetch(
            _SHARE_SELECT + f"WHERE s.{TARGET_COLUMNS[kind]} = $1 ORDER BY s.created_at", target_id
        )
        # MSP users are not visible in the client org's RLS context: name them from MSPOrg.
        return [await _named(tx, r) for r in rows]


async def _named(tx: db.Tx, row: asyncpg.Record) -> dict[str, Any]:
    out = share_json(row)
    if out["user"] is None and out["group"] is None:
        share = await tx.fetchrow_one("SELECT user_id FROM shares WHERE id = $1", row["id"])
        msp_id = await tx.fetchval("SELECT id FROM orgs WHERE is_msp")
        async with db.in_org(tx, msp_id):
            out["user"] = await tx.fetchval(
                "SELECT username FROM users WHERE id = $1", share["user_id"]
            )
        out["user_org"] = MSP_ORG
    return out


async def add_share(
    env: Env, actor: Actor, org_name: OrgArg, kind: str, ref: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Share a target with a user or group (replacing an earlier share to the same one)."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        target_id, label = await _target(tx, actor, org, kind, ref)
        if kind == "resource_group":
            await _require_full_on_members(tx, actor, org, target_id)
        grantee_kind, grantee_id, grantee_label = await _grantee(tx, org, data)
        permission = data.get("permission")
        if permission is None and grantee_kind == "group":
            # The group's setting says what a share to it gives by default.
            permission = await tx.fetchval(
                "SELECT default_permission FROM user_groups WHERE id = $1", grantee_id
            )
        if permission is None:
            raise field_error("permission", "is required for a share to a user")
        column = TARGET_COLUMNS[kind]
        grantee_column = "user_id" if grantee_kind == "user" else "group_id"
        share_id = await tx.fetchval(
            f"INSERT INTO shares (org_id, {column}, {grantee_column}, permission, created_by, "
            "by_msp) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT "
            "(coalesce(account_id, resource_id, resource_group_id), coalesce(user_id, group_id))"
            " DO UPDATE SET permission = EXCLUDED.permission, created_by = EXCLUDED.created_by, "
            "by_msp = EXCLUDED.by_msp RETURNING id",
            org.id,
            target_id,
            grantee_id,
            permission,
            actor.user_id,
            actor.org_is_msp and not org.is_msp,
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "share_added",
            target_type=kind,
            target=label,
            details={
                "share_id": str(share_id),
                grantee_kind: grantee_label,
                "permission": permission,
            },
        )
        row = await tx.fetchrow_one(_SHARE_SELECT + "WHERE s.id = $1", share_id)
        out = await _named(tx, row)
        note = await unreached_note(tx, org, grantee_kind, grantee_id)
        if note:
            out["note"] = note
        return out


async def remove_share(
    env: Env, actor: Actor, org_name: OrgArg, kind: str, ref: str, share_id: str
) -> None:
    """Withdraw a share (needs full on the target)."""
    sid = parse_id(share_id, "share")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        target_id, label = await _target(tx, actor, org, kind, ref)
        removed = await tx.fetchval(
            f"DELETE FROM shares WHERE id = $1 AND {TARGET_COLUMNS[kind]} = $2 "
            "RETURNING permission",
            sid,
            target_id,
        )
        if removed is None:
            raise NotFound("no such share")
        await recording.writer(tx, env, org.id, actor.who).record(
            "share_removed", target_type=kind, target=label, details={"share_id": share_id}
        )


# -- resource groups ----------------------------------------------------------------


async def _require_full_on_members(
    tx: db.Tx, actor: Actor, org: OrgRef, group_id: uuid.UUID
) -> None:
    """Sharing a resource group shares its resources: the actor needs full permission on
    each (else an account manager could share a client's group with itself)."""
    await lock_group(tx, group_id)
    members = await tx.fetch(
        "SELECT r.id, r.name FROM resource_group_members m JOIN resources r "
        "ON r.id = m.resource_id WHERE m.resource_group_id = $1",
        group_id,
    )
    for member in members:
        permission = await entitlement.resource_permission(tx, actor, org, member["id"])
        if not entitlement.allows(permission, "share"):
            raise Forbidden(
                f"sharing this resource group needs full permission on each of its resources; "
                f"not on {member['name']!r}"
            )


async def shares_extended_by_adding(
    tx: db.Tx,
    org: OrgRef,
    group_id: uuid.UUID,
    group_name: str,
    resource_ids: list[uuid.UUID],
    extend: bool,
) -> list[dict[str, Any]]:
    """THE rule for putting resources into a resource group that has shares: every share
    on the group then reaches them too, so the person adding must say so knowingly.

    ``resource_ids`` are the group's members after the change (the caller has checked
    that the actor holds full permission on each: ``_resource_ids``); those not in the
    group yet are the added ones. Every path that adds a resource to a group calls this
    (today: creating a group with resources, and replacing its resources by PATCH).

    Returns: the shares extended, by display name and level (``{"user"|"group": name,
    "permission": level, "resources": [names]}``), for the ``resource_group_updated``
    audit event; [] when nothing is added or the group has no shares.

    Raises:
        Conflict ``shares_would_extend`` (409) when the group has shares, resources are
        added and ``extend`` is false. The problem names (no ids) who would gain which
        level (``shares``) on which resources (``resources``).

    Source: attack pass on session 10 (a share made on an empty group widened later,
    when an administrator filled the group); DESIGN.md §4 (a share never reaches more
    than its sharer could give, unless someone who may give it does so knowingly).
    """
    await lock_group(tx, group_id)
    current = {
        r["resource_id"]
        for r in await tx.fetch(
            "SELECT resource_id FROM resource_group_members WHERE resource_group_id = $1",
            group_id,
        )
    }
    added = [rid for rid in dict.fromkeys(resource_ids) if rid not in current]
    if not added:
        return []
    rows = await tx.fetch(
        _SHARE_SELECT + "WHERE s.resource_group_id = $1 ORDER BY s.created_at", group_id
    )
    if not rows:
        return []
    names = [
        r["name"]
        for r in await tx.fetch(
            "SELECT name FROM resources WHERE id = ANY($1::uuid[]) ORDER BY lower(name)", added
        )
    ]
    shares: list[dict[str, Any]] = []
    for row in rows:
        share = await _named(tx, row)
        if share["group"] is not None:
            shares.append({"group": share["group"], "permission": share["permission"]})
        else:
            user = share["user"]
            if share["user_org"] and share["user_org"] != org.display_name:
                user = f"{user}@{share['user_org']}"
            shares.append({"user": user, "permission": share["permission"]})
    if not extend:
        who = ", ".join(f"{s.get('user') or s.get('group')} ({s['permission']})" for s in shares)
        raise coded(
            Conflict,
            "shares_would_extend",
            f"resource group {group_name} is shared: adding gives {who} access to "
            f"{', '.join(names)}; add them again confirming that its shares extend to them",
            shares=shares,
            resources=names,
        )
    return [s | {"resources": names} for s in shares]


async def _resource_ids(tx: db.Tx, actor: Actor, org: OrgRef, refs: list[str]) -> list[uuid.UUID]:
    ids = [parse_id(r, "resource") for r in refs]
    for rid in ids:
        permission = await entitlement.resource_permission(tx, actor, org, rid)
        if not entitlement.allows(permission, "share"):
            raise field_error("resources", f"resource {rid} is not one you may share")
    return ids


async def _group_json(tx: db.Tx, row: asyncpg.Record) -> dict[str, Any]:
    members = await tx.fetch(
        "SELECT r.id, r.name FROM resource_group_members m JOIN resources r "
        "ON r.id = m.resource_id WHERE m.resource_group_id = $1 ORDER BY lower(r.name)",
        row["id"],
    )
    schedule = await tx.fetchrow(
        "SELECT rotate_every_days, verify_every_hours FROM rotation_schedules "
        "WHERE resource_group_id = $1",
        row["id"],
    )
    return {
        "name": row["name"],
        "resources": [{"id": str(m["id"]), "name": m["name"]} for m in members],
        "rotation_schedule": dict(schedule) if schedule else None,
    }


async def list_resource_groups(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The org's resource groups (vault managers)."""
    _require_vault_manager(actor)
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await tx.fetch(
            "SELECT id, name FROM resource_groups WHERE org_id = $1 ORDER BY lower(name)", org.id
        )
        return [await _group_json(tx, r) for r in rows]


async def save_resource_group(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any], existing: str | None = None
) -> dict[str, Any]:
    """Create a resource group, or rename / re-fill ``existing``.

    Resources put in need full permission (422 otherwise); adding any to a group that has
    shares is refused with 409 ``shares_would_extend`` unless ``extend_shares``
    (``shares_extended_by_adding``, whose answer the audit event carries)."""
    _require_vault_manager(actor)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        if existing is None:
            try:
                row = await tx.fetchrow_one(
                    "INSERT INTO resource_groups (org_id, name) VALUES ($1, $2) RETURNING id, name",
                    org.id,
                    data["name"],
                )
            except asyncpg.UniqueViolationError:
                raise field_error(
                    "name", "a resource group of that name exists", code="conflict"
                ) from None
            operation = "resource_group_created"
        else:
            gid, _ = await _target(tx, actor, org, "resource_group", existing)
            try:
                row = await tx.fetchrow_one(
                    "UPDATE resource_groups SET name = coalesce($2, name) "
                    "WHERE id = $1 RETURNING id, name",
                    gid,
                    data.get("name"),
                )
            except asyncpg.UniqueViolationError:
                raise field_error(
                    "name", "a resource group of that name exists", code="conflict"
                ) from None
            operation = "resource_group_updated"
        extended: list[dict[str, str]] = []
        if "resources" in data:
            ids = await _resource_ids(tx, actor, org, data["resources"])
            extended = await shares_extended_by_adding(
                tx, org, row["id"], row["name"], ids, bool(data.get("extend_shares"))
            )
            await tx.execute(
                "DELETE FROM resource_group_members WHERE resource_group_id = $1", row["id"]
            )
            await tx.executemany(
                "INSERT INTO resource_group_members (org_id, resource_group_id, resource_id) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                [(org.id, row["id"], rid) for rid in ids],
            )
        await recording.writer(tx, env, org.id, actor.who).record(
            operation,
            target_type="resource_group",
            target=row["name"],
            details={"resources": len(data.get("resources", []))}
            | ({"shares_extended": extended} if extended else {}),
        )
        return await _group_json(tx, row)


async def get_resource_group(env: Env, actor: Actor, org_name: OrgArg, name: str) -> dict[str, Any]:
    """One resource group."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        gid, _ = await _target(tx, actor, org, "resource_group", name)
        row = await tx.fetchrow_one("SELECT id, name FROM resource_groups WHERE id = $1", gid)
        return await _group_json(tx, row)


async def delete_resource_group(env: Env, actor: Actor, org_name: OrgArg, name: str) -> None:
    """Delete a resource group (its shares go; its resources stay)."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        gid, label = await _target(tx, actor, org, "resource_group", name)
        await tx.execute("DELETE FROM resource_groups WHERE id = $1", gid)
        await recording.writer(tx, env, org.id, actor.who).record(
            "resource_group_deleted", target_type="resource_group", target=label
        )


# -- who a share reaches (issue 27, item 4) ------------------------------------------------


async def unreached_note(
    tx: db.Tx, org: OrgRef, grantee_kind: str, grantee_id: uuid.UUID
) -> str | None:
    """What to tell the sharer when a share to a group reaches none of its members yet:
    every member is an unconfirmed client user, who sees nothing through a group until
    confirmed (README, "Client secrets stay the client's"; ``user_trusted``). None
    otherwise (in the org's RLS context)."""
    if grantee_kind != "group":
        return None
    members = await tx.fetch(
        "SELECT user_trusted(m.user_id, $2) AS trusted FROM group_members m WHERE m.group_id = $1",
        grantee_id,
        org.id,
    )
    if members and not any(m["trusted"] for m in members):
        return "its members are unconfirmed: they see it once confirmed"
    return None


async def share_targets(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """Who a share in ``org`` can reach, for a share picker: the org's active users (with
    whether each is confirmed), its groups (with ``reaches_nobody`` when every member is
    unconfirmed), and for a client org the MSPOrg users who act in it (account manager or
    grant) — not every MSPOrg user, since a share to one who does not reach the org is
    refused.

    Raises:
        NotFound (an org the actor does not act in), Forbidden (its role cannot manage
        the vault).
    """
    _require_vault_manager(actor)
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        users = await tx.fetch(
            "SELECT username, full_name, user_trusted(id, $1) AS confirmed FROM users "
            "WHERE org_id = $1 AND status = 'active' ORDER BY lower(username)",
            org.id,
        )
        groups = await tx.fetch(
            "SELECT g.name, count(m.user_id) AS members, "
            "count(m.user_id) FILTER (WHERE user_trusted(m.user_id, $1)) AS reached "
            "FROM user_groups g LEFT JOIN group_members m ON m.group_id = g.id "
            "WHERE g.org_id = $1 GROUP BY g.id, g.name ORDER BY lower(g.name)",
            org.id,
        )
        msp: list[asyncpg.Record] = []
        if not org.is_msp:
            msp_id = await tx.fetchval("SELECT id FROM orgs WHERE is_msp")
            async with db.in_org(tx, msp_id):
                msp = await tx.fetch(
                    "SELECT u.username, u.full_name FROM users u "
                    "WHERE u.org_id = $1 AND u.status = 'active' AND EXISTS "
                    "(SELECT 1 FROM org_reach(u.id, $1, $2)) ORDER BY lower(u.username)",
                    msp_id,
                    org.id,
                )
    return {
        "users": [dict(u) for u in users],
        "groups": [
            {
                "name": g["name"],
                "members": g["members"],
                "reaches_nobody": g["members"] > 0 and g["reached"] == 0,
            }
            for g in groups
        ],
        "msp_users": [dict(u) for u in msp],
    }


async def replicated_share_problem(
    tx: db.Tx, resource_group_id: uuid.UUID, group_id: uuid.UUID, proposed: str
) -> str | None:
    """THE rule for a share that replicating settings makes, or raises, in a client org
    (from a replica of an MSPOrg resource group to a replica of an MSPOrg user group, at
    the MSPOrg share's level ``proposed``).

    A share made while the client's group is empty reaches only what the client's own
    administrators put in it later, each time knowingly (``shares_extended_by_adding``).
    Once the group holds the client's resources, a new or higher share would reach them
    with nobody of the client, and no one who holds full permission on them, having said
    so: replication is structure only (the guide's "Replicate settings across client
    orgs"; DESIGN.md §4: a share never reaches more than its sharer could give). The group
    is locked first (``lock_group``): a fill racing the apply is seen, or waits.

    Returns: None when the share may be made or set (the group is empty, or the level is
    not raised), else why not, in words for the org's result (``kept``).
    """
    await lock_group(tx, resource_group_id)
    current = await tx.fetchval(
        "SELECT permission FROM shares WHERE resource_group_id = $1 AND group_id = $2",
        resource_group_id,
        group_id,
    )
    if current is not None and entitlement.RANK[proposed] <= entitlement.RANK[current]:
        return None
    held = await tx.fetchval(
        "SELECT count(*) FROM resource_group_members WHERE resource_group_id = $1",
        resource_group_id,
    )
    if not held:
        return None
    resources = "resource" if held == 1 else "resources"
    return (
        f"{'kept its level' if current else 'not replicated'}: the client's group holds "
        f"{held} of its own {resources}: replicating would {'raise' if current else 'make'} "
        f"it ({proposed}) on them unasked; someone with full permission on them may share it"
    )


async def lock_group(tx: db.Tx, group_id: uuid.UUID) -> None:
    """Take a resource group's row for the rest of ``tx``: whoever shares it (or raises a
    share on it) and whoever fills it take turns, each reading what the other committed.
    Without it, a share checked on the empty group and a fill checked on the unshared
    group could both commit, and the share reach what nobody agreed to (attack pass,
    session 12: a client administrator revealed a password it had no right to, 23 times
    in 30 racing pairs)."""
    await tx.execute("SELECT 1 FROM resource_groups WHERE id = $1 FOR UPDATE", group_id)
