"""Dual control: the one rule that every path into a client org passes through.

The guide's promise: no administrator acquires manage permission for a client org, or
grants it to anyone, without the approval of another administrator; MSP staff see
client data only where the client shares it with them or they added it
(DESIGN.md §3, "Managing a client org from the MSP").

Persons, not accounts (``same_person``, the one test every approval asks). Whoever creates
an account or sets its password can act as it, so each user carries its *credential chain*
(``users.credential_chain``: who set its credentials, who set theirs, …) and every MSPOrg
user a *principal*: itself for a founding administrator (and for administrators that
existed before this rule), otherwise the principal of whoever created it or last set its
password (``users.principal_id``; NULL means itself). Two accounts are one person when
their chains, each starting with the account itself, share any link (one made the other,
or one account made both — siblings), or when, as MSPOrg users, they share a principal
(issue 26, item 2). This holds in every org and for every approval:

- the proposer, the designee (or any member of the designee group) and the approver of
  an org access request are three different persons (the guide: "at least three
  administrators");
- the approver is an active MSPOrg administrator (checked at filing and at decision);
- the approver of a password check-out is not the requester's person
  (``independence_problem``).

Founding phase: a fresh install must reach three people, so an administrator that an
MSPOrg administrator creates while the phase is open is its own principal and a *founder*
(``users.founder``; init's first administrator is one too). The phase is decided by what
was created, not by what is active now: it closes for good (``orgs.founding_closed_at``)
once FOUNDING_ADMINISTRATORS founders have been created, whatever their status or role
became since, and the decision is taken under a lock on MSPOrg's row, so two creations at
once cannot both be the third founder (issue 26, item 1). An independent MSPOrg account
that is not a built-in administrator now (a demoted founder, a legacy user) becomes an
administrator again only as its promoter's person (``person_on_promotion``); disabling and
re-enabling an account leaves its person as it is.

Client users: a client user that an MSP user, or an unconfirmed user, created or whose
password it set is *unconfirmed* (``users.client_confirmed``) and reaches only what it
owns and what MSP staff shared with it by name (``user_trusted`` in sql/010), until a
confirmed administrator of that org confirms it — or, in an org that has no active
confirmed administrator, an MSP ``user_confirmation`` request (not proposed by the user's
maker) is approved. Only the client's own confirmed administrators change such a user's
credentials, status, role, scope or 2FA rule. An org whose vault control is ``msp``
trusts its users as they are.

Decisions lock the rows they read, so a reset or a membership change cannot slip between
a check and the change it allows.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, Forbidden, coded
from server.services.access import msp_org_id
from server.services.context import Actor
from server.store import db

KINDS = (
    "grant",
    "account_manager",
    "group_member",
    "user_confirmation",
    "audit_retention",
    "org_rename",
    "org_purge",
    "directory_config",  # MSPOrg's directory configuration (issue 32)
)
FOUNDING_ADMINISTRATORS = 3  # the guide's "at least three administrators"

_PRINCIPAL = "SELECT coalesce(principal_id, id) FROM users WHERE id = $1"
_PRINCIPALS = "SELECT coalesce(principal_id, id) FROM users WHERE id = ANY($1::uuid[])"
_GROUP_MEMBERS = "SELECT user_id FROM group_members WHERE group_id = $1"
_ACTIVE_ADMIN = (
    "SELECT username FROM users WHERE id = $1 AND org_id = $2 AND status = 'active' "
    "AND role = ANY($3::text[])"
)
# Founders ever created, whatever their status or role now (sql/024_founders.sql).
# A counter, not a count of rows: deleting a founder does not free its seat.
_FOUNDERS = "SELECT founders_created FROM orgs WHERE id = $1"
# Which client orgs an MSPOrg user reaches: THE reach rule (sql/functions/org_reach.sql), asked
# for everything but the user's home.
_REACH = (
    "SELECT o.display_name FROM org_reach($1, $2) r JOIN orgs o ON o.id = r.org_id "
    "WHERE r.via <> 'home' ORDER BY 1"
)
_GROUP_GRANTS = (
    "SELECT o.display_name FROM org_access_grants g JOIN orgs o ON o.id = g.client_org_id "
    "WHERE g.group_id = $1 ORDER BY 1"
)


@dataclass(frozen=True)
class Parties:
    """Who a request involves: proposer, designee users (a user, or a group's members
    at the time of the check), and the account whose credentials matter for a
    ``user_confirmation`` (the client user's principal)."""

    proposer_id: uuid.UUID
    designee_ids: tuple[uuid.UUID, ...] = ()
    extra_principals: tuple[uuid.UUID, ...] = ()
    designee_is_group: bool = False


async def parties(
    conn: asyncpg.Connection,
    proposer_id: uuid.UUID,
    designee_user_id: uuid.UUID | None,
    designee_group_id: uuid.UUID | None,
    extra_principals: tuple[uuid.UUID, ...] = (),
) -> Parties:
    """The request's parties as of now (in MSPOrg's RLS context)."""
    if designee_group_id is not None:
        rows = await conn.fetch(_GROUP_MEMBERS, designee_group_id)
        return Parties(proposer_id, tuple(r["user_id"] for r in rows), extra_principals, True)
    ids = (designee_user_id,) if designee_user_id is not None else ()
    return Parties(proposer_id, ids, extra_principals)


async def principal_of(conn: asyncpg.Connection, user_id: uuid.UUID) -> uuid.UUID | None:
    """The person behind ``user_id`` (its own id for an independent account)."""
    principal: uuid.UUID | None = await conn.fetchval(_PRINCIPAL, user_id)
    return principal


async def proposer_problem(conn: asyncpg.Connection, who: Parties) -> str | None:
    """Why the proposer may not file this request, or None.

    The proposer is never the designee, nor the same person (``same_person``) as the
    designee or as any member of the designee group: two people besides the designee must
    agree (in MSPOrg's RLS context).
    """
    if who.proposer_id in who.designee_ids:
        if who.designee_is_group:
            return "the proposer cannot be a member of the group that is given access"
        return "the proposer cannot be the user who is given access"
    mine = await principal_of(conn, who.proposer_id)
    if mine in who.extra_principals:
        return (
            "the proposer and the user to confirm are one person's (the proposer created "
            "it or set its password)"
        )
    msp_id = await msp_org_id(conn)
    whose = "a member of the group" if who.designee_is_group else "the designee"
    for designee in who.designee_ids:
        problem = await same_person(
            conn, who.proposer_id, designee, (msp_id,), msp_id, ("the proposer", whose)
        )
        if problem:
            return problem
    return None


async def approver_problem(
    conn: asyncpg.Connection, msp_id: uuid.UUID, approver_id: uuid.UUID | None, who: Parties
) -> str | None:
    """Why ``approver_id`` may not decide a request with these parties, or None.

    Args:
        conn: a connection in MSPOrg's RLS context.
        msp_id: MSPOrg's id.
        approver_id: the named approver (None: no such user).
        who: the request's parties (``parties``).
    Returns:
        A sentence for the caller, or None when the approver is eligible: an active MSPOrg
        administrator who is not the same person (``same_person``) as the proposer, the
        designee or any member of the designee group (issue 26, item 2).
    """
    if approver_id is None or not await conn.fetchval(
        _ACTIVE_ADMIN, approver_id, msp_id, list(permissions.ADMIN_ROLES)
    ):
        return "the approver must be an active MSPOrg administrator"
    if approver_id == who.proposer_id:
        return "the approver cannot be the proposer"
    if approver_id in who.designee_ids:
        if who.designee_is_group:
            return "the approver cannot be a member of the group that is given access"
        return "the approver cannot be the user who is given access"
    problem = await same_person(
        conn, approver_id, who.proposer_id, (msp_id,), msp_id, ("the approver", "the proposer")
    )
    if problem:
        return problem
    whose = "a member of the group" if who.designee_is_group else "the designee"
    for designee in who.designee_ids:
        problem = await same_person(
            conn, approver_id, designee, (msp_id,), msp_id, ("the approver", whose)
        )
        if problem:
            return problem
    if await principal_of(conn, approver_id) in who.extra_principals:
        return (
            "the approver is not independent of the user to confirm: one of them created "
            "the other's account or set its password"
        )
    return None


async def eligible_approvers(
    conn: asyncpg.Connection, msp_id: uuid.UUID, who: Parties
) -> list[asyncpg.Record]:
    """The active MSPOrg administrators who could approve a request with these parties
    (username, full_name), by ``approver_problem`` itself."""
    candidates = await conn.fetch(
        "SELECT id, username, full_name FROM users WHERE org_id = $1 AND status = 'active' "
        "AND role = ANY($2::text[]) ORDER BY lower(username)",
        msp_id,
        list(permissions.ADMIN_ROLES),
    )
    return [c for c in candidates if await approver_problem(conn, msp_id, c["id"], who) is None]


CHAIN_LIMIT = 64  # links of credential_chain kept; a deeper account cannot be made


async def credential_chain(
    conn: asyncpg.Connection, user_id: uuid.UUID, org_ids: tuple[uuid.UUID, ...]
) -> list[uuid.UUID]:
    """``user_id`` followed by whoever set its credentials, whoever set theirs, … as stored
    with the user (``users.credential_chain``; looked up in each of ``org_ids``' RLS
    contexts in turn)."""
    for org_id in org_ids:
        async with db.in_org(conn, org_id):
            chain = await conn.fetchval("SELECT credential_chain FROM users WHERE id = $1", user_id)
        if chain is not None:
            return [user_id, *chain]
    return [user_id]


async def independence_problem(
    conn: asyncpg.Connection,
    approver_id: uuid.UUID,
    requester_id: uuid.UUID,
    org_id: uuid.UUID,
    msp_id: uuid.UUID,
) -> str | None:
    """Why ``approver_id`` may not approve what ``requester_id`` asked for (a password
    access request), or None: the two must be different persons (``same_person``: neither
    made the other, no account made both, and MSPOrg users not one principal).

    Args:
        conn: a connection inside a transaction; the RLS context is restored on return.
        org_id: the org the request lives in; ``msp_id``: MSPOrg.
    """
    if approver_id == requester_id:
        return "nobody approves its own request"
    orgs = (org_id, msp_id) if org_id != msp_id else (msp_id,)
    return await same_person(
        conn, approver_id, requester_id, orgs, msp_id, ("the approver", "the requester")
    )


# -- who controls a new or reset account ---------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """What a user created, or given a password, by ``actor`` becomes."""

    principal_id: uuid.UUID | None  # None: its own (independent) principal
    client_confirmed: bool
    credential_chain: list[uuid.UUID]  # the actor, then whoever set the actor's, …
    founder: bool = False  # created as one of MSPOrg's founding administrators


async def provenance(
    conn: asyncpg.Connection,
    actor: Actor,
    org_id: uuid.UUID,
    org_is_msp: bool,
    role: str,
    creating: bool,
    previous_chain: list[uuid.UUID] | None = None,
) -> Provenance:
    """The principal and confirmation of an account that ``actor`` creates (``creating``)
    or whose password it sets, in org ``org_id``.

    An MSPOrg administrator created during the founding phase is independent and a founder
    (``founding_seat``, which holds MSPOrg's row locked until the caller's transaction
    ends; the count of founders ever created, ``orgs.founders_created``, goes up by one);
    any other account is controlled by the actor's principal. A client user is confirmed
    only when a confirmed user of that same org made it.

    ``previous_chain``: when setting an existing account's password, its chain so far. A
    reset adds the resetter's chain in front of it and never drops a link: whoever made
    the account could ask for the reset ("I forgot my password") and receive the new one,
    so it stays that person's too (issue 26's attack pass: a helpdesk reset by another
    founder erased the maker's link). Duplicates are kept once.

    Raises:
        Conflict ``chain_too_deep`` when the chain would pass CHAIN_LIMIT links.
    """
    async with db.in_org(conn, actor.org_id):
        me = await conn.fetchrow(
            "SELECT coalesce(principal_id, id) AS principal, client_confirmed, "
            "credential_chain FROM users WHERE id = $1",
            actor.user_id,
        )
        founding = (
            creating
            and org_is_msp
            and permissions.is_administrator(role)
            and actor.org_is_msp
            and await founding_seat(conn, actor.org_id)
        )
    chain = list(dict.fromkeys([actor.user_id, *me["credential_chain"], *(previous_chain or [])]))
    if len(chain) > CHAIN_LIMIT:
        raise coded(
            Conflict,
            "chain_too_deep",
            f"{actor.username} is {len(chain) - 1} accounts away from an account nobody "
            "made; it cannot make or reset more accounts",
        )
    if founding:
        async with db.in_org(conn, actor.org_id):
            await conn.execute(
                "UPDATE orgs SET founders_created = founders_created + 1 WHERE id = $1",
                actor.org_id,
            )
        return Provenance(None, True, [], founder=True)  # a founder answers to nobody
    confirmed = org_is_msp or (actor.org_id == org_id and me["client_confirmed"])
    return Provenance(me["principal"], confirmed, chain)


async def close_founding_if_due(conn: asyncpg.Connection, msp_id: uuid.UUID) -> bool:
    """End MSPOrg's founding phase for good once FOUNDING_ADMINISTRATORS founders have been
    created, whatever their status or role now; True if it ended now (in MSPOrg's RLS
    context, after ``founding_seat`` locked MSPOrg's row in this transaction)."""
    closed = await conn.fetchval(
        "SELECT founding_closed_at IS NOT NULL FROM orgs WHERE id = $1", msp_id
    )
    if closed:
        return False
    if await conn.fetchval(_FOUNDERS, msp_id) < FOUNDING_ADMINISTRATORS:
        return False
    await conn.execute("UPDATE orgs SET founding_closed_at = now() WHERE id = $1", msp_id)
    return True


async def founding_open(conn: asyncpg.Connection, msp_id: uuid.UUID) -> bool:
    """Whether MSPOrg is still in its founding phase (fewer founders created than
    FOUNDING_ADMINISTRATORS, and never closed; in MSPOrg's RLS context)."""
    if await conn.fetchval("SELECT founding_closed_at IS NOT NULL FROM orgs WHERE id = $1", msp_id):
        return False
    return bool(await conn.fetchval(_FOUNDERS, msp_id) < FOUNDING_ADMINISTRATORS)


# -- paths that would hand an MSP user a way in ---------------------------------------


async def refuse_reset_of_reaching_user(
    conn: asyncpg.Connection, target_id: uuid.UUID, username: str, msp_id: uuid.UUID
) -> None:
    """Refuse to set the password of an MSPOrg user who reaches a client org: whoever
    knows the new password could act there as it (the orgs it reaches: sql/functions/org_reach.sql
    ``org_reach``, the rule every request in a client org passes).

    Args:
        conn: a connection inside the caller's transaction (its RLS context is kept).
        target_id, username: the MSPOrg user whose password would be set.
        msp_id: MSPOrg's id (the user's home org).
    Raises:
        Conflict ``dual_control_required`` naming the orgs it reaches.
    """
    reach = [r[0] for r in await conn.fetch(_REACH, target_id, msp_id)]
    if reach:
        raise coded(
            Conflict,
            "dual_control_required",
            f"{username} reaches {', '.join(reach)}; whoever sets its password could act "
            "there as it. It can change its own password; otherwise revoke its access (or "
            "assign another account manager by request) first",
        )


async def refuse_change_of_confirmed_client_user(
    conn: asyncpg.Connection, actor: Actor, org_id: uuid.UUID, target: asyncpg.Record
) -> None:
    """Only a confirmed administrator of a client org sets the password of one of its
    confirmed users, or changes its status, role, scope or 2FA rule, or deletes it: whoever
    else set it could log in as it, and whoever disabled the client's administrators could
    reopen confirmation to the MSP (in the client org's RLS context).

    Raises:
        Forbidden ``client_confirms``.
    """
    if not target["client_confirmed"]:
        return
    vault = await conn.fetchval("SELECT vault_control FROM orgs WHERE id = $1", org_id)
    if vault == "msp":
        return
    if actor.org_id == org_id and await conn.fetchval(
        "SELECT client_confirmed FROM users WHERE id = $1", actor.user_id
    ):
        return
    raise coded(
        Forbidden,
        "client_confirms",
        f"only a confirmed administrator of the org itself sets {target['username']}'s password",
    )


async def refuse_new_members_of_granted_group(
    conn: asyncpg.Connection, group_id: uuid.UUID, name: str, added: list[str]
) -> None:
    """Refuse to add members to an MSPOrg group that holds org access grants: each new
    member needs an approved ``group_member`` request (in MSPOrg's RLS context).

    Raises:
        Conflict ``dual_control_required`` naming the orgs and the users.
    """
    orgs = [r[0] for r in await conn.fetch(_GROUP_GRANTS, group_id)]
    if orgs and added:
        raise coded(
            Conflict,
            "dual_control_required",
            f"{name} holds access to {', '.join(orgs)}; adding {', '.join(sorted(added))} "
            "needs an approved request (POST /org-access-requests with kind group_member)",
        )


# -- a client's consent: changes that weaken a client org against its own people -------

CONSENT_REQUEST_KIND = "audit_retention"  # the org access request for the second-person path
_CLIENT_HAS_CONFIRMED_ADMIN = (
    "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND client_confirmed "
    "AND status = 'active' AND role = ANY($2::text[]))"
)


async def client_has_confirmed_admin(conn: asyncpg.Connection, org_id: uuid.UUID) -> bool:
    """Whether client org ``org_id`` has an active confirmed built-in administrator of its
    own (then it, and only it, consents for the client; the RLS context is kept)."""
    async with db.in_org(conn, org_id):
        found: bool = await conn.fetchval(
            _CLIENT_HAS_CONFIRMED_ADMIN, org_id, list(permissions.ADMIN_ROLES)
        )
    return found


async def client_consents(
    conn: asyncpg.Connection, actor: Actor, org_id: uuid.UUID, change: str
) -> None:
    """THE consent rule (issue 26, items 6 and 8): a change that weakens a client org
    against its own people — shortening its audit retention, purging its audit trail,
    overwriting one of its roles — is made by the client's own confirmed administrator (an
    active, confirmed, built-in administrator of that org acting in it). When the org has
    no such administrator (the MSP runs it alone), an MSP request of kind
    ``audit_retention`` approved by a second, independent MSPOrg administrator makes it
    instead (org_access.py). MSPOrg's own settings are its administrators' to change.

    Args:
        conn: a connection inside the caller's transaction (its RLS context is kept).
        actor: who asks; org_id: the org whose settings would change.
        change: what is asked, for the refusal ("shortens its audit retention").
    Raises:
        Forbidden ``client_confirms``: the org has a confirmed administrator, and the
        actor is not one. Conflict ``dual_control_required``: it has none; file a request.
    """
    async with db.in_org(conn, org_id):
        org = await conn.fetchrow("SELECT display_name, is_msp FROM orgs WHERE id = $1", org_id)
        if org is None or org["is_msp"]:
            return
        if (
            actor.org_id == org_id
            and permissions.is_administrator(actor)
            and await conn.fetchval(
                "SELECT client_confirmed FROM users WHERE id = $1 AND status = 'active'",
                actor.user_id,
            )
        ):
            return
    if await client_has_confirmed_admin(conn, org_id):
        raise coded(
            Forbidden,
            "client_confirms",
            f"only a confirmed administrator of {org['display_name']} itself {change}",
        )
    raise coded(
        Conflict,
        "dual_control_required",
        f"{org['display_name']} has no confirmed administrator of its own, so a second MSPOrg "
        f"administrator must agree before one {change}: file a request of kind "
        f"{CONSENT_REQUEST_KIND} (POST /org-access-requests)",
    )


async def replicated_role_problem(
    conn: asyncpg.Connection,
    org_id: uuid.UUID,
    name: str,
    current: frozenset[str] | None,
    proposed: frozenset[str],
    client_owned: bool,
) -> str | None:
    """Why replication may not give client org ``org_id``'s role ``name`` the MSP's
    permissions ``proposed``, or None (the consent rule above, as replication has no one
    to ask): it never creates a role named like a built-in, never raises a role's
    permissions (``current``; None for a role it would create), and takes over a role of
    the client's own (``client_owned``) only while the org has no confirmed administrator,
    which would otherwise have to consent.
    """
    if permissions.imitates_builtin(name):
        return f"{name!r} reads as a built-in role's name"
    if current is not None and not proposed <= current:
        added = ", ".join(sorted(proposed - current))
        return f"the MSP's version would raise its permissions (adds {added})"
    if client_owned and await client_has_confirmed_admin(conn, org_id):
        return "the org has a confirmed administrator of its own: only it changes its roles"
    return None


# -- persons (issue 26) -----------------------------------------------------------------


async def founding_seat(conn: asyncpg.Connection, msp_id: uuid.UUID) -> bool:
    """Whether an administrator created now would be one of MSPOrg's founders: the founding
    phase is open and fewer than FOUNDING_ADMINISTRATORS founders were ever created.

    Locks MSPOrg's row (``FOR UPDATE``) until the caller's transaction ends, so concurrent
    creations take turns and two of them cannot both be the third founder (issue 26,
    item 1). Call it in MSPOrg's RLS context, in the transaction that inserts the user.
    """
    closed = await conn.fetchval(
        "SELECT founding_closed_at IS NOT NULL FROM orgs WHERE id = $1 FOR UPDATE", msp_id
    )
    if closed:
        return False
    return bool(await conn.fetchval(_FOUNDERS, msp_id) < FOUNDING_ADMINISTRATORS)


async def _username(
    conn: asyncpg.Connection, user_id: uuid.UUID, org_ids: tuple[uuid.UUID, ...]
) -> str:
    """A user's name for a message, looked up in each of ``org_ids`` in turn."""
    for org_id in org_ids:
        async with db.in_org(conn, org_id):
            name: str | None = await conn.fetchval(
                "SELECT username FROM users WHERE id = $1", user_id
            )
        if name is not None:
            return name
    return "an account since deleted"


async def same_person(
    conn: asyncpg.Connection,
    a: uuid.UUID,
    b: uuid.UUID,
    org_ids: tuple[uuid.UUID, ...],
    msp_id: uuid.UUID,
    roles: tuple[str, str] = ("one account", "another"),
) -> str | None:
    """Why accounts ``a`` and ``b`` are one person, or None when they are two: THE person
    test of every approval (org access and password check-out alike).

    Two accounts are one person when their credential chains, each starting with the
    account itself (``[id, *users.credential_chain]``), share any link — one made the
    other (created it or set its password, directly or through accounts it made), or one
    account made both (siblings) — or when both are MSPOrg users with one principal.
    Source: issue 26, item 2 ("accounts that share any link of their credential chains are
    one person, in every org, for every approval"); DESIGN.md §3.

    Args:
        conn: a connection inside a transaction; the RLS context is restored on return.
        a, b: the two accounts (an MSPOrg user or a user of one of ``org_ids``).
        org_ids: the orgs whose users may appear (their RLS contexts are asked in turn).
        msp_id: MSPOrg's id (principals are MSPOrg's).
        roles: how the sentence names ``a`` and ``b`` (e.g. "the approver", "the requester").
    Returns:
        A sentence saying why (naming the shared link) that ends "…: one person", or None.
    """
    first, second = roles
    if a == b:
        return f"{first} and {second} are the same account: one person"
    chain_a = await credential_chain(conn, a, org_ids)
    chain_b = await credential_chain(conn, b, org_ids)
    if b in chain_a:
        return (
            f"{second} made {first}'s account (created it or set its password, itself or "
            "through accounts it made): one person"
        )
    if a in chain_b:
        return (
            f"{first} made {second}'s account (created it or set its password, itself or "
            "through accounts it made): one person"
        )
    shared = next((link for link in chain_a if link in chain_b), None)
    if shared is not None:
        name = await _username(conn, shared, (*org_ids, msp_id))
        return (
            f"{first} and {second} were made by the same person ({name}), who created "
            "their accounts or set their passwords: one person"
        )
    async with db.in_org(conn, msp_id):
        principals = await conn.fetch(
            "SELECT coalesce(principal_id, id) AS p FROM users WHERE id = ANY($1::uuid[])", [a, b]
        )
        if len(principals) == 2 and principals[0]["p"] == principals[1]["p"]:
            name = await _username(conn, principals[0]["p"], (msp_id,))
            return f"{first} and {second} are the same person's accounts ({name}): one person"
    return None


async def person_on_promotion(
    conn: asyncpg.Connection,
    actor: Actor,
    org_is_msp: bool,
    target: asyncpg.Record,
    role: str | None,
) -> dict[str, bool]:
    """Make an independent MSPOrg account that is not a built-in administrator now (a
    demoted founder, a legacy user) its promoter's person when it is made an administrator:
    its principal becomes the promoter's principal and its credential chain the promoter's
    (as ``provenance`` gives for a password the promoter sets). Independence from the
    founding phase is not regained by demotion and re-promotion (issue 26, item 1);
    disabling and re-enabling changes nobody's person.

    Args:
        conn: a connection in MSPOrg's RLS context, inside the transaction that changes the
            role, with the target's row locked.
        actor: the promoter; org_is_msp: whether the target is an MSPOrg user.
        target: the user as it is now (``id``, ``role``); role: the new role, or None.
    Returns:
        ``{"independent": False}`` for the audit event when the person changed, else ``{}``.
    """
    if not org_is_msp or role is None or not permissions.is_administrator(role):
        return {}
    if permissions.is_administrator(target["role"]) or target["id"] == actor.user_id:
        return {}
    if await conn.fetchval("SELECT principal_id FROM users WHERE id = $1", target["id"]):
        return {}  # already someone else's person: it stays so
    previous = await conn.fetchval("SELECT credential_chain FROM users WHERE id = $1", target["id"])
    made = await provenance(
        conn, actor, actor.org_id, True, role, creating=False, previous_chain=previous
    )
    await conn.execute(
        "UPDATE users SET principal_id = $2, credential_chain = $3 WHERE id = $1",
        target["id"],
        made.principal_id,
        made.credential_chain,
    )
    return {"independent": False}


# -- a grant covers what was approved: no raise of a reaching user's role (issue 26) ------

_PRIVILEGED = "privileged"  # a privileged administrator's authority above an administrator's


async def _authority(
    conn: asyncpg.Connection | db.Tx,
    org_id: uuid.UUID,
    role: str,
    custom: Collection[str] | None,
) -> frozenset[str]:
    """What ``role`` may do in MSPOrg and in the orgs its holder reaches (the built-in
    role's capabilities with ``administer`` and ``manage_orgs`` for an administrator, and
    ``privileged`` for a privileged one; a custom role's permissions, ``custom`` if given)."""
    if permissions.is_builtin(role):
        caps = set(permissions.capabilities_of(role))
        if permissions.is_administrator(role):
            caps |= {permissions.ADMINISTER, permissions.MANAGE_ORGS}
        if permissions.is_privileged_administrator(role):
            caps.add(_PRIVILEGED)
        return frozenset(caps)
    if custom is None:
        custom = await conn.fetchval(
            "SELECT permissions FROM roles WHERE org_id = $1 AND name = $2", org_id, role
        )
    return frozenset(custom or ())


async def refuse_raise_of_reaching_user(
    conn: asyncpg.Connection | db.Tx,
    org_id: uuid.UUID,
    role: str,
    new_role: str | None = None,
    new_permissions: Collection[str] | None = None,
    user_id: uuid.UUID | None = None,
) -> None:
    """Refuse more authority for an MSPOrg user who reaches a client org (a grant, direct
    or through a group, or as account manager: ``org_reach``): the approvers approved it
    as it was, and it would act there with the new role (issue 26: a granted password user
    promoted to administrator by one person). Lowering, or a change that adds nothing,
    passes; outside MSPOrg nothing is refused (a client user reaches only its org). A user
    named in a pending grant or account-manager request (itself or through a group) is
    held the same way until the request is decided (``_PENDING_FOR``).

    Two uses: ``user_id`` changes from ``role`` to ``new_role`` (users.update_user); or
    custom ``role`` gets ``new_permissions``, refused if any holder reaches a client org
    (org_settings.update_role; the holders' rows are locked, as a grant's decision locks
    its designee's).

    Args:
        conn: a connection in the org's RLS context, inside the caller's transaction.
        org_id: the users' org.
    Raises:
        Conflict ``dual_control_required`` naming the users and the orgs they reach.
    """
    if not await conn.fetchval("SELECT is_msp FROM orgs WHERE id = $1", org_id):
        return
    before = await _authority(conn, org_id, role, None)
    after = await _authority(conn, org_id, new_role or role, new_permissions)
    added = after - before
    if not added:
        return
    if user_id is not None:
        holders = await conn.fetch("SELECT id, username FROM users WHERE id = $1", user_id)
    else:
        holders = await conn.fetch(
            "SELECT id, username FROM users WHERE org_id = $1 AND role = $2 ORDER BY id FOR UPDATE",
            org_id,
            role,
        )
    reaching = []
    for holder in holders:
        orgs = [r[0] for r in await conn.fetch(_REACH, holder["id"], org_id)]
        if orgs:
            reaching.append(f"{holder['username']} reaches {', '.join(orgs)}")
        pending = [r[0] for r in await conn.fetch(_PENDING_FOR, holder["id"])]
        if pending:
            reaching.append(
                f"{holder['username']} is named in a pending request for {', '.join(pending)}"
            )
    if reaching:
        raise coded(
            Conflict,
            "dual_control_required",
            f"{'; '.join(reaching)}: its access was (or is being) approved for what it can do "
            f"now, and this adds {', '.join(sorted(added))}. Revoke the access or cancel the "
            "request (or assign another account manager by request) first, then file a new "
            "request for it (POST /org-access-requests)",
        )


# The client orgs of pending requests that would let ``$1`` in (a grant to it or to a group
# it belongs to, or the account managership): its authority is frozen while an approver
# decides on what it is now (the attack pass on issue 26: a role raised between filing and
# approval was recorded as approved).
_PENDING_FOR = (
    "SELECT DISTINCT o.display_name FROM org_access_requests r "
    "JOIN orgs o ON o.id = r.client_org_id "
    "WHERE r.status = 'pending' AND r.expires_at > now() "
    "AND r.kind IN ('grant', 'account_manager') AND (r.designee_user_id = $1 OR "
    "r.designee_group_id IN (SELECT group_id FROM group_members WHERE user_id = $1)) ORDER BY 1"
)


# -- split-knowledge activation: a new independent person (issue 27, item 1) ---------------

ACTIVATION_TTL = datetime.timedelta(hours=24)
# An activation code: 28 characters of a 32-letter alphabet without look-alikes (140 random
# bits), shown in groups of four; stored only as the SHA-256 of its normalized form.
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_GROUPS, _CODE_GROUP_LEN = 7, 4


def new_activation_code() -> str:
    """A fresh activation code, e.g. ``K7QD-M2XP-…`` (7 groups of 4; 140 random bits)."""
    letters = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_GROUPS * _CODE_GROUP_LEN))
    return "-".join(letters[i : i + _CODE_GROUP_LEN] for i in range(0, len(letters), 4))


def activation_code_hash(code: str) -> bytes:
    """What is stored and compared: SHA-256 of the code without separators, upper case."""
    normal = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normal.encode()).digest()


def password_binding(password_hash: str) -> str:
    """What ties an activation to the temporary password it pairs with."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


def is_own_person(user: asyncpg.Record) -> bool:
    """Whether an MSPOrg account is its own person: no principal and nobody in its
    credential chain (a founder, or an account activated as independent)."""
    return user["principal_id"] is None and not user["credential_chain"]


async def activation_problem(
    conn: asyncpg.Connection,
    msp_id: uuid.UUID,
    activator_id: uuid.UUID | None,
    target_id: uuid.UUID,
) -> str | None:
    """Why ``target_id`` may not be activated as an independent person by ``activator_id``
    (None: the server's console, ``strongroom recover-person``), or None.

    The account must be an active MSPOrg built-in administrator that is not already its own
    person and still has the temporary password its maker set (``must_change_password``);
    the activator an active MSPOrg built-in administrator that is not the same person
    (``same_person``) as the account — so neither its maker nor anyone in its chain — so
    that the temporary password and the code are known to two persons (issue 27, item 1).

    Args:
        conn: a connection in MSPOrg's RLS context, inside the caller's transaction.
    """
    target = await conn.fetchrow(
        "SELECT username, role, status, must_change_password, principal_id, credential_chain "
        "FROM users WHERE id = $1 AND org_id = $2",
        target_id,
        msp_id,
    )
    if target is None:
        return "only an MSPOrg account can be activated as an independent person"
    name = target["username"]
    if target["status"] != "active" or target["role"] not in permissions.ADMIN_ROLES:
        return f"{name} is not an active MSPOrg administrator; only those are activated"
    if is_own_person(target):
        return f"{name} is already its own person"
    if not target["must_change_password"]:
        return (
            f"{name} has set its own password; activation pairs a code with the temporary "
            "password its maker sets: reset its password first, then activate it"
        )
    if activator_id is None:
        return None
    if not await conn.fetchval(_ACTIVE_ADMIN, activator_id, msp_id, list(permissions.ADMIN_ROLES)):
        return "the activator must be an active MSPOrg administrator"
    problem = await same_person(
        conn, activator_id, target_id, (msp_id,), msp_id, ("the activator", name)
    )
    if problem:
        return (
            f"{problem}; an activation needs a second person, independent of whoever "
            f"made {name} or set its password"
        )
    return None


async def pending_activation(
    conn: asyncpg.Connection, user_id: uuid.UUID, password_hash: str
) -> asyncpg.Record | None:
    """The activation a login as ``user_id`` must complete with its code, or None: one
    not expired that pairs with the user's current password (a password set since voids
    it). In the user's org's RLS context."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT code_hash, password_binding FROM user_activations "
        "WHERE user_id = $1 AND expires_at > now()",
        user_id,
    )
    if row is None or row["password_binding"] != password_binding(password_hash):
        return None
    return row


def activation_code_matches(pending: asyncpg.Record, code: str | None) -> bool:
    """Whether ``code`` is the pending activation's code (constant-time comparison)."""
    return bool(code) and hmac.compare_digest(
        bytes(pending["code_hash"]), activation_code_hash(code or "")
    )


async def activation_redeemed(
    conn: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID, password_hash: str
) -> None:
    """Remember the session that logged in with the code (only it completes the
    activation; ``password_hash``: the user's hash after the login, which may rehash)."""
    await conn.execute(
        "UPDATE user_activations SET session_id = $2, password_binding = $3 WHERE user_id = $1",
        user_id,
        session_id,
        password_binding(password_hash),
    )


async def complete_activation(
    conn: asyncpg.Connection, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> str | None:
    """When the session that logged in with the activation code sets the user's own
    password, the account becomes its own person: principal NULL, credential chain empty
    (issue 27, item 1). Returns who activated it (for the audit), or None when no
    activation completes. In the user's org's RLS context, in the password change's
    transaction."""
    if session_id is None:
        return None
    activator: str | None = await conn.fetchval(
        "DELETE FROM user_activations WHERE user_id = $1 AND session_id = $2 "
        "AND expires_at > now() RETURNING activator_name",
        user_id,
        session_id,
    )
    if activator is not None:
        await conn.execute(
            "UPDATE users SET principal_id = NULL, credential_chain = '{}' WHERE id = $1", user_id
        )
    return activator


async def independent_persons(conn: asyncpg.Connection, msp_id: uuid.UUID) -> int:
    """How many persons MSPOrg's active built-in administrators are: the most of them that
    are pairwise two persons by ``same_person`` (``persons_among_administrators``; in
    MSPOrg's RLS context). Below two, nobody can activate a third: ``strongroom
    recover-person`` on the server is the way back (issue 27, item 1)."""
    return len(await persons_among_administrators(conn, msp_id))


# -- who can approve, and why not (issue 27, item 2) --------------------------------------


async def approver_candidates(
    conn: asyncpg.Connection, msp_id: uuid.UUID, who: Parties
) -> list[dict[str, object]]:
    """Every MSPOrg built-in administrator, active or disabled, with whether it could
    approve a request with these parties and, if not, why (``approver_problem``'s sentence;
    "disabled" for a disabled one), in username order (in MSPOrg's RLS context). The
    pickers show it so that nobody wonders why a colleague is missing (issue 27, item 2).

    Returns:
        ``[{"username", "full_name", "eligible", "reason"}]``.
    """
    rows = await conn.fetch(
        "SELECT id, username, full_name, status FROM users WHERE org_id = $1 "
        "AND role = ANY($2::text[]) ORDER BY lower(username)",
        msp_id,
        list(permissions.ADMIN_ROLES),
    )
    out: list[dict[str, object]] = []
    for row in rows:
        if row["status"] != "active":
            reason: str | None = f"{row['username']} is disabled"
        else:
            reason = await approver_problem(conn, msp_id, row["id"], who)
        out.append(
            {
                "username": row["username"],
                "full_name": row["full_name"],
                "eligible": reason is None,
                "reason": reason,
            }
        )
    return out


# -- directory users (issue 32) -----------------------------------------------------------


def directory_provenance(configured_by_confirmed: bool) -> Provenance:
    """What a user created from its org's directory becomes: its own person (no
    principal, an empty credential chain). Its password was set by nobody here, only by
    the directory, so no administrator here can act as it (issue 32: "directory users
    are their own persons for dual control"); ``same_person`` then sets it apart from
    every other account by the rule it already applies to chains and principals.

    A client org's directory user is confirmed only when the directory configuration was
    set by a confirmed user of that org (``configured_by_confirmed``): a directory an MSP
    user configured could be one the MSP controls, so its users wait for the client's
    confirmation like any MSP-made user. MSPOrg's directory configuration is approved by
    a second administrator (``directory_config`` requests), so its users are confirmed.

    Args:
        configured_by_confirmed: org_directories.configured_by_confirmed of the active
            configuration (True for MSPOrg's).
    """
    return Provenance(None, configured_by_confirmed, [])


async def refuse_password_of_directory_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """Nobody sets a directory user's password here, neither an administrator nor the
    user: its password is the directory's (issue 32, item 3), and one set here would make
    the setter its person.

    Raises:
        Conflict ``directory_user`` (in the user's org RLS context).
    """
    if await conn.fetchval("SELECT directory_dn IS NOT NULL FROM users WHERE id = $1", user_id):
        raise coded(
            Conflict,
            "directory_user",
            "this user logs in with its directory password; change it in the directory",
        )


# -- how many persons are left (issue 27, item 1) ------------------------------------------


def _largest_clique(nodes: list[int], linked: dict[int, set[int]]) -> list[int]:
    """A largest set of ``nodes`` pairwise linked in ``linked`` (Bron-Kerbosch with a
    pivot; MSPOrg's administrators are few)."""
    best: list[int] = []

    def grow(chosen: list[int], candidates: set[int], excluded: set[int]) -> None:
        nonlocal best
        if not candidates and not excluded:
            if len(chosen) > len(best):
                best = chosen
            return
        if len(chosen) + len(candidates) <= len(best):
            return
        pivot = max(candidates | excluded, key=lambda n: len(linked[n] & candidates))
        for node in sorted(candidates - linked[pivot]):
            grow([*chosen, node], candidates & linked[node], excluded & linked[node])
            candidates = candidates - {node}
            excluded = excluded | {node}

    grow([], set(nodes), set())
    return sorted(best)


async def persons_among_administrators(conn: asyncpg.Connection, msp_id: uuid.UUID) -> list[str]:
    """The usernames of a largest set of MSPOrg's active built-in administrators that are
    pairwise two persons by ``same_person`` — THE person rule, so accounts one account made
    (siblings), accounts of one principal and an account with its maker count once, even
    when a reset gave them different principals (issue 27's person count: persons, not
    accounts). Two such persons can always activate a third (``activation_problem``); fewer
    than two is when ``strongroom recover-person`` may act. In MSPOrg's RLS context.
    """
    rows = await conn.fetch(
        "SELECT id, username FROM users WHERE org_id = $1 AND status = 'active' "
        "AND role = ANY($2::text[]) ORDER BY lower(username)",
        msp_id,
        list(permissions.ADMIN_ROLES),
    )
    linked: dict[int, set[int]] = {i: set() for i in range(len(rows))}
    for i, a in enumerate(rows):
        for j in range(i + 1, len(rows)):
            if await same_person(conn, a["id"], rows[j]["id"], (msp_id,), msp_id) is None:
                linked[i].add(j)
                linked[j].add(i)
    return [rows[i]["username"] for i in _largest_clique(list(linked), linked)]


def refuse_unconfirmable(user: asyncpg.Record) -> None:
    """THE rule for confirming a client user (issue 26): not twice, and not while its
    password is still the one somebody else set (that person could hold the account).

    ``user``: a row with ``username``, ``client_confirmed`` and ``must_change_password``.

    Raises:
        Conflict ``already_confirmed`` or ``password_not_changed`` (409).
    """
    if user["client_confirmed"]:
        raise coded(Conflict, "already_confirmed", f"{user['username']} is already confirmed")
    if user["must_change_password"]:
        raise coded(
            Conflict,
            "password_not_changed",
            f"{user['username']} has not yet set its own password; confirm it once it has "
            "logged in and chosen one (until then, whoever set its password could hold it)",
        )
