"""Reading an organization import file: CSV as people really export it.

One org per record, an optional header row naming the columns (else the order
name, display_name, description, account_manager, department, location). What
spreadsheets do to such files is accepted:

- a BOM, CRLF line ends, quoted fields spanning lines, UTF-8 names;
- empty header cells (Excel pads the header row with trailing ``,,``): the column
  is ignored, but a value under an empty header fails the whole file, since
  nobody can say what it meant;
- semicolon- or tab-separated files (Excel in locales whose decimal mark is a
  comma): the separator is detected from the first record, and every error about
  the file's shape names the separator it was read with.

Every record must have the same number of fields, else nothing is imported and
the answer names the first bad line. A result's ``line`` is the first physical
line of its record. Files with more than ``max_rows`` organizations are refused
before anything is written (``413 payload_too_large`` with the limit), which bounds
the work, the audit rows and the answer of one import (OWASP ASVS 4.0 V12.1.1 and
the File Upload Cheat Sheet: limit what one upload may cost).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from server.core.errors import BadRequest, StrongroomError, coded


@dataclass
class OrgInput:
    """The fields of an org to create."""

    name: str
    display_name: str
    account_manager: str
    description: str = ""
    department: str = ""
    location: str = ""
    vault_control: str = "both"
    line: int = 0
    account_manager_id: uuid.UUID | None = field(default=None, repr=False)


COLUMNS = ("name", "display_name", "description", "account_manager", "department", "location")
REQUIRED = ("name", "display_name", "account_manager")
EXTENSIONS = (".csv", ".txt")
SEPARATORS = (",", ";", "\t")
_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def too_many_rows(limit: int) -> StrongroomError:
    """The 413 for a file with more than ``limit`` organizations."""
    err = StrongroomError(
        f"the file holds more than {limit} organizations, the most one import may hold; "
        "split it into smaller files (nothing was imported)",
        limit=limit,
    )
    err.status, err.code, err.title = 413, "payload_too_large", "Payload too large"
    return err


def detect_separator(text: str) -> str:
    """The field separator: a comma, unless the first record has no comma outside
    quotes and does have semicolons (or else tabs)."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    for separator in SEPARATORS:
        try:
            record = next(csv.reader([first], delimiter=separator), [])
        except csv.Error:  # a quoted field running on to the next line
            continue
        if len(record) > 1:
            return separator
    return ","


def _records(text: str, separator: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each non-blank record."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=separator, skipinitialspace=True, strict=True
    )
    end = 0  # the last line of the previous record
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if row and any(cell.strip() for cell in row):
                yield start, row
    except csv.Error as exc:
        raise coded(
            BadRequest, "bad_csv", f"line {reader.line_num}: {exc}", line=reader.line_num
        ) from None


def _columns(first: list[str], separator: str) -> list[str] | None:
    """The header's column names ('' for an ignored empty cell), or None without one."""
    names = [cell.strip().lower() for cell in first]
    given = [n for n in names if n]
    if not given or not all(n in COLUMNS for n in given):
        return None
    duplicate = next((n for n in given if given.count(n) > 1), None)
    if duplicate:
        raise coded(
            BadRequest,
            "duplicate_column",
            f"the header names the column {duplicate!r} twice",
        )
    return names


@dataclass
class OrgFile:
    """A file read as an import reads it: how, and each org's values with its line."""

    separator: str
    header: bool  # the first record named the columns
    columns: list[str]  # the named columns, in the file's order
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (line, values)

    @property
    def separator_name(self) -> str:
        """'commas', 'semicolons' or 'tabs'."""
        return _SEPARATOR_NAMES[self.separator]


def read_file(filename: str, raw: bytes, max_rows: int) -> OrgFile:
    """Read an import file into its rows (``{column: value}`` with the first line of each
    record), or raise a 400 (or the 413 of ``too_many_rows``) about the file, naming
    the line and the separator. The server imports from this; the TUI previews with it."""
    if not filename.lower().endswith(EXTENSIONS):
        raise coded(
            BadRequest,
            "unsupported_file_type",
            "only .csv and .txt files can be imported (comma separated, one org a line)",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise coded(
            BadRequest, "bad_encoding", f"the file is not UTF-8 (byte {exc.start} cannot be read)"
        ) from None
    separator = detect_separator(text)
    read_as = f"read as fields separated by {_SEPARATOR_NAMES[separator]}"
    records = _records(text, separator)
    first_line, first = next(records, (0, []))
    if not first:
        raise coded(BadRequest, "empty_file", "the file holds no organizations")
    width = len(first)
    header = _columns(first, separator)
    body = [] if header is not None else [(first_line, first)]
    # The row limit and the field counts first, streaming: a huge file is refused
    # after reading max_rows records, whatever else is wrong with it.
    for line, row in records:
        if len(row) != width:
            raise coded(
                BadRequest,
                "inconsistent_fields",
                f"line {line} has {len(row)} fields but line {first_line} has {width} "
                f"({read_as}); nothing was imported",
                line=line,
            )
        body.append((line, row))
        if len(body) > max_rows:
            raise too_many_rows(max_rows)
    if header is None and width > len(COLUMNS):
        raise coded(
            BadRequest,
            "too_many_fields",
            f"lines have {width} fields ({read_as}); at most {len(COLUMNS)} are known",
        )
    columns = header if header is not None else list(COLUMNS[:width])
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        where = (
            f"the header row lacks the column(s) {', '.join(missing)} ({read_as})"
            if header is not None
            else f"the file lacks the column(s) {', '.join(missing)} "
            f"({read_as}; add a header row naming the columns)"
        )
        raise coded(BadRequest, "missing_columns", where)
    rows = [(line, _values(line, row, columns)) for line, row in body]
    return OrgFile(separator, header is not None, [c for c in columns if c], rows)


def parse(filename: str, raw: bytes, max_rows: int) -> list[OrgInput]:
    """Turn the file into OrgInputs (with their first line numbers), or raise a 400
    (or 413) about the file; nothing is written either way."""
    return [
        OrgInput(
            name=values["name"],
            display_name=values["display_name"],
            account_manager=values["account_manager"],
            description=values.get("description", ""),
            department=values.get("department", ""),
            location=values.get("location", ""),
            line=line,
        )
        for line, values in read_file(filename, raw, max_rows).rows
    ]


def _values(line: int, row: list[str], columns: list[str]) -> dict[str, str]:
    """A record's cells by column name; a value under an empty header cell is a 400."""
    values: dict[str, str] = {}
    for position, (column, cell) in enumerate(zip(columns, row, strict=True), 1):
        if column:
            values[column] = cell.strip()
        elif cell.strip():
            raise coded(
                BadRequest,
                "value_without_column",
                f"line {line}, field {position} holds a value but its header cell is empty; "
                "name the column or empty the field (nothing was imported)",
                line=line,
            )
    return values
