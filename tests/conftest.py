"""Shared fixtures: one real PostgreSQL cluster per session, a fresh database per module,
a real HTTPS server per test."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from replication import roles
from replication.cluster import Cluster
from server.core.config import Config
from server.ops.install import write_master_key
from server.security.tls import client_context, make_self_signed, server_context
from server.store import migrations
from server.web.app import create_app
from tests import contract

SUPERUSER = "strongroom_admin"
OWNER = "strongroom_owner"
APP = "strongroom_app"


FAILED = pytest.StashKey[bool]()  # set on a test whose body failed, for fixtures to read


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


# Run on xdist workers, setup/test.sh hands out whole test files (module fixtures such as
# the database and tui_server are made once), the costliest first so no worker is left alone
# with a long file at the end. Seconds are per-file totals of a two-worker run on a loaded
# 2-core machine (only their order matters); an unlisted file counts as short (under 40 s).
# A plain ``pytest`` run keeps the collection order.
SLOW_FILES: dict[str, float] = {
    "tests/replication/test_failover.py": 565,
    "tui-snapshot-port": 290,
    "tests/fuzz/test_fuzz.py": 267,
    "tests/setup/test_silent_install.py": 251,
    "tests/tui/test_palette.py": 187,
    "tests/setup/test_cli.py": 162,
    "tests/setup/test_backup.py": 136,
    "tests/replication/test_standby_away.py": 131,
    "tests/tui/test_vault_keys.py": 116,
    "tests/replication/test_external_database.py": 101,
    "tests/replication/test_remove_node.py": 93,
    "tests/server/test_dual_control_machine.py": 89,
    "tests/replication/test_tui_failover.py": 88,
    "tests/tui/test_users_keys.py": 83,
    "tests/replication/test_pair.py": 82,
    "tests/tui/test_stories.py": 81,
    "tests/tui/test_story_keys.py": 76,
    "tests/tui/test_me_keys.py": 65,
    "tests/setup/test_hardening.py": 59,
    "tests/replication/test_spool_on_stop.py": 57,
    "tests/tui/test_orgs_keys.py": 55,
    "tests/tui/test_dual_control_keys.py": 52,
    "tests/tui/test_access_keys.py": 51,
    "tests/tui/test_directory_keys.py": 51,
    "tests/replication/test_siem_failover.py": 48,
    "tests/tui/test_snapshots_failover.py": 47,
    "tests/tui/test_terminal.py": 41,
    "tests/replication/test_wal_limit.py": 40,
}
# The files whose screenshots show the shared snapshot port (tests/tui/conftest.py): they run
# one after the other on one worker, since only one server at a time can listen on it.
SNAPSHOT_PORT_GROUP = "tui-snapshot-port"


def _uses_snapshot_port(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return "snap_compare" in names and "tui_server" in names


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` (setup/test.sh): one group per test file (the snapshot
    port's files share one), costliest files first."""
    # (an xdist worker sees dist "no" and loadgroup True; the controller collects nothing)
    if not getattr(config.option, "loadgroup", False):
        return
    port_files = {item.path for item in items if _uses_snapshot_port(item)}
    root = config.rootpath
    first_seen: dict[Path, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.path, index)
        group = (
            SNAPSHOT_PORT_GROUP
            if item.path in port_files
            else item.path.relative_to(root).as_posix()
        )
        item.add_marker(pytest.mark.xdist_group(group))

    def cost(path: Path) -> float:
        if path in port_files:
            return SLOW_FILES.get(SNAPSHOT_PORT_GROUP, 0.0)
        return SLOW_FILES.get(path.relative_to(root).as_posix(), 0.0)

    items.sort(key=lambda item: (-cost(item.path), first_seen[item.path]))


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_dir(prefix: str) -> Path:
    """A directory under /tmp that PostgreSQL's service user can traverse (tmp_path is not)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@dataclass
class PgServer:
    """The session's PostgreSQL cluster and the passwords of its roles."""

    cluster: Cluster
    port: int
    superuser_password: str
    owner_password: str
    app_password: str

    def superuser_dsn(self, database: str = "postgres") -> dict:
        """Connection arguments for the superuser."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": SUPERUSER,
            "password": self.superuser_password,
            "database": database,
        }


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL cluster for the whole test session, with owner and app roles."""
    base = scratch_dir("strongroom-pg-")
    port = free_port()
    server = PgServer(
        cluster=Cluster(base / "data", port),
        port=port,
        superuser_password=secrets.token_urlsafe(18),
        owner_password=secrets.token_urlsafe(18),
        app_password=secrets.token_urlsafe(18),
    )
    # The suite's own cluster trades durability for speed; HA tests make real ones.
    server.cluster.initdb(
        SUPERUSER,
        server.superuser_password,
        extra_conf={
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": "200",
        },
    )
    server.cluster.start()

    async def make_roles() -> None:
        conn = await asyncpg.connect(**server.superuser_dsn())
        try:
            await roles.ensure_role(conn, OWNER, server.owner_password)
            await roles.ensure_role(conn, APP, server.app_password)
            await roles.grant_monitoring(conn, APP)
        finally:
            await conn.close()

    try:
        asyncio.run(make_roles())
        yield server
    finally:
        server.cluster.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def install_files() -> Iterator[Path]:
    """A home directory with conf/master.key and a TLS certificate, shared by the session."""
    home = scratch_dir("strongroom-home-")
    for name in ("conf", "logs", "spool", "run"):
        (home / name).mkdir()
    write_master_key(home / "conf" / "master.key")
    make_self_signed(home / "conf" / "tls.crt", home / "conf" / "tls.key")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def make_database(pg: PgServer, name: str, sql_dir: Path = migrations.SQL_DIR) -> None:
    """Create database ``name`` owned by the owner role and apply migrations."""

    async def run() -> None:
        conn = await asyncpg.connect(**pg.superuser_dsn())
        try:
            await roles.ensure_database(conn, name, OWNER, APP)
        finally:
            await conn.close()
        owner = await asyncpg.connect(
            host="127.0.0.1", port=pg.port, user=OWNER, password=pg.owner_password, database=name
        )
        try:
            await migrations.migrate(owner, APP, sql_dir)
        finally:
            await owner.close()

    asyncio.run(run())


def drop_database(pg: PgServer, name: str) -> None:
    """Drop database ``name``, ending its connections."""

    async def run() -> None:
        conn = await asyncpg.connect(**pg.superuser_dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())


def config_for(pg: PgServer, home: Path, database: str) -> Config:
    """A Config pointing at ``database`` on the session cluster."""
    config = Config(home=home, source="<tests>")
    db = config.database
    db.embedded = False
    db.port = pg.port
    db.name = database
    db.app_password = pg.app_password
    db.owner_password = pg.owner_password
    db.superuser_password = pg.superuser_password
    db.pool_min = 1
    db.pool_max = 10
    config.server.host = "127.0.0.1"
    # Modules share the install folder: each database keeps its own audit anchor log.
    config.security.anchor_log = f"audit/{database}.anchors.jsonl"
    # OWASP's minimum Argon2id cost keeps the suite quick; production defaults are higher.
    config.security.argon2_memory_kib = 19456
    config.security.argon2_iterations = 2
    # Test receivers and targets (SIEM, webhooks, sshd, MariaDB, slapd) listen on 127.0.0.1.
    config.outbound.allow_loopback = True
    return config


@pytest.fixture(scope="module")
def database(pg_server: PgServer, install_files: Path) -> Iterator[str]:
    """A fresh, fully migrated database for one test module. At its end the shared install
    folder's audit spool is emptied: its events are sealed with this database's key, so the
    next module on the same worker (whichever it is) would find them tampered."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    make_database(pg_server, name)
    yield name
    drop_database(pg_server, name)
    for spooled in (install_files / "spool").iterdir():
        spooled.unlink()


@pytest.fixture
def config(pg_server: PgServer, install_files: Path, database: str) -> Config:
    """Configuration of a node using this module's database."""
    return config_for(pg_server, install_files, database)


@pytest.fixture
async def owner_conn(pg_server: PgServer, database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the owner role (what migrations use)."""
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=OWNER,
        password=pg_server.owner_password,
        database=database,
    )
    yield conn
    await conn.close()


@pytest.fixture
async def app_conn(pg_server: PgServer, database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the app role (what the server uses)."""
    conn = await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=APP,
        password=pg_server.app_password,
        database=database,
    )
    yield conn
    await conn.close()


@dataclass
class LiveServer:
    """A running HTTPS server and what a client needs to reach it."""

    app: web.Application
    url: str
    ssl: ssl.SSLContext


async def start_server(app: web.Application, config: Config) -> tuple[web.AppRunner, LiveServer]:
    """Serve ``app`` over real HTTPS on a free loopback port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(
        runner,
        "127.0.0.1",
        0,
        ssl_context=server_context(
            config.path(config.server.tls_cert), config.path(config.server.tls_key)
        ),
    )
    await site.start()
    port = runner.addresses[0][1]
    live = LiveServer(
        app, f"https://127.0.0.1:{port}", client_context(config.path(config.server.tls_cert))
    )
    return runner, live


@pytest.fixture
async def live_server(config: Config) -> AsyncIterator[LiveServer]:
    """The real application served over HTTPS for one test; every answer it gives is
    checked against the documented contract (tests/contract.py)."""
    app = create_app(config)
    mismatches = contract.install(app)
    runner, live = await start_server(app, config)
    yield live
    await runner.cleanup()
    if mismatches:
        pytest.fail("answers that break the documented contract:\n" + "\n".join(mismatches))


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTPS client that trusts the test server's certificate."""
    connector = aiohttp.TCPConnector(ssl=live_server.ssl)
    async with aiohttp.ClientSession(live_server.url, connector=connector) as session:
        yield session


@pytest.fixture(autouse=True, scope="session")
def _no_proxy() -> None:
    """Tests talk to loopback only; never through a configured proxy."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(var, None)
