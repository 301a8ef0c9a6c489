"""The TUI's only way to the server: a small typed client over the REST API.

``transport`` wraps an aiohttp session, pins the server's certificate (trust on first
use, or a CA bundle), follows a primary/secondary pair, and turns every failure into an
``ApiError`` with the server's stable code and one human sentence. One module per domain
(session, orgs, users, vault, access, rotation, settings, audit) holds that domain's requests and
the shapes of their answers (``tui.api_types``); ``Client`` is all of them together.
"""

from __future__ import annotations

from tui.api_types import ApiError, Endpoint, ServerState
from tui.client.access import AccessApi
from tui.client.audit import AuditApi
from tui.client.notify import NotifyApi
from tui.client.orgs import OrgsApi
from tui.client.rotation import RotationApi
from tui.client.session import SessionApi
from tui.client.settings import SettingsApi
from tui.client.transport import (
    KNOWN_HOSTS,
    LIST_PAGE,
    LIST_PAGES,
    MOVE_WAIT,
    SESSION_ENDED,
    problem_error,
    read_only_sentence,
    reason,
)
from tui.client.users import UsersApi
from tui.client.vault import VaultApi

__all__ = [
    "KNOWN_HOSTS",
    "LIST_PAGE",
    "LIST_PAGES",
    "MOVE_WAIT",
    "SESSION_ENDED",
    "ApiError",
    "Client",
    "Endpoint",
    "ServerState",
    "problem_error",
    "read_only_sentence",
    "reason",
]


class Client(
    AccessApi,
    AuditApi,
    OrgsApi,
    RotationApi,
    SettingsApi,
    VaultApi,
    SessionApi,
    UsersApi,
    NotifyApi,
):
    """REST client for one Strongroom pair (primary first, then the secondary): every
    domain's requests over one ``Transport`` (built as ``Client(endpoints, ...)``)."""
