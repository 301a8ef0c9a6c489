"""The audit pane: the selected org's events with filters, and chain verification."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from tui.client import ApiError
from tui.text import inert
from tui.widgets.pane import Pane, fill_table


class AuditPane(Pane):
    """Newest events first; filter by operation or actor; v verifies the chain."""

    LIST = "audit-table"
    BINDINGS = [
        Binding("slash", "filter", "Filter", tooltip="Filter events", id="audit-filter"),
        Binding("v", "verify", "Verify", tooltip="Verify the chain", id="verify"),
    ]

    def compose(self) -> ComposeResult:
        """Filters, table, verification line."""
        with Horizontal(classes="filters"):
            yield Input(placeholder="operation (/)", id="audit-op", compact=True)
            yield Input(placeholder="actor", id="audit-actor", compact=True)
        table = DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("When", "Actor", "Operation", "Target", "Outcome")
        yield table
        yield Static("", id="verify-result")

    def action_filter(self) -> None:
        """Jump to the filters."""
        self.screen.set_focus(self.query_one("#audit-op", Input))

    @on(Input.Submitted)
    def filters_changed(self) -> None:
        """Apply the filters and go to the list."""
        self.load()
        self.focus_list()

    @work(exclusive=True, exit_on_error=False, group="audit")
    async def load(self) -> None:
        """Fetch recent events."""
        if not self.org:
            return
        table = self.query_one("#audit-table", DataTable)
        try:
            events = await self.app.client.audit(
                self.org,
                self.query_one("#audit-op", Input).value.strip(),
                self.query_one("#audit-actor", Input).value.strip(),
            )
        except ApiError as error:
            fill_table(table, [])
            if error.code not in ("forbidden", "not_found"):
                self.app.show_error(error)
            return
        fill_table(
            table,
            (
                (
                    str(e["seq"]),
                    (
                        e["at"][:19].replace("T", " "),
                        inert(e["actor"]),
                        inert(e["operation"]),
                        inert(e["target"]),
                        e["outcome"],
                    ),
                )
                for e in events
            ),
        )

    @work(exclusive=True, exit_on_error=False, group="verify")
    async def action_verify(self) -> None:
        """Verify the org's hash chain and say what was found."""
        if not self.org:
            return
        try:
            result = await self.app.client.verify_audit(self.org)
        except ApiError as error:
            self.app.show_error(error, "Not verified")
            return
        line = self.query_one("#verify-result", Static)
        if result["ok"]:
            line.update(f"Chain intact: {result['events']} events, head {result['head'][:16]}…")
        else:
            line.update(
                inert(f"CHAIN BROKEN at event {result['first_bad_seq']}: {result['problem']}")
            )
        self.app.notify("Chain verified." if result["ok"] else "The chain is broken.")
