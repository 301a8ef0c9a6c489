"""The harness of the dual-control state machine (test_dual_control_machine.py): a real
HTTPS server on a copy of one prepared database per example, driven from hypothesis's
synchronous rules through an event loop in a thread, and a client that checks every
answer it sees (no 5xx, no client secret in any body).

The world (built once per module, then copied per example with CREATE DATABASE …
TEMPLATE, which takes a fraction of a second where building it takes many):

- MSPOrg: ``admin`` (the first privileged administrator: the attacker's account), and the
  honest founders ``bob`` and ``carol`` (administrators, their own passwords);
- client orgs ``Acme`` (account manager bob) and ``Globex`` (account manager carol), each
  with its confirmed administrator (``acmeboss``, ``globexboss``), a password user
  (``acmeworker``…) in the group ``staff``, a resource ``dc01`` whose account is shared with
  ``staff``, and a resource ``fw01`` whose account ``root`` needs a check-out approved by
  the client's own approver (``acmeappr``…);
- one honest grant: bob proposed, admin approved a grant of Globex to carol's helper
  ``dave`` (so grants in force exist; the attacker made none of it).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

from replication import roles
from server.web.app import create_app
from tests.conftest import APP, OWNER, PgServer, config_for, start_server
from tests.server.conftest import ADMIN, ADMIN_PASSWORD, Api, confirm_by_request, make_user

CLIENTS = ("Acme", "Globex")
SECRETS = {
    ("Acme", "dc01"): "Acme-Shared-Secret-31!",
    ("Acme", "fw01"): "Acme-Controlled-Root-47!",
    ("Globex", "dc01"): "Globex-Shared-Secret-59!",
    ("Globex", "fw01"): "Globex-Controlled-Root-83!",
}
HONEST = ("bob", "carol", "dave")


class ServerError(AssertionError):
    """An answer with status 5xx: invariant 3."""


class SecretLeaked(AssertionError):
    """A client secret appeared in an answer the attacker received: invariant 2."""


class Loop:
    """An event loop in a daemon thread: the server and the client live there, the
    synchronous state machine submits coroutines to it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 120) -> Any:
        """Run ``coro`` on the loop and return its result (exceptions propagate)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Seen:
    """What the attacker's client saw: every call (for the report) and the statuses."""

    calls: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # time spent, by method

    def note(self, who: str, method: str, path: str, status: int, code: str) -> None:
        """Remember one call: who, what, and how it was answered."""
        self.calls.append((who, method, path, status, code))


class Checked(Api):
    """An Api whose every answer is checked: never a 5xx, never a client secret."""

    def __init__(self, session: aiohttp.ClientSession, seen: Seen, token: str | None = None):
        super().__init__(session, token)
        self.seen = seen
        self.who = "-"

    def as_(self, token: str | None) -> Checked:
        return Checked(self.session, self.seen, token)

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        started = time.monotonic()
        status, answer = await super().call(method, path, body, **kw)
        kind = f"{method} {path.split('/')[1]}/{path.split('/')[-1][:12]}"
        self.seen.seconds[kind] = self.seen.seconds.get(kind, 0.0) + time.monotonic() - started
        code = answer.get("code", "") if isinstance(answer, dict) and status >= 400 else ""
        self.seen.note(self.who, method, path, status, code)
        if status >= 500:
            raise ServerError(f"{self.who}: {method} {path} {body!r} -> {status} {answer!r}")
        text = str(answer)
        for (org, resource), secret in SECRETS.items():
            if secret in text:
                raise SecretLeaked(
                    f"{self.who}: {method} {path} answered {org}'s {resource} secret ({status})"
                )
        return status, answer


# -- the world ----------------------------------------------------------------------------


async def _client_org(api: Api, manager: Api, proposer: Api, third: Api, org: str) -> dict:
    """One client org: confirmed administrator, staff, a shared and a controlled account."""
    low = org.lower()
    boss = f"{low}boss"
    await make_user(manager, boss, "administrator", org=org)
    await confirm_by_request(proposer, third, _pw(third), org, boss)
    cboss = await api.login(boss, f"final-{boss}-pw22", org=org)
    for name in (f"{low}worker", f"{low}appr"):
        await make_user(cboss, name, "password_user", org=org)
    status, _ = await cboss.call(
        "POST", f"/orgs/{org}/groups", {"name": "staff", "members": [f"{low}worker"]}
    )
    assert status == 201
    ids: dict[str, str] = {}
    for resource, user in (("dc01", "Administrator"), ("fw01", "root")):
        status, res = await cboss.call(
            "POST", f"/orgs/{org}/resources", {"name": resource, "type": "Linux"}
        )
        assert status == 201, res
        status, acct = await cboss.call(
            "POST",
            f"/orgs/{org}/resources/{res['id']}/accounts",
            {"username": user, "password": SECRETS[org, resource]},
        )
        assert status == 201, acct
        ids[f"{resource}_resource"] = res["id"]
        ids[resource] = acct["id"]
    status, _ = await cboss.call(
        "POST",
        f"/orgs/{org}/resources/{ids['dc01_resource']}/shares",
        {"group": "staff", "permission": "view"},
    )
    assert status == 201
    status, _ = await cboss.call(
        "POST",
        f"/orgs/{org}/resources/{ids['fw01_resource']}/shares",
        {"user": f"{low}worker", "permission": "view"},
    )
    assert status == 201
    status, control = await cboss.call(
        "PUT",
        f"/orgs/{org}/accounts/{ids['fw01']}/access-control",
        {"enabled": True, "approvers": [f"{low}appr"], "max_window_minutes": 30},
    )
    assert status == 200, control
    return ids


_PASSWORDS: dict[str, str] = {}


def _pw(api: Api) -> str:
    return _PASSWORDS[api.token or ""]


async def build_world(session: aiohttp.ClientSession) -> dict:
    """Build the world described above through the API; return the ids the machine needs."""
    api = Api(session)
    admin = await api.login(ADMIN, ADMIN_PASSWORD)
    _PASSWORDS[admin.token or ""] = ADMIN_PASSWORD
    people = {}
    for name in ("bob", "carol"):
        await make_user(admin, name, "administrator")
        people[name] = await api.login(name, f"final-{name}-pw22")
        _PASSWORDS[people[name].token or ""] = f"final-{name}-pw22"
    bob, carol = people["bob"], people["carol"]
    status, me = await admin.call("GET", "/me")
    for org, manager in (("Acme", "bob"), ("Globex", "carol")):
        status, body = await admin.call(
            "POST", "/orgs", {"name": org, "display_name": org, "account_manager": manager}
        )
        assert status == 201, body
    ids = {
        "Acme": await _client_org(api, bob, carol, admin, "Acme"),
        "Globex": await _client_org(api, carol, bob, admin, "Globex"),
    }
    # dave: carol's helper, granted Globex by bob's request and admin's approval.
    await make_user(carol, "dave", "password_administrator")
    status, req = await bob.call(
        "POST", "/org-access-requests", {"org": "Globex", "user": "dave", "approver": "admin"}
    )
    assert status == 201, req
    status, done = await admin.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ADMIN_PASSWORD}
    )
    assert (status, done["status"]) == (200, "approved"), done
    # The attacker's founder account is then what it always was: no client org.
    status, me = await admin.call("GET", "/me")
    assert set(me["capabilities"]) == {"MSPOrg"}, me
    return ids


# -- one installation per module, one copy of its database per example --------------------


async def _pg(pg: PgServer) -> asyncpg.Connection:
    return await asyncpg.connect(**pg.superuser_dsn())


class Installation:
    """The prepared database (the template) and, per example, a server on a copy of it."""

    def __init__(self, loop: Loop, pg: PgServer, home, template: str) -> None:
        self.loop = loop
        self.pg = pg
        self.home = home
        self.template = template
        self.ids: dict = {}
        self.runner: Any = None
        self.session: aiohttp.ClientSession | None = None
        self.database = ""
        self.open_template = ""

    async def _serve(self, database: str) -> aiohttp.ClientSession:
        config = config_for(self.pg, self.home, database)
        app = create_app(config)
        self.runner, live = await start_server(app, config)
        connector = aiohttp.TCPConnector(ssl=live.ssl)
        self.session = aiohttp.ClientSession(live.url, connector=connector)
        return self.session

    async def _stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def prepare(self) -> None:
        """Keep a copy of the bare installation (``admin`` alone, founding phase open) as
        ``open_template``, then build the world in the template database (once)."""
        self.open_template = f"{self.template}_open"

        async def run() -> None:
            await self._copy(self.template, self.open_template)
            try:
                self.ids = await build_world(await self._serve(self.template))
            finally:
                await self._stop()

        self.loop.run(run(), timeout=600)

    def _anchors(self, database: str):
        return self.home / "audit" / f"{database}.anchors.jsonl"

    async def _copy(self, source: str, target: str) -> None:
        conn = await _pg(self.pg)
        try:
            await conn.execute(
                f'CREATE DATABASE "{target}" TEMPLATE "{source}" OWNER "{OWNER}" STRATEGY FILE_COPY'
            )
            await roles.ensure_database(conn, target, OWNER, APP)
        finally:
            await conn.close()
        if self._anchors(source).exists():
            shutil.copy(self._anchors(source), self._anchors(target))

    def start(self, bare: bool = False) -> aiohttp.ClientSession:
        """A fresh copy of the world (``bare``: of the installation before it) and a server
        on it; return a client session."""
        self.database = f"m_{uuid.uuid4().hex[:12]}"

        async def run() -> aiohttp.ClientSession:
            await self._copy(self.open_template if bare else self.template, self.database)
            return await self._serve(self.database)

        return self.loop.run(run())

    def close(self) -> None:
        """Drop the bare installation's copy (the module's database drops itself)."""

        async def run() -> None:
            conn = await _pg(self.pg)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.open_template}" WITH (FORCE)')
            finally:
                await conn.close()
            self._anchors(self.open_template).unlink(missing_ok=True)

        self.loop.run(run())

    def stop(self) -> None:
        """Stop the example's server and drop its copy of the world."""

        async def run() -> None:
            await self._stop()
            conn = await _pg(self.pg)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            finally:
                await conn.close()
            self._anchors(self.database).unlink(missing_ok=True)

        if self.database:
            self.loop.run(run())
            self.database = ""
