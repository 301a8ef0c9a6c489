"""The directory section's pure parts (issue 32): mappings, the PUT body, the sentences,
and RFC 4515 escaping."""

from __future__ import annotations

import pytest

from server.services.directory_ldap import endpoint_problem, escape_filter_value
from tui.client import ApiError
from tui.screens import directory as forms


def test_mappings_round_trip():
    text = "cn=admins,ou=groups,dc=x -> administrator; cn=staff,ou=groups,dc=x -> password_user"
    parsed = forms.parse_mappings(text)
    assert parsed == [
        {"group": "cn=admins,ou=groups,dc=x", "role": "administrator"},
        {"group": "cn=staff,ou=groups,dc=x", "role": "password_user"},
    ]
    assert forms.mappings_text(parsed) == text
    assert forms.mappings_problem("cn=admins administrator") is not None
    assert forms.mappings_problem("") is None


def test_body_reads_the_ca_file_and_keeps_the_password(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    values = {
        "url": " ldaps://dir:636 ",
        "start_tls": "no",
        "ca_file": str(ca),
        "bind_dn": "cn=svc",
        "bind_password": "",
        "search_base": "ou=people",
        "user_filter": "",
        "username_attribute": "",
        "group_roles": "cn=a -> administrator",
        "default_role": "",
        "sync_minutes": "15",
    }
    body = forms.directory_body(values, {"ca_certificate": "old"})
    assert body["url"] == "ldaps://dir:636" and body["ca_certificate"].startswith("-----BEGIN")
    assert "bind_password" not in body and body["default_role"] == ""
    assert (body["user_filter"], body["username_attribute"], body["sync_minutes"]) == (
        "(objectClass=inetOrgPerson)",
        "uid",
        15,
    )
    with pytest.raises(ApiError):
        forms.directory_body(values | {"ca_file": str(tmp_path / "missing")}, None)


def test_sentences():
    assert "3 users found" in forms.test_text(
        {
            "ok": True,
            "configuration": "active",
            "users_found": 3,
            "sample": ["a", "b", "c"],
            "groups": [{"group": "g", "role": "administrator", "members": 1}],
            "without_role": 2,
        }
    )
    assert "not trusted" in forms.test_text(
        {"ok": False, "configuration": "pending", "problem": "certificate not trusted"}
    )
    text = forms.sync_text(
        {
            "created": ["alice"],
            "updated": [{"username": "bob", "role": "administrator"}],
            "disabled": ["carol"],
            "enabled": [],
            "skipped": [{"username": "admin", "reason": "a local user has this name"}],
            "unchanged": 4,
        }
    )
    assert text == (
        "Sync done: created: alice; disabled: carol; updated: bob (role); skipped: admin "
        "(a local user has this name); 4 unchanged."
    )


def test_escaping_and_plain_ldap():
    assert escape_filter_value("*)(uid=*") == "\\2a\\29\\28uid=\\2a"
    assert escape_filter_value("a\\b\x00") == "a\\5cb\\00"
    assert escape_filter_value("alice") == "alice"
    assert endpoint_problem("ldap://dir:389", start_tls=False) is not None
    assert endpoint_problem("ldap://dir:389", start_tls=True) is None
    assert endpoint_problem("ldaps://dir:636", start_tls=False) is None
    assert endpoint_problem("http://dir", start_tls=True) is not None
