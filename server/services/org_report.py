"""The org report: who is in a client org and which MSP staff reach it, and how."""

from __future__ import annotations

import datetime
from typing import Any

from server.core import permissions
from server.core.errors import Forbidden, NotFound
from server.services.access import OrgArg, acting_org, name_of
from server.services.context import Actor, Env
from server.services.org_access import (
    REQUEST_SELECT,
    approved_members,
    grants_of,
    managed_client_org,
    request_json,
)
from server.store import db


async def report(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """Who is in a client org and which MSP staff reach it, and how; pending requests.

    Raises:
        NotFound (as for a missing org) unless the actor is an MSPOrg administrator who
        manages the org, or a user of the org itself; Forbidden for such a user without
        ``manage_users``.
    """
    async with db.transaction(env.pool, readonly=True) as conn:
        if actor.org_is_msp:
            # Only its account manager and granted MSP staff; anyone else gets the 404
            # of a missing org.
            if not permissions.is_administrator(actor):
                raise NotFound(f"no client organization named {name_of(org_name)!r}")
            org = await managed_client_org(conn, actor, org_name)
            msp_id = actor.org_id
        else:
            try:  # a client user acts in its own org only
                org = await acting_org(conn, actor, org_name)
            except NotFound:
                raise NotFound(f"no client organization named {name_of(org_name)!r}") from None
            if not permissions.can_manage_users(actor):
                raise Forbidden("only administrators see the org report")
            msp_id = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await db.set_org(conn, org.id)
        users = await conn.fetch(
            "SELECT username, full_name, role, status, client_confirmed AS confirmed "
            "FROM users WHERE org_id = $1 "
            "ORDER BY lower(username)",
            org.id,
        )
        groups = await conn.fetch(
            "SELECT g.name, array(SELECT u.username FROM group_members m JOIN users u "
            "ON u.id = m.user_id WHERE m.group_id = g.id ORDER BY lower(u.username)) AS members "
            "FROM user_groups g WHERE g.org_id = $1 ORDER BY lower(g.name)",
            org.id,
        )
        grant_users, grant_groups = await grants_of(conn, msp_id, org.id)
        manager = await conn.fetchrow(
            "SELECT username, role FROM users WHERE id = $1", org.account_manager_id
        )
        pending = await conn.fetch(
            "SELECT * FROM (" + REQUEST_SELECT + ") q WHERE status = 'pending' AND "
            "(client_org_id = $1 OR target_group_id IN "
            "(SELECT group_id FROM org_access_grants WHERE client_org_id = $1)) "
            "ORDER BY created_at",
            org.id,
        )
    msp_access = []
    if manager is not None:
        msp_access.append(
            {"username": manager["username"], "role": manager["role"], "via": "account_manager"}
        )
    msp_access += [
        {
            "username": u["username"],
            "role": u["role"],
            "via": "direct",
            "approved_role": u["approved_role"],
        }
        for u in grant_users
    ]
    for group in grant_groups:
        approved = {m["username"]: m["role"] for m in approved_members(group) or []}
        msp_access += [
            {
                "username": member,
                "via": f"group:{group['name']}",
                "approved_role": approved.get(member),
            }
            for member in group["members"]
        ]
    return {
        "org": org.display_name,
        "account_manager": manager["username"] if manager else None,
        "users": [dict(u) for u in users],
        "groups": [{"name": g["name"], "members": list(g["members"])} for g in groups],
        "msp_access": msp_access,
        "msp_group_access": [
            {"name": g["name"], "members": list(g["members"])} for g in grant_groups
        ],
        "pending_requests": [request_json(r) for r in pending],
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }
