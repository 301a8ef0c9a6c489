"""Promote the local standby to a primary that is ready to take a standby of its own."""

from __future__ import annotations

import asyncpg

from replication import roles
from replication.cluster import ClusterError

PROMOTE_WAIT = 60  # seconds pg_promote may take

_IN_RECOVERY = "SELECT pg_is_in_recovery()"
_PROMOTE = f"SELECT pg_promote(true, {PROMOTE_WAIT})"
# The control file names the new timeline only after a checkpoint; until then pg_rewind
# on the old primary would see "same timeline, no rewind required".
_CHECKPOINT = "CHECKPOINT"
_RESET_SYNC = "ALTER SYSTEM RESET synchronous_standby_names"
_RELOAD = "SELECT pg_reload_conf()"
_DROP_IDLE_SLOT = (
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
    "WHERE slot_name = $1 AND NOT active"
)


async def promote_database(conn: asyncpg.Connection, peer_name: str) -> None:
    """Promote the local standby and make it ready to be a primary with a standby.

    A promoted standby inherits synchronous_standby_names from its base backup and
    would hang its first commit: it is cleared here (the monitor sets it again when
    the peer streams). The peer's slot is made afresh for its rejoin.

    Args:
        conn: a superuser connection to the local database.
        peer_name: the other node's name ("" for none).

    Raises:
        ClusterError: pg_promote did not finish in time.
    """
    if await conn.fetchval(_IN_RECOVERY):
        if not await conn.fetchval(_PROMOTE):
            raise ClusterError(f"pg_promote did not finish within {PROMOTE_WAIT} s")
        await conn.execute(_CHECKPOINT)
    await conn.execute(_RESET_SYNC)
    await conn.execute(_RELOAD)
    if peer_name:
        slot = roles.slot_name(peer_name)
        await conn.execute(_DROP_IDLE_SLOT, slot)
        await roles.ensure_slot(conn, slot)
