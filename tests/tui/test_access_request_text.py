"""How an org access request reads to its approver (no server needed): a group grant
shows the members it was filed for, an org rename its new display name (issue 26)."""

from __future__ import annotations

from tui.flows import access_requests
from tui.logic.org_report import report_lines

REQUEST = {
    "kind": "grant",
    "org": "GlobexCo",
    "group": "ops",
    "members": [],
    "proposer": "honest",
    "approver": "admin",
    "reason": "",
    "status": "pending",
    "expires_at": None,
}


def test_a_group_grant_shows_its_members_as_filed():
    """The approve dialog names the group's members as filed, '— (none)' when empty."""
    assert "Members: — (none)\n" in access_requests.describe(REQUEST)
    text = access_requests.describe({**REQUEST, "members": ["m1", "m2"]})
    assert "For: group ops (grant)\nMembers: m1, m2\nProposed by: honest" in text
    user = {**REQUEST, "group": None, "members": None, "user": "p"}
    assert "Members" not in access_requests.describe(user)


def test_an_org_rename_reads_as_one():
    """An org_rename names its new display name in the list, the dialog and the report."""
    rename = {
        **REQUEST,
        "kind": "org_rename",
        "group": None,
        "members": None,
        "display_name": "GlobexNew",
        "expires_at": "2030-01-01T00:00:00+00:00",
    }
    assert access_requests.label(rename) == "rename to GlobexNew"
    assert access_requests.effect(rename).startswith("GlobexCo is renamed GlobexNew")
    lines = report_lines(
        {"display_name": "GlobexCo", "name": "Globex"},
        {
            "account_manager": "honest",
            "users": [],
            "groups": [],
            "msp_access": [],
            "pending_requests": [rename],
        },
    )
    assert any(line.startswith("  rename to GlobexNew — by honest") for line in lines), lines
