"""Users and user groups inside an org."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, coded, field_error
from server.security.passwords import check_login_password
from server.services import dual_control, org_settings, recording
from server.services.access import OrgArg, OrgRef, acting_org, enter_org, require_user_admin
from server.services.context import Actor, Env
from server.store import db

# What only a confirmed client administrator changes on a confirmed client user.
PROTECTED_CLIENT_FIELDS = frozenset({"role", "access_scope", "status", "password", "totp_required"})

_USER_COLUMNS = (
    "id, username, full_name, email, role, access_scope, status, must_change_password, "
    "totp_required, totp_secret IS NOT NULL AS totp_enabled, created_at, client_confirmed, "
    "directory_dn IS NOT NULL AS directory"
)


def user_json(row: asyncpg.Record, org: str) -> dict[str, Any]:
    """A user as the API shows it: never a hash or a secret."""
    return {
        "username": row["username"],
        "org": org,
        "full_name": row["full_name"],
        "email": row["email"],
        "role": row["role"],
        "access_scope": row["access_scope"],
        "status": row["status"],
        "must_change_password": row["must_change_password"],
        "totp_required": row["totp_required"],
        "totp_enabled": row["totp_enabled"],
        "confirmed": row["client_confirmed"],
        "created_at": row["created_at"].isoformat(),
        # Issue 32: logs in with its org's directory (no password here).
        "directory": bool(row.get("directory", False)),
    }


async def _user_row(
    conn: asyncpg.Connection, org: OrgRef, username: str, lock: bool = False
) -> asyncpg.Record:
    """One user of the org; ``lock`` holds its row until the transaction ends, so a
    dual-control decision about it and a change to it happen one after the other."""
    row = await conn.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM users WHERE org_id = $1 AND lower(username) = lower($2)"
        + (" FOR UPDATE" if lock else ""),
        org.id,
        username,
    )
    if row is None:
        raise NotFound(f"no user named {username!r} in {org.display_name}")
    return row


async def list_users(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """Every user of the org (any member may list, to share with them)."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await enter_org(conn, actor, org_name)
        rows = await conn.fetch(
            f"SELECT {_USER_COLUMNS} FROM users WHERE org_id = $1 ORDER BY lower(username)", org.id
        )
    return [user_json(r, org.display_name) for r in rows]


async def get_user(env: Env, actor: Actor, org_name: OrgArg, username: str) -> dict[str, Any]:
    """One user of the org."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await enter_org(conn, actor, org_name)
        return user_json(await _user_row(conn, org, username), org.display_name)


def _check_role_change(
    actor: Actor, role: str | None, scope: str | None, capabilities: frozenset[str] | None = None
) -> None:
    """``actor`` may give ``role`` (whose ``capabilities`` are known once its org is: until
    then a built-in role's) and ``scope`` (``permissions.role_assignment_refusal``)."""
    if role is not None:
        if capabilities is None:
            capabilities = permissions.capabilities_of(role)
        refusal = permissions.role_assignment_refusal(actor, role, capabilities)
        if refusal:
            raise coded(Forbidden, *refusal)
    if scope == "all" and not permissions.can_grant_scope_all(actor):
        raise Forbidden("only a privileged administrator may grant the 'all' access scope")


async def create_user(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a user to the org; it must change the given password at first login."""
    problem = check_login_password(data["password"], data["username"])
    if problem:
        raise ValidationFailed([{"field": "password", "message": problem}])
    _check_role_change(actor, data["role"], data.get("access_scope"))
    password_hash = await env.hasher.hash(data["password"])
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        async with db.in_org(conn, org.id):
            await _check_role_assignable(conn, actor, org, data["role"])
        made = await dual_control.provenance(
            conn, actor, org.id, org.is_msp, data["role"], creating=True
        )
        await db.set_org(conn, org.id)
        try:
            row = await conn.fetchrow_one(
                "INSERT INTO users (org_id, username, full_name, email, role, access_scope, "
                "password_hash, totp_required, principal_id, client_confirmed, "
                "credential_chain, founder) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
                f"RETURNING {_USER_COLUMNS}",
                org.id,
                data["username"],
                data.get("full_name", ""),
                data.get("email", ""),
                data["role"],
                data.get("access_scope", "owned_and_shared"),
                password_hash,
                data.get("totp_required", False),
                made.principal_id,
                made.client_confirmed,
                made.credential_chain,
                made.founder,
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict,
                "username_taken",
                f"{org.display_name} already has a user named {data['username']!r}",
                field="username",
            ) from None
        await recording.writer(conn, env, org.id, actor.who).record(
            "user_created",
            target_type="user",
            target=row["username"],
            details={
                "role": row["role"],
                "access_scope": row["access_scope"],
                "independent": made.principal_id is None,
                "confirmed": made.client_confirmed,
            },
        )
        if org.is_msp and await dual_control.close_founding_if_due(conn, org.id):
            await recording.writer(conn, env, org.id, actor.who).record(
                "founding_phase_closed", target_type="org", target=org.display_name
            )
    return user_json(row, org.display_name)


async def update_user(
    env: Env, actor: Actor, org_name: OrgArg, username: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Change a user's profile, role, scope, status or password (administrators; a custom
    role only of users it outranks: ``_refuse_acting_on``, ``_check_role_assignable``)."""
    if "password" in data:
        problem = check_login_password(data["password"], username)
        if problem:
            raise ValidationFailed([{"field": "password", "message": problem}])
        new_hash = await env.hasher.hash(data["password"])
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        await db.set_org(conn, org.id)
        target = await _user_row(conn, org, username, lock=True)
        await _refuse_acting_on(conn, actor, org, target)
        is_self = target["id"] == actor.user_id
        if not org.is_msp and not is_self and (PROTECTED_CLIENT_FIELDS & data.keys()):
            await dual_control.refuse_change_of_confirmed_client_user(conn, actor, org.id, target)
        if is_self and ({"role", "access_scope", "status"} & data.keys()):
            raise Forbidden("nobody changes their own role, scope or status")
        if "password" in data:
            await dual_control.refuse_password_of_directory_user(conn, target["id"])
        if is_self and "password" in data:
            raise coded(
                Forbidden,
                "current_password_required",
                "change your own password with POST /me/password (it asks for the current one)",
            )
        _check_role_change(actor, data.get("role"), data.get("access_scope"))
        if "role" in data:
            await _check_role_assignable(conn, actor, org, data["role"])
            await dual_control.refuse_raise_of_reaching_user(
                conn, org.id, target["role"], data["role"], user_id=target["id"]
            )
        if permissions.is_privileged_administrator(
            target["role"]
        ) and not permissions.is_privileged_administrator(actor):
            raise Forbidden("only a privileged administrator may change another one")
        demoting = not permissions.is_privileged_administrator(data.get("role", target["role"]))
        disabling = data.get("status") == "disabled"
        if permissions.is_privileged_administrator(target["role"]) and (demoting or disabling):
            await _keep_one_privileged_admin(conn, org, target["id"])
        person = await dual_control.person_on_promotion(
            conn, actor, org.is_msp, target, data.get("role")
        )
        changes = {k: v for k, v in data.items() if k != "password"}
        sets, args = [], [target["id"]]
        for column, value in changes.items():
            args.append(value)
            sets.append(f"{column} = ${len(args)}")
        if "password" in data and not is_self:
            # Whoever sets a password can act as the account: refuse where that opens a
            # client org, and record who now controls it.
            if org.is_msp:
                await dual_control.refuse_reset_of_reaching_user(
                    conn, target["id"], target["username"], org.id
                )
            made = await dual_control.provenance(
                conn,
                actor,
                org.id,
                org.is_msp,
                target["role"],
                creating=False,
                previous_chain=await conn.fetchval(
                    "SELECT credential_chain FROM users WHERE id = $1", target["id"]
                ),
            )
            await db.set_org(conn, org.id)
            args += [
                made.principal_id,
                made.client_confirmed and target["client_confirmed"],
                made.credential_chain,
            ]
            sets.append(
                f"principal_id = ${len(args) - 2}, client_confirmed = ${len(args) - 1}, "
                f"credential_chain = ${len(args)}"
            )
        if "password" in data:
            args.append(new_hash)
            sets.append(f"password_hash = ${len(args)}, must_change_password = true")
        if sets:
            row = await conn.fetchrow_one(
                f"UPDATE users SET {', '.join(sets)}, updated_at = now() WHERE id = $1 "
                f"RETURNING {_USER_COLUMNS}",
                *args,
            )
        else:
            row = target
        if disabling or "password" in data:
            await conn.execute("DELETE FROM sessions WHERE user_id = $1", target["id"])
        if disabling or ("password" in data and not is_self):
            await conn.execute("DELETE FROM api_keys WHERE user_id = $1", target["id"])
        details: dict[str, Any] = {k: v for k, v in changes.items()} | person
        if "password" in data:
            details["credentials_reset"] = True
            details["confirmed"] = row["client_confirmed"]
        await recording.writer(conn, env, org.id, actor.who).record(
            "user_updated", target_type="user", target=target["username"], details=details
        )
    return user_json(row, org.display_name)


async def _keep_one_privileged_admin(
    conn: asyncpg.Connection, org: OrgRef, leaving: uuid.UUID
) -> None:
    if not org.is_msp:
        return
    others = await conn.fetchval(
        "SELECT count(*) FROM users WHERE org_id = $1 AND role = $2 AND status = 'active' "
        "AND id <> $3",
        org.id,
        permissions.PRIVILEGED_ADMINISTRATOR,
        leaving,
    )
    if others == 0:
        raise coded(
            Conflict,
            "last_privileged_administrator",
            "MSPOrg must keep at least one active privileged administrator",
        )


async def delete_user(
    env: Env, actor: Actor, org_name: OrgArg, username: str, new_owner: str | None = None
) -> dict[str, Any]:
    """Remove a user; its sessions, API keys and memberships go with it.

    What it owns (resources and accounts, in any org) goes to ``new_owner``, an active
    user of the same org — for a client org, a confirmed one, so deleting a client user
    cannot hand its secrets to the MSP or to an account the MSP made.

    Returns:
        ``{"transferred": {"resources": n, "accounts": n}}``.
    Raises:
        Conflict ``user_owns_resources`` (owns something and no new owner is named),
        ``user_is_account_manager``, ``last_privileged_administrator``; ValidationFailed
        for an unusable ``new_owner``; Forbidden ``outranks_you`` (``_refuse_acting_on``).
    """
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        await db.set_org(conn, org.id)
        target = await _user_row(conn, org, username, lock=True)
        if target["id"] == actor.user_id:
            raise Forbidden("you cannot delete yourself")
        await _refuse_acting_on(conn, actor, org, target)
        if not org.is_msp:
            await dual_control.refuse_change_of_confirmed_client_user(conn, actor, org.id, target)
        if permissions.is_privileged_administrator(target["role"]):
            if not permissions.is_privileged_administrator(actor):
                raise Forbidden("only a privileged administrator may delete another one")
            await _keep_one_privileged_admin(conn, org, target["id"])
        managed = await conn.fetch(
            "SELECT display_name FROM orgs WHERE account_manager_id = $1", target["id"]
        )
        if managed:
            names = ", ".join(r["display_name"] for r in managed)
            raise coded(
                Conflict,
                "user_is_account_manager",
                f"{username} is the account manager of {names}; assign another first",
            )
        owned = await conn.fetch("SELECT * FROM transfer_ownership($1, NULL)", target["id"])
        moved = {"resources": 0, "accounts": 0}
        if owned:
            heir = await _heir(conn, org, target, new_owner, owned)
            for row in await conn.fetch(
                "SELECT * FROM transfer_ownership($1, $2)", target["id"], heir["id"]
            ):
                moved["resources"] += row["resources"]
                moved["accounts"] += row["accounts"]
                await recording.writer(conn, env, row["org_id"], actor.who).record(
                    "ownership_transferred",
                    target_type="user",
                    target=target["username"],
                    details={
                        "to": f"{heir['username']}@{org.display_name}",
                        "resources": row["resources"],
                        "accounts": row["accounts"],
                    },
                )
            await db.set_org(conn, org.id)
        await conn.execute("DELETE FROM users WHERE id = $1", target["id"])
        await recording.writer(conn, env, org.id, actor.who).record(
            "user_deleted",
            target_type="user",
            target=target["username"],
            details={"resources": moved["resources"], "accounts": moved["accounts"]},
        )
    return {"transferred": moved}


async def _heir(
    conn: db.Tx,
    org: OrgRef,
    target: asyncpg.Record,
    new_owner: str | None,
    owned: list[asyncpg.Record],
) -> asyncpg.Record:
    """The user who receives a deleted user's resources (in the org's RLS context)."""
    if not new_owner:
        resources = sum(r["resources"] for r in owned)
        accounts = sum(r["accounts"] for r in owned)
        raise coded(
            Conflict,
            "user_owns_resources",
            f"{target['username']} owns {resources} resources and {accounts} accounts; "
            "name the user who receives them (?new_owner=)",
            resources=resources,
            accounts=accounts,
        )
    heir = await conn.fetchrow(
        "SELECT id, username, status, client_confirmed FROM users WHERE org_id = $1 "
        "AND lower(username) = lower($2)",
        org.id,
        new_owner,
    )
    if heir is None or heir["status"] != "active" or heir["id"] == target["id"]:
        raise field_error("new_owner", f"must be another active user of {org.display_name}")
    if not org.is_msp and org.vault_control != "msp" and not heir["client_confirmed"]:
        raise field_error(
            "new_owner",
            f"{heir['username']} is not confirmed by {org.display_name}; it cannot receive "
            "the client's resources",
        )
    return heir


# -- user groups ---------------------------------------------------------------------


async def _member_ids(
    conn: asyncpg.Connection, org: OrgRef, usernames: list[str]
) -> list[uuid.UUID]:
    wanted = {u.lower() for u in usernames}
    rows = await conn.fetch(
        "SELECT id, lower(username) AS name FROM users WHERE org_id = $1 "
        "AND lower(username) = ANY($2::text[])",
        org.id,
        list(wanted),
    )
    missing = wanted - {r["name"] for r in rows}
    if missing:
        raise ValidationFailed(
            [
                {
                    "field": "members",
                    "message": f"no such user in {org.display_name}: " + ", ".join(sorted(missing)),
                }
            ]
        )
    return [r["id"] for r in rows]


async def _group_json(conn: asyncpg.Connection, group: asyncpg.Record) -> dict[str, Any]:
    members = await conn.fetch(
        "SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id "
        "WHERE m.group_id = $1 ORDER BY lower(u.username)",
        group["id"],
    )
    return {
        "name": group["name"],
        "description": group["description"],
        "default_permission": group["default_permission"],
        "members": [m["username"] for m in members],
        "replicated": group["replicated_from"] is not None,
    }


_GROUP_SELECT = (
    "SELECT id, name, description, default_permission, replicated_from FROM user_groups "
)


async def _group_row(
    conn: asyncpg.Connection, org: OrgRef, name: str, lock: bool = False
) -> asyncpg.Record:
    row = await conn.fetchrow(
        _GROUP_SELECT
        + "WHERE org_id = $1 AND name_fold(name) = name_fold($2)"
        + (" FOR UPDATE" if lock else ""),
        org.id,
        name,
    )
    if row is None:
        raise NotFound(f"no user group named {name!r} in {org.display_name}")
    return row


async def list_groups(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The org's user groups with their members."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await enter_org(conn, actor, org_name)
        rows = await conn.fetch(
            _GROUP_SELECT + "WHERE org_id = $1 ORDER BY lower(name)",
            org.id,
        )
        return [await _group_json(conn, r) for r in rows]


async def get_group(env: Env, actor: Actor, org_name: OrgArg, name: str) -> dict[str, Any]:
    """One user group."""
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await enter_org(conn, actor, org_name)
        return await _group_json(conn, await _group_row(conn, org, name))


async def create_group(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Create a user group of the org's own users."""
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        await db.set_org(conn, org.id)
        member_ids = await _member_ids(conn, org, data.get("members", []))
        try:
            group = await conn.fetchrow_one(
                "INSERT INTO user_groups (org_id, name, description, default_permission) "
                "VALUES ($1, $2, $3, $4) "
                "RETURNING id, name, description, default_permission, replicated_from",
                org.id,
                data["name"],
                data.get("description", ""),
                data.get("default_permission", "view"),
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict,
                "group_name_taken",
                f"{org.display_name} already has a group named {data['name']!r}",
            ) from None
        await conn.executemany(
            "INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3)",
            [(org.id, group["id"], uid) for uid in member_ids],
        )
        await recording.writer(conn, env, org.id, actor.who).record(
            "group_created",
            target_type="group",
            target=group["name"],
            details={"members": len(member_ids)},
        )
        return await _group_json(conn, group)


async def update_group(
    env: Env, actor: Actor, org_name: OrgArg, name: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Rename a group, change its description, or replace its members."""
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        await db.set_org(conn, org.id)
        group = await _group_row(conn, org, name, lock=True)
        try:
            group = await conn.fetchrow_one(
                "UPDATE user_groups SET name = coalesce($2, name), "
                "description = coalesce($3, description), "
                "default_permission = coalesce($4, default_permission) WHERE id = $1 "
                "RETURNING id, name, description, default_permission, replicated_from",
                group["id"],
                data.get("name"),
                data.get("description"),
                data.get("default_permission"),
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict,
                "group_name_taken",
                f"{org.display_name} already has a group named {data['name']!r}",
            ) from None
        details: dict[str, Any] = {k: v for k, v in data.items() if k != "members"}
        if "members" in data:
            member_ids = await _member_ids(conn, org, data["members"])
            details.update(await _membership_change(conn, group["id"], member_ids))
            if org.is_msp:
                current = {
                    r["name"]
                    for r in await conn.fetch(
                        "SELECT lower(u.username) AS name FROM group_members m JOIN users u "
                        "ON u.id = m.user_id WHERE m.group_id = $1",
                        group["id"],
                    )
                }
                added = sorted({m.lower() for m in data["members"]} - current)
                await dual_control.refuse_new_members_of_granted_group(
                    conn, group["id"], group["name"], added
                )
            await conn.execute("DELETE FROM group_members WHERE group_id = $1", group["id"])
            await conn.executemany(
                "INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $3)",
                [(org.id, group["id"], uid) for uid in member_ids],
            )
        await recording.writer(conn, env, org.id, actor.who).record(
            "group_updated",
            target_type="group",
            target=group["name"],
            details=details,
        )
        return await _group_json(conn, group)


async def delete_group(env: Env, actor: Actor, org_name: OrgArg, name: str) -> None:
    """Delete a user group (its members stay)."""
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        await db.set_org(conn, org.id)
        group = await _group_row(conn, org, name)
        await conn.execute("DELETE FROM user_groups WHERE id = $1", group["id"])
        await recording.writer(conn, env, org.id, actor.who).record(
            "group_deleted", target_type="group", target=group["name"]
        )


async def confirm_user(env: Env, actor: Actor, org_name: OrgArg, username: str) -> dict[str, Any]:
    """A confirmed administrator of a client org confirms one of its users whom an MSP
    user created or gave a password, so that it reaches what the client shares
    (the Bitwarden pattern of member confirmation; DESIGN.md §3).

    Raises:
        Forbidden unless the actor is a confirmed administrator at home in that org;
        Forbidden ``outranks_you`` for a user whose role can do more (``_refuse_acting_on``);
        Conflict ``already_confirmed``, ``password_not_changed`` (the user has not yet set
        its own password, so whoever set it could still be the one logging in).
    """
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        await db.set_org(conn, org.id)
        confirmed_admin = await conn.fetchval(
            "SELECT client_confirmed FROM users WHERE id = $1", actor.user_id
        )
        if (
            org.via != "home"
            or org.is_msp
            or not permissions.can_manage_users(actor)
            or (not confirmed_admin)
        ):
            raise Forbidden("only a confirmed administrator of the org itself confirms its users")
        target = await _user_row(conn, org, username, lock=True)
        await _refuse_acting_on(conn, actor, org, target)
        dual_control.refuse_unconfirmable(target)
        row = await conn.fetchrow_one(
            "UPDATE users SET client_confirmed = true, updated_at = now() WHERE id = $1 "
            f"RETURNING {_USER_COLUMNS}",
            target["id"],
        )
        await recording.writer(conn, env, org.id, actor.who).record(
            "user_confirmed", target_type="user", target=row["username"]
        )
    return user_json(row, org.display_name)


async def _check_role_assignable(
    conn: asyncpg.Connection, actor: Actor, org: OrgRef, role: str
) -> None:
    """``role`` exists in ``org`` and ``actor`` may give it: it gives no permission the
    actor lacks (in the org's RLS context; issue #26 item 3).

    Raises:
        ValidationFailed on ``role``; Forbidden ``permission_not_held`` (or ``forbidden``).
    """
    await org_settings.require_role(conn, org, role)
    _check_role_change(actor, role, None, await org_settings.role_capabilities(conn, org, role))


async def _refuse_acting_on(
    conn: asyncpg.Connection, actor: Actor, org: OrgRef, target: asyncpg.Record
) -> None:
    """Before ``actor`` changes, confirms or deletes ``target`` (a user row of ``org``, in
    the org's RLS context): a user who is not a built-in administrator never acts on one,
    nor on a user whose role can do more than its own (``permissions.act_on_refusal``;
    issue #26 item 3).

    Raises:
        Forbidden ``outranks_you`` naming the target and why.
    """
    capabilities = await org_settings.role_capabilities(conn, org, target["role"])
    reason = permissions.act_on_refusal(actor, target["role"], capabilities)
    if reason:
        raise coded(Forbidden, "outranks_you", f"you may not act on {target['username']}: {reason}")


async def _membership_change(
    conn: asyncpg.Connection, group_id: uuid.UUID, member_ids: list[uuid.UUID]
) -> dict[str, Any]:
    """What replacing group ``group_id``'s members by ``member_ids`` changes, for its
    ``group_updated`` event: the new count and the usernames added and removed (issue 26:
    the trail names who joined a group, not only how many are in it)."""
    rows = await conn.fetch(
        "SELECT u.id, u.username, EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = $1 "
        "AND m.user_id = u.id) AS member FROM users u WHERE u.id = ANY($2::uuid[]) "
        "OR u.id IN (SELECT user_id FROM group_members WHERE group_id = $1)",
        group_id,
        member_ids,
    )
    wanted = set(member_ids)
    return {
        "members": len(wanted),
        "members_added": sorted(
            r["username"] for r in rows if not r["member"] and r["id"] in wanted
        ),
        "members_removed": sorted(
            r["username"] for r in rows if r["member"] and r["id"] not in wanted
        ),
    }


async def reset_totp(env: Env, actor: Actor, org_name: OrgArg, username: str) -> dict[str, Any]:
    """Turn another user's two-factor authentication off (a lost authenticator and lost
    recovery codes): its TOTP secret, pending enrolment and recovery codes go, its
    sessions and API keys end; at its next login it enrols again if it must (issue 27,
    item 3). The same person rules as a password reset: whoever can reset a second factor
    can, with the password, act as the account — so an MSPOrg user who reaches a client
    org is refused (``dual_control.refuse_reset_of_reaching_user``) and a confirmed client
    user is the client's own administrators' (``refuse_change_of_confirmed_client_user``);
    a user who is not a built-in administrator never acts on one (``_refuse_acting_on``),
    only a privileged administrator on another one. Audited ``totp_reset``.

    Raises:
        NotFound, Forbidden (``outranks_you``, ``client_confirms``, one's own: use
        /me/totp/disable), Conflict ``dual_control_required`` / ``totp_not_enabled``.
    """
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        require_user_admin(actor, org)
        await db.set_org(conn, org.id)
        target = await _user_row(conn, org, username, lock=True)
        if target["id"] == actor.user_id:
            raise Forbidden("turn your own two-factor authentication off with /me/totp/disable")
        await _refuse_acting_on(conn, actor, org, target)
        if permissions.is_privileged_administrator(
            target["role"]
        ) and not permissions.is_privileged_administrator(actor):
            raise Forbidden("only a privileged administrator may change another one")
        if org.is_msp:
            await dual_control.refuse_reset_of_reaching_user(
                conn, target["id"], target["username"], org.id
            )
        else:
            await dual_control.refuse_change_of_confirmed_client_user(conn, actor, org.id, target)
        await db.set_org(conn, org.id)
        if not target["totp_enabled"]:
            raise coded(
                Conflict, "totp_not_enabled", f"{target['username']} has no two-factor set up"
            )
        row = await conn.fetchrow_one(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_recovery_salt = NULL, "
            f"updated_at = now() WHERE id = $1 RETURNING {_USER_COLUMNS}",
            target["id"],
        )
        await conn.execute("DELETE FROM totp_recovery_codes WHERE user_id = $1", target["id"])
        await conn.execute("DELETE FROM sessions WHERE user_id = $1", target["id"])
        await conn.execute("DELETE FROM api_keys WHERE user_id = $1", target["id"])
        await recording.writer(conn, env, org.id, actor.who).record(
            "totp_reset", target_type="user", target=target["username"]
        )
    return user_json(row, org.display_name)
