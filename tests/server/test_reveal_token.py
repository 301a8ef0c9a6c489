"""The reveal checks its bearer token in its own statement (issue 28,
sql/functions/reveal_accounts_with_tokens.sql): it answers exactly as the door did. A
token that names nothing, a logged-out session, a deleted API key or a disabled user
reveal nothing and record nothing; a user who must still change its password is held
at the first-login gate; an API key reveals like a session; a malformed token or body
answers as before, the token first."""

from __future__ import annotations

from tests.server.conftest import Api, make_user
from tests.server.test_reveal_under_load import SECRET, audited_reveals, shared_account

GONE = "the session has ended or the API key is not valid; log in again"


async def test_the_reveal_answers_its_token_as_the_door_did(api, admin, owner_conn):
    user, _res, acct, _share = await shared_account(api, admin, "tok")
    path = f"/orgs/MSPOrg/accounts/{acct}/reveal"
    status, body = await user.call("POST", path, {})
    assert (status, body["password"]) == (200, SECRET)

    # An API key reveals as its user, audited once like a session.
    status, created = await user.call("POST", "/me/api-keys", {"name": "script"})
    assert status == 201, created
    robot = api.as_(created["key"])
    status, body = await robot.call("POST", path, {})
    assert (status, body["password"]) == (200, SECRET)
    assert await audited_reveals(owner_conn, "MSPOrg", "tok") == 2

    # A well-formed token that names nothing: 401, nothing revealed or recorded.
    forged = user.token[:-8] + "AAAAAAAA"
    status, body = await api.as_(forged).call("POST", path, {})
    assert (status, body["code"], body["detail"]) == (401, "unauthenticated", GONE)
    # A malformed token, and a bad token with a bad body or id: the token answers first.
    status, body = await api.as_("not-a-token").call("POST", path, {})
    assert (status, body["code"]) == (401, "unauthenticated")
    status, body = await api.as_(forged).call("POST", path, {"reason": 7, "extra": 1})
    assert (status, body["code"]) == (401, "unauthenticated")
    status, body = await api.as_(forged).call("POST", "/orgs/MSPOrg/accounts/x/reveal", {})
    assert (status, body["code"]) == (401, "unauthenticated")
    # A good token with a bad body or id: as before.
    status, body = await user.call("POST", path, {"extra": 1})
    assert status == 422, body
    status, body = await user.call("POST", "/orgs/MSPOrg/accounts/x/reveal", {})
    assert (status, body["code"]) == (404, "not_found")

    # The key deleted, the session logged out: refused at once, nothing more recorded.
    assert (await user.call("DELETE", f"/me/api-keys/{created['id']}"))[0] == 204
    status, body = await robot.call("POST", path, {})
    assert (status, body["code"]) == (401, "unauthenticated")
    assert SECRET not in str(body)
    assert (await user.call("POST", "/auth/logout"))[0] == 204
    status, body = await user.call("POST", path, {})
    assert (status, body["code"], body["detail"]) == (401, "unauthenticated", GONE)
    assert await audited_reveals(owner_conn, "MSPOrg", "tok") == 2


async def test_the_first_login_gate_holds_the_reveal(api: Api, admin: Api, owner_conn):
    """A user told to change its password reveals nothing until it has (403), and the
    refusal records no reveal."""
    user, _res, acct, _share = await shared_account(api, admin, "gated")
    path = f"/orgs/MSPOrg/accounts/{acct}/reveal"
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await owner_conn.execute(
            "UPDATE users SET must_change_password = true WHERE username = 'gated'"
        )
    status, body = await user.call("POST", path, {})
    assert (status, body["code"]) == (403, "password_change_required")
    assert SECRET not in str(body)
    assert await audited_reveals(owner_conn, "MSPOrg", "gated") == 0
    # A disabled user: 401, nothing recorded.
    password = await make_user(admin, "gated2", "password_user")
    other = await api.login("gated2", password)
    status, _ = await admin.call("PATCH", "/orgs/MSPOrg/users/gated2", {"status": "disabled"})
    assert status == 200
    status, body = await other.call("POST", path, {})
    assert (status, body["code"]) == (401, "unauthenticated")
    assert await audited_reveals(owner_conn, "MSPOrg", "gated2") == 0
