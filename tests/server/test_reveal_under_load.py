"""Reveals under concurrent load stop at once when the right to them goes (issue 28).

The reveal is one statement that decides the credential, the reach, the entitlement and
the check-out and records the event (sql/functions/reveal_account.sql): nothing about
them is cached. Each test runs CLIENTS reveal loops of one user against the real server
(the bench's load, on a small scale), makes a change while they run, and asserts that
every reveal sent after the change's answer came back (it has committed) is refused,
with the refusal's code and without the secret; and that every reveal answered 200 left
exactly one password_revealed event (none is unaudited, none recorded for a refusal).
The changes: a share revoked, a check-out ended (checked in), the user disabled, its
session logged out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from server.store import db
from tests.server.conftest import Api, make_user
from tests.server.test_password_requests import ORG as VAULT_ORG
from tests.server.test_password_requests import P0 as VAULT_P0
from tests.server.test_password_requests import _build as build_vault_world

CLIENTS = 12  # concurrent reveal loops
AFTER = 3 * CLIENTS  # reveals sent after the change, at least
SECRET = "Under-Load-Secret-7!"

Answer = tuple[float, int, dict[str, Any]]  # (sent at, status, body)


async def _reveal_loop(who: Api, path: str, stop: asyncio.Event, answers: list[Answer]) -> None:
    while not stop.is_set():
        sent = time.monotonic()
        status, body = await who.call("POST", path, {})
        answers.append((sent, status, body or {}))


async def under_load(
    who: Api, path: str, change: Callable[[], Awaitable[None]]
) -> tuple[list[Answer], list[Answer]]:
    """Run CLIENTS reveal loops of ``who`` on ``path``; once some reveals succeeded, make
    ``change`` (it returns when its answer came back, i.e. committed); keep the loops
    going until AFTER reveals were sent after it. Returns (answers sent before the
    change was answered, answers sent after)."""
    answers: list[Answer] = []
    stop = asyncio.Event()
    loops = [asyncio.create_task(_reveal_loop(who, path, stop, answers)) for _ in range(CLIENTS)]
    try:
        deadline = time.monotonic() + 60
        while sum(1 for a in answers if a[1] == 200) < CLIENTS:
            assert time.monotonic() < deadline, [a[1:] for a in answers[:5]]
            await asyncio.sleep(0.01)
        await change()
        committed = time.monotonic()
        while sum(1 for a in answers if a[0] > committed) < AFTER:
            assert time.monotonic() < deadline + 60
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    before = [a for a in answers if a[0] <= committed]
    after = [a for a in answers if a[0] > committed]
    return before, after


def assert_refused(after: list[Answer], status: int, code: str, secret: str) -> None:
    """Every reveal sent after the change: the refusal, never the secret."""
    assert len(after) >= AFTER
    assert {(s, body.get("code")) for _, s, body in after} == {(status, code)}
    assert all(secret not in str(body) for _, _, body in after)


async def audited_reveals(owner_conn: asyncpg.Connection, org: str, actor: str) -> int:
    """password_revealed events recorded for ``actor`` in ``org``."""
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", org)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        count: int = await owner_conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE operation = 'password_revealed' "
            "AND actor = $1",
            actor,
        )
    return count


def successes(*groups: list[Answer]) -> int:
    """How many reveals answered 200."""
    return sum(1 for group in groups for _, status, _ in group if status == 200)


async def shared_account(api: Api, admin: Api, username: str) -> tuple[Api, str, str, str]:
    """An MSPOrg password user ``username`` logged in, an account in a resource of its
    own shared to it with view; returns (user, resource id, account id, share id)."""
    password = await make_user(admin, username, "password_user")
    user = await api.login(username, password)
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": f"{username}-box", "type": "Linux"}
    )
    assert status == 201, res
    status, acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "root", "password": SECRET},
    )
    assert status == 201, acct
    status, share = await admin.call(
        "POST",
        f"/orgs/MSPOrg/accounts/{acct['id']}/shares",
        {"user": username, "permission": "view"},
    )
    assert status == 201, share
    return user, res["id"], acct["id"], share["id"]


async def test_a_revoked_share_reveals_nothing_after_it_commits(api, admin, owner_conn):
    """Attack: keep revealing while the share is revoked, hoping a cached entitlement lets
    one more through. Every reveal sent after the revocation: 404, no secret."""
    user, _, account, share = await shared_account(api, admin, "sharer")
    path = f"/orgs/MSPOrg/accounts/{account}/reveal"

    async def revoke() -> None:
        status, body = await admin.call("DELETE", f"/orgs/MSPOrg/accounts/{account}/shares/{share}")
        assert status == 204, body

    before, after = await under_load(user, path, revoke)
    assert all(body["password"] == SECRET for _, s, body in before if s == 200)
    assert_refused(after, 404, "not_found", SECRET)
    assert await audited_reveals(owner_conn, "MSPOrg", "sharer") == successes(before, after)


async def test_a_disabled_user_reveals_nothing_after_it_commits(api, admin, owner_conn):
    """Attack: a user about to be disabled keeps revealing on its open session. Every
    reveal sent after the disable: 401, no secret."""
    user, _, account, _ = await shared_account(api, admin, "leaving")
    path = f"/orgs/MSPOrg/accounts/{account}/reveal"

    async def disable() -> None:
        status, body = await admin.call(
            "PATCH", "/orgs/MSPOrg/users/leaving", {"status": "disabled"}
        )
        assert (status, body["status"]) == (200, "disabled"), body

    before, after = await under_load(user, path, disable)
    assert_refused(after, 401, "unauthenticated", SECRET)
    assert await audited_reveals(owner_conn, "MSPOrg", "leaving") == successes(before, after)


async def test_a_logged_out_session_reveals_nothing_after_it_commits(api, admin, owner_conn):
    """Attack: a stolen session keeps revealing while its owner logs out. Every reveal
    sent after the logout: 401, no secret."""
    user, _, account, _ = await shared_account(api, admin, "quitter")
    path = f"/orgs/MSPOrg/accounts/{account}/reveal"

    async def logout() -> None:
        status, body = await user.call("POST", "/auth/logout")
        assert status == 204, body

    before, after = await under_load(user, path, logout)
    assert_refused(after, 401, "unauthenticated", SECRET)
    assert await audited_reveals(owner_conn, "MSPOrg", "quitter") == successes(before, after)


async def test_an_ended_check_out_reveals_nothing_after_it_commits(api, admin, owner_conn):
    """Attack: the holder of a check-out keeps revealing while it checks in (or its window
    is ended). Every reveal sent after the check-in: 403 checkout_required, and neither
    the old password nor the rotated one."""
    world = await build_vault_world(api, admin)
    req, appr = api.as_(world["tokens"]["req"]), api.as_(world["tokens"]["appr"])
    account = world["account"]
    status, mine = await req.call(
        "POST",
        f"/orgs/{VAULT_ORG}/password-requests",
        {"account": account, "reason": "load test", "window_minutes": 10},
    )
    assert status == 201, mine
    status, done = await appr.call(
        "POST", f"/orgs/{VAULT_ORG}/password-requests/{mine['id']}/approve", {}
    )
    assert (status, done["status"]) == (200, "approved"), done
    path = f"/orgs/{VAULT_ORG}/accounts/{account}/reveal"

    async def check_in() -> None:
        status, back = await req.call(
            "POST", f"/orgs/{VAULT_ORG}/password-requests/{mine['id']}/check-in"
        )
        assert (status, back["status"]) == (200, "checked_in"), back

    before, after = await under_load(req, path, check_in)
    assert all(body["password"] == VAULT_P0 for _, s, body in before if s == 200)
    assert_refused(after, 403, "checkout_required", VAULT_P0)
    assert all("password" not in body for _, _, body in after)
    assert await audited_reveals(owner_conn, VAULT_ORG, "req") == successes(before, after)


async def test_a_batched_statement_names_itself_prompt_in_one_round_trip(config):
    """The reveal's and the token check's statements (db.call_all, prompt) are their own
    transaction and carry the prompt name the replication monitor releases from a standby
    wait (issue 33) until they end, also when they answer no row; the pool's connections
    keep their own name afterwards (issue 28: one round trip, no BEGIN/COMMIT)."""
    pool = await db.create_pool(config)
    try:
        rows = await db.call_all(
            pool,
            "SELECT current_setting('application_name') AS name",
            prompt=True,
        )
        assert [tuple(r) for r in rows] == [(db.PROMPT_APPLICATION,)]
        assert await db.call_all(pool, "SELECT 1 WHERE false", prompt=True) == []
        names = {await pool.fetchval("SHOW application_name") for _ in range(3)}
        assert db.PROMPT_APPLICATION not in names
    finally:
        await pool.close()
