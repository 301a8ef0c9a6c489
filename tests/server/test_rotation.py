"""Passwords changed on the systems they open (issue 29), against a real OpenSSH sshd and
the session's PostgreSQL cluster, started by the tests on loopback.

Each scenario ends in what a user checks: logging in to the target with the new password
works and with the old one fails, and the vault reveals the new one. The attacks: a target
presenting a different host key, a reconciliation account from another org, a reset by a
user with view permission only, a reveal during a pending change.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from server.services import rotation
from server.web.keys import ENV
from tests.server.conftest import Api, make_user
from tests.targets.mariadb import MariaDb
from tests.targets.sshd import SUDO, Sshd

pytestmark = pytest.mark.skipif(
    not Sshd.available(), reason="openssh-server is not installed (./setup/test.sh installs it)"
)

ORG = "MSPOrg"
P0 = "Start-Pass-0001x"
R0 = "Recon-Pass-0001x"


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    """One sshd for the module (its users are removed when it stops)."""
    with Sshd.started() as daemon:
        yield daemon


@pytest.fixture(scope="module")
def mariadb() -> Iterator[MariaDb]:
    """One MariaDB server for the module, in a temporary data directory."""
    if not MariaDb.available():
        pytest.skip("mariadb-server is not installed (./setup/test.sh installs it)")
    with MariaDb.started() as server:
        yield server


async def reveal(who: Api, account: str) -> str:
    status, shown = await who.call("POST", f"/orgs/{ORG}/accounts/{account}/reveal", {})
    assert status == 200, shown
    return shown["password"]


async def linux_resource(admin: Api, sshd: Sshd, name: str, accounts: dict[str, str]) -> dict:
    """A Linux resource with ``accounts`` (name -> password), its connection not pinned."""
    status, res = await admin.call(
        "POST", f"/orgs/{ORG}/resources", {"name": name, "type": "Linux"}
    )
    assert status == 201, res
    ids = {}
    for username, password in accounts.items():
        status, acct = await admin.call(
            "POST",
            f"/orgs/{ORG}/resources/{res['id']}/accounts",
            {"username": username, "password": password},
        )
        assert status == 201, acct
        ids[username] = acct["id"]
    status, conn = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resources/{res['id']}/connection",
        {"connector": "ssh", "host": sshd.host, "port": sshd.port},
    )
    assert (status, conn["host_key"]) == (200, ""), conn
    return {"id": res["id"], "accounts": ids}


async def pin(admin: Api, resource: str, sshd: Sshd, **extra) -> dict:
    """Scan the target's key, check it is the daemon's, and pin it (the confirmation)."""
    status, scan = await admin.call("POST", f"/orgs/{ORG}/resources/{resource}/connection/scan")
    assert status == 200, scan
    assert scan["presented"] == sshd.fingerprint
    status, conn = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resources/{resource}/connection",
        {"connector": "ssh", "host": sshd.host, "port": sshd.port, "host_key": scan["presented"]}
        | extra,
    )
    assert status == 200, conn
    return conn


async def audit(admin: Api, operation: str) -> list[dict]:
    status, page = await admin.call("GET", f"/orgs/{ORG}/audit?operation={operation}&limit=50")
    assert status == 200, page
    return page["items"]


async def test_reset_through_reconciliation_then_as_the_account(admin, sshd):
    """Pin the key the administrator confirmed, reset through root (chpasswd), then as the
    account itself (passwd); each time the new password logs in, the old one does not,
    the vault reveals the new one and the old one is in the history."""
    user = sshd.add_user(P0)
    root = sshd.add_user(R0, root=True)
    res = await linux_resource(admin, sshd, "web-1", {user: P0, root: R0})
    account = res["accounts"][user]
    # Nothing is sent before a key is pinned.
    status, problem = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {})
    assert (status, problem["code"]) == (502, "host_key_unknown"), problem
    assert await reveal(admin, account) == P0
    conn = await pin(admin, res["id"], sshd, reconciliation_account=res["accounts"][root])
    assert (conn["reconciliation_username"], conn["host_key_set_by"]) == (root, "admin@MSPOrg")

    status, done = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {})
    assert (status, done["outcome"]) == (200, "changed"), done
    assert done["rotation"]["last_change"]["state"] == "ok"
    n1 = await reveal(admin, account)
    assert n1 != P0 and len(n1) >= 12
    assert await sshd.can_login(user, n1)
    assert not await sshd.can_login(user, P0)

    # The account's view and the vault list carry the state.
    status, info = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["rotation"]["connector"] == "ssh"
    assert info["rotation"]["last_verification"]["state"] == "ok"
    status, resource = await admin.call("GET", f"/orgs/{ORG}/resources/{res['id']}")
    listed = {a["username"]: a["rotation"] for a in resource["accounts"]}
    assert listed[user]["last_change"]["state"] == "ok"
    assert listed[root]["last_change"]["state"] == "never"

    # As the account itself (passwd, its current password on stdin), with a given value.
    await pin(admin, res["id"], sshd)  # no reconciliation account
    given = "Given-Pass-2026x!"
    status, done = await admin.call(
        "POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {"password": given}
    )
    assert status == 200, done
    assert await reveal(admin, account) == given
    assert await sshd.can_login(user, given)
    assert not await sshd.can_login(user, n1)

    # The history holds both earlier values, newest first, revealed with an audit event.
    status, history = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}/password-history")
    assert [h["how"] for h in history["items"]] == ["reset", "reset"]
    shown = []
    for entry in history["items"]:
        status, old = await admin.call(
            "POST", f"/orgs/{ORG}/accounts/{account}/password-history/{entry['id']}/reveal"
        )
        assert status == 200, old
        shown.append(old["password"])
    assert shown == [n1, P0]
    assert len(await audit(admin, "password_history_revealed")) == 2

    # Verify now: ok; then someone changes it outside the vault: the verification fails,
    # says why, and the report lists it.
    status, ok = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/verify")
    assert (status, ok["ok"]) == (200, True), ok
    sshd.set_password(user, "Changed-Outside-1x")
    status, bad = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/verify")
    assert (status, bad["ok"], bad["reason"]) == (200, False, "login_failed"), bad
    assert bad["rotation"]["last_verification"]["state"] == "failed"
    status, report = await admin.call("GET", f"/orgs/{ORG}/rotation-report")
    assert [r["id"] for r in report["failed_verifications"]] == [account]

    # No password in any audit event of the story.
    everything = str(
        [await audit(admin, op) for op in ("password_rotation_started", "password_changed")]
        + [await audit(admin, "password_verified"), await audit(admin, "password_history_revealed")]
    )
    for secret in (P0, R0, n1, given):
        assert secret not in everything


async def test_changed_host_key_is_refused_and_audited(admin, sshd):
    """A target presenting another key gets nothing: no login, no change; the vault and
    the target keep the current password; the refusal is audited with both fingerprints."""
    user = sshd.add_user(P0)
    res = await linux_resource(admin, sshd, "web-2", {user: P0})
    account = res["accounts"][user]
    await pin(admin, res["id"], sshd)
    pinned = sshd.fingerprint
    other = sshd.replace_host_key()
    assert other != pinned
    status, problem = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {})
    assert (status, problem["code"]) == (502, "host_key_changed"), problem
    assert other in problem["detail"]
    assert await reveal(admin, account) == P0
    assert await sshd.can_login(user, P0)
    refused = await audit(admin, "target_host_key_refused")
    assert refused[0]["details"]["presented_fingerprint"] == other
    assert refused[0]["details"]["pinned_fingerprint"] == pinned
    status, info = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["rotation"]["last_change"]["state"] == "failed"
    assert info["rotation"]["last_change"]["reason"].startswith("host_key_changed")
    # The scan shows the new key as not matching; verification is refused too.
    status, scan = await admin.call("POST", f"/orgs/{ORG}/resources/{res['id']}/connection/scan")
    assert (scan["presented"], scan["matches"]) == (other, False)
    status, bad = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/verify")
    assert (bad["ok"], bad["reason"]) == (False, "host_key_changed")


async def test_view_only_user_cannot_rotate_and_foreign_reconciliation_refused(
    api, admin, sshd, owner_conn
):
    """A user with view permission cannot reset, see the history or change the connection
    (verify is allowed: it reveals nothing); an account of another org cannot be the
    reconciliation account — and one forged into the database is not used."""
    user = sshd.add_user(P0)
    root = sshd.add_user(R0, root=True)
    res = await linux_resource(admin, sshd, "web-3", {user: P0})
    account = res["accounts"][user]
    await pin(admin, res["id"], sshd)
    await make_user(admin, "rviewer", "password_user")
    viewer = await api.login("rviewer", "final-rviewer-pw22")
    status, _ = await admin.call(
        "POST",
        f"/orgs/{ORG}/resources/{res['id']}/shares",
        {"user": "rviewer", "permission": "view"},
    )
    assert status == 201
    status, problem = await viewer.call(
        "POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {"password": "Mine-Now-123x"}
    )
    assert status == 403, problem
    status, _ = await viewer.call("GET", f"/orgs/{ORG}/accounts/{account}/password-history")
    assert status == 403
    status, _ = await viewer.call(
        "PUT",
        f"/orgs/{ORG}/resources/{res['id']}/connection",
        {"connector": "ssh", "host": "127.0.0.1", "port": 1},
    )
    assert status == 403
    status, ok = await viewer.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/verify")
    assert (status, ok["ok"]) == (200, True)
    assert await sshd.can_login(user, P0) and not await sshd.can_login(user, "Mine-Now-123x")

    # Another org's account as reconciliation account: refused as any unknown account.
    status, _ = await admin.call(
        "POST",
        "/orgs",
        {"name": "RotCo", "display_name": "RotCo", "account_manager": "admin"},
    )
    assert status == 201
    status, foreign_res = await admin.call(
        "POST", "/orgs/RotCo/resources", {"name": "x", "type": "Linux"}
    )
    assert status == 201, foreign_res
    status, foreign = await admin.call(
        "POST",
        f"/orgs/RotCo/resources/{foreign_res['id']}/accounts",
        {"username": root, "password": R0},
    )
    assert status == 201, foreign
    status, problem = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resources/{res['id']}/connection",
        {
            "connector": "ssh",
            "host": sshd.host,
            "port": sshd.port,
            "reconciliation_account": foreign["id"],
        },
    )
    assert (status, problem["code"]) == (422, "reconciliation_account_invalid"), problem
    # Forged in the database: the rotation does not use it, and changes nothing.
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE resource_connections SET reconciliation_account_id = $2 WHERE resource_id = $1",
            uuid.UUID(res["id"]),
            uuid.UUID(foreign["id"]),
        )
    status, problem = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {})
    assert (status, problem["code"]) == (502, "target_no_reconciliation_account"), problem
    assert await reveal(admin, account) == P0
    assert await sshd.can_login(user, P0)


async def test_crash_during_a_change_is_resolved_and_reveal_never_shows_pending(
    admin, sshd, live_server, monkeypatch
):
    """The server dies after the target took the new password but before the vault made
    it current: reveal gives the current password, never the pending one; a second
    change is refused while one is pending; at start the pending change is resolved by
    checking which password logs in (the new one: it becomes current)."""
    user = sshd.add_user(P0)
    res = await linux_resource(admin, sshd, "web-4", {user: P0})
    account = res["accounts"][user]
    await pin(admin, res["id"], sshd)

    async def crash(*args, **kwargs):
        raise RuntimeError("the node died")

    monkeypatch.setattr(rotation, "_make_current", crash)
    status, _ = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {})
    assert status == 500
    monkeypatch.undo()
    assert not await sshd.can_login(user, P0)  # the target has the new one
    assert await reveal(admin, account) == P0  # the vault still says the old: not pending
    status, info = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["rotation"]["in_progress"] == "change" and info["rotation"]["pending_since"]
    status, problem = await admin.call("POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {})
    assert (status, problem["code"]) == (409, "rotation_in_progress")

    assert await rotation.recover(live_server.app[ENV]) == 1
    new = await reveal(admin, account)
    assert new != P0
    assert await sshd.can_login(user, new) and not await sshd.can_login(user, P0)
    resolved = await audit(admin, "password_rotation_resolved")
    assert resolved[0]["details"]["working"] == "new"
    status, info = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["rotation"]["in_progress"] is None


async def test_rotation_at_check_in_changes_the_target(admin, sshd, owner_conn):
    """Rotate at check-in needs a connection (422 without one, saying why); with one, the
    check-in changes the password on the target."""
    status, bare = await admin.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "no-conn", "type": "Linux"}
    )
    status, acct = await admin.call(
        "POST", f"/orgs/{ORG}/resources/{bare['id']}/accounts", {"username": "x", "password": P0}
    )
    control = {"enabled": True, "approvers": ["admin"], "rotate_on_checkin": True}
    status, problem = await admin.call(
        "PUT", f"/orgs/{ORG}/accounts/{acct['id']}/access-control", control
    )
    assert (status, problem["code"]) == (422, "rotation_needs_connection"), problem
    assert "connection" in problem["detail"]

    user = sshd.add_user(P0)
    res = await linux_resource(admin, sshd, "web-5", {user: P0})
    account = res["accounts"][user]
    await pin(admin, res["id"], sshd)
    status, answer = await admin.call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/access-control", control
    )
    assert status == 200, answer
    held = await _checked_out(owner_conn, account)
    status, back = await admin.call("POST", f"/orgs/{ORG}/password-requests/{held}/check-in")
    assert status == 200, back
    assert (back["rotated"], back["rotated_on_target"]) == (True, True)
    assert not await sshd.can_login(user, P0)
    # Attack: with the account under control and no check-out held, pointing the
    # connection at another host (to have the server send it the password) is refused.
    status, problem = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resources/{res['id']}/connection",
        {"connector": "ssh", "host": "127.0.0.2", "port": sshd.port, "host_key": sshd.fingerprint},
    )
    assert (status, problem["code"]) == (409, "checkout_required"), problem
    status, conn = await admin.call("GET", f"/orgs/{ORG}/resources/{res['id']}/connection")
    assert conn["host"] == sshd.host
    held = await _checked_out(owner_conn, account)
    new = await reveal(admin, account)
    assert new != P0 and await sshd.can_login(user, new)
    # Holding the check-out, the connection may change (here: kept the same).
    status, conn = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resources/{res['id']}/connection",
        {"connector": "ssh", "host": sshd.host, "port": sshd.port},
    )
    assert status == 200, conn


async def _checked_out(owner_conn: asyncpg.Connection, account: str, holder: str = "admin") -> str:
    """An open check-out of ``account`` held by ``holder`` (the approval flow is tested in
    test_password_requests.py; here only what the check-in does)."""
    now = datetime.datetime.now(datetime.UTC)
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        holder_id = await owner_conn.fetchval("SELECT id FROM users WHERE username = $1", holder)
        rid = await owner_conn.fetchval(
            "INSERT INTO password_requests (org_id, account_id, requester_id, requester_name, "
            "requester_org, reason, window_minutes, status, expires_at, decided_at, starts_at, "
            "ends_at) VALUES ($1, $2, $3, $6, 'MSPOrg', 'test', 10, 'approved', $4, $5, "
            "$5, $4) RETURNING id",
            org,
            uuid.UUID(account),
            holder_id,
            now + datetime.timedelta(minutes=10),
            now - datetime.timedelta(seconds=1),
            holder,
        )
        await owner_conn.execute(
            "INSERT INTO open_checkouts (request_id, org_id, ends_at) VALUES ($1, $2, $3)",
            rid,
            org,
            now + datetime.timedelta(minutes=10),
        )
    return str(rid)


async def test_postgresql_role_reset_as_itself_and_through_a_reconciliation_role(admin, pg_server):
    """A role of the test cluster: ALTER ROLE as the role, then through a CREATEROLE
    reconciliation role; the new password connects, the old does not."""
    suffix = uuid.uuid4().hex[:8]
    role, recon = f"rot_app_{suffix}", f"rot_rec_{suffix}"
    su = await asyncpg.connect(**pg_server.superuser_dsn())
    try:
        await su.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{P0}'")
        await su.execute(f"CREATE ROLE {recon} LOGIN CREATEROLE PASSWORD '{R0}'")

        async def can_connect(user: str, password: str) -> bool:
            try:
                conn = await asyncpg.connect(
                    host="127.0.0.1",
                    port=pg_server.port,
                    user=user,
                    password=password,
                    database="postgres",
                )
            except asyncpg.InvalidPasswordError:
                return False
            await conn.close()
            return True

        status, res = await admin.call(
            "POST", f"/orgs/{ORG}/resources", {"name": f"pg-{suffix}", "type": "PostgreSQL"}
        )
        ids = {}
        for name, password in ((role, P0), (recon, R0)):
            status, acct = await admin.call(
                "POST",
                f"/orgs/{ORG}/resources/{res['id']}/accounts",
                {"username": name, "password": password},
            )
            ids[name] = acct["id"]
        settings = {"connector": "postgresql", "host": "127.0.0.1", "port": pg_server.port}
        status, conn = await admin.call(
            "PUT", f"/orgs/{ORG}/resources/{res['id']}/connection", settings
        )
        assert status == 200, conn
        status, done = await admin.call(
            "POST", f"/orgs/{ORG}/accounts/{ids[role]}/rotation/reset", {}
        )
        assert status == 200, done
        first = await reveal(admin, ids[role])
        assert await can_connect(role, first) and not await can_connect(role, P0)

        status, conn = await admin.call(
            "PUT",
            f"/orgs/{ORG}/resources/{res['id']}/connection",
            settings | {"reconciliation_account": ids[recon]},
        )
        assert status == 200, conn
        status, done = await admin.call(
            "POST", f"/orgs/{ORG}/accounts/{ids[role]}/rotation/reset", {}
        )
        assert status == 200, done
        second = await reveal(admin, ids[role])
        assert await can_connect(role, second) and not await can_connect(role, first)
        # A refused change (the role cannot be altered by a role without CREATEROLE).
        await su.execute(f"ALTER ROLE {recon} NOCREATEROLE")
        status, problem = await admin.call(
            "POST", f"/orgs/{ORG}/accounts/{ids[role]}/rotation/reset", {}
        )
        assert (status, problem["code"]) == (502, "target_refused"), problem
        assert await reveal(admin, ids[role]) == second and await can_connect(role, second)
    finally:
        await su.execute(f"DROP ROLE IF EXISTS {role}")
        await su.execute(f"DROP ROLE IF EXISTS {recon}")
        await su.close()


async def test_mariadb_user_reset_as_itself_and_through_a_reconciliation_user(admin, mariadb):
    """A MariaDB user: its own SET PASSWORD, then ALTER USER through a user with CREATE
    USER; the new password connects, the old does not, the vault reveals the new one."""
    mariadb.add_user("app1", P0)
    mariadb.add_user("rec1", R0, reconciliation=True)
    status, res = await admin.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "maria-1", "type": "MySQL"}
    )
    assert status == 201, res
    ids = {}
    for name, password in (("app1", P0), ("rec1", R0)):
        status, acct = await admin.call(
            "POST",
            f"/orgs/{ORG}/resources/{res['id']}/accounts",
            {"username": name, "password": password},
        )
        ids[name] = acct["id"]
    settings = {"connector": "mysql", "host": mariadb.host, "port": mariadb.port}
    path = f"/orgs/{ORG}/resources/{res['id']}/connection"
    status, conn = await admin.call("PUT", path, settings)
    assert status == 200, conn
    status, done = await admin.call(
        "POST", f"/orgs/{ORG}/accounts/{ids['app1']}/rotation/reset", {}
    )
    assert status == 200, done
    first = await reveal(admin, ids["app1"])
    assert await mariadb.can_login("app1", first) and not await mariadb.can_login("app1", P0)
    status, conn = await admin.call("PUT", path, settings | {"reconciliation_account": ids["rec1"]})
    assert status == 200, conn
    status, done = await admin.call(
        "POST", f"/orgs/{ORG}/accounts/{ids['app1']}/rotation/reset", {}
    )
    assert status == 200, done
    second = await reveal(admin, ids["app1"])
    assert await mariadb.can_login("app1", second) and not await mariadb.can_login("app1", first)
    # A wrong port: unreachable, nothing changes.
    status, _ = await admin.call("PUT", path, settings | {"port": 9})
    status, problem = await admin.call(
        "POST", f"/orgs/{ORG}/accounts/{ids['app1']}/rotation/reset", {}
    )
    assert (status, problem["code"]) == (502, "target_unreachable"), problem
    assert await reveal(admin, ids["app1"]) == second


async def test_schedules_inherited_from_a_resource_group_run_on_the_primary(
    admin, sshd, owner_conn, live_server
):
    """A resource group's schedule reaches its accounts (field by field under their own);
    a password past its rotation age is changed by the schedule, a verification past its
    interval runs; the report lists passwords past their policy's maximum age."""
    user = sshd.add_user(P0)
    res = await linux_resource(admin, sshd, "web-6", {user: P0})
    account = res["accounts"][user]
    await pin(admin, res["id"], sshd)
    status, group = await admin.call(
        "POST", f"/orgs/{ORG}/resource-groups", {"name": "rotating", "resources": [res["id"]]}
    )
    assert status == 201, group
    status, sched = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resource-groups/rotating/rotation-schedule",
        {"rotate_every_days": 30, "verify_every_hours": 12},
    )
    assert status == 200, sched
    status, groups = await admin.call("GET", f"/orgs/{ORG}/resource-groups")
    shown = {g["name"]: g["rotation_schedule"] for g in groups["items"]}
    assert shown["rotating"] == {"rotate_every_days": 30, "verify_every_hours": 12}
    status, _ = await admin.call(
        "PUT", f"/orgs/{ORG}/accounts/{account}/rotation-schedule", {"verify_every_hours": 1}
    )
    assert status == 200
    status, info = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}")
    state = info["rotation"]
    assert (state["rotate_every_days"], state["verify_every_hours"]) == (30, 1)
    changed_at = datetime.datetime.fromisoformat(info["password_changed_at"])
    assert datetime.datetime.fromisoformat(state["next_rotation"]) == changed_at + (
        datetime.timedelta(days=30)
    )
    env = live_server.app[ENV]
    # Nothing is due yet.
    assert [j.account_id for _, j in await rotation.due(env, await _msp(owner_conn))] == []

    # Thirty-one days later (the clock moved by the test): the schedule rotates it.
    await _sql(
        owner_conn,
        "UPDATE accounts SET password_changed_at = now() - interval '31 days' WHERE id = $1",
        account,
    )
    await rotation.run_due(env)
    new = await reveal(admin, account)
    assert new != P0 and await sshd.can_login(user, new) and not await sshd.can_login(user, P0)
    status, history = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}/password-history")
    assert [h["how"] for h in history["items"]] == ["rotation"]
    assert history["items"][0]["replaced_by"] == "system@MSPOrg"

    # Two hours later: the verification is due, runs, and is recorded.
    await _sql(
        owner_conn,
        "UPDATE account_rotation SET last_verify_at = now() - interval '2 hours' "
        "WHERE account_id = $1",
        account,
    )
    before = len(await audit(admin, "password_verified"))
    await rotation.run_due(env)
    assert len(await audit(admin, "password_verified")) == before + 1

    # The report: a password past its policy's maximum age.
    status, _ = await admin.call(
        "POST",
        f"/orgs/{ORG}/password-policies",
        {"name": "Short-lived", "min_length": 12, "max_length": 30, "max_age_days": 7},
    )
    status, acct = await admin.call(
        "POST",
        f"/orgs/{ORG}/resources/{res['id']}/accounts",
        {"username": "stale", "password": "Stale-Pass-0001x", "policy": "Short-lived"},
    )
    assert status == 201, acct
    await _sql(
        owner_conn,
        "UPDATE accounts SET password_changed_at = now() - interval '9 days' WHERE id = $1",
        acct["id"],
    )
    status, report = await admin.call("GET", f"/orgs/{ORG}/rotation-report")
    assert [(r["account"], r["age_days"]) for r in report["over_age"]] == [("stale", 9)]


async def _msp(owner_conn: asyncpg.Connection) -> uuid.UUID:
    return await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")


async def _sql(owner_conn: asyncpg.Connection, statement: str, account: str) -> None:
    """Run ``statement`` ($1: the account's id) in MSPOrg's context, as the owner."""
    async with owner_conn.transaction():
        org = await _msp(owner_conn)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(statement, uuid.UUID(account))


@pytest.fixture(scope="module")
def slapd():
    """One OpenLDAP slapd for the module, with its own test CA (tests/targets/slapd.py)."""
    if not os.path.exists("/usr/sbin/slapd"):
        pytest.skip("slapd is not installed")
    from tests.targets.slapd import running_slapd

    with running_slapd() as directory:
        yield directory


async def test_ldap_entry_reset_as_itself_and_through_the_directory_manager(admin, slapd):
    """An inetOrgPerson of a real slapd: password modify (RFC 3062) bound as itself over
    LDAPS, then as the directory manager over StartTLS; the new password binds, the old
    does not, the vault reveals the new one. A CA that did not sign the server's
    certificate: refused, nothing sent, nothing changed."""
    from tests.targets.slapd import make_ca

    slapd.add_user("alice", P0)
    alice_dn = slapd.user_dn("alice")
    status, res = await admin.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "dir-1", "type": "Generic"}
    )
    assert status == 201, res
    status, _ = await admin.call(  # the directory manager's test password is all lower case
        "POST",
        f"/orgs/{ORG}/password-policies",
        {"name": "Directory manager", "min_length": 8, "max_length": 64},
    )
    ids = {}
    for name, password, policy in (
        ("alice", P0, "Strong"),
        (slapd.root_dn, slapd.root_password, "Directory manager"),
    ):
        status, acct = await admin.call(
            "POST",
            f"/orgs/{ORG}/resources/{res['id']}/accounts",
            {"username": name, "password": password, "policy": policy},
        )
        assert status == 201, acct
        ids[name] = acct["id"]
    options = {
        "tls": "ldaps",
        "ca_pem": slapd.ca_file.read_text(),
        "user_dn_template": f"uid={{}},{slapd.people_dn}",
    }
    path = f"/orgs/{ORG}/resources/{res['id']}/connection"
    ldaps = {"connector": "ldap", "host": "127.0.0.1", "port": slapd.ldaps_port}
    status, conn = await admin.call("PUT", path, ldaps | {"options": options})
    assert status == 200, conn
    reset = f"/orgs/{ORG}/accounts/{ids['alice']}/rotation/reset"
    status, done = await admin.call("POST", reset, {})
    assert status == 200, done
    first = await reveal(admin, ids["alice"])
    assert slapd.can_bind(alice_dn, first) and not slapd.can_bind(alice_dn, P0)

    # Through the directory manager, over StartTLS on the plain port.
    starttls = {"connector": "ldap", "host": "127.0.0.1", "port": slapd.ldap_port}
    status, conn = await admin.call(
        "PUT",
        path,
        starttls
        | {"options": options | {"tls": "starttls"}, "reconciliation_account": ids[slapd.root_dn]},
    )
    assert status == 200, conn
    status, done = await admin.call("POST", reset, {})
    assert status == 200, done
    second = await reveal(admin, ids["alice"])
    assert slapd.can_bind(alice_dn, second) and not slapd.can_bind(alice_dn, first)

    # A CA that did not sign the directory's certificate: refused before any bind.
    other = make_ca(slapd.root, "Some other CA")
    status, conn = await admin.call(
        "PUT", path, ldaps | {"options": options | {"ca_pem": other.cert_file.read_text()}}
    )
    assert status == 200, conn
    status, problem = await admin.call("POST", reset, {})
    assert (status, problem["code"]) == (502, "target_tls_failed"), problem
    assert await reveal(admin, ids["alice"]) == second and slapd.can_bind(alice_dn, second)


async def test_mysql_ca_is_pem_text_never_a_server_path(admin, tmp_path):
    """Attacker finding 2: a client admin named files on the vault host as the MySQL
    connection's CA (``ca_file``): learning which exist, trusting any PEM on the host, or
    hanging the server on a FIFO. Now no option names a server path: ``ca_file`` is
    refused, a path given as ``ca_pem`` is refused as not being PEM text (at once, the
    same answer whether the file exists or is a FIFO), and a real CA is recorded in the
    audit by its fingerprint with the other options changed."""
    from tests.targets.slapd import make_ca

    status, res = await admin.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "maria-ca", "type": "MySQL"}
    )
    assert status == 201, res
    path = f"/orgs/{ORG}/resources/{res['id']}/connection"
    settings = {"connector": "mysql", "host": "db.example", "port": 3306}
    status, problem = await admin.call(
        "PUT", path, settings | {"options": {"ca_file": "/etc/ssl/certs/ca-certificates.crt"}}
    )
    assert (status, problem["code"]) == (422, "unknown_option"), problem
    fifo = tmp_path / "hang"
    os.mkfifo(fifo)
    answers = set()
    for given in ("/etc/ssl/certs/ca-certificates.crt", "/nonexistent/x.pem", str(fifo)):
        status, problem = await admin.call("PUT", path, settings | {"options": {"ca_pem": given}})
        assert (status, problem["code"]) == (422, "option_invalid"), problem
        answers.add(problem["detail"])
    assert len(answers) == 1  # nothing tells whether the file exists
    status, stored = await admin.call("GET", path)
    assert (status, stored["configured"]) == (200, False)  # no connection was stored
    ca = make_ca(tmp_path, "MySQL test CA")
    options = {"tls": "prefer", "ca_pem": ca.cert_file.read_text(), "account_host": "%"}
    status, conn = await admin.call("PUT", path, settings | {"options": options})
    assert status == 200, conn
    status, conn = await admin.call(
        "PUT", path, settings | {"options": options | {"account_host": "10.0.0.%"}}
    )
    assert status == 200, conn
    first, second = reversed(
        [e for e in await audit(admin, "target_connection_changed") if e["target"] == "maria-ca"]
    )
    changed = first["details"]["options_changed"]
    assert changed["tls"] == "prefer" and changed["account_host"] == "%"
    assert len(changed["ca_pem"]["sha256"]) == 1 and "BEGIN" not in str(changed)
    assert second["details"]["options_changed"] == {"account_host": "10.0.0.%"}


async def test_reset_through_a_controlled_reconciliation_account_needs_its_checkout(
    admin, sshd, owner_conn
):
    """Attacker finding 6: the reconciliation account (root) is under access control; a
    user with full permission resets another account through it without a check-out of
    root: refused (409 ``checkout_required`` naming root), nothing sent, the password
    unchanged on the target and in the vault. Holding root's check-out, the same reset
    works."""
    user = sshd.add_user(P0)
    root = sshd.add_user(R0, root=True)
    res = await linux_resource(admin, sshd, "web-rec", {user: P0, root: R0})
    account, root_account = res["accounts"][user], res["accounts"][root]
    await pin(admin, res["id"], sshd, reconciliation_account=root_account)
    status, answer = await admin.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{root_account}/access-control",
        {"enabled": True, "approvers": ["admin"]},
    )
    assert status == 200, answer
    reset = f"/orgs/{ORG}/accounts/{account}/rotation/reset"
    status, problem = await admin.call("POST", reset, {})
    assert (status, problem["code"]) == (409, "checkout_required"), problem
    assert repr(root) in problem["detail"] and "reconciliation account" in problem["detail"]
    assert await reveal(admin, account) == P0 and await sshd.can_login(user, P0)
    assert await sshd.can_login(root, R0)
    status, info = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}")
    assert info["rotation"]["last_change"]["state"] == "never", info["rotation"]

    await _checked_out(owner_conn, root_account)
    status, done = await admin.call("POST", reset, {})
    assert (status, done["outcome"]) == (200, "changed"), done
    new = await reveal(admin, account)
    assert new != P0 and await sshd.can_login(user, new)


@pytest.mark.skipif(
    not os.path.exists(SUDO), reason="sudo is not installed (./setup/test.sh installs it)"
)
async def test_reset_through_a_sudoer_feeds_its_password_on_stdin_only(admin, sshd, monkeypatch):
    """Issue 29 item 1's other reconciliation account: an ordinary user that sudo lets run
    chpasswd (a password-required rule in /etc/sudoers.d). The reset goes through it with
    the connection's ``sudo`` option: the new password logs in, the old one does not, the
    vault reveals the new one; the sudoer's password and the new one are never on a
    command line nor in the audit. A wrong sudo password in the vault: refused in words,
    nothing changed, and the new password is not tried as a sudo password. A NOPASSWD rule
    works too, and a sudoer whose password holds ``name:value`` sets nobody's password."""
    import asyncssh

    user = sshd.add_user(P0)
    victim = sshd.add_user(P0)
    sudo_pw = f"{victim}:Sudoer-Pass-1x"  # chpasswd would read this line as name:password
    sudoer = sshd.add_user(sudo_pw)
    res = await linux_resource(admin, sshd, "web-sudo", {user: P0, sudoer: sudo_pw})
    account = res["accounts"][user]
    await pin(
        admin,
        res["id"],
        sshd,
        reconciliation_account=res["accounts"][sudoer],
        options={"sudo": True},
    )
    commands: list[str] = []
    real_run = asyncssh.SSHClientConnection.run

    async def spy(self, command=None, *args, **kwargs):
        commands.append(str(command))
        return await real_run(self, command, *args, **kwargs)

    monkeypatch.setattr(asyncssh.SSHClientConnection, "run", spy)
    reset = f"/orgs/{ORG}/accounts/{account}/rotation/reset"
    with sshd.sudo_rule(sudoer) as rule:
        status, done = await admin.call("POST", reset, {})
        assert (status, done.get("outcome")) == (200, "changed"), done
        new = await reveal(admin, account)
        assert new != P0
        assert await sshd.can_login(user, new) and not await sshd.can_login(user, P0)
        assert await sshd.can_login(victim, P0) and await sshd.can_login(sudoer, sudo_pw)

    assert not rule.exists()

    # sudo wants another password than the sudoer's (root's: rootpw): refused in words,
    # nothing changed.
    with sshd.sudo_rule(sudoer, rootpw=True):
        status, problem = await admin.call("POST", reset, {"password": "Never-Set-Pass-9x"})
        assert (status, problem["code"]) == (502, "target_refused"), problem
        assert "sudo" in problem["detail"], problem
        assert await reveal(admin, account) == new and await sshd.can_login(user, new)
        assert not await sshd.can_login(user, "Never-Set-Pass-9x")

    # A NOPASSWD rule: sudo asks nothing, and the sudoer's password (``victim:...``) is
    # not read by chpasswd as a line to apply.
    with sshd.sudo_rule(sudoer, nopasswd=True):
        status, done = await admin.call("POST", reset, {})
        assert (status, done.get("outcome")) == (200, "changed"), done
    newest = await reveal(admin, account)
    assert newest != new and await sshd.can_login(user, newest)
    assert await sshd.can_login(victim, P0) and not await sshd.can_login(victim, "Sudoer-Pass-1x")

    # Without any rule: refused, nothing changed.
    status, problem = await admin.call("POST", reset, {})
    assert (status, problem["code"]) == (502, "target_refused"), problem
    assert await reveal(admin, account) == newest and await sshd.can_login(user, newest)

    everything = str(
        [await audit(admin, op) for op in ("password_rotation_started", "password_changed")]
        + [await audit(admin, "password_rotation_failed"), await audit(admin, "password_verified")]
    )
    for secret in (sudo_pw, "Sudoer-Pass-1x", new, newest, "Never-Set-Pass-9x", P0):
        assert secret not in everything
        assert not any(secret in c for c in commands), commands
    assert commands and any("sudo" in c for c in commands)


async def test_check_in_rotates_through_a_controlled_reconciliation_account_as_the_system(
    api, admin, sshd, owner_conn, live_server
):
    """Issue 29 item 3's rule for a check-in whose change goes through a reconciliation
    account B (root) that is itself under access control: the check-in of A rotates A
    through B as the system (as the schedule does; audited by the system with the request
    and who checked in), and needs no check-out of B. The attacker holds a check-out of A
    and full permission on the resource: B's password, a session with B, a reset through
    B and a connection pointed elsewhere (where B's password would be sent) are each
    refused; after the check-in A's new password logs in, the old one does not,
    the vault reveals the new one (to admin), and B is untouched."""
    from server.services import brokered
    from server.services.context import Actor

    user = sshd.add_user(P0)
    root = sshd.add_user(R0, root=True)
    res = await linux_resource(admin, sshd, "web-ctl", {user: P0, root: R0})
    account, root_account = res["accounts"][user], res["accounts"][root]
    await pin(admin, res["id"], sshd, reconciliation_account=res["accounts"][root])
    for acct, control in (
        (account, {"enabled": True, "approvers": ["admin"], "rotate_on_checkin": True}),
        (root_account, {"enabled": True, "approvers": ["admin"]}),
    ):
        status, answer = await admin.call(
            "PUT", f"/orgs/{ORG}/accounts/{acct}/access-control", control
        )
        assert status == 200, answer
    await make_user(admin, "rholder", "password_user")
    holder = await api.login("rholder", "final-rholder-pw22")
    status, _ = await admin.call(
        "POST",
        f"/orgs/{ORG}/resources/{res['id']}/shares",
        {"user": "rholder", "permission": "full"},
    )
    assert status == 201
    held = await _checked_out(owner_conn, account, "rholder")
    assert await reveal(holder, account) == P0  # the check-out works

    # B's password: not revealed, not used by a reset of A through it.
    status, problem = await holder.call("POST", f"/orgs/{ORG}/accounts/{root_account}/reveal", {})
    assert (status, problem["code"]) == (403, "checkout_required"), problem
    assert "password" not in problem
    status, problem = await holder.call(
        "POST", f"/orgs/{ORG}/accounts/{account}/rotation/reset", {"password": "Mine-Now-12345x"}
    )
    assert (status, problem["code"]) == (409, "checkout_required"), problem
    assert await sshd.can_login(user, P0) and not await sshd.can_login(user, "Mine-Now-12345x")
    # Pointing the connection at a host of the holder's (to be sent B's password at the
    # check-in), or removing B from it: refused, the connection unchanged.
    for change in (
        {"connector": "ssh", "host": "127.0.0.2", "port": sshd.port, "host_key": sshd.fingerprint},
        {"connector": "ssh", "host": sshd.host, "port": sshd.port},
    ):
        status, problem = await holder.call(
            "PUT", f"/orgs/{ORG}/resources/{res['id']}/connection", change
        )
        assert (status, problem["code"]) == (409, "checkout_required"), problem
    status, conn = await admin.call("GET", f"/orgs/{ORG}/resources/{res['id']}/connection")
    assert (conn["host"], conn["reconciliation_username"]) == (sshd.host, root)
    # A session with B through the gateway (its service, as the gateway calls it).
    env = live_server.app[ENV]
    async with owner_conn.transaction():
        msp = await _msp(owner_conn)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(msp))
        row = await owner_conn.fetchrow("SELECT id, org_id FROM users WHERE username = 'rholder'")
    actor = Actor(row["id"], "rholder", row["org_id"], ORG, True, "password_user", "all", "::1")
    with pytest.raises(Exception) as refused:
        await brokered.open_session(env, actor, ORG, "web-ctl", root, "to look around")
    assert getattr(refused.value, "code", None) == "checkout_required", refused.value

    # Choosing whose password B changes (attacker pass, session 9): renaming A to another
    # user of the target, adding an account there, renaming B itself — each refused
    # without B's own check-out, and nothing renamed.
    for method, path, body in (
        ("PATCH", f"/orgs/{ORG}/accounts/{account}", {"username": "daemon"}),
        ("POST", f"/orgs/{ORG}/resources/{res['id']}/accounts", {"username": "daemon"}),
        ("PATCH", f"/orgs/{ORG}/accounts/{root_account}", {"username": "toor"}),
    ):
        status, problem = await holder.call(method, path, body)
        assert (status, problem["code"]) == (409, "checkout_required"), (path, problem)
    status, shown = await admin.call("GET", f"/orgs/{ORG}/resources/{res['id']}")
    assert sorted(a["username"] for a in shown["accounts"]) == sorted([user, root]), shown

    # The check-in rotates A on the target through B, as the system.
    status, back = await holder.call("POST", f"/orgs/{ORG}/password-requests/{held}/check-in")
    assert status == 200, back
    assert (back["rotated"], back["rotated_on_target"]) == (True, True), back
    assert "password" not in str(back).lower().replace("secret_fields_to_change", "")
    status, problem = await holder.call("POST", f"/orgs/{ORG}/accounts/{account}/reveal", {})
    assert (status, problem["code"]) == (403, "checkout_required"), problem
    await _checked_out(owner_conn, account)
    new = await reveal(admin, account)
    assert new != P0 and await sshd.can_login(user, new) and not await sshd.can_login(user, P0)
    assert await sshd.can_login(root, R0)
    changed = [e for e in await audit(admin, "password_changed") if e["target"].endswith(user)]
    assert changed[0]["actor"] == "system", changed[0]
    assert changed[0]["details"]["how"] == "checkin"
    assert changed[0]["details"]["checked_in_by"] == "rholder@MSPOrg"
    assert changed[0]["details"]["request_id"] == held
    status, history = await admin.call("GET", f"/orgs/{ORG}/accounts/{account}/password-history")
    assert (history["items"][0]["how"], history["items"][0]["replaced_by"]) == (
        "checkin",
        "system@MSPOrg",
    )
    assert R0 not in str(changed) and new not in str(changed)

    # An earlier password follows the reveal's rules of the org's reason and of "connect
    # only" (attacker pass, session 9).
    entry = history["items"][0]["id"]
    path = f"/orgs/{ORG}/accounts/{account}/password-history/{entry}/reveal"
    status, _ = await admin.call("PATCH", f"/orgs/{ORG}", {"require_reveal_reason": True})
    assert status == 200
    try:
        status, problem = await admin.call("POST", path, {})
        assert (status, problem["code"]) == (422, "reason_required"), problem
        assert P0 not in str(problem)
        status, shown = await admin.call("POST", path, {"reason": "incident 42"})
        assert status == 200 and shown["password"] == P0
        status, _ = await admin.call(
            "PATCH", f"/orgs/{ORG}/accounts/{account}", {"connect_only": True}
        )
        assert status == 200
        status, problem = await admin.call("POST", path, {"reason": "incident 42"})
        assert (status, problem["code"]) == (403, "connect_only"), problem
        assert P0 not in str(problem)
    finally:
        await admin.call("PATCH", f"/orgs/{ORG}", {"require_reveal_reason": False})


async def test_who_names_the_target_user_and_where_a_check_in_rotates(api, admin, owner_conn):
    """Attacker pass, session 9. (a) A user with full permission on one account of a
    resource whose passwords are changed through its reconciliation account cannot rename
    it to another user of the target, nor add one there, without full permission on the
    reconciliation account (403 reconciliation_use_required): the system would change that
    user's password and hand it over. (b) While a check-out whose check-in rotates the
    password is open, the resource's connection cannot be pointed elsewhere, even by its
    holder (409 checkout_open): the check-in would change the password on another host and
    leave the one the holder knew working on the target."""
    status, res = await admin.call(
        "POST", f"/orgs/{ORG}/resources", {"name": "named-target", "type": "Linux"}
    )
    assert status == 201, res
    ids = {}
    for name in ("app", "root"):
        status, made = await admin.call(
            "POST",
            f"/orgs/{ORG}/resources/{res['id']}/accounts",
            {"username": name, "password": f"Pw-{name}-Secret-123"},
        )
        assert status == 201, made
        ids[name] = made["id"]
    connection = {
        "connector": "ssh",
        "host": "127.0.0.1",
        "port": 2,
        "host_key": "SHA256:" + "A" * 43,
        "reconciliation_account": ids["root"],
    }
    status, made = await admin.call(
        "PUT", f"/orgs/{ORG}/resources/{res['id']}/connection", connection
    )
    assert status == 200, made
    await make_user(admin, "appowner", "password_user")
    appowner = await api.login("appowner", "final-appowner-pw22")
    status, _ = await admin.call(
        "POST",
        f"/orgs/{ORG}/accounts/{ids['app']}/shares",
        {"user": "appowner", "permission": "full"},
    )
    assert status == 201
    status, problem = await appowner.call(
        "PATCH", f"/orgs/{ORG}/accounts/{ids['app']}", {"username": "root2"}
    )
    assert (status, problem["code"]) == (403, "reconciliation_use_required"), problem
    status, shown = await admin.call("GET", f"/orgs/{ORG}/accounts/{ids['app']}")
    assert shown["username"] == "app"
    status, _ = await appowner.call(
        "PATCH", f"/orgs/{ORG}/accounts/{ids['app']}", {"notes": "still mine to edit"}
    )
    assert status == 200  # the rest of the account stays its owner's

    status, answer = await admin.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{ids['app']}/access-control",
        {"enabled": True, "approvers": ["admin"], "rotate_on_checkin": True},
    )
    assert status == 200, answer
    status, _ = await admin.call(  # now full on the whole resource, the connection included
        "POST",
        f"/orgs/{ORG}/resources/{res['id']}/shares",
        {"user": "appowner", "permission": "full"},
    )
    assert status == 201
    await _checked_out(owner_conn, ids["app"], "appowner")
    moved = {**connection, "host": "127.0.0.2"}
    for who in (appowner, admin):
        status, problem = await who.call(
            "PUT", f"/orgs/{ORG}/resources/{res['id']}/connection", moved
        )
        assert (status, problem["code"]) in ((409, "checkout_open"), (409, "checkout_required"))
    status, conn = await admin.call("GET", f"/orgs/{ORG}/resources/{res['id']}/connection")
    assert conn["host"] == "127.0.0.1"
    status, problem = await appowner.call(
        "PUT", f"/orgs/{ORG}/resources/{res['id']}/connection", moved
    )
    assert problem["code"] == "checkout_open", problem
