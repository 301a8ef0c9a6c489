"""Session lifetimes and API keys."""

from __future__ import annotations

import datetime
import hashlib
import uuid

import pytest

from tests.server.conftest import make_user


@pytest.fixture
async def expire(owner_conn):
    """Rewrite a session's clock as if time had passed (the owner role, in MSPOrg's context)."""

    async def run(token: str, column: str, hours_ago: float) -> None:
        digest = hashlib.sha256(token.encode()).digest()
        async with owner_conn.transaction():
            org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
            await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            result = await owner_conn.execute(
                f"UPDATE sessions SET {column} = now() - make_interval(secs => $2) "
                "WHERE token_hash = $1",
                digest,
                hours_ago * 3600,
            )
            assert result == "UPDATE 1"

    return run


async def test_idle_session_expires(api, admin, expire):
    """A session unused for longer than the idle timeout is refused and removed."""
    password = await make_user(admin, "idler", "password_user")
    idler = await api.login("idler", password)
    await expire(idler.token, "last_seen_at", 1.0)  # default idle timeout: 30 minutes
    status, problem = await idler.call("GET", "/me")
    assert status == 401
    assert "expired" in problem["detail"]


async def test_absolute_lifetime_ends_session(api, admin, expire):
    """Even an active session ends at its absolute expiry."""
    password = await make_user(admin, "marathon", "password_user")
    runner = await api.login("marathon", password)
    await expire(runner.token, "expires_at", 0.01)
    assert (await runner.call("GET", "/me"))[0] == 401


async def test_api_key_lifecycle(api, admin):
    """An API key is shown once, works as a bearer token, is listed without the key, and
    stops working when deleted."""
    status, created = await admin.call("POST", "/me/api-keys", {"name": "backup script"})
    assert status == 201
    key = created["key"]
    assert key.startswith("srk_")
    robot = api.as_(key)
    status, me = await robot.call("GET", "/me")
    assert (status, me["username"]) == (200, "admin")
    status, listing = await admin.call("GET", "/me/api-keys")
    assert status == 200
    entry = next(k for k in listing["items"] if k["id"] == created["id"])
    assert "key" not in entry
    assert key[-6:] == entry["ends_with"]
    assert key not in str(listing)
    assert (await admin.call("DELETE", f"/me/api-keys/{created['id']}"))[0] == 204
    assert (await robot.call("GET", "/me"))[0] == 401
    status, problem = await admin.call("DELETE", f"/me/api-keys/{created['id']}")
    assert (status, problem["code"]) == (404, "not_found")


async def test_tokens_are_stored_hashed(admin, owner_conn):
    """The database never holds a usable token: only its SHA-256."""
    _status, created = await admin.call("POST", "/me/api-keys", {"name": "hash check"})
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        dump = str(await owner_conn.fetch("SELECT * FROM sessions")) + str(
            await owner_conn.fetch("SELECT * FROM api_keys")
        )
    assert admin.token not in dump
    assert created["key"] not in dump


async def test_api_key_cannot_mint_keys(api, admin):
    """A key made from a session cannot make more keys (issue 13, item 8)."""
    _, created = await admin.call("POST", "/me/api-keys", {"name": "robot"})
    robot = api.as_(created["key"])
    status, problem = await robot.call("POST", "/me/api-keys", {"name": "offspring"})
    assert (status, problem["code"]) == (403, "session_required")
    _, listing = await admin.call("GET", "/me/api-keys")
    assert "offspring" not in [k["name"] for k in listing["items"]]


async def test_api_keys_expire(api, admin, owner_conn):
    """Keys expire after 90 days by default, at most after a year, as chosen at creation;
    the list shows the expiry; an expired key is refused (issue 13, item 8)."""
    status, default = await admin.call("POST", "/me/api-keys", {"name": "default life"})
    assert status == 201
    created = datetime.datetime.fromisoformat(default["created_at"])
    expires = datetime.datetime.fromisoformat(default["expires_at"])
    assert abs((expires - created) - datetime.timedelta(days=90)) < datetime.timedelta(minutes=1)
    status, short = await admin.call(
        "POST", "/me/api-keys", {"name": "one week", "expires_in_days": 7}
    )
    assert status == 201
    for days in (0, 366, -1, "30", True):
        body = {"name": "bad", "expires_in_days": days}
        status, problem = await admin.call("POST", "/me/api-keys", body)
        assert (status, problem["code"]) == (422, "validation_failed"), days
    _, listing = await admin.call("GET", "/me/api-keys")
    entry = next(k for k in listing["items"] if k["id"] == short["id"])
    assert (entry["expires_at"], entry["expired"]) == (short["expires_at"], False)

    robot = api.as_(short["key"])
    assert (await robot.call("GET", "/me"))[0] == 200
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await owner_conn.execute(
            "UPDATE api_keys SET created_at = created_at - interval '8 days', "
            "expires_at = expires_at - interval '8 days' WHERE id = $1",
            uuid.UUID(short["id"]),
        )
    status, problem = await robot.call("GET", "/me")
    assert (status, problem["code"]) == (401, "unauthenticated")
    assert "API key has expired" in problem["detail"]
    _, listing = await admin.call("GET", "/me/api-keys")
    assert next(k for k in listing["items"] if k["id"] == short["id"])["expired"] is True
