"""Replicating settings across client orgs (the guide's section of that name).

MSPOrg administrators choose categories; MSPOrg's current version of each is then
copied into every client org — when the choice is saved, and into each org created
later, at its creation. Later edits in MSPOrg reach the client orgs on the next save
(``PUT /msp/replicate-settings``), not continuously: an MSP changes its template, then
applies it once, and sees per-org results.

Structure only: groups travel without members, resource groups empty, shares only
between replicated resource groups and replicated user groups; no MSP user, secret or
resource crosses. Each replica remembers its original (``replicated_from``), so applying
twice changes nothing. On a name clash with a client's own object the replica is added
as "<name>-MSP" ("<name>_MSP" for field names, which allow no dash) and the client's
object is left as it is — except roles, where the MSP's ``role_conflict`` choice
(the guide's rule) may instead ``overwrite`` the client's role with the MSP's permissions,
each such role named in the client's audit. Replication never raises a client role's
permissions, never creates a role named like a built-in, and overwrites a client's own
role only while the org has no confirmed administrator (who would have to consent):
``dual_control.replicated_role_problem`` (issue 26, item 6). A role it may not change
keeps its permissions, the MSP's version is added as "<name>-MSP", and the org's result
says why (``kept``). Audit settings only ever get stricter (recording on, alerts added,
retention longer: a client's retention is never shortened, except in an org created
just now, which has no history yet). One transaction per org; each org's outcome is
audited in its chain and the whole run in MSPOrg's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from server.core.errors import field_error
from server.services import dual_control, recording, sharing
from server.services.access import msp_org_id, require_msp_admin
from server.services.context import Actor, Env
from server.store import audit, db

CATEGORIES = (
    "user_groups",
    "user_group_settings",
    "resource_groups",
    "resource_group_shares",
    "additional_fields",
    "user_roles",
    "resource_types",
    "password_policies",
    "audit_operation_settings",
    "audit_purge_settings",
)
CONCURRENCY = 4  # orgs applied at once (one connection and transaction each)

_POLICY_COLUMNS = (
    "min_length, max_length, require_upper, require_lower, require_digit, require_special, "
    "max_age_days"
)


@dataclass
class Template:
    """MSPOrg's version of every category, read once per run."""

    groups: list[asyncpg.Record] = field(default_factory=list)
    resource_groups: list[asyncpg.Record] = field(default_factory=list)
    shares: list[asyncpg.Record] = field(default_factory=list)
    policies: list[asyncpg.Record] = field(default_factory=list)
    roles: list[asyncpg.Record] = field(default_factory=list)
    types: list[asyncpg.Record] = field(default_factory=list)
    fields: list[asyncpg.Record] = field(default_factory=list)
    audit_settings: list[asyncpg.Record] = field(default_factory=list)
    retention: asyncpg.Record | None = None
    msp_id: uuid.UUID | None = None


@dataclass
class Outcome:
    """What applying did to one org."""

    created: int = 0
    updated: int = 0
    overwritten: list[str] = field(default_factory=list)  # client roles taken over
    kept: list[dict[str, str]] = field(default_factory=list)  # {category, name, why}


async def get_settings(env: Env, actor: Actor) -> dict[str, Any]:
    """The MSP's replication choice: ``{"categories", "role_conflict", "applied_at",
    "available"}``."""
    require_msp_admin(actor, "replicate settings")
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        row = await tx.fetchrow(
            "SELECT * FROM replication_settings WHERE org_id = $1", actor.org_id
        )
    return {
        "categories": list(row["categories"]) if row else [],
        "role_conflict": row["role_conflict"] if row else "rename",
        "applied_at": row["applied_at"].isoformat() if row and row["applied_at"] else None,
        "available": list(CATEGORIES),
    }


async def save_and_apply(
    env: Env, actor: Actor, data: dict[str, Any], progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Save the choice and apply it to every client org.

    Args:
        data: ``{"categories": [...], "role_conflict"?: "overwrite"|"rename"}``.
        progress: called with (orgs done, orgs in all) as orgs finish (the CLI's bar).
    Returns:
        the settings plus ``{"applied": n, "failed": n, "results": [{"org", "status",
        "created", "updated", "kept": [{"category", "name", "why"}], "detail"?}]}``
        (``kept``: what the org kept of its own, and why: a role the MSP's version would
        raise or that its confirmed administrator owns, a longer retention).
    Raises:
        ValidationFailed for an unknown category.
    """
    require_msp_admin(actor, "replicate settings")
    unknown = sorted(set(data["categories"]) - set(CATEGORIES))
    if unknown:
        raise field_error("categories", "unknown: " + ", ".join(unknown))
    categories = [c for c in CATEGORIES if c in data["categories"]]
    conflict = data.get("role_conflict", "rename")
    async with db.transaction(env.pool, actor.org_id) as tx:
        await tx.execute(
            "INSERT INTO replication_settings (org_id, categories, role_conflict) "
            "VALUES ($1, $2, $3) ON CONFLICT (org_id) DO UPDATE SET categories = $2, "
            "role_conflict = $3, updated_at = now()",
            actor.org_id,
            categories,
            conflict,
        )
        template = await read_template(tx, actor.org_id)
        orgs = (
            await tx.fetch(  # not a deleted org in its recovery window (issue 27)
                "SELECT id, display_name FROM orgs WHERE NOT is_msp AND deleted_at IS NULL "
                "ORDER BY 2"
            )
            if categories
            else []  # nothing chosen: nothing to apply
        )
    results = await _apply_all(env, actor, orgs, categories, conflict, template, progress)
    applied = sum(1 for r in results if r["status"] == "applied")
    async with db.transaction(env.pool, actor.org_id) as tx:
        await tx.execute(
            "UPDATE replication_settings SET applied_at = now() WHERE org_id = $1", actor.org_id
        )
        await recording.writer(tx, env, actor.org_id, actor.who).record(
            "settings_replicated",
            target_type="org",
            target="MSPOrg",
            details={
                "categories": categories,
                "role_conflict": conflict,
                "applied": applied,
                "failed": len(results) - applied,
            },
        )
    return {
        **(await get_settings(env, actor)),
        "applied": applied,
        "failed": len(results) - applied,
        "results": results,
    }


async def _apply_all(
    env: Env,
    actor: Actor,
    orgs: list[asyncpg.Record],
    categories: list[str],
    conflict: str,
    template: Template,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    """Apply ``template`` to each org (``CONCURRENCY`` at once, one transaction each);
    a result per org, by name, a failed org's error in its ``detail``."""
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0
    results: list[dict[str, Any]] = []

    async def one(org: asyncpg.Record) -> None:
        nonlocal done
        async with gate:
            try:
                async with db.transaction(env.pool, org["id"]) as tx:
                    outcome = await apply_to_org(
                        tx, env, actor.who, org["id"], categories, conflict, template
                    )
                results.append(
                    {
                        "org": org["display_name"],
                        "status": "applied",
                        "created": outcome.created,
                        "updated": outcome.updated,
                        "kept": outcome.kept,
                    }
                )
            except (asyncpg.PostgresError, ValueError) as exc:
                results.append(
                    {
                        "org": org["display_name"],
                        "status": "failed",
                        "created": 0,
                        "updated": 0,
                        "kept": [],
                        "detail": (
                            f"nothing was applied to this org: {exc.__class__.__name__}: {exc}"
                        )[:300],
                    }
                )
            done += 1
            if progress:
                progress(done, len(orgs))

    await asyncio.gather(*(one(o) for o in orgs))
    return sorted(results, key=lambda r: r["org"].lower())


async def apply_to_new_orgs(tx: db.Tx, env: Env, who: audit.Who, org_ids: list[uuid.UUID]) -> None:
    """Give orgs created just now the MSP's chosen settings, inside the creating
    transaction; nothing when none are chosen. The RLS context is left empty."""
    msp_id = await msp_org_id(tx)
    await db.set_org(tx, msp_id)
    row = await tx.fetchrow("SELECT * FROM replication_settings WHERE org_id = $1", msp_id)
    if row is None or not row["categories"]:
        return
    template = await read_template(tx, msp_id)
    for org_id in org_ids:
        await apply_to_org(
            tx, env, who, org_id, list(row["categories"]), row["role_conflict"], template, new=True
        )
    await db.set_org(tx, None)


async def read_template(tx: db.Tx, msp_id: uuid.UUID) -> Template:
    """MSPOrg's version of each category (in MSPOrg's RLS context)."""
    await db.set_org(tx, msp_id)
    t = Template(msp_id=msp_id)
    t.groups = await tx.fetch(
        "SELECT id, name, description, default_permission FROM user_groups "
        "WHERE org_id = $1 AND replicated_from IS NULL",
        msp_id,
    )
    t.resource_groups = await tx.fetch(
        "SELECT id, name FROM resource_groups WHERE org_id = $1", msp_id
    )
    t.shares = await tx.fetch(
        "SELECT id, resource_group_id, group_id, permission FROM shares WHERE org_id = $1 "
        "AND resource_group_id IS NOT NULL AND group_id IS NOT NULL",
        msp_id,
    )
    t.policies = await tx.fetch(
        f"SELECT id, name, {_POLICY_COLUMNS} FROM password_policies WHERE org_id = $1", msp_id
    )
    t.roles = await tx.fetch(
        "SELECT id, name, description, permissions FROM roles WHERE org_id = $1", msp_id
    )
    t.types = await tx.fetch("SELECT id, name FROM resource_types WHERE org_id = $1", msp_id)
    t.fields = await tx.fetch("SELECT * FROM field_definitions WHERE org_id = $1", msp_id)
    t.audit_settings = await tx.fetch(
        "SELECT operation, recorded, alert FROM audit_operation_settings WHERE org_id = $1",
        msp_id,
    )
    t.retention = await tx.fetchrow("SELECT days FROM audit_retention WHERE org_id = $1", msp_id)
    return t


async def apply_to_org(
    tx: db.Tx,
    env: Env,
    who: audit.Who,
    org_id: uuid.UUID,
    categories: list[str],
    conflict: str,
    template: Template,
    new: bool = False,
) -> Outcome:
    """Apply the chosen categories of ``template`` to one client org, inside ``tx``
    (which is in that org's RLS context); audited in the org's chain. ``new``: the org
    was created in this transaction (it has no history a shorter retention could cut)."""
    await db.set_org(tx, org_id)
    out = Outcome()
    chosen = set(categories)
    groups: dict[uuid.UUID, uuid.UUID] = {}
    if "user_groups" in chosen:
        for g in template.groups:
            settings = (
                {"description": g["description"], "default_permission": g["default_permission"]}
                if "user_group_settings" in chosen
                else {}
            )
            groups[g["id"]] = await _upsert(
                tx, out, "user_groups", org_id, g["id"], g["name"], "rename", "-MSP", settings
            )
    elif "user_group_settings" in chosen:
        for g in template.groups:
            await _update_replica(
                tx,
                out,
                "user_groups",
                g["id"],
                {"description": g["description"], "default_permission": g["default_permission"]},
            )
    resource_groups: dict[uuid.UUID, uuid.UUID] = {}
    if "resource_groups" in chosen:
        for rg in template.resource_groups:
            resource_groups[rg["id"]] = await _upsert(
                tx, out, "resource_groups", org_id, rg["id"], rg["name"], "rename", "-MSP", {}
            )
    if "resource_group_shares" in chosen:
        await _replicate_shares(tx, out, org_id, template)
    if "password_policies" in chosen:
        for p in template.policies:
            values = {c.strip(): p[c.strip()] for c in _POLICY_COLUMNS.split(",")}
            await _upsert(
                tx, out, "password_policies", org_id, p["id"], p["name"], "rename", "-MSP", values
            )
    if "user_roles" in chosen:
        for r in template.roles:
            await _replicate_role(tx, out, org_id, r, conflict)
    if "resource_types" in chosen:
        for t in template.types:
            # A client type of the same name already serves: a type carries no setting.
            if not await tx.fetchval(
                "SELECT EXISTS (SELECT 1 FROM resource_types WHERE org_id = $1 AND "
                "name_fold(name) = name_fold($2))",
                org_id,
                t["name"],
            ):
                await _upsert(
                    tx, out, "resource_types", org_id, t["id"], t["name"], "rename", "-MSP", {}
                )
    if "additional_fields" in chosen:
        for f in template.fields:
            await _replicate_field(tx, out, org_id, f)
    if "audit_operation_settings" in chosen:
        # Only ever stricter: replication switches recording on and adds alerts, and
        # never undoes what the client set.
        for a in template.audit_settings:
            note_recording_kept(out, a)
            if a["recorded"] and not a["alert"]:
                continue
            status = await tx.execute(
                "INSERT INTO audit_operation_settings (org_id, operation, recorded, alert, "
                "replicated_from) VALUES ($1, $2, true, $3, $4) ON CONFLICT (org_id, operation) "
                "DO UPDATE SET recorded = true, alert = audit_operation_settings.alert OR $3 "
                "WHERE NOT audit_operation_settings.recorded "
                "OR (NOT audit_operation_settings.alert AND $3)",
                org_id,
                a["operation"],
                a["alert"],
                template.msp_id,
            )
            out.updated += status != "INSERT 0 0"
    if "audit_purge_settings" in chosen and template.retention is not None:
        await _replicate_retention(tx, out, org_id, template, new)
    await recording.writer(tx, env, org_id, who).record(
        "settings_replicated",
        target_type="org",
        target=await tx.fetchval("SELECT display_name FROM orgs WHERE id = $1", org_id),
        details={
            "categories": categories,
            "created": out.created,
            "updated": out.updated,
            "overwritten_roles": out.overwritten,
            "kept": out.kept,
        },
    )
    return out


async def _upsert(
    tx: db.Tx,
    out: Outcome,
    table: str,
    org_id: uuid.UUID,
    source_id: uuid.UUID,
    name: str,
    conflict: str,
    suffix: str,
    values: dict[str, Any],
    fold: bool = True,
) -> uuid.UUID:
    """The replica of ``source_id`` in ``table``: created, taken over on a name clash
    (``overwrite``) or created as name+suffix (``rename``); its ``values`` brought up to
    date. Counts what changed in ``out``."""
    existing: uuid.UUID | None = await tx.fetchval(
        f"SELECT id FROM {table} WHERE org_id = $1 AND replicated_from = $2", org_id, source_id
    )
    match = "name_fold(name) = name_fold($2)" if fold else "name = $2"
    if existing is None:
        clash: uuid.UUID | None = await tx.fetchval(
            f"SELECT id FROM {table} WHERE org_id = $1 AND {match}", org_id, name
        )
        if clash is not None and conflict == "overwrite":
            await tx.execute(
                f"UPDATE {table} SET replicated_from = $2 WHERE id = $1", clash, source_id
            )
            existing = clash
            out.updated += 1
            out.overwritten.append(name)
        else:
            if clash is not None:

                async def taken(candidate: str) -> bool:
                    return bool(
                        await tx.fetchval(
                            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE org_id = $1 AND {match})",
                            org_id,
                            candidate,
                        )
                    )

                name = await _free_name(taken, name, suffix)
            columns = ["org_id", "name", "replicated_from", *values]
            args = [org_id, name, source_id]
            args += list(values.values())
            marks = ", ".join(f"${i}" for i in range(1, len(args) + 1))
            created: uuid.UUID = await tx.fetchval(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) RETURNING id", *args
            )
            out.created += 1
            return created
    if values:
        await _update_values(tx, out, table, existing, values)
    return existing


async def _update_values(
    tx: db.Tx, out: Outcome, table: str, row_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Bring row ``row_id``'s ``values`` up to date; counted in ``out`` if any changed."""
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(values, start=2))
    differs = " OR ".join(f"{c} IS DISTINCT FROM ${i}" for i, c in enumerate(values, start=2))
    status = await tx.execute(
        f"UPDATE {table} SET {sets} WHERE id = $1 AND ({differs})", row_id, *values.values()
    )
    if status != "UPDATE 0":
        out.updated += 1


async def _update_replica(
    tx: db.Tx, out: Outcome, table: str, source_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Bring the replica of ``source_id`` (if there is one) up to date with ``values``."""
    row_id = await tx.fetchval(f"SELECT id FROM {table} WHERE replicated_from = $1", source_id)
    if row_id is not None:
        await _update_values(tx, out, table, row_id, values)


async def _replicate_shares(tx: db.Tx, out: Outcome, org_id: uuid.UUID, t: Template) -> None:
    """Shares from MSPOrg resource groups to MSPOrg user groups, between their replicas;
    what ``sharing.replicated_share_problem`` refuses is left as it is and named in
    ``out.kept`` with the reason."""
    for share in t.shares:
        rg = await tx.fetchrow(
            "SELECT id, name FROM resource_groups WHERE org_id = $1 AND replicated_from = $2",
            org_id,
            share["resource_group_id"],
        )
        group = await tx.fetchrow(
            "SELECT id, name FROM user_groups WHERE org_id = $1 AND replicated_from = $2",
            org_id,
            share["group_id"],
        )
        if rg is None or group is None:
            continue
        problem = await sharing.replicated_share_problem(
            tx, rg["id"], group["id"], share["permission"]
        )
        if problem:
            name = f"{rg['name']} → {group['name']}"
            out.kept.append({"category": "resource_group_shares", "name": name, "why": problem})
            continue
        status = await tx.fetchval(
            "INSERT INTO shares (org_id, resource_group_id, group_id, permission, "
            "replicated_from) VALUES ($1, $2, $3, $4, $5) ON CONFLICT "
            "(coalesce(account_id, resource_id, resource_group_id), coalesce(user_id, group_id))"
            " DO UPDATE SET permission = EXCLUDED.permission, "
            "replicated_from = EXCLUDED.replicated_from "
            "WHERE shares.permission IS DISTINCT FROM EXCLUDED.permission "
            "OR shares.replicated_from IS DISTINCT FROM EXCLUDED.replicated_from "
            "RETURNING (xmax = 0)",
            org_id,
            rg["id"],
            group["id"],
            share["permission"],
            share["id"],
        )
        if status is True:
            out.created += 1
        elif status is False:
            out.updated += 1


async def _replicate_field(tx: db.Tx, out: Outcome, org_id: uuid.UUID, f: asyncpg.Record) -> None:
    """One field definition. A client's own definition of the same name is left alone
    (the replica is added as <name>_MSP), and a replica's kind never changes once made
    (so a secret field can never become a plain one)."""
    values = {
        "required": f["required"],
        "default_value": f["default_value"],
        "choices": list(f["choices"]),
    }
    existing = await tx.fetchval(
        "SELECT id FROM field_definitions WHERE org_id = $1 AND replicated_from = $2",
        org_id,
        f["id"],
    )
    if existing is not None:
        await _update_values(tx, out, "field_definitions", existing, values)
        return
    clash = await tx.fetchval(
        "SELECT id FROM field_definitions WHERE org_id = $1 AND applies_to = $2 AND "
        "resource_type = $3 AND lower(name) = lower($4)",
        org_id,
        f["applies_to"],
        f["resource_type"],
        f["name"],
    )
    name = f["name"]
    if clash is not None:

        async def taken(candidate: str) -> bool:
            return bool(
                await tx.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM field_definitions WHERE org_id = $1 AND "
                    "applies_to = $2 AND resource_type IS NOT DISTINCT FROM $3 AND "
                    "lower(name) = lower($4))",
                    org_id,
                    f["applies_to"],
                    f["resource_type"],
                    candidate,
                )
            )

        name = await _free_name(taken, name, "_MSP")
    await tx.execute(
        "INSERT INTO field_definitions (org_id, applies_to, resource_type, name, kind, required, "
        "default_value, choices, replicated_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        org_id,
        f["applies_to"],
        f["resource_type"],
        name,
        f["kind"],
        f["required"],
        f["default_value"],
        list(f["choices"]),
        f["id"],
    )
    out.created += 1


async def _replicate_role(
    tx: db.Tx, out: Outcome, org_id: uuid.UUID, role: asyncpg.Record, conflict: str
) -> None:
    """One MSPOrg role in a client org: its replica created or brought up to date, or on a
    clash with a role of the client's own taken over (``overwrite``) or added as
    "<name>-MSP". What ``dual_control.replicated_role_problem`` refuses is left as it is
    and named in ``out.kept`` with the reason (issue 26, item 6)."""
    name = role["name"]
    proposed = frozenset(role["permissions"])
    values = {"description": role["description"], "permissions": list(role["permissions"])}

    def keep(why: str) -> None:
        out.kept.append({"category": "user_roles", "name": name, "why": why})

    replica = await tx.fetchrow(
        "SELECT id, permissions FROM roles WHERE org_id = $1 AND replicated_from = $2",
        org_id,
        role["id"],
    )
    if replica is not None:
        problem = await dual_control.replicated_role_problem(
            tx, org_id, name, frozenset(replica["permissions"]), proposed, client_owned=False
        )
        if problem:
            keep(f"kept its permissions: {problem}")
        else:
            await _update_values(tx, out, "roles", replica["id"], values)
        return
    problem = await dual_control.replicated_role_problem(
        tx, org_id, name, None, proposed, client_owned=False
    )
    if problem:
        keep(f"not replicated: {problem}")
        return
    clash = await tx.fetchrow(
        "SELECT id, permissions FROM roles WHERE org_id = $1 AND name = $2", org_id, name
    )
    replica_name = name
    if clash is not None:

        async def taken(candidate: str) -> bool:
            return bool(
                await tx.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM roles WHERE org_id = $1 AND "
                    "lower(name) = lower($2))",
                    org_id,
                    candidate,
                )
            )

        replica_name = await _free_name(taken, name, "-MSP")
    if clash is not None and conflict == "overwrite":
        problem = await dual_control.replicated_role_problem(
            tx, org_id, name, frozenset(clash["permissions"]), proposed, client_owned=True
        )
        if problem is None:
            await tx.execute(
                "UPDATE roles SET replicated_from = $2 WHERE id = $1", clash["id"], role["id"]
            )
            await _update_values(tx, out, "roles", clash["id"], values)
            out.overwritten.append(name)
            return
        keep(f"the client's role was kept and the MSP's added as {replica_name}: {problem}")
    await tx.execute(
        "INSERT INTO roles (org_id, name, replicated_from, description, permissions) "
        "VALUES ($1, $2, $3, $4, $5)",
        org_id,
        replica_name,
        role["id"],
        values["description"],
        values["permissions"],
    )
    out.created += 1


async def _replicate_retention(
    tx: db.Tx, out: Outcome, org_id: uuid.UUID, template: Template, new: bool
) -> None:
    """MSPOrg's audit retention in a client org, where it keeps events as long or longer
    (NULL: for ever); a shorter one is never applied to an org with history (only the
    client, or a second MSP administrator, shortens it: ``dual_control.client_consents``)
    and is named in ``out.kept``."""
    assert template.retention is not None
    days: int | None = template.retention["days"]
    current = await tx.fetchrow("SELECT days FROM audit_retention WHERE org_id = $1", org_id)
    held: int | None = current["days"] if current is not None else None
    if days == held and (current is not None or days is None):
        return  # already so (no row: kept for ever)
    longer = days is None or (held is not None and days >= held)
    if not (longer or new):
        kept_for = "for ever" if held is None else f"{held} days"
        out.kept.append(
            {
                "category": "audit_purge_settings",
                "name": "retention_days",
                "why": f"the org keeps its events {kept_for}; the MSP's {days} days would "
                "purge them sooner",
            }
        )
        return
    status = await tx.execute(
        "INSERT INTO audit_retention (org_id, days, replicated_from) VALUES ($1, $2, $3) "
        "ON CONFLICT (org_id) DO UPDATE SET days = $2, replicated_from = $3 "
        "WHERE audit_retention.days IS DISTINCT FROM $2",
        org_id,
        days,
        template.msp_id,
    )
    out.updated += status not in ("INSERT 0 0", "UPDATE 0")


def note_recording_kept(out: Outcome, setting: dict[str, Any]) -> None:
    """An operation MSPOrg does not record stays recorded in the client org (replication
    only ever makes audit settings stricter): the org's result names it in ``out.kept``,
    so the per-org results say what was not applied and why (issue 35, item 7)."""
    if not setting["recorded"]:
        out.kept.append(
            {
                "category": "audit_operation_settings",
                "name": setting["operation"],
                "why": "MSPOrg does not record it; a client org's recording is never "
                "switched off by replication",
            }
        )


async def _free_name(taken: Callable[[str], Awaitable[bool]], name: str, suffix: str) -> str:
    """``name`` + ``suffix`` for a replica whose name the client already uses, or, when
    the client has that too, + ``suffix`` and 2, 3, … (attack pass, session 12: a client
    that made "<name>-MSP" itself failed every later apply to its org with a raw database
    error). Raises ValueError past 99 (the org's result says so)."""
    for n in range(1, 100):
        candidate = f"{name}{suffix}{n if n > 1 else ''}"
        if not await taken(candidate):
            return candidate
    raise ValueError(f"no free name for the replica of {name!r} (the client uses 99 of them)")
