"""Password expiry (issue 31, item 3): an account's password expires at its last change
plus its policy's ``max_age_days`` (``password_policy.expires_at``); the report lists an
org's expired and soon-expiring passwords."""

from __future__ import annotations

import datetime
from typing import Any

from server.core import permissions
from server.core.errors import Forbidden, field_error
from server.core.password_policy import expires_at, expiry_words
from server.services.access import OrgArg, enter_org
from server.services.context import Actor, Env
from server.services.policies import max_ages
from server.store import db

MAX_WITHIN_DAYS = 3650


async def report(
    env: Env, actor: Actor, org_name: OrgArg, within_days: int
) -> list[dict[str, Any]]:
    """Every account of the org whose password has expired or expires within
    ``within_days`` days, soonest first: resource, account, policy, last change,
    ``expires_at``, ``expired`` and the words the vault shows. Never a password.

    Raises:
        Forbidden: the actor is neither an administrator nor an auditor (they read the
        org's audit trail, which names the same accounts). ValidationFailed:
        ``within_days`` outside 0..3650.
    """
    if not 0 <= within_days <= MAX_WITHIN_DAYS:
        raise field_error("within_days", f"must be between 0 and {MAX_WITHIN_DAYS}")
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        if not permissions.can_read_audit(actor):
            raise Forbidden("only administrators and auditors see the password expiry report")
        ages = await max_ages(tx, org.id)
        rows = await tx.fetch(
            "SELECT a.id, a.username, a.policy, a.password_changed_at, r.id AS resource_id, "
            "r.name AS resource FROM accounts a JOIN resources r ON r.id = a.resource_id "
            "WHERE a.org_id = $1",
            org.id,
        )
    now = datetime.datetime.now(datetime.UTC)
    horizon = now + datetime.timedelta(days=within_days)
    found = []
    for row in rows:
        expires = expires_at(row["password_changed_at"], ages.get(row["policy"].lower()))
        if expires is None or expires > horizon:
            continue
        found.append(
            {
                "id": str(row["id"]),
                "resource_id": str(row["resource_id"]),
                "resource": row["resource"],
                "username": row["username"],
                "policy": row["policy"],
                "password_changed_at": row["password_changed_at"].isoformat(),
                "expires_at": expires.isoformat(),
                "expired": expires <= now,
                "state": expiry_words(expires, now),
            }
        )
    return found
