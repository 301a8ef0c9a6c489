"""Refusals leave a trace (issue #26 item 9): each refused security-relevant attempt is an
``access_denied`` event in the actor's org, with its code and route and no secret; a flood
is counted, not written row by row; validation errors of one's own typing leave nothing.

The world: admin, x and honest (MSPOrg's three founders); AcmeCo, managed by honest, with
its own confirmed administrator cboss, who keeps a controlled password (check-out) on
dc01 shared with worker.
"""

from __future__ import annotations

import asyncio

import pytest

from server.web.keys import DENIALS, ENV
from tests.conftest import config_for
from tests.server.conftest import ADMIN_PASSWORD, Api, confirm_by_request, make_user

SECRET = "Client-Only-Secret-77!"
RESET_TO = "Reset-By-Msp-123"  # a password sent in a refused body: never in the audit
PEER_SECRET = "Not-The-Cluster-Secret-9"
_WORLD: dict = {}


@pytest.fixture
def config(pg_server, install_files, database):
    """This module's node: refusal windows of 5 s (a test shortens its own)."""
    config = config_for(pg_server, install_files, database)
    config.security.denials_window_seconds = 5.0
    return config


async def _build(api: Api, admin: Api) -> dict:
    await make_user(admin, "x", "privileged_administrator")
    await make_user(admin, "honest", "administrator")
    await make_user(admin, "flood", "administrator")
    x = await api.login("x", "final-x-pw22")
    honest = await api.login("honest", "final-honest-pw22")
    flood = await api.login("flood", "final-flood-pw22")
    status, body = await admin.call(
        "POST", "/orgs", {"name": "AcmeCo", "display_name": "AcmeCo", "account_manager": "honest"}
    )
    assert status == 201, body
    await make_user(honest, "cboss", "administrator", org="AcmeCo")
    cboss = await api.login("cboss", "final-cboss-pw22", org="AcmeCo")
    await confirm_by_request(admin, x, "final-x-pw22", "AcmeCo", "cboss")
    await make_user(cboss, "worker", "password_user", org="AcmeCo")
    status, res = await cboss.call(
        "POST", "/orgs/AcmeCo/resources", {"name": "dc01", "type": "Windows"}
    )
    assert status == 201, res
    status, acct = await cboss.call(
        "POST",
        f"/orgs/AcmeCo/resources/{res['id']}/accounts",
        {"username": "Administrator", "password": SECRET},
    )
    assert status == 201, acct
    status, _ = await cboss.call(
        "POST",
        f"/orgs/AcmeCo/resources/{res['id']}/shares",
        {"user": "worker", "permission": "view"},
    )
    assert status == 201
    status, control = await cboss.call(
        "PUT",
        f"/orgs/AcmeCo/accounts/{acct['id']}/access-control",
        {"enabled": True, "approvers": ["cboss"], "max_window_minutes": 30},
    )
    assert status == 200, control
    worker = await api.login("worker", "final-worker-pw22", org="AcmeCo")
    return {
        "x": x.token,
        "honest": honest.token,
        "flood": flood.token,
        "cboss": cboss.token,
        "worker": worker.token,
        "account": acct["id"],
    }


@pytest.fixture
async def world(api, admin) -> dict:
    """The world above (built once per module), with fresh API handles."""
    if not _WORLD:
        _WORLD.update(await _build(api, admin))
    return {
        name: api.as_(value) if name != "account" else value for name, value in _WORLD.items()
    } | {"admin": admin, "api": api}


async def denials(reader: Api, org: str, actor: str | None = None) -> list[dict]:
    """The org's access_denied events (newest first), optionally of one actor."""
    query = "operation=access_denied&limit=1000" + (f"&actor={actor}" if actor else "")
    status, page = await reader.call("GET", f"/orgs/{org}/audit?{query}")
    assert status == 200, page
    return page["items"]


def one(events: list[dict], code: str, route: str) -> dict:
    """The event of ``code`` on ``route`` (the route pattern after /api/v1)."""
    found = [
        e for e in events if e["reason"] == code and e["details"]["route"] == "/api/v1" + route
    ]
    assert len(found) == 1, (code, route, events)
    return found[0]


async def test_each_refusal_leaves_an_event_in_the_actors_org(world, live_server):
    """Dual-control refusal, proposer as designee, client_confirms, checkout_required, a
    404 on another org's object, a 401 on a node-to-node route: each refused, each one
    access_denied event (code, route, path, count 1) in the trail of the actor's org; the
    secret and the password sent in a refused body are in no audit row."""
    x, honest, worker, cboss, admin = (
        world[k] for k in ("x", "honest", "worker", "cboss", "admin")
    )
    account = world["account"]
    status, problem = await honest.call("PATCH", "/orgs/AcmeCo", {"account_manager": "x"})
    assert (status, problem["code"]) == (409, "dual_control_required")
    status, problem = await x.call(
        "POST",
        "/org-access-requests",
        {"kind": "account_manager", "org": "AcmeCo", "user": "x", "approver": "admin"},
    )
    assert (status, problem["code"]) == (422, "proposer_is_designee")
    status, problem = await honest.call("PATCH", "/orgs/AcmeCo/users/cboss", {"password": RESET_TO})
    assert (status, problem["code"]) == (403, "client_confirms")
    status, problem = await worker.call("POST", f"/orgs/AcmeCo/accounts/{account}/reveal", {})
    assert (status, problem["code"]) == (403, "checkout_required")
    assert SECRET not in str(problem)
    status, problem = await x.call("POST", f"/orgs/AcmeCo/accounts/{account}/reveal", {})
    assert (status, problem["code"]) == (404, "not_found") and SECRET not in str(problem)
    status, problem = await world["api"].call(
        "POST",
        "/cluster/spool",
        {"events": [], "password": RESET_TO},
        headers={"Authorization": f"Bearer {PEER_SECRET}"},
    )
    assert (status, problem["code"]) == (401, "unauthenticated")
    # Nothing was obtained: cboss still confirmed and its password unchanged.
    assert (await world["api"].login("cboss", "final-cboss-pw22", org="AcmeCo")).token

    msp = await denials(admin, "MSPOrg")
    event = one(msp, "dual_control_required", "/orgs/{org}")
    assert (event["actor"], event["actor_org"], event["outcome"]) == ("honest", "MSPOrg", "failure")
    assert event["details"] | {"first_at": None, "last_at": None} == {
        "code": "dual_control_required",
        "status": 409,
        "method": "PATCH",
        "route": "/api/v1/orgs/{org}",
        "paths": ["/api/v1/orgs/AcmeCo"],
        "count": 1,
        "first_at": None,
        "last_at": None,
        "window_seconds": 5.0,
    }
    assert event["target"] == "PATCH /api/v1/orgs/{org}"
    assert one(msp, "proposer_is_designee", "/org-access-requests")["actor"] == "x"
    assert one(msp, "client_confirms", "/orgs/{org}/users/{username}")["actor"] == "honest"
    found = one(msp, "not_found", "/orgs/{org}/accounts/{id}/reveal")
    assert (found["actor"], found["details"]["paths"]) == (
        "x",
        [f"/api/v1/orgs/AcmeCo/accounts/{account}/reveal"],
    )
    peer = one(msp, "unauthenticated", "/cluster/spool")
    assert (peer["actor"], peer["details"]["status"]) == ("(unauthenticated)", 401)
    # The check-out refusal is in the client's trail: worker is AcmeCo's.
    acme = await denials(cboss, "AcmeCo")
    assert one(acme, "checkout_required", "/orgs/{org}/accounts/{id}/reveal")["actor"] == "worker"
    assert not [e for e in acme if e["actor"] != "worker"]
    # No secret anywhere in either trail.
    for org, reader in (("MSPOrg", admin), ("AcmeCo", cboss)):
        status, page = await reader.call("GET", f"/orgs/{org}/audit?limit=1000")
        assert status == 200
        text = str(page)
        assert RESET_TO not in text and SECRET not in text and PEER_SECRET not in text


async def test_an_org_may_raise_an_alert_on_refusals(world):
    """access_denied can be marked as an alert (it cannot be switched off); its events
    then appear in …/audit/alerts."""
    admin, x = world["admin"], world["x"]
    status, problem = await admin.call(
        "PUT", "/orgs/MSPOrg/audit/settings", {"operations": {"access_denied": {"recorded": False}}}
    )
    assert status == 422, problem
    status, settings = await admin.call(
        "PUT", "/orgs/MSPOrg/audit/settings", {"operations": {"access_denied": {"alert": True}}}
    )
    assert status == 200, settings
    status, _ = await x.call("GET", "/orgs/AcmeCo/users/cboss")
    assert status == 404
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit/alerts")
    assert status == 200
    alert = next(a for a in page["items"] if a["operation"] == "access_denied")
    assert (alert["actor"], alert["target"]) == ("x", "GET /api/v1/orgs/{org}/users/{username}")
    status, operations = await admin.call("GET", "/audit/operations")
    names = {op["name"]: op for op in operations["operations"]}
    assert names["access_denied"]["category"] == "security"
    assert "access_denied_overflow" in names


async def test_a_flood_is_counted_not_written(world, live_server):
    """200 identical refused calls: at most a few events, whose counts add up to 200
    once the open window is flushed (as when the server stops)."""
    flood, admin = world["flood"], world["admin"]
    path = f"/orgs/AcmeCo/accounts/{world['account']}"
    answers = await asyncio.gather(*(flood.call("GET", path) for _ in range(200)))
    assert {status for status, _ in answers} == {404}
    app = live_server.app
    await app[DENIALS].flush(app[ENV], everything=True)
    events = await denials(admin, "MSPOrg", actor="flood")
    assert 1 <= len(events) <= 3, events
    assert sum(e["details"]["count"] for e in events) == 200
    assert {e["details"]["route"] for e in events} == {"/api/v1/orgs/{org}/accounts/{id}"}
    assert len(app[DENIALS]) == 0


async def test_a_closed_window_is_recorded_by_the_flusher(world, live_server):
    """With a short window, the background flusher records the counted refusals without
    a shutdown: the first at once, the other four counted into one event."""
    app = live_server.app
    app[DENIALS].window = 0.3
    honest = world["honest"]
    for _ in range(5):
        status, problem = await honest.call("DELETE", "/orgs/AcmeCo/users/cboss")
        assert (status, problem["code"]) == (403, "client_confirms")
    for _ in range(40):
        events = await denials(world["admin"], "MSPOrg", actor="honest")
        counts = [e["details"]["count"] for e in events if e["details"]["method"] == "DELETE"]
        if sum(counts) == 5:
            break
        await asyncio.sleep(0.1)
    # The first at once (count 1), the rest counted per window (one window, unless the
    # five calls straddled a flush).
    assert (sum(counts), counts[-1], max(counts) > 1) == (5, 1, True), counts


async def test_own_typing_and_failed_logins_leave_no_access_denied(world):
    """A validation error of one's own body, a 404 of a path no route has, a wrong
    password (recorded as login_failed) and an ordinary 401: no access_denied event."""
    admin, api = world["admin"], world["api"]
    before = len(await denials(admin, "MSPOrg"))
    status, problem = await admin.call("POST", "/orgs/MSPOrg/users", {"username": "y"})
    assert (status, problem["code"]) == (422, "validation_failed")
    status, problem = await admin.call("POST", "/orgs", {"name": "", "display_name": "a b"})
    assert status == 422, problem
    assert (await admin.call("GET", "/no-such-endpoint"))[0] == 404
    status, problem = await api.call(
        "POST", "/auth/login", {"username": "admin", "password": "wrong-" + ADMIN_PASSWORD}
    )
    assert status == 401
    assert (await api.as_("sr_not_a_token").call("GET", "/me"))[0] == 401
    assert len(await denials(admin, "MSPOrg")) == before
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=login_failed")
    assert page["items"] and page["items"][0]["actor"] == "admin"
