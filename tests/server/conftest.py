"""Fixtures for API tests: MSPOrg bootstrapped, an API helper, logged-in administrators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from server.services.orgs import bootstrap_msp
from server.services.runtime import hasher_for
from server.store import db
from server.store.keyring import KeyRing
from tests.conftest import OWNER, config_for

ADMIN = "admin"
ADMIN_PASSWORD = "first-Password-123"


class Api:
    """A thin JSON client for the real HTTPS server; remembers one bearer token."""

    def __init__(self, session: aiohttp.ClientSession, token: str | None = None) -> None:
        self.session = session
        self.token = token

    def as_(self, token: str | None) -> Api:
        """The same connection speaking with another token."""
        return Api(self.session, token)

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        headers: dict | None = None,
        raw: bool = False,
    ) -> tuple[int, Any]:
        """Send a request to /api/v1+path (or path itself with raw); return (status, JSON)."""
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        url = path if raw else "/api/v1" + path
        async with self.session.request(method, url, json=body, data=data, headers=hdrs) as r:
            text = await r.text()
            self.last_headers = r.headers
            return r.status, (await r.json(content_type=None)) if text else None

    async def login(
        self, username: str, password: str, org: str | None = None, otp: str | None = None
    ) -> Api:
        """Log in; return an Api carrying the new session token (asserts success)."""
        body = {"username": username, "password": password}
        if org:
            body["org"] = org
        if otp:
            body["otp"] = otp
        status, answer = await self.as_(None).call("POST", "/auth/login", body)
        assert status == 200, answer
        return self.as_(answer["token"])


@pytest.fixture(scope="module")
def msp(pg_server, install_files, database) -> str:
    """MSPOrg with privileged administrator 'admin' (password already changed)."""
    config = config_for(pg_server, install_files, database)

    async def run() -> None:
        ring = KeyRing.from_file(config.path(config.security.master_key))
        pool = await db.create_pool(config)
        try:
            await bootstrap_msp(pool, ring, hasher_for(config), ADMIN, ADMIN_PASSWORD)
        finally:
            await pool.close()
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=pg_server.port,
            user=OWNER,
            password=pg_server.owner_password,
            database=database,
        )
        try:
            async with conn.transaction():
                org_id = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
                await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
                await conn.execute("UPDATE users SET must_change_password = false")
        finally:
            await conn.close()

    asyncio.run(run())
    return "MSPOrg"


@pytest.fixture
async def api(http, msp) -> Api:
    """An unauthenticated API client (MSPOrg exists)."""
    return Api(http)


@pytest.fixture
async def admin(api) -> AsyncIterator[Api]:
    """The privileged administrator, logged in."""
    yield await api.login(ADMIN, ADMIN_PASSWORD)


async def make_user(
    admin: Api, username: str, role: str, org: str = "MSPOrg", password: str | None = None, **extra
) -> str:
    """Create a user through the API, then log it in once to set its own password.

    Returns the user's (final) password.
    """
    initial = f"initial-{username}-pw1"
    status, body = await admin.call(
        "POST",
        f"/orgs/{org}/users",
        {"username": username, "role": role, "password": initial, **extra},
    )
    assert status == 201, body
    final = password or f"final-{username}-pw22"
    user = await admin.login(username, initial, org=org)
    status, body = await user.call(
        "POST", "/me/password", {"current_password": initial, "new_password": final}
    )
    assert status == 204, body
    return final


async def confirm_by_request(
    proposer: Api, approver: Api, approver_password: str, org: str, username: str
) -> None:
    """Confirm an MSP-created client user of an org without a confirmed administrator:
    a user_confirmation request filed by ``proposer`` and approved by ``approver``."""
    me = (await approver.call("GET", "/me"))[1]["username"]
    status, req = await proposer.call(
        "POST",
        "/org-access-requests",
        {"kind": "user_confirmation", "org": org, "user": username, "approver": me},
    )
    assert status == 201, req
    status, done = await approver.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": approver_password},
    )
    assert (status, done["status"]) == (200, "approved"), done


async def guarded_client_org(
    api: Api,
    admin: Api,
    org: str,
    names: dict[str, str],
    staff: list[tuple[str, str]],
    resource: dict,
    account: dict,
) -> dict:
    """A client org whose check-out approver is a person apart from its other users.

    ``names`` gives ``manager`` (MSP account manager), ``third`` (another MSP
    administrator, granted the org), ``client_admin`` (the org's confirmed administrator,
    scope all) and ``approver`` (made by ``third``, confirmed by ``client_admin``:
    accounts one person made are one person, issue 26). ``staff`` are (name, role) made by
    the client administrator; the first must be able to add resources: it makes
    ``resource`` (a POST body) with ``account`` (a POST body). Everyone's password is
    ``final-<name>-pw22``.

    Returns: ``{"tokens": {name: token}, "resource": id, "account": id}``.
    """
    manager, third = names["manager"], names["third"]
    client_admin, approver = names["client_admin"], names["approver"]
    await make_user(admin, manager, "privileged_administrator")
    await make_user(admin, third, "administrator")
    mgr = await api.login(manager, f"final-{manager}-pw22")
    other = await api.login(third, f"final-{third}-pw22")
    status, _ = await mgr.call(
        "POST", "/orgs", {"name": org, "display_name": org, "account_manager": manager}
    )
    assert status == 201
    await make_user(mgr, client_admin, "administrator", org=org, access_scope="all")
    await confirm_by_request(admin, other, f"final-{third}-pw22", org, client_admin)
    cadmin = await api.login(client_admin, f"final-{client_admin}-pw22", org=org)
    tokens = {client_admin: cadmin.token}
    for name, role in staff:
        await make_user(cadmin, name, role, org=org)
        tokens[name] = (await api.login(name, f"final-{name}-pw22", org=org)).token
    status, grant = await admin.call(
        "POST", "/org-access-requests", {"org": org, "user": third, "approver": manager}
    )
    assert status == 201, grant
    status, _ = await mgr.call(
        "POST",
        f"/org-access-requests/{grant['id']}/approve",
        {"current_password": f"final-{manager}-pw22"},
    )
    assert status == 200
    await make_user(other, approver, "password_user", org=org)
    status, _ = await cadmin.call("POST", f"/orgs/{org}/users/{approver}/confirm")
    assert status == 200
    tokens[approver] = (await api.login(approver, f"final-{approver}-pw22", org=org)).token
    keeper = api.as_(tokens[staff[0][0]])
    status, res = await keeper.call("POST", f"/orgs/{org}/resources", resource)
    assert status == 201, res
    status, acct = await keeper.call("POST", f"/orgs/{org}/resources/{res['id']}/accounts", account)
    assert status == 201, acct
    return {"tokens": tokens, "resource": res["id"], "account": acct["id"]}
