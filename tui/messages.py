"""App-wide messages (widget-private ones are nested in their widgets)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class OrgSelected(Message):
    """The user picked another org in the top band."""

    org: str


@dataclass
class ServerChanged(Message):
    """The client now talks to another node, or the node's role changed."""

    role: str
    read_only: bool
    url: str
