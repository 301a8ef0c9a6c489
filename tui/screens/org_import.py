"""Importing organizations from a file: read it as the server does, preview the first
rows, then send it in chunks with a progress bar and every row's outcome.

The server imports one file per call (``POST /orgs/import``) and reports no progress
while it works. So the TUI reads and checks the file's shape here, with the server's
rules (server/services/org_file.py: a BOM, CRLF, quoted fields over several lines, a
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
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, ProgressBar, Static

from tui.client import ApiError
from tui.text import inert
from tui.widgets.pane import fill_table

COLUMNS = ("name", "display_name", "description", "account_manager", "department", "location")
REQUIRED = ("name", "display_name", "account_manager")
EXTENSIONS = (".csv", ".txt")
SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}
MAX_ROWS = 50_000  # the server's default limit (server.import_max_rows); larger: refused
PREVIEW_ROWS = 5


class FileProblem(Exception):
    """Why a file cannot be imported (nothing is sent)."""


@dataclass
class ImportFile:
    """A file read as the server reads it: its rows as {column: value}, with line numbers."""

    path: Path
    separator: str
    header: bool
    columns: list[str]  # the named columns, in the file's order
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    def summary(self) -> str:
        """'3 organizations, fields separated by commas, with a header row'."""
        count = len(self.rows)
        noun = "organization" if count == 1 else "organizations"
        head = "with a header row" if self.header else "no header row"
        return f"{count:,} {noun}, fields separated by {SEPARATORS[self.separator]}, {head}"

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


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def detect_separator(text: str) -> str:
    """A comma, unless the first record has no comma outside quotes and has semicolons
    (or else tabs): the server's rule."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    for separator in SEPARATORS:
        try:
            record = next(csv.reader([first], delimiter=separator), [])
        except csv.Error:
            continue
        if len(record) > 1:
            return separator
    return ","


def parse(path: Path, raw: bytes, max_rows: int = MAX_ROWS) -> ImportFile:
    """Read ``raw`` (the file at ``path``) into an ImportFile, or raise FileProblem with
    the reason the server would give."""
    if not path.name.lower().endswith(EXTENSIONS):
        raise FileProblem("only .csv and .txt files can be imported")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"the file is not UTF-8 (byte {exc.start} cannot be read)") from None
    separator = detect_separator(text)
    read_as = f"read as fields separated by {SEPARATORS[separator]}"
    records = _records(text, separator)
    if not records:
        raise FileProblem("the file holds no organizations")
    first_line, first = records[0]
    width = len(first)
    header = _header(first)
    body = records if header is None else records[1:]
    for line, row in body:
        if len(row) != width:
            raise FileProblem(
                f"line {line} has {len(row)} fields but line {first_line} has {width} ({read_as})"
            )
    if len(body) > max_rows:
        raise FileProblem(
            f"the file holds {len(body):,} organizations; one import may hold {max_rows:,}: "
            "split it into smaller files"
        )
    if header is None and width > len(COLUMNS):
        raise FileProblem(f"lines have {width} fields ({read_as}); at most {len(COLUMNS)} known")
    columns = header if header is not None else list(COLUMNS[:width])
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FileProblem(
            f"the file lacks the column(s) {', '.join(missing)} ({read_as}; "
            "add a header row naming the columns)"
        )
    rows = []
    for line, row in body:
        values = {}
        for position, (column, cell) in enumerate(zip(columns, row, strict=True), 1):
            if column:
                values[column] = cell.strip()
            elif cell.strip():
                raise FileProblem(
                    f"line {line}, field {position} holds a value but its header cell is empty"
                )
        rows.append((line, values))
    return ImportFile(path, separator, header is not None, [c for c in columns if c], rows)


def _records(text: str, separator: str) -> list[tuple[int, list[str]]]:
    """(first physical line, fields) of each non-blank record."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=separator, skipinitialspace=True, strict=True
    )
    found, end = [], 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if row and any(cell.strip() for cell in row):
                found.append((start, row))
    except csv.Error as exc:
        raise FileProblem(f"line {reader.line_num}: {exc}") from None
    return found


def _header(first: list[str]) -> list[str] | None:
    """The header's column names ('' for an empty cell), or None when the first record
    is data."""
    names = [cell.strip().lower() for cell in first]
    given = [n for n in names if n]
    if not given or not all(n in COLUMNS for n in given):
        return None
    duplicate = next((n for n in given if given.count(n) > 1), None)
    if duplicate:
        raise FileProblem(f"the header names the column {duplicate!r} twice")
    return names


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

    @work(exclusive=True, exit_on_error=False, group="import")
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
