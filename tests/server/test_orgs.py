"""Organization rules: display names, account managers, visibility, MSPOrg protection, import."""

from __future__ import annotations

import pytest

from tests.server.conftest import make_user


@pytest.fixture
async def manager(admin):
    """An MSPOrg administrator 'mgr' eligible as account manager."""
    if (await admin.call("GET", "/orgs/MSPOrg/users/mgr"))[0] == 404:
        await make_user(admin, "mgr", "administrator")
    return "mgr"


@pytest.mark.parametrize(
    "display_name", ["two words", "dash-ed", "ünïcode", "x" * 65, "api", "", "semi;colon", "ORGS"]
)
async def test_bad_display_names(admin, manager, display_name):
    """Spaces, punctuation, non-ASCII, too long, empty and reserved words are refused."""
    status, problem = await admin.call(
        "POST", "/orgs", {"name": "X", "display_name": display_name, "account_manager": manager}
    )
    assert status == 422, problem
    assert "display_name" in [e["field"] for e in problem["errors"]]


async def test_display_names_are_unique_regardless_of_case(admin, manager):
    """Acme and ACME cannot both exist."""
    body = {"name": "Acme", "display_name": "Acme", "account_manager": manager}
    assert (await admin.call("POST", "/orgs", body))[0] == 201
    status, problem = await admin.call("POST", "/orgs", {**body, "display_name": "ACME"})
    assert (status, problem["code"]) == (409, "display_name_taken")


async def test_account_manager_must_be_eligible_msp_user(admin, manager):
    """A password user, an unknown name or a missing manager are refused."""
    await make_user(admin, "pu", "password_user")
    for am in ("pu", "ghost", ""):
        status, problem = await admin.call(
            "POST", "/orgs", {"name": "Y", "display_name": "Yorg", "account_manager": am}
        )
        assert status == 422, (am, problem)
        assert problem["errors"][0]["field"] == "account_manager"
    status, problem = await admin.call(
        "POST",
        "/orgs",
        {"name": "Y", "display_name": "Yorg", "account_manager": manager, "vault_control": "all"},
    )
    assert (status, problem["errors"][0]["field"]) == (422, "vault_control")


async def test_escape_payloads_are_stored_verbatim(api, admin, manager):
    """Terminal escapes and SQL in free text are data, stored exactly as given."""
    name = "Evil\x1b[2J\x1b[31m'; DROP TABLE orgs;--"
    status, org = await admin.call(
        "POST", "/orgs", {"name": name, "display_name": "Evil", "account_manager": manager}
    )
    assert status == 201
    mgr = await api.login("mgr", "final-mgr-pw22")
    status, org = await mgr.call("GET", "/orgs/evil")
    assert org["name"] == name


async def test_visibility_and_managed_flag(api, admin, manager):
    """MSP users see all orgs' names, with 'managed' where they manage them, and the
    details only of those (issue 27, item 4)."""
    await admin.call(
        "POST", "/orgs", {"name": "Vis", "display_name": "Vis", "account_manager": manager}
    )
    status, listing = await admin.call("GET", "/orgs")
    names = [o["display_name"] for o in listing["items"]]
    assert names[0] == "MSPOrg" and "Vis" in names
    assert all(o["managed"] is False for o in listing["items"])
    # An org it neither manages nor holds a grant for: its name and nothing else.
    vis = next(o for o in listing["items"] if o["display_name"] == "Vis")
    assert vis == {"display_name": "Vis", "name": "Vis", "is_msp": False, "managed": False}
    mgr = await api.login("mgr", "final-mgr-pw22")
    status, listing = await mgr.call("GET", "/orgs")
    assert {o["display_name"]: o["managed"] for o in listing["items"]}["Vis"] is True
    await make_user(admin, "pa", "password_administrator")
    pa = await api.login("pa", "final-pa-pw22")
    status, listing = await pa.call("GET", "/orgs")
    # Issue 27, item 4: every MSPOrg user sees the client orgs' names (and nothing more).
    assert listing["items"][0]["display_name"] == "MSPOrg"
    vis = next(o for o in listing["items"] if o["display_name"] == "Vis")
    assert vis == {"display_name": "Vis", "name": "Vis", "is_msp": False, "managed": False}
    status, _ = await pa.call(
        "POST", "/orgs", {"name": "N", "display_name": "N", "account_manager": manager}
    )
    assert status == 403


async def test_msp_org_is_protected(admin):
    """MSPOrg cannot be renamed or deleted."""
    status, problem = await admin.call("PATCH", "/orgs/MSPOrg", {"name": "Other"})
    assert (status, problem["code"]) == (403, "msp_org_protected")
    status, problem = await admin.call("DELETE", "/orgs/MSPOrg?confirm=MSPOrg")
    assert (status, problem["code"]) == (403, "msp_org_protected")
    status, body = await admin.call("PATCH", "/orgs/MSPOrg", {"description": "Our own vault"})
    assert (status, body["description"]) == (200, "Our own vault")


async def test_account_manager_edits_org(api, admin, manager):
    """The account manager edits details and vault control; the change is audited."""
    await admin.call(
        "POST", "/orgs", {"name": "Edit", "display_name": "Edit", "account_manager": manager}
    )
    mgr = await api.login("mgr", "final-mgr-pw22")
    status, org = await mgr.call(
        "PATCH", "/orgs/edit", {"location": "Oslo", "vault_control": "client"}
    )
    assert (status, org["location"], org["vault_control"]) == (200, "Oslo", "client")
    status, page = await mgr.call("GET", "/orgs/Edit/audit?operation=org_updated")
    assert page["items"][0]["details"] == {"location": "Oslo", "vault_control": "client"}


IMPORT = (
    "\ufeffname,display_name,description,account_manager,department,location\r\n"
    '"Façade, Ltd",Facade,"Quoted, with comma",mgr,Sales,Zürich\r\n'
    "Bad Row,bad name,,mgr,,\r\n"
    "Dup In File,Facade,,mgr,,\r\n"
    "No Manager,NoMgr,,ghost,,\r\n"
    "Tokyo KK,Tokyo,東京の会社,MGR,,東京\r\n"
    "\r\n"
)


async def test_import_per_row_outcomes(api, admin, manager):
    """Header, BOM, CRLF, quotes and UTF-8 work; each row succeeds or fails on its own."""
    status, result = await admin.call(
        "POST",
        "/orgs/import?filename=orgs.csv",
        data=IMPORT.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert status == 200, result
    assert (result["created"], result["failed"]) == (2, 3)
    outcome = {r["line"]: (r["status"], r.get("code")) for r in result["results"]}
    assert outcome == {
        2: ("created", None),
        3: ("failed", "validation_failed"),
        4: ("failed", "display_name_taken"),
        5: ("failed", "account_manager_not_eligible"),
        6: ("created", None),
    }
    mgr = await api.login("mgr", "final-mgr-pw22")
    assert (await admin.call("GET", "/orgs/facade"))[0] == 404  # admin does not manage it
    status, org = await mgr.call("GET", "/orgs/facade")
    assert (org["name"], org["description"], org["location"]) == (
        "Façade, Ltd",
        "Quoted, with comma",
        "Zürich",
    )
    status, org = await mgr.call("GET", "/orgs/tokyo")
    assert org["description"] == "東京の会社"
    status, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=org_imported&limit=50")
    outcomes = sorted((e["details"]["line"], e["outcome"]) for e in page["items"])
    assert outcomes == [
        (2, "success"),
        (3, "failure"),
        (4, "failure"),
        (5, "failure"),
        (6, "success"),
    ]
    assert (await admin.call("GET", "/orgs/Tokyo/audit/verify"))[0] == 404  # not managed
    status, verify = await mgr.call("GET", "/orgs/Tokyo/audit/verify")
    assert verify["ok"] is True and verify["events"] == 1


async def test_import_without_header_uses_column_order(admin, manager):
    """Without a header the documented order applies (txt files too)."""
    text = "Plain Co,PlainCo,desc,mgr\nOther Co,OtherCo,desc,mgr\n"
    status, result = await admin.call(
        "POST",
        "/orgs/import?filename=orgs.txt",
        data=text.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert (status, result["created"]) == (200, 2)


@pytest.mark.parametrize(
    ("filename", "body", "code", "line"),
    [
        ("orgs.csv", "a,A1,,mgr\nb,B1,,mgr,extra\nc,C1,,mgr\n", "inconsistent_fields", 2),
        ("orgs.xlsx", "a,A2,,mgr\n", "unsupported_file_type", None),
        ("orgs.csv", "name,display_name\nx,X2\n", "missing_columns", None),
        ("orgs.csv", "", "empty_file", None),
        ("orgs.csv", 'a,"unterminated,,mgr\n', "bad_csv", None),
    ],
)
async def test_bad_import_files_create_nothing(admin, manager, filename, body, code, line):
    """Inconsistent field counts, other file types, missing columns: 400 and nothing made."""
    before = (await admin.call("GET", "/orgs"))[1]["items"]
    status, problem = await admin.call(
        "POST",
        f"/orgs/import?filename={filename}",
        data=body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert (status, problem["code"]) == (400, code), problem
    if line:
        assert problem["line"] == line
    assert (await admin.call("GET", "/orgs"))[1]["items"] == before
