"""The program files of an installed node, so that it does not depend on the checkout or
the virtual environment it was installed from (a ``git pull`` or a removed checkout must
not change or break a running server).

``<install>/program/runtime``  a virtual environment made by this interpreter, holding the
                               third-party distributions Strongroom needs, copied file by
                               file from the installing environment (same interpreter, so
                               compiled extensions fit; no network needed)
``<install>/program/app``      ``server/``, ``tui/``, ``replication/`` and ``sql/``, put on
                               the runtime's path by ``strongroom.pth``
``<install>/bin/strongroom``   the command for the administrator (status, tui, backups...)

The service runs ``runtime_python(home) -m server.ops.cli serve``.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]  # the tree this program runs from
PROGRAM_DIRS = ("server", "tui", "replication", "sql")


class ProgramFilesError(Exception):
    """The program could not be copied into the install directory."""


def runtime_python(home: Path, windows: bool = os.name == "nt") -> Path:
    """The interpreter an installed node runs with."""
    runtime = home / "program" / "runtime"
    return runtime / "Scripts" / "python.exe" if windows else runtime / "bin" / "python"


def install_program(home: Path, progress: Callable[[str], None]) -> Path:
    """Lay out ``program/`` and ``bin/`` in ``home``; return the interpreter to run."""
    runtime = home / "program" / "runtime"
    progress(f"making the runtime environment {runtime}")
    _run([sys.executable, "-m", "venv", "--without-pip", str(runtime)])
    python = runtime_python(home)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]))
    dists = _runtime_distributions()
    progress(f"copying {len(dists)} libraries into the runtime")
    for dist in dists:
        _copy_distribution(dist, site)
    app = home / "program" / "app"
    progress(f"copying the program into {app}")
    for name in PROGRAM_DIRS:
        shutil.copytree(
            SOURCE / name, app / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    (site / "strongroom.pth").write_text(f"{app}\n", encoding="utf-8")
    _write_command(home, python)
    _run([str(python), "-c", "import server.ops.cli, tui.app, replication.monitor"])
    return python


def _run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ProgramFilesError(
            f"{' '.join(cmd[:3])} failed: {detail[-1] if detail else result.returncode}"
        )
    return result.stdout.strip()


def _runtime_distributions() -> list[metadata.Distribution]:
    """Every distribution Strongroom needs at run time (pyproject's dependencies and
    theirs, without extras), as installed here. A requirement that is not installed is
    one whose marker excludes this interpreter (it would have been installed otherwise)."""
    project = tomllib.loads((SOURCE / "pyproject.toml").read_text(encoding="utf-8"))
    found: dict[str, metadata.Distribution] = {}
    wanted = list(project["project"]["dependencies"])
    while wanted:
        name = _canonical(re.match(r"[A-Za-z0-9._-]+", wanted.pop()).group(0))
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist
        wanted += [r for r in dist.requires or [] if not _extra_only(r)]
    return list(found.values())


def _extra_only(requirement: str) -> bool:
    return re.search(r"\bextra\s*==", requirement) is not None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    """Copy a distribution's files that live in site-packages (not its scripts)."""
    for entry in dist.files or []:
        if entry.parts[0] == ".." or "__pycache__" in entry.parts:
            continue
        source = Path(dist.locate_file(entry))
        if not source.is_file():
            continue
        target = site / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _write_command(home: Path, python: Path) -> None:
    """``bin/strongroom``: the installed node's own command line, using this install's
    configuration unless told otherwise."""
    bin_dir = home / "bin"
    bin_dir.mkdir(exist_ok=True)
    config = home / "conf" / "strongroom.toml"
    if os.name == "nt":
        (bin_dir / "strongroom.cmd").write_text(
            f'@if not defined STRONGROOM_CONFIG set "STRONGROOM_CONFIG={config}"\r\n'
            f'@"{python}" -m server.ops.entry %*\r\n',
            encoding="utf-8",
        )
        return
    command = bin_dir / "strongroom"
    command.write_text(
        f'#!/bin/sh\n: "${{STRONGROOM_CONFIG:={config}}}"\nexport STRONGROOM_CONFIG\n'
        f'exec "{python}" -m server.ops.entry "$@"\n',
        encoding="utf-8",
    )
    command.chmod(0o755)
