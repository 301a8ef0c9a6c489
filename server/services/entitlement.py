"""Entitlement: which accounts and resources a user may use, and how far.

The rule itself is SQL, in sql/functions/: ``account_permission`` for one account (the
reveal, the gateway and single checks), ``account_permissions`` the same rule for every
account of an org (the lists; tests/server/test_entitlement_equal.py keeps both answering
alike) and ``resource_permissions`` at resource level. This module is the only caller,
and ``use_account`` applies it again inside the database before any ciphertext leaves it.
"""

from __future__ import annotations

import datetime
import json
import uuid

import asyncpg

from server.core.errors import ServiceUnavailable, coded
from server.services.access import OrgRef
from server.services.context import Actor
from server.store import db
from server.store.db import Tx
from server.store.paging import Key, Page

RANK = {"view": 1, "modify": 2, "full": 3, "owner": 4}
NEEDS = {
    "reveal": "view",
    "change_password": "modify",
    "edit": "full",
    "share": "full",
    "delete": "full",
}


def allows(permission: str | None, action: str) -> bool:
    """Whether ``permission`` is enough for ``action``."""
    return permission is not None and RANK[permission] >= RANK[NEEDS[action]]


def scope_all(actor: Actor, org: OrgRef) -> bool:
    """A super administrator sees everything, in its home org only (the reveal statement,
    sql/functions/reveal_account.sql, applies the same: ``p_scope_all AND o.id = p_home``)."""
    return actor.access_scope == "all" and org.id == actor.org_id


async def account_permission(
    tx: Tx, actor: Actor, org: OrgRef, account_id: uuid.UUID
) -> str | None:
    """The actor's permission on one account, or None (sql/functions/account_permission.sql:
    the one-account form of the rule, issue 28)."""
    permission: str | None = await tx.fetchval(
        "SELECT account_permission($1, $2, $3, $4)",
        actor.user_id,
        org.id,
        scope_all(actor, org),
        account_id,
    )
    return permission


async def resource_permission(
    tx: Tx, actor: Actor, org: OrgRef, resource_id: uuid.UUID
) -> str | None:
    """The actor's permission on one resource, or None."""
    permission: str | None = await tx.fetchval(
        "SELECT permission FROM resource_permissions($1, $2, $3) WHERE resource_id = $4",
        actor.user_id,
        org.id,
        scope_all(actor, org),
        resource_id,
    )
    return permission


async def visible_resources(
    tx: Tx, actor: Actor, org: OrgRef, query: str | None, page: Page
) -> list[asyncpg.Record]:
    """A page of the resources the actor sees (optionally matching ``query``) with
    permission and the number of accounts it can use in each, in ``resource_order``.
    One row more than the page is fetched, to tell whether another page follows."""
    pattern = f"%{_escape_like(query)}%" if query else None
    after_name, after_id = page.after_as(str, str) or (None, None)
    return await tx.fetch(
        "WITH ap AS (SELECT resource_id, count(*) AS n FROM account_permissions($1, $2, $3) "
        "GROUP BY resource_id) "
        "SELECT r.id, r.name, r.type, r.url, r.description, r.department, r.location, "
        'rp.permission, coalesce(ap.n, 0) AS accounts, lower(r.name) COLLATE "C" AS sort_name '
        "FROM resource_permissions($1, $2, $3) rp JOIN resources r ON r.id = rp.resource_id "
        "LEFT JOIN ap ON ap.resource_id = r.id "
        "WHERE ($4::text IS NULL OR r.name ILIKE $4 OR r.url ILIKE $4 OR r.type ILIKE $4 "
        "OR r.description ILIKE $4) "
        'AND ($5::text IS NULL OR (lower(r.name) COLLATE "C", r.id::text) > ($5, $6)) '
        "ORDER BY sort_name, r.id::text LIMIT $7",
        actor.user_id,
        org.id,
        scope_all(actor, org),
        pattern,
        after_name,
        after_id,
        page.limit + 1,
    )


def resource_order(row: asyncpg.Record) -> Key:
    """The key resources are listed by (and paged on): lower-case name, then id."""
    return (row["sort_name"], str(row["id"]))


async def visible_accounts(
    tx: Tx, actor: Actor, org: OrgRef, resource_id: uuid.UUID
) -> list[asyncpg.Record]:
    """Accounts of one resource the actor may use, with their permission."""
    return await tx.fetch(
        "SELECT a.id, a.username, a.policy, a.password_changed_at, ap.permission "
        "FROM account_permissions($1, $2, $3) ap JOIN accounts a ON a.id = ap.account_id "
        "WHERE ap.resource_id = $4 ORDER BY lower(a.username)",
        actor.user_id,
        org.id,
        scope_all(actor, org),
        resource_id,
    )


async def reveal(
    reveals: db.Batcher,
    actor: Actor,
    org_name: str,
    account_id: uuid.UUID,
    reason: str | None,
    node: str,
) -> asyncpg.Record | None:
    """The account's ciphertexts if the actor may reveal it, in one statement
    (``reveal_account``, sql/functions/reveal_account.sql): the database resolves the org
    ``org_name`` names, checks that the actor's session or API key and the actor itself
    still stand (credential_stands), applies the rules (reach, the org's reveal reason,
    entitlement, check-out) and records the password_revealed event, so a revoked grant,
    share or check-out, a disable or a logout committed before it began reveals nothing.
    ``access`` in the row tells a refusal (see the SQL file); None: no such account, or
    not entitled. The super-administrator scope counts in the home org only, as
    ``scope_all`` says; the statement applies that part (it knows the org's id).
    Concurrent reveals share one statement and one commit (``reveals`` batches them).
    Issue 28: the org lookup that went before it is part of it now (one round trip less).

    Raises:
        ServiceUnavailable ``audit_unavailable`` (503) when the statement fails: its only
        write is the audit event, so nothing was revealed and nothing recorded (fail
        closed, as every other write; OWASP ASVS 4.0 V7.3). A lost connection keeps
        its own answer (``db.call_all``).
    """
    stored = not actor.local_session  # a session kept in this node's memory has no row
    try:
        return await reveals.call(
            account_id,
            actor.user_id,
            actor.org_id,  # the home org: the statement decides the reach (org_reach)
            org_name,
            actor.access_scope == "all",
            actor.session_id if stored else None,
            actor.api_key_id if stored else None,
            actor.username,
            actor.org,
            actor.ip,
            reason,
            node,
        )
    except asyncpg.PostgresError as exc:
        raise coded(
            ServiceUnavailable,
            "audit_unavailable",
            "the audit trail could not be written, so the password was not revealed",
        ) from exc


async def reveal_with_token(
    token_reveals: db.Batcher,
    home: uuid.UUID,
    token_hash: bytes,
    is_session: bool,
    idle: datetime.timedelta,
    org_name: str,
    account_id: uuid.UUID,
    ip: str,
    reason: str | None,
    node: str,
) -> asyncpg.Record:
    """``reveal`` for a bearer token not yet checked: ``reveal_accounts_with_tokens``
    (sql/functions/) authenticates it as the door does (``authenticate_token``: home org
    ``home``, its hash, session or API key, idle time) and only an accepted token with
    no first-login gate pending reveals, through ``reveal_account`` unchanged, as the
    actor the token names. The row always answers: the token's outcome and actor, and
    the reveal's columns (``access`` NULL: no reveal, or no such account or not entitled).
    Concurrent calls share one statement and one commit (issue 28).

    Raises:
        ServiceUnavailable ``audit_unavailable`` (503) when the statement fails (nothing
        revealed, nothing recorded), as ``reveal``.
    """
    try:
        row = await token_reveals.call(
            home, token_hash, is_session, idle, account_id, org_name, ip, reason, node
        )
    except asyncpg.PostgresError as exc:
        raise coded(
            ServiceUnavailable,
            "audit_unavailable",
            "the audit trail could not be written, so the password was not revealed",
        ) from exc
    if row is None:  # every call answers a row
        raise db.MissingRow("reveal_accounts_with_tokens answered no row for a call")
    return row


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def connect(
    pool: asyncpg.Pool,
    actor: Actor,
    org_name: str,
    account_id: uuid.UUID,
    reason: str | None,
    node: str,
    details: dict[str, str],
    readonly: bool,
) -> asyncpg.Record | None:
    """A reveal's decision for a brokered session (issue 30): ``use_account('connect', ...)``
    (sql/functions/reveal_account.sql), the very statement a reveal runs, so reach, the
    org's reason, entitlement and check-out are decided exactly as for a reveal; it records
    ``session_started`` (with ``details``) instead of ``password_revealed`` and lets a
    connect-only account through. The row as ``reveal`` answers it (None: no such account,
    or not entitled). ``readonly``: a node that cannot write (the event is spooled).

    Raises: ServiceUnavailable ``audit_unavailable`` (503) when the statement fails.
    """
    stored = not actor.local_session
    try:
        async with db.transaction(pool, readonly=readonly, prompt=True) as tx:
            return await tx.fetchrow(
                "SELECT * FROM use_account('connect', $1::jsonb, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, $11, $12, $13)",
                json.dumps(details),
                account_id,
                actor.user_id,
                actor.org_id,
                org_name,
                actor.access_scope == "all",
                actor.session_id if stored else None,
                actor.api_key_id if stored else None,
                actor.username,
                actor.org,
                actor.ip,
                reason,
                node,
            )
    except asyncpg.PostgresError as exc:
        raise coded(
            ServiceUnavailable,
            "audit_unavailable",
            "the audit trail could not be written, so the session was not opened",
        ) from exc


async def use_refusal(
    tx: Tx,
    actor: Actor,
    org_id: uuid.UUID,
    account_id: uuid.UUID,
    purpose: str = "connected",
    scope_now: bool = True,
    reason: str | None = None,
) -> str | None:
    """Why ``actor`` may not use account ``account_id`` of org ``org_id`` for ``purpose``
    now, or None when it may: ``account_use_allowed`` (sql/functions/account_use_rule.sql),
    THE rule ``use_account`` applies to a reveal and to a brokered session's start
    (credential, reach, entitlement, check-out), asked again with no side effect.
    ``purpose`` 'connected': a brokered session under way (issue 30 item 4: it is cut when
    the user loses the right to it), where the org's reason setting is not asked again;
    'connect': one about to open. ``scope_now``: the actor's access scope as the database
    holds it now (a session under way was authenticated long ago), else the actor's.
    ``reason``: the reason the use gives (asked for 'connect' when the org requires one).
    The refusals: 'user_disabled', 'credential_ended', 'no_org', 'not_entitled', 'held',
    'request_required' (check-out), 'reason_required', 'connect_only'.

    Raises: asyncpg.PostgresError when the statement fails (the caller fails closed).
    """
    stored = not actor.local_session  # a session kept in this node's memory has no row
    access: str | None = await tx.fetchval(
        "SELECT account_use_allowed($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        purpose,
        account_id,
        actor.user_id,
        actor.org_id,
        org_id,
        None if scope_now else actor.access_scope == "all",
        actor.session_id if stored else None,
        actor.api_key_id if stored else None,
        reason,
    )
    return None if access == "ok" else (access or "not_entitled")
