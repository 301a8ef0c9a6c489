"""The audit's names, filters and CSV export (no widgets here).

- ``Filters``: what the audit view is narrowed to, as the API's query.
- ``NameBook``: resource and account names for the ids an event's details carry.
- ``write_csv``: the events as CSV, every cell safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tui.client import ApiError, Client

ANY = "any"  # the picker's value for "no operation filter"
COLUMNS = (
    "at",
    "actor",
    "actor_org",
    "ip",
    "operation",
    "target_type",
    "target",
    "outcome",
    "reason",
    "details",
    "seq",
)
# OWASP CSV injection: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID_KEYS = {"resource_id": "resource", "account_id": "account"}
MAX_RESOURCES_OPENED = 100  # resources read to name accounts (the rest keep their ids)


def time_problem(value: str) -> str | None:
    """Why ``value`` is not a time the filter takes ('2026-12-01' or '2026-12-01 09:30')."""
    try:
        datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return "write it as 2026-12-01 or 2026-12-01 09:30 (local time)"
    return None


@dataclass
class Filters:
    """The audit view's filters ('' when not set); times are local, as typed (the list
    shows local times too), unless they name their zone."""

    operation: str = ""
    actor: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> dict[str, str]:
        """The API's query parameters for these filters."""
        out = {"operation": self.operation, "actor": self.actor}
        for key in ("since", "until"):
            value = getattr(self, key).strip()
            if value:
                moment = datetime.datetime.fromisoformat(value)
                if moment.tzinfo is None:  # as typed: this terminal's local time
                    moment = moment.astimezone()
                out[key] = moment.isoformat()
        return {k: v for k, v in out.items() if v}

    def describe(self) -> str:
        """'org_created · by admin · from 2026-12-01 to 2026-12-02', or 'none'."""
        parts = [
            f"{label}{value}"
            for label, value in (
                ("", self.operation.replace("_", " ")),
                ("by ", self.actor),
                ("from ", self.since),
                ("to ", self.until),
            )
            if value
        ]
        return " · ".join(parts) or "none"


class NameBook:
    """Names for the resource and account ids in events' details (and uuid targets)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.unknown: set[str] = set()  # ids looked for once and not found (deleted)

    async def learn(self, client: Client, org: str, events: list[dict]) -> None:
        """Name the ids ``events`` carry: from the events themselves (an account event's
        target is 'resource/account'), then from the resources I can see."""
        wanted: dict[str, str] = {}
        for event in events:
            details = event.get("details") or {}
            for key, kind in ID_KEYS.items():
                value = details.get(key)
                if not isinstance(value, str) or value in self.names:
                    continue
                target = event.get("target") or ""
                if event.get("target_type") == kind and (kind == "resource" or "/" in target):
                    self.names[value] = target
                else:
                    wanted[value] = kind
            target = event.get("target") or ""
            if UUID.match(target) and target not in self.names:
                wanted[target] = event.get("target_type") or ""
        wanted = {k: v for k, v in wanted.items() if k not in self.names and k not in self.unknown}
        if not wanted:
            return
        self.unknown |= wanted.keys()  # whatever is named below leaves it again
        try:
            resources = await client.resources(org)
        except ApiError:
            return  # names are a help: without them the ids stay
        for resource in resources:
            self.names.setdefault(resource["id"], resource["name"])
        self.unknown -= self.names.keys()
        if not any(kind != "resource" and key not in self.names for key, kind in wanted.items()):
            return
        for resource in resources[:MAX_RESOURCES_OPENED]:
            try:
                detail = await client.resource(org, resource["id"])
            except ApiError:
                continue
            for account in detail.get("accounts", []):
                self.names.setdefault(account["id"], f"{resource['name']}/{account['username']}")
        self.unknown -= self.names.keys()

    def target(self, event: dict) -> str:
        """The event's target, a name where the target is an id we can name."""
        target = event.get("target") or ""
        return self.names.get(target, target)

    def details(self, event: dict) -> dict:
        """The event's details with resource_id/account_id replaced by resource/account
        names where known (unknown ids stay, under their own key)."""
        out = {}
        for key, value in (event.get("details") or {}).items():
            if key in ID_KEYS and isinstance(value, str) and value in self.names:
                out[ID_KEYS[key]] = self.names[value]
            else:
                out[key] = value
        return out


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a
    leading apostrophe (OWASP CSV Injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def event_row(event: dict, book: NameBook) -> list[str]:
    """One event as the export's cells (``COLUMNS``), names instead of ids."""
    values = {
        **event,
        "target": book.target(event),
        "details": json.dumps(book.details(event), ensure_ascii=False, sort_keys=True),
    }
    return [safe_cell(values.get(column)) for column in COLUMNS]


def full_path(typed: str) -> str:
    """The absolute path a typed file name means ('~' expanded), as the user is told."""
    return os.path.abspath(os.path.expanduser(typed.strip()))


def write_csv(path: str, events: list[dict], book: NameBook) -> None:
    """Write ``events`` to a new file at ``path`` (``~`` allowed; readable by its owner
    only); an existing file is never overwritten (FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    descriptor = os.open(Path(os.path.expanduser(path)), flags, 0o600)
    with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerow(COLUMNS)
        for event in events:
            writer.writerow(event_row(event, book))
