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


def test_a_directory_config_shows_the_whole_configuration():
    """Attacker finding 1: the approver of MSPOrg's directory configuration reads every
    setting, e.g. that every entry becomes a privileged administrator."""
    request = {
        **REQUEST,
        "kind": "directory_config",
        "org": "MSPOrg",
        "group": None,
        "members": None,
        "directory": {
            "revision": "r1",
            "url": "ldaps://dir.example:636",
            "start_tls": False,
            "ca_sha256": ["AB:CD"],
            "bind_dn": "cn=svc",
            "search_base": "ou=people",
            "user_filter": "(objectClass=*)",
            "username_attribute": "uid",
            "group_roles": [{"group": "cn=admins", "role": "administrator"}],
            "default_role": "privileged_administrator",
            "sync_minutes": 60,
        },
    }
    text = access_requests.describe(request)
    assert "For: directory configuration (directory config)" in text
    assert "Everyone else: privileged administrator (EVERY entry the filter finds)" in text
    assert "cn=admins → administrator" in text and "CA SHA-256: AB:CD" in text
    assert "Username attribute: uid" in text and "Sync every: 60 minutes" in text
    assert "Directory: ldaps://dir.example:636\n" in text
    assert "directory configuration" in access_requests.effect(request)
