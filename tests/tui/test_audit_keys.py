"""The Audit pane by keys at 80x24: filters (operation picker, actor, time range), names
instead of ids, export to CSV with spreadsheet formulas escaped, refresh, verify."""

from __future__ import annotations

import csv
import json

from textual.widgets import DataTable, Static

from tests.tui.conftest import (
    ADMIN,
    ADMIN_PASSWORD,
    log_in,
    resource_with_account,
    type_text,
    until,
)
from tests.tui.keys import (
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    rows,
    screen_text,
    show_tab,
    submit,
    text_of,
)
from tui.logic.audit_export import COLUMNS, FORMULA_START, safe_cell
from tui.main_screen import MainScreen
from tui.screens.modals import TextModal


def test_cells_that_start_a_formula_are_escaped():
    """= + - @ tab and CR at the start get an apostrophe; elsewhere they stay."""
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("a=1") == "a=1" and safe_cell(None) == ""


async def test_audit_by_keys(tui_server, make_app, tmp_path):
    """/ narrows the view, d shows an event with names, x writes the matching events to a
    new file, c clears, r refreshes, v verifies; the table fits 80 columns."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    _, account = resource_with_account(tui_server, admin, "=cmd", "@evil", "Evil-Secret-pw1!")
    account_id = account["id"]
    status, _ = tui_server.api(
        "POST", f"/orgs/MSPOrg/accounts/{account_id}/reveal", {"reason": "+SUM(1)"}, admin
    )
    assert status == 200
    export = tmp_path / "audit.csv"
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f5", "audit")
        table = app.screen.query_one("#audit-table", DataTable)
        await until(pilot, lambda: "login" in rows(table, 2), what="(events)")
        assert table.virtual_size.width <= table.size.width, "the table is wider than the pane"

        # Filter: an operation from the picker, an actor, a start time.
        await pilot.press("slash")
        form = await form_open(pilot, "Filter events")
        await fill(pilot, ">revealed", "admin", "2000-01-01")  # "_" is no key to type
        await submit(pilot, form)
        line = app.screen.query_one("#audit-filters", Static)
        await until(
            pilot,
            lambda: rows(table, 2) == ["password revealed"],
            what="(filtered)",
        )
        assert "password revealed · by admin · from 2000-01-01 (1 shown)" in text_of(line)
        assert rows(table, 3) == ["=cmd/@evil"] and rows(table, 1) == [ADMIN]

        # A time the filter cannot read is refused under its field, the form kept.
        await pilot.press("slash")
        form = await form_open(pilot, "Filter events")
        await pilot.press("tab", "tab", "end", "ctrl+u")
        await type_text(pilot, "yesterday")
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-since").has_class("shown"))
        assert "2026-12-01 09:30" in text_of(form.query_one("#e-since"))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # The event in full: names instead of the account's id.
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, TextModal), what="(details)")
        details = screen_text(app)
        assert "account: =cmd/@evil" in details and account_id not in details
        assert "Outcome: succeeded: +SUM(1)" in details  # words, the reason as sent
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Export what matches to a new file; never over an existing one.
        await pilot.press("x")
        form = await form_open(pilot, "Export events to CSV")
        # A real default, pre-filled and editable (not a grey placeholder that Enter refuses).
        assert "~/audit-MSPOrg.csv" in drawn(form.query_one("#f-path"))
        await pilot.press("end", "ctrl+u")
        await type_text(pilot, str(export))
        await submit(pilot, form)
        await notified(pilot, f"Exported 1 event to {export}.")
        with export.open(newline="", encoding="utf-8") as f:
            exported = list(csv.reader(f))
        assert exported[0] == list(COLUMNS)
        (row,) = [dict(zip(COLUMNS, r, strict=True)) for r in exported[1:]]
        assert (row["operation"], row["actor"]) == ("password_revealed", ADMIN)
        assert (row["target"], row["reason"]) == ("'=cmd/@evil", "'+SUM(1)")
        assert json.loads(row["details"])["account"] == "=cmd/@evil"
        assert not any(cell.startswith(FORMULA_START) for r in exported for cell in r)
        await pilot.press("x")
        form = await form_open(pilot, "Export events to CSV")
        await pilot.press("end", "ctrl+u")
        await type_text(pilot, str(export))
        await pilot.press("enter")
        await until(pilot, lambda: form.query_one("#e-path").has_class("shown"))
        assert "exists already" in text_of(form.query_one("#e-path"))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Clear, then a time range that holds nothing; refresh; verify.
        await pilot.press("c")
        await until(pilot, lambda: "Filters: none" in text_of(line), what="(cleared)")
        await until(pilot, lambda: "account created" in rows(table, 2))
        # The cleared list starts at the newest event, not at the one the filter showed.
        assert table.cursor_row == 0 and table.scroll_y == 0, (table.cursor_row, table.scroll_y)
        await pilot.press("slash")
        form = await form_open(pilot, "Filter events")
        await pilot.press("tab", "tab", "tab")
        await type_text(pilot, "2000-01-02")
        await submit(pilot, form)
        await until(pilot, lambda: table.row_count == 0, what="(nothing before 2000)")
        assert "to 2000-01-02" in text_of(line)
        await pilot.press("c")
        await until(pilot, lambda: table.row_count > 0)
        tui_server.api("POST", "/orgs/MSPOrg/resources", {"name": "late", "type": "Linux"}, admin)
        await pilot.press("r")
        await until(pilot, lambda: "late" in rows(table, 3), what="(refreshed)")
        await pilot.press("v")
        verdict = app.screen.query_one("#verify-result", Static)
        await until(pilot, lambda: "Chain intact" in text_of(verdict), what="(verified)")
