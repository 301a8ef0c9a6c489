"""The audit pane: the selected org's events with filters, and chain verification."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from tui.client import ApiError
from tui.text import inert


class AuditPane(Vertical):
    """Newest events first; filter by operation or actor; v verifies the chain."""

    BINDINGS = [Binding("v", "verify", "Verify chain", id="verify")]

    org: reactive[str | None] = reactive(None)

    def compose(self) -> ComposeResult:
        """Filters, table, verification line."""
        with Horizontal(classes="filters"):
            yield Input(placeholder="operation", id="audit-op")
            yield Input(placeholder="actor", id="audit-actor")
        table = DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("When", "Actor", "Operation", "Target", "Outcome")
        yield table
        yield Static("", id="verify-result")

    def watch_org(self, org: str | None) -> None:
        """A new org: reload."""
        if org:
            self.load()

    @on(Input.Submitted)
    def filters_changed(self) -> None:
        """Apply the filters."""
        self.load()

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
            table.clear()
            if error.code not in ("forbidden", "not_found"):
                self.app.show_error(error)
            return
        table.clear()
        for e in events:
            table.add_row(
                e["at"][:19].replace("T", " "),
                inert(e["actor"]),
                inert(e["operation"]),
                inert(e["target"]),
                e["outcome"],
            )

    @work(exclusive=True, exit_on_error=False, group="verify")
    async def action_verify(self) -> None:
        """Verify the org's hash chain and say what was found."""
        if not self.org:
            return
        try:
            result = await self.app.client.verify_audit(self.org)
        except ApiError as error:
            self.app.show_error(error)
            return
        line = self.query_one("#verify-result", Static)
        if result["ok"]:
            line.update(f"Chain intact: {result['events']} events, head {result['head'][:16]}…")
        else:
            line.update(
                inert(f"CHAIN BROKEN at event {result['first_bad_seq']}: {result['problem']}")
            )
