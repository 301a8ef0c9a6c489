"""Filling a table without losing the user's place, its columns fitted to its width."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

# Each list's columns from the least useful, by table id (issue 35, item 6): when the rows
# do not fit the list's width the first one listed gives up cells first (cut with '…'),
# and goes altogether (dropped) when fewer than MIN_CUT cells would stay; then the next.
# A column not listed is never cut (the name, the role, the result, the share level).
DROP_ORDER: dict[str, tuple[int, ...]] = {
    "resources": (2, 1, 3),  # Address, Type, Accounts; never Resource or Access
    "accounts": (1, 3),  # Policy, State
    "audit-table": (3, 1, 0),  # Target, Actor, When; never Operation or Result
    "ssh-keys": (3, 2, 0),  # Last used, Expires, Name; never the whole fingerprint
    "orgs-table": (1, 3, 4, 2),  # Name, Vault, Managed, Account manager
    "users-table": (1, 4, 5),  # Name, 2FA, Confirmed; never User, Role or Status
    "groups-table": (2,),  # Members
    "roles-table": (3, 2),  # Description, Permissions (the line below shows them whole)
    "fields-table": (5, 4, 3, 1),  # Choices, Default, Required, For
    "queue": (3, 2),  # Reason, Proposer
    "mine": (2,),  # Approver
    "grants": (2, 1),  # Granted, Role or members
    "holds": (2, 1),  # Reason, Holder
    "notify-table": (2, 1),  # Address, Name; never the kind or the delivery
}
MIN_CUT = 6  # a cut column keeps at least this many cells, else it is dropped


def drop_order(table: DataTable) -> tuple[int, ...]:
    """The table's columns from the least useful: its own ``drop_order`` (a list dialog's
    table, whose id ``items`` is shared) or ``DROP_ORDER``'s entry for its id."""
    return getattr(table, "drop_order", None) or DROP_ORDER.get(table.id or "", ())


def show_position(table: DataTable) -> None:
    """'row 3 of 120' under the list (its bottom border), so a list always says where the
    cursor is and how long it is (issue 35)."""
    count = table.row_count
    if not count:
        table.border_subtitle = "no rows"
    else:
        table.border_subtitle = f"row {min(table.cursor_row, count - 1) + 1} of {count}"


def _width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


def column_widths(
    natural: Sequence[int], room: int, order: Sequence[int], padding: int
) -> list[int | None]:
    """Each column's width to fit ``room`` cells: ``natural`` widths (widest cell or
    header) cut in ``order`` (least useful first), a column that would keep fewer than
    ``MIN_CUT`` cells dropped (None; its ``padding`` stays); unlisted columns are whole."""
    widths: list[int | None] = list(natural)
    excess = sum(natural) + padding * len(natural) - room
    for index in order:
        if excess <= 0:
            break
        keep = natural[index] - excess
        if keep >= MIN_CUT:
            widths[index], excess = keep, 0
        else:
            widths[index], excess = None, excess - natural[index]
    return widths


def _room(table: DataTable) -> int:
    """The cells the columns may take: the table's width less its scroll bar's."""
    return table.size.width - table.styles.scrollbar_size_vertical


def _fitted(table: DataTable, rows: list[tuple[str, tuple]]) -> list[tuple[str, tuple]]:
    """``rows`` with the cells of cut columns cut ('…') and of dropped ones empty, the
    headers likewise; rows as given when the table has no ``DROP_ORDER``, no width yet
    (a tab not on show) or room for every cell. Keeps what ``refit`` compares."""
    columns = table.ordered_columns
    labels = getattr(table, "full_labels", None)
    if labels is None:
        labels = table.full_labels = [column.label.copy() for column in columns]
    order = drop_order(table)
    if not order or len(labels) != len(columns):
        return rows
    natural = [
        max([label.cell_len] + [_width(cells[i]) for _key, cells in rows if i < len(cells)])
        for i, label in enumerate(labels)
    ]
    room = _room(table)
    widths: list[int | None] = list(natural)
    if room > 0:
        widths = column_widths(natural, room, order, 2 * table.cell_padding)
    table.fit_natural, table.fit_widths = natural, widths
    for column, label, width in zip(columns, labels, widths, strict=True):
        column.label = _cut(label, width)
        column.content_width = column.label.cell_len
    changed = {i: w for i, (w, n) in enumerate(zip(widths, natural, strict=True)) if w != n}
    if not changed:
        return rows
    return [
        (key, tuple(_cut(c, changed[i]) if i in changed else c for i, c in enumerate(cells)))
        for key, cells in rows
    ]


def _cut(cell: Any, width: int | None) -> Text:
    text = cell.copy() if isinstance(cell, Text) else Text(str(cell))
    if width is None:
        return Text("")
    if text.cell_len > width:
        text.truncate(width - 1)
        text.append("…")
    return text


def refit(table: DataTable) -> None:
    """Fit the table's columns to its new width (the terminal was resized, its tab shown):
    the rows on show are drawn again only when a column's width changes (a tab switch
    at the same width costs nothing)."""
    rows = getattr(table, "shown_rows", None)
    natural = getattr(table, "fit_natural", None)
    order = drop_order(table)
    room = _room(table)
    if rows is None or natural is None or not order or room <= 0:
        return
    if column_widths(natural, room, order, 2 * table.cell_padding) == table.fit_widths:
        return
    table.shown_rows = None
    fill_table(table, rows)


def fill_table(table: DataTable, rows: Iterable[tuple[str, tuple]]) -> None:
    """Replace a table's rows (key, cells), keeping the cursor on the same row if it is
    still there, so a refresh does not lose the user's place; the columns are fitted to
    the table's width (``DROP_ORDER``); ``table.full_cells`` keeps each row's cells whole."""
    rows = list(rows)
    before = getattr(table, "shown_rows", None)
    if before == rows:
        show_position(table)
        return  # the same rows: nothing to redraw (a refresh that found no change)
    widths = getattr(table, "fit_widths", None)
    drawn = getattr(table, "fitted_rows", None)
    table.shown_rows = rows
    table.full_cells = dict(rows)
    measured = [column.content_width for column in table.ordered_columns]
    fitted = _fitted(table, rows)  # sets each column's width to its header's until measured
    if (
        drawn is not None
        and widths == getattr(table, "fit_widths", None)
        and len(drawn) == len(fitted) == table.row_count
        and all(old[0] == new[0] for old, new in zip(drawn, fitted, strict=True))
    ):
        # The same rows in the same order, some cells changed: only those are redrawn
        # (a refresh does not rebuild a 1,000-row list; issue 35, item 8).
        for column, width in zip(table.ordered_columns, measured, strict=True):
            column.content_width = width  # as measured when the rows were drawn
        columns = [column.key for column in table.ordered_columns]
        for (key, old), (_key, new) in zip(drawn, fitted, strict=True):
            for index, (was, cell) in enumerate(zip(old, new, strict=False)):
                if was != cell and index < len(columns):
                    table.update_cell(key, columns[index], cell, update_width=True)
        table.fitted_rows = fitted
        show_position(table)
        return
    table.fitted_rows = fitted
    keep = None
    if table.row_count:
        keep = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
    table.clear()
    for key, cells in fitted:
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


# The focused list's cursor row starts with this mark, drawn in the first cell's padding
# (the columns keep their place): the row is told from the others without colour too
# (NO_COLOR, a monochrome terminal, a screen reader of the text; newcomer pass, session 11).
CURSOR_MARK = "▶"


REVERSED = Style(bold=True, reverse=True)


def with_mark(strip: Strip, mark: str = CURSOR_MARK, reverse: bool = False) -> Strip:
    """``strip`` with its first cells (as many as ``mark`` takes: padding where it is
    used) replaced by ``mark``, in the first cell's style (so a click there still names
    the row); a strip narrower than the mark is given back as it is. ``reverse``: the
    whole line bold and reversed too (the app runs without colour: NO_COLOR)."""
    width = cell_len(mark)
    if strip.cell_length < width:
        return strip
    first = list(strip.crop(0, 1))
    style = first[0].style if first else None
    segments = [Segment(mark, style), *strip.crop(width, strip.cell_length)]
    if reverse:
        segments = list(Segment.apply_style(segments, post_style=REVERSED))
    return Strip(segments, strip.cell_length)


def is_cursor_line(table: DataTable, y: int) -> bool:
    """Is the widget's line ``y`` the first line of the cursor row of a focused list (a
    row cursor on show)? The header and fixed rows stay put; other lines scroll."""
    if not (table.has_focus and table.show_cursor and table.cursor_type == "row"):
        return False
    if not table.row_count:
        return False
    keys = table._row_locations
    fixed = sum(table.get_row_height(keys.get_key(i)) for i in range(table.fixed_rows))
    if table.show_header:
        fixed += table.get_row_height(table._header_row_key)
    if y >= fixed:
        y += table.scroll_offset.y
    try:
        row_key, line = table._get_offsets(y)
    except LookupError:
        return False
    if line != 0 or row_key is table._header_row_key:
        return False
    return table._row_locations.get(row_key) == table.cursor_row


def mark_cursor_rows() -> None:
    """App-wide: the focused list's cursor row starts with ``CURSOR_MARK`` (a list
    without the focus keeps its dimmer cursor and no mark). Idempotent. Newcomer pass,
    session 11: the cursor row differed from the others by colour only."""
    if getattr(DataTable, "_strongroom_cursor_mark", False):
        return
    render_line = DataTable.render_line

    def render_marked_line(self: DataTable, y: int) -> Strip:
        strip = render_line(self, y)
        return with_mark(strip) if is_cursor_line(self, y) else strip

    DataTable.render_line = render_marked_line  # type: ignore[method-assign]
    DataTable._strongroom_cursor_mark = True  # type: ignore[attr-defined]
