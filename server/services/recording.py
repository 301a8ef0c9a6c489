"""Recording audit events: in a service's transaction (``writer``), or, for what a node
that cannot write still does (logins, reveals), where this node can (``record``)."""

from __future__ import annotations

import uuid

from server.services.context import Env
from server.store import audit, db
from server.store.audit import Who


def writer(tx: db.Tx, env: Env, org_id: uuid.UUID, who: Who) -> audit.Writer:
    """The audit trail of ``org_id`` written in ``tx`` by ``who`` on this node: make one
    per transaction and ``record`` the operation's events with it (server/store/audit.py)."""
    return audit.Writer(tx, org_id, who, env.node)


async def record(env: Env, org_id: uuid.UUID, event: audit.Event) -> None:
    """Record one event where this node can: its database if it may write (a transaction
    of its own), else the audit spool (fsync'd before this returns).

    Raises:
        ServiceUnavailable ``audit_unavailable`` (503): neither could be written.
    """
    if env.node_state.records_in_database():
        async with db.transaction(env.pool, org_id, prompt=True) as tx:
            await writer(tx, env, org_id, event.who).record_many([event])
    else:
        await env.spool.append(org_id, event, env.node)
