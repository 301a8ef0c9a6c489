"""The audit trail over the API: recorded in the same transaction, filtered, paged, no secrets."""

from __future__ import annotations

import logging

from server.web.app import create_app
from server.web.keys import ENV
from tests.conftest import APP, start_server
from tests.server.conftest import ADMIN_PASSWORD, Api, make_user


async def test_operations_are_audited_newest_first(api, admin):
    """Logins, failures and user changes appear in MSPOrg's trail, newest first."""
    await api.call("POST", "/auth/login", {"username": "admin", "password": "wrong-wrong-1"})
    await make_user(admin, "audited", "password_user")
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?limit=1000")
    assert status == 200
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)
    ops = [e["operation"] for e in page["items"]]
    assert {"login", "login_failed", "user_created", "password_changed"} <= set(ops)
    failed = next(e for e in page["items"] if e["operation"] == "login_failed")
    assert (failed["outcome"], failed["reason"], failed["target"]) == (
        "failure",
        "wrong_password",
        "admin",
    )
    assert failed["ip"] == "127.0.0.1"


async def test_filters_and_paging(admin):
    """operation/actor filters narrow the list; cursor pages walk it without overlap."""
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=user_created")
    assert status == 200
    assert page["items"] and all(e["operation"] == "user_created" for e in page["items"])
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?actor=ADMIN&limit=2")
    assert all(e["actor"] == "admin" for e in page["items"])
    assert len(page["items"]) == 2 and page["next_cursor"]
    status, page2 = await admin.call(
        "GET", f"/orgs/MSPOrg/audit?actor=admin&limit=2&cursor={page['next_cursor']}"
    )
    assert max(e["id"] for e in page2["items"]) < min(e["id"] for e in page["items"])
    status, problem = await admin.call("GET", "/orgs/MSPOrg/audit?limit=5000")
    assert (status, problem["code"]) == (422, "validation_failed")
    status, problem = await admin.call("GET", "/orgs/MSPOrg/audit?since=yesterday")
    assert status == 422


async def test_password_users_cannot_read_audit(api, admin):
    """Reading the trail needs an administrator or auditor role."""
    pw = await make_user(admin, "plain", "password_user")
    plain = await api.login("plain", pw)
    status, problem = await plain.call("GET", "/orgs/MSPOrg/audit")
    assert (status, problem["code"]) == (403, "forbidden")
    apw = await make_user(admin, "auditor", "password_auditor")
    auditor = await api.login("auditor", apw)
    assert (await auditor.call("GET", "/orgs/MSPOrg/audit/verify"))[0] == 200


async def test_verify_reports_intact_chain(admin):
    """An untouched chain verifies with its event count and head."""
    status, result = await admin.call("GET", "/orgs/MSPOrg/audit/verify")
    assert status == 200
    assert result["ok"] is True and result["first_bad_seq"] is None
    assert result["events"] > 0 and len(result["head"]) == 64


async def test_audit_failure_fails_the_operation(admin, owner_conn):
    """If the audit row cannot be written, the operation is refused and nothing changes."""
    await owner_conn.execute(f'REVOKE INSERT ON audit_events FROM "{APP}"')
    try:
        status, problem = await admin.call(
            "POST",
            "/orgs/MSPOrg/users",
            {"username": "ghost", "role": "password_user", "password": "ghost-password-1"},
        )
    finally:
        await owner_conn.execute(f'GRANT INSERT ON audit_events TO "{APP}"')
    assert (status, problem["code"]) == (503, "audit_unavailable")
    assert (await admin.call("GET", "/orgs/MSPOrg/users/ghost"))[0] == 404


async def test_no_secret_in_audit_or_logs(api, admin, caplog):
    """Passwords, tokens and OTP seeds never reach audit rows or the log."""
    caplog.set_level(logging.DEBUG)
    secret_pw = "Very-Secret-Passw0rd!"
    await make_user(admin, "secretive", "password_user", password=secret_pw)
    await api.call(
        "POST", "/auth/login", {"username": "secretive", "password": "Wrong-" + secret_pw}
    )
    user = await api.login("secretive", secret_pw)
    _, enrol = await user.call("POST", "/me/totp", {"current_password": secret_pw})
    _, key = await user.call("POST", "/me/api-keys", {"name": "k"})
    _status, page = await admin.call("GET", "/orgs/MSPOrg/audit?limit=1000")
    trail = str(page)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (
        secret_pw,
        "Wrong-" + secret_pw,
        user.token,
        enrol["secret"],
        key["key"],
        ADMIN_PASSWORD,
    ):
        assert secret not in trail
        assert secret not in logs


async def test_login_rehashes_when_parameters_rise(config, admin, owner_conn):
    """A login under stronger Argon2id settings re-hashes the stored password."""
    pw = await make_user(admin, "rehash", "password_user")

    async def stored() -> str:
        async with owner_conn.transaction():
            org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
            await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            return await owner_conn.fetchval(
                "SELECT password_hash FROM users WHERE username = 'rehash'"
            )

    assert ",t=2," in await stored()
    config.security.argon2_iterations = 3
    runner, live = await start_server(create_app(config), config)
    try:
        import aiohttp

        async with aiohttp.ClientSession(
            live.url, connector=aiohttp.TCPConnector(ssl=live.ssl)
        ) as session:
            await Api(session).login("rehash", pw)
    finally:
        await runner.cleanup()
    assert ",t=3," in await stored()


async def test_reveal_fails_closed_with_503_when_the_audit_fails(admin, owner_conn):
    """A reveal whose audit event cannot be written answers 503 audit_unavailable
    (was 500) and reveals nothing (issue 13, item 7)."""
    _, res = await admin.call("POST", "/orgs/MSPOrg/resources", {"name": "db1", "type": "Linux"})
    _, acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "root", "password": "s3cret-Value-1"},
    )
    await owner_conn.execute(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$; "
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
    )
    try:
        status, problem = await admin.call("POST", f"/orgs/MSPOrg/accounts/{acct['id']}/reveal", {})
    finally:
        await owner_conn.execute(
            "DROP TRIGGER refuse_audit ON audit_events; DROP FUNCTION refuse_audit()"
        )
    assert (status, problem["code"]) == (503, "audit_unavailable")
    assert "s3cret-Value-1" not in str(problem)
    status, body = await admin.call("POST", f"/orgs/MSPOrg/accounts/{acct['id']}/reveal", {})
    assert (status, body["password"]) == (200, "s3cret-Value-1")


async def test_refresh_is_audited(admin):
    """POST /auth/refresh writes a session_refreshed event (issue 13, item 7)."""
    status, body = await admin.call("POST", "/auth/refresh")
    assert status == 200
    fresh = admin.as_(body["token"])
    _, page = await fresh.call("GET", "/orgs/MSPOrg/audit?operation=session_refreshed")
    assert [(e["actor"], e["target"]) for e in page["items"]][:1] == [("admin", "admin")]
    assert body["token"] not in str(page)


async def test_a_password_typed_as_a_username_is_not_recorded(api, admin):
    """A failed login for a name no user has records '(unknown user)', never the text."""
    await api.call("POST", "/auth/login", {"username": "Typed-My-Pass-42!", "password": "x"})
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=login_failed&limit=1")
    event = page["items"][0]
    assert (event["actor"], event["target"], event["reason"]) == (
        "(unknown user)",
        "(unknown user)",
        "unknown_user",
    )
    assert "Typed-My-Pass-42!" not in str(page)


async def test_a_reveal_is_recorded_alike_by_the_database_and_the_spool(admin, live_server):
    """A reveal on a primary that may write (the database records it) and one on a fenced
    primary (it cannot write: the event goes to the audit spool) give events with the same
    operation, target and details (issue 25: the spooled one lacked checked_out)."""
    _, res = await admin.call("POST", "/orgs/MSPOrg/resources", {"name": "db9", "type": "Linux"})
    _, acct = await admin.call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": "root", "password": "s3cret-Value-9"},
    )
    reveal = f"/orgs/MSPOrg/accounts/{acct['id']}/reveal"
    assert (await admin.call("POST", reveal, {"reason": "primary"}))[0] == 200
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=password_revealed&limit=1000")
    (recorded,) = [e for e in page["items"] if e["details"].get("account_id") == acct["id"]]

    env = live_server.app[ENV]
    node = env.node_state
    assert node.writable()
    kept, node.write_deadline = node.write_deadline, 0.0  # fenced: reads only
    try:
        assert node.fenced()
        before = {r["spool_id"] for r in await env.spool.pending()}
        status, shown = await admin.call("POST", reveal, {"reason": "fenced"})
        assert (status, shown["password"]) == (200, "s3cret-Value-9")
    finally:
        node.write_deadline = kept
    (spooled,) = [r for r in await env.spool.pending() if r["spool_id"] not in before]
    await env.spool.delivered({spooled["spool_id"]})

    def shape(event: dict) -> tuple:
        return (event["operation"], event["target_type"], event["target"], set(event["details"]))

    assert (
        shape(spooled)
        == shape(recorded)
        == (
            "password_revealed",
            "account",
            "db9/root",
            {"account_id", "permission", "checked_out"},
        )
    )
    assert spooled["details"] == recorded["details"]
    assert (recorded["reason"], spooled["reason"]) == ("primary", "fenced")
    assert "s3cret-Value-9" not in str(spooled)


async def test_the_catalogue_of_operations_is_served_to_audit_readers(api, admin):
    """GET /audit/operations lists every audited operation with its category, for those
    who may read the audit; settings accept only its names."""
    status, body = await admin.call("GET", "/audit/operations")
    assert status == 200
    listed = {o["name"]: o for o in body["operations"]}
    assert listed["password_revealed"]["category"] == "secret_access"
    assert listed["resource_updated"]["category"] == "routine"
    assert listed["login"]["category"] == "security"
    assert all(o["description"] for o in body["operations"])
    pw = await make_user(admin, "catalogue-user", "password_user")
    plain = await api.login("catalogue-user", pw)
    status, problem = await plain.call("GET", "/audit/operations")
    assert (status, problem["code"]) == (403, "forbidden")
    apw = await make_user(admin, "catalogue-auditor", "password_auditor")
    auditor = await api.login("catalogue-auditor", apw)
    assert (await auditor.call("GET", "/audit/operations"))[0] == 200
    status, problem = await admin.call(
        "PUT", "/orgs/MSPOrg/audit/settings", {"operations": {"resource_exploded": {"alert": True}}}
    )
    assert (status, problem["errors"][0]["field"]) == (422, "operations.resource_exploded")
