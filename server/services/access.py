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
# How a user reaches an org (sql/functions/org_reach.sql).
VIAS = ("home", "account_manager", "grant")


@dataclass(frozen=True)
class OrgRef:
    """An org as services need it, and how the actor acts there.

    Attributes:
        via: how the actor reaches it (``home``, ``account_manager``, ``grant``; services
            acting without an actor use their own word, e.g. ``system``).
        capabilities: what the actor may do there (``permissions.capabilities_in``).
    """

    id: uuid.UUID
    display_name: str
    name: str
    is_msp: bool
    account_manager_id: uuid.UUID | None
    vault_control: str
    via: str
    require_reveal_reason: bool = False
    capabilities: frozenset[str] = frozenset()


# What a service is handed for the ``{org}`` of an ``/orgs/{org}`` route: the org the web
# layer resolved before the handler (server/web/org_scope.py), or its display name when
# the web layer found no org the actor reaches (the service then answers as for a name).
OrgArg = OrgRef | str

_ORG_COLUMNS = (
    "id, display_name, name, is_msp, account_manager_id, vault_control, require_reveal_reason"
)
_O_COLUMNS = ", ".join("o." + c.strip() for c in _ORG_COLUMNS.split(","))

# THE reach rule is org_reach(user, home org, org) in sql/functions/org_reach.sql; every
# question below is one call of it.
_REACH_ONE = "SELECT via FROM org_reach($1, $2, $3)"
_REACHED = "SELECT org_id, via FROM org_reach($1, $2)"
_ORGS_REACHED = (
    f"SELECT {_O_COLUMNS}, r.via FROM org_reach($1, $2) r JOIN orgs o ON o.id = r.org_id "
    "ORDER BY lower(o.display_name)"
)
_ORG_REACHED_BY_NAME = (
    f"SELECT {_O_COLUMNS}, r.via FROM orgs o, org_reach($2, $3, o.id) r "
    "WHERE lower(o.display_name) = lower($1)"
)
_ORG_REACHED_BY_ID = (
    f"SELECT {_O_COLUMNS}, r.via FROM orgs o, org_reach($2, $3, o.id) r WHERE o.id = $1"
)

# Org lookups by name for the web layer and the hot path, batched (db.Batcher): one
# statement serves every lookup that arrives together. Arguments: display names, the
# actors' user ids and home org ids; an org the actor does not reach answers no row.
ORGS_BY_NAME = (
    f"SELECT u.i AS idx, {_O_COLUMNS}, r.via "
    "FROM unnest($1::text[], $2::uuid[], $3::uuid[]) WITH ORDINALITY AS u(name, uid, home, i) "
    "JOIN orgs o ON lower(o.display_name) = lower(u.name) "
    # The reach rule alone decides, the home org included (org_reach answers it before
    # reading anything: issue 28 dropped the copy of that clause kept here).
    "CROSS JOIN LATERAL org_reach(u.uid, u.home, o.id) r"
)


async def find_org(conn: asyncpg.Connection, display_name: str) -> asyncpg.Record | None:
    """An org by display name (case-insensitive), whoever asks."""
    return await conn.fetchrow(
        f"SELECT {_ORG_COLUMNS} FROM orgs WHERE lower(display_name) = lower($1)", display_name
    )


async def msp_org_id(conn: asyncpg.Connection) -> uuid.UUID:
    """The id of MSPOrg."""
    org_id: uuid.UUID = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
    return org_id


def name_of(org: OrgArg) -> str:
    """The display name of an org handed to a service (as the caller spelled it when
    unresolved)."""
    return org if isinstance(org, str) else org.display_name


async def reach(
    conn: asyncpg.Connection | db.Tx, user_id: uuid.UUID, home_id: uuid.UUID, org_id: uuid.UUID
) -> str | None:
    """How user ``user_id`` of org ``home_id`` reaches org ``org_id`` (``home``,
    ``account_manager``, ``grant``), or None when it may not act there (sql/functions/org_reach.sql
    ``org_reach``; the RLS context is left as it was)."""
    how: str | None = await conn.fetchval(_REACH_ONE, user_id, home_id, org_id)
    return how


async def reached_orgs(
    conn: asyncpg.Connection | db.Tx, user_id: uuid.UUID, home_id: uuid.UUID
) -> dict[uuid.UUID, str]:
    """Every org user ``user_id`` of org ``home_id`` may act in -> how it reaches it, its
    home org included (sql/functions/org_reach.sql)."""
    return {r["org_id"]: r["via"] for r in await conn.fetch(_REACHED, user_id, home_id)}


async def resolve_org(
    pool: asyncpg.Pool, orgs_by_name: db.Batcher, actor: Actor, org: OrgArg
) -> OrgRef:
    """acting_org without holding a transaction open (the web layer's step before every
    ``/orgs/{org}`` handler, and the hot path of revealing a password): one batched
    statement finds the org and decides the actor's reach there. An org already resolved
    is returned as it is.

    Raises:
        NotFound for an org that does not exist or that the actor does not reach.
    """
    if isinstance(org, OrgRef):
        return org
    row = await orgs_by_name.call(org, actor.user_id, actor.org_id)
    if row is None:
        raise NotFound(f"no organization named {org!r}")
    return org_ref(row, row["via"], actor)


def org_ref(org: asyncpg.Record, via: str, actor: Actor | None = None) -> OrgRef:
    """An org row as services need it, reached ``via`` (home, account_manager, grant…),
    with ``actor``'s capabilities there (none without an actor)."""
    return OrgRef(
        org["id"],
        org["display_name"],
        org["name"],
        org["is_msp"],
        org["account_manager_id"],
        org["vault_control"],
        via,
        org["require_reveal_reason"],
        permissions.capabilities_in(actor, org["is_msp"], via) if actor else frozenset(),
    )


async def orgs_reached(conn: asyncpg.Connection | db.Tx, actor: Actor) -> list[OrgRef]:
    """Every org ``actor`` may act in, its home org included, by display name
    (sql/functions/org_reach.sql), each with the actor's capabilities there."""
    rows = await conn.fetch(_ORGS_REACHED, actor.user_id, actor.org_id)
    return [org_ref(r, r["via"], actor) for r in rows]


async def managed_org_ids(conn: asyncpg.Connection, actor: Actor) -> set[uuid.UUID]:
    """Client orgs the MSP actor manages: as account manager or through a grant (the
    connection is left in the actor's RLS context, as callers expect)."""
    if not actor.org_is_msp:
        return set()
    reached = await reached_orgs(conn, actor.user_id, actor.org_id)
    await db.set_org(conn, actor.org_id)
    return {org_id for org_id, via in reached.items() if via != "home"}


async def acting_org(conn: asyncpg.Connection | db.Tx, actor: Actor, org: OrgArg) -> OrgRef:
    """Resolve ``org`` to an org ``actor`` may act in, or raise 404, inside the caller's
    transaction: an org the web layer resolved is checked again here (a grant revoked
    meanwhile stops this very request), except the actor's home org, which it cannot lose.

    Raises:
        NotFound for an org that does not exist or that the actor does not reach.
    """
    if isinstance(org, OrgRef):
        if org.via == "home" and org.id == actor.org_id:
            return org
        row = await conn.fetchrow(_ORG_REACHED_BY_ID, org.id, actor.user_id, actor.org_id)
    else:
        row = await conn.fetchrow(_ORG_REACHED_BY_NAME, org, actor.user_id, actor.org_id)
    if row is None:
        raise NotFound(f"no organization named {name_of(org)!r}")
    return org_ref(row, row["via"], actor)


async def enter_org(conn: asyncpg.Connection | db.Tx, actor: Actor, org: OrgArg) -> OrgRef:
    """acting_org, then switch the transaction's RLS context to that org."""
    ref = await acting_org(conn, actor, org)
    await db.set_org(conn, ref.id)
    return ref


def require_msp_admin(actor: Actor, doing: str = "manage organizations") -> None:
    """MSPOrg administrators (privileged or not; built-in roles only) manage organizations,
    org access, the cluster and replicated settings (``permissions.can_administer_msp``).

    Raises:
        Forbidden "only MSPOrg administrators <doing>".
    """
    if not permissions.can_administer_msp(actor):
        raise Forbidden(f"only MSPOrg administrators {doing}")


def require_user_admin(actor: Actor, org: OrgRef) -> None:
    """Managing users and groups needs an administrator role in (or over) the org."""
    if not permissions.can_manage_users(actor):
        raise Forbidden("only administrators manage users and groups")


def require_audit_reader(actor: Actor, org: OrgRef) -> None:
    """Reading the audit trail needs an administrator or auditor role."""
    if not permissions.can_read_audit(actor):
        raise Forbidden("only administrators and auditors read the audit trail")


LOGIN_PATH = "/api/v1/auth/login"


async def login_address(
    pool: asyncpg.Pool, display_name: str, actor: Actor | None
) -> dict[str, str]:
    """The answer of ``GET /{display_name}``: where the org's users log in.

    Before login (``actor`` None) every well-formed name gets the same answer, the name as
    given, without a lookup: whether a client org exists cannot be learnt there, so the
    MSP's client list cannot be enumerated (issue 26, item 11; OWASP ASVS 4.0 V2.2, the
    login's own answer is the same for an unknown org and a wrong password). After login
    the org's own spelling is given for an org the actor reaches (its home org included).

    Raises:
        NotFound: after login, for a name the actor does not reach (existing or not).
    """
    if actor is None:
        return {"org": display_name, "login": LOGIN_PATH}
    async with db.transaction(pool, actor.org_id, readonly=True) as conn:
        reached = await orgs_reached(conn, actor)
    wanted = display_name.lower()
    for org in reached:
        if org.display_name.lower() == wanted:
            return {"org": org.display_name, "login": LOGIN_PATH}
    raise NotFound(f"no organization named {display_name!r} that you can reach")
