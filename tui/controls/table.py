"""Filling a table without losing the user's place."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist


def show_position(table: DataTable) -> None:
    """'row 3 of 120' under the list (its bottom border), so a list always says where the
    cursor is and how long it is (issue 35)."""
    count = table.row_count
    if not count:
        table.border_subtitle = "no rows"
    else:
        table.border_subtitle = f"row {min(table.cursor_row, count - 1) + 1} of {count}"


def fill_table(table: DataTable, rows: Iterable[tuple[str, tuple]]) -> None:
    """Replace a table's rows (key, cells), keeping the cursor on the same row if it is
    still there, so a refresh does not lose the user's place."""
    rows = list(rows)
    if getattr(table, "shown_rows", None) == rows:
        show_position(table)
        return  # the same rows: nothing to redraw (a refresh that found no change)
    table.shown_rows = rows
    keep = None
    if table.row_count:
        keep = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    # DataTable measures new rows when it is next idle; a frame drawn before that keeps
    # the header-wide columns (names cut to 'core-rou'). Measure now, draw afresh.
    table._update_dimensions(list(table.rows))
    table._clear_caches()
    table.refresh()
    if keep is not None:
        with suppress(RowDoesNotExist):  # the row is gone: stay at the top
            table.move_cursor(row=table.get_row_index(keep), animate=False)
    show_position(table)
