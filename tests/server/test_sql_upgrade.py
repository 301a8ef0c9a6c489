"""An install made before sql/functions/ existed (issue 25, item 6) upgrades: its database,
made by the numbered migrations alone and holding data, goes through the new migrate (what
every start and `strongroom migrate` run); its data is intact and its functions work
through the real app."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from server.core.config import render_config
from server.ops import cli
from server.store import migrations
from tests.conftest import APP, OWNER, config_for, drop_database, make_database
from tests.server.conftest import ADMIN, ADMIN_PASSWORD, Api, make_user
from tests.server.test_migrations import definitions

SECRET = "Upgrade-Survives-42-Intact!"


@pytest.fixture(scope="module")
def database(pg_server, tmp_path_factory) -> Iterator[str]:
    """This module's database as an install made before this change: migrations 001-022
    applied, sql/functions/ never run."""
    old = tmp_path_factory.mktemp("numbered_only")
    for m in migrations.discover():
        shutil.copy(m.path, old / m.path.name)
    name = f"t_{uuid.uuid4().hex[:12]}"
    make_database(pg_server, name, sql_dir=old)

    async def remember_then_bring_current() -> None:
        # The app of today needs today's functions to make the data; the old functions
        # are remembered here (as PostgreSQL states them) and put back before the upgrade.
        conn = await _owner(pg_server, name)
        try:
            OLD_FUNCTIONS.update(
                {r["signature"]: r["def"] for r in await conn.fetch(_FUNCTION_TEXTS)}
            )
            await migrations.apply_functions(conn, APP)
        finally:
            await conn.close()

    asyncio.run(remember_then_bring_current())
    yield name
    drop_database(pg_server, name)


OLD_FUNCTIONS: dict[str, str] = {}  # signature -> CREATE OR REPLACE text, before the change
_FUNCTION_TEXTS = """
SELECT p.oid::regprocedure::text AS signature, pg_get_functiondef(p.oid) AS def
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public'
"""


async def _back_to_the_old_functions(conn: asyncpg.Connection) -> None:
    """Make the database's functions what migrations 001-022 alone made them: the
    definitions remembered before, and none of the functions added since."""
    async with conn.transaction():
        for r in await conn.fetch(_FUNCTION_TEXTS):
            if r["signature"] not in OLD_FUNCTIONS:
                await conn.execute(f"DROP FUNCTION {r['signature']}")
        for text in OLD_FUNCTIONS.values():
            await conn.execute(text)


async def _owner(pg_server, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        user=OWNER,
        password=pg_server.owner_password,
        database=database,
    )


async def _rows(conn: asyncpg.Connection) -> dict[str, list]:
    """Every org, user and account row (secrets as stored), read org by org."""
    found: dict[str, list] = {"orgs": [], "users": [], "accounts": [], "api_keys": []}
    found["orgs"] = [tuple(r) for r in await conn.fetch("SELECT * FROM orgs ORDER BY id")]
    for org_id, *_rest in found["orgs"]:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            for table in ("users", "accounts", "api_keys"):
                found[table] += [
                    tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY id")
                ]
    return found


async def test_an_install_made_before_upgrades_with_its_data(
    api, admin, pg_server, database, install_files, tmp_path, capsys
):
    """Data made through the real app on the old schema survives `strongroom migrate`
    unchanged; afterwards a user logs in with its password, an API key authenticates, and
    reveals give back the stored password, each audited once."""
    # Data made by the app on the old install: a user, an account with a password, a
    # share, an API key, a reveal.
    alice_password = await make_user(admin, "alice", "password_user")
    status, resource = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "Core switch", "type": "Linux"}
    )
    assert status == 201, resource
    status, account = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{resource['id']}/accounts",
        {"username": "root", "password": SECRET, "notes": "kept"},
    )
    assert status == 201, account
    status, body = await admin.call(
        "POST",
        f"/orgs/MSPOrg/accounts/{account['id']}/shares",
        {"user": "alice", "permission": "view"},
    )
    assert status == 201, body
    status, key = await admin.call("POST", "/me/api-keys", {"name": "upgrade"})
    assert status == 201, key
    reveal = f"/orgs/MSPOrg/accounts/{account['id']}/reveal"
    assert (await admin.call("POST", reveal, {}))[1]["password"] == SECRET

    conn = await _owner(pg_server, database)
    try:
        current_functions = await definitions(conn)
        await _back_to_the_old_functions(conn)
        before_rows = await _rows(conn)
        assert await migrations.applied_versions(conn) == [m.version for m in migrations.discover()]
        assert await definitions(conn) != current_functions  # the old install's functions
    finally:
        await conn.close()

    # The upgrade: `strongroom migrate` (serve runs the same migrate_database first).
    config = config_for(pg_server, install_files, database)
    for field in ("master_key",):
        setattr(config.security, field, str(install_files / "conf" / "master.key"))
    config.server.tls_cert = str(install_files / "conf" / "tls.crt")
    config.server.tls_key = str(install_files / "conf" / "tls.key")
    (tmp_path / "conf").mkdir()
    conf = tmp_path / "conf" / "strongroom.toml"
    conf.write_text(render_config(config))
    assert await asyncio.to_thread(cli.main, ["migrate", "--config", str(conf)]) == 0
    assert "schema is up to date" in capsys.readouterr().out  # no numbered one pending
    assert await migrations.migrate_database(config) == []

    conn = await _owner(pg_server, database)
    try:
        assert await _rows(conn) == before_rows
        assert await definitions(conn) == current_functions
    finally:
        await conn.close()

    # The functions work through the real app: login (authenticate_token on every call),
    # an API key, reveals (reveal_account / reveal_accounts) with their audit events.
    alice = await api.login("alice", alice_password)
    status, shown = await alice.call("POST", reveal, {})
    assert (status, shown["password"], shown["notes"]) == (200, SECRET, "kept")
    by_key = Api(api.session, key["key"])
    assert (await by_key.call("GET", "/me"))[1]["username"] == ADMIN
    again = await api.login(ADMIN, ADMIN_PASSWORD)
    answers = await asyncio.gather(*(again.call("POST", reveal, {}) for _ in range(3)))
    assert [(s, b["password"]) for s, b in answers] == [(200, SECRET)] * 3
    status, trail = await again.call(
        "GET", "/orgs/MSPOrg/audit?operation=password_revealed&limit=100"
    )
    assert status == 200, trail
    actors = sorted(e["actor"] for e in trail["items"])
    assert actors == sorted([ADMIN] * 4 + ["alice"])
