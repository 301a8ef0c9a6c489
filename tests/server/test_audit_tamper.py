"""Tampering with the audit trail is detected (own module: it breaks the chain on purpose)."""

from __future__ import annotations

import pytest

from tests.server.conftest import make_user


@pytest.fixture
async def as_owner_in_msp(owner_conn):
    """Run a statement as the table owner inside MSPOrg's RLS context."""

    async def run(statement: str, *args):
        async with owner_conn.transaction():
            org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
            await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            return await owner_conn.execute(statement, *args)

    return run


async def verify(admin) -> dict:
    """GET …/audit/verify for MSPOrg."""
    status, result = await admin.call("GET", "/orgs/MSPOrg/audit/verify")
    assert status == 200
    return result


async def test_altered_event_is_named(admin, as_owner_in_msp):
    """Changing one field of the event at link 3 makes verify name link 3."""
    await make_user(admin, "t1", "password_user")
    assert (await verify(admin))["ok"] is True
    await as_owner_in_msp(
        "UPDATE audit_events SET target = 'someone-else' "
        "WHERE id = (SELECT event_id FROM audit_links WHERE seq = 3)"
    )
    result = await verify(admin)
    assert (result["ok"], result["first_bad_seq"]) == (False, 3)
    assert "altered" in result["problem"]


async def test_removed_link_is_named(admin, as_owner_in_msp):
    """Deleting link 2 is reported as the first broken link."""
    await as_owner_in_msp("DELETE FROM audit_links WHERE seq = 2")
    result = await verify(admin)
    assert (result["ok"], result["first_bad_seq"]) == (False, 2)


async def test_unchained_event_is_reported(admin, as_owner_in_msp):
    """An event slipped in outside the chain (and the queue) is reported."""
    await verify(admin)  # chain what is waiting first (the fixture's login)
    # One transaction, so that the chainer cannot link anything between the statements.
    await as_owner_in_msp(
        "DELETE FROM audit_links; "
        "UPDATE audit_heads SET seq = 0, hash = decode(repeat('00', 32), 'hex'); "
        "INSERT INTO audit_events (org_id, at, actor, actor_org, operation, outcome) "
        "SELECT id, now(), 'forger', 'MSPOrg', 'login', 'success' FROM orgs WHERE is_msp"
    )
    result = await verify(admin)
    assert result["ok"] is False
    assert "in no chain" in result["problem"]
