"""Importing organizations from a file: read it as the server does, preview the first
rows, then send it in chunks with a progress bar and every row's outcome.

The server imports one file per call (``POST /orgs/import``) and reports no progress
while it works. So the TUI reads and checks the file's shape here with the server's own
reader (server/core/org_file.py: a BOM, CRLF, quoted fields over several lines, a
comma, semicolon or tab separator found in the first record, an optional header row,
the same number of fields on every line), and sends the rows in chunks: each chunk is a
small CSV of its own with a header, and the progress bar moves as each chunk is
answered. A file whose shape is wrong sends nothing, as the server would import nothing.
The server still checks every row; a chunk's answer lists its rows in file order, so
each outcome is put back on the line it came from.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, ProgressBar, Static

from server.core.errors import StrongroomError
from server.core.names import display_name_problem
from server.core.org_file import OrgFile, read_file
from tui.client import ApiError
from tui.controls.table import fill_table
from tui.text import inert
from tui.wording import counted
from tui.workers import api_worker

MAX_ROWS = 50_000  # the server's default limit (server.import_max_rows); larger: refused
PREVIEW_ROWS = 5


class FileProblem(Exception):
    """Why a file cannot be imported (nothing is sent)."""


@dataclass
class ImportFile:
    """A file read as the server reads it: its rows as {column: value}, with line numbers."""

    path: Path
    read: OrgFile

    @property
    def rows(self) -> list[tuple[int, dict[str, str]]]:
        """(first line, {column: value}) of each org."""
        return self.read.rows

    @property
    def columns(self) -> list[str]:
        """The named columns, in the file's order."""
        return self.read.columns

    def summary(self) -> str:
        """'3 organizations, fields separated by commas, with a header row'."""
        count = len(self.rows)
        noun = "organization" if count == 1 else "organizations"
        head = "with a header row" if self.read.header else "no header row"
        return f"{count:,} {noun}, fields separated by {self.read.separator_name}, {head}"

    def preview(self, limit: int = PREVIEW_ROWS, width: int = 66) -> str:
        """The first rows as aligned text: line, display name, name, account manager."""
        lines = [f"{'line':>5}  {'display name':<16} {'name':<22} account manager"]
        for line, row in self.rows[:limit]:
            text = (
                f"{line:>5}  {_cut(row.get('display_name', ''), 16):<16} "
                f"{_cut(row.get('name', ''), 22):<22} {row.get('account_manager', '')}"
            )
            lines.append(_cut(text, width))
        if len(self.rows) > limit:
            lines.append(f"       … and {len(self.rows) - limit:,} more")
        return "\n".join(lines)


def flagged(file: ImportFile, existing: set[str]) -> list[tuple[int, str]]:
    """(line, why) of each row the server will refuse, found before sending (issue 35): no
    name, a display name that is not one, one used by an org already (``existing``, lower
    case) or by an earlier line of the file."""
    seen: dict[str, int] = {}
    found: list[tuple[int, str]] = []
    for line, row in file.rows:
        display = (row.get("display_name") or "").strip()
        if not (row.get("name") or "").strip():
            found.append((line, "no name"))
        if not display:
            found.append((line, "no display name"))
            continue
        problem = display_name_problem(display)
        if problem:
            found.append((line, f"display name {display!r} {problem}"))
        elif display.lower() in existing:
            found.append((line, f"an organization {display!r} exists already"))
        elif display.lower() in seen:
            found.append((line, f"{display!r} is on line {seen[display.lower()]} too"))
        seen.setdefault(display.lower(), line)
    return found


def flagged_text(found: list[tuple[int, str]], limit: int = 4) -> str:
    """The rows the server will refuse, as lines for the confirmation (or '')."""
    if not found:
        return ""
    lines = [f"{counted(len(found), 'row')} will be refused (the others are imported):"]
    lines += [f"  line {line}: {why}" for line, why in found[:limit]]
    if len(found) > limit:
        lines.append(f"  … and {len(found) - limit:,} more")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def parse(path: Path, raw: bytes, max_rows: int = MAX_ROWS) -> ImportFile:
    """Read ``raw`` (the file at ``path``) with the server's own reader
    (``server.core.org_file.read_file``), or raise FileProblem with its reason."""
    try:
        return ImportFile(path, read_file(path.name, raw, max_rows))
    except StrongroomError as problem:
        raise FileProblem(problem.detail) from None


def read(name: str) -> ImportFile:
    """Read and parse the file a user typed (``~`` allowed); FileProblem if it cannot be."""
    path = Path(os.path.expanduser(name.strip()))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse(path, raw)


def chunk_size(total: int) -> int:
    """Rows per request: the bar moves in about 40 steps, 50 to 1,000 rows each."""
    return min(1000, max(50, math.ceil(total / 40)))


def chunk_csv(columns: list[str], rows: list[tuple[int, dict[str, str]]]) -> bytes:
    """A chunk as its own CSV file: a header naming ``columns``, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for _line, row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue().encode()


class ImportScreen(ModalScreen[int]):
    """Sends an ImportFile chunk by chunk; a progress bar, then each row's outcome.

    Dismissed with the number of organizations created. Esc stops after the chunk in
    flight (the rows not sent are listed as such), and closes once it is done.
    """

    BINDINGS = [Binding("escape", "close", "Stop / close", id="import-close")]

    def __init__(self, file: ImportFile) -> None:
        super().__init__()
        self._file = file
        self._results: list[tuple[int, str, str, str]] = []  # line, org, result, reason
        self._created = 0
        self._stop = False
        self._done = False

    def compose(self) -> ComposeResult:
        """Title, progress, the results list and the highlighted row's whole reason."""
        with Vertical(classes="dialog wide", id="import-dialog"):
            yield Static(inert(f"Importing {self._file.path.name}"), classes="dialog-title")
            yield Static(inert(self._file.summary()), id="import-status")
            yield ProgressBar(total=len(self._file.rows), show_eta=False, id="import-progress")
            table = DataTable(id="import-results", cursor_type="row", zebra_stripes=True)
            table.add_columns("Line", "Organization", "Result", "Reason")
            yield table
            yield Static("", id="import-detail")
            yield Static("Esc: stop (after the chunk in flight)", classes="dialog-keys")

    def on_mount(self) -> None:
        """Start sending."""
        self.query_one("#import-dialog").can_focus = False
        self.set_focus(self.query_one("#import-results", DataTable))
        self.send()

    @api_worker(exclusive=True, group="import")
    async def send(self) -> None:
        """POST each chunk, then record its rows' outcomes."""
        rows, columns = self._file.rows, self._file.columns
        size = chunk_size(len(rows))
        status = self.query_one("#import-status", Static)
        bar = self.query_one("#import-progress", ProgressBar)
        name = self._file.path.stem + ".csv"  # every chunk is sent as CSV
        sent = 0
        problem = ""
        while sent < len(rows) and not self._stop:
            chunk = rows[sent : sent + size]
            status.update(f"Sending rows {sent + 1:,} to {sent + len(chunk):,} of {len(rows):,}…")
            try:
                answer = await self.app.client.import_orgs(name, chunk_csv(columns, chunk))
            except ApiError as error:
                problem = error.detail
                break
            for (line, row), result in zip(chunk, answer["results"], strict=False):
                created = result["status"] == "created"
                self._created += created
                reason = "" if created else result.get("detail") or result.get("code") or ""
                self._results.append(
                    (line, row.get("display_name", ""), "created" if created else "refused", reason)
                )
            sent += len(chunk)
            bar.update(progress=sent)
            self._show()
        for line, row in rows[sent:]:
            self._results.append((line, row.get("display_name", ""), "not sent", problem))
        refused = sum(1 for r in self._results if r[2] == "refused")
        summary = f"Created {self._created:,}, refused {refused:,}"
        if sent < len(rows):
            summary += f", not sent {len(rows) - sent:,}"
            summary += f" ({problem})" if problem else " (stopped)"
        status.update(inert(summary + "."))
        self._show()
        self._done = True
        self.query_one(".dialog-keys", Static).update("Esc: close   ↑↓: a row's whole reason")

    def _show(self) -> None:
        fill_table(
            self.query_one("#import-results", DataTable),
            (
                (
                    str(index),
                    (
                        str(line),
                        inert(_cut(org, 20)),
                        Text(result, style="green" if result == "created" else "red"),
                        inert(_cut(reason, 40)),
                    ),
                )
                for index, (line, org, result, reason) in enumerate(self._results)
            ),
        )

    @on(DataTable.RowHighlighted, "#import-results")
    def row_detail(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted row's whole reason under the list."""
        index = int(event.row_key.value)
        line, org, result, reason = self._results[index]
        self.query_one("#import-detail", Static).update(
            inert(f"line {line}: {org} {result}" + (f": {reason}" if reason else ""))
        )

    def action_close(self) -> None:
        """Stop after the chunk in flight; close once finished."""
        if self._done:
            self.dismiss(self._created)
        else:
            self._stop = True
            self.query_one("#import-status", Static).update("Stopping after this chunk…")
