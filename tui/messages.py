"""App-wide messages (widget-private ones are nested in their widgets)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class OrgSelected(Message):
    """The user picked another org in the top band."""

    org: str


@dataclass
class DataChanged(Message):
    """Something was created, changed or deleted: views that show it reload."""

    what: str = ""
