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


async def test_altered_event_is_named(admin, as_owner_in_msp):
    """Changing one field of event 3 makes verify name event 3."""
    await make_user(admin, "t1", "password_user")
    assert (await admin.call("GET", "/orgs/MSPOrg/audit/verify"))[1]["ok"] is True
    await as_owner_in_msp("UPDATE audit_events SET target = 'someone-else' WHERE seq = 3")
    status, result = await admin.call("GET", "/orgs/MSPOrg/audit/verify")
    assert status == 200
    assert result["ok"] is False
    assert result["first_bad_seq"] == 3


async def test_deleted_event_is_named(admin, as_owner_in_msp):
    """Removing event 2 (after repairing nothing) is reported at the first broken link."""
    await as_owner_in_msp("DELETE FROM audit_events WHERE seq = 2")
    _status, result = await admin.call("GET", "/orgs/MSPOrg/audit/verify")
    assert result["ok"] is False
    assert result["first_bad_seq"] == 2
