"""Database access: the connection pool and the one transaction helper.

Nothing else touches the pool. ``transaction(pool, org_id)`` opens a transaction and
sets ``app.org_id`` for its duration, which is what row-level security keys on; the
yielded ``Tx`` remembers the current org so that switching to the org it is already
in costs no round trip.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg

from server.core.config import Config
from server.core.errors import Conflict, ServiceUnavailable, StrongroomError, coded
from server.store import idempotency

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 5
_UNKNOWN = object()
# Issue 33: the longest a COMMIT (or a self-committing statement) may take before its
# request answers 503 outcome_unknown; set from replication.commit_timeout by create_pool.
commit_timeout = 15.0
# What a transaction that records only what a read-only node would also record (a login,
# a logout, a reveal's or a token check's audit) names itself while it runs: the failover
# monitor releases such commits when they wait on a standby that is away (their events
# are then as durable as the audit spool), never an ordinary write's.
PROMPT_APPLICATION = "strongroom-prompt"


def outcome_unknown() -> ServiceUnavailable:
    """The 503 ``outcome_unknown`` answer: a commit did not answer in time (issue 33). The
    change may or may not have been made; a retry with the same Idempotency-Key is safe."""
    return coded(
        ServiceUnavailable,
        "outcome_unknown",
        "the change was sent to the database but its commit did not answer in time: it may "
        "or may not have been made; check before repeating it (or retry with the same "
        "Idempotency-Key)",
    )


def database_timeout() -> ServiceUnavailable:
    """The 503 ``database_timeout`` answer: a statement took longer than allowed."""
    return coded(
        ServiceUnavailable,
        "database_timeout",
        "the database did not answer in time; nothing was changed, try again",
    )


async def create_pool(config: Config) -> asyncpg.Pool:
    """Open the app role's pool, retrying a few times while PostgreSQL comes up."""
    global commit_timeout
    commit_timeout = config.replication.commit_timeout
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
                reset=_reset,
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


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool.

    asyncpg's default reset costs a round trip on every release (RESET ALL, UNLISTEN,
    advisory unlocks). Strongroom sets only transaction-local settings and uses none of
    those session features on pooled connections, so ending any open transaction is all
    that is needed.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class MissingRow(RuntimeError):
    """A query that always answers one row answered none (see ``Tx.fetchrow_one``)."""


class Tx:
    """A connection inside one transaction, and the org its RLS context is set to."""

    __slots__ = ("conn", "org_id")

    def __init__(self, conn: asyncpg.Connection, org_id: uuid.UUID | None) -> None:
        self.conn = conn
        self.org_id = org_id

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Rows of a query."""
        rows: list[asyncpg.Record] = await self.conn.fetch(query, *args)
        return rows

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """First row of a query."""
        return await self.conn.fetchrow(query, *args)

    async def fetchrow_one(self, query: str, *args: Any) -> asyncpg.Record:
        """The one row a query always answers (``INSERT ... RETURNING``, a row locked or
        checked a moment ago in this transaction, an aggregate).

        Raises ``MissingRow`` (an internal error, answered as a 500) when there is none:
        that is a bug or a broken invariant, never a user's mistake, so callers for which
        a missing row is possible use ``fetchrow`` and answer with their own error.
        """
        row: asyncpg.Record | None = await self.conn.fetchrow(query, *args)
        if row is None:
            raise MissingRow(f"the query answered no row: {query.strip().splitlines()[0][:80]}")
        return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        """First value of the first row."""
        return await self.conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        """Run a statement; its status tag."""
        status: str = await self.conn.execute(query, *args)
        return status

    async def executemany(self, query: str, args: list[tuple[Any, ...]]) -> None:
        """Run a statement for each argument tuple, pipelined."""
        await self.conn.executemany(query, args)

    def cursor(self, query: str, *args: Any, prefetch: int | None = None) -> Any:
        """Iterate a large result in batches."""
        return self.conn.cursor(query, *args, prefetch=prefetch)


def _literal(org_id: uuid.UUID | None) -> str:
    # A UUID's text form is safe to embed; this lets BEGIN and the RLS setting share
    # one round trip.
    return str(uuid.UUID(str(org_id))) if org_id else ""


async def call_all(
    pool: asyncpg.Pool, query: str, *args: Any, readonly: bool = False, prompt: bool = False
) -> list[asyncpg.Record]:
    """Run one self-contained statement (its own implicit transaction) and return its rows.

    Only for SQL that sets its own RLS context (``authenticate_tokens``, ``reveal_accounts``)
    or reads tables without one (orgs by name); the Batcher is its caller. ``readonly``
    runs it in a READ ONLY transaction (a fenced primary: its functions then write
    nothing, sql/008). ``prompt`` names the statement ``PROMPT_APPLICATION`` (issue 33).
    A statement that does not answer within ``commit_timeout`` answers 503 outcome_unknown
    (it commits itself, so what it wrote may or may not be there).
    """
    try:
        if readonly:
            async with pool.acquire() as conn, conn.transaction(readonly=True):
                rows: list[asyncpg.Record] = await conn.fetch(query, *args)
                return rows
        if prompt:
            query = prompt_statement(query)
        rows = await pool.fetch(query, *args, timeout=commit_timeout)
        return rows
    except _CONNECTION_LOST as exc:
        raise await _lost(pool, None, exc) from exc
    except TimeoutError as exc:
        raise outcome_unknown() from exc
    except _NO_WRITABLE_HOST as exc:
        raise no_writable_database(exc) or ServiceUnavailable(str(exc)) from exc


def prompt_statement(query: str) -> str:
    """``query`` naming itself ``PROMPT_APPLICATION`` for its own implicit transaction:
    ``set_config(..., true)`` runs once, before the query (a one-time filter), and lasts
    until the transaction ends, its commit and a wait on a synchronous standby included, so
    the monitor sees the name there (replication/monitor.py). One round trip where BEGIN;
    SET LOCAL; the query; COMMIT took three (issue 28)."""
    return (
        f"SELECT * FROM ({query}) AS prompt_q WHERE (SELECT set_config('application_name', "
        f"'{PROMPT_APPLICATION}', true)) IS NOT NULL"
    )


async def _file_idempotency_key(tx: Tx) -> None:
    """File the request's Idempotency-Key with its first committed change (issue 33); a
    concurrent request with the same key is refused (409 idempotency_in_progress)."""
    try:
        await idempotency.write_pending(tx.conn, tx.org_id)
    except asyncpg.UniqueViolationError as exc:
        raise coded(
            Conflict,
            "idempotency_in_progress",
            "another request with this Idempotency-Key was carried out at the same time; "
            "retry to get its answer",
        ) from exc


async def _commit(conn: asyncpg.Connection) -> None:
    """COMMIT within ``commit_timeout``; past it, or if the connection is lost meanwhile,
    raise 503 outcome_unknown (the commit may have happened: issue 33)."""
    try:
        await conn.execute("COMMIT", timeout=commit_timeout)
    except (TimeoutError, *_CONNECTION_LOST) as exc:
        log.warning("a commit did not answer (%s): outcome unknown", type(exc).__name__)
        raise outcome_unknown() from exc


class Batcher:
    """Calls of one SQL function that arrive together, sent as one statement.

    ``query`` calls a function taking one array per argument and answering rows tagged
    with ``idx`` (the 1-based position of the call they answer; no row: None). Up to
    ``max_in_flight`` statements run at once; calls arriving meanwhile wait and go
    together in the next one, sharing its round trip and its commit. A lone call waits
    for nothing. If the statement fails, every call in it fails with that error.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        query: str,
        max_in_flight: int = 2,
        max_batch: int = 64,
        readonly: Callable[[], bool] | None = None,
        prompt: bool = False,
    ) -> None:
        self.pool = pool
        self.prompt = prompt  # its statements record only what a read-only node would
        self.query = query
        self.readonly = readonly  # asked per statement: send it in a READ ONLY transaction?
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._waiting: list[tuple[tuple[Any, ...], asyncio.Future[asyncpg.Record | None]]] = []
        self._in_flight = 0

    async def call(self, *args: Any) -> asyncpg.Record | None:
        """The row answering this call."""
        answer: asyncio.Future[asyncpg.Record | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((args, answer))
        self._send()
        return await answer

    def _send(self) -> None:
        while self._waiting and self._in_flight < self.max_in_flight:
            batch = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._apply(batch))

    async def _apply(
        self, batch: list[tuple[tuple[Any, ...], asyncio.Future[asyncpg.Record | None]]]
    ) -> None:
        try:
            columns = [list(c) for c in zip(*(args for args, _ in batch), strict=True)]
            readonly = self.readonly is not None and self.readonly()
            rows = await call_all(
                self.pool, self.query, *columns, readonly=readonly, prompt=self.prompt
            )
            found = {row["idx"]: row for row in rows}
            for i, (_, answer) in enumerate(batch, 1):
                if not answer.done():
                    answer.set_result(found.get(i))
        except Exception as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
        finally:
            self._in_flight -= 1
            self._send()


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool,
    org_id: uuid.UUID | None = None,
    *,
    readonly: bool = False,
    prompt: bool = False,
) -> AsyncIterator[Tx]:
    """Yield a Tx inside a transaction scoped to ``org_id`` for row-level security.

    ``prompt`` marks a transaction that records only what a read-only node would also
    record (``PROMPT_APPLICATION``). A statement past the pool's ``command_timeout`` answers
    503 database_timeout (nothing committed); a COMMIT past ``commit_timeout``, or whose
    connection is lost, 503 outcome_unknown (issue 33).
    """
    try:
        conn = await pool.acquire()
    except (
        TimeoutError,
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
    ) as exc:
        raise ServiceUnavailable("the database is not reachable right now") from exc
    except _NO_WRITABLE_HOST as exc:
        raise no_writable_database(exc) or ServiceUnavailable(str(exc)) from exc
    try:
        mode = " READ ONLY" if readonly else ""
        name = f"; SET LOCAL application_name = '{PROMPT_APPLICATION}'" if prompt else ""
        await conn.execute(
            f"BEGIN{mode}; SELECT set_config('app.org_id', '{_literal(org_id)}', true){name}"
        )
        tx = Tx(conn, org_id)
        try:
            yield tx
            if not readonly:
                await _file_idempotency_key(tx)
        except TimeoutError as exc:
            if not conn.is_closed():
                with suppress(asyncpg.PostgresError, OSError, TimeoutError):
                    await conn.execute("ROLLBACK", timeout=2)
            raise database_timeout() from exc
        except BaseException:
            if not conn.is_closed():
                with suppress(asyncpg.PostgresError, OSError):
                    await conn.execute("ROLLBACK")
            raise
        if readonly:
            await conn.execute("COMMIT")
        else:
            await _commit(conn)
            key = idempotency.pending.get()
            if key is not None:
                key.written = True
    except _CONNECTION_LOST as exc:
        raise await _lost(pool, conn, exc) from exc
    finally:
        with suppress(asyncpg.InterfaceError):
            await pool.release(conn)


# What a role change (promotion, demotion, restart) or a broken link looks like to a
# connection: writing on a standby (25006), an administrator or crash shutdown (57P0x),
# a lost connection (08xxx). asyncpg would keep handing out such connections.
_CONNECTION_LOST = (
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    ConnectionError,
)


async def _lost(
    pool: asyncpg.Pool, conn: asyncpg.Connection | None, exc: BaseException
) -> ServiceUnavailable:
    """Drop connections that saw a role change or broke; the pool opens fresh ones."""
    if conn is not None:
        with suppress(asyncpg.InterfaceError):  # already detached by asyncpg
            if not conn.is_closed():
                conn.terminate()
    await pool.expire_connections()
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return coded(
            ServiceUnavailable,
            "read_only",
            "the database here is read-only (a role change is under way); try the primary",
        )
    log.warning("database connection lost (%s); reconnecting", type(exc).__name__)
    return ServiceUnavailable("the database connection was lost; try again")


async def set_org(conn: Tx | asyncpg.Connection, org_id: uuid.UUID | None) -> None:
    """Switch the row-level-security org inside the current transaction."""
    if getattr(conn, "org_id", _UNKNOWN) == org_id:
        return
    await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id) if org_id else "")
    if isinstance(conn, Tx):
        conn.org_id = org_id


def context_cleared(conn: Tx | asyncpg.Connection) -> None:
    """Record that SQL run on ``conn`` left the RLS org empty (create_org_with_chain does)."""
    if isinstance(conn, Tx):
        conn.org_id = None


@asynccontextmanager
async def in_org(conn: Tx | asyncpg.Connection, org_id: uuid.UUID) -> AsyncIterator[None]:
    """Run a block in ``org_id``'s context and return to the previous one afterwards."""
    if isinstance(conn, Tx):
        previous = conn.org_id
    else:
        text = await conn.fetchval("SELECT current_setting('app.org_id', true)")
        previous = uuid.UUID(text) if text else None
    await set_org(conn, org_id)
    try:
        yield
    finally:
        await set_org(conn, previous)


# An external cluster (issue 33, item 7) with no host that takes writes right now (a
# planned switchover: every host read-only for a moment), or whose host listed first does
# not have the database yet: asyncpg raises these where a connection is made or used.
_NO_WRITABLE_HOST = (
    asyncpg.TargetServerAttributeNotMatched,
    asyncpg.InvalidCatalogNameError,
)


# What a background loop (check-out sweeper, notifier, password schedule) logs in one
# line and retries next round: the database away, read-only, or without a writable host.
RETRYABLE = (asyncpg.PostgresError, OSError, StrongroomError, *_NO_WRITABLE_HOST)


def no_writable_database(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 ``no_writable_database`` answer when ``exc`` (or what caused it) says that
    no host of the database answers as writable (issue 33, item 7: a quick 503 with a
    stable code, never a 500 with a traceback); None for any other error.

    Raised nowhere: the web layer's error middleware asks it about an unexpected error.
    """
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, _NO_WRITABLE_HOST):
            return coded(
                ServiceUnavailable,
                "no_writable_database",
                "no host of the database cluster takes writes right now (a switchover?); "
                "nothing was done, try again in a few seconds",
                retry_after=2,
            )
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return None


_APP_ROLE_POWERS = """
SELECT r.rolsuper, r.rolbypassrls,
       (SELECT string_agg(DISTINCT c.relname, ', ' ORDER BY c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%' AND pg_has_role(current_user, c.relowner, 'MEMBER')
       ) AS owned
FROM pg_roles r WHERE r.rolname = current_user
"""


class UnsafeAppRole(Exception):
    """The role the server connects as could escape row-level security."""


async def check_app_role(pool: asyncpg.Pool) -> None:
    """Refuse to serve through a role that row-level security would not bind (issue 33,
    item 7; DESIGN.md §4: every org's data is fenced by forced RLS on the app role).

    PostgreSQL lets a SUPERUSER or a BYPASSRLS role past every policy, and a table's owner
    (or a member of the owning role) may switch the table's policies off. An external
    cluster's DBA can grant any of these by mistake (``ALTER ROLE … BYPASSRLS``).

    Raises:
        UnsafeAppRole: the app role is a SUPERUSER, has BYPASSRLS, or owns tables of the
            database (itself or through a role it is a member of); the message names the
            fix.
    """
    async with pool.acquire() as conn:
        role = await conn.fetchval("SELECT current_user")
        row = await conn.fetchrow(_APP_ROLE_POWERS)
    problems = []
    if row["rolsuper"]:
        problems.append(f"is a SUPERUSER (ALTER ROLE {role} NOSUPERUSER)")
    if row["rolbypassrls"]:
        problems.append(f"has BYPASSRLS (ALTER ROLE {role} NOBYPASSRLS)")
    if row["owned"] and not row["rolsuper"]:
        problems.append(
            f"owns tables, itself or as a member of their owner ({row['owned'][:200]}; "
            "REVOKE the owner role from it, or give the tables back to the owner role)"
        )
    if problems:
        raise UnsafeAppRole(
            f"the database role {role} that the server connects as "
            + " and ".join(problems)
            + ": row-level security would not bind it, so it could read every org's data; "
            "refusing to start"
        )
