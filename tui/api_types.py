"""Plain data the API client hands out: errors, the server's state, an endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


class ApiError(Exception):
    """A request failed: ``code`` is the server's stable code (or a client-side one)."""

    def __init__(self, code: str, detail: str, status: int = 0, body: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.body = body or {}


@dataclass
class ServerState:
    """What the client knows about the node it talks to."""

    url: str
    role: str = "unknown"
    read_only: bool = False
    degraded: bool = False
    term: int = 0
    first_login_hint: str | None = None  # where a fresh node's first password is kept
    last_backup_at: str | None = None  # the newest good backup (ISO 8601), if any
    last_backup_failed: bool = False  # the latest scheduled attempt failed


@dataclass
class Endpoint:
    """A server address and the org named in it (https://host:7272/abc → org abc)."""

    base: str
    org: str | None = None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Split a URL that may carry an org display name as its path."""
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme != "https":
            raise ApiError("bad_url", f"{url}: Strongroom speaks HTTPS only")
        org = parts.path.strip("/") or None
        port = f":{parts.port}" if parts.port else ":7272"
        return cls(f"https://{parts.hostname}{port}", org)
