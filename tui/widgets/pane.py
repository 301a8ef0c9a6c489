"""The shape every tab shares: lists, actions, a form helper, and knowing how to reload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import events, on
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Input

from tui.controls.table import refit, show_position
from tui.messages import DataChanged
from tui.screens.form import Field, FormModal
from tui.tabs import capabilities_in


class Pane(Vertical):
    """A tab's content: ``LIST`` is the table focused when the tab is shown; ``NEEDS``:
    action → the capability (``GET /me``'s, in the pane's org) without which its key is
    left out."""

    LIST = ""
    NEEDS: dict[str, str] = {}
    # A list's (or search box's) id → the actions its key bar shows, most used first; the
    # pane's other keys are under F1 (issue 35: the keys of the focused list).
    BAR: dict[str, tuple[str, ...]] = {}
    # Actions the palette leaves out: the other half of a key that toggles (one entry).
    PALETTE_SKIP: frozenset[str] = frozenset()
    BINDINGS = [Binding("escape", "back_to_list", "List", show=False, id="back-to-list")]

    org: reactive[str | None] = reactive(None)

    def watch_org(self, org: str | None) -> None:
        """A new org: reload if the pane is on show (a tab not on show loads when it is:
        ``MainScreen.tab_shown``), and show the keys the user may use there."""
        if org and self.is_shown():
            self.load()
        self.refresh_bindings()

    def is_shown(self) -> bool:
        """Whether the pane is on show: mounted, and no widget from it up to its screen
        hidden (``display`` False, as a tab not on show or hidden is). A pane not on show
        asks the server nothing: a hidden tab's lists would only be refused, and each
        refusal recorded as denied (newcomer pass, session 10)."""
        if not self.is_mounted:
            return False
        node = self
        while node is not None and node is not self.screen:
            if not node.display:
                return False
            node = node.parent
        return True

    def capabilities(self) -> frozenset[str]:
        """What the user may do in the pane's org (its home org until one is chosen), as
        ``GET /me`` last answered."""
        return capabilities_in(getattr(self.app, "me", None) or {}, self.org)

    def may_use(self, action: str) -> bool:
        """Whether the server lets the user use ``action`` in the pane's org (``NEEDS``);
        a key it does not is left out of the key bar, F1 and the palette."""
        needed = self.NEEDS.get(action)
        return needed is None or needed in self.capabilities()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys the user may not use in this org are not shown (and do nothing)."""
        return self.may_use(action)

    def palette_allows(self, action: str) -> bool:
        """Whether the command palette offers ``action``: what the user may use in the
        org (a pane whose keys also depend on the highlighted row says so itself)."""
        return self.may_use(action)

    def bar_actions(self, focused: object) -> tuple[str, ...] | None:
        """The actions the key bar shows while ``focused`` has the focus, in order (None:
        every key of the pane); F1 still lists them all."""
        return self.BAR.get(getattr(focused, "id", None) or "")

    @on(events.Resize)
    def _fit_columns(self) -> None:
        """A new width (the terminal was resized, the tab shown): fit the lists' columns
        again, the least useful cut or dropped first (issue 35)."""
        for table in self.query(DataTable):
            refit(table)

    @on(DataTable.RowHighlighted)
    def _position(self, event: DataTable.RowHighlighted) -> None:
        """Each list says which row the cursor is on, of how many."""
        show_position(event.data_table)

    def load(self) -> None:
        """Fetch what the pane shows (a worker in each pane)."""

    def focus_list(self) -> None:
        """Put the focus on the pane's main list now (not after the keys already typed)."""
        self.screen.set_focus(self.query_one(f"#{self.LIST}", DataTable))

    def action_back_to_list(self) -> None:
        """Esc in a search or filter box returns to the list."""
        if isinstance(self.screen.focused, Input):
            self.focus_list()

    def selected(self, table_id: str | None = None) -> str | None:
        """The key of the highlighted row of ``table_id`` (default: the main list)."""
        table = self.query_one(f"#{table_id or self.LIST}", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def selected_cell(self, table_id: str, column: int) -> str:
        """The highlighted row's text in ``column``."""
        table = self.query_one(f"#{table_id}", DataTable)
        cell = table.get_row_at(table.cursor_row)[column]
        whole = getattr(table, "full_cells", {}).get(self.selected(table_id))  # not cut
        if whole is not None and column < len(whole):
            cell = whole[column]
        return cell.plain if isinstance(cell, Text) else str(cell)

    async def form(
        self,
        title: str,
        fields: list[Field],
        submit: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
        **options: Any,
    ) -> Any:
        """Open the form; its result (None when cancelled)."""
        return await self.app.push_screen_wait(FormModal(title, fields, submit, **options))

    def changed(self, what: str, message: str = "") -> None:
        """Say what happened and let every view that shows it reload."""
        if message:
            self.app.notify(message)
        self.post_message(DataChanged(what))
