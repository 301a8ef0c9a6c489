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


_STANDBY_POSITION = """
SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replayed,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_age,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver
"""
_PRIMARY_POSITION = """
SELECT pg_is_in_recovery() AS recovery, (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS lsn
"""


async def how_far_behind(
    local: asyncpg.Connection, primary_dsn: dict | None, async_after: float
) -> str | None:
    """Why promoting this standby may lose acknowledged writes, with how far behind it is
    as far as can be told; None when it has everything the primary wrote (issue 33).

    Args:
        local: a superuser connection to this standby's database.
        primary_dsn: asyncpg connect arguments for the old primary's database (as the
            replication role), or None when there is no peer.
        async_after: seconds a witness-less primary waits for an absent standby before it
            replicates asynchronously (replication.async_after).
    """
    mine = await local.fetchrow(_STANDBY_POSITION)
    if mine is None or mine["replayed"] is None:
        return None  # not a standby: nothing to compare
    there = None
    if primary_dsn is not None:
        try:
            conn = await asyncpg.connect(**primary_dsn, timeout=2.0)
            try:
                there = await conn.fetchrow(_PRIMARY_POSITION, timeout=2.0)
            finally:
                await conn.close()
        except (OSError, TimeoutError, asyncpg.PostgresError):
            there = None
    if there is not None and not there["recovery"]:
        missing = int(there["lsn"]) - int(mine["replayed"])
        if missing <= 0:
            return None
        return f"this standby is {missing} bytes of WAL behind the primary's database"
    age = mine["replay_age"]
    replayed = f"{age:.0f} s ago" if age is not None else "never (no change replayed yet)"
    return (
        "the primary's database does not answer, so how far behind this standby is "
        f"cannot be known: it last replayed a change {replayed}, its WAL receiver is "
        f"{mine['receiver'] or 'not connected'}; a primary without a witness replicates "
        f"asynchronously once its standby is away for {async_after:g} s, and writes it "
        "acknowledged after that are not here"
    )
