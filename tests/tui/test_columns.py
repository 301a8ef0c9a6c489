"""Columns by priority (issue 35, item 6): when a list's rows do not fit its width the least
useful column is cut first ('…'), then dropped, then the next; the name and the share
level are never cut. No server: the vault's resources list filled as the pane fills it,
in a terminal narrowed by steps."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tests.tui.keys import drawn
from tui.controls.table import MIN_CUT, column_widths, fill_table, refit

ADDRESS = "https://web{:02d}.intranet.example.net:8443"
ROWS = [
    (f"r{i}", (f"web-frontend-{i:02d}", "Linux", ADDRESS.format(i), "3", "full")) for i in range(30)
]


def test_the_least_useful_column_goes_first():
    """Cut the first listed down to MIN_CUT cells, else drop it and go on to the next."""
    assert column_widths([10, 5, 40, 3], 100, (2, 1), 2) == [10, 5, 40, 3]
    assert column_widths([10, 5, 40, 3], 50, (2, 1), 2) == [10, 5, 24, 3]
    assert column_widths([10, 5, 40, 3], 30, (2, 1), 2) == [10, 5, None, 3]
    assert column_widths([10, 5, 40, 3], 21, (2, 1), 2) == [10, None, None, 3]
    assert column_widths([10, 5, 40, 3], 26, (2,), 2)[2] is None  # the rest stays whole
    assert column_widths([10, 5, 40, 3], 59, (2,), 2)[2] == 33 >= MIN_CUT


class Resources(App):
    def compose(self) -> ComposeResult:
        table = DataTable(id="resources", cursor_type="row")
        table.add_columns("Resource", "Type", "Address", "Accounts", "Access")
        yield table

    def on_mount(self) -> None:
        self.call_after_refresh(lambda: fill_table(self.query_one(DataTable), ROWS))


async def test_columns_give_way_by_priority_as_the_terminal_narrows():
    app = Resources()
    async with app.run_test(size=(100, 24)) as pilot:
        table = app.query_one(DataTable)
        await pilot.pause(0.2)
        wide = drawn(table)
        assert "web01.intranet.example.net:8443" in wide and "full" in wide, wide
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        refit(table)  # as the pane does on a resize
        await pilot.pause(0.2)
        at_80 = drawn(table)
        header = at_80.splitlines()[0]
        assert "Address" in header and "Access" in header, header
        assert "https://web01.intranet" in at_80 and "…" in at_80, at_80
        assert "web-frontend-01" in at_80 and " full" in at_80, at_80
        assert table.virtual_size.width <= table.size.width
        await pilot.resize_terminal(50, 24)
        await pilot.pause(0.2)
        refit(table)
        await pilot.pause(0.2)
        narrow = drawn(table)
        header = narrow.splitlines()[0]
        assert "Address" not in header and "https" not in narrow, narrow  # dropped
        assert "Resource" in header and "Access" in header, header
        assert "web-frontend-01" in narrow and "full" in narrow, narrow


async def test_a_refresh_with_the_same_rows_redraws_only_changed_cells():
    """Same rows in the same order, one cell changed: that cell is updated in place (the
    table is not cleared and rebuilt) and the cursor stays; a new row rebuilds it."""
    app = Resources()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DataTable)
        await pilot.pause()
        await pilot.pause()
        table.move_cursor(row=5)
        cleared: list[bool] = []
        clear = table.clear
        table.clear = lambda *a, **k: cleared.append(True) or clear(*a, **k)
        changed = [*ROWS[:7], ("r7", (*ROWS[7][1][:3], "4", "full")), *ROWS[8:]]
        fill_table(table, changed)
        await pilot.pause()
        assert not cleared and table.cursor_row == 5
        assert table.get_row("r7")[3] == "4" and table.get_row("r6")[3] == "3"
        # The columns keep fitting their cells (a newcomer saw them shrink to their
        # headers' width, names cut to 'billing-', after adding an account).
        shown = drawn(table)
        assert "web-frontend-07" in shown and "Linux" in shown, shown
        fill_table(table, [*changed, ("r99", ("new-one", "Linux", "x", "1", "full"))])
        await pilot.pause()
        assert cleared and table.row_count == len(ROWS) + 1 and table.cursor_row == 5
