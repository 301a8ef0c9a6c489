"""Passwords changed on the systems they open (issue 29): a resource's connection to its
target, the safe two-phase change, verification, password history, schedules.

THE rule of a change (``_change``), one per account at a time (``account_rotation.busy``):

1. claim the account and seal the new password as *pending* (generated under the
   account's policy, or given and checked against it), audited as
   ``password_rotation_started``; the current password stays current;
2. change it on the target through the resource's connector (as the account itself, or
   through the resource's reconciliation account);
3. verify by logging in with the new password;
4. make it current: the previous value goes to the account's password history (sealed),
   ``password_changed`` is recorded (``on_target``).

A target that is unreachable or refuses leaves the current password untouched and records
the failure with its reason (``password_rotation_failed``), with a retry time that backs
off. A pending change left by a crash or a failover is resolved (``resolve``) by checking
which of the old and the new password logs in. Nothing secret goes into logs, audit
details or error text. Who may do what is the vault's rule (server/services/entitlement.py):
a reset needs modify (and the check-out rule), verify needs view, the connection and the
history need full.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    StrongroomError,
    coded,
    field_error,
)
from server.core.ids import parse_id
from server.security import tls
from server.services import connectors, entitlement, outbound, recording, sharing
from server.services.access import MSP_ORG, OrgArg, OrgRef, enter_org
from server.services.connectors import Connector, Login, Target, TargetError
from server.services.context import Actor, Env
from server.services.policies import find_policy
from server.services.rotation_state import STATE_SELECT, state_json
from server.services.vault import (
    _account,
    _password_for,
    _resource,
    refuse_reconciliation_without_checkout,
    refuse_secret_change_without_checkout,
)
from server.store import db
from server.store.audit import Who

log = logging.getLogger(__name__)
SYSTEM = Who("system", MSP_ORG)
STALE_BUSY = datetime.timedelta(minutes=10)  # an operation older than this was interrupted
BACKOFF_FIRST = datetime.timedelta(minutes=1)
BACKOFF_MAX = datetime.timedelta(hours=6)
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


class TargetFailed(StrongroomError):
    """The target could not be reached or refused (502): the current password is unchanged
    and the failure is recorded on the account."""

    status = 502
    title = "Target failed"


def _target_failed(exc: TargetError, what: str) -> TargetFailed:
    code = exc.reason if exc.reason.startswith("host_key") else f"target_{exc.reason}"
    err = TargetFailed(f"{what}: {exc.message}", reason=exc.reason)
    err.code = code
    return err


# -- a resource's connection to its target ----------------------------------------------


def connection_json(row: Mapping[str, Any] | None, via_username: str | None) -> dict[str, Any]:
    """A resource's connection as the API shows it (``configured`` false when none)."""
    if row is None:
        return {"configured": False}
    connector = connectors.get(row["connector"])
    return {
        "configured": True,
        "connector": row["connector"],
        "connector_title": connector.title if connector else row["connector"],
        "host": row["host"],
        "port": row["port"],
        "host_key": row["host_key"],
        "host_key_set_by": row["host_key_set_by"],
        "pins_host_key": bool(connector and connector.pins_host_key),
        "reconciliation_account": (
            str(row["reconciliation_account_id"]) if row["reconciliation_account_id"] else None
        ),
        "reconciliation_username": via_username,
        "options": json.loads(row["options"]) if isinstance(row["options"], str) else {},
        "max_parallel": row["max_parallel"],
        "updated_at": row["updated_at"].isoformat(),
    }


async def _connection_answer(tx: db.Tx, resource_id: uuid.UUID) -> dict[str, Any]:
    row = await tx.fetchrow(
        "SELECT c.*, v.username AS via_username FROM resource_connections c "
        "LEFT JOIN accounts v ON v.id = c.reconciliation_account_id WHERE c.resource_id = $1",
        resource_id,
    )
    return connection_json(row, row["via_username"] if row else None)


def list_connectors() -> list[dict[str, Any]]:
    """The connectors this server offers: name, title, resource types, fields, options."""
    return [
        {
            "name": c.name,
            "title": c.title,
            "resource_types": sorted(c.resource_types),
            "fields": list(c.fields),
            "options": list(c.options),
            "default_port": c.default_port,
            "pins_host_key": c.pins_host_key,
        }
        for c in connectors.CONNECTORS.values()
    ]


async def get_connection(
    env: Env, actor: Actor, org_name: OrgArg, resource_id: str
) -> dict[str, Any]:
    """A resource's connection settings (view permission on the resource)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _resource(tx, actor, org, resource_id, None)
        return await _connection_answer(tx, row["id"])


async def _reconciliation_account(
    tx: db.Tx, actor: Actor, org: OrgRef, resource_id: uuid.UUID, ref: str
) -> uuid.UUID:
    """The reconciliation account ``ref`` names: an account of the same resource (so of
    the same org; row-level security hides every other org's) on which the actor has full
    permission. Raises ValidationFailed ``reconciliation_account_invalid``."""
    refused = field_error(
        "reconciliation_account",
        "must be an account of this resource on which you have full permission",
        code="reconciliation_account_invalid",
    )
    try:
        aid = parse_id(ref, "account")
    except StrongroomError:
        raise refused from None
    found = await tx.fetchval(
        "SELECT resource_id FROM accounts WHERE id = $1 AND org_id = $2", aid, org.id
    )
    if found != resource_id:
        raise refused
    permission = await entitlement.account_permission(tx, actor, org, aid)
    if not entitlement.allows(permission, "edit"):
        raise refused
    return aid


async def set_connection(
    env: Env, actor: Actor, org_name: OrgArg, resource_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Set a resource's connection (full permission on the resource): connector, host,
    port, pinned host key (entered by hand, or the fingerprint ``scan_host_key`` showed
    and the administrator confirmed), reconciliation account, options. A new host or
    port without a key clears the pin. Audited as ``target_connection_changed``.

    Raises:
        ValidationFailed ``unknown_connector``, ``connector_type_mismatch``,
        ``host_key_invalid``, ``reconciliation_account_invalid``, ``unknown_option``.
    """
    connector = connectors.get(data["connector"])
    if connector is None:
        raise field_error(
            "connector",
            f"no connector named {data['connector']!r} (known: {', '.join(connectors.CONNECTORS)})",
            code="unknown_connector",
        )
    options = dict(data.get("options") or {})
    unknown = sorted(set(options) - set(connector.options))
    if unknown:
        raise field_error(
            "options",
            f"{connector.title} takes no option {unknown[0]!r} (it takes: "
            f"{', '.join(connector.options) or 'none'})",
            code="unknown_option",
        )
    problem = connector.options_problem(options)
    if problem:
        raise field_error(f"options.{problem[0]}", problem[1], code="option_invalid")
    await outbound.refuse_forbidden(
        "host", data["host"], data.get("port") or 0, env.config.outbound.allow_loopback
    )
    host_key = data.get("host_key")
    if host_key and connector.pins_host_key and not _FINGERPRINT.match(host_key):
        raise field_error(
            "host_key",
            "must be an SSH SHA-256 fingerprint as ssh-keygen -l shows it (SHA256:…, 43 chars)",
            code="host_key_invalid",
        )
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        resource, _ = await _resource(tx, actor, org, resource_id, "edit")
        if not connector.serves(resource["type"]):
            raise field_error(
                "connector",
                f"{connector.title} does not serve resources of type {resource['type']!r} "
                f"(it serves: {', '.join(sorted(connector.resource_types))})",
                code="connector_type_mismatch",
            )
        current = await tx.fetchrow(
            "SELECT * FROM resource_connections WHERE resource_id = $1 FOR UPDATE",
            resource["id"],
        )
        port = data.get("port") or connector.default_port
        via = None
        if data.get("reconciliation_account"):
            via = await _reconciliation_account(
                tx, actor, org, resource["id"], data["reconciliation_account"]
            )
        moves = (
            current is None
            or (
                current["connector"],
                current["host"],
                current["port"],
                current["reconciliation_account_id"],
            )
            != (connector.name, data["host"], port, via)
            or (host_key is not None and host_key != current["host_key"])
        )
        await refuse_connection_change_without_checkout(tx, resource["id"], actor, moves)
        if host_key is None:  # not given: keep the pin while the target stays the same
            same = current is not None and (current["host"], current["port"]) == (
                data["host"],
                port,
            )
            host_key = current["host_key"] if same and current is not None else ""
            set_by = current["host_key_set_by"] if same and current is not None else ""
        else:
            set_by = f"{actor.username}@{actor.org}" if host_key else ""
        await tx.execute(
            "INSERT INTO resource_connections (resource_id, org_id, connector, host, port, "
            "host_key, host_key_set_by, reconciliation_account_id, options, max_parallel) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10) "
            "ON CONFLICT (resource_id) DO UPDATE SET connector = $3, host = $4, port = $5, "
            "host_key = $6, host_key_set_by = $7, reconciliation_account_id = $8, "
            "options = $9::jsonb, max_parallel = $10, updated_at = now()",
            resource["id"],
            org.id,
            connector.name,
            data["host"],
            port,
            host_key,
            set_by,
            via,
            json.dumps(options),
            data.get("max_parallel") or 4,
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "target_connection_changed",
            target_type="resource",
            target=resource["name"],
            details={
                "resource_id": str(resource["id"]),
                "connector": connector.name,
                "host": data["host"],
                "port": port,
                "fingerprint": host_key,
                "fingerprint_changed": current is None or current["host_key"] != host_key,
                "reconciliation_account_id": str(via) if via else None,
                "options_changed": options_changed(
                    _stored_options(current) if current is not None else {}, options
                ),
            },
        )
        return await _connection_answer(tx, resource["id"])


async def refuse_connection_change_without_checkout(
    tx: db.Tx, resource_id: uuid.UUID, actor: Actor, moves: bool = True
) -> None:
    """A resource's connection says where its accounts' passwords are sent (to log in,
    to change them): while one of its accounts is under access control, only a user
    holding an open check-out of each such account changes it — else a user with full
    permission could point the connection at a host of its own and have the server send
    it a password the control guards (the rule of ``refuse_secret_change_without_checkout``,
    issue 26 item 7, applied to the connection; issue 29).

    Raises:
        Conflict ``checkout_required``; Conflict ``checkout_open`` while a check-out that
        rotates at check-in is open on one of its accounts and the change ``moves`` the
        target (connector, host, port, pinned key or reconciliation account).
    """
    blocked = await tx.fetchval(
        "SELECT a.username FROM accounts a, LATERAL account_access(a.id, a.resource_id, $2) x "
        "WHERE a.resource_id = $1 AND x.controlled AND NOT x.mine "
        "ORDER BY lower(a.username) LIMIT 1",
        resource_id,
        actor.user_id,
    )
    if blocked is not None:
        raise coded(
            Conflict,
            "checkout_required",
            f"account {blocked!r} of this resource is under access control: the connection "
            "(where its password is sent) is changed only by a user holding a check-out of "
            "each such account",
        )
    # A check-out whose check-in rotates the password must be rotated where it was used:
    # pointed elsewhere while it is open, the check-in would change the password on another
    # host and leave the one its holder knew working on the target (attacker pass,
    # session 9). Whoever holds it, the connection waits for the check-in.
    if not moves:
        return
    rotating = await tx.fetchval(
        "SELECT a.username FROM accounts a, LATERAL account_access(a.id, a.resource_id, $2) x "
        "WHERE a.resource_id = $1 AND x.controlled AND x.rotate AND x.holder IS NOT NULL "
        "ORDER BY lower(a.username) LIMIT 1",
        resource_id,
        actor.user_id,
    )
    if rotating is not None:
        raise coded(
            Conflict,
            "checkout_open",
            f"account {rotating!r} of this resource is checked out and its check-in changes "
            "its password on this target: the connection can change once it is checked in",
        )


async def delete_connection(env: Env, actor: Actor, org_name: OrgArg, resource_id: str) -> None:
    """Remove a resource's connection (full permission); its accounts are then changed in
    the vault only. Refused while an access control rotates them at check-in."""
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        resource, _ = await _resource(tx, actor, org, resource_id, "edit")
        await refuse_connection_change_without_checkout(tx, resource["id"], actor)
        rotating = await tx.fetchval(
            "SELECT EXISTS (SELECT 1 FROM access_controls c LEFT JOIN accounts a "
            "ON a.id = c.account_id WHERE c.rotate_on_checkin AND c.enabled AND "
            "(c.resource_id = $1 OR a.resource_id = $1))",
            resource["id"],
        )
        if rotating:
            raise coded(
                Conflict,
                "connection_in_use",
                "an access control rotates this resource's passwords at check-in: turn that "
                "off first, or the vault and the target would disagree",
            )
        await tx.execute("DELETE FROM resource_connections WHERE resource_id = $1", resource["id"])
        await recording.writer(tx, env, org.id, actor.who).record(
            "target_connection_changed",
            target_type="resource",
            target=resource["name"],
            details={"resource_id": str(resource["id"]), "removed": True},
        )


async def scan_host_key(
    env: Env, actor: Actor, org_name: OrgArg, resource_id: str
) -> dict[str, Any]:
    """The fingerprint of the key the resource's target presents now (no login), and
    whether it is the pinned one: what the administrator confirms before the first change
    (full permission on the resource).

    Raises:
        Conflict ``no_connection``; TargetFailed (502) when the target cannot be reached.
    """
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        resource, _ = await _resource(tx, actor, org, resource_id, "edit")
        row = await tx.fetchrow(
            "SELECT * FROM resource_connections WHERE resource_id = $1", resource["id"]
        )
    if row is None:
        raise _no_connection()
    connector = connectors.get(row["connector"])
    if connector is None or not connector.pins_host_key:
        raise coded(Conflict, "no_host_key", "this connector pins no host key")
    try:
        await reachable(env, _target(row))
        presented = await connector.host_key(_target(row))
    except TargetError as exc:
        raise _target_failed(exc, "the host key could not be read") from None
    return {
        "presented": presented,
        "pinned": row["host_key"],
        "matches": bool(row["host_key"]) and presented == row["host_key"],
    }


def _no_connection() -> Conflict:
    return coded(
        Conflict,
        "no_connection",
        "this account's resource has no connection to its target: set one first "
        "(PUT /orgs/{org}/resources/{id}/connection)",
    )


def _target(row: Mapping[str, Any]) -> Target:
    options = row["options"]
    return Target(
        host=row["host"],
        port=row["port"],
        host_key=row["host_key"],
        options=json.loads(options) if isinstance(options, str) else dict(options or {}),
    )


# -- the engine -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """One account and what a change or verification of it needs (no secret)."""

    org_id: uuid.UUID
    account_id: uuid.UUID
    resource_id: uuid.UUID
    username: str
    resource: str
    policy: str
    connector: Connector
    target: Target
    via_id: uuid.UUID | None
    max_parallel: int = 4

    @property
    def label(self) -> str:
        """The account as the audit names it: '<resource>/<account>'."""
        return f"{self.resource}/{self.username}"


async def _job(tx: db.Tx, account_id: uuid.UUID) -> _Job:
    """The job of one account in the transaction's org. Raises Conflict ``no_connection``."""
    row = await tx.fetchrow(
        "SELECT a.id, a.org_id, a.resource_id, a.username, a.policy, r.name AS resource, "
        "c.connector, c.host, c.port, c.host_key, c.options, c.reconciliation_account_id, "
        "c.max_parallel "
        "FROM accounts a JOIN resources r ON r.id = a.resource_id "
        "LEFT JOIN resource_connections c ON c.resource_id = a.resource_id WHERE a.id = $1",
        account_id,
    )
    if row is None:
        raise NotFound("no such account")
    connector = connectors.get(row["connector"]) if row["connector"] else None
    if connector is None:
        raise _no_connection()
    via = row["reconciliation_account_id"]
    return _Job(
        org_id=row["org_id"],
        account_id=row["id"],
        resource_id=row["resource_id"],
        username=row["username"],
        resource=row["resource"],
        policy=row["policy"],
        connector=connector,
        target=_target(row),
        via_id=via if via != row["id"] else None,
        max_parallel=row["max_parallel"],
    )


async def _claim(tx: db.Tx, env: Env, job: _Job, kind: str) -> asyncpg.Record:
    """Take the account for one operation (``change`` or ``verify``); its state row.

    Raises:
        Conflict ``rotation_in_progress``: another operation holds it (one at a time).
    """
    row = await tx.fetchrow(
        "INSERT INTO account_rotation (account_id, org_id, busy, busy_since, busy_node) "
        "VALUES ($1, $2, $3, now(), $4) ON CONFLICT (account_id) DO UPDATE SET "
        "busy = EXCLUDED.busy, busy_since = now(), busy_node = EXCLUDED.busy_node "
        "WHERE account_rotation.busy = '' RETURNING pending_since",
        job.account_id,
        job.org_id,
        kind,
        env.node,
    )
    if row is None:
        raise coded(
            Conflict,
            "rotation_in_progress",
            "a password change or verification of this account is already running",
        )
    return row


@dataclass
class _Secrets:
    current: str
    pending: str | None
    via: Login | None


async def _secrets(env: Env, job: _Job) -> _Secrets:
    """The passwords an operation needs, decrypted (``rotation_secrets``: only while it
    holds the account), once the target's address is one the server may reach
    (``reachable``). Raises TargetError ``no_reconciliation_account``, ``not_allowed``."""
    await reachable(env, job.target)
    async with db.transaction(env.pool, job.org_id, readonly=True) as tx:
        row = await tx.fetchrow("SELECT * FROM rotation_secrets($1)", job.account_id)
        if row is None:
            raise TargetError("misconfigured", "the account is not held by this operation")
        ring = env.ring
        current = await ring.decrypt(
            tx, job.org_id, "accounts", job.account_id, "password", row["password"]
        )
        pending = None
        if row["pending"] is not None:
            pending = await ring.decrypt(
                tx, job.org_id, "account_rotation", job.account_id, "pending", row["pending"]
            )
        via = None
        if job.via_id is not None:
            if row["via_id"] is None:
                raise TargetError("no_reconciliation_account")
            via = Login(
                row["via_username"],
                await ring.decrypt(
                    tx, job.org_id, "accounts", row["via_id"], "password", row["via_password"]
                ),
            )
    return _Secrets(current, pending, via)


def _backoff(failures: int) -> datetime.timedelta:
    return min(BACKOFF_FIRST * (1 << min(max(0, failures - 1), 20)), BACKOFF_MAX)


async def _release_failed(
    env: Env, job: _Job, who: Who, exc: TargetError, *, keep_pending: bool, stage: str
) -> None:
    """Record a failed change: the current password untouched, the pending one dropped
    (or kept when neither works), the reason and the retry time; audited."""
    async with db.transaction(env.pool, job.org_id) as tx:
        # (the app role may write the pending column, never read it: no CASE on it)
        drop = "" if keep_pending else "pending = NULL, pending_since = NULL, "
        failures = await tx.fetchval(
            f"UPDATE account_rotation SET busy = '', busy_since = NULL, {drop}"
            "last_change_at = now(), last_change_ok = false, last_change_reason = $2, "
            "failures = failures + 1 WHERE account_id = $1 RETURNING failures",
            job.account_id,
            f"{exc.reason}: {exc.message}"[:500],
        )
        await tx.execute(
            "UPDATE account_rotation SET retry_at = now() + $2::interval WHERE account_id = $1",
            job.account_id,
            _backoff(failures or 1),
        )
        writer = recording.writer(tx, env, job.org_id, who)
        await writer.record(
            "password_rotation_failed",
            target_type="account",
            target=job.label,
            outcome="failure",
            reason=exc.reason,
            details={
                "account_id": str(job.account_id),
                "connector": job.connector.name,
                "stage": stage,
                "message": exc.message,
                "pending_kept": keep_pending,
            },
        )
        if exc.reason == "host_key_changed":
            await writer.record(
                "target_host_key_refused",
                target_type="resource",
                target=job.resource,
                outcome="failure",
                reason="host_key_changed",
                details={
                    "resource_id": str(job.resource_id),
                    "pinned_fingerprint": job.target.host_key,
                    "presented_fingerprint": exc.extra.get("presented", ""),
                },
            )


async def _make_current(
    env: Env, job: _Job, who: Who, new: str, old: str, how: str, details: dict[str, Any]
) -> None:
    """Phase 4: the new password becomes current, the old one goes to the history."""
    async with db.transaction(env.pool, job.org_id) as tx:
        sealed = await env.ring.encrypt(tx, job.org_id, "accounts", job.account_id, "password", new)
        history_id = uuid.uuid4()
        sealed_old = await env.ring.encrypt(
            tx, job.org_id, "password_history", history_id, "password", old
        )
        await tx.execute(
            "INSERT INTO password_history (id, org_id, account_id, password, replaced_by, how) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            history_id,
            job.org_id,
            job.account_id,
            sealed_old,
            f"{who.actor}@{who.actor_org}",
            how,
        )
        await tx.execute(
            "UPDATE accounts SET password = $2, password_changed_at = now(), updated_at = now() "
            "WHERE id = $1",
            job.account_id,
            sealed,
        )
        await tx.execute(
            "UPDATE account_rotation SET busy = '', busy_since = NULL, pending = NULL, "
            "pending_since = NULL, last_change_at = now(), last_change_ok = true, "
            "last_change_reason = '', last_verify_at = now(), last_verify_ok = true, "
            "last_verify_reason = '', change_due = false, failures = 0, retry_at = NULL "
            "WHERE account_id = $1",
            job.account_id,
        )
        await recording.writer(tx, env, job.org_id, who).record(
            "password_changed",
            target_type="account",
            target=job.label,
            details={
                "account_id": str(job.account_id),
                "on_target": True,
                "connector": job.connector.name,
                "how": how,
                **details,
            },
        )


async def _change(
    env: Env,
    job: _Job,
    who: Who,
    new_password: str | None,
    how: str,
    generated: bool,
    cause: Mapping[str, str] | None = None,
) -> None:
    """THE two-phase change of one account (see the module's docstring). ``new_password``
    None: generate one under the account's policy. ``cause``: what asked the system for
    the change (a check-in: its request and who checked in), in the audit details.
    Raises TargetFailed (502) after recording the failure, Conflict
    ``rotation_in_progress``."""
    async with db.transaction(env.pool, job.org_id) as tx:
        state = await _claim(tx, env, job, "change")
        if new_password is None:
            org = OrgRef(job.org_id, "", "", False, None, "", "system")
            new_password, _, _ = await _password_for(tx, org, job.policy, {"generate": True})
            generated = True
        problem = job.connector.unusable(new_password)
        if problem:
            raise field_error("password", problem, code="password_unusable_on_target")
        if state["pending_since"] is None:
            sealed = await env.ring.encrypt(
                tx, job.org_id, "account_rotation", job.account_id, "pending", new_password
            )
            await tx.execute(
                "UPDATE account_rotation SET pending = $2, pending_since = now() "
                "WHERE account_id = $1",
                job.account_id,
                sealed,
            )
        await recording.writer(tx, env, job.org_id, who).record(
            "password_rotation_started",
            target_type="account",
            target=job.label,
            details={
                "account_id": str(job.account_id),
                "connector": job.connector.name,
                "through_reconciliation": job.via_id is not None,
                "generated": generated,
                "how": how,
                "earlier_pending": state["pending_since"] is not None,
                **(cause or {}),
            },
        )
    if state["pending_since"] is not None:
        # A change left pending earlier is settled first; this one is not made.
        await _resolve_held(env, job, who)
        raise coded(
            Conflict,
            "rotation_in_progress",
            "an earlier change of this account was still pending: it has been settled "
            "(see the account's last change); ask again",
        )
    await _apply(env, job, who, how, {"generated": generated, **(cause or {})})


async def _apply(env: Env, job: _Job, who: Who, how: str, details: dict[str, Any]) -> None:
    """Phases 2-4 for an account held with a pending password."""
    try:
        secrets = await _secrets(env, job)
    except TargetError as exc:
        await _release_failed(env, job, who, exc, keep_pending=False, stage="prepare")
        raise _target_failed(exc, "the password was not changed") from None
    assert secrets.pending is not None
    account = Login(job.username, secrets.current)
    try:
        await job.connector.change_password(job.target, account, secrets.pending, secrets.via)
    except TargetError as exc:
        if not exc.maybe_changed:
            await _release_failed(env, job, who, exc, keep_pending=False, stage="change")
            raise _target_failed(exc, "the password was not changed") from None
        await _resolve_held(env, job, who, secrets)
        raise _target_failed(exc, "the change was interrupted and has been checked") from None
    try:
        await job.connector.verify(job.target, Login(job.username, secrets.pending))
    except TargetError:
        # The target said yes but the new password does not log in: settle which works.
        await _resolve_held(env, job, who, secrets)
        raise _target_failed(
            TargetError("login_failed", "the new password did not log in after the change"),
            "the change could not be verified",
        ) from None
    await _make_current(env, job, who, secrets.pending, secrets.current, how, details)


async def _resolve_held(env: Env, job: _Job, who: Who, secrets: _Secrets | None = None) -> str:
    """Settle an account held with a pending password (a change interrupted, or not
    verified): the new one logs in → it becomes current; else the old one does → the
    pending one is dropped; else neither → the pending one is kept for another try. The
    outcome (``new``, ``old``, ``neither``) is audited as ``password_rotation_resolved``."""
    if secrets is None:
        try:
            secrets = await _secrets(env, job)
        except TargetError as exc:
            await _release_failed(env, job, who, exc, keep_pending=True, stage="resolve")
            return "neither"
    if secrets.pending is None:
        await _release(env, job)
        return "none"
    try:
        await job.connector.verify(job.target, Login(job.username, secrets.pending))
        works = "new"
    except TargetError:
        try:
            await job.connector.verify(job.target, Login(job.username, secrets.current))
            works = "old"
        except TargetError as exc:
            works = "neither"
            failure = exc
    async with db.transaction(env.pool, job.org_id) as tx:
        await recording.writer(tx, env, job.org_id, who).record(
            "password_rotation_resolved",
            target_type="account",
            target=job.label,
            details={"account_id": str(job.account_id), "working": works},
        )
    if works == "new":
        await _make_current(
            env, job, who, secrets.pending, secrets.current, "rotation", {"resolved": True}
        )
    elif works == "old":
        await _release_failed(
            env,
            job,
            who,
            TargetError("refused", "the change did not take: the old password still works"),
            keep_pending=False,
            stage="resolve",
        )
    else:
        await _release_failed(env, job, who, failure, keep_pending=True, stage="resolve")
    return works


async def _release(env: Env, job: _Job) -> None:
    async with db.transaction(env.pool, job.org_id) as tx:
        await tx.execute(
            "UPDATE account_rotation SET busy = '', busy_since = NULL WHERE account_id = $1",
            job.account_id,
        )


async def _verify(env: Env, job: _Job, who: Who) -> dict[str, Any]:
    """Log in with the current password; record the outcome (``password_verified``)."""
    async with db.transaction(env.pool, job.org_id) as tx:
        await _claim(tx, env, job, "verify")
    failure: TargetError | None = None
    try:
        secrets = await _secrets(env, job)
        await job.connector.verify(job.target, Login(job.username, secrets.current))
    except TargetError as exc:
        failure = exc
    async with db.transaction(env.pool, job.org_id) as tx:
        await tx.execute(
            "UPDATE account_rotation SET busy = '', busy_since = NULL, last_verify_at = now(), "
            "last_verify_ok = $2, last_verify_reason = $3 WHERE account_id = $1",
            job.account_id,
            failure is None,
            "" if failure is None else f"{failure.reason}: {failure.message}"[:500],
        )
        writer = recording.writer(tx, env, job.org_id, who)
        await writer.record(
            "password_verified",
            target_type="account",
            target=job.label,
            outcome="success" if failure is None else "failure",
            reason=None if failure is None else failure.reason,
            details={
                "account_id": str(job.account_id),
                "connector": job.connector.name,
                **({"message": failure.message} if failure else {}),
            },
        )
        if failure is not None and failure.reason == "host_key_changed":
            await writer.record(
                "target_host_key_refused",
                target_type="resource",
                target=job.resource,
                outcome="failure",
                reason="host_key_changed",
                details={
                    "resource_id": str(job.resource_id),
                    "pinned_fingerprint": job.target.host_key,
                    "presented_fingerprint": failure.extra.get("presented", ""),
                },
            )
        row = await tx.fetchrow_one(STATE_SELECT + " WHERE a.id = $1", job.account_id)
    out = {"ok": failure is None, "rotation": state_json(row)}
    if failure is not None:
        out |= {"reason": failure.reason, "message": failure.message}
    return out


# -- the API's operations -----------------------------------------------------------


async def reset(
    env: Env, actor: Actor, org_name: OrgArg, account_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Reset an account's password on its target now: a given one (checked against the
    account's policy) or one generated under it (``generate``). Needs modify permission
    and the check-out rule (as a vault-only change does).

    Returns:
        ``{"outcome": "changed", "rotation": state}``.
    Raises:
        Forbidden (view only), Conflict ``checked_out`` / ``checkout_required`` (also
        when the reconciliation account is under access control and the actor holds no
        check-out of it: ``vault.refuse_reconciliation_without_checkout``),
        ``no_connection``, ``rotation_in_progress``; ValidationFailed for the policy;
        TargetFailed (502; codes ``target_unreachable``, ``host_key_changed``,
        ``target_login_failed``, ``target_refused``, ...) with the failure recorded.
    """
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _account(tx, actor, org, account_id, "change_password")
        await refuse_secret_change_without_checkout(tx, row, actor.user_id)
        given: str | None = None  # None: generated under the policy when the change starts
        if data.get("password") or not data.get("generate", True):
            given, _, _ = await _password_for(tx, org, row["policy"], data)
        job = await _job(tx, row["id"])
        await refuse_reconciliation_without_checkout(tx, job.via_id, actor.user_id)
    await _change(env, job, actor.who, given, "reset", given is None)
    return await _answer(env, job, "changed")


async def verify(env: Env, actor: Actor, org_name: OrgArg, account_id: str) -> dict[str, Any]:
    """Verify now (a heartbeat): log in to the target with the current password and
    record the outcome. Needs view permission (it reveals nothing).

    Returns:
        ``{"ok": bool, "reason"?, "message"?, "rotation": state}``.
    Raises:
        Conflict ``no_connection`` / ``rotation_in_progress``.
    """
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _account(tx, actor, org, account_id, "reveal")
        job = await _job(tx, row["id"])
    return await _verify(env, job, actor.who)


async def _answer(env: Env, job: _Job, outcome: str) -> dict[str, Any]:
    async with db.transaction(env.pool, job.org_id, readonly=True) as tx:
        row = await tx.fetchrow_one(STATE_SELECT + " WHERE a.id = $1", job.account_id)
    return {"outcome": outcome, "rotation": state_json(row)}


async def list_history(
    env: Env, actor: Actor, org_name: OrgArg, account_id: str
) -> list[dict[str, Any]]:
    """An account's earlier passwords (when and by whom each was replaced; no secret),
    newest first. Needs full permission."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row, _ = await _account(tx, actor, org, account_id, "edit")
        rows = await tx.fetch(
            "SELECT id, replaced_at, replaced_by, how FROM password_history "
            "WHERE account_id = $1 ORDER BY replaced_at DESC, id",
            row["id"],
        )
    return [
        {
            "id": str(r["id"]),
            "replaced_at": r["replaced_at"].isoformat(),
            "replaced_by": r["replaced_by"],
            "how": r["how"],
        }
        for r in rows
    ]


async def reveal_history(
    env: Env,
    actor: Actor,
    org_name: OrgArg,
    account_id: str,
    history_id: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """One earlier password of an account, for a user with full permission on it,
    audited (``password_history_revealed``, in ``reveal_password_history``), under the
    reveal's rules of the check-out, the org's reason and "connect only".

    Raises:
        NotFound (no such entry of this account, or not entitled), Forbidden (below full),
        Conflict ``checked_out`` / Forbidden ``checkout_required`` (the check-out rule),
        ValidationFailed ``reason_required``, Forbidden ``connect_only``.
    """
    aid = parse_id(account_id, "account")
    hid = parse_id(history_id, "history entry")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await tx.fetchrow(
            "SELECT * FROM reveal_password_history($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            hid,
            actor.user_id,
            org.id,
            entitlement.scope_all(actor, org),
            actor.username,
            actor.org,
            actor.ip,
            env.node,
            reason or "",
        )
        if row is None or row["account_id"] != aid:
            raise NotFound("no such password history entry")
        if row["access"] == "forbidden":
            raise Forbidden("only a user with full permission on the account sees its history")
        if row["access"] == "held":
            raise coded(Conflict, "checked_out", "this account is checked out to someone else")
        if row["access"] == "reason_required":
            raise field_error(
                "reason",
                "this organization requires a reason to reveal a password",
                code="reason_required",
            )
        if row["access"] == "connect_only":
            raise coded(
                Forbidden,
                "connect_only",
                "this account is set to connect only: its passwords, earlier ones included, "
                "are used through the SSH gateway and never shown",
            )
        if row["access"] != "ok":
            raise coded(
                Forbidden,
                "checkout_required",
                "this password is under access control: request it and reveal its history "
                "once approved",
            )
        password = await env.ring.decrypt(
            tx, org.id, "password_history", hid, "password", row["password"]
        )
    return {"password": password}


# -- rotation at check-in (issue 19's access control) --------------------------------


async def has_connection(tx: db.Tx, resource_id: uuid.UUID) -> bool:
    """Whether a resource has a connection to its target (in the org's RLS context)."""
    found: bool = await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM resource_connections WHERE resource_id = $1)",
        resource_id,
    )
    return found


async def refuse_rotation_without_connection(
    tx: db.Tx, account_id: uuid.UUID | None, resource_id: uuid.UUID
) -> None:
    """Rotation at check-in changes the target, so it needs the resource's connection: an
    account whose resource has none cannot be set to rotate at check-in (issue 29, item 3;
    otherwise the vault would hold a password no server has).

    Raises:
        ValidationFailed ``rotation_needs_connection`` (422) on ``rotate_on_checkin``.
    """
    if not await has_connection(tx, resource_id):
        raise field_error(
            "rotate_on_checkin",
            "this resource has no connection to its target, so a password rotated at "
            "check-in would exist only in the vault: set the resource's connection first "
            "(PUT …/resources/{id}/connection)",
            code="rotation_needs_connection",
        )


async def mark_change_due(tx: db.Tx, org_id: uuid.UUID, account_id: uuid.UUID) -> None:
    """Ask for a change of the account on its target as soon as possible (a check-in with
    rotation): ``run_due_account`` or the schedule carries it out."""
    await tx.execute(
        "INSERT INTO account_rotation (account_id, org_id, change_due, retry_at) "
        "VALUES ($1, $2, true, now()) ON CONFLICT (account_id) DO UPDATE SET "
        "change_due = true, retry_at = least(account_rotation.retry_at, now())",
        account_id,
        org_id,
    )


async def run_due_account(
    env: Env,
    org_id: uuid.UUID,
    account_id: uuid.UUID,
    who: Who = SYSTEM,
    how: str = "checkin",
    cause: Mapping[str, str] | None = None,
) -> bool:
    """Change one account on its target now as ``who`` (generated password); True when it
    was changed. A failure is recorded (and retried by the schedule), never raised.
    ``cause`` goes into the audit details (see ``rotate_at_check_in``)."""
    try:
        async with db.transaction(env.pool, org_id, readonly=True) as tx:
            job = await _job(tx, account_id)
        await _change(env, job, who, None, how, True, cause)
        return True
    except (TargetFailed, Conflict, NotFound) as exc:
        log.info("rotation of account %s did not complete: %s", account_id, exc.code)
        return False


# -- start-up recovery, schedules, report ---------------------------------------------


async def recover(env: Env, older_than: datetime.timedelta = datetime.timedelta(0)) -> int:
    """Settle every operation left holding an account (a crash or a failover): a pending
    change is resolved by checking which password works, a verification just released.
    Runs on the primary at start (``older_than`` 0) and then for operations older than
    ``STALE_BUSY``. Returns how many were settled."""
    orgs = await _org_ids(env)
    done = 0
    for org_id in orgs:
        async with db.transaction(env.pool, org_id, readonly=True) as tx:
            held = await tx.fetch(
                "SELECT account_id FROM account_rotation WHERE org_id = $1 AND busy <> '' "
                "AND busy_since <= now() - $2::interval",
                org_id,
                older_than,
            )
            jobs, orphans = [], []
            for r in held:
                try:
                    jobs.append(await _job(tx, r["account_id"]))
                except (Conflict, NotFound):
                    orphans.append(r["account_id"])
        for account_id in orphans:  # its connection went away meanwhile: nothing to ask
            async with db.transaction(env.pool, org_id) as tx:
                await tx.execute(
                    "UPDATE account_rotation SET busy = '', busy_since = NULL, pending = NULL, "
                    "pending_since = NULL, last_change_at = now(), last_change_ok = false, "
                    "last_change_reason = $2 WHERE account_id = $1 AND busy <> ''",
                    account_id,
                    "misconfigured: the connection was removed while a change ran; check "
                    "which password the target has",
                )
            done += 1
        for job in jobs:
            await _resolve_held(env, job, SYSTEM)
            done += 1
    return done


async def _org_ids(env: Env) -> list[uuid.UUID]:
    """The orgs with work for the schedule (``rotation_orgs``): not every org each round."""
    async with db.transaction(env.pool, readonly=True) as tx:
        rows = await tx.fetch("SELECT o AS org_id FROM rotation_orgs() o ORDER BY 1")
    return [r["org_id"] for r in rows]


async def due(env: Env, org_id: uuid.UUID, limit: int = 500) -> list[tuple[str, _Job]]:
    """The operations due in one org now: ('change', job) for accounts whose rotation is
    due (schedule, or a check-in's change waiting for its retry time) and ('verify', job)
    for accounts whose verification is due; idle accounts with a connection only."""
    async with db.transaction(env.pool, org_id, readonly=True) as tx:
        rows = await tx.fetch(
            STATE_SELECT + " WHERE a.org_id = $1 AND c.connector IS NOT NULL "
            "AND coalesce(ar.busy, '') = '' LIMIT $2",
            org_id,
            limit * 4,
        )
        now = datetime.datetime.now(datetime.UTC)
        found: list[tuple[str, _Job]] = []
        for r in rows:
            state = state_json(r)
            retry_ok = r["retry_at"] is None or r["retry_at"] <= now
            kind = None
            if r["change_due"] and retry_ok:
                kind = "change"
            elif state["next_rotation"] and retry_ok and _past(state["next_rotation"], now):
                kind = "change"
            elif state["next_verification"] and _past(state["next_verification"], now):
                kind = "verify"
            if kind:
                found.append((kind, await _job(tx, r["account_id"])))
            if len(found) >= limit:
                break
    return found


def _past(stamp: str, now: datetime.datetime) -> bool:
    return datetime.datetime.fromisoformat(stamp) <= now


async def run_due(env: Env, concurrency: int = 8) -> int:
    """One round of the schedule on this (primary) node: every due change and
    verification in every org, at most ``concurrency`` at once overall and at most the
    connection's ``max_parallel`` per target. Failures are recorded, never raised.
    Returns how many operations ran."""
    jobs = [job for org_id in await _org_ids(env) for job in await due(env, org_id)]
    overall = asyncio.Semaphore(concurrency)
    per_target: dict[tuple[str, int], asyncio.Semaphore] = {}

    async def one(kind: str, job: _Job) -> None:
        key = (job.target.host, job.target.port)
        limit = per_target.setdefault(key, asyncio.Semaphore(job.max_parallel))
        async with overall, limit:
            try:
                if kind == "change":
                    await _change(env, job, SYSTEM, None, "rotation", True)
                else:
                    await _verify(env, job, SYSTEM)
            except StrongroomError as exc:
                log.info("scheduled %s of %s: %s", kind, job.account_id, exc.code)

    await asyncio.gather(*(one(kind, job) for kind, job in jobs))
    return len(jobs)


async def set_schedule(
    env: Env, actor: Actor, org_name: OrgArg, kind: str, ref: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Set the rotation schedule of an account, a resource or a resource group (full
    permission on it): ``rotate_every_days`` and ``verify_every_hours`` (null: inherit /
    none). Accounts inherit field by field: account, else resource, else the shortest of
    the resource's groups. Audited as ``rotation_schedule_changed``."""
    rotate = data.get("rotate_every_days")
    every = data.get("verify_every_hours")
    if rotate is not None and not 1 <= rotate <= 3650:
        raise field_error("rotate_every_days", "must be between 1 and 3650 (or null)")
    if every is not None and not 1 <= every <= 8760:
        raise field_error("verify_every_hours", "must be between 1 and 8760 (or null)")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        if kind == "account":
            row, _ = await _account(tx, actor, org, ref, "edit")
            column, key, label = "account_id", row["id"], f"{row['resource']}/{row['username']}"
        elif kind == "resource":
            row, _ = await _resource(tx, actor, org, ref, "edit")
            column, key, label = "resource_id", row["id"], row["name"]
        else:
            gid, label = await sharing._target(tx, actor, org, "resource_group", ref)
            await sharing._require_full_on_members(tx, actor, org, gid)
            column, key = "resource_group_id", gid
        await tx.execute(f"DELETE FROM rotation_schedules WHERE {column} = $1", key)
        if rotate is not None or every is not None:
            await tx.execute(
                f"INSERT INTO rotation_schedules (org_id, {column}, rotate_every_days, "
                "verify_every_hours) VALUES ($1, $2, $3, $4)",
                org.id,
                key,
                rotate,
                every,
            )
        await recording.writer(tx, env, org.id, actor.who).record(
            "rotation_schedule_changed",
            target_type=kind,
            target=label,
            details={"rotate_every_days": rotate, "verify_every_hours": every},
        )
    return {"rotate_every_days": rotate, "verify_every_hours": every}


async def report(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """The accounts the actor may use whose last verification failed, whose last change
    on the target failed, or whose password is older than its policy's maximum age."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        rows = await tx.fetch(
            "SELECT a.id, a.username, a.policy, a.password_changed_at, r.name AS resource, "
            "ar.last_verify_ok, ar.last_verify_reason, ar.last_verify_at, ar.last_change_ok, "
            "ar.last_change_reason, ar.last_change_at "
            "FROM account_permissions($1, $2, $3) p JOIN accounts a ON a.id = p.account_id "
            "JOIN resources r ON r.id = a.resource_id "
            "LEFT JOIN account_rotation ar ON ar.account_id = a.id "
            "ORDER BY lower(r.name), lower(a.username)",
            actor.user_id,
            org.id,
            entitlement.scope_all(actor, org),
        )
        policies = {name: await find_policy(tx, org, name) for name in {r["policy"] for r in rows}}
    now = datetime.datetime.now(datetime.UTC)
    failed_verify, failed_change, over_age = [], [], []
    for r in rows:
        item = {"id": str(r["id"]), "account": r["username"], "resource": r["resource"]}
        if r["last_verify_ok"] is False:
            failed_verify.append(
                item | {"at": r["last_verify_at"].isoformat(), "reason": r["last_verify_reason"]}
            )
        if r["last_change_ok"] is False:
            failed_change.append(
                item | {"at": r["last_change_at"].isoformat(), "reason": r["last_change_reason"]}
            )
        max_age = policies[r["policy"]].max_age_days
        age = (now - r["password_changed_at"]).days
        if max_age is not None and age >= max_age:
            over_age.append(item | {"age_days": age, "max_age_days": max_age})
    return {
        "failed_verifications": failed_verify,
        "failed_changes": failed_change,
        "over_age": over_age,
    }


SCHEDULE_INTERVAL_SECONDS = 30.0


async def run_schedule(env: Env, interval: float = SCHEDULE_INTERVAL_SECONDS) -> None:
    """The schedule, forever, on whichever node may write (the primary; a promoted
    secondary takes over on its next round): first settle what a crash or a failover left
    holding an account, then every ``interval`` run what is due (``run_due``) and settle
    operations older than ``STALE_BUSY``. A failure is logged once and retried."""
    recovered = False
    failing = False
    while True:
        try:
            if env.node_state.records_in_database():
                if not recovered:
                    settled = await recover(env)
                    recovered = True
                    if settled:
                        log.info("settled %d interrupted password operation(s)", settled)
                ran = await run_due(env)
                if ran:
                    log.info("ran %d scheduled password operation(s)", ran)
                await recover(env, STALE_BUSY)
            else:
                recovered = False  # a standby promoted later settles again first
            failing = False
        except db.RETRYABLE as exc:
            if not failing:
                log.error("password schedule failed (will retry): %s", exc)
            failing = True
        except Exception:
            log.exception("password schedule failed unexpectedly (will retry)")
            failing = True
        await asyncio.sleep(interval)


def _stored_options(row: Any) -> dict[str, Any]:
    options = row["options"]
    return json.loads(options) if isinstance(options, str) else dict(options or {})


def options_changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Which connection options a ``target_connection_changed`` changed, for its audit
    details (attacker finding 2): ``{name: new value}`` (None: removed). Options hold no
    secret; a CA (``ca_pem``) is recorded by its certificates' SHA-256 fingerprints."""
    out: dict[str, Any] = {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        value = after.get(name)
        if name == "ca_pem" and value:
            value = {"sha256": tls.pem_fingerprints(str(value))}
        out[name] = value
    return out


async def reachable(env: Env, target: Target) -> None:
    """Refuse to connect to a target at an address the outbound rule forbids (this
    server, link-local, unspecified, multicast: ``server.services.outbound``; attacker
    finding 3), checked again before each operation (the name may point elsewhere now).

    Raises:
        TargetError ``not_allowed`` (refused), ``unreachable`` (the name does not resolve).
    """
    try:
        await outbound.resolve(target.host, target.port, env.config.outbound.allow_loopback)
    except outbound.OutboundRefused as exc:
        raise TargetError("not_allowed", f"not connected: {exc}") from None
    except outbound.OutboundUnresolved as exc:
        raise TargetError("unreachable", str(exc)) from None


async def rotate_at_check_in(
    env: Env, org_id: uuid.UUID, account_id: uuid.UUID, request_id: str, checked_in_by: Who
) -> bool:
    """The change on the target that a check-in with rotation asks for (issue 19's
    control, issue 29 item 3): made by the system, exactly as the schedule makes it, never
    as the person who checked in. So when the change goes through a reconciliation account
    that is itself under access control, the check-in needs no check-out of that account:
    the control guards people revealing or using its password, and the server's own use
    of it is audited (``password_rotation_started`` / ``password_changed`` by the system,
    ``how`` "checkin", with ``request_id`` and ``checked_in_by``). Holding a check-out of
    the account gives no way to the reconciliation account's password or a session with
    it: revealing it, a reset through it and a change of the connection (where its
    password is sent) still each need its own check-out
    (``vault.refuse_reconciliation_without_checkout``,
    ``refuse_connection_change_without_checkout``). True when the target was changed; a
    failure is recorded and retried by the schedule, never raised."""
    cause = {
        "request_id": request_id,
        "checked_in_by": f"{checked_in_by.actor}@{checked_in_by.actor_org}",
    }
    return await run_due_account(env, org_id, account_id, SYSTEM, "checkin", cause)
