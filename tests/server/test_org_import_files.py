"""Import files as people export them, and the row limit (issue 13, items 4 and 5)."""

from __future__ import annotations

import io

import pytest

from server.core.org_file import detect_separator


async def post_file(admin, text: str, filename: str = "orgs.csv") -> tuple[int, dict]:
    """POST /orgs/import with ``text`` as the raw body (streamed: it may be megabytes)."""
    return await admin.call(
        "POST",
        f"/orgs/import?filename={filename}",
        data=io.BytesIO(text.encode()),
        headers={"Content-Type": "text/csv"},
    )


async def org_names(admin) -> list[str]:
    """Every visible org's display name."""
    return [o["display_name"] for o in (await admin.call("GET", "/orgs?limit=1000"))[1]["items"]]


async def audit_count(admin) -> int:
    """How many org_imported events MSPOrg's trail holds."""
    _, page = await admin.call("GET", "/orgs/MSPOrg/audit?operation=org_imported&limit=1000")
    return len(page["items"])


async def test_excel_trailing_empty_header_cells_are_ignored(admin):
    """Excel's padded header: the exact input from the issue creates one org."""
    status, result = await post_file(
        admin, "name,display_name,account_manager,,\r\nTrailA,TrailA,admin,,\r\n"
    )
    assert status == 200, result
    assert (result["created"], result["failed"]) == (1, 0)
    assert result["results"] == [{"line": 2, "display_name": "TrailA", "status": "created"}]


async def test_value_under_an_empty_header_fails_the_file(admin):
    """A value in a column whose header cell is empty: 400, nothing imported."""
    before = await org_names(admin)
    status, problem = await post_file(
        admin,
        "name,display_name,account_manager,,\r\nTrailB,TrailB,admin,,\r\nTrailC,TrailC,admin,,x\r\n",
    )
    assert (status, problem["code"], problem["line"]) == (400, "value_without_column", 3)
    assert "field 5" in problem["detail"]
    assert await org_names(admin) == before


async def test_semicolon_separated_file_is_detected(admin):
    """Excel in a comma-decimal locale writes semicolons: they are detected."""
    status, result = await post_file(
        admin, 'name;display_name;account_manager;;\r\n"Semi, Ltd";Semi1;admin;;\r\n'
    )
    assert status == 200, result
    assert result["created"] == 1
    assert (await admin.call("GET", "/orgs/Semi1"))[1]["name"] == "Semi, Ltd"


async def test_shape_errors_name_the_separator(admin):
    """A file read with the wrong idea of its columns says how it was read."""
    status, problem = await post_file(admin, "Acme, Inc;Acme;admin\r\n")
    assert (status, problem["code"]) == (400, "missing_columns")
    assert "separated by commas" in problem["detail"]
    assert "add a header row naming the columns" in problem["detail"]
    # With a header row, the header is what lacks the column (no advice to add one).
    status, problem = await post_file(admin, "name,display_name\r\nAcme,Acme\r\n")
    assert (status, problem["code"]) == (400, "missing_columns")
    assert problem["detail"].startswith("the header row lacks the column(s) account_manager")
    assert "add a header row" not in problem["detail"]
    status, problem = await post_file(admin, "a;A1;;admin\r\nb;B1;;admin;x\r\n")
    assert (status, problem["code"], problem["line"]) == (400, "inconsistent_fields", 2)
    assert "semicolons" in problem["detail"]


def test_separator_detection():
    """Commas win when the first record has any; else semicolons, else tabs."""
    assert detect_separator("name,display_name;x\n") == ","
    assert detect_separator('"a;b";c;d\n') == ";"
    assert detect_separator("\n\nname\tdisplay_name\taccount_manager\n") == "\t"
    assert detect_separator('a,"multi\nline",c\n') == ","


async def test_result_line_is_the_first_line_of_its_record(admin):
    """A quoted field spanning lines: each result names its record's first line."""
    text = (
        "name,display_name,description,account_manager\r\n"
        'Multi,Multi1,"first\r\nsecond\r\nthird",admin\r\n'
        "\r\n"
        "After,bad name,,admin\r\n"
    )
    status, result = await post_file(admin, text)
    assert status == 200, result
    assert [(r["line"], r["status"]) for r in result["results"]] == [
        (2, "created"),
        (6, "failed"),
    ]


async def test_a_million_line_file_is_refused_before_anything_is_written(admin):
    """The issue's 4 MB file of 1,000,000 lines `x,,`: 413 with the limit, no org, no
    audit row."""
    before_orgs, before_events = await org_names(admin), await audit_count(admin)
    body = "x,,\n" * 1_000_000
    assert len(body) == 4_000_000
    status, problem = await post_file(admin, body)
    assert (status, problem["code"], problem["limit"]) == (413, "payload_too_large", 50_000)
    assert "50000" in problem["detail"]
    assert await org_names(admin) == before_orgs
    assert await audit_count(admin) == before_events


@pytest.mark.parametrize(("rows", "status"), [(3, 200), (4, 413)])
async def test_row_limit_is_configurable(admin, config, rows, status):
    """server.import_max_rows bounds the data rows (the header does not count)."""
    config.server.import_max_rows = 3
    text = "name,display_name,account_manager\n" + "".join(
        f"Lim {rows}{i},Lim{rows}x{i},admin\n" for i in range(rows)
    )
    got, body = await post_file(admin, text)
    assert got == status, body
    if status == 413:
        assert body["limit"] == 3
        assert not [n for n in await org_names(admin) if n.startswith(f"Lim{rows}")]
