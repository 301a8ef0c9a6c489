"""Encrypted backups of a node: ``strongroom backup``, ``backup verify`` and ``restore``.

A backup is one sealed file (``server/backup/crypto.py``) holding, in order:

- ``M`` one chunk of JSON: what the backup is (time, node, schema version, PostgreSQL
  version), the role and database names, the master key, the TLS identity and the
  ``[security]``/``[backup]`` settings a restored node needs, and the audit events still
  in the node's spool (``spool/audit.jsonl``: recorded on a node that could not write and
  not yet shipped to its primary; issue 33, item 5);
- ``D`` chunks: the output of ``pg_dump --format=custom`` (a consistent snapshot of the
  application database, taken by PostgreSQL's own tool, as the cluster's superuser so
  that row-level security does not hide any row);
- ``E`` the final chunk: the dump's size and SHA-256.

Beside it, ``<file>.manifest.json`` (public, no secret) repeats the facts and adds the
sealed file's size and SHA-256, so a backup can be listed and checked for transport
damage without its passphrase. Files are written to a temporary name, fsync'd, then
renamed: a backup that exists is complete.

A restore makes a new embedded cluster with the same code ``init`` uses, restores the
dump with ``pg_restore`` into an empty database, applies newer migrations, writes the
master key back to ``conf/master.key`` (0600), records the backup's spooled audit events
(exactly once, by their ``spool_id``) and ``backup_restored`` in MSPOrg's audit chain. It
builds in a hidden sibling folder and moves it into place only when everything worked, so
a refused or failed restore leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg

from server.backup import crypto as backup_crypto
from server.backup.crypto import SealedReader, SealedWriter, Unlock
from server.core import hostos
from server.core.config import Config, ConfigError, load_config, render_config
from server.security import crypto

FORMAT = 1
SUFFIX = ".srbk"
MANIFEST_SUFFIX = ".manifest.json"
KIND_META, KIND_DUMP, KIND_END = b"M", b"D", b"E"
_NAME = re.compile(r"^strongroom-[A-Za-z0-9_.\-]+-\d{8}T\d{6}Z(-\d+)?\.srbk$")

Progress = Callable[[int], None]  # bytes done so far


class BackupError(Exception):
    """A backup, verify or restore failed; the message says why. Nothing was left behind."""


@dataclass
class BackupResult:
    """A finished backup: where it is, its manifest, and how long it took (seconds)."""

    path: Path
    manifest: dict[str, Any]
    seconds: float


@dataclass
class RestoreResult:
    """A finished restore: the new node's configuration and what was checked."""

    config_path: Path
    manifest: dict[str, Any]
    chains: list[tuple[str, bool, int]] = field(default_factory=list)  # (org, ok, events)
    seconds: float = 0.0
    spooled: int = 0  # audit events from the backup's spool recorded in the restored node


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _pg_tool(name: str) -> str:
    from replication.cluster import find_bindir

    path = find_bindir() / name
    if not path.exists():
        raise BackupError(f"{name} was not found beside initdb in {path.parent}")
    return str(path)


def _pg_env(config: Config, database: str) -> dict[str, str]:
    """libpq settings for the superuser (the password in the environment, never argv)."""
    db = config.database
    if not db.superuser_password:
        raise BackupError(
            "backups need the database superuser (database.superuser_password); "
            "back up an external database with its own tools"
        )
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "PGHOST": db.host,
        "PGPORT": str(db.port),
        "PGUSER": db.superuser,
        "PGPASSWORD": db.superuser_password,
        "PGDATABASE": database,
        "PGCONNECT_TIMEOUT": str(int(db.connect_timeout)),
        "PGAPPNAME": "strongroom_backup",
    }


async def _database_facts(config: Config) -> dict[str, Any]:
    conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
    try:
        return {
            "schema_version": await conn.fetchval(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ),
            "kek_id": await conn.fetchval(
                "SELECT kek_id FROM system_keys WHERE purpose = 'audit' "
                "ORDER BY version DESC LIMIT 1"
            ),
            "postgresql": await conn.fetchval("SHOW server_version"),
            "database_bytes": await conn.fetchval("SELECT pg_database_size(current_database())"),
        }
    finally:
        await conn.close()


def _meta(config: Config, facts: dict[str, Any], created: datetime.datetime) -> dict[str, Any]:
    master_path = config.path(config.security.master_key)
    if master_path.with_name(master_path.name + ".next").exists():
        raise BackupError("a master key rotation is unfinished; start the server once, then retry")
    kek = crypto.load_master_key(master_path)
    if facts["kek_id"] not in (None, crypto.key_id(kek)):
        raise BackupError("the master key file does not match this database; nothing was written")
    security = {k: v for k, v in asdict(config.security).items() if k != "master_key"}
    backup_settings = asdict(config.backup) if hasattr(config, "backup") else {}
    tls = {}
    for name in ("tls_cert", "tls_key"):
        with contextlib.suppress(OSError):
            tls[name] = config.path(getattr(config.server, name)).read_text(encoding="utf-8")
    db = config.database
    return {
        "format": FORMAT,
        "created_at": created.isoformat(timespec="seconds"),
        "node": config.node.name,
        "schema_version": facts["schema_version"],
        "postgresql": facts["postgresql"],
        "database": {"name": db.name, "owner_user": db.owner_user, "app_user": db.app_user},
        "master_key": base64.b64encode(kek).decode(),
        "kek_id": crypto.key_id(kek),
        "tls": tls,
        "security": security,
        "backup": backup_settings,
        "audit_spool": _spooled_events(config),
    }


def _spooled_events(config: Config) -> list[dict[str, Any]]:
    """The audit events in the node's spool not yet shipped (issue 33, item 5), as written
    (each line HMAC-chained: checked again when a restore records them)."""
    path = config.home / "spool" / "audit.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BackupError(f"cannot read the audit spool {path}: {exc.strerror}") from None
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        raise BackupError(f"the audit spool {path} is damaged; nothing was written") from None


def backup_name(node: str, created: datetime.datetime) -> str:
    """The file name of a backup made by ``node`` at ``created`` (UTC, to the second)."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", node) or "node"
    return f"strongroom-{safe}-{created.strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


class _HashingFile:
    """A write-only file that also hashes and counts what goes through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.sha, self.size = handle, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.handle.write(data)


def create_backup(
    config: Config,
    seal: tuple[dict, bytes],
    *,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    scheduled: bool = False,
) -> BackupResult:
    """Dump the application database and seal it with the keys a restore needs.

    Args:
        config: the node's configuration; its database (the embedded cluster) must run.
        seal: from ``backup_crypto.passphrase_seal`` or ``recipient_seal``.
        out_dir: where to write (default ``[backup] dir``, made 0700 if missing).
        progress: called with the dump's bytes so far, after each 1 MiB chunk.
        stop: when set (server shutdown), the dump is abandoned.

    Returns:
        The new file, its manifest (also written beside it as ``*.manifest.json``) and
        the wall-clock seconds taken.

    Raises:
        BackupError: pg_dump failed, the database or key is not in a state to back
            up, or the folder is not writable. No file is left behind.
    """
    started = time.monotonic()
    out_dir = Path(out_dir) if out_dir else config.path(config.backup.dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"cannot make the backup folder {out_dir}: {exc.strerror}") from None
    try:
        facts = asyncio.run(_database_facts(config))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BackupError(f"the database does not answer: {exc}") from None
    created = _utcnow()
    meta = _meta(config, facts, created)
    name = backup_name(config.node.name, created)
    final = out_dir / name
    if final.exists():  # two backups in one second: keep both
        name = name.removesuffix(SUFFIX) + f"-{secrets.randbelow(10**6)}{SUFFIX}"
        final = out_dir / name
    partial = out_dir / f".{name}.partial"
    header = {
        "app": "strongroom",
        "format": FORMAT,
        "created_at": meta["created_at"],
        "node": meta["node"],
        "schema_version": meta["schema_version"],
    }
    dump_sha, dump_bytes = hashlib.sha256(), 0
    proc: subprocess.Popen | None = None
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle, tempfile.TemporaryFile() as errors:
            out = _HashingFile(handle)
            writer = SealedWriter(out, header, seal, backup_crypto.CHUNK_BYTES)
            writer.chunk(KIND_META, json.dumps(meta).encode())
            proc = subprocess.Popen(
                [_pg_tool("pg_dump"), "--format=custom", "--no-password", "--compress=6"],
                stdout=subprocess.PIPE,
                stderr=errors,
                stdin=subprocess.DEVNULL,
                env=_pg_env(config, config.database.name),
            )
            assert proc.stdout is not None
            while True:
                data = proc.stdout.read(backup_crypto.CHUNK_BYTES)
                if not data:
                    break
                if stop is not None and stop.is_set():
                    raise BackupError("the backup was interrupted (the server is stopping)")
                dump_sha.update(data)
                dump_bytes += len(data)
                writer.chunk(KIND_DUMP, data)
                if progress:
                    progress(dump_bytes)
            if proc.wait() != 0:
                errors.seek(0)
                raise BackupError(f"pg_dump failed: {_last_line(errors.read())}")
            if dump_bytes == 0:
                raise BackupError("pg_dump wrote nothing")
            trailer = {"dump_bytes": dump_bytes, "dump_sha256": dump_sha.hexdigest()}
            writer.chunk(KIND_END, json.dumps(trailer).encode(), final=True)
            handle.flush()
            os.fsync(handle.fileno())
        manifest = {
            **header,
            "file": name,
            "bytes": out.size,
            "sha256": out.sha.hexdigest(),
            "dump_format": "pg_dump custom",
            "postgresql": meta["postgresql"],
            "database_bytes": facts["database_bytes"],
            "seal": seal[0]["kind"],
            "recipient": seal[0].get("recipient"),
            "audit_spool_events": len(meta["audit_spool"]),
            "scheduled": scheduled,  # only scheduled backups are pruned by the schedule
            **trailer,
        }
        os.replace(partial, final)
        _write_json_durably(out_dir / (name + MANIFEST_SUFFIX), manifest)
    except BaseException as exc:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupError(f"cannot write the backup in {out_dir}: {exc}") from None
        raise
    finally:
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
    return BackupResult(final, manifest, time.monotonic() - started)


def _write_json_durably(path: Path, body: dict[str, Any]) -> None:
    from server.core.files import write_durably

    write_durably(path, json.dumps(body, indent=2) + "\n", mode=0o600)


def _last_line(raw: bytes) -> str:
    lines = [x for x in raw.decode("utf-8", "replace").splitlines() if x.strip()]
    return lines[-1].strip() if lines else "no output"


# -- reading a backup ----------------------------------------------------------------------


def read_backup(
    path: Path,
    unlock: Unlock,
    on_dump: Callable[[bytes], None] | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Open, authenticate and walk a backup; hand each dump piece to ``on_dump``.

    Args:
        path: the ``.srbk`` file.
        unlock: its passphrase (or a recipient key file and that file's passphrase).
        on_dump: receives the dump's bytes in order (nothing is trusted until the
            whole file has authenticated: a caller that acts on them must be able to
            throw the result away).
        progress: called with the file's bytes read so far.

    Returns:
        (meta, trailer): the backup's meta record and its final record.

    Raises:
        BackupError: the file cannot be read, is not a backup, or the dump's checksum
            or size do not match its final record.
        backup_crypto.WrongKey / Damaged / Truncated: as their names say.
    """
    try:
        handle = open(path, "rb")  # closed by the with below
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = SealedReader.open(handle, unlock)
        meta: dict[str, Any] | None = None
        trailer: dict[str, Any] | None = None
        sha, size = hashlib.sha256(), 0
        for kind, data in reader.chunks():
            if meta is None:
                if kind != KIND_META:
                    raise backup_crypto.Damaged("the backup does not start with its record")
                meta = json.loads(data)
                if meta.get("format") != FORMAT:
                    raise BackupError(f"backup format {meta.get('format')} is not supported")
            elif kind == KIND_DUMP and trailer is None:
                sha.update(data)
                size += len(data)
                if on_dump:
                    on_dump(data)
            elif kind == KIND_END and trailer is None:
                trailer = json.loads(data)
            else:
                raise backup_crypto.Damaged("the backup's records are out of order")
            if progress:
                progress(reader.bytes_read)
    if meta is None or trailer is None:
        raise backup_crypto.Truncated("the backup ends before its final record")
    if trailer.get("dump_bytes") != size or trailer.get("dump_sha256") != sha.hexdigest():
        raise backup_crypto.Damaged("the database dump inside the backup fails its checksum")
    return meta, trailer


def verify_backup(path: Path, unlock: Unlock, progress: Progress | None = None) -> dict[str, Any]:
    """Check a backup end to end without restoring it; answer its manifest.

    Every chunk is authenticated, the dump's checksum and its pg_dump signature are
    checked, and when ``<file>.manifest.json`` lies beside it, the file's size and
    SHA-256 must match it.

    Raises:
        BackupError or a backup_crypto error naming what is wrong.
    """
    path = Path(path)
    first: list[bytes] = []

    def keep_start(data: bytes) -> None:
        if not first:
            first.append(data[:5])

    meta, trailer = read_backup(path, unlock, keep_start, progress)
    if not first or first[0] != b"PGDMP":
        raise BackupError("the backup does not hold a pg_dump archive")
    sidecar = path.with_name(path.name + MANIFEST_SUFFIX)
    if sidecar.exists():
        recorded = json.loads(sidecar.read_text(encoding="utf-8"))
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while piece := handle.read(1024 * 1024):
                digest.update(piece)
        if recorded.get("sha256") != digest.hexdigest():
            raise BackupError(f"{path.name} does not match the checksum in {sidecar.name}")
    keys = ("created_at", "node", "schema_version", "postgresql")
    return {
        **{k: meta[k] for k in keys},
        "file": path.name,
        "bytes": path.stat().st_size,
        **trailer,
    }


# -- where backups are, and which is the newest good one -----------------------------------


def list_backups(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The finished backups in ``folder``, oldest first, each with its manifest."""
    found = []
    with contextlib.suppress(OSError):
        for sidecar in folder.glob("strongroom-*" + SUFFIX + MANIFEST_SUFFIX):
            backup = sidecar.with_name(sidecar.name.removesuffix(MANIFEST_SUFFIX))
            if not (_NAME.match(backup.name) and backup.exists()):
                continue
            try:
                manifest = json.loads(sidecar.read_text(encoding="utf-8"))
                manifest["created_at"] = str(manifest["created_at"])
            except (OSError, ValueError, KeyError):
                continue
            found.append((backup, manifest))
    found.sort(key=lambda item: (item[1]["created_at"], item[0].name))
    return found


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` scheduled backups (and their manifests); backups
    made by hand are never deleted by the schedule. Answers what went."""
    backups = [(b, m) for b, m in list_backups(folder) if m.get("scheduled")]
    gone = []
    for backup, _ in backups[: max(len(backups) - keep, 0)]:
        backup.unlink(missing_ok=True)
        backup.with_name(backup.name + MANIFEST_SUFFIX).unlink(missing_ok=True)
        gone.append(backup)
    return gone


def last_backup(config: Config) -> dict[str, Any] | None:
    """The newest finished backup in the node's backup folder: {"at","file","bytes"}."""
    backups = list_backups(config.path(config.backup.dir))
    if not backups:
        return None
    path, manifest = backups[-1]
    return {"at": manifest["created_at"], "file": path.name, "bytes": manifest.get("bytes")}


# -- restore --------------------------------------------------------------------------------


def restore_backup(
    path: Path,
    home: Path,
    unlock: Unlock,
    *,
    port: int = 7272,
    db_port: int = 7432,
    listen: str = "",
    force: bool = False,
    progress: Callable[[str, int], None] | None = None,
    note: Callable[[str], None] = lambda message: None,
) -> RestoreResult:
    """Make a working primary in ``home`` from the backup at ``path``.

    The whole file is authenticated first (wrong passphrase, altered or truncated
    files are refused before anything is made). Then a new embedded cluster is made
    in a hidden folder beside ``home``, the dump is restored into it, newer
    migrations are applied, the restore is audited and the audit chains verified;
    only then is the folder moved to ``home`` (replacing what was there with
    ``force``).

    Args:
        path: the backup file.
        home: the new install directory: absent or empty unless ``force``.
        unlock: the backup's passphrase, or recipient key file and its passphrase.
        port, db_port: the new node's HTTPS and PostgreSQL ports.
        listen: the address its HTTPS server and SSH gateway listen on ("": all, as
            ``init``'s default).
        force: replace a non-empty ``home`` (its server must be stopped).
        progress: called with (phase, bytes of the file read so far).
        note: called with a line for each step.

    Returns:
        The new configuration file, the backup's facts and each org's chain check.

    Raises:
        BackupError (or a backup_crypto error): nothing was made or changed.
    """
    from replication.cluster import Cluster, ClusterError, check_traversable, port_is_free

    started = time.monotonic()
    path, home = Path(path), Path(home).absolute()
    if home.exists() and not home.is_dir():
        raise BackupError(f"{home} is not a directory; restore into a new directory")
    if home.exists() and any(home.iterdir()):
        if not force:
            raise BackupError(f"{home} is not empty; restore into a new directory (or use --force)")
        if not (home / "conf" / "strongroom.toml").is_file():
            raise BackupError(
                f"{home} is not a Strongroom node (no conf/strongroom.toml); --force only "
                "replaces a stopped node"
            )
    if force and (home / "pgsql" / "data" / "postmaster.pid").exists():
        raise BackupError(f"the node in {home} is running; stop it first (strongroom stop)")
    if not port_is_free(db_port):
        raise BackupError(f"port {db_port} for the embedded PostgreSQL is already in use")
    size = path.stat().st_size if path.exists() else 0
    note("checking the backup (every chunk, the passphrase, the checksums)")
    verify_backup(path, unlock, (lambda done: progress("checking", done)) if progress else None)
    meta = _peek_meta(path, unlock)
    _check_schema(meta)

    home.parent.mkdir(parents=True, exist_ok=True)
    staging = home.parent / f".{home.name}.restoring-{secrets.token_hex(4)}"
    cluster: Cluster | None = None
    try:
        staging.mkdir(mode=0o755)
        from server.core.config import LAYOUT

        for name in LAYOUT:
            (staging / name).mkdir(exist_ok=True)
        (staging / "conf").chmod(0o700)
        config = _restored_config(staging, meta, port, db_port, listen)
        crypto.write_key_file(
            config.path(config.security.master_key), base64.b64decode(meta["master_key"])
        )
        _write_tls(config, meta, note)
        note("creating the embedded PostgreSQL cluster")
        cluster = Cluster(config.path(config.database.data_dir), db_port)
        check_traversable(staging, cluster.account)
        cluster.initdb(config.database.superuser, config.database.superuser_password)
        cluster.start()
        note("creating database roles")
        asyncio.run(_provision_roles(config))
        note("restoring the database (pg_restore)")
        _pg_restore(config, path, unlock, size, progress)
        note("applying newer migrations and auditing the restore")
        chains, spooled = asyncio.run(_after_restore(config, path.name, meta))
        _write_config(config)
        load_config(config.home / "conf" / "strongroom.toml")  # what serve will read
        cluster.stop()
        cluster = None
        _move_into_place(staging, home, force)
    except BaseException as exc:
        if cluster is not None:
            with contextlib.suppress(ClusterError):
                cluster.stop(mode="immediate")
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ClusterError | OSError | asyncpg.PostgresError):
            raise BackupError(f"restore failed (nothing was kept): {exc}") from exc
        from server.store.migrations import MigrationError

        if isinstance(exc, MigrationError | crypto.CryptoError | ConfigError):
            raise BackupError(f"restore failed (nothing was kept): {exc}") from exc
        raise
    keys = ("created_at", "node", "schema_version", "postgresql")
    return RestoreResult(
        home / "conf" / "strongroom.toml",
        {k: meta[k] for k in keys},
        chains,
        time.monotonic() - started,
        spooled,
    )


def _check_schema(meta: dict[str, Any]) -> None:
    """Refuse a backup made by a newer Strongroom than this one (its schema is unknown here)."""
    from server.store.migrations import discover

    known = max((m.version for m in discover()), default=0)
    if int(meta.get("schema_version") or 0) > known:
        raise BackupError(
            f"this backup has schema version {meta['schema_version']} but this Strongroom "
            f"knows only up to {known}: restore it with the same or a newer version"
        )


def _peek_meta(path: Path, unlock: Unlock) -> dict[str, Any]:
    with open(path, "rb") as handle:
        reader = SealedReader.open(handle, unlock)
        for kind, data in reader.chunks():
            if kind != KIND_META:
                raise backup_crypto.Damaged("the backup does not start with its record")
            return json.loads(data)
    raise backup_crypto.Truncated("the backup is empty")


def _restored_config(
    home: Path, meta: dict[str, Any], port: int, db_port: int, listen: str = ""
) -> Config:
    from server.core.config import BackupConfig, SecurityConfig

    config = Config(home=home, source=str(home / "conf" / "strongroom.toml"))
    config.server.port = port
    if listen:  # the SSH gateway listens where HTTPS does, as after init --listen
        config.server.host = config.gateway.host = listen
    db = config.database
    db.port = db_port
    db.name = meta["database"]["name"]
    db.owner_user = meta["database"]["owner_user"]
    db.app_user = meta["database"]["app_user"]
    db.app_password = secrets.token_urlsafe(24)
    db.owner_password = secrets.token_urlsafe(24)
    db.superuser_password = secrets.token_urlsafe(24)
    config.node.name = meta["node"]
    known = set(SecurityConfig.__dataclass_fields__)
    for key, value in meta.get("security", {}).items():
        if key in known and key != "master_key":
            setattr(config.security, key, value)
    known = set(BackupConfig.__dataclass_fields__)
    for key, value in meta.get("backup", {}).items():
        if key in known:
            setattr(config.backup, key, value)
    return config


def _write_tls(config: Config, meta: dict[str, Any], note: Callable[[str], None]) -> None:
    from server.security.tls import make_self_signed

    tls = meta.get("tls") or {}
    cert, key = config.path(config.server.tls_cert), config.path(config.server.tls_key)
    if tls.get("tls_cert") and tls.get("tls_key"):
        note("restoring the node's TLS certificate (clients keep trusting it)")
        cert.write_text(tls["tls_cert"], encoding="utf-8")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(tls["tls_key"])
        hostos.make_private(key)  # 0600; owner and SYSTEM on Windows
        return
    note("making a new self-signed TLS certificate")
    make_self_signed(cert, key)


async def _provision_roles(config: Config) -> None:
    from replication import roles

    db = config.database
    conn = await asyncpg.connect(**config.superuser_dsn())
    try:
        await roles.ensure_role(conn, db.owner_user, db.owner_password)
        await roles.ensure_role(conn, db.app_user, db.app_password)
        await roles.ensure_database(conn, db.name, db.owner_user, db.app_user)
        await roles.grant_monitoring(conn, db.app_user)
    finally:
        await conn.close()


def _pg_restore(
    config: Config,
    path: Path,
    unlock: Unlock,
    size: int,
    progress: Callable[[str, int], None] | None,
) -> None:
    """Stream the dump out of the (already verified) backup into pg_restore's stdin."""
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [
                _pg_tool("pg_restore"),
                "--no-password",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={config.database.name}",
            ],
            stdin=subprocess.PIPE,
            stdout=errors,
            stderr=errors,
            env=_pg_env(config, config.database.name),
        )
        assert proc.stdin is not None
        try:
            read_backup(
                path,
                unlock,
                proc.stdin.write,
                (lambda done: progress("restoring", done)) if progress else None,
            )
            proc.stdin.close()
        except BrokenPipeError:
            pass  # pg_restore stopped early; its own message says why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0:
            errors.seek(0)
            raise BackupError(f"pg_restore failed: {_last_line(errors.read())}")


async def _after_restore(
    config: Config, file_name: str, meta: dict[str, Any]
) -> tuple[list[tuple[str, bool, int]], int]:
    from server.node import spool
    from server.services import master_key
    from server.services.orgs import SYSTEM
    from server.store import audit, db
    from server.store.keyring import KeyRing
    from server.store.migrations import migrate_database

    await migrate_database(config)
    ring = KeyRing.from_file(config.path(config.security.master_key))
    pool = await db.create_pool(config)
    try:
        await master_key.check_master_key(ring, pool)
        spooled = meta.get("audit_spool") or []
        if spooled:  # events the backed-up node had not shipped: recorded now, once
            try:
                await spool.ingest(pool, ring, spooled)
            except (spool.SpoolTampered, KeyError, ValueError, TypeError) as exc:
                raise BackupError(f"the backup's audit spool fails its check: {exc}") from None
        await audit.chain_pending(pool, ring)
        msp_id = await pool.fetchval("SELECT id FROM orgs WHERE is_msp")
        if msp_id is None:
            raise BackupError("the restored database has no MSPOrg")
        async with db.transaction(pool, msp_id) as tx:
            await audit.Writer(tx, msp_id, SYSTEM, config.node.name).record(
                "backup_restored",
                target_type="backup",
                target=file_name,
                details={
                    "created_at": meta["created_at"],
                    "source_node": meta["node"],
                    "schema_version": meta["schema_version"],
                    "spooled_events": len(spooled),
                },
            )
        await audit.chain_pending(pool, ring)
        results = []
        async with db.transaction(pool, readonly=True) as tx:
            orgs = await tx.fetch(
                "SELECT id, display_name FROM orgs ORDER BY NOT is_msp, display_name"
            )
            for org in orgs:
                check = await audit.verify(tx, ring, org["id"])
                results.append((org["display_name"], check.ok, check.events))
        return results, len(spooled)
    finally:
        await pool.close()


def _write_config(config: Config) -> None:
    config_path = config.home / "conf" / "strongroom.toml"
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(render_config(config))
        handle.flush()
        os.fsync(handle.fileno())


def _move_into_place(staging: Path, home: Path, force: bool) -> None:
    """Put the finished node at ``home``; with ``force`` the old contents go only now."""
    old = None
    if home.exists():
        if any(home.iterdir()):
            if not force:
                raise BackupError(f"{home} is not empty any more; nothing was restored")
            old = home.parent / f".{home.name}.replaced-{secrets.token_hex(4)}"
            os.rename(home, old)
        else:
            home.rmdir()
    os.rename(staging, home)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    hostos.fsync_dir(home.parent)
