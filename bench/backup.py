"""Encrypted backup and restore against plain pg_dump / pg_restore of the same database.

Run: .venv/bin/python -m bench.backup [--orgs 1000]
Builds --orgs orgs x 100 resources x 2 accounts (bench.scale's data set), then in the same
run times: plain ``pg_dump --format=custom`` to a file and ``strongroom backup`` (dump,
seal, manifest); plain ``pg_restore`` into a new database and ``strongroom restore``'s
check + restore phases (and its whole run, which also makes a new cluster). Target
(issue 18): each ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from bench.harness import ADMIN_PASSWORD, free_port, primary, progress
from bench.scale import USER_PASSWORD, grow, login
from server.backup import archive as backup
from server.backup import crypto as backup_crypto
from server.services.runtime import hasher_for
from server.store import db
from server.store.keyring import KeyRing

PASSPHRASE = "bench backup passphrase 1"


def plain_dump(config, target: Path) -> float:
    """Seconds for pg_dump --format=custom of the application database to a file."""
    started = time.monotonic()
    subprocess.run(
        [backup._pg_tool("pg_dump"), "--format=custom", "--compress=6", f"--file={target}"],
        env=backup._pg_env(config, config.database.name),
        check=True,
    )
    return time.monotonic() - started


async def plain_restore(config, dump: Path) -> float:
    """Seconds for pg_restore of ``dump`` into a new database of the same cluster."""
    conn = await asyncpg.connect(**config.superuser_dsn())
    try:
        await conn.execute("DROP DATABASE IF EXISTS bench_plain")
        await conn.execute(
            f"CREATE DATABASE bench_plain OWNER {config.database.owner_user} TEMPLATE template0"
        )
    finally:
        await conn.close()
    started = time.monotonic()
    await asyncio.to_thread(
        subprocess.run,
        [
            backup._pg_tool("pg_restore"),
            "--no-password",
            "--exit-on-error",
            "--single-transaction",
            "--dbname=bench_plain",
            str(dump),
        ],
        env=backup._pg_env(config, "bench_plain"),
        check=True,
    )
    return time.monotonic() - started


def timed_restore(path: Path, home: Path) -> tuple[float, dict[str, float]]:
    """strongroom restore into ``home``: (whole seconds, seconds per phase)."""
    marks: list[tuple[str, float]] = []
    started = time.monotonic()
    backup.restore_backup(
        path,
        home,
        backup_crypto.Unlock(PASSPHRASE),
        port=free_port(),
        db_port=free_port(),
        note=lambda message: marks.append((message, time.monotonic())),
    )
    total = time.monotonic() - started
    marks.append(("end", time.monotonic()))
    phases = {marks[i][0]: marks[i + 1][1] - marks[i][1] for i in range(len(marks) - 1)}
    return total, phases


async def run(orgs: int) -> None:
    """Build the data set, then time both ways of backing up and restoring it."""
    scratch = Path(tempfile.mkdtemp(prefix="strongroom-bench-backup-", dir="/tmp"))
    scratch.chmod(0o755)
    try:
        async with primary(tune=lambda c: setattr(c.database, "pool_max", 10)) as node:
            token = await login(node.session, "admin", "MSPOrg", ADMIN_PASSWORD)
            async with node.session.post(
                "/api/v1/me/password",
                headers=token,
                json={"current_password": ADMIN_PASSWORD, "new_password": ADMIN_PASSWORD + "x"},
            ):
                pass
            password_hash = hasher_for(node.config).hash_sync(USER_PASSWORD)
            ring = KeyRing.from_file(node.config.path(node.config.security.master_key))
            pool = await db.create_pool(node.config)
            try:
                progress(f"building {orgs} orgs x 100 resources x 2 accounts")
                await grow(node, pool, ring, 0, orgs, token, password_hash)
            finally:
                await pool.close()
            config = node.config
            progress("plain pg_dump")
            plain = scratch / "plain.dump"
            dump_s = await asyncio.to_thread(plain_dump, config, plain)
            progress("strongroom backup")
            seal = backup_crypto.passphrase_seal(PASSPHRASE)
            result = await asyncio.to_thread(
                backup.create_backup, config, seal, out_dir=scratch / "backups"
            )
            progress("plain pg_restore")
            restore_s = await plain_restore(config, plain)
            progress("strongroom restore")
            total_s, phases = await asyncio.to_thread(
                timed_restore, result.path, scratch / "restored"
            )
            db_bytes = result.manifest["database_bytes"]
            dump_bytes, sealed_bytes = plain.stat().st_size, result.manifest["bytes"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    check = next(v for k, v in phases.items() if k.startswith("checking"))
    restore_phase = next(v for k, v in phases.items() if k.startswith("restoring the database"))
    print(
        f"\ndata: {orgs} orgs, database {db_bytes / 1e6:.1f} MB, pg_dump file "
        f"{dump_bytes / 1e6:.1f} MB, sealed backup {sealed_bytes / 1e6:.1f} MB"
    )
    print(f"  pg_dump (custom, -Z6):       {dump_s:6.2f} s")
    print(
        f"  strongroom backup:           {result.seconds:6.2f} s  "
        f"ratio {result.seconds / dump_s:.2f} (target <= 1.5)"
    )
    print(f"  pg_restore (new database):   {restore_s:6.2f} s")
    ours = check + restore_phase
    print(
        f"  strongroom restore (check + pg_restore): {ours:6.2f} s  "
        f"ratio {ours / restore_s:.2f} (target <= 1.5)"
    )
    print(f"  strongroom restore, whole (new cluster, migrations, audit): {total_s:6.2f} s")
    for name, seconds in phases.items():
        print(f"    {seconds:6.2f} s  {name}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.orgs))


if __name__ == "__main__":
    main()
