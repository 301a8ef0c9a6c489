"""Password expiry (issue 31, item 3): ``expires_at`` = the last change + the policy's
``max_age_days`` on every account answer, and the per-org report of expired and
soon-expiring passwords (administrators and auditors; never a password)."""

from __future__ import annotations

import datetime

from tests.server.conftest import make_user

SECRET = "Expiring-Secret-44!aA"


async def test_expires_at_and_the_report(admin, owner_conn):
    status, _ = await admin.call(
        "POST",
        "/orgs/MSPOrg/password-policies",
        {"name": "Monthly", "min_length": 8, "max_length": 64, "max_age_days": 30},
    )
    assert status == 201
    status, res = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": "expiry-box", "type": "Linux"}
    )
    assert status == 201, res
    ids = {}
    for name, policy in (("old", "Strong"), ("monthly", "Monthly"), ("low", "Low")):
        status, acct = await admin.call(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
            {"username": name, "password": SECRET, "policy": policy},
        )
        assert status == 201, acct
        ids[name] = acct["id"]
        changed = datetime.datetime.fromisoformat(acct["password_changed_at"])
        if policy == "Low":
            assert acct["expires_at"] is None
        else:
            days = 90 if policy == "Strong" else 30
            expected = changed + datetime.timedelta(days=days)
            assert datetime.datetime.fromisoformat(acct["expires_at"]) == expected
    # The Strong one changed 100 days ago (expired), the monthly one 27 days ago.
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        for name, days in (("old", 100), ("monthly", 27)):
            await owner_conn.execute(
                "UPDATE accounts SET password_changed_at = now() - make_interval(days => $2) "
                "WHERE id = $1::uuid",
                ids[name],
                days,
            )
    status, detail = await admin.call("GET", f"/orgs/MSPOrg/accounts/{ids['old']}")
    assert (status, detail["password_expired"]) == (200, True)
    status, resource = await admin.call("GET", f"/orgs/MSPOrg/resources/{res['id']}")
    shown = {a["username"]: a["expires_at"] for a in resource["accounts"]}
    assert shown["low"] is None and shown["old"] < shown["monthly"]

    status, page = await admin.call("GET", "/orgs/MSPOrg/password-expiry?within_days=7")
    assert status == 200, page
    ours = [i for i in page["items"] if i["resource"] == "expiry-box"]
    assert [(i["username"], i["expired"]) for i in ours] == [("old", True), ("monthly", False)]
    assert ours[0]["state"] == "expired"
    assert ours[1]["state"] in ("expires in 2 d", "expires in 3 d")
    assert SECRET not in str(page)
    status, page = await admin.call("GET", "/orgs/MSPOrg/password-expiry?within_days=0")
    assert [i["username"] for i in page["items"] if i["resource"] == "expiry-box"] == ["old"]
    status, problem = await admin.call("GET", "/orgs/MSPOrg/password-expiry?within_days=-1")
    assert (status, problem["errors"][0]["field"]) == (422, "within_days")
    password = await make_user(admin, "expiryuser", "password_user")
    user = await admin.login("expiryuser", password)
    status, problem = await user.call("GET", "/orgs/MSPOrg/password-expiry")
    assert status == 403, problem
