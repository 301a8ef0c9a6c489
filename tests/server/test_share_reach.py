"""Share pickers offer who a share can reach, and a share that reaches nobody yet says so
(issue 27, item 4)."""

from __future__ import annotations

from tests.server.conftest import make_user


async def test_share_targets_and_the_unconfirmed_group_note(api, admin):
    """In a client org: its users (an MSP-made one unconfirmed), its groups (one whose only
    member is unconfirmed reaches nobody) and only the MSPOrg users who act there; a share
    to that group answers with a note, one to the user by name does not."""
    status, _ = await admin.call(
        "POST", "/orgs", {"name": "Vis", "display_name": "vis1", "account_manager": "admin"}
    )
    assert status == 201
    await make_user(admin, "outsider", "administrator")  # MSPOrg, no access to vis1
    await make_user(admin, "cu", "password_user", org="vis1")
    status, _ = await admin.call("POST", "/orgs/vis1/groups", {"name": "g1", "members": ["cu"]})
    assert status == 201
    status, _ = await admin.call("POST", "/orgs/vis1/groups", {"name": "empty"})
    assert status == 201

    status, found = await admin.call("GET", "/orgs/vis1/share-targets")
    assert status == 200, found
    assert found["users"] == [{"username": "cu", "full_name": "", "confirmed": False}]
    assert {g["name"]: g["reaches_nobody"] for g in found["groups"]} == {
        "empty": False,
        "g1": True,
    }
    assert [u["username"] for u in found["msp_users"]] == ["admin"]

    _, res = await admin.call("POST", "/orgs/vis1/resources", {"name": "srv", "type": "Linux"})
    status, share = await admin.call(
        "POST", f"/orgs/vis1/resources/{res['id']}/shares", {"group": "g1", "permission": "view"}
    )
    assert status == 201 and share["note"] == (
        "its members are unconfirmed: they see it once confirmed"
    ), share
    status, share = await admin.call(
        "POST", f"/orgs/vis1/resources/{res['id']}/shares", {"user": "cu", "permission": "view"}
    )
    assert status == 201 and share.get("note") is None, share
    status, problem = await admin.call(
        "POST",
        f"/orgs/vis1/resources/{res['id']}/shares",
        {"user": "outsider", "user_org": "MSPOrg", "permission": "view"},
    )
    assert status == 422, problem
    # A client user who cannot manage the vault gets no picker.
    cu = await api.login("cu", "final-cu-pw22", org="vis1")
    assert (await cu.call("GET", "/orgs/vis1/share-targets"))[0] == 403
