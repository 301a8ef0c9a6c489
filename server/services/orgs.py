"""Organizations: create (one or an imported file), list by visibility, edit, delete, report.

Creating an org makes its data key and the first event of its audit chain in the
same call (``create_org_with_chain`` in sql/004), so a 10,000-row import can be
pipelined. Each org event is also recorded in MSPOrg's chain.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed, coded
from server.core.names import display_name_problem
from server.core.org_file import OrgInput
from server.security.passwords import PasswordHasher
from server.services import audit_trail, recording, replication_settings
from server.services.access import (
    MSP_ORG,
    OrgArg,
    OrgRef,
    acting_org,
    find_org,
    managed_org_ids,
    msp_org_id,
    require_msp_admin,
)
from server.services.context import Actor, Env
from server.store import audit, db
from server.store.audit import Who
from server.store.keyring import AUDIT_KEY, KeyRing

SYSTEM = Who("system", MSP_ORG)
VAULT_CONTROL = ("msp", "client", "both")


def _org_json(row: asyncpg.Record, managed: bool | None = None) -> dict[str, Any]:
    out = {
        "display_name": row["display_name"],
        "name": row["name"],
        "description": row["description"],
        "department": row["department"],
        "location": row["location"],
        "account_manager": row["account_manager"],
        "vault_control": row["vault_control"],
        "require_reveal_reason": row["require_reveal_reason"],
        "is_msp": row["is_msp"],
    }
    if managed is not None:
        out["managed"] = managed
    return out


_ORG_SELECT = (
    "SELECT o.id, o.display_name, o.name, o.description, o.department, o.location, "
    "o.vault_control, o.require_reveal_reason, o.is_msp, o.account_manager_id, "
    "(SELECT u.username FROM users u WHERE u.id = o.account_manager_id) AS account_manager "
    "FROM orgs o"
)


async def eligible_account_managers(
    conn: asyncpg.Connection, msp_id: uuid.UUID, usernames: set[str]
) -> dict[str, tuple[uuid.UUID, str]]:
    """Eligible account managers among ``usernames`` (lower-cased) → (id, username)."""
    await db.set_org(conn, msp_id)
    rows = await conn.fetch(
        "SELECT id, username FROM users WHERE org_id = $1 AND status = 'active' "
        "AND role = ANY($2::text[]) AND lower(username) = ANY($3::text[])",
        msp_id,
        list(permissions.ACCOUNT_MANAGER_ROLES),
        list(usernames),
    )
    return {r["username"].lower(): (r["id"], r["username"]) for r in rows}


async def create_batch(
    conn: asyncpg.Connection, env: Env, who: Who, items: list[OrgInput], via: str
) -> list[uuid.UUID]:
    """Create validated orgs (data key, audit chain, first event each) in one pipelined call."""
    args = []
    ids = []
    now = datetime.datetime.now(datetime.UTC)
    for item in items:
        org_id = uuid.uuid4()
        kek_id, wrapped = env.ring.prepare_org_key(org_id)
        details = json.dumps({"account_manager": item.account_manager, "via": via})
        args.append(
            (
                org_id,
                item.name,
                item.display_name,
                False,
                item.account_manager_id,
                item.description,
                item.department,
                item.location,
                item.vault_control,
                kek_id,
                wrapped,
                now,
                who.actor,
                who.actor_org,
                who.ip,
                details,
                env.node,
            )
        )
        ids.append(org_id)
    await conn.executemany(
        "SELECT create_org_with_chain($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
        "$13, $14, $15, $16::jsonb, $17)",
        args,
    )
    db.context_cleared(conn)
    return ids


def validate_input(item: OrgInput) -> list[dict[str, str]]:
    errors = []
    problem = display_name_problem(item.display_name)
    if problem:
        errors.append({"field": "display_name", "message": problem})
    if not item.name.strip():
        errors.append({"field": "name", "message": "is required"})
    if not item.account_manager.strip():
        errors.append({"field": "account_manager", "message": "is required"})
    if item.vault_control not in VAULT_CONTROL:
        errors.append({"field": "vault_control", "message": "must be msp, client or both"})
    limits = {"name": 200, "description": 2000, "department": 200, "location": 200}
    for name, limit in limits.items():
        value = getattr(item, name)
        if len(value) > limit:
            errors.append({"field": name, "message": f"must be at most {limit} characters"})
        if "\x00" in value:
            errors.append({"field": name, "message": "must not contain NUL characters"})
    return errors


async def create_org(env: Env, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Create one client org with its account manager (``data``: POST /orgs's fields;
    ``require_reveal_reason`` is set in the same transaction). Returns the org as
    ``GET /orgs/{org}`` shows it to the caller. Raises Forbidden (not an MSPOrg
    administrator), ValidationFailed (a field), Conflict (the display name is taken)."""
    require_msp_admin(actor)
    data = dict(data)
    # Set in the same transaction: a second call would need a reach to the new org that its
    # maker may not have (an org made for another account manager; newcomer pass 11).
    reveal_reason = bool(data.pop("require_reveal_reason", False))
    item = OrgInput(**data)
    errors = validate_input(item)
    if errors:
        raise ValidationFailed(errors)
    async with db.transaction(env.pool) as conn:
        await refuse_unavailable_display_name(conn, item.display_name)
        managers = await eligible_account_managers(
            conn, actor.org_id, {item.account_manager.lower()}
        )
        if item.account_manager.lower() not in managers:
            raise ValidationFailed(
                [
                    {
                        "field": "account_manager",
                        "message": "must be an active MSPOrg user with role privileged_"
                        "administrator, administrator or password_administrator",
                    }
                ]
            )
        item.account_manager_id, item.account_manager = managers[item.account_manager.lower()]
        try:
            (org_id,) = await create_batch(conn, env, actor.who, [item], "api")
            await replication_settings.apply_to_new_orgs(conn, env, actor.who, [org_id])
        except asyncpg.UniqueViolationError as exc:
            raise display_name_conflict(exc, item.display_name) from None
        if reveal_reason:
            await db.set_org(conn, org_id)
            await conn.execute("UPDATE orgs SET require_reveal_reason = true WHERE id = $1", org_id)
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "org_created",
            target_type="org",
            target=item.display_name,
            details={
                "account_manager": item.account_manager,
                "require_reveal_reason": reveal_reason,
            },
        )
        await db.set_org(conn, actor.org_id)  # the account manager is an MSPOrg user
        row = await conn.fetchrow_one(_ORG_SELECT + " WHERE o.id = $1", org_id)
    return _org_json(row, managed=row["account_manager_id"] == actor.user_id)


# -- bootstrap ------------------------------------------------------------------------


async def bootstrap_msp(
    pool: asyncpg.Pool,
    ring: KeyRing,
    hasher: PasswordHasher,
    admin_username: str,
    admin_password: str,
    node: str = "",
    totp_policy: str = "none",
) -> bool:
    """Create MSPOrg and its first privileged administrator, the first of its founders
    (``users.founder``, server/services/dual_control.py); False if it already exists.
    ``totp_policy``: MSPOrg's two-factor policy (``server/ops/install.py`` gives a new
    install ``administrators``, issue 27; ``none`` keeps the first login password-only)."""
    password_hash = await hasher.hash(admin_password)
    async with db.transaction(pool) as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs WHERE is_msp)"):
            return False
        # The audit key is made now, so that a wrong master key is noticed at start-up.
        await ring.system_key(conn, AUDIT_KEY)
        org_id = uuid.uuid4()
        kek_id, wrapped = ring.prepare_org_key(org_id)
        await conn.execute(
            "SELECT create_org_with_chain($1, $2, $3, true, NULL, '', '', '', 'both', $4, $5, "
            "now(), $6, $7, '', '{}'::jsonb, $8)",
            org_id,
            "MSP Organization",
            MSP_ORG,
            kek_id,
            wrapped,
            SYSTEM.actor,
            SYSTEM.actor_org,
            node,
        )
        db.context_cleared(conn)
        await db.set_org(conn, org_id)
        await conn.execute(
            "INSERT INTO users (org_id, username, full_name, role, access_scope, password_hash, "
            "must_change_password, founder) "
            "VALUES ($1, $2, 'Administrator', $3, 'all', $4, true, true)",
            org_id,
            admin_username,
            permissions.PRIVILEGED_ADMINISTRATOR,
            password_hash,
        )
        await conn.execute(
            "UPDATE orgs SET founders_created = 1, totp_policy = $2 WHERE id = $1",
            org_id,
            totp_policy,
        )
        await audit.Writer(conn, org_id, SYSTEM, node).record(
            "user_created",
            target_type="user",
            target=admin_username,
            details={"role": permissions.PRIVILEGED_ADMINISTRATOR},
        )
    return True


# -- listing, reading, editing --------------------------------------------------------


async def list_orgs(env: Env, actor: Actor) -> list[dict[str, Any]]:
    """Orgs the actor may see: every live org's name for MSPOrg users (details only of
    MSPOrg and the orgs it manages or holds a grant for), and only its own org for a client
    user."""
    async with db.transaction(env.pool, readonly=True) as conn:
        if not actor.org_is_msp:
            rows = await conn.fetch(_ORG_SELECT + " WHERE o.id = $1", actor.org_id)
            return [_org_json(r, managed=False) for r in rows]
        managed = await managed_org_ids(conn, actor)
        await db.set_org(conn, actor.org_id)  # account manager names are MSPOrg users
        # Every MSPOrg user sees every live org's name (issue 27, item 4: MSP staff see the
        # names of the orgs, data only where granted or shared); a deleted org is listed
        # only under GET /orgs/deleted.
        rows = await conn.fetch(
            _ORG_SELECT + " WHERE o.deleted_at IS NULL ORDER BY NOT o.is_msp, lower(o.display_name)"
        )
    return [
        _org_json(r, managed=r["id"] in managed)
        if r["is_msp"] or r["id"] in managed
        else _name_only(r)
        for r in rows
    ]


def _name_only(row: asyncpg.Record) -> dict[str, Any]:
    """What an MSP user sees of an org it neither manages nor holds a grant for."""
    return {
        "display_name": row["display_name"],
        "name": row["name"],
        "is_msp": False,
        "managed": False,
    }


async def _visible_org(conn: asyncpg.Connection, actor: Actor, name: OrgArg) -> asyncpg.Record:
    """An org the actor acts in (home, account manager, grant), else 404 as if missing."""
    org = await acting_org(conn, actor, name)
    await db.set_org(conn, actor.org_id if actor.org_is_msp else org.id)
    return await conn.fetchrow(_ORG_SELECT + " WHERE o.id = $1", org.id)


async def get_org(env: Env, actor: Actor, name: OrgArg) -> dict[str, Any]:
    """One org the actor acts in (404 for any other, exactly as for a missing one)."""
    async with db.transaction(env.pool, readonly=True) as conn:
        row = await _visible_org(conn, actor, name)
        managed = row["id"] in await managed_org_ids(conn, actor)
    return _org_json(row, managed=managed)


async def update_org(env: Env, actor: Actor, name: OrgArg, data: dict[str, Any]) -> dict[str, Any]:
    """Edit an org's details or vault control (its account manager or granted MSP
    administrators; MSPOrg's own administrators for MSPOrg).

    Raises:
        NotFound for an org the actor does not act in; Conflict ``dual_control_required``
        for a new account manager (a request of kind account_manager) or a new display
        name (a request of kind org_rename: issue 26, a client renamed by one person), and
        ``vault_control_locked`` for turning an org with users of its own over to the MSP.
    """
    require_msp_admin(actor)
    async with db.transaction(env.pool) as conn:
        row = await _visible_org(conn, actor, name)
        if row["is_msp"] and ({"name", "display_name", "account_manager"} & data.keys()):
            raise coded(Forbidden, "msp_org_protected", "MSPOrg cannot be renamed")
        if "account_manager" in data and (
            data["account_manager"].lower() != (row["account_manager"] or "").lower()
        ):
            raise coded(
                Conflict,
                "dual_control_required",
                "a new account manager needs an approved request: POST /org-access-requests "
                '{"kind": "account_manager", "org", "user", "approver"}',
            )
        if data.get("display_name", row["display_name"]) != row["display_name"]:
            raise coded(
                Conflict,
                "dual_control_required",
                "a new display name needs an approved request: POST /org-access-requests "
                '{"kind": "org_rename", "org", "display_name", "approver"}',
            )
        if data.get("vault_control") == "msp" and row["vault_control"] != "msp":
            await db.set_org(conn, row["id"])
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1)", row["id"]
            ):
                raise coded(
                    Conflict,
                    "vault_control_locked",
                    "an org with users of its own cannot be turned over to the MSP's vault "
                    "control: its users would then reach what the client shared",
                )
        changes: dict[str, Any] = {}
        errors = []
        for key in (
            "name",
            "description",
            "department",
            "location",
            "vault_control",
            "require_reveal_reason",
        ):
            if key in data:
                changes[key] = data[key]
        if "name" in data and not data["name"]:
            errors.append({"field": "name", "message": "must not be empty"})
        if errors:
            raise ValidationFailed(errors)
        details: dict[str, Any] = dict(changes)
        await db.set_org(conn, row["id"])
        if changes:
            sets = ", ".join(f"{col} = ${i}" for i, col in enumerate(changes, start=2))
            await conn.execute(
                f"UPDATE orgs SET {sets} WHERE id = $1", row["id"], *changes.values()
            )
        for org_id in {actor.org_id, row["id"]}:
            await recording.writer(conn, env, org_id, actor.who).record(
                "org_updated", target_type="org", target=row["display_name"], details=details
            )
        await db.set_org(conn, actor.org_id)
        row = await conn.fetchrow_one(_ORG_SELECT + " WHERE o.id = $1", row["id"])
        managed = row["id"] in await managed_org_ids(conn, actor)
    return _org_json(row, managed=managed)


async def delete_org(env: Env, actor: Actor, name: OrgArg, confirm: str | None) -> dict[str, Any]:
    """Delete a client org, recoverably (issue 27, item 5): it moves to the *deleted* state
    for ``security.org_recovery_days`` — its users' logins, sessions and API keys are
    refused, every list hides it (``org_reach`` answers no row for it), its data and data
    key are kept. Any MSPOrg administrator may restore it (``restore_org``); it is purged
    when the window ends (``purge_due``) or earlier by an approved ``org_purge`` request.

    Returns:
        ``{"deleted": counts, "purge_at"}``: what goes with it, counted whole
        (``_contents``), and when it will be purged unless restored.
    Raises:
        NotFound, Forbidden (``_deletable``), BadRequest ``confirmation_mismatch``.
    """
    async with db.transaction(env.pool) as conn:
        org = await _deletable(conn, actor, name)
        if (confirm or "").lower() != org.display_name.lower():
            raise coded(
                BadRequest,
                "confirmation_mismatch",
                f"repeat the display name to confirm: ?confirm={org.display_name}",
            )
        counts = await _contents(conn, org)
        await db.set_org(conn, org.id)
        purge_at = await conn.fetchval(
            "UPDATE orgs SET deleted_at = now(), deleted_by = $2, "
            "purge_at = now() + make_interval(days => $3) WHERE id = $1 AND deleted_at IS NULL "
            "RETURNING purge_at",
            org.id,
            actor.username,
            env.config.security.org_recovery_days,
        )
        await conn.execute("DELETE FROM sessions WHERE org_id = $1", org.id)
        details = {**counts, "purge_at": purge_at.isoformat()}
        await recording.writer(conn, env, org.id, actor.who).record(
            "org_deleted", target_type="org", target=org.display_name, details=details
        )
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "org_deleted",
            target_type="org",
            target=org.display_name,
            details={**details, "name": org.name},
        )
    return {"deleted": counts, "purge_at": purge_at.isoformat()}


async def _deletable(conn: db.Tx, actor: Actor, name: OrgArg) -> OrgRef:
    """The client org ``actor`` may delete: an MSPOrg administrator who is its account
    manager or holds a grant for it (the guide's right of the account manager).

    Raises:
        NotFound (an org it does not reach), Forbidden ``msp_org_protected`` or not allowed.
    """
    org = await acting_org(conn, actor, name)
    if org.is_msp:
        raise coded(Forbidden, "msp_org_protected", "MSPOrg cannot be deleted")
    if (
        not actor.org_is_msp
        or org.via not in ("account_manager", "grant")
        or not permissions.is_administrator(actor)
    ):
        raise Forbidden(
            "only an MSPOrg administrator who is the org's account manager or "
            "holds an access grant may delete it"
        )
    return org


async def _contents(conn: db.Tx, org: OrgRef) -> dict[str, int]:
    """Everything an org holds, counted whole (whatever the asker can see): users, groups,
    resources, accounts, resource groups, password policies, custom roles, field
    definitions (issue 27: the delete preview counts all that goes)."""
    await db.set_org(conn, org.id)
    row = await conn.fetchrow_one(
        "SELECT (SELECT count(*) FROM users WHERE org_id = $1) AS users, "
        "(SELECT count(*) FROM user_groups WHERE org_id = $1) AS groups, "
        "(SELECT count(*) FROM resource_groups WHERE org_id = $1) AS resource_groups, "
        "(SELECT count(*) FROM password_policies WHERE org_id = $1) AS policies, "
        "(SELECT count(*) FROM roles WHERE org_id = $1) AS roles, "
        "(SELECT count(*) FROM field_definitions WHERE org_id = $1) AS fields",
        org.id,
    )
    counts = {"resources": 0, "accounts": 0, **dict(row)}
    counts.update(await vault_counts(conn, org.id))
    return counts


async def vault_counts(conn: asyncpg.Connection, org_id: uuid.UUID) -> dict[str, int]:
    """How many resources and accounts an org holds (in the org's RLS context)."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM resources WHERE org_id = $1) AS resources, "
        "(SELECT count(*) FROM accounts WHERE org_id = $1) AS accounts",
        org_id,
    )
    return dict(row)


# -- display names: renamed only by request, and held back once given up (issue 26) -----


async def refuse_unavailable_display_name(
    conn: asyncpg.Connection, display_name: str, org_id: uuid.UUID | None = None
) -> None:
    """Refuse ``display_name`` for org ``org_id`` (None: a new org) when another org has it
    or gave it up less than 30 days ago (``display_name_reserved``, sql/functions: the
    rule, which the trigger on ``orgs`` applies to every insert and rename; asking it here
    gives the clear answer before anything is written).

    Raises:
        Conflict ``display_name_taken`` or ``display_name_reserved`` (also while a deleted
        org holds it in its recovery window).
    """
    holder = await find_org(conn, display_name)
    if (
        holder is not None
        and holder["id"] != org_id
        and await conn.fetchval(
            "SELECT deleted_at IS NOT NULL FROM orgs WHERE id = $1", holder["id"]
        )
    ):
        # A deleted org in its recovery window keeps its name for its restore (issue 27).
        raise coded(
            Conflict,
            "display_name_reserved",
            f"the display name {display_name!r} belongs to a deleted organization that can "
            "still be restored; it cannot be taken yet",
        )
    if holder is not None and holder["id"] != org_id:
        raise coded(
            Conflict,
            "display_name_taken",
            f"an organization named {display_name!r} already exists "
            "(names are compared without regard to case)",
        )
    if await conn.fetchval("SELECT display_name_reserved($1, $2)", display_name, org_id):
        raise reserved_display_name(display_name)


def reserved_display_name(display_name: str) -> Conflict:
    """The refusal of a display name another org gave up less than 30 days ago."""
    return coded(
        Conflict,
        "display_name_reserved",
        f"the display name {display_name!r} was given up by another organization less than "
        "30 days ago; it cannot be taken yet",
    )


def display_name_conflict(exc: asyncpg.UniqueViolationError, display_name: str) -> Conflict:
    """The answer to a unique violation met writing org ``display_name``: reserved (the
    trigger's ``org_display_name_reserved``) or taken."""
    if exc.constraint_name == "org_display_name_reserved":
        return reserved_display_name(display_name)
    return coded(
        Conflict,
        "display_name_taken",
        f"an organization named {display_name!r} already exists",
    )


async def rename_org(
    conn: db.Tx, env: Env, actor: Actor, org_id: uuid.UUID, display_name: str, request_id: str
) -> None:
    """Give client org ``org_id`` the display name an approved ``org_rename`` request named
    (server/services/org_access.py applies it); its old name is held back for 30 days by
    the trigger on ``orgs``. Recorded as ``org_updated`` in the org's chain and MSPOrg's.
    Leaves the RLS context in the actor's org.

    Raises:
        Conflict ``display_name_taken`` / ``display_name_reserved`` (nothing is changed).
    """
    await refuse_unavailable_display_name(conn, display_name, org_id)
    await db.set_org(conn, org_id)
    old = await conn.fetchval(
        "SELECT display_name FROM orgs WHERE id = $1 AND NOT is_msp FOR UPDATE", org_id
    )
    if old is None:
        raise coded(Conflict, "org_gone", "the organization no longer exists")
    try:
        await conn.execute("UPDATE orgs SET display_name = $2 WHERE id = $1", org_id, display_name)
    except asyncpg.UniqueViolationError as exc:
        raise display_name_conflict(exc, display_name) from None
    details = {"display_name": display_name, "previous_display_name": old, "request_id": request_id}
    for org in (org_id, actor.org_id):
        await recording.writer(conn, env, org, actor.who).record(
            "org_updated", target_type="org", target=old, details=details
        )
    await db.set_org(conn, actor.org_id)


# -- deleted orgs: a recovery window, then the purge (issue 27, item 5) -------------------


async def delete_preview(env: Env, actor: Actor, name: OrgArg) -> dict[str, Any]:
    """What deleting ``name`` would take with it, counted whole (``_contents``), for whoever
    may delete it, with the recovery window in days.

    Raises:
        as ``delete_org`` before its confirmation.
    """
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await _deletable(conn, actor, name)
        counts = await _contents(conn, org)
    return {
        "org": org.display_name,
        "counts": counts,
        "recovery_days": env.config.security.org_recovery_days,
    }


def _deleted_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "display_name": row["display_name"],
        "name": row["name"],
        "deleted_at": row["deleted_at"].isoformat(),
        "deleted_by": row["deleted_by"],
        "purge_at": row["purge_at"].isoformat(),
    }


_DELETED_SELECT = "SELECT id, display_name, name, deleted_at, deleted_by, purge_at FROM orgs "


async def list_deleted(env: Env, actor: Actor) -> list[dict[str, Any]]:
    """Client orgs in their recovery window, newest deletion first (MSPOrg administrators).

    Returns:
        ``[{"id", "display_name", "name", "deleted_at", "deleted_by", "purge_at"}]``.
    Raises:
        Forbidden: not an MSPOrg administrator.
    """
    require_msp_admin(actor, "see deleted organizations")
    async with db.transaction(env.pool, readonly=True) as conn:
        rows = await conn.fetch(
            _DELETED_SELECT + "WHERE deleted_at IS NOT NULL ORDER BY deleted_at DESC, id"
        )
    return [_deleted_json(r) for r in rows]


async def deleted_org(conn: db.Tx | asyncpg.Connection, ref: str) -> asyncpg.Record:
    """A deleted org (in its recovery window) by id or display name, else NotFound."""
    try:
        org_id = uuid.UUID(ref)
    except ValueError:
        row = await conn.fetchrow(
            _DELETED_SELECT + "WHERE lower(display_name) = lower($1) AND deleted_at IS NOT NULL",
            ref,
        )
    else:
        row = await conn.fetchrow(
            _DELETED_SELECT + "WHERE id = $1 AND deleted_at IS NOT NULL", org_id
        )
    if row is None:
        raise NotFound(f"no deleted organization {ref!r}")
    return row


async def restore_org(env: Env, actor: Actor, ref: str) -> dict[str, Any]:
    """Bring a deleted client org back as it was (any MSPOrg administrator: undoing a
    delete gives nobody anything it did not have). Audited ``org_restored`` in the org's
    chain and MSPOrg's.

    Raises:
        Forbidden (not an MSPOrg administrator), NotFound (no such deleted org).
    """
    require_msp_admin(actor, "restore deleted organizations")
    async with db.transaction(env.pool) as conn:
        row = await deleted_org(conn, ref)
        await db.set_org(conn, row["id"])
        done = await conn.fetchval(
            "UPDATE orgs SET deleted_at = NULL, deleted_by = NULL, purge_at = NULL "
            "WHERE id = $1 AND deleted_at IS NOT NULL RETURNING id",
            row["id"],
        )
        if done is None:
            raise NotFound(f"no deleted organization {ref!r}")
        details = {"deleted_at": row["deleted_at"].isoformat(), "deleted_by": row["deleted_by"]}
        for org_id in (row["id"], actor.org_id):
            await recording.writer(conn, env, org_id, actor.who).record(
                "org_restored", target_type="org", target=row["display_name"], details=details
            )
        await db.set_org(conn, actor.org_id)
        restored = await conn.fetchrow_one(_ORG_SELECT + " WHERE o.id = $1", row["id"])
        managed = row["id"] in await managed_org_ids(conn, actor)
    return _org_json(restored, managed=managed)


async def purge_org(env: Env, org_id: uuid.UUID, who: Who, why: str) -> bool:
    """Purge deleted client org ``org_id`` for good: what deleting an org did before issue
    27 — its users, groups, vault and data key go; its audit trail is kept readable by
    MSPOrg's auditors until its retention ends (``audit_trail.keep_trail_of_deleted``); its
    display name is held back 30 days (sql/026). Audited ``org_purged`` (``why``: the
    window ended, or the approved request) in both chains.

    Returns:
        False when the org is no longer deleted (restored meanwhile) or gone already.
    """
    async with db.transaction(env.pool) as conn:
        msp_id = await msp_org_id(conn)
        await db.set_org(conn, org_id)
        row = await conn.fetchrow(
            "SELECT id, display_name, name, deleted_at, deleted_by FROM orgs "
            "WHERE id = $1 AND deleted_at IS NOT NULL AND NOT is_msp FOR UPDATE",
            org_id,
        )
        if row is None:
            return False
        details = {"deleted_by": row["deleted_by"], "why": why, "name": row["name"]}
        for chain in (org_id, msp_id):
            await recording.writer(conn, env, chain, who).record(
                "org_purged", target_type="org", target=row["display_name"], details=details
            )
        await audit_trail.keep_trail_of_deleted(
            conn, msp_id, org_id, row["display_name"], row["name"], row["deleted_by"]
        )
        await db.set_org(conn, org_id)
        # Users (and their sessions and API keys), groups, keys and the vault go with the
        # org row by ON DELETE CASCADE; requests and grants naming it go too.
        await conn.execute("DELETE FROM orgs WHERE id = $1", org_id)
    env.ring.forget_org(org_id)
    return True


async def purge_due(env: Env) -> int:
    """Purge every deleted org whose recovery window has ended (the sweeper's hourly
    round, server/services/checkout_sweeper.py); how many were purged."""
    async with db.transaction(env.pool, readonly=True) as conn:
        due = await conn.fetch(
            "SELECT id FROM orgs WHERE deleted_at IS NOT NULL AND purge_at <= now()"
        )
    done = 0
    for row in due:
        done += await purge_org(env, row["id"], SYSTEM, "recovery window ended")
    return done
