"""Notifications by e-mail (SMTP) and webhook (issue 31, item 2).

What to tell whom is derived, after the fact, from what the server already records: the
notifier reads each org's chained audit events after its own cursor (``notify_cursors``)
and the check-outs about to end, and queues messages in the outbox (``notify_outbox``,
one per event, recipient and channel: ``dedupe``). The sender delivers the outbox: e-mail
through the installation's SMTP relay (MSPOrg's settings: STARTTLS or implicit TLS, the
server's certificate verified, authenticated), webhooks as an HTTPS POST of JSON signed
with HMAC-SHA256 over ``timestamp + "." + body`` (headers ``X-Strongroom-Timestamp`` and
``X-Strongroom-Signature: sha256=<hex>``); a failure is retried with exponential backoff
(``RETRY_BASE`` · 2^attempt) up to ``MAX_ATTEMPTS``, then marked failed; every delivery's
state is listed (``list_deliveries``). Both are one background task on the primary: no
request waits for a mail server.

Kinds, templates and mutes: server/core/notifications.py. Messages carry names, times and
reasons typed by people, never a password, a token or a secret field. Recipients:

- ``request_waiting``: the eligible approvers of a check-out request or of a request to
  weaken an access control; the approver named by an org access request (user
  confirmations included).
- ``request_decided``: the requester of a check-out or an access control change, the
  proposer of an org access request.
- ``checkout_ending``: the holder of a check-out ending within 10 minutes.
- ``cluster_alert``: MSPOrg's administrators, for a replication mode change, a failed
  or late backup, a node removed (audit events of MSPOrg).
- ``audit_alert``: the org's administrators, for an event of an operation the org marked
  as an alert (audit settings).
- ``password_expiring``: once a day, each owner's passwords expired or expiring within
  7 days (one digest per owner and org).

Webhooks of an org receive every notification of the org once (not per recipient).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import json
import logging
import secrets
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import aiohttp.abc
import asyncpg

from server.core import notifications as kinds
from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, coded, field_error
from server.core.password_policy import expires_at, expiry_words
from server.services import outbound, recording
from server.services.access import OrgArg, OrgRef, enter_org, msp_org_id
from server.services.context import Actor, Env
from server.services.password_requests import approver_states
from server.services.policies import max_ages
from server.store import db

log = logging.getLogger(__name__)

INTERVAL = 1.0
RETRY_BASE = 5.0  # seconds; the n-th retry waits RETRY_BASE * 2**n
MAX_ATTEMPTS = 6
TIMEOUT = 15.0
ENDING_MINUTES = 10
KEEP_DAYS = 30  # sent and failed messages stay listed this long
CLUSTER_EVENTS = {
    "replication_mode_changed",
    "cluster_node_removed",
    "backup_created",
    "backup_late",
}
# The operations _notices_of reads; every other event means no notice (most of the trail:
# reveals, logins, reads), so the notifier does not fetch it (issue 28: the notifier's
# per-event work sat on the reveal's hot path). tests/unit/test_notice_operations.py
# checks that an operation outside this set yields nothing.
NOTICE_OPERATIONS = frozenset(
    {
        "password_access_requested",
        "password_access_approved",
        "password_access_rejected",
        "access_control_change_requested",
        "access_control_change_approved",
        "access_control_change_rejected",
        "org_access_requested",
        "org_access_approved",
        "org_access_rejected",
        "password_rotation_failed",
        "password_verified",
        *CLUSTER_EVENTS,
    }
)
# Events read per round and org: the cursor moves over at most this many links at once.
NOTICE_WINDOW = 5000


# --- settings -------------------------------------------------------------------------


async def get_smtp(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """MSPOrg's SMTP relay (``configured`` false when none); never its password.

    Raises:
        Forbidden ``notifications_own_administrators`` (not MSPOrg's own administrator) or
        Forbidden ``smtp_msp_only`` for a client org (the relay is the installation's).
    """
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        _require_msp(org.is_msp)
        require_own_notifications_administrator(actor, org, "see the SMTP relay")
        row = await tx.fetchrow("SELECT * FROM notify_smtp WHERE org_id = $1", org.id)
    return _smtp_json(row)


def _require_msp(is_msp: bool) -> None:
    if not is_msp:
        raise coded(
            Forbidden,
            "smtp_msp_only",
            "the SMTP relay is the installation's: MSPOrg's administrators set it",
        )


def _smtp_json(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return {"configured": False}
    return {
        "configured": True,
        "host": row["host"],
        "port": row["port"],
        "security": row["security"],
        "username": row["username"],
        "has_password": row["password"] is not None,
        "sender": row["sender"],
        "own_ca": bool(row["ca_pem"]),
        "updated_at": row["updated_at"].isoformat(),
    }


async def put_smtp(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Set MSPOrg's SMTP relay (audited; the password encrypted, never answered).

    Args:
        data: host, port, security (starttls|tls), username?, password? (absent: kept),
            sender, ca_pem?.
    Raises:
        as ``get_smtp``; ValidationFailed for a sender that is no address.
    """
    if "@" not in data["sender"]:
        raise field_error("sender", "an e-mail address")
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        _require_msp(org.is_msp)
        require_own_notifications_administrator(actor, org, "set the SMTP relay")
        sealed = None
        if data.get("password"):
            sealed = await env.ring.encrypt(
                tx, org.id, "notify_smtp", org.id, "password", data["password"]
            )
        row = await tx.fetchrow(
            "INSERT INTO notify_smtp (org_id, host, port, security, username, password, "
            "sender, ca_pem) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org_id) DO "
            "UPDATE SET host = $2, port = $3, security = $4, username = $5, "
            "password = CASE WHEN $9 THEN $6 ELSE notify_smtp.password END, sender = $7, "
            "ca_pem = $8, updated_at = now() RETURNING *",
            org.id,
            data["host"],
            data["port"],
            data["security"],
            data.get("username") or "",
            sealed,
            data["sender"],
            data.get("ca_pem") or "",
            "password" in data,
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "notification_settings_changed",
            "smtp",
            data["host"],
            details={"port": data["port"], "security": data["security"]},
        )
    return _smtp_json(row)


async def list_webhooks(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The org's webhooks (never their secrets)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "see its webhooks")
        rows = await tx.fetch(
            "SELECT * FROM notify_webhooks WHERE org_id = $1 ORDER BY lower(name)", org.id
        )
    return [_hook_json(r) for r in rows]


def _hook_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "url": _without_userinfo(row["url"]),
        "enabled": row["enabled"],
        "own_ca": bool(row["ca_pem"]),
        "created_at": row["created_at"].isoformat(),
    }


async def create_webhook(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a webhook; answer it with its signing ``secret`` (hex), shown this once.

    Raises:
        Forbidden ``notifications_own_administrators``; ValidationFailed (not https);
        Conflict ``webhook_exists``.
    """
    await check_webhook_url(env, data["url"])
    hook_id = uuid.uuid4()
    secret = secrets.token_hex(32)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "add its webhooks")
        if await tx.fetchval(
            "SELECT 1 FROM notify_webhooks WHERE org_id = $1 AND name = $2", org.id, data["name"]
        ):
            raise coded(Conflict, "webhook_exists", f"a webhook named {data['name']!r} exists")
        sealed = await env.ring.encrypt(tx, org.id, "notify_webhooks", hook_id, "secret", secret)
        row = await tx.fetchrow(
            "INSERT INTO notify_webhooks (id, org_id, name, url, secret, ca_pem) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            hook_id,
            org.id,
            data["name"],
            data["url"],
            sealed,
            data.get("ca_pem") or "",
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "notification_settings_changed", "webhook", data["name"], details={"added": True}
        )
    return {**_hook_json(row), "secret": secret}


async def delete_webhook(env: Env, actor: Actor, org_name: OrgArg, hook: str) -> None:
    """Remove a webhook (audited). Raises Forbidden, NotFound."""
    try:
        hook_id = uuid.UUID(hook)
    except ValueError as exc:
        raise NotFound("no such webhook") from exc
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "remove its webhooks")
        name = await tx.fetchval(
            "DELETE FROM notify_webhooks WHERE org_id = $1 AND id = $2 RETURNING name",
            org.id,
            hook_id,
        )
        if name is None:
            raise NotFound("no such webhook")
        await recording.writer(tx, env, org.id, actor.who).record(
            "notification_settings_changed", "webhook", name, details={"removed": True}
        )


async def get_templates(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """Every kind with its template as the org uses it (``custom``: the org's own)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "see its notification templates")
        own = {
            r["kind"]: r
            for r in await tx.fetch("SELECT * FROM notify_templates WHERE org_id = $1", org.id)
        }
    return [
        {
            "kind": k.name,
            "security": k.security,
            "description": k.description,
            "subject": own[k.name]["subject"] if k.name in own else k.subject,
            "body": own[k.name]["body"] if k.name in own else k.body,
            "custom": k.name in own,
        }
        for k in kinds.KINDS.values()
    ]


async def put_templates(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Set or reset (null) the org's templates: ``{kind: {"subject", "body"} | null}``.

    Raises:
        Forbidden ``notifications_own_administrators``; ValidationFailed for an unknown kind or a
        template naming an unknown placeholder.
    """
    for kind, value in data.items():
        if kind not in kinds.KINDS:
            raise field_error(kind, f"no notification kind {kind!r}")
        if value is None:
            continue
        if not isinstance(value, dict) or set(value) != {"subject", "body"}:
            raise field_error(kind, "give subject and body")
        for part in ("subject", "body"):
            if not isinstance(value[part], str):
                raise field_error(f"{kind}.{part}", "must be text")
            problem = kinds.template_problem(value[part])
            if problem:
                raise field_error(f"{kind}.{part}", problem)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "set its notification templates")
        for kind, value in data.items():
            if value is None:
                await tx.execute(
                    "DELETE FROM notify_templates WHERE org_id = $1 AND kind = $2", org.id, kind
                )
            else:
                await tx.execute(
                    "INSERT INTO notify_templates (org_id, kind, subject, body) VALUES "
                    "($1, $2, $3, $4) ON CONFLICT (org_id, kind) DO UPDATE SET subject = $3, "
                    "body = $4",
                    org.id,
                    kind,
                    value["subject"],
                    value["body"],
                )
        await recording.writer(tx, env, org.id, actor.who).record(
            "notification_settings_changed", "templates", "", details={"kinds": sorted(data)}
        )
    return await get_templates(env, actor, org_name)


async def get_mutes(env: Env, actor: Actor) -> dict[str, Any]:
    """The kinds the actor muted, and the ones it may mute (the non-security kinds)."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        rows = await tx.fetch("SELECT kind FROM notify_mutes WHERE user_id = $1", actor.user_id)
    return {
        "muted": sorted(r["kind"] for r in rows),
        "mutable": sorted(k for k in kinds.KINDS if k not in kinds.SECURITY_KINDS),
    }


async def put_mutes(env: Env, actor: Actor, muted: list[str]) -> dict[str, Any]:
    """Replace the actor's muted kinds.

    Raises:
        ValidationFailed: an unknown kind; ``notification_not_mutable`` for a security one.
    """
    for kind in muted:
        if kind not in kinds.KINDS:
            raise field_error("muted", f"no notification kind {kind!r}")
        if kind in kinds.SECURITY_KINDS:
            raise field_error(
                "muted",
                f"{kind} is a security notification: it cannot be muted",
                code="notification_not_mutable",
            )
    async with db.transaction(env.pool, actor.org_id) as tx:
        await tx.execute("DELETE FROM notify_mutes WHERE user_id = $1", actor.user_id)
        for kind in sorted(set(muted)):
            await tx.execute(
                "INSERT INTO notify_mutes (org_id, user_id, kind) VALUES ($1, $2, $3)",
                actor.org_id,
                actor.user_id,
                kind,
            )
    return await get_mutes(env, actor)


async def list_deliveries(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The org's latest 500 messages and their delivery state (pending, sent, failed;
    attempts, the last error): what did not reach its recipient is visible here."""
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "see its notification deliveries")
        rows = await tx.fetch(
            "SELECT o.*, w.name AS hook FROM notify_outbox o LEFT JOIN notify_webhooks w "
            "ON o.channel = 'webhook' AND w.id::text = o.recipient WHERE o.org_id = $1 "
            "ORDER BY o.id DESC LIMIT 500",
            org.id,
        )
    return [
        {
            "id": str(r["id"]),
            "kind": r["kind"],
            "channel": r["channel"],
            "recipient": r["hook"] or r["recipient"]
            if r["channel"] == "webhook"
            else r["recipient"],
            "subject": r["subject"],
            "status": r["status"],
            "attempts": r["attempts"],
            "last_error": r["last_error"],
            "created_at": r["created_at"].isoformat(),
            "sent_at": r["sent_at"].isoformat() if r["sent_at"] else None,
        }
        for r in rows
    ]


# --- the notifier: what to tell whom ----------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One thing to tell: its kind, the users to tell, the template's values."""

    kind: str
    key: str  # what makes it one (the event), for the outbox's dedupe
    users: tuple[uuid.UUID, ...]
    values: dict[str, str]


async def _users_by_name(tx: db.Tx, org_id: uuid.UUID, names: list[str]) -> tuple[uuid.UUID, ...]:
    rows = await tx.fetch(
        "SELECT id FROM users WHERE org_id = $1 AND lower(username) = ANY($2::text[])",
        org_id,
        [n.lower() for n in names if n],
    )
    return tuple(r["id"] for r in rows)


async def _notices_of(
    tx: db.Tx, org_id: uuid.UUID, is_msp: bool, org_name: str, row: asyncpg.Record
) -> list[Notice]:
    """What one audit event means to people (most mean nothing)."""
    op = row["operation"]
    details = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
    key = f"event:{row['id']}"
    base = {"org": org_name, "by": row["actor"], "at": row["at"].strftime("%Y-%m-%d %H:%M")}
    if op == "password_access_requested":
        req = await tx.fetchrow(
            "SELECT q.*, a.resource_id FROM password_requests q JOIN accounts a "
            "ON a.id = q.account_id WHERE q.id = $1::uuid",
            details.get("request_id"),
        )
        if req is None:
            return []
        control = await tx.fetchrow(
            "SELECT c.* FROM access_controls c WHERE c.account_id = $1 OR c.resource_id = $2 "
            "ORDER BY (c.account_id IS NOT NULL) DESC LIMIT 1",
            req["account_id"],
            req["resource_id"],
        )
        if control is None:
            return []
        msp_id = await msp_org_id(tx)
        org = await _org_ref(tx, org_id)
        states = await approver_states(tx, org, msp_id, control, req["requester_id"])
        users = tuple(s["id"] for s in states if s["eligible"])
        what = f"a check-out of {row['target']} for {req['window_minutes']} min"
        values = {**base, "requester": row["actor"], "what": what, "reason": row["reason"] or ""}
        return [Notice("request_waiting", key, users, values)]
    if op in ("password_access_approved", "password_access_rejected"):
        req = await tx.fetchrow(
            "SELECT requester_id, status FROM password_requests WHERE id = $1::uuid",
            details.get("request_id"),
        )
        if req is None or (op.endswith("approved") and req["status"] != "approved"):
            return []  # one approval of several decides nothing yet
        decision = "approved" if op.endswith("approved") else "rejected"
        values = {**base, "what": f"a check-out of {row['target']}", "decision": decision}
        return [
            Notice(
                "request_decided",
                f"decided:{details.get('request_id')}",
                (req["requester_id"],),
                values,
            )
        ]
    if op == "access_control_change_requested":
        change = await tx.fetchrow(
            "SELECT q.*, coalesce(q.resource_id, a.resource_id) AS on_resource "
            "FROM access_control_requests q LEFT JOIN accounts a ON a.id = q.account_id "
            "WHERE q.id = $1::uuid",
            details.get("request_id"),
        )
        if change is None:
            return []
        control = await tx.fetchrow(
            "SELECT c.* FROM access_controls c WHERE c.account_id = $1 OR c.resource_id = $2 "
            "ORDER BY (c.account_id IS NOT NULL) DESC LIMIT 1",
            change["account_id"],
            change["on_resource"],
        )
        if control is None:
            return []
        org = await _org_ref(tx, org_id)
        states = await approver_states(
            tx, org, await msp_org_id(tx), control, change["requester_id"]
        )
        weakens = ", ".join(details.get("weakens") or [])
        what = f"a weaker access control of {row['target']} ({weakens})"
        values = {**base, "requester": row["actor"], "what": what, "reason": row["reason"] or ""}
        users = tuple(s["id"] for s in states if s["eligible"])
        return [Notice("request_waiting", key, users, values)]
    if op in ("access_control_change_approved", "access_control_change_rejected"):
        change = await tx.fetchrow(
            "SELECT requester_id, status FROM access_control_requests WHERE id = $1::uuid",
            details.get("request_id"),
        )
        if change is None or (op.endswith("approved") and change["status"] != "approved"):
            return []
        decision = "approved" if op.endswith("approved") else "rejected"
        values = {**base, "what": f"a change of {row['target']}'s access control"}
        return [
            Notice(
                "request_decided",
                f"decided:{details.get('request_id')}",
                (change["requester_id"],),
                {**values, "decision": decision},
            )
        ]
    if is_msp and op == "org_access_requested":
        users = await _users_by_name(tx, org_id, [details.get("approver", "")])
        what = f"{details.get('kind', 'access')} of {row['target']}"
        values = {**base, "requester": row["actor"], "what": what, "reason": row["reason"] or ""}
        return [Notice("request_waiting", key, users, values)]
    if is_msp and op in ("org_access_approved", "org_access_rejected"):
        users = await _users_by_name(tx, org_id, [details.get("proposer", "")])
        decision = "approved" if op.endswith("approved") else "rejected"
        what = f"{details.get('kind', 'access')} of {row['target']}"
        return [Notice("request_decided", key, users, {**base, "what": what, "decision": decision})]
    if op == "password_rotation_failed" or (
        op == "password_verified" and row["outcome"] == "failure"
    ):
        return [await _rotation_failed(tx, org_id, key, base, row, details)]
    if is_msp and op in CLUSTER_EVENTS:
        if op == "backup_created" and row["outcome"] != "failure":
            return []
        admins = await tx.fetch(
            "SELECT id FROM users WHERE org_id = $1 AND role = ANY($2::text[]) "
            "AND status = 'active'",
            org_id,
            sorted(permissions.ADMIN_ROLES),
        )
        what = {
            "replication_mode_changed": "The pair's replication changed",
            "cluster_node_removed": "A node was removed from the pair",
            "backup_created": "A backup failed",
            "backup_late": "A scheduled backup is late",
        }[op]
        detail = row["reason"] or ", ".join(f"{k}: {v}" for k, v in sorted(details.items()))
        if op == "backup_late":
            detail = _late_words(details)
        values = {**base, "what": what, "detail": detail, "node": row["node"]}
        return [Notice("cluster_alert", key, tuple(a["id"] for a in admins), values)]
    return []


async def _org_ref(tx: db.Tx, org_id: uuid.UUID) -> OrgRef:
    row = await tx.fetchrow_one("SELECT * FROM orgs WHERE id = $1", org_id)
    return OrgRef(
        row["id"],
        row["display_name"],
        row["name"],
        row["is_msp"],
        row["account_manager_id"],
        row["vault_control"],
        "system",
    )


async def _ending(tx: db.Tx, org_name: str, org_id: uuid.UUID) -> list[Notice]:
    rows = await tx.fetch(
        "SELECT q.id, q.requester_id, q.ends_at, a.username AS account, r.name AS resource "
        "FROM password_requests q JOIN accounts a ON a.id = q.account_id "
        "JOIN resources r ON r.id = a.resource_id WHERE q.org_id = $1 AND q.status = 'approved' "
        "AND q.ends_at > now() AND q.ends_at <= now() + make_interval(mins => $2)",
        org_id,
        ENDING_MINUTES,
    )
    return [
        Notice(
            "checkout_ending",
            f"ending:{r['id']}",
            (r["requester_id"],),
            {
                "org": org_name,
                "what": f"{r['resource']}/{r['account']}",
                "until": r["ends_at"].astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
            },
        )
        for r in rows
    ]


async def _admins(tx: db.Tx, org_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    rows = await tx.fetch(
        "SELECT id FROM users WHERE org_id = $1 AND role = ANY($2::text[]) AND status = 'active'",
        org_id,
        sorted(permissions.ADMIN_ROLES),
    )
    return tuple(r["id"] for r in rows)


async def _rotation_failed(
    tx: db.Tx,
    org_id: uuid.UUID,
    key: str,
    base: dict[str, str],
    row: asyncpg.Record,
    details: dict[str, Any],
) -> Notice:
    """A failed change or verification on a target (issue 29's audit events): to the org's
    administrators and the account's owner. The reason is the connector's coded one
    (``target_unreachable``, ``host_key_changed``...), never a password."""
    changing = row["operation"] == "password_rotation_failed"
    await db.set_org(tx, org_id)
    owner = await tx.fetchval(
        "SELECT owner_id FROM accounts WHERE id = $1::uuid AND org_id = $2",
        details.get("account_id"),
        org_id,
    )
    users = tuple(dict.fromkeys([*await _admins(tx, org_id), *([owner] if owner else [])]))
    what = (
        f"changing the password of {row['target']} on its target failed"
        if changing
        else f"the password of {row['target']} did not log in to its target"
    )
    reason = (row["reason"] or "").replace("_", " ")
    return Notice("rotation_failed", key, users, {**base, "what": what, "detail": reason})


async def _alert(tx: db.Tx, org_id: uuid.UUID, org_name: str, row: asyncpg.Record) -> Notice:
    """An event of an operation the org marked as an alert: to its administrators."""
    target = f"{row['target_type']} {row['target']}".strip()
    values = {
        "org": org_name,
        "by": row["actor"],
        "what": row["operation"],
        "detail": f"({row['outcome']}{', ' + target if target else ''})",
        "at": row["at"].astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
    }
    return Notice("audit_alert", f"alert:{row['id']}", await _admins(tx, org_id), values)


async def _expiring(
    tx: db.Tx, org_id: uuid.UUID, org_name: str, today: datetime.date
) -> list[Notice]:
    """Per owner: its accounts whose password expired or expires within 7 days."""
    ages = await max_ages(tx, org_id)
    rows = await tx.fetch(
        "SELECT a.owner_id, a.username, a.policy, a.password_changed_at, r.name AS resource "
        "FROM accounts a JOIN resources r ON r.id = a.resource_id "
        "WHERE a.org_id = $1 AND a.owner_id IS NOT NULL",
        org_id,
    )
    now = datetime.datetime.now(datetime.UTC)
    horizon = now + datetime.timedelta(days=7)
    lines: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        expires = expires_at(row["password_changed_at"], ages.get(row["policy"].lower()))
        if expires is not None and expires <= horizon:
            lines.setdefault(row["owner_id"], []).append(
                f"- {row['resource']}/{row['username']}: {expiry_words(expires, now)}"
            )
    return [
        Notice(
            "password_expiring",
            f"expiring:{owner}:{today.isoformat()}",
            (owner,),
            {"org": org_name, "detail": "\n".join(sorted(found))},
        )
        for owner, found in lines.items()
    ]


async def _queue(tx: db.Tx, org_id: uuid.UUID, notices: list[Notice]) -> int:
    """Put notices in the outbox: one e-mail per recipient with an address who did not
    mute the kind, one webhook call per enabled webhook of the org; return how many."""
    if not notices:
        return 0
    own = {
        r["kind"]: r
        for r in await tx.fetch("SELECT * FROM notify_templates WHERE org_id = $1", org_id)
    }
    hooks = await tx.fetch("SELECT id FROM notify_webhooks WHERE org_id = $1 AND enabled", org_id)
    queued = 0
    for notice in notices:
        kind = kinds.KINDS[notice.kind]
        subject_t = own[kind.name]["subject"] if kind.name in own else kind.subject
        body_t = own[kind.name]["body"] if kind.name in own else kind.body
        subject = kinds.render(subject_t, notice.values).replace("\n", " ")[:300]
        body = kinds.render(body_t, notice.values)
        rows = []
        if notice.users:
            found = await tx.fetch(
                "SELECT u.id, u.email, EXISTS (SELECT 1 FROM notify_mutes m WHERE "
                "m.user_id = u.id AND m.kind = $2) AS muted FROM users u "
                "WHERE u.id = ANY($1::uuid[]) AND u.status = 'active'",
                list(notice.users),
                kind.name,
            )
            for user in found:
                if user["email"] and not (user["muted"] and not kind.security):
                    rows.append(("email", user["email"], f"{notice.key}:{kind.name}:{user['id']}"))
        for hook in hooks:
            rows.append(("webhook", str(hook["id"]), f"{notice.key}:{kind.name}:hook:{hook['id']}"))
        for channel, recipient, dedupe in rows:
            done = await tx.execute(
                "INSERT INTO notify_outbox (org_id, kind, channel, recipient, subject, body, "
                "dedupe) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                org_id,
                kind.name,
                channel,
                recipient,
                subject,
                body,
                dedupe,
            )
            queued += done.endswith(" 1")
    return queued


@dataclass
class Notifier:
    """The notification task of a primary: the notifier and the sender, one round at a
    time, over every org with work (``notify_orgs_due``)."""

    env: Env
    interval: float = INTERVAL
    _digest_day: datetime.date | None = None

    async def _digests(self, today: datetime.date) -> None:
        """Each owner's digest of its passwords expired or expiring within 7 days, once a
        day per org (the outbox's dedupe makes a restart send none twice)."""
        for org in await self.env.pool.fetch("SELECT id, display_name FROM orgs"):
            async with db.transaction(self.env.pool, org["id"]) as tx:
                notices = await _expiring(tx, org["id"], org["display_name"], today)
                await _queue(tx, org["id"], notices)
                await tx.execute(  # delivered or given up on: kept KEEP_DAYS to be read
                    "DELETE FROM notify_outbox WHERE org_id = $1 AND status <> 'pending' "
                    "AND created_at < now() - make_interval(days => $2)",
                    org["id"],
                    KEEP_DAYS,
                )

    async def run(self) -> None:
        """Forever, until cancelled; failures are logged and retried next round."""
        failing = False
        while True:
            try:
                if self.env.node_state.records_in_database():
                    await self.round()
                failing = False
            except db.RETRYABLE as exc:
                if not failing:
                    log.error("notifications failed (will retry): %s", exc)
                failing = True
            except Exception:
                log.exception("notifications failed unexpectedly (will retry)")
                failing = True
            await asyncio.sleep(self.interval)

    async def round(self) -> None:
        """Queue what the new events and ending check-outs mean (and, once a day, the
        expiring passwords' digests), then deliver what is due."""
        today = datetime.datetime.now(datetime.UTC).date()
        if self._digest_day != today:
            await self._digests(today)
            self._digest_day = today
        orgs = [r[0] for r in await self.env.pool.fetch("SELECT notify_orgs_due()")]
        for org_id in orgs:
            async with db.transaction(self.env.pool, org_id) as tx:
                await self._notice(tx, org_id)
            await self._deliver(org_id)

    async def _notice(self, tx: db.Tx, org_id: uuid.UUID) -> None:
        org = await tx.fetchrow("SELECT display_name, is_msp FROM orgs WHERE id = $1", org_id)
        if org is None:
            return
        head = await tx.fetchval("SELECT seq FROM audit_heads WHERE org_id = $1", org_id) or 0
        cursor = await tx.fetchval(
            "SELECT seq FROM notify_cursors WHERE org_id = $1 FOR UPDATE", org_id
        )
        notices = await _ending(tx, org["display_name"], org_id)
        if cursor is None:  # a new org, or notifications new: from now on
            await tx.execute(
                "INSERT INTO notify_cursors (org_id, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                org_id,
                head,
            )
        elif head > cursor:
            alerting = {
                r["operation"]
                for r in await tx.fetch(
                    "SELECT operation FROM audit_operation_settings WHERE org_id = $1 AND alert",
                    org_id,
                )
            }
            upto = min(head, cursor + NOTICE_WINDOW)  # links up to the head have committed
            rows = await tx.fetch(
                "SELECT l.seq, e.* FROM audit_links l JOIN audit_events e ON e.id = l.event_id "
                "WHERE l.org_id = $1 AND l.seq > $2 AND l.seq <= $3 "
                "AND e.operation = ANY($4::text[]) ORDER BY l.seq",
                org_id,
                cursor,
                upto,
                sorted(NOTICE_OPERATIONS | alerting),
            )
            for row in rows:
                notices += await _notices_of(tx, org_id, org["is_msp"], org["display_name"], row)
                await db.set_org(tx, org_id)
                if row["operation"] in alerting:
                    notices.append(await _alert(tx, org_id, org["display_name"], row))
            await tx.execute("UPDATE notify_cursors SET seq = $2 WHERE org_id = $1", org_id, upto)
        await _queue(tx, org_id, notices)

    async def _deliver(self, org_id: uuid.UUID) -> None:
        async with db.transaction(self.env.pool, org_id, readonly=True) as tx:
            due = await tx.fetch(
                "SELECT * FROM notify_outbox WHERE org_id = $1 AND status = 'pending' "
                "AND next_at <= now() ORDER BY id LIMIT 50",
                org_id,
            )
            if not due:
                return
            smtp = await self._smtp(tx)
        for item in due:
            try:
                if item["channel"] == "email":
                    if smtp is None:
                        raise DeliveryFailed("no SMTP relay is set (MSPOrg's settings)")
                    await asyncio.to_thread(_send_mail, smtp, item)
                else:
                    await self._post(org_id, item)
                await self._mark(org_id, item["id"], None, item["attempts"])
            except DeliveryFailed as exc:
                await self._mark(org_id, item["id"], str(exc), item["attempts"])

    async def _smtp(self, tx: db.Tx) -> dict[str, Any] | None:
        msp_id = await msp_org_id(tx)
        await db.set_org(tx, msp_id)
        row = await tx.fetchrow("SELECT * FROM notify_smtp WHERE org_id = $1", msp_id)
        if row is None:
            return None
        password = ""
        if row["password"] is not None:
            password = await self.env.ring.decrypt(
                tx, msp_id, "notify_smtp", msp_id, "password", row["password"]
            )
        return {**dict(row), "password": password}

    async def _post(self, org_id: uuid.UUID, item: asyncpg.Record) -> None:
        async with db.transaction(self.env.pool, org_id, readonly=True) as tx:
            hook = await tx.fetchrow(
                "SELECT * FROM notify_webhooks WHERE org_id = $1 AND id = $2::uuid",
                org_id,
                item["recipient"],
            )
            if hook is None:
                raise DeliveryFailed("the webhook was removed")
            secret = await self.env.ring.decrypt(
                tx, org_id, "notify_webhooks", hook["id"], "secret", hook["secret"]
            )
            org = await tx.fetchval("SELECT display_name FROM orgs WHERE id = $1", org_id)
        body = json.dumps(
            {
                "id": str(item["id"]),
                "kind": item["kind"],
                "org": org,
                "subject": item["subject"],
                "text": item["body"],
                "at": item["created_at"].isoformat(),
            },
            sort_keys=True,
        ).encode()
        stamp = str(int(time.time()))
        signature = hmac.new(
            secret.encode(), stamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        ctx = ssl.create_default_context(cadata=hook["ca_pem"] or None)
        if not hook["ca_pem"]:
            ctx = ssl.create_default_context()
        headers = {
            "Content-Type": "application/json",
            "X-Strongroom-Timestamp": stamp,
            "X-Strongroom-Signature": f"sha256={signature}",
            "X-Strongroom-Delivery": str(item["id"]),
        }
        allow_loopback = self.env.config.outbound.allow_loopback
        url = urlsplit(hook["url"])
        try:
            await outbound.resolve(url.hostname or "", url.port or 443, allow_loopback)
        except outbound.OutboundRefused as exc:
            raise DeliveryFailed(f"not sent: {exc}") from exc
        except outbound.OutboundUnresolved as exc:
            raise DeliveryFailed(f"the webhook could not be reached: {exc}") from exc
        connector = aiohttp.TCPConnector(resolver=_CheckedResolver(allow_loopback))
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT), connector=connector
                ) as session,
                # Never follow a redirect: its target would skip the outbound rule (aiohttp
                # resolves no IP literal through the checked resolver), and a 307 repeats
                # the signed POST there (attacker pass, session 9).
                session.post(
                    hook["url"], data=body, headers=headers, ssl=ctx, allow_redirects=False
                ) as answer,
            ):
                if 300 <= answer.status < 400:
                    raise DeliveryFailed(
                        f"the webhook answered a redirect (HTTP {answer.status}), which is not "
                        "followed: set the address it redirects to as the webhook's URL"
                    )
                if answer.status >= 300:
                    raise DeliveryFailed(f"the webhook answered HTTP {answer.status}")
        except aiohttp.ClientSSLError as exc:
            raise DeliveryFailed(f"the webhook's certificate was refused: {exc}") from exc
        except (aiohttp.ClientConnectorError, TimeoutError, OSError) as exc:
            raise DeliveryFailed(
                outbound.connect_failure(
                    url.hostname or "", url.port or 443, exc, "the webhook's server"
                )
            ) from exc
        except aiohttp.ClientError as exc:  # connected, then the answer broke
            raise DeliveryFailed(
                f"the webhook at {url.hostname}:{url.port or 443} broke off the connection "
                "before answering: it is tried again"
            ) from exc

    async def _mark(
        self, org_id: uuid.UUID, item_id: int, error: str | None, attempts: int
    ) -> None:
        async with db.transaction(self.env.pool, org_id) as tx:
            if error is None:
                await tx.execute(
                    "UPDATE notify_outbox SET status = 'sent', sent_at = now(), "
                    "attempts = attempts + 1, last_error = NULL WHERE id = $1",
                    item_id,
                )
                return
            final = attempts + 1 >= MAX_ATTEMPTS
            await tx.execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, last_error = $2, "
                "status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END, "
                "next_at = now() + make_interval(secs => $4) WHERE id = $1",
                item_id,
                error,
                final,
                RETRY_BASE * 2**attempts,
            )
        if final:
            log.warning("notification %d failed for good: %s", item_id, error)


class DeliveryFailed(Exception):
    """A message could not be delivered now; the text says why."""


def _send_mail(smtp: dict[str, Any], item: asyncpg.Record) -> None:
    """Send one e-mail (in a thread: smtplib blocks)."""
    message = EmailMessage()
    message["From"] = smtp["sender"]
    message["To"] = item["recipient"]
    message["Subject"] = item["subject"]
    message["X-Strongroom-Kind"] = item["kind"]
    message.set_content(item["body"])
    ctx = ssl.create_default_context(cadata=smtp["ca_pem"] or None)
    if not smtp["ca_pem"]:
        ctx = ssl.create_default_context()
    try:
        if smtp["security"] == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                smtp["host"], smtp["port"], timeout=TIMEOUT, context=ctx
            )
        else:
            client = smtplib.SMTP(smtp["host"], smtp["port"], timeout=TIMEOUT)
        with client:
            if smtp["security"] == "starttls":
                client.starttls(context=ctx)
            if smtp["username"]:
                client.login(smtp["username"], smtp["password"])
            client.send_message(message)
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailed(
            f"the SMTP server's certificate is not trusted: {exc.verify_message}"
        ) from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryFailed(f"the SMTP server refused the login ({exc.smtp_code})") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"the SMTP server could not take it: {exc}") from exc


async def check_webhook_url(env: Env, url: str) -> None:
    """Refuse (422) a webhook URL that is not ``https://host[:port]/…``, carries user
    information (``https://user:pass@host/``: a credential stored and listed; code
    ``webhook_url_userinfo``), or points at an address the outbound rule refuses (this
    host, link-local, unspecified, multicast; ``destination_not_allowed``). Attacker
    finding 3; ``server.services.outbound`` holds the address rule."""
    if not url.startswith("https://"):
        raise field_error("url", "must be an https:// address")
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise field_error("url", "not a valid URL") from None
    if "@" in parts.netloc:
        raise field_error(
            "url",
            "must carry no user name or password (https://user:pass@…): the receiver "
            "checks each call's signature instead",
            code="webhook_url_userinfo",
        )
    if not parts.hostname:
        raise field_error("url", "must name a host")
    await outbound.refuse_forbidden("url", parts.hostname, port, env.config.outbound.allow_loopback)


def _without_userinfo(url: str) -> str:
    """A stored URL as listed: any user information (from before it was refused) left out."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


class _CheckedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver for webhooks: a name resolves only to addresses the outbound
    rule allows, at the moment of the connection (a name re-pointed at this host after it
    was checked is still refused)."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        try:
            addresses = await outbound.resolve(host, port, self.allow_loopback)
        except (outbound.OutboundRefused, outbound.OutboundUnresolved) as exc:
            raise OSError(str(exc)) from None
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release."""


def require_own_notifications_administrator(actor: Actor, org: OrgRef, what: str) -> None:
    """Only an administrator (built-in role) of the org itself sees or sets its
    notifications (relay, webhooks, templates, deliveries): issue 31; the code and text
    name notifications, not the SIEM (attacker finding 5).

    Args:
        what: what was asked, for the message ("see its notification deliveries").
    Raises:
        Forbidden ``notifications_own_administrators``.
    """
    if not permissions.is_administrator(actor) or actor.org_id != org.id:
        raise coded(
            Forbidden,
            "notifications_own_administrators",
            f"only the org's own administrators {what}",
        )


def _late_words(details: dict[str, Any]) -> str:
    """A ``backup_late`` event in words: since when nothing succeeded, by when one was due."""
    since = details.get("last_success_at")
    last = f"the last good one at {since}" if since else "none succeeded since the node started"
    return (
        f"No scheduled backup ({details.get('schedule')}) succeeded by {details.get('due_by')}; "
        f"{last}. `strongroom status` and health show the last attempt."
    )


async def update_webhook(
    env: Env, actor: Actor, org_name: OrgArg, hook: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Edit a webhook: its ``url`` (checked as a new one is: ``check_webhook_url``, the
    outbound rule), its ``ca_pem``, ``enabled``; absent fields are kept, the signing
    secret too. Messages still pending for it go to the new URL (the outbox keeps them by
    the webhook's id). Audited as ``notification_settings_changed`` with the fields changed
    and the new URL's host only (a URL's path or query may carry the receiver's token).
    Issue 31, item 2.

    Raises:
        Forbidden ``notifications_own_administrators``; NotFound; ValidationFailed for a
        URL that is not https, carries user information or points where the outbound rule
        refuses.
    """
    try:
        hook_id = uuid.UUID(hook)
    except ValueError as exc:
        raise NotFound("no such webhook") from exc
    if "url" in changes:
        await check_webhook_url(env, changes["url"])
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_notifications_administrator(actor, org, "edit its webhooks")
        row = await tx.fetchrow(
            "SELECT * FROM notify_webhooks WHERE org_id = $1 AND id = $2 FOR UPDATE",
            org.id,
            hook_id,
        )
        if row is None:
            raise NotFound("no such webhook")
        changed = sorted(
            k for k in ("url", "ca_pem", "enabled") if k in changes and changes[k] != row[k]
        )
        if not changed:
            return _hook_json(row)
        row = await tx.fetchrow_one(
            "UPDATE notify_webhooks SET url = $3, ca_pem = $4, enabled = $5 "
            "WHERE org_id = $1 AND id = $2 RETURNING *",
            org.id,
            hook_id,
            changes.get("url", row["url"]),
            changes.get("ca_pem", row["ca_pem"]),
            changes.get("enabled", row["enabled"]),
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "notification_settings_changed",
            "webhook",
            row["name"],
            details={
                "changed": [c.removesuffix("_pem") for c in changed],
                "host": urlsplit(row["url"]).hostname or "",
                "enabled": row["enabled"],
                "own_ca": bool(row["ca_pem"]),
            },
        )
    return _hook_json(row)
