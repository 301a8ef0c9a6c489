"""Per-org settings: custom roles, the resource type catalogue and additional field
definitions, and the checks that use them (a user's role, a resource's type, the values
of additional fields).

The guide's "Replicating Settings Across Client Orgs" copies these from MSPOrg to every
client org (server/services/replication_settings.py). The built-in roles and types are
not stored and cannot be edited; ``permissions.py`` stays the one place that says what a
role may do.
"""

from __future__ import annotations

import datetime
import math
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, coded, field_error
from server.services import dual_control, recording
from server.services.access import OrgArg, OrgRef, enter_org
from server.services.context import Actor, Env
from server.store import db

BUILTIN_TYPES = (
    "Windows",
    "Linux",
    "Unix",
    "MS SQL Server",
    "Oracle",
    "MySQL",
    "PostgreSQL",
    "Cisco IOS",
    "Juniper JunOS",
    "VMware ESXi",
    "Web Site",
    "Server",
    "Generic",
)
FIELD_KINDS = ("text", "number", "date", "choice", "secret")
ROLE_NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
FIELD_NAME = r"[A-Za-z][A-Za-z0-9_]{0,63}"
TEXT_LIMIT = 2000  # characters in a text, choice or secret field value


def _require(actor: Actor, allowed: bool, what: str) -> None:
    if not allowed:
        raise Forbidden(f"your role cannot manage {what}")


async def _audit(
    tx: db.Tx,
    env: Env,
    org: OrgRef,
    actor: Actor,
    operation: str,
    target_type: str,
    target: str,
    **d: Any,
) -> None:
    """Record ``operation`` on ``target`` in the org's chain, ``d`` as its details."""
    await recording.writer(tx, env, org.id, actor.who).record(
        operation, target_type=target_type, target=target, details=d
    )


# -- roles ------------------------------------------------------------------------------


def role_json(row: asyncpg.Record | None, name: str = "") -> dict[str, Any]:
    """A role as the API shows it: built-in ones (``row`` None, ``name`` given) with
    ``builtin: true``."""
    if row is None:
        return {
            "name": name,
            "description": "built-in role",
            "permissions": sorted(permissions.BUILTIN_CAPABILITIES[name]),
            "builtin": True,
        }
    return {
        "name": row["name"],
        "description": row["description"],
        "permissions": sorted(row["permissions"]),
        "builtin": False,
        "replicated": row["replicated_from"] is not None,
    }


def _permissions(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(permissions.CAPABILITIES))
    if unknown:
        raise field_error(
            "permissions",
            f"unknown: {', '.join(unknown)}; choose from {', '.join(permissions.CAPABILITIES)}",
        )
    return sorted(set(values))


async def list_roles(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The five built-in roles, then the org's custom roles."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await tx.fetch("SELECT * FROM roles WHERE org_id = $1 ORDER BY name", org.id)
    return [role_json(None, r) for r in permissions.ROLES] + [role_json(r) for r in rows]


async def create_role(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a custom role built from the built-in permissions (user managers)."""
    _require(actor, permissions.can_manage_users(actor), "roles")
    refuse_reserved_name(data["name"])
    granted = _permissions(data["permissions"])
    refuse_permissions_not_held(actor, data["name"], granted)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        try:
            row = await tx.fetchrow_one(
                "INSERT INTO roles (org_id, name, description, permissions) "
                "VALUES ($1, $2, $3, $4) RETURNING *",
                org.id,
                data["name"],
                data.get("description", ""),
                granted,
            )
        except asyncpg.UniqueViolationError:
            raise coded(Conflict, "role_exists", f"a role named {data['name']!r} exists") from None
        await _audit(tx, env, org, actor, "role_created", "role", row["name"], permissions=granted)
        return role_json(row)


async def update_role(
    env: Env, actor: Actor, org_name: OrgArg, name: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Change a custom role's description or permissions (built-in roles are fixed)."""
    _require(actor, permissions.can_manage_users(actor), "roles")
    if permissions.is_builtin(name):
        raise coded(Forbidden, "builtin_role", "built-in roles cannot be edited")
    granted = _permissions(data["permissions"]) if "permissions" in data else None
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        await _refuse_role_change(tx, actor, org, name, granted or [])
        if "permissions" in data:
            await dual_control.refuse_raise_of_reaching_user(
                tx, org.id, name, new_permissions=granted or []
            )
        row = await tx.fetchrow(
            "UPDATE roles SET description = coalesce($3, description), "
            "permissions = coalesce($4, permissions) WHERE org_id = $1 AND name = $2 "
            "RETURNING *",
            org.id,
            name,
            data.get("description"),
            granted,
        )
        if row is None:
            raise NotFound(f"no role named {name!r}")
        await _audit(
            tx,
            env,
            org,
            actor,
            "role_updated",
            "role",
            name,
            permissions=sorted(row["permissions"]),
        )
        return role_json(row)


async def delete_role(env: Env, actor: Actor, org_name: OrgArg, name: str) -> None:
    """Delete a custom role nobody holds."""
    _require(actor, permissions.can_manage_users(actor), "roles")
    if permissions.is_builtin(name):
        raise coded(Forbidden, "builtin_role", "built-in roles cannot be deleted")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        await _refuse_role_change(tx, actor, org, name, [])
        holders: int = await tx.fetchval(
            "SELECT count(*) FROM users WHERE org_id = $1 AND role = $2", org.id, name
        )
        if holders:
            raise coded(
                Conflict, "role_in_use", f"{holders} user(s) hold {name}; change them first"
            )
        if (
            await tx.execute("DELETE FROM roles WHERE org_id = $1 AND name = $2", org.id, name)
        ) == ("DELETE 0"):
            raise NotFound(f"no role named {name!r}")
        await _audit(tx, env, org, actor, "role_deleted", "role", name)


async def require_role(tx: db.Tx, org: OrgRef, role: str) -> None:
    """A user of ``org`` may hold ``role``: a built-in one or one of the org's own
    (in the org's RLS context).

    Raises:
        ValidationFailed on ``role``.
    """
    if permissions.is_builtin(role):
        return
    if not await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM roles WHERE org_id = $1 AND name = $2)", org.id, role
    ):
        raise field_error("role", f"must be a built-in role or one of {org.display_name}'s roles")


async def role_capabilities(tx: db.Tx, org: OrgRef, role: str) -> frozenset[str]:
    """What a user of ``org`` holding ``role`` may do: a built-in role's permissions, or a
    custom role's from the org's roles (in the org's RLS context). A role the org does not
    have permits nothing (as for an actor, ``auth.with_custom_role``). The one place a
    target user's or an assigned role's capabilities are resolved (issue #26 item 3)."""
    if permissions.is_builtin(role):
        return permissions.capabilities_of(role)
    granted = await tx.fetchval(
        "SELECT permissions FROM roles WHERE org_id = $1 AND name = $2", org.id, role
    )
    return frozenset(granted or ()) & frozenset(permissions.CAPABILITIES)


def refuse_reserved_name(name: str) -> None:
    """A custom role's name must not read as a built-in role's
    (``permissions.imitates_builtin``; issue #26 item 11).

    Raises:
        ValidationFailed ``role_name_reserved`` on ``name``.
    """
    if permissions.imitates_builtin(name):
        raise field_error(
            "name",
            f"{name!r} reads as a built-in role's name; choose a name of its own",
            code="role_name_reserved",
        )


def refuse_permissions_not_held(actor: Actor, role: str, granted: Collection[str]) -> None:
    """Nobody grants a permission it does not hold (issue #26 item 3).

    Raises:
        Forbidden ``permission_not_held`` naming the permissions ``actor`` lacks.
    """
    missing = permissions.missing_capabilities(actor, frozenset(granted))
    if missing:
        raise coded(
            Forbidden,
            "permission_not_held",
            f"you may not give the role {role} {', '.join(sorted(missing))}: "
            "you do not hold it yourself",
        )


async def _refuse_role_change(
    tx: db.Tx, actor: Actor, org: OrgRef, name: str, new_permissions: list[str]
) -> None:
    """Before a custom role of ``org`` is edited or deleted: nobody changes the role it
    holds (``own_role``), nor one that gives, or would give, a permission it lacks
    (``permission_not_held``). The role's row stays locked until the change is made."""
    if org.id == actor.org_id and name == actor.role:
        raise coded(
            Forbidden,
            "own_role",
            f"you hold the role {name}; another user manager changes it",
        )
    current = await tx.fetchval(
        "SELECT permissions FROM roles WHERE org_id = $1 AND name = $2 FOR UPDATE", org.id, name
    )
    if current is None:
        raise NotFound(f"no role named {name!r}")
    refuse_permissions_not_held(actor, name, [*current, *new_permissions])


# -- resource types --------------------------------------------------------------------


async def list_types(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The built-in catalogue, then the org's own types."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await tx.fetch(
            "SELECT name, replicated_from FROM resource_types WHERE org_id = $1 "
            "ORDER BY lower(name)",
            org.id,
        )
    return [{"name": t, "builtin": True} for t in BUILTIN_TYPES] + [
        {"name": r["name"], "builtin": False, "replicated": r["replicated_from"] is not None}
        for r in rows
    ]


async def create_type(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a resource type to the org's catalogue."""
    _require(actor, permissions.can_manage_vault(actor), "resource types")
    if _builtin_type(data["name"]):
        raise coded(Conflict, "type_exists", f"{data['name']} is a built-in type")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        try:
            name: str = await tx.fetchval(
                "INSERT INTO resource_types (org_id, name) VALUES ($1, $2) RETURNING name",
                org.id,
                data["name"],
            )
        except asyncpg.UniqueViolationError:
            raise coded(Conflict, "type_exists", f"a type named {data['name']!r} exists") from None
        await _audit(tx, env, org, actor, "resource_type_created", "resource_type", name)
    return {"name": name, "builtin": False, "replicated": False}


async def delete_type(env: Env, actor: Actor, org_name: OrgArg, name: str) -> None:
    """Delete a custom type no resource uses."""
    _require(actor, permissions.can_manage_vault(actor), "resource types")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        if await tx.fetchval(
            "SELECT EXISTS (SELECT 1 FROM resources WHERE org_id = $1 AND "
            "name_fold(type) = name_fold($2))",
            org.id,
            name,
        ):
            raise coded(Conflict, "type_in_use", f"resources of type {name!r} exist")
        gone: str | None = await tx.fetchval(
            "DELETE FROM resource_types WHERE org_id = $1 AND name_fold(name) = name_fold($2) "
            "RETURNING name",
            org.id,
            name,
        )
        if gone is None:
            raise NotFound(f"no custom resource type named {name!r}")
        await _audit(tx, env, org, actor, "resource_type_deleted", "resource_type", gone)


def _builtin_type(name: str) -> str | None:
    folded = name.casefold()
    return next((t for t in BUILTIN_TYPES if t.casefold() == folded), None)


async def resolve_type(tx: db.Tx, org: OrgRef, name: str) -> str:
    """The catalogue's spelling of a resource type (in the org's RLS context).

    Raises:
        ValidationFailed on ``type`` for a type the org does not have.
    """
    builtin = _builtin_type(name)
    if builtin:
        return builtin
    own: str | None = await tx.fetchval(
        "SELECT name FROM resource_types WHERE org_id = $1 AND name_fold(name) = name_fold($2)",
        org.id,
        name,
    )
    if own is None:
        raise field_error(
            "type", f"not a resource type of {org.display_name} (see GET …/resource-types)"
        )
    return own


# -- additional fields ------------------------------------------------------------------


def definition_json(row: asyncpg.Record) -> dict[str, Any]:
    """A field definition as the API shows it."""
    return {
        "id": str(row["id"]),
        "applies_to": row["applies_to"],
        "resource_type": row["resource_type"] or None,
        "name": row["name"],
        "kind": row["kind"],
        "required": row["required"],
        "default": row["default_value"],
        "choices": list(row["choices"]),
        "replicated": row["replicated_from"] is not None,
    }


async def list_definitions(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The org's additional field definitions."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await tx.fetch(
            "SELECT * FROM field_definitions WHERE org_id = $1 "
            "ORDER BY applies_to, resource_type, lower(name)",
            org.id,
        )
    return [definition_json(r) for r in rows]


async def create_definition(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Define an additional field for resources (all, or one type's) or accounts.

    Raises:
        ValidationFailed: a secret field for resources or with a default, a choice field
        without choices, a default that its own kind refuses, an unknown type.
    """
    _require(actor, permissions.can_manage_vault(actor), "field definitions")
    kind = data["kind"]
    errors = []
    if kind == "secret" and data["applies_to"] != "account":
        errors.append({"field": "kind", "message": "secret fields are for accounts"})
    if kind == "secret" and data.get("default") is not None:
        errors.append({"field": "default", "message": "a secret field has no default"})
    if kind == "choice" and not data.get("choices"):
        errors.append({"field": "choices", "message": "a choice field needs its choices"})
    if data.get("resource_type") and data["applies_to"] != "resource":
        errors.append({"field": "resource_type", "message": "only resource fields have a type"})
    if errors:
        raise ValidationFailed(errors)
    probe = {"name": data["name"], "kind": kind, "choices": data.get("choices", [])}
    if data.get("default") is not None:
        problem = _value_problem(probe, _stored_default(kind, data["default"]))
        if problem:
            raise field_error("default", problem)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        rtype = (
            await resolve_type(tx, org, data["resource_type"]) if data.get("resource_type") else ""
        )
        try:
            row = await tx.fetchrow_one(
                "INSERT INTO field_definitions (org_id, applies_to, resource_type, name, kind, "
                "required, default_value, choices) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "RETURNING *",
                org.id,
                data["applies_to"],
                rtype,
                data["name"],
                kind,
                data.get("required", False),
                data.get("default"),
                data.get("choices", []),
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict, "field_exists", f"a field named {data['name']!r} exists"
            ) from None
        await _audit(
            tx,
            env,
            org,
            actor,
            "field_defined",
            "field",
            row["name"],
            kind=kind,
            applies_to=row["applies_to"],
        )
        return definition_json(row)


async def delete_definition(env: Env, actor: Actor, org_name: OrgArg, definition_id: str) -> None:
    """Remove a field definition (values already stored stay with their resources)."""
    _require(actor, permissions.can_manage_vault(actor), "field definitions")
    try:
        did = uuid.UUID(definition_id)
    except ValueError:
        raise NotFound("no such field definition") from None
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        name: str | None = await tx.fetchval(
            "DELETE FROM field_definitions WHERE org_id = $1 AND id = $2 RETURNING name",
            org.id,
            did,
        )
        if name is None:
            raise NotFound("no such field definition")
        await _audit(tx, env, org, actor, "field_removed", "field", name)


def _stored_default(kind: str, text: str) -> Any:
    """A default as its field's value (defaults are kept as text)."""
    if kind != "number":
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and abs(number) <= 2**53 else number


def _value_problem(definition: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` does not fit field ``definition`` (a row or its probe), else None."""
    kind = definition["kind"]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
        if not math.isfinite(value) or abs(value) > 2**53:
            return "must be a finite number within ±2^53"
        return None
    if not isinstance(value, str):
        return "must be a string"
    if len(value) > TEXT_LIMIT:
        return f"must be at most {TEXT_LIMIT} characters"
    if "\x00" in value:
        return "must not contain NUL characters"
    if kind == "date":
        try:
            datetime.date.fromisoformat(value)
        except ValueError:
            return "must be a date (YYYY-MM-DD)"
    if kind == "choice" and value not in definition["choices"]:
        return "must be one of " + ", ".join(definition["choices"])
    return None


async def check_fields(
    tx: db.Tx, org: OrgRef, applies_to: str, resource_type: str, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate additional field values against the org's definitions (in the org's RLS
    context); fill defaults.

    Returns:
        (plain values to store as JSON, secret values to seal).
    Raises:
        ValidationFailed with ``fields.<name>`` paths: an undefined field, a missing
        required one, a value of the wrong kind.
    """
    rows = await tx.fetch(
        "SELECT * FROM field_definitions WHERE org_id = $1 AND applies_to = $2 AND "
        "(resource_type = '' OR name_fold(resource_type) = name_fold($3))",
        org.id,
        applies_to,
        resource_type,
    )
    defs = {r["name"].lower(): r for r in rows}
    errors = []
    plain: dict[str, Any] = {}
    secret: dict[str, str] = {}
    for key, value in values.items():
        definition = defs.get(key.lower())
        if definition is None:
            errors.append({"field": f"fields.{key}", "message": "is not a defined field"})
            continue
        problem = _value_problem(definition, value)
        if problem:
            errors.append({"field": f"fields.{key}", "message": problem})
        elif definition["kind"] == "secret":
            secret[definition["name"]] = value
        else:
            plain[definition["name"]] = value
    given = {k.lower() for k in values}
    for key, definition in defs.items():
        if key in given:
            continue
        if definition["default_value"] is not None:
            plain[definition["name"]] = _stored_default(
                definition["kind"], definition["default_value"]
            )
        elif definition["required"]:
            errors.append({"field": f"fields.{definition['name']}", "message": "is required"})
    if errors:
        raise ValidationFailed(errors)
    return plain, secret
