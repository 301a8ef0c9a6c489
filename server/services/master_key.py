"""Master key rotation, crash-safe.

The new key is written beside the old one (``master.key.next``) before any data
key is re-wrapped; the re-wrap commits in one transaction; only then does the new
file replace the old. If a crash interrupts this, ``finish_rotation`` looks at
which key the database's wrapped keys name and completes or abandons the swap.
"""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg

from server.core import hostos
from server.core.config import Config
from server.security import crypto
from server.store import db
from server.store.keyring import AUDIT_KEY, KeyRing


def _paths(config: Config) -> tuple[Path, Path]:
    current = config.path(config.security.master_key)
    return current, current.with_name(current.name + ".next")


async def _database_kek_id(conn: asyncpg.Connection) -> str | None:
    kek_id: str | None = await conn.fetchval(
        "SELECT kek_id FROM system_keys WHERE purpose = $1 ORDER BY version DESC LIMIT 1",
        AUDIT_KEY,
    )
    return kek_id


async def finish_rotation(config: Config, pool: asyncpg.Pool) -> str | None:
    """Complete or abandon an interrupted rotation; say what was done (None: nothing)."""
    current, pending = _paths(config)
    if not pending.exists():
        return None
    async with db.transaction(pool, readonly=True) as conn:
        in_use = await _database_kek_id(conn)
    if in_use == crypto.key_id(crypto.load_master_key(pending)):
        os.replace(pending, current)
        _fsync_dir(current.parent)
        return "completed an interrupted master key rotation"
    pending.unlink()
    return "discarded the new key of a rotation that did not commit"


async def check_master_key(ring: KeyRing, pool: asyncpg.Pool) -> None:
    """Refuse to run with a master key that is not the one this database's keys are under."""
    async with db.transaction(pool, readonly=True) as conn:
        in_use = await _database_kek_id(conn)
    if in_use is not None and in_use != ring.kek_id:
        raise crypto.MasterKeyError(
            "the master key file does not match this database (wrong or replaced master.key)"
        )


async def rotate(config: Config, pool: asyncpg.Pool) -> int:
    """Re-wrap every data key under a new master key; return how many keys were re-wrapped."""
    await finish_rotation(config, pool)
    current, pending = _paths(config)
    ring = KeyRing.from_file(current)
    await check_master_key(ring, pool)
    new_kek = crypto.new_key()
    crypto.write_key_file(pending, new_kek)
    try:
        async with db.transaction(pool) as conn:
            count = await ring.rewrap_all(conn, new_kek)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    os.replace(pending, current)
    _fsync_dir(current.parent)
    return count


def _fsync_dir(path: Path) -> None:
    hostos.fsync_dir(path)
