"""Password access control: approval before reveal, time-limited exclusive check-out, check-in.

An account (or a resource, as the default for its accounts) may be put under access
control: its approvers (users and groups of the org), how many approvals a request
needs, the longest window, whether a check-out is exclusive and whether check-in
generates a new password. A user entitled to the account files a request with a reason
and a window; once enough eligible approvers agree, the window opens and the requester
may reveal the password (each reveal audited as usual) until it checks the password in
or the window ends. The reveal itself is gated in the database (``account_access`` and
``reveal_account`` in sql/013), so no path reveals a controlled password outside a
check-out. Approvers must be independent of the requester: ``dual_control``'s rule.
This follows the guide's password access control and the check-out workflows of
Passwordstate and Vault's control groups.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, coded, field_error
from server.core.ids import parse_id
from server.services import dual_control, recording, rotation
from server.services.access import MSP_ORG, OrgArg, OrgRef, enter_org, msp_org_id
from server.services.context import Actor, Env
from server.services.vault import _account, _password_for, _resource
from server.store import db
from server.store.audit import Who

REQUEST_TTL = datetime.timedelta(hours=24)  # an unanswered request expires after this
SYSTEM = Who("system", MSP_ORG)


_CONTROL = (
    "SELECT c.* FROM access_controls c WHERE c.account_id = $1 OR c.resource_id = $2 "
    "ORDER BY (c.account_id IS NOT NULL) DESC LIMIT 1"
)
_REQUEST_SELECT = """
SELECT q.*, a.username AS account, a.resource_id, r.name AS resource,
       CASE WHEN q.status = 'pending' AND q.expires_at <= now() THEN 'expired'
            WHEN q.status = 'approved' AND now() >= q.ends_at THEN 'ended'
            ELSE q.status END AS state,
       array(SELECT p.approver_name FROM password_request_approvals p
              WHERE p.request_id = q.id ORDER BY p.approved_at) AS approved_by
FROM password_requests q JOIN accounts a ON a.id = q.account_id
JOIN resources r ON r.id = a.resource_id
"""


def request_json(row: asyncpg.Record, needed: int | None = None) -> dict[str, Any]:
    """A password request as the API shows it; ``state`` is ``pending``, ``approved``
    (window open), ``ended`` (window over, not yet checked in), ``checked_in``,
    ``rejected``, ``withdrawn`` or ``expired``."""
    when = {
        k: row[k].isoformat() if row[k] else None
        for k in ("created_at", "expires_at", "decided_at", "starts_at", "ends_at", "checked_in_at")
    }
    out = {
        "id": str(row["id"]),
        "account_id": str(row["account_id"]),
        "account": row["account"],
        "resource_id": str(row["resource_id"]),
        "resource": row["resource"],
        "requester": row["requester_name"],
        "requester_org": row["requester_org"],
        "reason": row["reason"],
        "window_minutes": row["window_minutes"],
        "status": row["state"],
        "decision_reason": row["decision_reason"],
        "approved_by": list(row["approved_by"]),
        "checked_in_by": row["checked_in_by"] or None,
        **when,
    }
    if needed is not None:
        out["approvals_needed"] = needed
    return out


def control_json(
    row: Mapping[str, Any] | None, names: dict[uuid.UUID, str], inherited: bool
) -> dict[str, Any]:
    """An access control as the API shows it (``enabled: false`` when there is none)."""
    if row is None:
        return {"enabled": False, "inherited_from": None}
    return {
        "enabled": row["enabled"],
        "approvers": sorted(names[u] for u in row["approver_users"] if u in names),
        "approver_groups": sorted(names[g] for g in row["approver_groups"] if g in names),
        "approvals_needed": row["approvals_needed"],
        "max_window_minutes": row["max_window_minutes"],
        "exclusive": row["exclusive"],
        "rotate_on_checkin": row["rotate_on_checkin"],
        "inherited_from": "resource" if inherited else None,
    }


async def _names(tx: db.Tx, org: OrgRef, row: Mapping[str, Any] | None) -> dict[uuid.UUID, str]:
    """The names of a control's approver users and groups, by id."""
    if row is None:
        return {}
    users = await tx.fetch(
        "SELECT id, username AS name FROM users WHERE id = ANY($1::uuid[])", row["approver_users"]
    )
    groups = await tx.fetch(
        "SELECT id, name FROM user_groups WHERE id = ANY($1::uuid[])", row["approver_groups"]
    )
    return {r["id"]: r["name"] for r in [*users, *groups]}


async def _target(
    tx: db.Tx, actor: Actor, org: OrgRef, kind: str, ref: str, action: str
) -> tuple[uuid.UUID | None, uuid.UUID, str]:
    """(account_id or None, resource_id, label) of a control's target, if the actor may."""
    if kind == "account":
        row, _ = await _account(tx, actor, org, ref, action)
        account_id: uuid.UUID = row["id"]
        resource_id: uuid.UUID = row["resource_id"]
        return account_id, resource_id, f"{row['resource']}/{row['username']}"
    row, _ = await _resource(tx, actor, org, ref, action)
    resource_id = row["id"]
    name: str = row["name"]
    return None, resource_id, name


async def get_control(
    env: Env, actor: Actor, org_name: OrgArg, kind: str, ref: str
) -> dict[str, Any]:
    """The access control in force on an account (its own or its resource's), or on a
    resource. Needs view permission on the target."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        account_id, resource_id, _ = await _target(tx, actor, org, kind, ref, "reveal")
        row = await tx.fetchrow(_CONTROL, account_id, resource_id)
        inherited = row is not None and account_id is not None and row["account_id"] is None
        return control_json(row, await _names(tx, org, row), inherited)


async def set_control(
    env: Env, actor: Actor, org_name: OrgArg, kind: str, ref: str, data: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """Put an account or resource under access control, strengthen it, or ask to weaken
    it: needs full permission on it. Approvers name users and groups of the org.

    A change that weakens the control in force (``control_weakenings``) is not applied:
    it becomes an access control change request that the control's current approvers
    decide (issue 26, item 7), whoever asks, owner included.

    Returns:
        (True, the control now in force) or (False, the change request filed).
    Raises:
        ValidationFailed for unknown approvers or out-of-range numbers;
        ``no_eligible_approver`` (422) for a weakening none of the control's approvers
        may approve; Conflict ``request_pending`` when the caller already asks to change it.
    """
    needed = data.get("approvals_needed", 1)
    window = data.get("max_window_minutes", 60)
    errors = []
    if not 1 <= needed <= 5:
        errors.append({"field": "approvals_needed", "message": "must be between 1 and 5"})
    if not 1 <= window <= 10080:
        errors.append(
            {"field": "max_window_minutes", "message": "must be between 1 and 10080 (7 days)"}
        )
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        account_id, resource_id, label = await _target(tx, actor, org, kind, ref, "edit")
        # Every problem of the form at once, not one per attempt (newcomer pass, session 11).
        users = await _ids(
            tx, org, "users", "username", data.get("approvers", []), "approvers", errors
        )
        groups = await _ids(
            tx,
            org,
            "user_groups",
            "name",
            data.get("approver_groups", []),
            "approver_groups",
            errors,
        )
        named = data.get("approvers") or data.get("approver_groups")
        if data["enabled"] and not named:
            errors.append(
                {"field": "approvers", "message": "name at least one approver (a user or a group)"}
            )
        elif data["enabled"] and 1 <= needed <= 5:
            able = await tx.fetchval(_APPROVER_ACCOUNTS, users, groups)
            if 0 < able < needed:  # none able: approver_cannot_approve says why, below
                # Accepted, it could never be approved (newcomer pass, session 12): said at
                # the first request only. Persons apart are checked at each request.
                errors.append(
                    {
                        "field": "approvals_needed",
                        "message": f"{needed} approvals needed, but the approvers named are "
                        f"{able} active user{'' if able == 1 else 's'}: name more, or need fewer",
                    }
                )
        if errors:
            raise ValidationFailed(errors)
        proposed = {
            "enabled": data["enabled"],
            "approver_users": users,
            "approver_groups": groups,
            "approvals_needed": needed,
            "max_window_minutes": window,
            "exclusive": data.get("exclusive", True),
            "rotate_on_checkin": data.get("rotate_on_checkin", False),
        }
        current = await _control_in_force(tx, account_id, resource_id, lock=True)
        if data["enabled"]:
            await refuse_useless_approvers(tx, org, users, groups, current)
        if proposed["rotate_on_checkin"] and not (current and current["rotate_on_checkin"]):
            await rotation.refuse_rotation_without_connection(tx, account_id, resource_id)
        weakens = control_weakenings(current, proposed)
        if weakens:
            assert current is not None  # nothing in force weakens nothing
            return False, await _file_change(
                tx, env, actor, org, (account_id, resource_id, label), current, proposed, weakens
            )
        row = await _write_control(
            tx, env, org, actor.who, kind, (account_id, resource_id, label), proposed, {}
        )
        return True, control_json(row, await _names(tx, org, row), False)


async def _control_in_force(
    tx: db.Tx, account_id: uuid.UUID | None, resource_id: uuid.UUID, lock: bool = False
) -> asyncpg.Record | None:
    """The control an access control change on this target replaces: an account's own
    or inherited one, a resource's own one. With ``lock``, changes of one resource's
    controls (its own and its accounts') take turns until the transaction ends."""
    if lock:
        await tx.execute("SELECT 1 FROM resources WHERE id = $1 FOR UPDATE", resource_id)
    if account_id is not None:
        return await tx.fetchrow(_CONTROL, account_id, resource_id)
    return await tx.fetchrow(
        "SELECT * FROM access_controls WHERE resource_id = $1 AND account_id IS NULL",
        resource_id,
    )


async def _write_control(
    tx: db.Tx,
    env: Env,
    org: OrgRef,
    who: Who,
    kind: str,
    target: tuple[uuid.UUID | None, uuid.UUID, str],
    control: dict[str, Any],
    details: dict[str, Any],
) -> asyncpg.Record:
    """Put ``control`` in force on ``target`` (account_id or None, resource_id, label)
    and record ``access_control_changed`` (with ``details``); the new row."""
    account_id, resource_id, label = target
    column, key = ("account_id", account_id) if account_id else ("resource_id", resource_id)
    await tx.execute(f"DELETE FROM access_controls WHERE {column} = $1", key)
    row = await tx.fetchrow_one(
        f"INSERT INTO access_controls (org_id, {column}, enabled, approver_users, "
        "approver_groups, approvals_needed, max_window_minutes, exclusive, "
        "rotate_on_checkin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
        org.id,
        key,
        control["enabled"],
        control["approver_users"],
        control["approver_groups"],
        control["approvals_needed"],
        control["max_window_minutes"],
        control["exclusive"],
        control["rotate_on_checkin"],
    )
    await recording.writer(tx, env, org.id, who).record(
        "access_control_changed",
        target_type=kind,
        target=label,
        details={
            "enabled": row["enabled"],
            "approvers": len(row["approver_users"]) + len(row["approver_groups"]),
            "approvals_needed": row["approvals_needed"],
            "max_window_minutes": row["max_window_minutes"],
            "exclusive": row["exclusive"],
            "rotate_on_checkin": row["rotate_on_checkin"],
            **details,
        },
    )
    return row


# The active users among the approvers named (users, and members of the groups named).
_APPROVER_ACCOUNTS = (
    "SELECT count(*) FROM users WHERE status = 'active' AND (id = ANY($1::uuid[]) OR id IN "
    "(SELECT user_id FROM group_members WHERE group_id = ANY($2::uuid[])))"
)


async def _ids(
    tx: db.Tx,
    org: OrgRef,
    table: str,
    column: str,
    names: list[str],
    field: str,
    errors: list[dict[str, str]] | None = None,
) -> list[uuid.UUID]:
    """Ids of the org's users or groups by name. A missing one fails the field: raised
    (ValidationFailed), or with ``errors`` added to that list (those found returned)."""
    if not names:
        return []
    match = "name_fold(name) = name_fold(n)" if column == "name" else "lower(username) = lower(n)"
    rows = await tx.fetch(
        f"SELECT n, (SELECT id FROM {table} WHERE org_id = $1 AND {match}) AS id "
        "FROM unnest($2::text[]) AS n",
        org.id,
        names,
    )
    missing = [r["n"] for r in rows if r["id"] is None]
    if missing:
        message = f"not in {org.display_name}: " + ", ".join(missing)
        if errors is None:
            raise field_error(field, message)
        errors.append({"field": field, "message": message})
    return list(dict.fromkeys(r["id"] for r in rows if r["id"] is not None))


async def _eligible(
    tx: db.Tx, org: OrgRef, msp_id: uuid.UUID, control: asyncpg.Record, requester_id: uuid.UUID
) -> dict[uuid.UUID, str]:
    """The control's approvers who may decide for ``requester_id``: active, trusted users
    of the org (directly or through a named group), independent of the requester
    (``approver_states``, which also says why the others may not)."""
    states = await approver_states(tx, org, msp_id, control, requester_id)
    return {s["id"]: s["username"] for s in states if s["eligible"]}


async def _load(tx: db.Tx, org: OrgRef, request_id: str, lock: bool = False) -> asyncpg.Record:
    """One password request of the org (``_REQUEST_SELECT``), locked if ``lock``; NotFound."""
    rid = parse_id(request_id, "password request")
    row = await tx.fetchrow(
        _REQUEST_SELECT
        + " WHERE q.id = $1 AND q.org_id = $2"
        + (" FOR UPDATE OF q" if lock else ""),
        rid,
        org.id,
    )
    if row is None:
        raise NotFound("no such password request")
    return row


async def _audit(
    tx: db.Tx,
    env: Env,
    org: OrgRef,
    who: Who,
    operation: str,
    row: asyncpg.Record,
    **details: Any,
) -> None:
    """Record a step of request ``row`` on its account (``reason`` among ``details``
    becomes the event's reason)."""
    await recording.writer(tx, env, org.id, who).record(
        operation,
        target_type="account",
        target=f"{row['resource']}/{row['account']}",
        reason=details.pop("reason", None),
        details={"request_id": str(row["id"]), "account_id": str(row["account_id"]), **details},
    )


async def file_request(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Ask to check out a controlled password for ``window_minutes`` with a reason.

    Raises:
        NotFound (not entitled), Conflict ``not_controlled`` / ``request_pending``,
        ValidationFailed (window too long) and ``no_eligible_approver`` (422).
    """
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        account, _ = await _account(tx, actor, org, data["account"], "reveal")
        control = await tx.fetchrow(_CONTROL, account["id"], account["resource_id"])
        if control is None or not control["enabled"]:
            raise coded(Conflict, "not_controlled", "this password needs no request: reveal it")
        # Both problems at once, not one per attempt (newcomer pass, session 11).
        errors = []
        if not 1 <= data["window_minutes"] <= control["max_window_minutes"]:
            message = f"must be between 1 and {control['max_window_minutes']}"
            errors.append({"field": "window_minutes", "message": message})
        msp_id = await msp_org_id(tx)
        if not await _eligible(tx, org, msp_id, control, actor.user_id):
            why = await no_approver_reasons(tx, org, msp_id, control, actor.user_id)
            message = f"no approver of this password can approve your request: {why}"
            errors.insert(0, {"field": "account", "message": message})
            refusal = ValidationFailed(errors, message)
            refusal.code = "no_eligible_approver"
            raise refusal
        if errors:
            raise ValidationFailed(errors)
        if await tx.fetchval(
            "SELECT EXISTS (SELECT 1 FROM password_requests WHERE account_id = $1 AND "
            "requester_id = $2 AND ((status = 'pending' AND expires_at > now()) OR "
            "(status = 'approved' AND ends_at > now())))",
            account["id"],
            actor.user_id,
        ):
            raise coded(Conflict, "request_pending", "you already have a request for it")
        rid: uuid.UUID = await tx.fetchval(
            "INSERT INTO password_requests (org_id, account_id, requester_id, requester_name, "
            "requester_org, reason, window_minutes, expires_at) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, now() + $8::interval) RETURNING id",
            org.id,
            account["id"],
            actor.user_id,
            actor.username,
            actor.org,
            data["reason"],
            data["window_minutes"],
            REQUEST_TTL,
        )
        row = await _load(tx, org, str(rid))
        await _audit(
            tx,
            env,
            org,
            actor.who,
            "password_access_requested",
            row,
            reason=data["reason"],
            window_minutes=data["window_minutes"],
        )
        return request_json(row, control["approvals_needed"])


async def list_requests(
    env: Env, actor: Actor, org_name: OrgArg, role: str | None, status: str | None
) -> list[dict[str, Any]]:
    """Requests of the org I filed (``role=requester``), may decide (``role=approver``),
    or both (no role); newest first, at most the 500 latest."""
    if role not in (None, "approver", "requester"):
        raise field_error("role", "must be approver or requester")
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        msp_id = await msp_org_id(tx)
        rows = await tx.fetch(
            _REQUEST_SELECT + " WHERE q.org_id = $1 ORDER BY q.created_at DESC LIMIT 500", org.id
        )
        out = []
        for row in rows:
            if status and row["state"] != status:
                continue
            mine = row["requester_id"] == actor.user_id
            control = await tx.fetchrow(_CONTROL, row["account_id"], row["resource_id"])
            deciding = (
                not mine
                and control is not None
                and actor.user_id in await _eligible(tx, org, msp_id, control, row["requester_id"])
            )
            if (
                (role == "requester" and mine)
                or (role == "approver" and deciding)
                or (role is None and (mine or deciding))
            ):
                needed = control["approvals_needed"] if control else None
                out.append(request_json(row, needed))
        return out


async def decide(
    env: Env, actor: Actor, org_name: OrgArg, request_id: str, approve: bool, reason: str
) -> dict[str, Any]:
    """An eligible approver approves (the window opens once enough have) or rejects.

    Raises:
        Forbidden ``approver_not_eligible``; Conflict ``request_not_pending`` /
        ``request_expired`` / ``checked_out`` (an exclusive password is held by another).
    """
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await _load(tx, org, request_id, lock=True)
        # Decisions on one account take turns: two approvals at once must not open two
        # exclusive windows.
        await tx.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", row["account_id"])
        row = await _load(tx, org, request_id)
        if row["state"] == "expired":
            raise coded(Conflict, "request_expired", "this request has expired")
        if row["state"] != "pending":
            raise coded(Conflict, "request_not_pending", f"this request is {row['state']}")
        control = await tx.fetchrow(_CONTROL, row["account_id"], row["resource_id"])
        msp_id = await msp_org_id(tx)
        if control is None or actor.user_id not in await _eligible(
            tx, org, msp_id, control, row["requester_id"]
        ):
            problem = await dual_control.independence_problem(
                tx, actor.user_id, row["requester_id"], org.id, msp_id
            )
            raise coded(
                Forbidden,
                "approver_not_eligible",
                problem or "you are not an approver of this password",
            )
        if not approve:
            await tx.execute(
                "UPDATE password_requests SET status = 'rejected', decision_reason = $2, "
                "decided_at = now() WHERE id = $1",
                row["id"],
                reason,
            )
            await _audit(tx, env, org, actor.who, "password_access_rejected", row, reason=reason)
            return request_json(await _load(tx, org, request_id), control["approvals_needed"])
        await tx.execute(
            "INSERT INTO password_request_approvals (org_id, request_id, approver_id, "
            "approver_name) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            org.id,
            row["id"],
            actor.user_id,
            actor.username,
        )
        approvals: int = await tx.fetchval(
            "SELECT count(*) FROM password_request_approvals WHERE request_id = $1", row["id"]
        )
        opened = approvals >= control["approvals_needed"]
        if opened:
            await _refuse_if_held(tx, row["account_id"], row["resource_id"], row["requester_id"])
            await tx.execute(
                "UPDATE password_requests SET status = 'approved', decided_at = now(), "
                "decision_reason = $2, starts_at = now(), "
                "ends_at = now() + make_interval(mins => window_minutes) WHERE id = $1",
                row["id"],
                reason,
            )
            await tx.execute(
                "INSERT INTO open_checkouts (request_id, org_id, ends_at) "
                "SELECT id, org_id, ends_at FROM password_requests WHERE id = $1",
                row["id"],
            )
        await _audit(
            tx,
            env,
            org,
            actor.who,
            "password_access_approved",
            row,
            reason=reason or None,
            approvals=approvals,
            window_open=opened,
        )
        return request_json(await _load(tx, org, request_id), control["approvals_needed"])


async def _refuse_if_held(
    tx: db.Tx, account_id: uuid.UUID, resource_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Refuse while an exclusive password is checked out to someone else."""
    # account_access answers one row for any arguments (sql/functions/account_access.sql).
    state = await tx.fetchrow_one(
        "SELECT * FROM account_access($1, $2, $3)", account_id, resource_id, user_id
    )
    if state["exclusive"] and state["holder"] is not None and not state["mine"]:
        raise coded(
            Conflict,
            "checked_out",
            f"checked out to {state['holder']}@{state['holder_org']} until "
            f"{state['held_until'].isoformat()}",
            holder=f"{state['holder']}@{state['holder_org']}",
            until=state["held_until"].isoformat(),
        )


async def withdraw(env: Env, actor: Actor, org_name: OrgArg, request_id: str) -> dict[str, Any]:
    """The requester withdraws a pending request."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await _load(tx, org, request_id, lock=True)
        if row["requester_id"] != actor.user_id:
            raise Forbidden("only the requester withdraws a request")
        if row["state"] != "pending":
            raise coded(Conflict, "request_not_pending", f"this request is {row['state']}")
        await tx.execute(
            "UPDATE password_requests SET status = 'withdrawn', decided_at = now() WHERE id = $1",
            row["id"],
        )
        await _audit(tx, env, org, actor.who, "password_access_withdrawn", row)
        return request_json(await _load(tx, org, request_id))


async def check_in(env: Env, actor: Actor, org_name: OrgArg, request_id: str) -> dict[str, Any]:
    """The holder gives the password back — or an administrator of the org forces it
    (audited as forced). With rotation on, a new password is generated under the
    account's policy and stored; the old one is never shown again.

    Raises:
        Forbidden (neither holder nor administrator), Conflict ``not_checked_out``.
    """
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await _load(tx, org, request_id, lock=True)
        holder = row["requester_id"] == actor.user_id
        if not holder and not (permissions.is_administrator(actor) and org.via == "home"):
            raise Forbidden("only the holder or an administrator of the org checks it in")
        if row["state"] not in ("approved", "ended"):
            raise coded(Conflict, "not_checked_out", f"this request is {row['state']}")
        out = await _check_in(tx, env, org, row, actor.who, forced=not holder)
    return await _rotate_on_target(env, org.id, out, actor.who)


async def _check_in(
    tx: db.Tx, env: Env, org: OrgRef, row: asyncpg.Record, who: Who, forced: bool
) -> dict[str, Any]:
    """Check in request ``row`` (locked by the caller) as ``who``, rotating the password
    if the control says so; the request as the API shows it, with ``rotated`` and
    ``secret_fields_to_change``.

    Rotation generates a new password only: free-text secret additional fields cannot be
    generated, so the check-in does not claim them rotated. It names the secret fields
    the holder could read (``secret_fields_to_change``, in the answer, the audit event
    and on the account until someone changes them; issue 26, item 11)."""
    control = await tx.fetchrow(_CONTROL, row["account_id"], row["resource_id"])
    await tx.execute(
        "UPDATE password_requests SET status = 'checked_in', checked_in_at = now(), "
        "checked_in_by = $2, ends_at = least(ends_at, now()) WHERE id = $1",
        row["id"],
        f"{who.actor}@{who.actor_org}",
    )
    await tx.execute("DELETE FROM open_checkouts WHERE request_id = $1", row["id"])
    rotated = bool(control and control["rotate_on_checkin"])
    unchanged: list[str] = []
    # Issue 29: with a connection to the target, the change is made there once this
    # commits (_rotate_on_target); the vault-only change stays for controls made before.
    on_target = rotated and await rotation.has_connection(tx, row["resource_id"])
    if on_target:
        await rotation.mark_change_due(tx, org.id, row["account_id"])
        unchanged = list(
            await tx.fetchval(
                "UPDATE accounts SET secret_fields_to_change = secret_field_names "
                "WHERE id = $1 RETURNING secret_field_names",
                row["account_id"],
            )
        )
    if rotated and not on_target:
        policy_name: str = await tx.fetchval(
            "SELECT policy FROM accounts WHERE id = $1", row["account_id"]
        )
        password, policy, _ = await _password_for(tx, org, policy_name, {"generate": True})
        sealed = await env.ring.encrypt(
            tx, org.id, "accounts", row["account_id"], "password", password
        )
        unchanged = list(
            await tx.fetchval(
                "UPDATE accounts SET password = $2, password_changed_at = now(), "
                "updated_at = now(), secret_fields_to_change = secret_field_names "
                "WHERE id = $1 RETURNING secret_field_names",
                row["account_id"],
                sealed,
            )
        )
        await _audit(tx, env, org, who, "password_changed", row, generated=True, policy=policy.name)
    await _audit(
        tx,
        env,
        org,
        who,
        "password_checked_in",
        row,
        forced=forced,
        rotated=rotated,
        **({"fields_to_change": unchanged} if unchanged else {}),
    )
    out = request_json(await _load(tx, org, str(row["id"])))
    out = {**out, "rotated": rotated, "secret_fields_to_change": unchanged}
    return out | ({"rotated_on_target": False} if on_target else {})


async def holds(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """Who holds which controlled password until when (the org's administrators)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        if not permissions.is_administrator(actor):
            raise Forbidden("only administrators see who holds which password")
        rows = await tx.fetch(
            _REQUEST_SELECT + " WHERE q.org_id = $1 AND q.status = 'approved' ORDER BY q.ends_at",
            org.id,
        )
        return [request_json(r) for r in rows]


async def sweep(env: Env) -> int:
    """Check in every check-out whose window has ended (rotating where configured), as
    the system; returns how many. Run by the primary's server every few seconds."""
    done = 0
    async with db.transaction(env.pool) as tx:
        ended = await tx.fetch(
            "SELECT org_id, request_id FROM open_checkouts WHERE ends_at <= now() "
            "ORDER BY ends_at LIMIT 100"
        )
    for item in ended:
        async with db.transaction(env.pool, item["org_id"]) as tx:
            org_row = await tx.fetchrow("SELECT * FROM orgs WHERE id = $1", item["org_id"])
            if org_row is None:  # deleted since: its check-outs went with it (ON DELETE CASCADE)
                continue
            org = OrgRef(
                org_row["id"],
                org_row["display_name"],
                org_row["name"],
                org_row["is_msp"],
                org_row["account_manager_id"],
                org_row["vault_control"],
                "system",
            )
            row = await _load(tx, org, str(item["request_id"]), lock=True)
            out = None
            if row["state"] == "ended":
                out = await _check_in(tx, env, org, row, SYSTEM, forced=False)
                done += 1
        if out is not None:
            await _rotate_on_target(env, org.id, out, SYSTEM)
    return done


# -- weakening an access control is a request of its own (issue 26, item 7) -----------

CHANGE_REQUEST_TTL = REQUEST_TTL  # an unanswered change request expires after this
_CHANGE_SELECT = """
SELECT c.*, CASE WHEN c.status = 'pending' AND c.expires_at <= now() THEN 'expired'
                 ELSE c.status END AS state
FROM access_control_requests c
"""


def control_weakenings(current: Mapping[str, Any] | None, proposed: Mapping[str, Any]) -> list[str]:
    """THE rule of what weakens an access control: the settings in which ``proposed``
    (a control as ``access_controls`` holds it) is weaker than the control in force,
    ``current`` (None: none); an empty list when it may apply at once.

    Nothing in force, or a control switched off, cannot be weakened: enabling and
    strengthening apply at once. Of a control in force, switching it off, fewer approvals,
    a longer window, exclusivity or rotation on check-in turned off, and any change of
    its approvers (users or groups: who decides is the control) weaken it. Source:
    issue 26, item 7 ("weakening or removing an access control needs the control's
    approvers' approval").
    """
    if current is None or not current["enabled"]:
        return []
    if not proposed["enabled"]:
        return ["enabled"]
    found = []
    if set(proposed["approver_users"]) != set(current["approver_users"]) or set(
        proposed["approver_groups"]
    ) != set(current["approver_groups"]):
        found.append("approvers")
    if proposed["approvals_needed"] < current["approvals_needed"]:
        found.append("approvals_needed")
    if proposed["max_window_minutes"] > current["max_window_minutes"]:
        found.append("max_window_minutes")
    if current["exclusive"] and not proposed["exclusive"]:
        found.append("exclusive")
    if current["rotate_on_checkin"] and not proposed["rotate_on_checkin"]:
        found.append("rotate_on_checkin")
    return found


def _snapshot(control: Mapping[str, Any]) -> dict[str, Any]:
    """A control's settings as a change request keeps them (JSON, approvers sorted)."""
    return {
        "enabled": control["enabled"],
        "approver_users": sorted(str(u) for u in control["approver_users"]),
        "approver_groups": sorted(str(g) for g in control["approver_groups"]),
        "approvals_needed": control["approvals_needed"],
        "max_window_minutes": control["max_window_minutes"],
        "exclusive": control["exclusive"],
        "rotate_on_checkin": control["rotate_on_checkin"],
    }


def _unsnap(snapshot: str | Mapping[str, Any]) -> dict[str, Any]:
    """A kept snapshot as a control (approvers as ids again)."""
    data = json.loads(snapshot) if isinstance(snapshot, str) else dict(snapshot)
    data["approver_users"] = [uuid.UUID(u) for u in data["approver_users"]]
    data["approver_groups"] = [uuid.UUID(g) for g in data["approver_groups"]]
    return data


async def _change_json(tx: db.Tx, org: OrgRef, row: asyncpg.Record) -> dict[str, Any]:
    """An access control change request as the API shows it; ``status`` is ``pending``,
    ``approved`` (applied), ``rejected``, ``withdrawn`` or ``expired``."""
    current, proposed = _unsnap(row["current"]), _unsnap(row["proposed"])
    names = await _names(
        tx,
        org,
        {
            "approver_users": [*current["approver_users"], *proposed["approver_users"]],
            "approver_groups": [*current["approver_groups"], *proposed["approver_groups"]],
        },
    )
    return {
        "id": str(row["id"]),
        "target_type": "account" if row["account_id"] else "resource",
        "target_id": str(row["account_id"] or row["resource_id"]),
        "target": row["target"],
        "requester": row["requester_name"],
        "requester_org": row["requester_org"],
        "weakens": list(row["weakens"]),
        "current": control_json(current, names, False),
        "proposed": control_json(proposed, names, False),
        "status": row["state"],
        "approvals_needed": current["approvals_needed"],
        "approved_by": list(row["approved_by"]),
        "decided_by": row["decided_by"] or None,
        "decision_reason": row["decision_reason"],
        **{
            k: row[k].isoformat() if row[k] else None
            for k in ("created_at", "expires_at", "decided_at")
        },
    }


async def _file_change(
    tx: db.Tx,
    env: Env,
    actor: Actor,
    org: OrgRef,
    target: tuple[uuid.UUID | None, uuid.UUID, str],
    current: asyncpg.Record,
    proposed: dict[str, Any],
    weakens: list[str],
) -> dict[str, Any]:
    """File the request to put ``proposed`` in force instead of ``current`` on
    ``target``, once an approver of ``current`` independent of the actor agrees."""
    account_id, resource_id, label = target
    msp_id = await msp_org_id(tx)
    if not await _eligible(tx, org, msp_id, current, actor.user_id):
        why = await no_approver_reasons(tx, org, msp_id, current, actor.user_id)
        raise field_error(
            "approvers",
            "this change weakens the access control and needs the approval of one of its "
            f"approvers, but none of them can approve it: {why}. Another user with full "
            "permission here, who is a person apart from them, can ask for it instead, and "
            "the approvers then approve it",
            code="no_eligible_approver",
        )
    if await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM access_control_requests WHERE requester_id = $1 AND "
        "account_id IS NOT DISTINCT FROM $2 AND (account_id IS NOT NULL OR resource_id = $3) "
        "AND status = 'pending' AND expires_at > now())",
        actor.user_id,
        account_id,
        resource_id,
    ):
        raise coded(
            Conflict,
            "request_pending",
            "you already asked to change this access control: withdraw that request first",
        )
    row = await tx.fetchrow_one(
        "INSERT INTO access_control_requests (org_id, account_id, resource_id, target, "
        "requester_id, requester_name, requester_org, proposed, current, weakens, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, now() + $11::interval) "
        "RETURNING *, 'pending' AS state",
        org.id,
        account_id,
        None if account_id else resource_id,
        label,
        actor.user_id,
        actor.username,
        actor.org,
        json.dumps(_snapshot(proposed)),
        json.dumps(_snapshot(current)),
        weakens,
        CHANGE_REQUEST_TTL,
    )
    await _change_audit(tx, env, org, actor.who, "access_control_change_requested", row)
    return await _change_json(tx, org, row)


async def _change_audit(
    tx: db.Tx, env: Env, org: OrgRef, who: Who, operation: str, row: asyncpg.Record, **extra: Any
) -> None:
    """Record a step of access control change request ``row`` on its target."""
    await recording.writer(tx, env, org.id, who).record(
        operation,
        target_type="account" if row["account_id"] else "resource",
        target=row["target"],
        reason=extra.pop("reason", None) or None,
        details={"request_id": str(row["id"]), "weakens": list(row["weakens"]), **extra},
    )


async def _load_change(
    tx: db.Tx, org: OrgRef, request_id: str, lock: bool = False
) -> asyncpg.Record:
    """One access control change request of the org, locked if ``lock``; NotFound."""
    rid = parse_id(request_id, "access control request")
    row = await tx.fetchrow(
        _CHANGE_SELECT + " WHERE c.id = $1 AND c.org_id = $2" + (" FOR UPDATE" if lock else ""),
        rid,
        org.id,
    )
    if row is None:
        raise NotFound("no such access control request")
    return row


async def list_control_requests(
    env: Env, actor: Actor, org_name: OrgArg, role: str | None, status: str | None
) -> list[dict[str, Any]]:
    """Access control change requests of the org I filed (``role=requester``), may
    decide (``role=approver``: I am an approver of the control in force, independent of
    the requester), or both; newest first, at most the 500 latest."""
    if role not in (None, "approver", "requester"):
        raise field_error("role", "must be approver or requester")
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        msp_id = await msp_org_id(tx)
        rows = await tx.fetch(
            _CHANGE_SELECT + " WHERE c.org_id = $1 ORDER BY c.created_at DESC LIMIT 500", org.id
        )
        out = []
        for row in rows:
            if status and row["state"] != status:
                continue
            mine = row["requester_id"] == actor.user_id
            deciding = False
            if not mine and role != "requester":
                resource_id = row["resource_id"] or await tx.fetchval(
                    "SELECT resource_id FROM accounts WHERE id = $1", row["account_id"]
                )
                control = await _control_in_force(tx, row["account_id"], resource_id)
                deciding = control is not None and actor.user_id in await _eligible(
                    tx, org, msp_id, control, row["requester_id"]
                )
            if (role != "approver" and mine) or (role != "requester" and deciding):
                out.append(await _change_json(tx, org, row))
        return out


async def decide_control_request(
    env: Env, actor: Actor, org_name: OrgArg, request_id: str, approve: bool, reason: str
) -> dict[str, Any]:
    """An approver of the control in force, independent of the requester, approves an
    access control change (applied once the control's ``approvals_needed`` have) or
    rejects it.

    Raises:
        Forbidden ``approver_not_eligible``; Conflict ``request_not_pending`` /
        ``request_expired`` / ``control_changed`` (the control in force is no longer the
        one the request would replace: file a new one).
    """
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await _load_change(tx, org, request_id, lock=True)
        if row["state"] == "expired":
            raise coded(Conflict, "request_expired", "this request has expired")
        if row["state"] != "pending":
            raise coded(Conflict, "request_not_pending", f"this request is {row['state']}")
        resource_id = row["resource_id"] or await tx.fetchval(
            "SELECT resource_id FROM accounts WHERE id = $1", row["account_id"]
        )
        control = await _control_in_force(tx, row["account_id"], resource_id, lock=True)
        msp_id = await msp_org_id(tx)
        if control is None or actor.user_id not in await _eligible(
            tx, org, msp_id, control, row["requester_id"]
        ):
            problem = await dual_control.independence_problem(
                tx, actor.user_id, row["requester_id"], org.id, msp_id
            )
            raise coded(
                Forbidden,
                "approver_not_eligible",
                problem or "you are not an approver of this access control",
            )
        if _snapshot(control) != json.loads(row["current"]):
            raise coded(
                Conflict,
                "control_changed",
                "the access control changed since this request was filed: ask again",
            )
        if not approve:
            row = await tx.fetchrow_one(
                "UPDATE access_control_requests SET status = 'rejected', decided_at = now(), "
                "decided_by = $2, decision_reason = $3 WHERE id = $1 RETURNING *, status AS state",
                row["id"],
                f"{actor.username}@{actor.org}",
                reason,
            )
            await _change_audit(
                tx, env, org, actor.who, "access_control_change_rejected", row, reason=reason
            )
            return await _change_json(tx, org, row)
        if actor.user_id not in row["approver_ids"]:
            row = await tx.fetchrow_one(
                "UPDATE access_control_requests SET approver_ids = approver_ids || $2::uuid, "
                "approved_by = approved_by || $3::text WHERE id = $1 "
                "RETURNING *, status AS state",
                row["id"],
                actor.user_id,
                f"{actor.username}@{actor.org}",
            )
        applied = len(row["approver_ids"]) >= control["approvals_needed"]
        if applied:
            kind = "account" if row["account_id"] else "resource"
            await _write_control(
                tx,
                env,
                org,
                actor.who,
                kind,
                (row["account_id"], resource_id, row["target"]),
                _unsnap(row["proposed"]),
                {
                    "request_id": str(row["id"]),
                    "requested_by": f"{row['requester_name']}@{row['requester_org']}",
                    "approved_by": list(row["approved_by"]),
                },
            )
            row = await tx.fetchrow_one(
                "UPDATE access_control_requests SET status = 'approved', decided_at = now(), "
                "decided_by = $2, decision_reason = $3 WHERE id = $1 RETURNING *, status AS state",
                row["id"],
                f"{actor.username}@{actor.org}",
                reason,
            )
        await _change_audit(
            tx,
            env,
            org,
            actor.who,
            "access_control_change_approved",
            row,
            reason=reason,
            approvals=len(row["approver_ids"]),
            applied=applied,
        )
        return await _change_json(tx, org, row)


async def withdraw_control_request(
    env: Env, actor: Actor, org_name: OrgArg, request_id: str
) -> dict[str, Any]:
    """The requester withdraws its pending access control change request.

    Raises:
        Forbidden (not the requester), Conflict ``request_not_pending``.
    """
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await _load_change(tx, org, request_id, lock=True)
        if row["requester_id"] != actor.user_id:
            raise Forbidden("only the requester withdraws a request")
        if row["state"] != "pending":
            raise coded(Conflict, "request_not_pending", f"this request is {row['state']}")
        row = await tx.fetchrow_one(
            "UPDATE access_control_requests SET status = 'withdrawn', decided_at = now() "
            "WHERE id = $1 RETURNING *, status AS state",
            row["id"],
        )
        await _change_audit(tx, env, org, actor.who, "access_control_change_withdrawn", row)
        return await _change_json(tx, org, row)


# -- who can approve a check-out, and why not (issue 27, item 2) --------------------------


async def approver_states(
    tx: db.Tx, org: OrgRef, msp_id: uuid.UUID, control: Mapping[str, Any], requester_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Every user a control names as approver (directly or through a named group), with
    whether it may decide for ``requester_id`` and, if not, why: disabled, an unconfirmed
    client user (``user_trusted``), or not independent of the requester
    (``dual_control.independence_problem``'s sentence). THE check-out approver rule:
    ``_eligible`` keeps the eligible ones (issue 27, item 2).

    Returns:
        ``[{"id", "username", "full_name", "eligible", "reason"}]`` in username order.
    """
    rows = await tx.fetch(
        "SELECT u.id, u.username, u.full_name, u.status, user_trusted(u.id, $1) AS trusted "
        "FROM users u WHERE u.org_id = $1 AND (u.id = ANY($2::uuid[]) OR u.id IN "
        "(SELECT user_id FROM group_members WHERE group_id = ANY($3::uuid[]))) "
        "ORDER BY lower(u.username)",
        org.id,
        control["approver_users"],
        control["approver_groups"],
    )
    states = []
    for row in rows:
        name = row["username"]
        if row["status"] != "active":
            reason: str | None = f"{name} is disabled"
        elif not row["trusted"]:
            reason = (
                f"{name} is an unconfirmed user of {org.display_name}: it approves nothing "
                f"until a confirmed administrator of {org.display_name} confirms it"
            )
        else:
            reason = await dual_control.independence_problem(
                tx, row["id"], requester_id, org.id, msp_id
            )
        states.append(
            {
                "id": row["id"],
                "username": name,
                "full_name": row["full_name"],
                "eligible": reason is None,
                "reason": reason,
            }
        )
    return states


async def _empty_groups(tx: db.Tx, group_ids: list[uuid.UUID]) -> list[str]:
    """The names of the groups among ``group_ids`` that have no members."""
    rows = await tx.fetch(
        "SELECT name FROM user_groups g WHERE id = ANY($1::uuid[]) AND NOT EXISTS "
        "(SELECT 1 FROM group_members m WHERE m.group_id = g.id) ORDER BY lower(name)",
        group_ids,
    )
    return [r["name"] for r in rows]


async def no_approver_reasons(
    tx: db.Tx, org: OrgRef, msp_id: uuid.UUID, control: Mapping[str, Any], requester_id: uuid.UUID
) -> str:
    """Why none of a control's approvers may decide for ``requester_id``: each approver's
    reason and each empty group, for the ``no_eligible_approver`` refusal."""
    reasons = [
        s["reason"] if s["reason"].startswith(s["username"]) else f"{s['username']}: {s['reason']}"
        for s in await approver_states(tx, org, msp_id, control, requester_id)
        if s["reason"]
    ]
    reasons += [
        f"group {g} has no members" for g in await _empty_groups(tx, control["approver_groups"])
    ]
    return "; ".join(reasons) or "the control names no approver"


async def refuse_useless_approvers(
    tx: db.Tx,
    org: OrgRef,
    users: list[uuid.UUID],
    groups: list[uuid.UUID],
    current: Mapping[str, Any] | None,
) -> None:
    """Refuse, when a control is set, approvers it adds that can never approve anyone: a
    disabled user, an unconfirmed client user, an empty group (issue 27, item 2). Approvers
    the control in force already names are left to its own rules (removing them is a
    weakening that they decide).

    Raises:
        ValidationFailed ``approver_cannot_approve`` (422) naming each and why.
    """
    old_users = set(current["approver_users"]) if current else set()
    old_groups = set(current["approver_groups"]) if current else set()
    new_users = [u for u in users if u not in old_users]
    new_groups = [g for g in groups if g not in old_groups]
    problems = []
    if new_users:
        rows = await tx.fetch(
            "SELECT username, status, user_trusted(id, $1) AS trusted FROM users "
            "WHERE org_id = $1 AND id = ANY($2::uuid[]) ORDER BY lower(username)",
            org.id,
            new_users,
        )
        for row in rows:
            if row["status"] != "active":
                problems.append(f"{row['username']} is disabled")
            elif not row["trusted"]:
                problems.append(
                    f"{row['username']} is an unconfirmed user of {org.display_name} and "
                    f"approves nothing until a confirmed administrator of {org.display_name} "
                    "confirms it"
                )
    for name in await _empty_groups(tx, new_groups):
        problems.append(f"group {name} has no members, so nobody could approve through it")
    if problems:
        raise field_error(
            "approvers",
            "these approvers could never approve a check-out: " + "; ".join(problems),
            code="approver_cannot_approve",
        )


async def checkout_approvers(
    env: Env, actor: Actor, org_name: OrgArg, account_ref: str
) -> dict[str, Any]:
    """``GET /orgs/{org}/password-requests/eligible-approvers?account=``: the approvers of
    the control in force on an account the caller may reveal, each with whether it could
    approve the caller's check-out and, if not, why (``approver_states``).

    Raises:
        NotFound (not entitled), Conflict ``not_controlled``.
    """
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        account, _ = await _account(tx, actor, org, account_ref, "reveal")
        control = await tx.fetchrow(_CONTROL, account["id"], account["resource_id"])
        if control is None or not control["enabled"]:
            raise coded(Conflict, "not_controlled", "this password needs no request: reveal it")
        msp_id = await msp_org_id(tx)
        states = await approver_states(tx, org, msp_id, control, actor.user_id)
        empty = await _empty_groups(tx, control["approver_groups"])
    return {
        "approvals_needed": control["approvals_needed"],
        "candidates": [{k: v for k, v in s.items() if k != "id"} for s in states],
        "empty_groups": empty,
    }


async def _rotate_on_target(
    env: Env, org_id: uuid.UUID, out: dict[str, Any], who: Who
) -> dict[str, Any]:
    """After a check-in committed: change the password on the target when the check-in
    asked for it (issue 29); ``rotated_on_target`` says whether it was changed there
    (false: the old password stays current, the failure is recorded on the account and
    the schedule retries it)."""
    if "rotated_on_target" not in out:
        return out
    changed = await rotation.rotate_at_check_in(
        env, org_id, uuid.UUID(out["account_id"]), out["id"], who
    )
    return out | {"rotated": changed, "rotated_on_target": changed}
