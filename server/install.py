"""``strongroom init``: make a working primary in a fresh install directory.

Lays out the directory, makes the master key and TLS certificate, creates the
embedded PostgreSQL cluster with its roles and database, applies migrations and
writes ``conf/strongroom.toml``. A failed init removes everything it created.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from replication import roles
from replication.cluster import Cluster, ClusterError, check_traversable, port_is_free
from server import audit, crypto, db, migrations
from server.anchors import AnchorLog
from server.app import hasher_for
from server.config import LAYOUT, Config, render_config
from server.files import undo_install_dir
from server.keyring import KeyRing
from server.passwords import check_login_password
from server.services.orgs import bootstrap_msp
from server.tls import make_self_signed


class InstallError(Exception):
    """The install directory could not be made; nothing was left behind."""


@dataclass
class InitResult:
    """What init made, for the caller to report."""

    config_path: Path
    url: str
    fingerprint: str
    admin_username: str
    generated_password: str | None  # shown once when init made it up


def _no_progress(message: str) -> None:
    return None


def init_install(
    home: Path,
    *,
    port: int = 7272,
    db_port: int = 7432,
    admin_username: str = "admin",
    admin_password: str | None = None,
    progress: Callable[[str], None] = _no_progress,
) -> InitResult:
    """Create a primary node in ``home`` (which must not exist or be empty).

    Without ``admin_password`` one is generated and returned to be shown once; the
    administrator must change it at first login either way.
    """
    generated = None
    if admin_password is None:
        admin_password = generated = secrets.token_urlsafe(12)
    problem = check_login_password(admin_password, admin_username)
    if problem:
        raise InstallError(f"the administrator password {problem}")
    home = Path(home).absolute()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise InstallError(f"{home} is not empty; choose a new directory")
    if not port_is_free(db_port):
        raise InstallError(
            f"port {db_port} for the embedded PostgreSQL is already in use (use --db-port)"
        )
    created_home = not home.exists()
    cluster: Cluster | None = None
    try:
        home.mkdir(parents=True, exist_ok=True)
        for name in LAYOUT:
            (home / name).mkdir(exist_ok=True)
        (home / "conf").chmod(0o700)
        home.chmod(0o755)

        config = Config(home=home, source=str(home / "conf" / "strongroom.toml"))
        config.server.port = port
        db = config.database
        db.port = db_port
        db.app_password = secrets.token_urlsafe(24)
        db.owner_password = secrets.token_urlsafe(24)
        db.superuser_password = secrets.token_urlsafe(24)

        progress("making the master key")
        write_master_key(config.path(config.security.master_key))
        progress("making a self-signed TLS certificate")
        fingerprint = make_self_signed(
            config.path(config.server.tls_cert), config.path(config.server.tls_key)
        )

        progress("creating the embedded PostgreSQL cluster")
        cluster = Cluster(config.path(db.data_dir), db.port)
        check_traversable(home, cluster.account)
        cluster.initdb(db.superuser, db.superuser_password)
        progress("starting PostgreSQL")
        cluster.start()
        progress("creating database roles and applying migrations")
        asyncio.run(provision_database(config))
        progress(f"creating MSPOrg and its privileged administrator '{admin_username}'")
        asyncio.run(create_msp(config, admin_username, admin_password))

        config_path = home / "conf" / "strongroom.toml"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_config(config))
        progress("stopping PostgreSQL until the server starts")
        cluster.stop()
        return InitResult(
            config_path, f"https://localhost:{port}", fingerprint, admin_username, generated
        )
    except BaseException as exc:
        if cluster is not None:
            try:
                cluster.stop(mode="immediate")
            except ClusterError:
                pass
        undo_install_dir(home, created_home)
        if isinstance(exc, ClusterError | migrations.MigrationError | OSError):
            raise InstallError(str(exc)) from exc
        if isinstance(exc, asyncpg.PostgresError):
            raise InstallError(f"database setup failed: {exc}") from exc
        raise


async def provision_database(config: Config) -> None:
    """Create the owner and app roles and the database, then migrate as the owner."""
    db = config.database
    conn = await asyncpg.connect(**config.superuser_dsn())
    try:
        await roles.ensure_role(conn, db.owner_user, db.owner_password)
        await roles.ensure_role(conn, db.app_user, db.app_password)
        await roles.ensure_database(conn, db.name, db.owner_user, db.app_user)
        await roles.grant_monitoring(conn, db.app_user)
    finally:
        await conn.close()
    await migrate(config)


async def create_msp(config: Config, admin_username: str, admin_password: str) -> None:
    """Create MSPOrg and the first privileged administrator through the app role."""
    ring = KeyRing.from_file(config.path(config.security.master_key))
    pool = await db.create_pool(config)
    try:
        await bootstrap_msp(pool, ring, hasher_for(config), admin_username, admin_password)
        anchors = AnchorLog(config.path(config.security.anchor_log), ring, pool)
        await audit.chain_pending(pool, ring, anchors=anchors, node=config.node.name)
    finally:
        await pool.close()


async def migrate(config: Config) -> list[int]:
    """Apply pending migrations as the owner role."""
    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        return await migrations.migrate(conn, config.database.app_user)
    finally:
        await conn.close()


def write_master_key(path: Path) -> None:
    """Write a new random master key, readable by the owner only, refusing to overwrite."""
    crypto.write_key_file(path, crypto.new_key())
