"""Recording one audit event where this node can: its database, or its audit spool."""

from __future__ import annotations

import uuid

from server.services.context import Env
from server.store import audit, db


async def record(env: Env, org_id: uuid.UUID, event: audit.Event) -> None:
    """Record one event where this node can: its database if it may write, else the spool."""
    if env.node_state.writable():
        async with db.transaction(env.pool, org_id) as tx:
            await audit.record_many(tx, env.ring, org_id, [event], node=env.node)
    else:
        await env.spool.append(org_id, event, env.node)
