"""A list dialog: a title, a table and the keys that act on its rows (shares, resource
groups, password policies). Esc closes it; F1 and the key bar show its keys; the command
palette offers them by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from tui.controls.keybar import KeyBar
from tui.controls.table import fill_table, refit, show_position
from tui.screens.form import Field, FormModal, typed_confirmation
from tui.text import inert


def confirm_field() -> Field:
    """A field to type 'yes' into before something is removed (Esc keeps it)."""
    return typed_confirmation("yes", "Type yes to confirm (Esc keeps it)", any_case=True)


class ListModal(ModalScreen[None]):
    """``KEYS`` act on the table's rows (their actions are this screen's ``action_*``);
    subclasses fill the table in ``load``."""

    TITLE_TEXT = ""
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    KEYS: ClassVar[list[Binding]] = []
    # The columns from the least useful, cut with '…' (then dropped) when the rows do not
    # fit (``tui.controls.table.DROP_ORDER``); none listed: cells are clipped.
    CUT: ClassVar[tuple[int, ...]] = ()
    # A modal screen does not reach the app's keys: F1 and Ctrl+Q are repeated here so
    # they work (and show in the key bar) as on every other screen.
    BINDINGS = [
        Binding("escape", "close", "Close", tooltip="Close this list", id="list-close"),
        Binding("f1", "app.keys", "Keys", key_display="F1", id="help", priority=True),
        Binding("ctrl+q", "app.quit", "Quit", id="quit", priority=True),
    ]

    def compose(self) -> ComposeResult:
        """Title, note, the table (its keys are local to it), key bar."""
        table_type = type(
            f"{type(self).__name__}Table",
            (DataTable,),
            {
                "BINDINGS": [
                    Binding(b.key, f"screen.{b.action}", b.description, tooltip=b.tooltip, id=b.id)
                    for b in self.KEYS
                ]
            },
        )
        with Vertical(classes="dialog listing"):
            yield Static(inert(self.heading()), classes="dialog-title")
            yield Static("", id="list-note", classes="dialog-note")
            table = table_type(id="items", cursor_type="row", zebra_stripes=True)
            table.drop_order = self.CUT
            table.add_columns(*self.COLUMNS)
            yield table
            yield Static("Esc: close   F1: keys", classes="dialog-keys")
        yield KeyBar()

    def heading(self) -> str:
        """The dialog's title."""
        return self.TITLE_TEXT

    def pane_title(self) -> str:
        """The name the keys panel gives this dialog."""
        return self.heading()

    def on_mount(self) -> None:
        """The table has the focus; fill it."""
        self.set_focus(self.query_one("#items", DataTable))
        self.load()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The list says which row the cursor is on, of how many."""
        show_position(event.data_table)

    def load(self) -> None:
        """Fetch the rows (a worker in each subclass)."""

    def fill(self, rows: list[tuple[str, tuple]], note: str = "") -> None:
        """Show ``rows`` (key, cells) and a note line (cut to the table's width once it has
        one)."""
        table = self.query_one("#items", DataTable)
        fill_table(table, rows)
        if not table.size.width:
            self.call_after_refresh(refit, table)
        self.query_one("#list-note", Static).update(inert(note))

    def selected(self) -> str | None:
        """The highlighted row's key (None in an empty list)."""
        table = self.query_one("#items", DataTable)
        if table.row_count == 0:
            self.app.notify("The list is empty.", severity="warning")
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    async def form(self, title: str, fields: list[Field], submit=None, **options: Any) -> Any:
        """Open a form over this dialog; its result (None when cancelled)."""
        return await self.app.push_screen_wait(FormModal(title, fields, submit, **options))

    def palette_commands(self) -> Iterator[tuple[str, str, Any]]:
        """(title, help, callback) for the command palette: this dialog's keys."""
        for b in self.KEYS:
            yield b.tooltip or b.description, f"key {b.key}", getattr(self, f"action_{b.action}")
        yield "Close", "Back to the vault (Esc)", self.action_close

    def action_close(self) -> None:
        """Back to where the dialog was opened."""
        self.dismiss(None)
