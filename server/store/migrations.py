"""Schema migrations, then the current definition of every SQL function.

How to change the schema from now on:

* A function, trigger function or view: edit its file in ``sql/functions/`` (one function,
  or a few tightly related ones, per file; ``-- requires: a, b`` names the files it calls).
  The files hold the definitions as they stand now, with their GRANT/REVOKE EXECUTE; they
  are applied with CREATE OR REPLACE after the numbered migrations on every start and
  every ``strongroom migrate``. A new function gets a new file. Deleting a GRANT line
  revokes nothing: write the REVOKE. CREATE OR REPLACE cannot change a function's
  arguments or return type: for that a numbered migration drops the old one (and whatever
  depends on it), and the file holds the new one. Views (none yet) go in the same
  folder, so one ``-- requires:`` order covers views and the functions they call.
* A table, index, policy, table grant or data change: a new numbered migration
  ``sql/NNN_name.sql``. A numbered migration newer than ``FUNCTIONS_CUT_OVER`` defines no
  function that has a file (tests/unit/test_sql_functions.py checks it), except one it
  needs while it runs that did not exist before (the file then holds the same definition).

Numbered migrations are applied in order, each in its own transaction, and recorded with
a checksum in ``schema_migrations``. Re-running is a no-op; a failing migration rolls
back completely and stops the run; a file changed after it was applied is refused, so an
applied migration is never edited. Then the files of ``sql/functions/`` are applied in one
transaction, in dependency order; when they change nothing in the catalog that
transaction is rolled back, so a start with nothing new commits nothing (a primary whose
synchronous standby is away still starts). All of it runs as the owner role, under one
advisory lock (two starts at once take turns), on a writable primary only: a standby gets
everything by replication. The token ``:"app_role"`` in a file stands for the app role's
quoted name.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from server.core.config import Config

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
FUNCTIONS = "functions"  # the folder of sql_dir holding the current definitions
# The last numbered migration written before sql/functions/ existed (issue 25): the files
# were cut from the definitions migrations 001-022 left in the database.
FUNCTIONS_CUT_OVER = 22
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_FUNCTION_FILE = re.compile(r"^([a-z][a-z0-9_]*)\.sql$")
_REQUIRES = re.compile(r"^--\s*requires:(.*)$", re.MULTILINE)
_LOCK_ID = 727_200_001  # advisory lock serialising concurrent migration runners

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

# What the files may change, as the catalog shows it: every function's and view's
# definition, owner, privileges and comment, outside PostgreSQL's own schemas.
_CATALOG = """
SELECT 'function ' || p.oid::regprocedure::text AS object,
       concat_ws(E'\\n', pg_get_functiondef(p.oid), pg_get_userbyid(p.proowner),
                 p.proacl::text, obj_description(p.oid, 'pg_proc')) AS state
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
UNION ALL
SELECT 'view ' || c.oid::regclass::text,
       concat_ws(E'\\n', pg_get_viewdef(c.oid), pg_get_userbyid(c.relowner), c.relacl::text,
                 obj_description(c.oid, 'pg_class'))
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


class MigrationError(Exception):
    """A migration could not be applied; nothing of it was kept."""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's bytes."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class FunctionFile:
    """One file of ``sql/functions/``: the current definition of a function (or a few)."""

    name: str
    path: Path
    requires: tuple[str, ...]


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """List the migrations in ``sql_dir`` by version; duplicate numbers are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(Path(sql_dir).glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:03d} in {sql_dir}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def discover_functions(sql_dir: Path = SQL_DIR) -> list[FunctionFile]:
    """List ``sql_dir/functions/*.sql`` in the order they are applied.

    A file comes after every file its ``-- requires: a, b`` lines name, otherwise in
    alphabetical order, so the order is the same on every run. Returns an empty list when
    the folder does not exist. Raises MigrationError for a file name that is not
    ``lower_snake.sql``, a requirement that names no file, or a cycle.
    """
    folder = Path(sql_dir) / FUNCTIONS
    if not folder.is_dir():
        return []
    files: dict[str, FunctionFile] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FUNCTION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: a function file is named lower_snake.sql")
        text = path.read_text(encoding="utf-8")
        requires = tuple(
            name.strip()
            for line in _REQUIRES.findall(text)
            for name in line.replace(",", " ").split()
        )
        files[match.group(1)] = FunctionFile(match.group(1), path, requires)
    for file in files.values():
        for name in file.requires:
            if name not in files:
                raise MigrationError(f"{file.path.name} requires {name}.sql, which does not exist")
    ordered: list[FunctionFile] = []
    placed: set[str] = set()
    while len(ordered) < len(files):
        ready = [
            f
            for name, f in sorted(files.items())
            if name not in placed and all(r in placed for r in f.requires)
        ]
        if not ready:
            cycle = sorted(set(files) - placed)
            raise MigrationError(f"function files require each other in a cycle: {cycle}")
        ordered.append(ready[0])
        placed.add(ready[0].name)
    return ordered


def _render(sql: str, app_role: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]*$", app_role):
        raise MigrationError(f"invalid app role name {app_role!r}")
    return sql.replace(':"app_role"', f'"{app_role}"')


async def _catalog(conn: asyncpg.Connection) -> dict[str, str]:
    return {row["object"]: row["state"] for row in await conn.fetch(_CATALOG)}


async def apply_functions(
    conn: asyncpg.Connection, app_role: str, sql_dir: Path = SQL_DIR
) -> list[str]:
    """Apply the current definitions in ``sql_dir/functions/`` on ``conn`` (the owner role).

    All files run in one transaction, in ``discover_functions`` order. Returns the
    functions and views whose definition, owner, privileges or comment the files changed
    (e.g. ``function reveal_account(uuid, ...)``), sorted; when that is none the
    transaction is rolled back, so an up-to-date database commits nothing. The caller holds
    the migration lock (``migrate`` does). Raises MigrationError naming the file that
    failed; nothing of any file is then kept.
    """
    files = discover_functions(sql_dir)
    if not files:
        return []
    sql = [(f, _render(f.path.read_text(encoding="utf-8"), app_role)) for f in files]
    tx = conn.transaction()
    await tx.start()
    try:
        before = await _catalog(conn)
        for file, text in sql:
            try:
                await conn.execute(text)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{FUNCTIONS}/{file.path.name} failed and nothing of {FUNCTIONS}/ was "
                    f"kept: {exc.__class__.__name__}: {exc}"
                ) from exc
        after = await _catalog(conn)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    except BaseException:
        await tx.rollback()
        raise
    if changed:
        await tx.commit()
    else:
        await tx.rollback()
    return changed


async def migrate(conn: asyncpg.Connection, app_role: str, sql_dir: Path = SQL_DIR) -> list[int]:
    """Apply pending migrations, then ``sql_dir/functions/``, on ``conn`` (the owner role).

    Returns the versions of the numbered migrations applied now (empty when none were
    pending; functions the files changed are logged). Raises MigrationError when a
    migration or a function file fails (see the module docstring for what is kept), when
    an applied migration was edited, or when the database is a read-only standby.
    """
    migrations = discover(sql_dir)
    discover_functions(sql_dir)  # a broken folder stops the run before anything is applied
    applied_now: list[int] = []
    if await conn.fetchval("SELECT pg_is_in_recovery()"):
        raise MigrationError(
            "this database is a read-only standby: migrations and functions are applied "
            "on the primary and reach it by replication"
        )
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(_CREATE_TABLE)
        done = {
            row["version"]: row["checksum"]
            for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.path.name} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            sql = _render(migration.path.read_text(encoding="utf-8"), app_role)
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"migration {migration.path.name} failed and was rolled back: "
                    f"{exc.__class__.__name__}: {exc}"
                ) from exc
            applied_now.append(migration.version)
        changed = await apply_functions(conn, app_role, sql_dir)
        if changed:
            log.info("SQL definitions brought up to date: %s", ", ".join(changed))
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now


async def applied_versions(conn: asyncpg.Connection) -> list[int]:
    """Versions recorded as applied (empty if the table does not exist yet)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return []
    return [
        r["version"]
        for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    ]


async def migrate_database(config: Config) -> list[int]:
    """Apply the pending migrations of ``config``'s database as its owner role.

    Returns the numbers of the migrations applied (empty when none were pending).
    """
    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        return await migrate(conn, config.database.app_user)
    finally:
        await conn.close()
