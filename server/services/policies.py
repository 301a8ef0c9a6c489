"""Password policies of an org: the four built-ins plus the org's own."""

from __future__ import annotations

from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, coded, field_error
from server.core.password_policy import BUILTIN, Policy
from server.services import recording
from server.services.access import OrgArg, OrgRef, enter_org
from server.services.context import Actor, Env
from server.store import db


def _policy(row: asyncpg.Record) -> Policy:
    return Policy(
        row["name"],
        row["min_length"],
        row["max_length"],
        row["require_upper"],
        row["require_lower"],
        row["require_digit"],
        row["require_special"],
        row["max_age_days"],
    )


async def find_policy(tx: db.Tx, org: OrgRef, name: str) -> Policy:
    """A built-in or the org's own policy by name (case-insensitive), or 422."""
    if name.lower() in BUILTIN:
        return BUILTIN[name.lower()]
    row = await tx.fetchrow(
        "SELECT * FROM password_policies WHERE org_id = $1 AND name_fold(name) = name_fold($2)",
        org.id,
        name,
    )
    if row is None:
        raise field_error("policy", f"no password policy named {name!r}")
    return _policy(row)


async def list_policies(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """Built-in policies first, then the org's own (``replicated``: copied from MSPOrg by
    replicated settings, issue 35)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await tx.fetch(
            "SELECT * FROM password_policies WHERE org_id = $1 ORDER BY lower(name)", org.id
        )
    own = [_policy(r).as_dict() | {"replicated": r["replicated_from"] is not None} for r in rows]
    return [p.as_dict() | {"replicated": False} for p in BUILTIN.values()] + own


async def create_policy(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a custom policy (administrators and password administrators)."""
    if not permissions.can_manage_vault(actor):
        raise Forbidden("your role cannot manage password policies")
    if data["name"].lower() in BUILTIN:
        raise coded(
            Conflict,
            "policy_builtin",
            f"{data['name']!r} is a built-in policy and cannot be changed",
        )
    if not 1 <= data["min_length"] <= data["max_length"] <= 1024:
        raise field_error("min_length", "need 1 <= min_length <= max_length <= 1024")
    if data.get("max_age_days") is not None and data["max_age_days"] < 1:
        raise field_error("max_age_days", "must be at least 1 (or null for no limit)")
    classes = sum(
        bool(data.get(k))
        for k in ("require_upper", "require_lower", "require_digit", "require_special")
    )
    if classes > data["max_length"]:
        raise field_error("max_length", "is too short for the required character classes")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        try:
            row = await tx.fetchrow_one(
                "INSERT INTO password_policies (org_id, name, min_length, max_length, "
                "require_upper, require_lower, require_digit, require_special, max_age_days) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
                org.id,
                data["name"],
                data["min_length"],
                data["max_length"],
                data.get("require_upper", False),
                data.get("require_lower", False),
                data.get("require_digit", False),
                data.get("require_special", False),
                data.get("max_age_days"),
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict, "policy_exists", f"a policy named {data['name']!r} exists"
            ) from None
        await recording.writer(tx, env, org.id, actor.who).record(
            "password_policy_created",
            target_type="password_policy",
            target=row["name"],
            details={"min_length": row["min_length"], "max_length": row["max_length"]},
        )
    return _policy(row).as_dict()


async def generate(env: Env, actor: Actor, org_name: OrgArg, name: str) -> str:
    """A fresh password that satisfies the named policy."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        try:
            policy = await find_policy(tx, org, name)
        except ValidationFailed:
            raise NotFound(f"no password policy named {name!r}") from None
    return policy.generate()


async def max_ages(tx: db.Tx, org_id: Any) -> dict[str, int | None]:
    """Policy name (folded to lower case) -> its ``max_age_days``, for the built-ins and
    the org's own policies: what an account's ``expires_at`` is computed from (issue 31)."""
    ages = {name: p.max_age_days for name, p in BUILTIN.items()}
    for row in await tx.fetch(
        "SELECT name, max_age_days FROM password_policies WHERE org_id = $1", org_id
    ):
        ages[row["name"].lower()] = row["max_age_days"]
    return ages
