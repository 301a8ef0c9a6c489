"""Database access: the connection pool and the one transaction helper.

Nothing else touches the pool. ``transaction(pool, org_id)`` opens a transaction
and sets ``app.org_id`` for its duration, which is what row-level security keys on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from server.config import Config
from server.errors import ServiceUnavailable

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 5


async def create_pool(config: Config) -> asyncpg.Pool:
    """Open the app role's pool, retrying a few times while PostgreSQL comes up."""
    db = config.database
    delay = 0.2
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await asyncpg.create_pool(
                **config.app_dsn(),
                min_size=db.pool_min,
                max_size=db.pool_max,
                command_timeout=db.command_timeout,
                server_settings={"application_name": "strongroom"},
            )
        except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
            if attempt == CONNECT_ATTEMPTS or isinstance(
                exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
            ):
                raise
            log.warning(
                "database connection attempt %d/%d failed: %s", attempt, CONNECT_ATTEMPTS, exc
            )
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, org_id: uuid.UUID | None = None, *, readonly: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """Yield a connection inside a transaction scoped to ``org_id`` for row-level security."""
    try:
        conn = await pool.acquire()
    except (TimeoutError, OSError, asyncpg.PostgresConnectionError) as exc:
        raise ServiceUnavailable("the database is not reachable right now") from exc
    try:
        async with conn.transaction(readonly=readonly):
            await set_org(conn, org_id)
            yield conn
    finally:
        await pool.release(conn)


async def set_org(conn: asyncpg.Connection, org_id: uuid.UUID | None) -> None:
    """Switch the row-level-security org inside the current transaction."""
    await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id) if org_id else "")
