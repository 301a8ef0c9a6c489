"""init --database-dsn: a node on an external PostgreSQL named by a multi-host DSN.

The two-host tests build a cluster of their own (a primary and a streaming standby that
applies WAL 2 s late, as a lagging one does), and run a node on it as a DBA would
(issue 33, item 7): init in either host order, a planned switchover's moment when every
host is read-only, status, the database's PUBLIC privileges, and an app role that could
bypass row-level security.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from replication import roles
from replication.cluster import REPLICATION_ROLE, Cluster, Source
from server.core.config import load_config
from tests.conftest import APP, OWNER, SUPERUSER, free_port, scratch_dir
from tests.replication.harness import (
    ADMIN_PASSWORD,
    NEW_PASSWORD,
    STRONGROOM,
    call,
    eventually,
    make_account,
    run_cli,
)

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


@dataclass
class TwoHosts:
    """A primary (``first``) and its streaming standby (``second``) on loopback."""

    root: Path
    first: Cluster
    second: Cluster
    password: str

    def admin_dsn(self, order: tuple[Cluster, Cluster], database: str = "postgres") -> str:
        hosts = ",".join(f"127.0.0.1:{c.port}" for c in order)
        return (
            f"postgresql://{SUPERUSER}:{self.password}@{hosts}/{database}"
            "?target_session_attrs=read-write"
        )

    def dsn(self, order: tuple[Cluster, Cluster], database: str) -> str:
        hosts = ",".join(f"127.0.0.1:{c.port}" for c in order)
        return f"postgresql://{hosts}/{database}?target_session_attrs=read-write"

    def sql(self, cluster: Cluster, query: str, database: str = "postgres"):
        async def run():
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=cluster.port,
                user=SUPERUSER,
                password=self.password,
                database=database,
            )
            try:
                return await conn.fetch(query)
            finally:
                await conn.close()

        return asyncio.run(run())

    def all_read_only(self) -> None:
        """A planned switchover's middle: the primary restarts as a standby of nobody."""
        self.first.stop()
        self.first._write_owned(self.first.data_dir / "standby.signal", "")
        self.first.start()

    def primary_again(self) -> None:
        """The switchover ends: the former primary is promoted again (if it is a standby)."""
        if (self.first.data_dir / "standby.signal").exists():
            self.first.run_tool("pg_ctl", "promote", "-w", "-D", str(self.first.data_dir))


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[TwoHosts]:
    """A primary and a standby applying its WAL 2 s late (recovery_min_apply_delay)."""
    root = scratch_dir("strongroom-two-hosts-")
    password = secrets.token_urlsafe(18)
    fast = {"fsync": "off", "full_page_writes": "off", "max_connections": "100"}
    first = Cluster(root / "db1" / "data", free_port())
    second = Cluster(root / "db2" / "data", free_port())
    hosts = TwoHosts(root, first, second, password)
    try:
        first.initdb(SUPERUSER, password, extra_conf=fast)
        first.start()

        async def replication_role() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1",
                port=first.port,
                user=SUPERUSER,
                password=password,
                database="postgres",
            )
            try:
                await roles.ensure_replication_role(conn, REPLICATION_ROLE, password)
                await roles.ensure_slot(conn, "standby1")
            finally:
                await conn.close()

        asyncio.run(replication_role())
        source = Source("127.0.0.1", first.port, REPLICATION_ROLE, password)
        second.base_backup(source, "standby1")
        second.make_standby(source, "standby1", "standby1")
        second.write_settings(
            {
                **fast,
                "primary_conninfo": "'" + source.conninfo("standby1").replace("'", "''") + "'",
                "primary_slot_name": "'standby1'",
                "recovery_min_apply_delay": "'2s'",
            }
        )
        second.start()
        yield hosts
    finally:
        for cluster in (first, second):
            with contextlib.suppress(Exception):
                cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def _node_env() -> dict[str, str]:
    return {**os.environ, "STRONGROOM_ADMIN_PASSWORD": ADMIN_PASSWORD}


def _init(home: Path, port: int, dsn: str, admin_dsn: str = "", env=None):
    args = [STRONGROOM, "init", str(home), "--port", str(port), "--database-dsn", dsn]
    if admin_dsn:
        args += ["--database-admin-dsn", admin_dsn]
    return subprocess.run(
        [*args, "--msp-totp-policy", "none"],
        env=env or _node_env(),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_init_in_either_host_order_then_a_switchover_with_every_host_read_only(two_hosts):
    """init (its admin DSN makes the roles and database) with the standby listed first:
    the roles and database are made on the primary and the standby replays them 2 s late,
    and init waits for that (the DBA path's test lists the primary first); the database
    keeps no PUBLIC privilege; status describes the external cluster; while every host is
    read-only writes, reveals, logins and reads answer 503 at once with one log line each,
    serve keeps running (one started then waits) and writes again once a primary appears."""
    h = two_hosts
    name = "sr_standby_first"
    home = h.root / "nodes" / name
    standby_first = (h.second, h.first)
    made = _init(home, free_port(), h.dsn(standby_first, name), h.admin_dsn(standby_first))
    assert made.returncode == 0, made.stderr + made.stdout
    public = h.sql(
        h.first,
        "SELECT has_database_privilege('public', datname, 'CONNECT') AS c, "
        f"has_database_privilege('public', datname, 'TEMP') AS t FROM pg_database "
        f"WHERE datname = '{name}'",
    )
    assert [tuple(r) for r in public] == [(False, False)]

    config = str(home / "conf" / "strongroom.toml")
    port = load_config(Path(config)).server.port
    url = f"https://127.0.0.1:{port}/api/v1"
    run_cli("serve", "--config", config, "--detach")
    try:
        status, login = call(
            f"{url}/auth/login", "POST", {"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert status == 200, login
        status, _ = call(
            f"{url}/me/password",
            "POST",
            {"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD},
            token=login["token"],
        )
        assert status in (200, 204)
        status, login = call(
            f"{url}/auth/login", "POST", {"username": "admin", "password": NEW_PASSWORD}
        )
        token = login["token"]
        account = make_account(f"https://127.0.0.1:{port}", token, "ext", "Ext-S3cret-value!")
        shown = run_cli("status", "--config", config).stdout
        assert "failover is manual" not in shown and "strongroom promote" not in shown, shown
        assert "failover:   the external cluster's own" in shown, shown
        assert f"writable:   127.0.0.1:{h.first.port} (1 standby(s) streaming" in shown, shown

        h.all_read_only()
        log = home / "logs" / "strongroom.log"
        before = len(log.read_text().splitlines())
        answers = []
        for method, path, body in (
            ("POST", "/orgs/MSPOrg/resources", {"name": "during", "type": "server"}),
            ("POST", "/auth/login", {"username": "admin", "password": NEW_PASSWORD}),
            ("POST", f"/orgs/MSPOrg/accounts/{account}/reveal", {}),
            ("GET", "/orgs/MSPOrg/resources", None),
        ) * 3:
            started = time.monotonic()
            answers.append(
                (
                    *call(url + path, method, body, token=token, timeout=10),
                    time.monotonic() - started,
                )
            )
        for status, body, took in answers:
            assert status == 503 and body["code"] == "no_writable_database", (status, body)
            assert took < 3.0, took
        lines = log.read_text().splitlines()[before:]
        assert not any("Traceback" in line for line in lines), "\n".join(lines)
        assert len(lines) <= 2 * len(answers), "\n".join(lines)

        # A serve started meanwhile waits for a writable host instead of exiting.
        run_cli("stop", "--config", config)
        waiting = subprocess.Popen(
            [STRONGROOM, "serve", "--config", config],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        said = "no host of the external database takes writes yet"
        eventually(lambda: said in log.read_text() or waiting.poll() is not None, 60, "waiting")
        time.sleep(2)
        assert waiting.poll() is None, "serve exited while no host took writes"
        h.primary_again()

        def writes() -> bool:
            status, _ = call(
                f"{url}/orgs/MSPOrg/resources",
                "POST",
                {"name": f"after-{time.monotonic_ns()}", "type": "server"},
                token=token,
            )
            return status == 201

        eventually(writes, 60, "writing again after the switchover")
    finally:
        h.primary_again()  # the next test needs a primary, even after a failure here
        subprocess.run([STRONGROOM, "stop", "--config", config], capture_output=True, timeout=60)
        if waiting is not None:
            if waiting.poll() is None:
                waiting.kill()
            waiting.wait(30)


def test_the_dba_path_then_an_app_role_that_could_bypass_row_level_security(two_hosts):
    """Roles and database made by the DBA (CREATE DATABASE leaves CONNECT and TEMP to
    PUBLIC), the primary listed first: init revokes them. An app role given BYPASSRLS,
    then SUPERUSER, then the owner role's membership stops serve at start with a clear
    message; put right, it serves."""
    h = two_hosts
    name = "sr_dba"
    owner_pw, app_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    for role, pw in ((OWNER, owner_pw), (APP, app_pw)):
        h.sql(
            h.first,
            f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"'{role}') THEN CREATE ROLE {role} LOGIN; END IF; END$$",
        )
        h.sql(h.first, f"ALTER ROLE {role} PASSWORD '{pw}'")
    h.sql(h.first, f"CREATE DATABASE {name} OWNER {OWNER}")
    h.sql(h.first, f"GRANT pg_monitor TO {APP}")
    home = h.root / "nodes" / name
    env = {
        **_node_env(),
        "STRONGROOM_DATABASE_OWNER_PASSWORD": owner_pw,
        "STRONGROOM_DATABASE_APP_PASSWORD": app_pw,
    }
    made = _init(home, free_port(), h.dsn((h.first, h.second), name), env=env)
    assert made.returncode == 0, made.stderr + made.stdout
    public = h.sql(
        h.first,
        "SELECT has_database_privilege('public', datname, 'CONNECT') AS c, "
        f"has_database_privilege('public', datname, 'TEMP') AS t FROM pg_database "
        f"WHERE datname = '{name}'",
    )
    assert [tuple(r) for r in public] == [(False, False)]

    config = str(home / "conf" / "strongroom.toml")
    try:
        for grant, undo, said in (
            (f"ALTER ROLE {APP} BYPASSRLS", f"ALTER ROLE {APP} NOBYPASSRLS", "BYPASSRLS"),
            (f"ALTER ROLE {APP} SUPERUSER", f"ALTER ROLE {APP} NOSUPERUSER", "SUPERUSER"),
            (f"GRANT {OWNER} TO {APP}", f"REVOKE {OWNER} FROM {APP}", "owns"),
        ):
            h.sql(h.first, grant)
            try:
                refused = subprocess.run(
                    [STRONGROOM, "serve", "--config", config],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    stdin=subprocess.DEVNULL,
                )
            finally:
                h.sql(h.first, undo)
            assert refused.returncode != 0
            assert said in refused.stderr and "row-level security" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr, refused.stderr
        run_cli("serve", "--config", config, "--detach")
    finally:
        subprocess.run([STRONGROOM, "stop", "--config", config], capture_output=True, timeout=60)
