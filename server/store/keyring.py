"""The key ring: the master key in memory and a cache of unwrapped org data keys.

Every encryption and decryption of a secret goes through here, so the rule
"secrets are encrypted with their org's current data key, bound to their place"
lives in one module.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from server.security import crypto
from server.store import db

AUDIT_KEY = "audit"


class KeyRing:
    """Holds the KEK and caches DEKs by (org id, version)."""

    def __init__(self, kek: bytes) -> None:
        self._kek = kek
        self.kek_id = crypto.key_id(kek)
        self._deks: dict[tuple[uuid.UUID, int], bytes] = {}
        self._active: dict[uuid.UUID, int] = {}
        self._system: dict[str, bytes] = {}

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """Load the master key file (refusing unsafe permissions)."""
        return cls(crypto.load_master_key(path))

    # -- org data keys -------------------------------------------------------------

    async def create_org_key(self, conn: asyncpg.Connection, org_id: uuid.UUID) -> int:
        """Make the first (or next) data key of an org and make it the active one."""
        version: int = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM org_keys WHERE org_id = $1", org_id
        )
        dek = crypto.new_key()
        await conn.execute("UPDATE org_keys SET active = false WHERE org_id = $1", org_id)
        await conn.execute(
            "INSERT INTO org_keys (org_id, version, kek_id, wrapped) VALUES ($1, $2, $3, $4)",
            org_id,
            version,
            self.kek_id,
            crypto.wrap_key(self._kek, dek, org_id, version),
        )
        self._deks[(org_id, version)] = dek
        self._active[org_id] = version
        return version

    def prepare_org_key(self, org_id: uuid.UUID) -> tuple[str, bytes]:
        """A new org's first data key as (kek id, wrapped) for create_org_with_chain."""
        dek = crypto.new_key()
        self._deks[(org_id, 1)] = dek
        self._active[org_id] = 1
        return self.kek_id, crypto.wrap_key(self._kek, dek, org_id, 1)

    async def _dek(
        self, conn: asyncpg.Connection, org_id: uuid.UUID, version: int | None
    ) -> tuple[bytes, int]:
        if version is None:
            version = self._active.get(org_id)
        if version is not None and (org_id, version) in self._deks:
            return self._deks[(org_id, version)], version
        if version is None:
            row = await conn.fetchrow(
                "SELECT version, wrapped FROM org_keys WHERE org_id = $1 AND active", org_id
            )
        else:
            row = await conn.fetchrow(
                "SELECT version, wrapped FROM org_keys WHERE org_id = $1 AND version = $2",
                org_id,
                version,
            )
        if row is None:
            raise crypto.DecryptionFailed(f"org {org_id} has no data key (deleted?)")
        dek = crypto.unwrap_key(self._kek, row["wrapped"], org_id, row["version"])
        self._deks[(org_id, row["version"])] = dek
        if version is None:
            self._active[org_id] = row["version"]
        return dek, row["version"]

    async def encrypt(
        self,
        conn: asyncpg.Connection,
        org_id: uuid.UUID,
        table: str,
        row_id: uuid.UUID,
        column: str,
        plaintext: str,
    ) -> bytes:
        """Encrypt a secret with the org's active data key, bound to table/row/column."""
        dek, version = await self._dek(conn, org_id, None)
        return crypto.encrypt_field(dek, version, plaintext, org_id, table, row_id, column)

    async def decrypt(
        self,
        conn: asyncpg.Connection,
        org_id: uuid.UUID,
        table: str,
        row_id: uuid.UUID,
        column: str,
        blob: bytes,
    ) -> str:
        """Decrypt a secret stored at table/row/column of an org (fails closed)."""
        dek, _ = await self._dek(conn, org_id, crypto.field_version(blob))
        return crypto.decrypt_field(dek, blob, org_id, table, row_id, column)

    async def ensure_loaded(self, pool: asyncpg.Pool, org_id: uuid.UUID, blob: bytes) -> None:
        """Make sure the data key a ciphertext needs is in the cache (reads it if not)."""
        version = crypto.field_version(blob)
        if (org_id, version) in self._deks:
            return
        async with db.transaction(pool, org_id, readonly=True) as tx:
            await self._dek(tx, org_id, version)

    def decrypt_cached(
        self, org_id: uuid.UUID, table: str, row_id: uuid.UUID, column: str, blob: bytes
    ) -> str:
        """Decrypt with a data key already in the cache (see ensure_loaded)."""
        dek = self._deks[(org_id, crypto.field_version(blob))]
        return crypto.decrypt_field(dek, blob, org_id, table, row_id, column)

    def forget_org(self, org_id: uuid.UUID) -> None:
        """Drop an org's cached keys (after its deletion or key rotation)."""
        self._active.pop(org_id, None)
        for key in [k for k in self._deks if k[0] == org_id]:
            del self._deks[key]

    # -- system keys ---------------------------------------------------------------

    async def system_key(self, conn: asyncpg.Connection, purpose: str) -> bytes:
        """A system key (e.g. the audit MAC key), created on first use."""
        if purpose in self._system:
            return self._system[purpose]
        row = await conn.fetchrow(
            "SELECT version, wrapped FROM system_keys WHERE purpose = $1 "
            "ORDER BY version DESC LIMIT 1",
            purpose,
        )
        if row is None:
            key = crypto.new_key()
            inserted = await conn.fetchval(
                "INSERT INTO system_keys (purpose, version, kek_id, wrapped) "
                "VALUES ($1, 1, $2, $3) ON CONFLICT DO NOTHING RETURNING version",
                purpose,
                self.kek_id,
                crypto.wrap_key(self._kek, key, f"system:{purpose}", 1),
            )
            if inserted is None:  # another transaction made it first
                return await self.system_key(conn, purpose)
        else:
            key = crypto.unwrap_key(self._kek, row["wrapped"], f"system:{purpose}", row["version"])
        self._system[purpose] = key
        return key

    # -- master key rotation -------------------------------------------------------

    async def rewrap_all(self, conn: asyncpg.Connection, new_kek: bytes) -> int:
        """Re-wrap every org data key and system key under ``new_kek``; return the count.

        Runs inside the caller's transaction; it switches the RLS org per org.
        """
        new_id = crypto.key_id(new_kek)
        count = 0
        for row in await conn.fetch("SELECT purpose, version, wrapped FROM system_keys"):
            owner = f"system:{row['purpose']}"
            key = crypto.unwrap_key(self._kek, row["wrapped"], owner, row["version"])
            await conn.execute(
                "UPDATE system_keys SET wrapped = $3, kek_id = $4 "
                "WHERE purpose = $1 AND version = $2",
                row["purpose"],
                row["version"],
                crypto.wrap_key(new_kek, key, owner, row["version"]),
                new_id,
            )
            count += 1
        for org in await conn.fetch("SELECT id FROM orgs"):
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org["id"]))
            for row in await conn.fetch(
                "SELECT version, wrapped FROM org_keys WHERE org_id = $1", org["id"]
            ):
                dek = crypto.unwrap_key(self._kek, row["wrapped"], org["id"], row["version"])
                await conn.execute(
                    "UPDATE org_keys SET wrapped = $3, kek_id = $4 "
                    "WHERE org_id = $1 AND version = $2",
                    org["id"],
                    row["version"],
                    crypto.wrap_key(new_kek, dek, org["id"], row["version"]),
                    new_id,
                )
                count += 1
        await conn.execute("SELECT set_config('app.org_id', '', true)")
        return count

    def adopt(self, new_kek: bytes) -> None:
        """Switch to a new master key (after a committed re-wrap)."""
        self._kek = new_kek
        self.kek_id = crypto.key_id(new_kek)
