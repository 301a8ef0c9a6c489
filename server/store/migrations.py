"""Schema migrations: apply ``sql/NNN_name.sql`` in order, each in its own transaction.

Applied versions are recorded with a checksum in ``schema_migrations``. Re-running
is a no-op; a failing migration rolls back completely and stops the run; a file
changed after it was applied is refused. Migrations run as the owner role; the
token ``:"app_role"`` in a file stands for the app role's quoted name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from server.core.config import Config

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 727_200_001  # advisory lock serialising concurrent migration runners

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
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


def _render(sql: str, app_role: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]*$", app_role):
        raise MigrationError(f"invalid app role name {app_role!r}")
    return sql.replace(':"app_role"', f'"{app_role}"')


async def migrate(conn: asyncpg.Connection, app_role: str, sql_dir: Path = SQL_DIR) -> list[int]:
    """Apply pending migrations on ``conn`` (the owner role); return the versions applied."""
    migrations = discover(sql_dir)
    applied_now: list[int] = []
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
