"""Migrations: idempotent, atomic per file, and tamper-aware."""

from __future__ import annotations

import asyncio
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
    (the later one renamed), and three existing administrators are founders and close the
    founding phase."""
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
        founders = await conn.fetchval("SELECT count(*) FROM users WHERE founder")
    assert sorted(r["name"] for r in names) == ["Caf\u00e9", "Caf\u00e9 (duplicate 1)"]
    assert (closed, founders) == (True, 3)


# --- sql/functions/: the current definitions, applied after the migrations (issue 25) ---

# Functions deliberately changed in their sql/functions/ file after the cut-over
# (migrations.FUNCTIONS_CUT_OVER): for these the numbered migrations alone no longer give
# the current definition. Name -> why. Empty at the cut-over: the files say exactly what
# the migrations made.
CHANGED_AFTER_CUT_OVER: dict[str, str] = {
    "org_reach": "new after the cut-over: the one reach rule (issue 25)",
    "password_revealed_event": "new: a reveal's event built in one place (issue 25)",
    "spooled_reveal_event": "new: the same event for a node that spools (issue 25)",
    "authenticate_token": "an org's totp_policy can require enrolment (issue 27)",
    "totp_policy_requires": "new: the org two-factor policy rule (issue 27)",
    "account_access": "a window is open by the statement's clock, not the transaction's (issue 26)",
    "reveal_account": "its event from password_revealed_event; it checks org_reach (issue 25); "
    "it resolves the org by name and checks the credential, one statement (issue 28)",
    "reveal_accounts": "takes the actors' home orgs for the reach check (issue 25), org names "
    "and credentials (issue 28)",
    "user_trusted": "PL/pgSQL, so its plan is kept per connection (issue 28)",
    "credential_stands": "new: a request's credential checked again in the reveal (issue 28)",
    "siem_destinations_enabled": "new: the SIEM forwarder's destinations (issue 31)",
    "notify_orgs_due": "new: the orgs the notifier has work in (issue 31)",
    "rotation_secrets": "new: what a change on a target needs, to its operation only (issue 29)",
    "reveal_password_history": "new: an earlier password, full permission, audited (issue 29)",
    "rotation_orgs": "new: the orgs the password schedule has work in (issue 29)",
    "reveal_accounts_with_tokens": "new: the reveal checks its bearer token itself; it calls "
    "use_account directly (issue 28)",
    "use_account": "new: reveal_account's rule for a purpose, reveal or connect (issue 30); "
    "entitlement by account_permission (issue 28); its decision is account_use_rule's "
    "(issue 30, F1)",
    "account_use_rule": "new: THE rule of using an account, use_account's decision (issue 30)",
    "account_use_allowed": "new: that rule asked again while a brokered session runs (issue 30)",
    "account_permission": "new: the entitlement rule for one account (issue 28)",
    "purge_audit": "session recordings older than the retention go too (issue 30)",
}

_DEFINITIONS = """
SELECT 'function ' || p.oid::regprocedure::text AS object, pg_get_functiondef(p.oid) AS def,
       pg_get_userbyid(p.proowner) AS owner, coalesce(p.proacl::text, '') AS acl,
       p.prosecdef AS security_definer, coalesce(p.proconfig::text, '') AS settings
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'view ' || c.oid::regclass::text, pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner),
       coalesce(c.relacl::text, ''), false, ''
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
"""


async def definitions(conn: asyncpg.Connection) -> dict[str, tuple]:
    """Every function's pg_get_functiondef, owner, privileges, SECURITY DEFINER and SET
    settings, and every view's definition, owner and privileges, by signature."""
    return {r["object"]: tuple(r)[1:] for r in await conn.fetch(_DEFINITIONS)}


def _numbered_only(tmp_path: Path) -> Path:
    """A copy of the numbered migrations without sql/functions/: main before issue 25."""
    for m in migrations.discover():
        (tmp_path / m.path.name).write_bytes(m.path.read_bytes())
    return tmp_path


@pytest.fixture
def other_db(pg_server):
    """A second empty database owned by the owner role."""
    name = f"m_{uuid.uuid4().hex[:12]}"
    make_database(pg_server, name, sql_dir=Path("/nonexistent"))
    yield name
    drop_database(pg_server, name)


async def _connect(pg_server, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=OWNER,
        password=pg_server.owner_password,
        database=database,
    )


async def test_function_files_equal_what_the_migrations_made(conn, pg_server, other_db, tmp_path):
    """A database made by the numbered migrations alone and one made with sql/functions/
    have the same functions, each with the same pg_get_functiondef, owner, privileges,
    SECURITY DEFINER and search_path, and the same views; and the files, run on the
    database the migrations alone made, change nothing in it."""
    await migrations.migrate(conn, APP, _numbered_only(tmp_path))
    alone = await definitions(conn)
    other = await _connect(pg_server, other_db)
    try:
        await migrations.migrate(other, APP)
        with_files = await definitions(other)
    finally:
        await other.close()
    assert len(alone) >= 18  # the scan sees them (sql/023 dropped the two reveal functions)
    assert _unchanged(alone) == _unchanged(with_files)
    changed = await migrations.apply_functions(conn, APP)
    assert _unchanged(dict.fromkeys(changed)) == {}


def _unchanged(found: dict) -> dict:
    """``found`` without the functions listed in CHANGED_AFTER_CUT_OVER."""
    return {
        k: v for k, v in found.items() if k.split()[1].split("(")[0] not in CHANGED_AFTER_CUT_OVER
    }


async def test_function_files_cover_every_function(conn):
    """Every function the schema holds has its definition in one file of sql/functions/."""
    await migrations.migrate(conn, APP)
    names = {k.split()[1].split("(")[0] for k in await definitions(conn)}
    text = "\n".join(f.path.read_text() for f in migrations.discover_functions())
    missing = [n for n in sorted(names) if f"CREATE OR REPLACE FUNCTION {n}(" not in text]
    assert missing == []


async def test_function_files_run_every_time_and_commit_only_a_change(conn, tmp_path):
    """The files run after the migrations on every run: a changed file is applied (with its
    grants), an unchanged one commits nothing, and a failing one keeps nothing of any file
    while the migrations stay applied."""
    (tmp_path / "001_t.sql").write_text(
        "CREATE TABLE t (id int);\n"
        "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
    )
    folder = tmp_path / "functions"
    folder.mkdir()
    answer = folder / "answer.sql"
    answer.write_text(
        "CREATE OR REPLACE FUNCTION answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\n"
        "REVOKE ALL ON FUNCTION answer() FROM PUBLIC;\n"
        'GRANT EXECUTE ON FUNCTION answer() TO :"app_role";\n'
    )
    assert await migrations.migrate(conn, APP, tmp_path) == [1]
    assert await conn.fetchval("SELECT answer()") == 42
    assert await conn.fetchval("SELECT has_function_privilege($1, 'answer()', 'EXECUTE')", APP)
    assert not await conn.fetchval("SELECT has_function_privilege('public', 'answer()', 'EXECUTE')")
    xmin = await conn.fetchval("SELECT xmin::text FROM pg_proc WHERE proname = 'answer'")
    assert await migrations.apply_functions(conn, APP, tmp_path) == []
    assert await migrations.migrate(conn, APP, tmp_path) == []
    # Nothing new: the run's transaction was rolled back, the catalog row is the same one.
    assert await conn.fetchval("SELECT xmin::text FROM pg_proc WHERE proname = 'answer'") == xmin
    answer.write_text(answer.read_text().replace("SELECT 42", "SELECT 43"))
    assert await migrations.apply_functions(conn, APP, tmp_path) == ["function answer()"]
    assert await conn.fetchval("SELECT answer()") == 43
    answer.write_text(answer.read_text().replace("SELECT 43", "SELECT 44"))
    (folder / "broken.sql").write_text(
        "-- requires: answer\nCREATE OR REPLACE FUNCTION broken() RETURNS int "
        "LANGUAGE sql AS $$ SELECT nothing FROM nowhere $$;\n"
    )
    with pytest.raises(migrations.MigrationError, match=r"functions/broken\.sql failed"):
        await migrations.migrate(conn, APP, tmp_path)
    assert await conn.fetchval("SELECT answer()") == 43
    assert await migrations.applied_versions(conn) == [1]


async def test_two_starts_at_once_take_turns(conn, pg_server, scratch_db):
    """Two runners on one new database: the advisory lock makes one apply everything and
    the other find nothing to do, and the functions end as the files say."""
    other = await _connect(pg_server, scratch_db)
    try:
        first, second = await asyncio.gather(
            migrations.migrate(conn, APP), migrations.migrate(other, APP)
        )
    finally:
        await other.close()
    every = [m.version for m in migrations.discover()]
    assert sorted([first, second]) == [[], every]
    assert await migrations.apply_functions(conn, APP) == []


_PRIVILEGES = """
SELECT p.oid::regprocedure::text AS function,
       array_agg(a.grantee::regrole::text || ':' || a.privilege_type
                 ORDER BY a.grantee::regrole::text, a.privilege_type) AS privileges
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
       aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE n.nspname = 'public'
 GROUP BY p.oid
"""


async def test_function_files_state_every_privilege(conn, tmp_path):
    """The files alone give each function the privileges the migrations gave it (the app
    role's EXECUTE, PUBLIC's revoked where it was): with every function's privileges
    reset to PostgreSQL's default, applying the files restores them all."""
    await migrations.migrate(conn, APP, _numbered_only(tmp_path))
    expected = dict(await conn.fetch(_PRIVILEGES))
    async with conn.transaction():
        for function in expected:
            await conn.execute(f'REVOKE ALL ON FUNCTION {function} FROM PUBLIC, "{APP}"')
            await conn.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")
        assert dict(await conn.fetch(_PRIVILEGES)) != expected
        assert await migrations.apply_functions(conn, APP)
        restored = {
            function: privileges
            for function, privileges in (await conn.fetch(_PRIVILEGES))
            if function.split("(")[0] not in CHANGED_AFTER_CUT_OVER
        }
        assert restored == {
            function: privileges
            for function, privileges in expected.items()
            if function.split("(")[0] not in CHANGED_AFTER_CUT_OVER
        }
