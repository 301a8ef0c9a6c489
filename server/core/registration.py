"""The registration details an install records (issue 34, item 3): the guide's Name,
MailId, Phone, Company and Country, kept in ``conf/registration.json`` by the silent
install and shown by ``strongroom status`` and the TUI's server view (GET /cluster, MSPOrg
administrators), never by the unauthenticated GET /health."""

from __future__ import annotations

import json
from pathlib import Path

REGISTRATION_FILE = Path("conf") / "registration.json"
# (key in the file, the answer file's name for it)
FIELDS = (
    ("name", "Name"),
    ("mail", "MailId"),
    ("phone", "Phone"),
    ("company", "Company"),
    ("country", "Country"),
)


def read_registration(home: Path) -> dict[str, str] | None:
    """The registration details of the node installed in ``home``: each of ``FIELDS``
    (empty when not given); None when the node was not made by a silent install or the
    file cannot be read."""
    try:
        data = json.loads((home / REGISTRATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {key: str(data.get(key) or "") for key, _ in FIELDS}


def registration_lines(details: dict[str, str] | None) -> list[str]:
    """``Name: …`` lines for a person to read; "-" for a detail not given."""
    if details is None:
        return ["(none recorded: this node was not made by a silent install)"]
    return [f"{label}: {details.get(key) or '-'}" for key, label in FIELDS]
