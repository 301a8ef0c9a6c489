"""Commands as the program prints them, so that each can be pasted as printed (issue 34,
item 4): the program named as the user can type it, every argument quoted for the shell
it runs in (POSIX sh, or cmd.exe / PowerShell on Windows)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from server.core import hostos


def quoted(arg: str | Path) -> str:
    """``arg`` as one shell word (``shlex.quote`` on POSIX, Windows' rules there)."""
    text = str(arg)
    if hostos.IS_WINDOWS:
        return subprocess.list2cmdline([text])
    return shlex.quote(text)


def self_command() -> str:
    """This program as the user can type it: ``strongroom`` when that is on PATH and is
    this very program, else its full path, else ``python -m server.ops.cli``."""
    here = Path(sys.argv[0]).absolute() if sys.argv and sys.argv[0] else None
    on_path = shutil.which("strongroom")
    if here is not None and here.stem == "strongroom" and here.exists():
        if on_path and Path(on_path).resolve() == here.resolve():
            return "strongroom"
        return quoted(here)
    return f"{quoted(sys.executable)} -m server.ops.cli"


def command(*words: str | Path) -> str:
    """``strongroom WORDS…`` as it can be pasted: the program (``self_command``), then
    each word quoted."""
    return " ".join([self_command(), *(quoted(w) for w in words)])
