"""Who may act inside which org: the one place that resolves ``/orgs/{org}`` for an actor.

An org the actor may not act in answers 404, exactly like an org that does not
exist. Users act in their home org; an MSPOrg user may act in a client org when
it is the org's account manager or holds an approved org access grant (directly
or through an MSPOrg user group). Inside the org it acts with its own role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from server.core import permissions
from server.core.errors import Forbidden, NotFound
from server.services.context import Actor
from server.store import db

MSP_ORG = "MSPOrg"


@dataclass(frozen=True)
class OrgRef:
    """An org as services need it."""

    id: uuid.UUID
    display_name: str
    name: str
    is_msp: bool
    account_manager_id: uuid.UUID | None
    vault_control: str
    via: str  # how the actor reaches it: home, account_manager, grant
    require_reveal_reason: bool = False


_ORG_COLUMNS = (
    "id, display_name, name, is_msp, account_manager_id, vault_control, require_reveal_reason"
)


async def find_org(conn: asyncpg.Connection, display_name: str) -> asyncpg.Record | None:
    """An org by display name (case-insensitive), whoever asks."""
    return await conn.fetchrow(
        f"SELECT {_ORG_COLUMNS} FROM orgs WHERE lower(display_name) = lower($1)", display_name
    )


async def msp_org_id(conn: asyncpg.Connection) -> uuid.UUID:
    """The id of MSPOrg."""
    return await conn.fetchval("SELECT id FROM orgs WHERE is_msp")


async def access_via(conn: asyncpg.Connection, actor: Actor, org: asyncpg.Record) -> str | None:
    """How ``actor`` may act in ``org`` ('home', 'account_manager', 'grant'), or None."""
    if org["id"] == actor.org_id:
        return "home"
    if not actor.org_is_msp:
        return None
    if org["account_manager_id"] == actor.user_id:
        return "account_manager"
    if await has_grant(conn, actor, org["id"]):
        return "grant"
    return None


async def has_grant(conn: asyncpg.Connection, actor: Actor, org_id: uuid.UUID) -> bool:
    """Whether an approved org access grant covers ``actor`` for ``org_id``.

    Grants are MSPOrg's data, so they are read in the actor's (MSPOrg) RLS context.
    """
    async with db.in_org(conn, actor.org_id):
        return await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM org_access_grants g WHERE g.client_org_id = $1 AND "
            "(g.user_id = $2 OR g.group_id IN "
            "(SELECT group_id FROM group_members WHERE user_id = $2)))",
            org_id,
            actor.user_id,
        )


# Org lookups by name for the hot path, batched (db.Batcher): one statement serves every
# lookup that arrives together.
ORGS_BY_NAME = (
    f"SELECT u.i AS idx, {', '.join('o.' + c.strip() for c in _ORG_COLUMNS.split(','))} "
    "FROM unnest($1::text[]) WITH ORDINALITY AS u(name, i) "
    "JOIN orgs o ON lower(o.display_name) = lower(u.name)"
)


async def resolve_org(
    pool: asyncpg.Pool, orgs_by_name: db.Batcher, actor: Actor, display_name: str
) -> OrgRef:
    """acting_org without holding a transaction open (the hot path of revealing a
    password): one batched lookup, and a round trip more when an org access grant must
    be looked up."""
    org = await orgs_by_name.call(display_name)
    if org is not None:
        if org["id"] == actor.org_id:
            return org_ref(org, "home")
        if actor.org_is_msp and org["account_manager_id"] == actor.user_id:
            return org_ref(org, "account_manager")
        if actor.org_is_msp:
            async with db.transaction(pool, actor.org_id, readonly=True) as tx:
                if await has_grant(tx, actor, org["id"]):
                    return org_ref(org, "grant")
    raise NotFound(f"no organization named {display_name!r}")


def org_ref(org: asyncpg.Record, via: str) -> OrgRef:
    """An org row as services need it, reached ``via`` (home, account_manager, grant…)."""
    return OrgRef(
        org["id"],
        org["display_name"],
        org["name"],
        org["is_msp"],
        org["account_manager_id"],
        org["vault_control"],
        via,
        org["require_reveal_reason"],
    )


async def managed_org_ids(conn: asyncpg.Connection, actor: Actor) -> set[uuid.UUID]:
    """Client orgs the MSP actor manages: as account manager or through a grant."""
    if not actor.org_is_msp:
        return set()
    ids = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM orgs WHERE account_manager_id = $1", actor.user_id
        )
    }
    await db.set_org(conn, actor.org_id)
    ids |= {
        r["client_org_id"]
        for r in await conn.fetch(
            "SELECT client_org_id FROM org_access_grants WHERE user_id = $1 OR group_id IN "
            "(SELECT group_id FROM group_members WHERE user_id = $1)",
            actor.user_id,
        )
    }
    return ids


async def acting_org(conn: asyncpg.Connection, actor: Actor, display_name: str) -> OrgRef:
    """Resolve ``display_name`` to an org ``actor`` may act in, or raise 404."""
    org = await find_org(conn, display_name)
    via = await access_via(conn, actor, org) if org else None
    if org is None or via is None:
        raise NotFound(f"no organization named {display_name!r}")
    return org_ref(org, via)


async def enter_org(conn: asyncpg.Connection, actor: Actor, display_name: str) -> OrgRef:
    """acting_org, then switch the transaction's RLS context to that org."""
    org = await acting_org(conn, actor, display_name)
    await db.set_org(conn, org.id)
    return org


def require_user_admin(actor: Actor, org: OrgRef) -> None:
    """Managing users and groups needs an administrator role in (or over) the org."""
    if not permissions.can_manage_users(actor):
        raise Forbidden("only administrators manage users and groups")


def require_audit_reader(actor: Actor, org: OrgRef) -> None:
    """Reading the audit trail needs an administrator or auditor role."""
    if not permissions.can_read_audit(actor):
        raise Forbidden("only administrators and auditors read the audit trail")
