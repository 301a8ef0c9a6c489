"""Unicode names: stored NFC, compared through one fold, and identifiers free of
invisible or direction-changing characters."""

from __future__ import annotations

import pytest

COMPOSED, DECOMPOSED = "Caf\u00e9", "Cafe\u0301"


async def test_one_name_in_two_unicode_forms_is_one_resource(admin):
    """'Café' (U+00E9) and 'Cafe' + U+0301 are the same resource name; the name is
    stored NFC."""
    status, first = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": DECOMPOSED, "type": "Linux"}
    )
    assert (status, first["name"]) == (201, COMPOSED)
    status, problem = await admin.call(
        "POST", "/orgs/MSPOrg/resources", {"name": COMPOSED.upper(), "type": "Linux"}
    )
    assert status == 409, problem


async def test_groups_are_found_by_any_form_and_case(admin):
    """A group made with one form is found with the other, in another case."""
    status, group = await admin.call("POST", "/orgs/MSPOrg/groups", {"name": "Équipe " + COMPOSED})
    assert status == 201, group
    status, same = await admin.call(
        "GET", "/orgs/MSPOrg/groups/" + "E\u0301QUIPE " + DECOMPOSED.upper()
    )
    assert (status, same["name"]) == (200, "Équipe " + COMPOSED)
    status, _ = await admin.call(
        "POST", "/orgs/MSPOrg/groups", {"name": "e\u0301quipe " + DECOMPOSED}
    )
    assert status == 409


@pytest.mark.parametrize(
    "name",
    ["ops\u200b", "o\u200dps", "\u202espo", "ops\u2066x\u2069", "\u200fops", "ops\ufeff"],
)
async def test_identifiers_refuse_invisible_and_bidi_characters(admin, name):
    """Zero-width and bidirectional control characters are refused in group names."""
    for path in ("/orgs/MSPOrg/groups", "/orgs/MSPOrg/resource-groups"):
        status, problem = await admin.call("POST", path, {"name": name})
        assert (status, problem["errors"][0]["field"]) == (422, "name"), (path, problem)
