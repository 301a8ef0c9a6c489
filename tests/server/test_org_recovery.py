"""Deleting a client org is not one person's irreversible act (issue 27, item 5): a deleted
org is kept for its recovery window (logins refused, hidden everywhere), any MSPOrg
administrator restores it, and it is purged when the window ends or earlier once a second
person approves an ``org_purge`` request."""

from __future__ import annotations

from server.services import orgs
from server.web.keys import ENV
from tests.server.conftest import Api, make_user


async def _staff(api: Api, admin: Api) -> dict[str, tuple[Api, str]]:
    """Two more founding administrators (persons of their own) and a password user."""
    people = {}
    for name, role in (("ann", "administrator"), ("ben", "administrator"), ("pu", "password_user")):
        status, _ = await admin.call("GET", f"/orgs/MSPOrg/users/{name}")
        password = f"final-{name}-pw22"
        if status == 404:
            password = await make_user(admin, name, role)
        people[name] = (await api.login(name, password), password)
    return people


async def _org_with_a_secret(admin: Api, api: Api, name: str) -> tuple[str, str, Api, str]:
    """Client org ``name`` (admin its account manager) with a resource and an account, and a
    client user who owns a resource of its own that admin cannot see. Returns (account id,
    its password, the client user's session, its password)."""
    status, _ = await admin.call(
        "POST",
        "/orgs",
        {"name": name.title(), "display_name": name, "account_manager": "admin"},
    )
    assert status == 201
    _, res = await admin.call("POST", f"/orgs/{name}/resources", {"name": "db", "type": "Linux"})
    status, acct = await admin.call(
        "POST",
        f"/orgs/{name}/resources/{res['id']}/accounts",
        {"username": "root", "generate": True},
    )
    assert status == 201, acct
    _, secret = await admin.call("POST", f"/orgs/{name}/accounts/{acct['id']}/reveal", {})
    client_pw = await make_user(admin, f"{name}user", "administrator", org=name)
    client = await api.login(f"{name}user", client_pw, org=name)
    status, own = await client.call(
        "POST", f"/orgs/{name}/resources", {"name": "private", "type": "Linux"}
    )
    assert status == 201, own
    return acct["id"], secret["password"], client, client_pw


async def test_deleted_restored_deleted_again_purged_by_two(api, admin, live_server):
    """Delete (every count, the deleter's unseen resource included), the org hides and
    refuses logins; restored by another administrator with its secrets readable; deleted
    again, then purged only once a second person approves — the deleter alone cannot."""
    people = await _staff(api, admin)
    ann, ann_pw = people["ann"]
    ben, ben_pw = people["ben"]
    account, password, client, client_pw = await _org_with_a_secret(admin, api, "phoenix")

    status, preview = await admin.call("GET", "/orgs/phoenix/delete-preview")
    assert status == 200, preview
    assert preview["counts"]["resources"] == 2  # admin sees one of them
    assert (preview["counts"]["users"], preview["counts"]["accounts"]) == (1, 1)
    assert preview["recovery_days"] == 7
    assert (await ann.call("GET", "/orgs/phoenix/delete-preview"))[0] == 404  # not its org

    status, gone = await admin.call("DELETE", "/orgs/phoenix?confirm=phoenix")
    assert status == 200, gone
    assert gone["deleted"] == preview["counts"] and gone["purge_at"]
    # Hidden and closed: no login, no session, no listing, 404 like a missing org.
    assert (await client.call("GET", "/me"))[0] == 401
    status, _ = await api.call(
        "POST", "/auth/login", {"username": "phoenixuser", "password": client_pw, "org": "phoenix"}
    )
    assert status == 401
    _, listing = await admin.call("GET", "/orgs")
    assert "phoenix" not in [o["display_name"] for o in listing["items"]]
    for path in ("/orgs/phoenix", "/orgs/phoenix/resources", f"/orgs/phoenix/accounts/{account}"):
        assert (await admin.call("GET", path))[0] == 404, path
    status, problem = await admin.call(
        "POST", "/orgs", {"name": "x", "display_name": "phoenix", "account_manager": "admin"}
    )
    assert (status, problem["code"]) == (409, "display_name_reserved")  # kept for a restore
    # Listed for MSPOrg's administrators only.
    status, deleted = await ann.call("GET", "/orgs/deleted")
    entry = next(d for d in deleted["items"] if d["display_name"] == "phoenix")
    assert entry["deleted_by"] == "admin" and entry["purge_at"] == gone["purge_at"]
    pu = people["pu"][0]
    assert (await pu.call("GET", "/orgs/deleted"))[0] == 403
    assert (await pu.call("POST", f"/orgs/deleted/{entry['id']}/restore"))[0] == 403

    # Restored by another administrator, as it was.
    status, back = await ann.call("POST", f"/orgs/deleted/{entry['id']}/restore")
    assert (status, back["display_name"]) == (200, "phoenix"), back
    status, secret = await admin.call("POST", f"/orgs/phoenix/accounts/{account}/reveal", {})
    assert (status, secret["password"]) == (200, password)
    await api.login("phoenixuser", client_pw, org="phoenix")
    assert (await ann.call("GET", "/orgs/deleted"))[1]["items"] == []
    _, page = await admin.call("GET", "/orgs/phoenix/audit?operation=org_restored")
    assert page["items"][0]["actor"] == "ann"

    # Deleted again; admin cannot purge it alone; ben approves.
    assert (await admin.call("DELETE", "/orgs/phoenix?confirm=phoenix"))[0] == 200
    org_id = next(d["id"] for d in (await admin.call("GET", "/orgs/deleted"))[1]["items"])
    status, problem = await admin.call(
        "POST", "/org-access-requests", {"kind": "org_purge", "org": "phoenix", "approver": "admin"}
    )
    assert (status, problem["code"]) == (422, "approver_not_eligible")
    status, req = await admin.call(
        "POST", "/org-access-requests", {"kind": "org_purge", "org": org_id, "approver": "ben"}
    )
    assert status == 201, req
    assert (req["kind"], req["org"]) == ("org_purge", "phoenix")
    status, problem = await admin.call(
        "POST",
        f"/org-access-requests/{req['id']}/approve",
        {"current_password": "first-Password-123"},
    )
    assert status == 403
    # A request about a deleted org's access is refused.
    status, problem = await admin.call(
        "POST", "/org-access-requests", {"org": "phoenix", "user": "ann", "approver": "ben"}
    )
    assert status == 422, problem
    assert "phoenix" in [
        d["display_name"] for d in (await ann.call("GET", "/orgs/deleted"))[1]["items"]
    ]
    status, done = await ben.call(
        "POST", f"/org-access-requests/{req['id']}/approve", {"current_password": ben_pw}
    )
    assert (status, done["status"]) == (200, "approved"), done
    assert (await ann.call("GET", "/orgs/deleted"))[1]["items"] == []
    assert (await ann.call("POST", f"/orgs/deleted/{org_id}/restore"))[0] == 404
    # What a delete did before: the trail kept readable, the name held back.
    _, trails = await admin.call("GET", "/audit/deleted-orgs")
    assert "phoenix" in [t["display_name"] for t in trails["items"]]
    status, problem = await admin.call(
        "POST", "/orgs", {"name": "x", "display_name": "phoenix", "account_manager": "admin"}
    )
    assert (status, problem["code"]) == (409, "display_name_reserved")
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=org_purged")
    assert page["items"][0]["target"] == "phoenix" and page["items"][0]["actor"] == "ben"
    assert ann_pw  # ann took part as the restorer only


async def test_purged_when_the_window_ends(api, admin, live_server, owner_conn):
    """The sweeper's round purges a deleted org whose window has ended, and only that one."""
    await _org_with_a_secret(admin, api, "ember")
    await _org_with_a_secret(admin, api, "cinder")
    for name in ("ember", "cinder"):
        assert (await admin.call("DELETE", f"/orgs/{name}?confirm={name}"))[0] == 200
    async with owner_conn.transaction():
        ember = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = 'ember'")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(ember))
        await owner_conn.execute(
            "UPDATE orgs SET purge_at = now() - interval '1 minute' WHERE id = $1", ember
        )
    assert await orgs.purge_due(live_server.app[ENV]) == 1
    _, deleted = await admin.call("GET", "/orgs/deleted")
    assert [d["display_name"] for d in deleted["items"]] == ["cinder"]
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=org_purged")
    assert page["items"][0]["target"] == "ember" and page["items"][0]["actor"] == "system"
