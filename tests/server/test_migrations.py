"""Migrations: idempotent, atomic per file, and tamper-aware."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from server.store import migrations
from tests.conftest import APP, OWNER, drop_database, make_database


@pytest.fixture
def scratch_db(pg_server):
    """An empty database owned by the owner role (no migrations applied)."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    make_database(pg_server, name, sql_dir=Path("/nonexistent"))
    yield name
    drop_database(pg_server, name)


@pytest.fixture
async def conn(pg_server, scratch_db):
    """The owner role's connection to the scratch database."""
    c = await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=OWNER,
        password=pg_server.owner_password,
        database=scratch_db,
    )
    yield c
    await c.close()


async def test_real_migrations_apply_once(conn):
    """The shipped migrations apply, and running them again changes nothing."""
    first = await migrations.migrate(conn, APP)
    assert first == [m.version for m in migrations.discover()]
    assert await migrations.migrate(conn, APP) == []
    assert await migrations.applied_versions(conn) == first


async def test_failed_migration_leaves_nothing(conn, tmp_path):
    """A migration that fails halfway keeps none of its changes and is not recorded."""
    (tmp_path / "001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "002_bad.sql").write_text(
        "CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\nSELECT 1/0;"
    )
    (tmp_path / "003_after.sql").write_text("CREATE TABLE after_bad (id int);")
    with pytest.raises(migrations.MigrationError, match=r"002_bad\.sql failed and was rolled back"):
        await migrations.migrate(conn, APP, tmp_path)
    assert await migrations.applied_versions(conn) == [1]
    assert await conn.fetchval("SELECT to_regclass('good') IS NOT NULL")
    assert not await conn.fetchval("SELECT to_regclass('half') IS NOT NULL")
    assert not await conn.fetchval("SELECT to_regclass('after_bad') IS NOT NULL")
    # Fixing the file and re-running continues where it stopped.
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half (id int);")
    assert await migrations.migrate(conn, APP, tmp_path) == [2, 3]


async def test_edited_applied_migration_is_refused(conn, tmp_path):
    """Editing a migration that was already applied is detected."""
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (id int);")
    await migrations.migrate(conn, APP, tmp_path)
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (id bigint);")
    with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
        await migrations.migrate(conn, APP, tmp_path)


def test_duplicate_numbers_are_refused(tmp_path):
    """Two files with the same number are an error, not a coin toss."""
    (tmp_path / "001_a.sql").write_text("")
    (tmp_path / "001_b.sql").write_text("")
    with pytest.raises(migrations.MigrationError, match="two migrations numbered 001"):
        migrations.discover(tmp_path)


async def test_app_role_placeholder_is_granted(conn, tmp_path):
    """The :"app_role" token in a file grants to the configured app role."""
    (tmp_path / "001_a.sql").write_text(
        'CREATE TABLE a (id int);\nGRANT SELECT ON a TO :"app_role";'
    )
    await migrations.migrate(conn, APP, tmp_path)
    assert await conn.fetchval("SELECT has_table_privilege($1, 'a', 'SELECT')", APP)


async def test_existing_data_meets_the_new_rules(conn, tmp_path):
    """An install upgraded with data: groups differing only in Unicode form keep both
    (the later one renamed), and three existing administrators close the founding phase."""
    for m in migrations.discover():
        if m.version < 10:
            (tmp_path / m.path.name).write_bytes(m.path.read_bytes())
    await migrations.migrate(conn, APP, tmp_path)
    msp = uuid.uuid4()
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.org_id', $1, true)", str(msp))
        await conn.execute(
            "INSERT INTO orgs (id, name, display_name, is_msp) VALUES ($1, 'M', 'MSPOrg', true)",
            msp,
        )
        for name in ("a1", "a2", "a3"):
            await conn.execute(
                "INSERT INTO users (org_id, username, role, password_hash) "
                "VALUES ($1, $2, 'administrator', 'x')",
                msp,
                name,
            )
        for name in ("Caf\u00e9", "Cafe\u0301"):
            await conn.execute("INSERT INTO user_groups (org_id, name) VALUES ($1, $2)", msp, name)
    await migrations.migrate(conn, APP)
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.org_id', $1, true)", str(msp))
        names = await conn.fetch("SELECT name FROM user_groups ORDER BY created_at, id")
        closed = await conn.fetchval("SELECT founding_closed_at IS NOT NULL FROM orgs")
    assert sorted(r["name"] for r in names) == ["Caf\u00e9", "Caf\u00e9 (duplicate 1)"]
    assert closed is True
