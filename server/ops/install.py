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
from server.core.config import LAYOUT, Config, dsn_database, render_config
from server.core.files import undo_install_dir
from server.security import crypto
from server.security.passwords import check_login_password
from server.security.ssh_keys import ensure_host_key
from server.security.tls import make_self_signed
from server.services.orgs import bootstrap_msp
from server.services.runtime import hasher_for
from server.store import audit, db, migrations
from server.store.anchors import AnchorLog
from server.store.keyring import KeyRing


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
    listen: str = "0.0.0.0"  # noqa: S104 - the HTTPS server's address (all by default)


@dataclass
class PairOptions:
    """How a new primary takes part in a pair (every field optional)."""

    node_name: str = "node1"
    public_url: str = ""  # how the peer and clients reach this server
    db_listen: str = ""  # the embedded PostgreSQL's address, reachable by the peer
    witness_url: str = ""
    witness_fingerprint: str = ""
    witness_token: str = ""
    auto_rejoin: bool = False


@dataclass
class ExternalDatabase:
    """An external PostgreSQL (a Patroni or managed cluster) instead of the embedded one.

    ``dsn`` is what the server connects with (a multi-host DSN with
    ``target_session_attrs=read-write`` follows the cluster's primary). With
    ``admin_dsn`` (a role with CREATEROLE and CREATEDB) init creates the owner and app
    roles and the database; without it they must exist and their passwords are given.
    """

    dsn: str
    admin_dsn: str = ""
    owner_password: str = ""
    app_password: str = ""


def _no_progress(message: str) -> None:
    return None


def apply_pair_options(config: Config, pair: PairOptions) -> None:
    """Write the pair settings into ``config`` (validated with the rest at load)."""
    config.node.name = pair.node_name or config.node.name
    config.server.public_url = pair.public_url
    if pair.db_listen:
        config.database.listen = pair.db_listen
    config.node.witness_url = pair.witness_url
    config.node.witness_fingerprint = pair.witness_fingerprint
    config.node.witness_token = pair.witness_token
    config.node.auto_rejoin = pair.auto_rejoin
    given = [bool(pair.witness_url), bool(pair.witness_fingerprint), bool(pair.witness_token)]
    if any(given) and not all(given):
        raise InstallError(
            "a witness needs its URL, its certificate fingerprint and its token together "
            "(--witness-url, --witness-fingerprint, --witness-token-file)"
        )


def init_install(
    home: Path,
    *,
    port: int = 7272,
    db_port: int = 7432,
    admin_username: str = "admin",
    admin_password: str | None = None,
    progress: Callable[[str], None] = _no_progress,
    pair: PairOptions | None = None,
    external: ExternalDatabase | None = None,
    msp_totp_policy: str = "administrators",
    listen: str = "",
    gateway_port: int = 2222,
) -> InitResult:
    """Create a primary node in ``home`` (which must not exist or be empty).

    Without ``admin_password`` one is generated and returned to be shown once; the
    administrator must change it at first login either way. ``pair`` names the
    node, its addresses and its witness; ``external`` replaces the embedded
    PostgreSQL with an existing cluster. ``msp_totp_policy``: MSPOrg's two-factor policy
    (issue 27: a new install requires 2FA of its built-in administrators, so the first
    administrator enrols at its first login, after choosing its password). ``listen`` is
    the HTTPS server's address (default: all addresses, 0.0.0.0); ``gateway_port`` the SSH
    gateway's port (issue 30; default 2222, must differ from ``port``).

    Raises:
        InstallError: anything failed; nothing was left behind.
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
    if gateway_port == port or not 1 <= gateway_port <= 65535:
        raise InstallError(
            f"the SSH gateway's port {gateway_port} must be between 1 and 65535 and differ "
            f"from the HTTPS port {port} (use --gateway-port)"
        )
    if external is None and not port_is_free(db_port):
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
        config.gateway.port = gateway_port
        if listen:  # the SSH gateway listens where HTTPS does (operator pass, session 8)
            config.server.host = config.gateway.host = listen
        db = config.database
        db.port = db_port
        db.app_password = secrets.token_urlsafe(24)
        db.owner_password = secrets.token_urlsafe(24)
        db.superuser_password = secrets.token_urlsafe(24)
        apply_pair_options(config, pair or PairOptions())

        progress("making the master key")
        write_master_key(config.path(config.security.master_key))
        progress("making a self-signed TLS certificate")
        fingerprint = make_self_signed(
            config.path(config.server.tls_cert), config.path(config.server.tls_key)
        )
        progress("making the SSH gateway's host key")
        ensure_host_key(config.path(config.gateway.host_key))

        if external is not None:
            progress("preparing the external PostgreSQL")
            asyncio.run(provision_external(config, external))
        else:
            progress("creating the embedded PostgreSQL cluster")
            cluster = Cluster(config.path(db.data_dir), db.port, listen=db.listen)
            check_traversable(home, cluster.account)
            cluster.initdb(db.superuser, db.superuser_password)
            progress("starting PostgreSQL")
            cluster.start()
            progress("creating database roles and applying migrations")
            asyncio.run(provision_database(config))
        progress(f"creating MSPOrg and its privileged administrator '{admin_username}'")
        asyncio.run(create_msp(config, admin_username, admin_password, msp_totp_policy))

        config_path = home / "conf" / "strongroom.toml"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render_config(config))
        if cluster is not None:
            progress("stopping PostgreSQL until the server starts")
            cluster.stop()
        return InitResult(
            config_path,
            f"https://localhost:{port}",
            fingerprint,
            admin_username,
            generated,
            config.server.host,
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
    conn = await asyncpg.connect(**config.superuser_dsn())
    try:
        await _make_roles(conn, config)
    finally:
        await conn.close()
    await migrations.migrate_database(config)


async def _make_roles(conn: asyncpg.Connection, config: Config) -> None:
    db = config.database
    await roles.ensure_role(conn, db.owner_user, db.owner_password)
    await roles.ensure_role(conn, db.app_user, db.app_password)
    await roles.ensure_database(conn, db.name, db.owner_user, db.app_user)
    await roles.grant_monitoring(conn, db.app_user)


async def provision_external(config: Config, external: ExternalDatabase) -> None:
    """Point ``config`` at an external PostgreSQL, make its roles if asked, and migrate.

    Raises:
        InstallError: the DSN names no database, or a password is missing.
    """
    db = config.database
    db.embedded = False
    db.dsn = external.dsn
    db.name = dsn_database(external.dsn)
    db.superuser = db.superuser_password = ""
    if not db.name:
        raise InstallError("--database-dsn must name the database (…/strongroom or dbname=…)")
    if external.admin_dsn:
        conn = await asyncpg.connect(dsn=external.admin_dsn, timeout=db.connect_timeout)
        try:
            await _make_roles(conn, config)
        finally:
            await conn.close()
        # Made on the primary a moment ago: a standby listed before it in the DSN knows
        # neither the roles nor the database until it has replayed them.
        await wait_until_replayed(config)
    else:
        if not (external.owner_password and external.app_password):
            raise InstallError(
                "without --database-admin-dsn the roles must exist: give their passwords in "
                "$STRONGROOM_DATABASE_OWNER_PASSWORD and $STRONGROOM_DATABASE_APP_PASSWORD"
            )
        db.owner_password, db.app_password = external.owner_password, external.app_password
        # The DBA may have made (or changed) them a moment ago: a standby listed first
        # refuses them until it has replayed that; a wrong password is refused for good.
        await wait_until_replayed(config, DBA_REPLAY_WAIT)
        await revoke_public(config)
    await migrations.migrate_database(config)


REPLAY_WAIT = 60.0  # seconds init waits for the DSN's standbys to replay what it made
DBA_REPLAY_WAIT = 15.0  # the same for roles the DBA made (a wrong password waits this long)
# What a standby that has not yet replayed the new roles and database answers.
_NOT_REPLAYED = (
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
)


async def wait_until_replayed(config: Config, seconds: float = REPLAY_WAIT) -> None:
    """Wait until the owner and app roles connect through the external DSN (issue 33, item
    7): with ``target_session_attrs=read-write`` each host is tried in the DSN's order,
    and a standby listed before the primary refuses a role or database it has not
    replayed yet (under Patroni, any order happens).

    Raises:
        InstallError: still refused after ``seconds`` (the message names the error: a
            standby that does not replay, or a wrong DSN).
    """
    deadline = asyncio.get_running_loop().time() + seconds
    for dsn in (config.owner_dsn(), config.app_dsn()):
        while True:
            try:
                conn = await asyncpg.connect(**dsn)
            except _NOT_REPLAYED as exc:
                if asyncio.get_running_loop().time() > deadline:
                    raise InstallError(
                        f"the roles and database were made on the primary, but a host of "
                        f"--database-dsn still refuses them after {seconds:.0f} s ({exc}): "
                        "is a standby listed there not replaying (or is the password wrong)?"
                    ) from None
                await asyncio.sleep(0.3)
                continue
            await conn.close()
            break


async def revoke_public(config: Config) -> None:
    """A database the DBA made (``CREATE DATABASE``) lets PUBLIC connect and make temporary
    tables: take both away, and let the app role connect (issue 33, item 7; as
    ``roles.ensure_database`` does for a database init makes). Run as the database's
    owner, which may grant on it."""
    database = config.database
    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        name = roles.quoted(database.name)
        await conn.execute(f"REVOKE ALL ON DATABASE {name} FROM PUBLIC")
        await conn.execute(f"GRANT CONNECT ON DATABASE {name} TO {roles.quoted(database.app_user)}")
    finally:
        await conn.close()


async def create_msp(
    config: Config, admin_username: str, admin_password: str, totp_policy: str = "administrators"
) -> None:
    """Create MSPOrg (two-factor policy ``totp_policy``) and the first privileged
    administrator through the app role."""
    ring = KeyRing.from_file(config.path(config.security.master_key))
    pool = await db.create_pool(config)
    try:
        await bootstrap_msp(
            pool, ring, hasher_for(config), admin_username, admin_password, totp_policy=totp_policy
        )
        anchors = AnchorLog(config.path(config.security.anchor_log), ring, pool)
        await audit.chain_pending(pool, ring, anchors=anchors, node=config.node.name)
    finally:
        await pool.close()


def write_master_key(path: Path) -> None:
    """Write a new random master key, readable by the owner only, refusing to overwrite."""
    crypto.write_key_file(path, crypto.new_key())
