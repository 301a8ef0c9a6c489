"""The first administrator's generated password: where init keeps it, and when it goes.

``strongroom init`` (and the silent installer) keep a generated password in
``conf/initial-admin-password`` (0600). While that file exists, GET /api/v1/health names
it (the path inside the install directory, never the password), so the TUI's login
screen can tell a new administrator where to look. The file is removed when the password
in it is changed, so the hint disappears after the first login.
"""

from __future__ import annotations

import hmac
from pathlib import Path

from server.core.config import Config

INITIAL_PASSWORD_FILE = "conf/initial-admin-password"  # noqa: S105 - a path, not a secret


def initial_password_path(config: Config) -> Path:
    """Where this node keeps its first administrator's generated password."""
    return Path(config.home) / INITIAL_PASSWORD_FILE


def pending_hint(config: Config) -> str | None:
    """The file's path relative to the install directory while it exists, else None."""
    return INITIAL_PASSWORD_FILE if initial_password_path(config).exists() else None


def forget_if_changed(config: Config, old_password: str) -> None:
    """Remove the file once the password it holds has been changed (it is no use then)."""
    path = initial_password_path(config)
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except OSError:
        return
    if hmac.compare_digest(kept.encode(), old_password.encode()):
        path.unlink(missing_ok=True)
