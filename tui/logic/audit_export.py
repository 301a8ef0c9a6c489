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
            for value, kind in refused_ids(details):
                if value not in self.names:
                    wanted[value] = kind
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
        """The event's target, a name where the target is an id we can name; a refused
        request's in words ('read org acme > account fw/root > reveal'), never its API
        route (issue 35)."""
        target = event.get("target") or ""
        if event.get("target_type") == "route":
            details = event.get("details") or {}
            paths = details.get("paths") or []
            method, _, route = target.partition(" ")
            return request_words(
                details.get("method") or method,
                details.get("route") or route,
                paths[0] if len(paths) == 1 else "",
                self.names,
            )
        return self.names.get(target, target)

    def details(self, event: dict) -> dict:
        """The event's details with resource_id/account_id replaced by resource/account
        names where known (unknown ids stay, under their own key); a refused request's
        method, route and paths as the requests in words."""
        out: dict = {}
        details = event.get("details") or {}
        if "route" in details and "paths" in details:
            method, route = details.get("method") or "", details.get("route") or ""
            out["requests"] = [
                request_words(method, route, path, self.names) for path in details["paths"]
            ] or [request_words(method, route, "", self.names)]
            details = {k: v for k, v in details.items() if k not in REQUEST_KEYS}
        for key, value in details.items():
            if key in ID_KEYS and isinstance(value, str) and value in self.names:
                out[ID_KEYS[key]] = self.names[value]
            else:
                out[key] = value
        return out


REQUEST_KEYS = ("method", "route", "paths")  # a refused request's, said as its words
API_PREFIX = "/api/v1"
METHOD_WORDS = {
    "GET": "read",
    "HEAD": "read",
    "POST": "ask",
    "PUT": "replace",
    "PATCH": "change",
    "DELETE": "delete",
}


def _segments(path: str) -> list[str]:
    return [s for s in path.removeprefix(API_PREFIX).split("/") if s]


def _singular(word: str) -> str:
    """'policies' → 'policy', 'accounts' → 'account', 'access' → 'access'."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _spoken(segment: str) -> str:
    return segment.replace("-", " ").replace("_", " ")


def refused_ids(details: dict) -> list[tuple[str, str]]:
    """The ids inside a refused request's paths, each with its kind ('resource',
    'account'), taken from the route: ``(id, kind)``."""
    route = details.get("route")
    if not isinstance(route, str):
        return []
    pattern = _segments(route)
    found = []
    for path in details.get("paths") or []:
        parts = _segments(path) if isinstance(path, str) else []
        if len(parts) != len(pattern):
            continue
        for index, (name, value) in enumerate(zip(pattern, parts, strict=True)):
            if name.startswith("{") and UUID.match(value) and index > 0:
                found.append((value, _singular(pattern[index - 1])))
    return found


def request_words(method: str, route: str, path: str, names: dict[str, str]) -> str:
    """A refused request as words, never its API route nor an id: 'GET',
    '/api/v1/orgs/{org}/accounts/{id}/reveal' and '/api/v1/orgs/acme/accounts/<id>/reveal'
    → 'read org acme > account fw/root > reveal' (an id not named here: 'an account';
    no path: 'read org > account > reveal'). Source: issue 35 (words, not the API)."""
    pattern = _segments(route)
    parts = _segments(path) if path else []
    if len(parts) != len(pattern):
        parts = []
    pieces: list[str] = []
    index = 0
    while index < len(pattern):
        name = pattern[index]
        following = pattern[index + 1] if index + 1 < len(pattern) else ""
        if following.startswith("{"):
            kind = _spoken(_singular(name))
            value = parts[index + 1] if parts else ""
            if UUID.match(value):
                named = names.get(value)
                article = "an" if kind[:1] in "aeiou" else "a"
                pieces.append(f"{kind} {named}" if named else f"{article} {kind}")
            else:
                pieces.append(f"{kind} {value}".rstrip())
            index += 2
        elif name.startswith("{"):
            index += 1  # a value with no name before it says nothing in words
        else:
            pieces.append(_spoken(name))
            index += 1
    verb = METHOD_WORDS.get(method.upper(), method.lower())
    if method.upper() == "POST" and pattern and not pattern[-1].startswith("{") and pieces:
        last = pattern[-1]
        listed = last.endswith("s") and not last.endswith("ss")  # 'users': a list
        if len(pattern) > 1 and pattern[-2].startswith("{") and not listed:
            # an action on one thing: 'reveal org acme > account fw/root' (issue 35:
            # "send org … > reveal" said nothing)
            return f"{pieces[-1]} {' > '.join(pieces[:-1])}".strip()
        verb = "add to"  # a new one in a list: 'add to org acme > users'
    return f"{verb} {' > '.join(pieces)}".strip()


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
