"""The backup commands: ``strongroom backup [verify|keygen]`` and ``strongroom restore``.

Passphrases come from ``--passphrase-file`` or ``$STRONGROOM_BACKUP_PASSPHRASE``, never
from the command line (where ``ps`` and shell history would show them), and are never
stored on the node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from server.backup import archive as backup
from server.backup import crypto as backup_crypto
from server.backup.crypto import Unlock
from server.ops.command_line import command

PASSPHRASE_ENV = "STRONGROOM_BACKUP_PASSPHRASE"  # noqa: S105 - a variable name


class BackupCommandError(Exception):
    """A backup command cannot go on; the message says what to do."""


def read_passphrase(file: str | None, required: bool = True) -> str | None:
    """The passphrase from ``file`` (first line) or the environment, else None/error."""
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise BackupCommandError(f"cannot read {file}: {exc.strerror}") from None
        return text.splitlines()[0] if text else ""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if required:
        raise BackupCommandError(
            f"give the backup passphrase with --passphrase-file FILE or ${PASSPHRASE_ENV}"
        )
    return None


@contextmanager
def _bar(label: str, total: int | None):
    """A rich progress bar on stderr; yields a callable taking bytes done."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn()]
    columns += [TransferSpeedColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def cmd_backup(args: argparse.Namespace, load: Callable, embedded_cluster: Callable) -> int:
    """Write an encrypted backup of this node (database, master key, TLS identity)."""
    config = load(args)
    passphrase = read_passphrase(args.passphrase_file, required=False)
    if passphrase is not None:
        seal = backup_crypto.passphrase_seal(passphrase)
    elif config.backup.recipient:
        seal = backup_crypto.recipient_seal(config.backup.recipient)
    else:
        raise BackupCommandError(
            f"give a passphrase (--passphrase-file FILE or ${PASSPHRASE_ENV}) "
            "or set [backup] recipient (strongroom backup keygen)"
        )
    cluster = embedded_cluster(config)
    was_running = cluster is None or cluster.is_running()
    if cluster is not None:
        cluster.start()
    try:
        with _bar("dumping and sealing", None) as progress:
            result = backup.create_backup(
                config, seal, out_dir=Path(args.to) if args.to else None, progress=progress
            )
        try:
            asyncio.run(_audit_manual(config, result))
        except Exception as exc:  # a standby cannot write; root on the node is outside audit
            print(
                f"strongroom: warning: the backup was written but not audited: {exc}",
                file=sys.stderr,
            )
    finally:
        if not was_running and cluster is not None:
            cluster.stop()
    m = result.manifest
    print(f"backup written: {result.path}")
    print(f"  created:    {m['created_at']} by {m['node']}, schema {m['schema_version']}")
    print(f"  size:       {m['bytes']} bytes (dump {m['dump_bytes']}) in {result.seconds:.2f} s")
    print(f"  sha256:     {m['sha256']}")
    print(f"  sealed for: {m['recipient'] or 'the backup passphrase (not stored here)'}")
    return 0


async def _audit_manual(config, result: backup.BackupResult) -> None:
    from server.services.orgs import SYSTEM
    from server.store import audit, db
    from server.store.keyring import KeyRing

    ring = KeyRing.from_file(config.path(config.security.master_key))
    pool = await db.create_pool(config)
    try:
        msp_id = await pool.fetchval("SELECT id FROM orgs WHERE is_msp")
        async with db.transaction(pool, msp_id) as tx:
            await audit.Writer(tx, msp_id, SYSTEM, config.node.name).record(
                "backup_created",
                target_type="backup",
                target=result.path.name,
                details={
                    "bytes": result.manifest["bytes"],
                    "sha256": result.manifest["sha256"],
                    "schema_version": result.manifest["schema_version"],
                    "seconds": round(result.seconds, 3),
                    "manual": True,
                },
            )
        await audit.chain_pending(pool, ring)
    finally:
        await pool.close()


def _unlock(args: argparse.Namespace) -> Unlock:
    passphrase = read_passphrase(args.passphrase_file)
    assert passphrase is not None
    return Unlock(passphrase, Path(args.key_file) if args.key_file else None)


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a backup's integrity and passphrase without restoring it."""
    path = Path(args.file)
    if not path.is_file():
        raise BackupCommandError(f"{path} is not a file")
    with _bar("verifying", path.stat().st_size) as progress:
        info = backup.verify_backup(path, _unlock(args), progress)
    print(f"backup ok: {path}")
    print(f"  created: {info['created_at']} by {info['node']}, schema {info['schema_version']}")
    print(f"  dump:    {info['dump_bytes']} bytes, sha256 {info['dump_sha256']}")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    """Make a recipient key pair for scheduled backups (private half sealed by a passphrase)."""
    path = Path(args.file)
    passphrase = read_passphrase(args.passphrase_file)
    assert passphrase is not None
    try:
        recipient = backup_crypto.make_key_file(path, passphrase)
    except FileExistsError:
        raise BackupCommandError(f"{path} exists; choose a new file") from None
    except OSError as exc:
        raise BackupCommandError(f"cannot write {path}: {exc.strerror}") from None
    print(f"key file written: {path} (keep it and its passphrase OFF this node)")
    print("put this line in the [backup] section of conf/strongroom.toml:")
    print(f'recipient = "{recipient}"')
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Make a working primary in DIR from a backup file."""
    path = Path(args.file)
    if not path.is_file():
        raise BackupCommandError(f"{path} is not a file")
    unlock = _unlock(args)
    port = args.port or restore_port(7272, "HTTPS", "--port")
    db_port = args.db_port or restore_port(7432, "PostgreSQL", "--db-port")
    size = path.stat().st_size
    with _bar("restoring", size * 2) as bar:
        result = backup.restore_backup(
            path,
            Path(args.dir),
            unlock,
            port=port,
            db_port=db_port,
            listen=args.listen,
            force=args.force,
            progress=lambda phase, done: bar(done + (size if phase == "restoring" else 0)),
            note=lambda message: None,
        )
    m = result.manifest
    print(f"restored into {Path(args.dir).absolute()} in {result.seconds:.1f} s")
    print(f"  from:          {path.name} ({m['created_at']}, node {m['node']})")
    print(f"  configuration: {result.config_path}")
    if result.spooled:
        print(f"  audit spool:   {result.spooled} event(s) the node had not shipped, recorded")
    for org, ok, events in result.chains:
        print(f"  audit {org}: {'ok' if ok else 'BROKEN'} ({events} events)")
    print(f"  ports:         HTTPS {port}, PostgreSQL {db_port}")
    if args.listen:
        print(f"  listens on:    {args.listen} (HTTPS and the SSH gateway)")
    print(f"  start it with: {command('serve', '--config', result.config_path)}")
    return 0 if all(ok for _, ok, _ in result.chains) else 1


def restore_port(default: int, what: str, option: str, tries: int = 100) -> int:
    """``default`` when nothing listens on it, else the next free port above it, said on
    stderr: a restore beside a running node (which holds 7272 and 7432) works without
    options (issue 34, item 4).

    Raises:
        BackupCommandError: none of the ``tries`` ports from ``default`` is free.
    """
    from replication.cluster import port_is_free

    for port in range(default, default + tries):
        if port_is_free(port):
            if port != default:
                print(
                    f"{what} port {default} is in use (another node?): using {port} ({option})",
                    file=sys.stderr,
                )
            return port
    raise BackupCommandError(
        f"no free {what} port in {default}-{default + tries - 1}; use {option}"
    )


def add_parsers(sub, add: Callable, with_config: Callable, load: Callable, cluster: Callable):
    """Register ``backup`` (with ``verify`` and ``keygen``) and ``restore``."""

    def secret_options(p: argparse.ArgumentParser, key_file: bool = True) -> None:
        p.add_argument(
            "--passphrase-file",
            metavar="FILE",
            help=f"file whose first line is the passphrase (else ${PASSPHRASE_ENV})",
        )
        if key_file:
            p.add_argument(
                "--key-file",
                metavar="FILE",
                help="recipient key file (for backups sealed for a public key); "
                "the passphrase then opens this file",
            )

    p = add("backup", lambda a: cmd_backup(a, load, cluster), cmd_backup.__doc__ or "Back up.")
    with_config(p)
    p.add_argument("--to", metavar="DIR", help="folder to write to (default [backup] dir)")
    secret_options(p, key_file=False)
    actions = p.add_subparsers(dest="backup_command", metavar="[verify|keygen]")
    v = actions.add_parser("verify", help=cmd_verify.__doc__, description=cmd_verify.__doc__)
    v.set_defaults(func=cmd_verify)
    v.add_argument("file", metavar="FILE", help="the backup file (.srbk)")
    secret_options(v)
    k = actions.add_parser("keygen", help=cmd_keygen.__doc__, description=cmd_keygen.__doc__)
    k.set_defaults(func=cmd_keygen)
    k.add_argument("file", metavar="FILE", help="the new key file (made 0600, never overwritten)")
    secret_options(k, key_file=False)

    p = add("restore", cmd_restore, cmd_restore.__doc__)
    p.add_argument("file", metavar="FILE", help="the backup file (.srbk)")
    p.add_argument("dir", metavar="DIR", help="the new install directory (absent or empty)")
    p.add_argument("--force", action="store_true", help="replace a non-empty DIR (server stopped)")
    p.add_argument(
        "--port", type=int, help="HTTPS port (default 7272, else the next free one, said)"
    )
    p.add_argument(
        "--db-port",
        type=int,
        help="embedded PostgreSQL port (default 7432, else the next free one, said)",
    )
    p.add_argument(
        "--listen",
        metavar="ADDR",
        default="",
        help="address the HTTPS server and the SSH gateway listen on (default: all, as init)",
    )
    secret_options(p)


KNOWN_ERRORS = (BackupCommandError, backup.BackupError, backup_crypto.BackupCryptoError)


def status_line(config) -> str:
    """``strongroom status``'s line about the newest good backup in the node's folder."""
    import datetime

    last = backup.last_backup(config)
    if last is None:
        return "backup:     none yet" + (
            " (scheduled: DEGRADED)" if config.backup.schedule else " (none scheduled)"
        )
    at = datetime.datetime.fromisoformat(last["at"])
    hours = (datetime.datetime.now(datetime.UTC) - at).total_seconds() / 3600
    late = config.backup.schedule and hours > config.backup.max_age_hours
    return f"backup:     last good {last['at']} ({hours:.1f} h ago){' DEGRADED' if late else ''}"
