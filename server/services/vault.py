"""The vault: resources and accounts, revealing and changing passwords.

Every read of a secret and every change is audited in the org's chain inside the
same transaction; what the actor may do is decided by server/services/entitlement.py.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    StrongroomError,
    Unauthenticated,
    coded,
    field_error,
)
from server.core.ids import parse_id
from server.core.password_policy import DEFAULT, Policy, expires_at
from server.security.crypto import DecryptionFailed
from server.services import (
    auth,
    entitlement,
    org_settings,
    policies,
    recording,
    rotation_state,
    tokens,
)
from server.services.access import OrgArg, OrgRef, enter_org
from server.services.context import Actor, Env
from server.services.policies import find_policy
from server.store import audit, db, paging
from server.store.paging import Page


def _check_vault_control(actor: Actor, org: OrgRef) -> None:
    """Who may add resources: the org's vault_control and the actor's role."""
    if not permissions.can_add_resources(actor):
        raise Forbidden("your role cannot add resources")
    if org.is_msp:
        return
    msp_side = org.via in ("account_manager", "grant")
    if org.vault_control == "msp" and not msp_side:
        raise coded(Forbidden, "vault_control", "only the MSP adds resources to this org")
    if org.vault_control == "client" and msp_side:
        raise coded(Forbidden, "vault_control", "only the client adds resources to this org")


def resource_json(row: asyncpg.Record, permission: str) -> dict[str, Any]:
    """A resource as the API shows it."""
    fields = row["fields"] if "fields" in row else "{}"
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "type": row["type"],
        "url": row["url"],
        "description": row["description"],
        "department": row["department"],
        "location": row["location"],
        "fields": json.loads(fields) if fields else {},
        "permission": permission,
    }


def account_json(
    row: asyncpg.Record, permission: str, ages: dict[str, int | None] | None = None
) -> dict[str, Any]:
    """An account as the API shows it: never a password, notes or secret fields.
    ``expires_at``: its last change + its policy's ``max_age_days`` (``ages``:
    policies.max_ages), null without a maximum age (issue 31)."""
    fields = row["fields"] if "fields" in row else None
    expires = expires_at(row["password_changed_at"], (ages or {}).get(row["policy"].lower()))
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "policy": row["policy"],
        "password_changed_at": row["password_changed_at"].isoformat(),
        "expires_at": expires.isoformat() if expires is not None else None,
        "permission": permission,
        "fields": json.loads(fields) if fields else {},
        "connect_only": bool(row.get("connect_only", False)),
    }


async def list_resources(
    env: Env, actor: Actor, org_name: OrgArg, q: str | None, page: Page
) -> dict[str, Any]:
    """A page of the resources visible to the actor, optionally searched, by name."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await entitlement.visible_resources(tx, actor, org, q, page)
    found = paging.cut(rows, page, entitlement.resource_order)
    found["items"] = [
        {**resource_json(r, r["permission"]), "accounts": r["accounts"]} for r in found["items"]
    ]
    return found


async def create_resource(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a resource; the adder owns it."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        _check_vault_control(actor, org)
        rtype = await org_settings.resolve_type(tx, org, data["type"])
        fields, _ = await org_settings.check_fields(
            tx, org, "resource", rtype, data.get("fields", {})
        )
        try:
            row = await tx.fetchrow_one(
                "INSERT INTO resources (org_id, name, type, url, description, department, "
                "location, fields, owner_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9) "
                "RETURNING *",
                org.id,
                data["name"],
                rtype,
                data.get("url", ""),
                data.get("description", ""),
                data.get("department", ""),
                data.get("location", ""),
                json.dumps(fields),
                actor.user_id,
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict,
                "resource_name_taken",
                f"{org.display_name} already has a resource named {data['name']!r}",
            ) from None
        await recording.writer(tx, env, org.id, actor.who).record(
            "resource_created",
            target_type="resource",
            target=row["name"],
            details={"resource_id": str(row["id"]), "type": row["type"]},
        )
    return {**resource_json(row, "owner"), "accounts": []}


async def _resource(
    tx: db.Tx, actor: Actor, org: OrgRef, resource_id: str, action: str | None
) -> tuple[asyncpg.Record, str]:
    """A resource the actor sees and its permission on it; NotFound when it sees none,
    Forbidden when the permission does not allow ``action``."""
    rid = parse_id(resource_id, "resource")
    permission = await entitlement.resource_permission(tx, actor, org, rid)
    if not permission:
        raise NotFound("no such resource")
    row = await tx.fetchrow("SELECT * FROM resources WHERE id = $1", rid)
    if row is None:
        raise NotFound("no such resource")
    if action and not entitlement.allows(permission, action):
        raise Forbidden(f"your permission on this resource ({permission}) does not allow this")
    return row, permission


async def get_resource(
    env: Env, actor: Actor, org_name: OrgArg, resource_id: str
) -> dict[str, Any]:
    """A resource and the accounts in it the actor may use."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row, permission = await _resource(tx, actor, org, resource_id, None)
        accounts = await entitlement.visible_accounts(tx, actor, org, row["id"])
        ages = await policies.max_ages(tx, org.id)
        states = [
            await access_state(tx, {"id": a["id"], "resource_id": row["id"]}, actor.user_id)
            for a in accounts
        ]
        rotations = await rotation_state.states(tx, (a["id"] for a in accounts))
    return {
        **resource_json(row, permission),
        "accounts": [
            {
                **account_json(a, a["permission"], ages),
                "access": state,
                "rotation": rotations[a["id"]],
            }
            for a, state in zip(accounts, states, strict=True)
        ],
    }


async def update_resource(
    env: Env, actor: Actor, org_name: OrgArg, resource_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Edit a resource (needs full)."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row, permission = await _resource(tx, actor, org, resource_id, "edit")
        if not data:
            return resource_json(row, permission)
        if "type" in data or "fields" in data:
            rtype = await org_settings.resolve_type(tx, org, data.get("type", row["type"]))
            fields, _ = await org_settings.check_fields(
                tx, org, "resource", rtype, data.get("fields", json.loads(row["fields"] or "{}"))
            )
            data = {**data, "type": rtype, "fields": json.dumps(fields)}
        sets = ", ".join(
            f"{col} = ${i}{'::jsonb' if col == 'fields' else ''}"
            for i, col in enumerate(data, start=2)
        )
        try:
            row = await tx.fetchrow_one(
                f"UPDATE resources SET {sets}, updated_at = now() WHERE id = $1 RETURNING *",
                row["id"],
                *data.values(),
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict,
                "resource_name_taken",
                f"{org.display_name} already has a resource of that name",
            ) from None
        await recording.writer(tx, env, org.id, actor.who).record(
            "resource_updated",
            target_type="resource",
            target=row["name"],
            details={"resource_id": str(row["id"]), "fields": sorted(data)},
        )
    return resource_json(row, permission)


async def delete_resource(env: Env, actor: Actor, org_name: OrgArg, resource_id: str) -> None:
    """Delete a resource with its accounts and shares (needs full)."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _resource(tx, actor, org, resource_id, "delete")
        accounts = await tx.fetchval(
            "SELECT count(*) FROM accounts WHERE resource_id = $1", row["id"]
        )
        await tx.execute("DELETE FROM resources WHERE id = $1", row["id"])
        await recording.writer(tx, env, org.id, actor.who).record(
            "resource_deleted",
            target_type="resource",
            target=row["name"],
            details={"resource_id": str(row["id"]), "accounts": accounts},
        )


async def _password_for(
    tx: db.Tx, org: OrgRef, policy_name: str, data: dict[str, Any]
) -> tuple[str, Policy, bool]:
    """The new password (sent, or generated when ``generate``), the policy it meets and
    whether it was generated; ValidationFailed when it breaks the policy."""
    policy = await find_policy(tx, org, policy_name)
    if data.get("generate"):
        if "password" in data:
            raise field_error("generate", "send either a password or generate, not both")
        return policy.generate(), policy, True
    if not data.get("password"):
        raise field_error("password", 'is required (or send "generate": true)')
    problems = policy.problems(data["password"])
    if problems:
        raise field_error(
            "password",
            f"does not meet the {policy.name} policy: " + "; ".join(problems),
            code="password_policy_violation",
        )
    return data["password"], policy, False


async def create_account(
    env: Env, actor: Actor, org_name: OrgArg, resource_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Add an account to a resource (needs full on the resource); the adder owns it."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        resource, _ = await _resource(tx, actor, org, resource_id, "edit")
        await refuse_target_name_choice(tx, actor, org, resource["id"])
        password, policy, generated = await _password_for(
            tx, org, data.get("policy", DEFAULT), data
        )
        account_id = uuid.uuid4()
        sealed = await env.ring.encrypt(tx, org.id, "accounts", account_id, "password", password)
        notes = None
        if data.get("notes"):
            notes = await env.ring.encrypt(
                tx, org.id, "accounts", account_id, "notes", data["notes"]
            )
        fields, secrets = await org_settings.check_fields(
            tx, org, "account", "", data.get("fields", {})
        )
        sealed_fields = await _seal_fields(env, tx, org, account_id, secrets)
        try:
            row = await tx.fetchrow_one(
                "INSERT INTO accounts (id, org_id, resource_id, username, password, notes, "
                "policy, owner_id, fields, secret_fields, secret_field_names) VALUES ($1, $2, "
                "$3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11) "
                "RETURNING id, username, policy, password_changed_at, fields",
                account_id,
                org.id,
                resource["id"],
                data["username"],
                sealed,
                notes,
                policy.name,
                actor.user_id,
                json.dumps(fields),
                sealed_fields,
                sorted(secrets),
            )
        except asyncpg.UniqueViolationError:
            raise coded(
                Conflict,
                "account_exists",
                f"{resource['name']} already has an account {data['username']!r}",
            ) from None
        await recording.writer(tx, env, org.id, actor.who).record(
            "account_created",
            target_type="account",
            target=f"{resource['name']}/{row['username']}",
            details={"account_id": str(account_id), "generated": generated, "policy": policy.name},
        )
    ages = {policy.name.lower(): policy.max_age_days}
    return {**account_json(row, "owner", ages), "resource_id": str(resource["id"])}


async def _seal_fields(
    env: Env, tx: db.Tx, org: OrgRef, account_id: uuid.UUID, secrets: dict[str, str]
) -> bytes | None:
    """An account's secret additional fields as one sealed JSON object (or None)."""
    if not secrets:
        return None
    return await env.ring.encrypt(
        tx, org.id, "accounts", account_id, "secret_fields", json.dumps(secrets)
    )


async def _account(
    tx: db.Tx, actor: Actor, org: OrgRef, account_id: str, action: str | None
) -> tuple[asyncpg.Record, str]:
    """An account the actor sees (with its resource's name) and its permission on it;
    NotFound when it sees none, Forbidden when the permission does not allow ``action``."""
    aid = parse_id(account_id, "account")
    permission = await entitlement.account_permission(tx, actor, org, aid)
    if not permission:
        raise NotFound("no such account")
    row = await tx.fetchrow(
        "SELECT a.id, a.username, a.policy, a.password_changed_at, a.resource_id, a.fields, "
        "a.secret_fields_to_change, a.connect_only, r.name AS resource "
        "FROM accounts a JOIN resources r ON r.id = a.resource_id "
        "WHERE a.id = $1",
        aid,
    )
    if row is None:
        raise NotFound("no such account")
    if action and not entitlement.allows(permission, action):
        raise Forbidden(f"your permission on this account ({permission}) does not allow this")
    return row, permission


async def access_state(tx: db.Tx, row: Mapping[str, Any], user_id: uuid.UUID) -> dict[str, Any]:
    """An account's check-out state for the vault view: ``controlled``, ``state``
    (``free``, ``mine``, ``held``) and, when held, ``holder`` and ``until``
    (``account_access`` in sql/013)."""
    state = await tx.fetchrow_one(
        "SELECT * FROM account_access($1, $2, $3)", row["id"], row["resource_id"], user_id
    )
    out: dict[str, Any] = {"controlled": state["controlled"], "state": "free"}
    if state["mine"]:
        out["state"] = "mine"
    elif state["holder"] is not None and state["exclusive"]:
        out["state"] = "held"
    if out["state"] != "free":
        out["holder"] = f"{state['holder']}@{state['holder_org']}"
        out["until"] = state["held_until"].isoformat()
    return out


async def refuse_if_checked_out(tx: db.Tx, row: asyncpg.Record, user_id: uuid.UUID) -> None:
    """While an exclusive check-out is open, nobody but its holder changes the password.

    Raises:
        Conflict ``checked_out`` with ``holder`` and ``until``.
    """
    state = await access_state(tx, row, user_id)
    if state["state"] == "held":
        raise coded(
            Conflict,
            "checked_out",
            f"checked out to {state['holder']} until {state['until']}",
            holder=state["holder"],
            until=state["until"],
        )


async def refuse_secret_change_without_checkout(
    tx: db.Tx, row: Mapping[str, Any], user_id: uuid.UUID
) -> None:
    """Who may change an account's password, notes or secret additional fields: while an
    exclusive check-out is open, only its holder; while the account is under access
    control, only a user holding an open check-out of it (approved, inside its window,
    not checked in) — so a secret the control guards is never replaced by one person
    outside a window (issue 26, item 7). The check-out state is ``account_access``
    (sql/functions/account_access.sql); this function lives here, not in
    password_requests, because that module builds on this one.

    Raises:
        Conflict ``checked_out`` (with ``holder`` and ``until``) or ``checkout_required``.
    """
    await refuse_if_checked_out(tx, row, user_id)
    state = await tx.fetchrow_one(
        "SELECT * FROM account_access($1, $2, $3)", row["id"], row["resource_id"], user_id
    )
    if state["controlled"] and not state["mine"]:
        raise coded(
            Conflict,
            "checkout_required",
            "this account is under access control: only a user holding an approved "
            "check-out of it changes its password, notes or secret fields (request it: "
            "POST …/password-requests)",
        )


async def get_account(env: Env, actor: Actor, org_name: OrgArg, account_id: str) -> dict[str, Any]:
    """Account metadata (never the password)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row, permission = await _account(tx, actor, org, account_id, None)
        policy = await find_policy(tx, org, row["policy"])
        access = await access_state(tx, row, actor.user_id)
        rotation = (await rotation_state.states(tx, [row["id"]]))[row["id"]]
    age = datetime.datetime.now(datetime.UTC) - row["password_changed_at"]
    expired = policy.max_age_days is not None and age.days >= policy.max_age_days
    return {
        **account_json(row, permission, {row["policy"].lower(): policy.max_age_days}),
        "resource_id": str(row["resource_id"]),
        "resource": row["resource"],
        "password_expired": expired,
        "access": access,
        "secret_fields_to_change": list(row["secret_fields_to_change"]),
        "rotation": rotation,
    }


async def update_account(
    env: Env, actor: Actor, org_name: OrgArg, account_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Rename an account, change its notes or policy (needs full)."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row, permission = await _account(tx, actor, org, account_id, "edit")
        if "notes" in data or "fields" in data:
            secrets_now = await tx.fetchval(
                "SELECT secret_field_names FROM accounts WHERE id = $1", row["id"]
            )
            if "notes" in data or secrets_now or await _has_secrets(tx, org, data["fields"]):
                await refuse_secret_change_without_checkout(tx, row, actor.user_id)
        if "username" in data and data["username"] != row["username"]:
            # The name says which user on the target the account is: under access control
            # it is changed by a check-out holder only, and through a reconciliation
            # account only by who may use that account (attacker pass, session 9).
            await refuse_secret_change_without_checkout(tx, row, actor.user_id)
            await refuse_target_name_choice(tx, actor, org, row["resource_id"])
        if data.get("connect_only") is False and row["connect_only"]:
            # Showing the password again is a change to its secrecy (issue 30).
            await refuse_secret_change_without_checkout(tx, row, actor.user_id)
        if "policy" in data:
            data["policy"] = (await find_policy(tx, org, data["policy"])).name
        if "notes" in data:
            data["notes"] = (
                None
                if not data["notes"]
                else await env.ring.encrypt(
                    tx, org.id, "accounts", row["id"], "notes", data["notes"]
                )
            )
        if "fields" in data:
            fields, secrets = await org_settings.check_fields(
                tx, org, "account", "", data["fields"]
            )
            data["fields"] = json.dumps(fields)
            data["secret_fields"] = await _seal_fields(env, tx, org, row["id"], secrets)
            # Every secret field held from now on was written here: none is left to change.
            data["secret_field_names"] = sorted(secrets)
            data["secret_fields_to_change"] = []
        if data:
            sets = ", ".join(
                f"{col} = ${i}{'::jsonb' if col == 'fields' else ''}"
                for i, col in enumerate(data, start=2)
            )
            try:
                await tx.execute(
                    f"UPDATE accounts SET {sets}, updated_at = now() WHERE id = $1",
                    row["id"],
                    *data.values(),
                )
            except asyncpg.UniqueViolationError:
                raise coded(
                    Conflict, "account_exists", "the resource has an account of that name"
                ) from None
        await recording.writer(tx, env, org.id, actor.who).record(
            "account_updated",
            target_type="account",
            target=f"{row['resource']}/{row['username']}",
            details={
                "account_id": str(row["id"]),
                "fields": sorted(k for k in data if k not in _BOOKKEEPING),
            },
        )
        row, _ = await _account(tx, actor, org, account_id, None)
        ages = await policies.max_ages(tx, org.id)
    return {**account_json(row, permission, ages), "resource_id": str(row["resource_id"])}


async def delete_account(env: Env, actor: Actor, org_name: OrgArg, account_id: str) -> None:
    """Delete an account (needs full)."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _account(tx, actor, org, account_id, "delete")
        await tx.execute("DELETE FROM accounts WHERE id = $1", row["id"])
        await recording.writer(tx, env, org.id, actor.who).record(
            "account_deleted",
            target_type="account",
            target=f"{row['resource']}/{row['username']}",
            details={"account_id": str(row["id"])},
        )


async def reveal_password(
    env: Env, actor: Actor, org_name: OrgArg, account_id: str, reason: str | None
) -> dict[str, Any]:
    """Decrypt an account's password (and notes) for an entitled actor.

    The hot path of the product, so it holds no transaction open and makes one round trip
    (issue 28): one statement resolves the org, checks the actor's credential again,
    decides the reach, the reason the org may require, entitlement and check-out, records
    the event and hands out the ciphertexts (``reveal_account``); if the ciphertext then
    fails to authenticate, a failure event follows and nothing is revealed.

    Raises:
        Unauthenticated: the session or API key ended, or the user was disabled, after
            the request was authenticated. NotFound: no such org (or out of reach), no
            such account (or not entitled). ValidationFailed ``reason_required``.
        Conflict ``checked_out`` / Forbidden ``checkout_required``: the check-out rule.
        Forbidden ``connect_only``: the account is used through the SSH gateway only.
    """
    aid = parse_id(account_id, "account")
    name = org_name if isinstance(org_name, str) else org_name.display_name
    row = await entitlement.reveal(env.reveals, actor, name, aid, reason, env.node)
    return await _revealed(env, actor, name, aid, row, reason)


async def _revealed(
    env: Env, actor: Actor, name: str, aid: uuid.UUID, row: Any, reason: str | None
) -> dict[str, Any]:
    """The answer to a reveal from ``reveal_account``'s row (None or access NULL: no such
    account, or not entitled): its refusals raised, its ciphertexts decrypted."""
    if row is not None and row["access"] is None:  # the token path: not entitled
        raise NotFound("no such account")
    refuse_use(row, name)
    assert row is not None
    org_id: uuid.UUID = row["org_id"]
    if not row["audited"]:
        # The database recorded nothing (a node that cannot write): spool the event the
        # database would have recorded (sql/functions/password_revealed_event.sql) before
        # anything is decrypted, so a reveal is never unaudited.
        event = await _spooled_reveal_event(env, actor, org_id, aid, row, reason)
        await env.spool.append(org_id, event, env.node)
    try:
        await env.ring.ensure_loaded(env.pool, org_id, row["password"])
        answer = {
            "password": env.ring.decrypt_cached(
                org_id, "accounts", aid, "password", row["password"]
            )
        }
        if row["notes"] is not None:
            await env.ring.ensure_loaded(env.pool, org_id, row["notes"])
            answer["notes"] = env.ring.decrypt_cached(
                org_id, "accounts", aid, "notes", row["notes"]
            )
        if row["secret_fields"] is not None:
            await env.ring.ensure_loaded(env.pool, org_id, row["secret_fields"])
            answer["fields"] = json.loads(
                env.ring.decrypt_cached(
                    org_id, "accounts", aid, "secret_fields", row["secret_fields"]
                )
            )
    except DecryptionFailed:
        failure = audit.Event(
            actor.who,
            "password_reveal_failed",
            "account",
            await _account_target(env, org_id, row),
            outcome="failure",
            reason="ciphertext_invalid",
            details={"account_id": str(aid)},
        )
        await recording.record(env, org_id, failure)
        err = StrongroomError(
            "the stored secret failed its integrity check and was not "
            "revealed; the attempt is recorded in the audit trail"
        )
        err.status, err.code, err.title = 500, "secret_integrity_failed", "Integrity failure"
        raise err from None
    return answer


async def _spooled_reveal_event(
    env: Env, actor: Actor, org_id: uuid.UUID, aid: uuid.UUID, row: Any, reason: str | None
) -> audit.Event:
    """The password_revealed event ``reveal_account`` would have recorded, as the one
    builder in the database makes it (sql/functions/spooled_reveal_event.sql), read-only."""
    async with db.transaction(env.pool, org_id, readonly=True) as conn:
        built = await conn.fetchrow_one(
            "SELECT * FROM spooled_reveal_event($1, $2, $3, $4, $5)",
            aid,
            row["resource_id"],
            row["username"],
            row["permission"],
            actor.user_id,
        )
    return audit.Event(
        actor.who,
        built["operation"],
        built["target_type"],
        built["target"],
        reason=reason,
        details=json.loads(built["details"]),
    )


async def _account_target(env: Env, org_id: uuid.UUID, row: Any) -> str:
    """An account as the audit names it, '<resource>/<account>' (as the reveal's event,
    sql/functions/password_revealed_event.sql, names it)."""
    async with db.transaction(env.pool, org_id, readonly=True) as conn:
        name = await conn.fetchval("SELECT name FROM resources WHERE id = $1", row["resource_id"])
    return f"{name or row['resource_id']}/{row['username']}"


async def change_password(
    env: Env, actor: Actor, org_name: OrgArg, account_id: str, data: dict[str, Any]
) -> None:
    """Set or generate a new password (needs modify), checked against the account's policy."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _account(tx, actor, org, account_id, "change_password")
        await refuse_secret_change_without_checkout(tx, row, actor.user_id)
        password, policy, generated = await _password_for(tx, org, row["policy"], data)
        sealed = await env.ring.encrypt(tx, org.id, "accounts", row["id"], "password", password)
        await tx.execute(
            "UPDATE accounts SET password = $2, password_changed_at = now(), updated_at = now() "
            "WHERE id = $1",
            row["id"],
            sealed,
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "password_changed",
            target_type="account",
            target=f"{row['resource']}/{row['username']}",
            details={"account_id": str(row["id"]), "generated": generated, "policy": policy.name},
        )


# Columns update_account keeps in step with secret_fields (not edited by the caller).
_BOOKKEEPING = ("secret_field_names", "secret_fields_to_change")


async def _has_secrets(tx: db.Tx, org: OrgRef, values: Mapping[str, Any]) -> bool:
    """Do additional field ``values`` of an account name one of the org's secret fields?"""
    names = [k.lower() for k in values]
    found: bool = await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM field_definitions WHERE org_id = $1 AND "
        "applies_to = 'account' AND kind = 'secret' AND lower(name) = ANY($2::text[]))",
        org.id,
        names,
    )
    return found


async def refuse_reconciliation_without_checkout(
    tx: db.Tx, via_id: uuid.UUID | None, user_id: uuid.UUID
) -> None:
    """A reconciliation account's password, used to change another account's, is a use of
    its secret: while the reconciliation account is under access control, a user's manual
    change through it (``rotation/reset``) needs an open check-out of it held by that very
    user — else anyone with full permission on the other account would use a password the
    control guards outside any window (attacker finding 6, session 8; the rule of
    ``refuse_secret_change_without_checkout``, issue 26 item 7). The schedule (the system)
    is not a user and may use it. ``via_id`` None (no reconciliation account): nothing.

    Raises:
        Conflict ``checkout_required`` naming the reconciliation account.
    """
    if via_id is None:
        return
    via = await tx.fetchrow("SELECT id, resource_id, username FROM accounts WHERE id = $1", via_id)
    if via is None:
        return
    state = await tx.fetchrow_one(
        "SELECT * FROM account_access($1, $2, $3)", via["id"], via["resource_id"], user_id
    )
    if state["controlled"] and not state["mine"]:
        raise coded(
            Conflict,
            "checkout_required",
            f"the reconciliation account {via['username']!r} is under access control: a "
            "change through it needs your approved check-out of it (request it: POST "
            "…/password-requests), or let the schedule make the change",
        )


async def refuse_target_name_choice(
    tx: db.Tx, actor: Actor, org: OrgRef, resource_id: uuid.UUID
) -> None:
    """Which user on the target an account names decides whose password the resource's
    reconciliation account changes (a reset, the schedule, a check-in): naming it — adding an
    account to a resource whose connection has a reconciliation account, or changing the
    user name of one of its accounts — is a use of that account's power, so it needs what a
    reset through it needs: full permission on the reconciliation account and, while it is
    under access control, an open check-out of it held by this user. Else a user with full
    permission on one account would rename it to another user of the target (``root``), let
    the system change that user's password and read it (attacker pass, session 9).

    Raises:
        Forbidden ``reconciliation_use_required``; Conflict ``checkout_required``.
    """
    via_id = await tx.fetchval(
        "SELECT reconciliation_account_id FROM resource_connections WHERE resource_id = $1",
        resource_id,
    )
    if via_id is None:
        return
    permission = await entitlement.account_permission(tx, actor, org, via_id)
    if not entitlement.allows(permission, "edit"):
        raise coded(
            Forbidden,
            "reconciliation_use_required",
            "this resource's passwords are changed on the target through its reconciliation "
            "account: adding an account here or changing an account's user name chooses "
            "whose password that account changes, so it needs full permission on the "
            "reconciliation account",
        )
    await refuse_reconciliation_without_checkout(tx, via_id, actor.user_id)


def is_account_id(account_id: str) -> bool:
    """Whether a path's account id is well-formed (``parse_id`` would take it)."""
    try:
        parse_id(account_id, "account")
    except NotFound:
        return False
    return True


async def reveal_password_with_token(
    env: Env,
    token: str,
    ip: str,
    org_name: str,
    account_id: str,
    reason: str | None,
    known: Callable[[Actor], None],
) -> dict[str, Any]:
    """``reveal_password`` for a request whose bearer token is checked by the reveal's own
    statement (issue 28: one round trip per reveal, where the door's check made two):
    ``reveal_accounts_with_tokens`` authenticates ``token`` exactly as the door does
    (``authenticate_token``) and only then reveals, in one transaction. ``known`` is
    handed the actor as soon as the token is accepted (a refusal's audit names it).

    Only for a well-formed token (``tokens.parse``) on a node that keeps no session in
    memory (the middleware decides: server/web/auth_middleware.py).

    Raises:
        Unauthenticated: as the door (``auth.token_actor``). Forbidden
        ``password_change_required`` / ``totp_setup_required``: the first-login gates
        (nothing was revealed or recorded). The refusals of ``reveal_password``.
    """
    parsed = tokens.parse(token)
    if parsed is None:
        raise Unauthenticated("the token is not valid")
    kind, home = parsed
    aid = parse_id(account_id, "account")
    row = await entitlement.reveal_with_token(
        env.token_reveals,
        home,
        tokens.token_hash(token),
        kind == tokens.SESSION_PREFIX,
        datetime.timedelta(minutes=env.config.security.session_idle_minutes),
        org_name,
        aid,
        ip,
        reason,
        env.node,
    )
    actor = await auth.token_actor(env, kind, home, row, ip)
    known(actor)
    auth.refuse_before_setup(actor)
    return await _revealed(env, actor, org_name, aid, row, reason)


def refuse_use(row: Mapping[str, Any] | None, name: str) -> None:
    """Raise the refusal ``use_account``'s answer ``row`` carries (a reveal's, or a
    brokered session's, sql/functions/reveal_account.sql); return when access is 'ok'.

    Raises:
        Unauthenticated: the session or API key ended, or the user was disabled.
        NotFound: no such org (or out of reach), no such account (or not entitled).
        ValidationFailed ``reason_required``. Conflict ``checked_out`` / Forbidden
        ``checkout_required``: the check-out rule. Forbidden ``connect_only``: the account
        is used through the SSH gateway only, its password never shown (issue 30).
    """
    if row is None:
        raise NotFound("no such account")
    if row["access"] == "user_disabled":
        raise Unauthenticated("this user is disabled")
    if row["access"] == "credential_ended":
        raise Unauthenticated("the session has ended or the API key is not valid; log in again")
    if row["access"] == "no_org":
        raise NotFound(f"no organization named {name!r}")
    if row["access"] == "reason_required":
        raise field_error(
            "reason",
            "this organization requires a reason to reveal a password",
            code="reason_required",
        )
    if row["access"] == "held":
        raise coded(
            Conflict,
            "checked_out",
            f"checked out to {row['holder']} until {row['held_until'].isoformat()}",
            holder=row["holder"],
            until=row["held_until"].isoformat(),
        )
    if row["access"] == "connect_only":
        raise coded(
            Forbidden,
            "connect_only",
            "this account is set to connect only: open a session to it through the SSH "
            "gateway (ssh -t -p 2222 USER@VAULT connect RESOURCE/ACCOUNT); its password is "
            "never shown",
        )
    if row["access"] != "ok":
        raise coded(
            Forbidden,
            "checkout_required",
            "this password is under access control: request it (POST "
            f"/orgs/{row['org_name']}/password-requests) and reveal it once approved",
        )
