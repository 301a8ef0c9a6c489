"""The audit pane: the selected org's events, filtered by operation, actor and time; the
chosen events exported to CSV; the chain verified."""

from __future__ import annotations

import asyncio
import re

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.controls.table import fill_table
from tui.logic.audit_export import (
    ANY,
    Filters,
    NameBook,
    full_path,
    time_problem,
    write_csv,
)
from tui.logic.times import local_minute, local_moment
from tui.screens.audit_settings import AlertsScreen
from tui.screens.form import Field, refusal
from tui.screens.modals import TextModal
from tui.screens.recordings import RecordingsScreen
from tui.text import inert
from tui.widgets.pane import Pane
from tui.wording import (
    code_words,
    detail_line,
    event_outcome_words,
    is_code,
    operation_meaning,
    operation_words,
)
from tui.workers import api_worker

SHOWN = 200  # newest events in the view; the export writes every event that matches


def default_path(org: str) -> str:
    """The export's pre-filled file: '~/audit-<org>.csv' (editable)."""
    return f"~/audit-{org}.csv"


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _words(name: object) -> str:
    """A details key or a target type as words: 'expires_at' → 'expires at'."""
    return str(name).replace("_", " ")


# Details whose values are the server's codes (a role, a kind, a policy...); elsewhere a
# value is a name someone typed ('db_prod') and stays as typed, unless it is an audited
# operation or a known reason code.
CODE_KEYS = frozenset(
    {"reason", "code", "kind", "kinds", "role", "state", "status", "outcome", "result"}
    | {"method", "permission", "totp_policy", "previous_totp_policy", "security", "operations"}
)


def detail_value(value: object, key: str = "") -> str:
    """A value of an event's details (under ``key``) as words: an ISO time as the local
    time (as the When line says it), a code as words, yes/no, lists and objects spelled
    out; never JSON, ISO text or a snake_case code (issue 35)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if _ISO_TIME.match(value):
            return local_moment(value)
        if not is_code(value):
            return value
        if operation_meaning(value):
            return operation_words(value)
        if key in CODE_KEYS or code_words(value) != _words(value):
            return code_words(value)
        return value
    if isinstance(value, list):
        return ", ".join(detail_value(v, key) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{_words(k)}: {detail_value(v, str(k))}" for k, v in value.items())
    return str(value)


def event_lines(event: dict, book: NameBook) -> list[str]:
    """An event's details dialog: when (local time), who, what in words, the target's
    name, the outcome and its reason in words, the chain link, then each detail."""
    meaning = operation_meaning(event["operation"])
    lines = [
        f"When: {local_moment(event['at'])}",
        f"Actor: {event['actor']} ({event['actor_org']})" + f" from {event['ip'] or '—'}",
        f"Operation: {operation_words(event['operation'])}" + (f" ({meaning})" if meaning else ""),
        f"Target: {_target_kind(event)} {book.target(event)}".rstrip(),
        f"Outcome: {event_outcome_words(event)}",
        f"Chain link: {event['seq'] if event['seq'] is not None else 'not yet chained'}",
        "Details:",
    ]
    details = book.details(event)
    lines += [
        "  " + (detail_line(str(k), v) or f"{_words(k)}: {detail_value(v, str(k))}")
        for k, v in details.items()
    ]
    return lines


def _target_kind(event: dict) -> str:
    """The Target line's first words: the target type in words; a refused request's
    'the request to' (never 'route')."""
    kind = event.get("target_type") or ""
    return "the request to" if kind == "route" else _words(kind)


class AuditPane(Pane):
    """Newest events first; / filters, x exports what matches, v verifies the chain."""

    LIST = "audit-table"
    BINDINGS = [
        Binding("slash", "filter", "Filter", tooltip="Filter events", id="audit-filter"),
        Binding("x", "export", "Export", tooltip="Export the events to CSV", id="audit-export"),
        Binding("v", "verify", "Verify", tooltip="Verify the chain", id="verify"),
        Binding("d", "details", "Details", tooltip="The event's details", id="audit-details"),
        Binding("r", "reload", "Refresh", tooltip="Refresh the events", id="audit-refresh"),
        Binding("c", "clear", "Clear", tooltip="Clear the filters", id="audit-clear"),
        Binding("l", "alerts", "Alerts", tooltip="The org's audit alerts", id="audit-alerts"),
        Binding(
            "s",
            "recordings",
            "Sessions",
            tooltip="Recordings of brokered SSH sessions",
            id="audit-recordings",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filters = Filters()
        self.book = NameBook()
        self._events: list[dict] = []
        self._shown: tuple = ()  # (org, query) of the events on show

    def compose(self) -> ComposeResult:
        """Filter line, table, verification line."""
        yield Static("Filters: none   (/ to filter)", id="audit-filters")
        table = DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("When", "Actor", "Operation", "Target", "Result")
        yield table
        yield Static("", id="verify-result")

    @api_worker(exclusive=True, group="audit")
    async def load(self) -> None:
        """Fetch the newest events that match the filters, with names for their ids."""
        if not self.org:
            return
        org, client, query = self.org, self.app.client, self.filters.query()
        table = self.query_one("#audit-table", DataTable)
        try:
            events = await client.audit_events(org, query, limit=SHOWN)
        except ApiError as error:
            self._events = []
            fill_table(table, [])
            if error.code not in ("forbidden", "not_found"):
                self.app.show_error(error)
            return
        await self.book.learn(client, org, events)
        at_newest = table.cursor_row == 0  # a refresh keeps the newest event in view
        self._events = events
        self.query_one("#audit-filters", Static).update(
            inert(f"Filters: {self.filters.describe()} ({len(events)} shown)")
        )
        fill_table(
            table,
            (
                (
                    str(e["id"]),
                    (
                        local_minute(e["at"]),
                        # whole: the list cuts what does not fit its width (DROP_ORDER)
                        inert(e["actor"]),
                        inert(operation_words(e["operation"])),
                        inert(self.book.target(e)),
                        Text("ok") if e["outcome"] == "success" else Text("FAIL", style="red"),
                    ),
                )
                for e in events
            ),
        )
        if self._shown != (org, query) or at_newest:  # another org or filter: the newest
            self._shown = (org, query)
            table.move_cursor(row=0, animate=False)
            table.scroll_home(animate=False)

    @api_worker()
    async def action_filter(self) -> None:
        """Choose the operation, actor and time range; the view reloads with them."""
        seen = {e["operation"] for e in self._events}
        try:
            catalogue = {o["name"] for o in await self.app.client.audit_operations()}
        except ApiError as error:  # the filter still works with the operations on show
            if error.code not in ("forbidden", "not_found"):
                self.app.show_error(error, "Cannot list the audited operations")
            catalogue = set()
        operations = [("any operation", ANY)] + [
            (op.replace("_", " "), op) for op in sorted(catalogue | seen)
        ]
        current = self.filters
        result = await self.form(
            "Filter events",
            [
                Field("operation", "Operation", value=current.operation or ANY, choices=operations),
                Field("actor", "Actor (username)", value=current.actor),
                Field(
                    "since",
                    "From (local time, e.g. 2026-12-01 09:30)",
                    value=current.since,
                    check=time_problem,
                ),
                Field(
                    "until",
                    "To (local time, not included)",
                    value=current.until,
                    check=time_problem,
                ),
            ],
            action="filter",
        )
        if result is None:
            return
        self.filters = Filters(
            "" if result["operation"] == ANY else result["operation"],
            result["actor"].strip(),
            result["since"].strip(),
            result["until"].strip(),
        )
        self.load()
        self.focus_list()

    def action_clear(self) -> None:
        """Drop every filter."""
        self.filters = Filters()
        self.load()
        self.app.notify("Filters cleared: the newest events of the org.")

    def action_reload(self) -> None:
        """Fetch the events again."""
        self.load()
        self.app.notify("Refreshing the events.", timeout=2)

    def action_recordings(self) -> None:
        """The org's recordings of brokered SSH sessions (play, export)."""
        if self.org:
            self.app.push_screen(RecordingsScreen(self.org))

    def action_alerts(self) -> None:
        """List the events of the operations the org marked as alerts."""
        if self.org:
            self.app.push_screen(AlertsScreen(self.org))

    @on(DataTable.RowSelected, "#audit-table")
    def row_chosen(self) -> None:
        """Enter on an event: its details."""
        self.action_details()

    def action_details(self) -> None:
        """The highlighted event in full, names instead of ids."""
        key = self.selected()
        event = next((e for e in self._events if str(e["id"]) == key), None)
        if event is None:
            self.app.notify("No event selected.", severity="warning")
            return
        self.app.push_screen(TextModal(f"Event {event['id']}", event_lines(event, self.book)))

    @api_worker()
    async def action_export(self) -> None:
        """Write every event matching the filters to a new CSV file at a typed path."""
        if not self.org:
            return
        org, client, filters = self.org, self.app.client, self.filters

        async def export(values: dict[str, str]) -> tuple[int, str]:
            path = full_path(values["path"])
            events = await client.audit_events(org, filters.query())
            await self.book.learn(client, org, events)
            try:
                await asyncio.to_thread(write_csv, path, events, self.book)
            except FileExistsError:
                raise refusal("path", "exists already: choose a new file name") from None
            except OSError as exc:
                raise refusal("path", f"cannot write it: {exc.strerror or exc}") from None
            return len(events), path

        done = await self.form(
            "Export events to CSV",
            [Field("path", "File to write (a new file)", value=default_path(org), required=True)],
            export,
            note=f"Org {org}; filters: {filters.describe()}. Every matching event is written "
            "(not only those shown); cells that a spreadsheet would run as formulas are "
            "escaped.",
            action="export",
        )
        if done is not None:
            count, path = done
            self.app.notify(f"Exported {count} event{'' if count == 1 else 's'} to {path}.")

    @api_worker("Not verified", exclusive=True, group="verify")
    async def action_verify(self) -> None:
        """Verify the org's hash chain and say what was found."""
        if not self.org:
            return
        result = await self.app.client.verify_audit(self.org)
        line = self.query_one("#verify-result", Static)
        if result["ok"]:
            head = (result["head"] or "—")[:16]
            line.update(f"Chain intact: {result['events']} events, head {head}…")
        else:
            line.update(
                inert(f"CHAIN BROKEN at event {result['first_bad_seq']}: {result['problem']}")
            )
        self.app.notify("Chain verified." if result["ok"] else "The chain is broken.")
