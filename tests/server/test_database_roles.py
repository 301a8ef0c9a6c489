"""The server's database role: owns nothing, no superuser, no RLS bypass; RLS is forced."""

from __future__ import annotations

import uuid

import asyncpg
import pytest


async def test_app_role_is_unprivileged(app_conn):
    """The app role is neither superuser nor BYPASSRLS and cannot create roles or databases."""
    row = await app_conn.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb "
        "FROM pg_roles WHERE rolname = current_user"
    )
    assert dict(row) == {
        "rolsuper": False,
        "rolbypassrls": False,
        "rolcreaterole": False,
        "rolcreatedb": False,
    }


async def test_app_role_owns_no_tables(app_conn):
    """Every table belongs to the owner role, so forced RLS binds the app role."""
    owned = await app_conn.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
    )
    assert owned == 0


async def test_app_role_cannot_change_schema(app_conn):
    """The app role cannot create or drop tables."""
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute("CREATE TABLE sneaky (id int)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute("DROP TABLE orgs")


async def test_every_table_has_forced_rls(owner_conn):
    """Every application table has row-level security enabled and forced."""
    rows = await owner_conn.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'"
    )
    assert rows, "no tables found"
    unprotected = [
        r["relname"] for r in rows if not (r["relrowsecurity"] and r["relforcerowsecurity"])
    ]
    assert unprotected == []


async def test_org_rows_change_only_in_their_own_context(app_conn):
    """Without app.org_id set (or with another org's id) an org row cannot be written."""
    org_id = uuid.uuid4()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(
            "INSERT INTO orgs (id, name, display_name) VALUES ($1, 'Acme', 'acme')", org_id
        )
    async with app_conn.transaction():
        await app_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await app_conn.execute(
            "INSERT INTO orgs (id, name, display_name) VALUES ($1, 'Acme', 'acme')", org_id
        )
    # Outside the org's context an update touches nothing.
    result = await app_conn.execute("UPDATE orgs SET name = 'Evil' WHERE id = $1", org_id)
    assert result == "UPDATE 0"
    assert await app_conn.fetchval("SELECT name FROM orgs WHERE id = $1", org_id) == "Acme"
