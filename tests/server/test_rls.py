"""Row-level security: the database itself keeps orgs apart, whatever the query forgets."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from server.store.keyring import KeyRing


@pytest.fixture
async def two_orgs(app_conn, config, msp):
    """Orgs A and B, each with one user, made through the app role."""
    ring = KeyRing.from_file(config.path(config.security.master_key))
    ids = {}
    for name in ("RlsA", "RlsB"):
        exists = await app_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", name)
        if exists:
            ids[name] = exists
            continue
        async with app_conn.transaction():
            org_id = uuid.uuid4()
            kek_id, wrapped = ring.prepare_org_key(org_id)
            await app_conn.execute(
                "SELECT create_org_with_chain($1, $2, $2, false, NULL, '', '', '', 'both', $3, "
                "$4, now(), 'test', 'MSPOrg', '', '{}'::jsonb, '')",
                org_id,
                name,
                kek_id,
                wrapped,
            )
            await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            await app_conn.execute(
                "INSERT INTO users (org_id, username, role, password_hash) "
                "VALUES ($1, $2, 'password_user', 'x')",
                org_id,
                f"user_{name}",
            )
        ids[name] = org_id
    return ids


async def in_org(conn, org_id, query, *args):
    """Run one query inside a transaction scoped to ``org_id``."""
    async with conn.transaction():
        await conn.execute(
            "SELECT set_config('app.org_id', $1, true)", str(org_id) if org_id else ""
        )
        return await conn.fetch(query, *args)


async def test_query_without_org_sees_nothing(app_conn, two_orgs):
    """A query that forgets its org filter and setting returns no tenant rows."""
    for table in ("users", "sessions", "org_keys", "audit_events", "user_groups"):
        rows = await in_org(app_conn, None, f"SELECT * FROM {table}")
        assert rows == [], table


async def test_org_a_cannot_read_org_b(app_conn, two_orgs):
    """In A's context, B's rows are invisible even when asked for by id."""
    a, b = two_orgs["RlsA"], two_orgs["RlsB"]
    rows = await in_org(app_conn, a, "SELECT username FROM users")
    assert [r["username"] for r in rows] == ["user_RlsA"]
    assert await in_org(app_conn, a, "SELECT * FROM users WHERE org_id = $1", b) == []
    assert await in_org(app_conn, a, "SELECT * FROM org_keys WHERE org_id = $1", b) == []


async def test_org_a_cannot_write_org_b(app_conn, two_orgs):
    """In A's context, inserting into or changing B's rows fails or touches nothing."""
    a, b = two_orgs["RlsA"], two_orgs["RlsB"]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await in_org(
            app_conn,
            a,
            "INSERT INTO users (org_id, username, role, password_hash) "
            "VALUES ($1, 'intruder', 'password_user', 'x')",
            b,
        )
    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(a))
        assert (
            await app_conn.execute("UPDATE users SET role = 'administrator' WHERE org_id = $1", b)
            == "UPDATE 0"
        )
        assert await app_conn.execute("DELETE FROM users WHERE org_id = $1", b) == "DELETE 0"
    rows = await in_org(app_conn, b, "SELECT role FROM users")
    assert [r["role"] for r in rows] == ["password_user"]


async def test_app_role_cannot_rewrite_audit(app_conn, two_orgs):
    """The app role may append audit events but never update or delete them."""
    a = two_orgs["RlsA"]
    for statement in (
        "UPDATE audit_events SET actor = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await in_org(app_conn, a, statement)


async def test_org_registry_is_readable_but_not_writable_across_orgs(app_conn, two_orgs):
    """Every org's name is readable (for routing) but only changeable in its own context."""
    a, b = two_orgs["RlsA"], two_orgs["RlsB"]
    names = {r["display_name"] for r in await in_org(app_conn, a, "SELECT display_name FROM orgs")}
    assert {"RlsA", "RlsB"} <= names
    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(a))
        assert (
            await app_conn.execute("UPDATE orgs SET name = 'hijacked' WHERE id = $1", b)
            == "UPDATE 0"
        )
