"""Files an install writes: durable replacement, and undoing a failed install."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from server.core import hostos


def write_durably(path: Path, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync'd, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    hostos.fsync_dir(path.parent)


def private_log(path: Path) -> Path:
    """Make ``path`` an owner-only (0600) log file, creating it if need be, so that no
    other local user reads what the server logs (OWASP Logging Cheat Sheet, "Protection");
    its folder becomes 0700. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.name == "logs":
        path.parent.chmod(0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    path.chmod(0o600)
    return path


def undo_install_dir(home: Path, created_home: bool) -> None:
    """Take back a failed install: the folder if it made it, else everything inside it."""
    if created_home:
        shutil.rmtree(home, ignore_errors=True)
        return
    for child in home.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
