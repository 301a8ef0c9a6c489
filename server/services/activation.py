"""Split-knowledge activation and the console's recovery of a person (issue 27, item 1).

An MSPOrg administrator made after the founding phase belongs to its maker's person
(dual_control.py). To add an independent person that no single person controls, a second
administrator, independent of the maker, *activates* the account: it gets a one-time
activation code, shown only to it; the first login needs the maker's temporary password
AND the code, and when that session sets the user's own password the account becomes its
own person (``dual_control.complete_activation``). When fewer than two persons remain,
``strongroom recover-person`` on the primary's host (which holds the master key) sets a
temporary password and issues a code itself; every MSPOrg administrator is told at its
next logins (``notices``). The rule of who may activate whom: ``dual_control.
activation_problem``.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import Conflict, NotFound, coded, field_error
from server.node.mode import ReadOnly
from server.services import dual_control, recording
from server.services.access import MSP_ORG, OrgArg, acting_org, msp_org_id, require_msp_admin
from server.services.auth import reauthenticate
from server.services.context import Actor, Env
from server.store import db
from server.store.audit import Who

CONSOLE = "the server's console"  # who activates in a recovery
NOTICE_DAYS = 7  # how long administrators are told of a recovery


async def _issue(
    conn: asyncpg.Connection,
    msp_id: uuid.UUID,
    target_id: uuid.UUID,
    activator: tuple[uuid.UUID | None, str],
) -> tuple[str, datetime.datetime]:
    """Store a new activation code for ``target_id`` (replacing any previous one), paired
    with its current password; the code and its expiry (in MSPOrg's RLS context)."""
    code = dual_control.new_activation_code()
    # Sessions begun with the temporary password alone end: only a login with both counts.
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", target_id)
    password_hash = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", target_id)
    expires_at: datetime.datetime = await conn.fetchval(
        "INSERT INTO user_activations (user_id, org_id, code_hash, password_binding, "
        "activator_id, activator_name, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval) "
        "ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, "
        "password_binding = EXCLUDED.password_binding, activator_id = EXCLUDED.activator_id, "
        "activator_name = EXCLUDED.activator_name, issued_at = now(), "
        "expires_at = EXCLUDED.expires_at, session_id = NULL RETURNING expires_at",
        target_id,
        msp_id,
        dual_control.activation_code_hash(code),
        dual_control.password_binding(password_hash),
        activator[0],
        activator[1],
        dual_control.ACTIVATION_TTL,
    )
    return code, expires_at


async def issue_activation(
    env: Env, actor: Actor, org_name: OrgArg, username: str, current_password: str
) -> dict[str, Any]:
    """An MSPOrg administrator activates the MSPOrg administrator account ``username`` as an
    independent person (``POST /orgs/MSPOrg/users/{username}/activation``).

    Args:
        current_password: the activator's own, confirmed first (``reauthenticate``).
    Returns:
        ``{"username", "activation_code", "expires_at"}``: the code is shown this once (only
        its SHA-256 is kept); a new one replaces the previous one.
    Raises:
        Forbidden (not an MSPOrg administrator), NotFound (no such MSPOrg user), 422
        ``activation_refused`` with ``dual_control.activation_problem``'s sentence.
    """
    require_msp_admin(actor, "activate accounts")
    await reauthenticate(env, actor, current_password)
    async with db.transaction(env.pool, actor.org_id) as conn:
        org = await acting_org(conn, actor, org_name)
        if not org.is_msp:
            raise coded(
                NotFound,
                "not_found",
                f"{org.display_name} has no accounts to activate: activation makes an "
                "independent MSPOrg administrator",
            )
        target = await conn.fetchrow(
            "SELECT id, username FROM users WHERE org_id = $1 AND lower(username) = lower($2) "
            "FOR UPDATE",
            actor.org_id,
            username,
        )
        if target is None:
            raise NotFound(f"MSPOrg has no user named {username!r}")
        problem = await dual_control.activation_problem(
            conn, actor.org_id, actor.user_id, target["id"]
        )
        if problem:
            raise field_error("username", problem, code="activation_refused")
        code, expires_at = await _issue(
            conn, actor.org_id, target["id"], (actor.user_id, actor.username)
        )
        await recording.writer(conn, env, actor.org_id, actor.who).record(
            "user_activation_issued",
            target_type="user",
            target=target["username"],
            details={"expires_at": expires_at.isoformat()},
        )
    return {
        "username": target["username"],
        "activation_code": code,
        "expires_at": expires_at.isoformat(),
    }


async def recover_person(env: Env, username: str) -> dict[str, Any]:
    """``strongroom recover-person USERNAME`` on the primary's host: when MSPOrg's active
    administrators are fewer than two persons (``dual_control.persons_among_administrators``:
    by the person rule, so siblings count once), set
    a temporary password for the MSPOrg administrator ``username`` and issue its activation
    code; both are printed for the person who will hold the account, which becomes its own
    person when it sets its own password. Audited as ``person_recovered`` (actor: the
    system, address ``local-cli``) and shown to every MSPOrg administrator for NOTICE_DAYS
    (``notices``). Whoever holds the server's shell and master key is outside dual control
    anyway (README); this makes that power visible instead of silent.

    Returns:
        ``{"username", "temporary_password", "activation_code", "expires_at"}``.
    Raises:
        ReadOnly (503 ``read_only``) (not the primary), Conflict ``persons_remain``
        (two or more persons: use activation), NotFound, 422 ``activation_refused``.
    """
    if not env.node_state.writable():
        raise ReadOnly("run recover-person on the primary's host")
    password = secrets.token_urlsafe(15)
    new_hash = await env.hasher.hash(password)
    who = Who("system", MSP_ORG, "local-cli")
    async with db.transaction(env.pool) as conn:
        msp_id = await msp_org_id(conn)
        await db.set_org(conn, msp_id)
        await conn.execute("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE", msp_id)
        remaining = await dual_control.persons_among_administrators(conn, msp_id)
        persons = len(remaining)
        if persons >= 2:
            raise coded(
                Conflict,
                "persons_remain",
                f"MSPOrg's active administrators are {persons} persons "
                f"({', '.join(remaining)}): two of them can add "
                "an independent one by activation (POST /orgs/MSPOrg/users/{username}/"
                "activation, or the TUI's Users: activate as independent); recovery is only "
                "for fewer than two",
            )
        target = await conn.fetchrow(
            "SELECT id, username FROM users WHERE org_id = $1 AND lower(username) = lower($2) "
            "FOR UPDATE",
            msp_id,
            username,
        )
        if target is None:
            raise NotFound(f"MSPOrg has no user named {username!r}")
        await dual_control.refuse_reset_of_reaching_user(
            conn, target["id"], target["username"], msp_id
        )
        await conn.execute(
            "UPDATE users SET password_hash = $2, must_change_password = true, "
            "updated_at = now() WHERE id = $1",
            target["id"],
            new_hash,
        )
        problem = await dual_control.activation_problem(conn, msp_id, None, target["id"])
        if problem:
            raise field_error("username", problem, code="activation_refused")
        await conn.execute("DELETE FROM api_keys WHERE user_id = $1", target["id"])
        code, expires_at = await _issue(conn, msp_id, target["id"], (None, CONSOLE))
        await conn.execute(
            "INSERT INTO person_recoveries (org_id, username) VALUES ($1, $2)",
            msp_id,
            target["username"],
        )
        await recording.writer(conn, env, msp_id, who).record(
            "person_recovered",
            target_type="user",
            target=target["username"],
            details={"persons": persons, "expires_at": expires_at.isoformat()},
        )
    return {
        "username": target["username"],
        "temporary_password": password,
        "activation_code": code,
        "expires_at": expires_at.isoformat(),
    }


NOTICE_RECOVERY = "person_recovered"  # the kind of a notice of a console recovery


async def notices(conn: asyncpg.Connection, actor: Actor) -> list[dict[str, str]]:
    """What every MSPOrg administrator is told at login (``GET /me``'s ``notices``): the
    persons recovered on the server's console in the last NOTICE_DAYS days that this
    administrator has not acknowledged (``acknowledge_notices``), oldest first (in the
    actor's org's RLS context).

    Returns:
        ``[{"id": "person_recovered:<id>", "kind", "text", "at"}]``.
    """
    if not actor.org_is_msp or not permissions.is_administrator(actor):
        return []
    rows = await conn.fetch(
        "SELECT r.id, r.username, r.recovered_at FROM person_recoveries r WHERE r.org_id = $1 "
        "AND r.recovered_at > now() - $2::interval AND NOT EXISTS (SELECT 1 FROM "
        "notice_acknowledgements a WHERE a.user_id = $3 AND a.notice_id = $4 || r.id::text) "
        "ORDER BY r.recovered_at",
        actor.org_id,
        datetime.timedelta(days=NOTICE_DAYS),
        actor.user_id,
        f"{NOTICE_RECOVERY}:",
    )
    return [
        {
            "id": f"{NOTICE_RECOVERY}:{r['id']}",
            "kind": NOTICE_RECOVERY,
            "text": f"a person was recovered on the server's console on "
            f"{r['recovered_at']:%Y-%m-%d %H:%M} UTC: {r['username']}",
            "at": r["recovered_at"].isoformat(),
        }
        for r in rows
    ]


async def acknowledge_notices(env: Env, actor: Actor, ids: list[str]) -> dict[str, Any]:
    """The actor has read the notices ``ids`` of its ``GET /me``: they stop showing to it
    (to it only: every other administrator is still told). Each is audited
    ``notice_acknowledged`` (a recovery is security-relevant: who was told, and when).
    Acknowledging one already acknowledged changes nothing (issue 27: a notice once read
    stops showing).

    Returns:
        ``{"acknowledged": [ids newly acknowledged], "notices": [what remains]}``.
    Raises:
        422 ``unknown_notice`` (field ``ids``) when an id is none of the actor's notices;
        nothing is acknowledged then.
    """
    async with db.transaction(env.pool, actor.org_id) as conn:
        showing = {n["id"]: n for n in await notices(conn, actor)}
        known = set(showing) | {
            r["notice_id"]
            for r in await conn.fetch(
                "SELECT notice_id FROM notice_acknowledgements WHERE user_id = $1 "
                "AND notice_id = ANY($2::text[])",
                actor.user_id,
                ids,
            )
        }
        unknown = [i for i in dict.fromkeys(ids) if i not in known]
        if unknown:
            raise field_error(
                "ids",
                f"{unknown[0][:80]!r} is none of your notices (GET /me lists them)",
                code="unknown_notice",
            )
        done = [i for i in dict.fromkeys(ids) if i in showing]
        writer = recording.writer(conn, env, actor.org_id, actor.who)
        for notice_id in done:
            await conn.execute(
                "INSERT INTO notice_acknowledgements (org_id, user_id, notice_id) "
                "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                actor.org_id,
                actor.user_id,
                notice_id,
            )
            notice = showing[notice_id]
            await writer.record(
                "notice_acknowledged",
                target_type="user",
                target=actor.username,
                details={"notice": notice_id, "kind": notice["kind"], "at": notice["at"]},
            )
        remaining = await notices(conn, actor)
    return {"acknowledged": done, "notices": remaining}
