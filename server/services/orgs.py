"""Organizations: creating the org rows, their data keys and audit chains; MSPOrg bootstrap."""

from __future__ import annotations

import uuid

import asyncpg

from server import audit, db, permissions
from server.audit import Who
from server.keyring import KeyRing
from server.passwords import PasswordHasher
from server.services.access import MSP_ORG

SYSTEM = Who("system", MSP_ORG)


async def insert_org(
    conn: asyncpg.Connection,
    ring: KeyRing,
    *,
    name: str,
    display_name: str,
    is_msp: bool = False,
    account_manager_id: uuid.UUID | None = None,
    description: str = "",
    department: str = "",
    location: str = "",
    vault_control: str = "both",
) -> uuid.UUID:
    """Create an org row with its first data key and an empty audit chain."""
    org_id = uuid.uuid4()
    await db.set_org(conn, org_id)
    await conn.execute(
        "INSERT INTO orgs (id, name, display_name, is_msp, account_manager_id, description, "
        "department, location, vault_control) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        org_id,
        name,
        display_name,
        is_msp,
        account_manager_id,
        description,
        department,
        location,
        vault_control,
    )
    await ring.create_org_key(conn, org_id)
    await audit.start_chain(conn, org_id)
    return org_id


async def bootstrap_msp(
    pool: asyncpg.Pool,
    ring: KeyRing,
    hasher: PasswordHasher,
    admin_username: str,
    admin_password: str,
) -> bool:
    """Create MSPOrg and its first privileged administrator; False if it already exists."""
    password_hash = await hasher.hash(admin_password)
    async with db.transaction(pool) as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orgs WHERE is_msp)"):
            return False
        org_id = await insert_org(
            conn, ring, name="MSP Organization", display_name=MSP_ORG, is_msp=True
        )
        await conn.execute(
            "INSERT INTO users (org_id, username, full_name, role, access_scope, password_hash, "
            "must_change_password) VALUES ($1, $2, 'Administrator', $3, 'all', $4, true)",
            org_id,
            admin_username,
            permissions.PRIVILEGED_ADMINISTRATOR,
            password_hash,
        )
        await audit.record(
            conn, ring, org_id, SYSTEM, "org_created", target_type="org", target=MSP_ORG
        )
        await audit.record(
            conn,
            ring,
            org_id,
            SYSTEM,
            "user_created",
            target_type="user",
            target=admin_username,
            details={"role": permissions.PRIVILEGED_ADMINISTRATOR},
        )
    return True
