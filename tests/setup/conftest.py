"""Fixtures for tests that run the real ``strongroom`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import scratch_dir

STRONGROOM = str(Path(sys.executable).parent / "strongroom")


def run_cli(*args: str, env: dict | None = None, timeout: float = 120):
    """Run the strongroom console script; return the completed process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [STRONGROOM, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def install_root() -> Iterator[Path]:
    """A scratch parent folder PostgreSQL's service user can reach; cleaned afterwards."""
    root = scratch_dir("strongroom-install-")
    yield root
    for conf in root.glob("*/conf/strongroom.toml"):
        run_cli("stop", "--config", str(conf), timeout=60)
    shutil.rmtree(root, ignore_errors=True)
