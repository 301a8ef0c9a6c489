"""init --database-dsn: a node on an external PostgreSQL named by a multi-host DSN."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess

import asyncpg
import pytest

from replication import roles
from tests.conftest import APP, OWNER, free_port, scratch_dir
from tests.replication.harness import ADMIN_PASSWORD, STRONGROOM, call, run_cli

pytestmark = pytest.mark.timeout(240)


def test_init_on_an_external_multi_host_cluster(pg_server):
    """Roles and database made by its DBA; the DSN's first host is down, the second is the
    primary (target_session_attrs=read-write): init migrates there, serve works, and
    status names the DSN's hosts rather than a port of its own."""
    name = "ext_" + secrets.token_hex(4)

    async def make_database() -> None:
        conn = await asyncpg.connect(**pg_server.superuser_dsn())
        try:
            await roles.ensure_database(conn, name, OWNER, APP)
        finally:
            await conn.close()

    async def drop_database() -> None:
        conn = await asyncpg.connect(**pg_server.superuser_dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(make_database())
    root = scratch_dir("strongroom-ext-")
    home = root / "node"
    dead = free_port()
    dsn = (
        f"postgresql://127.0.0.1:{dead},127.0.0.1:{pg_server.port}/{name}"
        "?target_session_attrs=read-write"
    )
    env = {
        **os.environ,
        "STRONGROOM_DATABASE_OWNER_PASSWORD": pg_server.owner_password,
        "STRONGROOM_DATABASE_APP_PASSWORD": pg_server.app_password,
        "STRONGROOM_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    port = free_port()
    try:
        subprocess.run(
            [STRONGROOM, "init", str(home), "--port", str(port), "--database-dsn", dsn],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        config = str(home / "conf" / "strongroom.toml")
        stopped = subprocess.run(
            [STRONGROOM, "status", "--config", config], capture_output=True, text=True, timeout=60
        )
        assert stopped.returncode == 3, stopped.stderr
        assert (
            f"external, hosts 127.0.0.1:{dead}, 127.0.0.1:{pg_server.port} "
            "(target_session_attrs=read-write)"
        ) in stopped.stdout
        run_cli("serve", "--config", config, "--detach")
        status, health = call(f"https://127.0.0.1:{port}/api/v1/health")
        assert status == 200 and health["role"] == "primary" and not health["read_only"]
        status, _ = call(
            f"https://127.0.0.1:{port}/api/v1/auth/login",
            "POST",
            {"username": "admin", "password": ADMIN_PASSWORD},
        )
        assert status == 200
    finally:
        subprocess.run(
            [STRONGROOM, "stop", "--config", str(home / "conf" / "strongroom.toml")],
            capture_output=True,
            timeout=60,
        )
        asyncio.run(drop_database())
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(
    ("dsn", "hosts", "database"),
    [
        (
            "postgresql://u:pw@db1:5432,db2:5433/strongroom?target_session_attrs=read-write",
            ["db1:5432", "db2:5433"],
            "strongroom",
        ),
        (
            "host=db1,db2,db3 port=5432 dbname=strongroom target_session_attrs=read-write",
            ["db1:5432", "db2:5432", "db3:5432"],
            "strongroom",
        ),
        ("postgresql:///sr?host=a,b&port=1,2", ["a:1", "b:2"], "sr"),
    ],
)
def test_a_dsn_names_its_hosts_and_database(dsn, hosts, database):
    """What status shows of a DSN: every host with its port, never the password."""
    from server.core.config import dsn_database, dsn_hosts

    found, options = dsn_hosts(dsn)
    assert found == hosts
    assert "password" not in options and "pw" not in str(options)
    assert dsn_database(dsn) == database
