"""Log files are created owner-only, and loose ones are tightened (issue 13, item 11)."""

from __future__ import annotations

import stat

from server.core.files import private_log
from server.ops.silent_install import StepLog


def test_private_log_creates_and_tightens(tmp_path):
    """A new log is 0600 in a 0700 logs folder; an existing 0644 log becomes 0600."""
    fresh = private_log(tmp_path / "logs" / "strongroom.log")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.parent.stat().st_mode) == 0o700
    loose = tmp_path / "old.log"
    loose.write_text("kept\n")
    loose.chmod(0o644)
    assert stat.S_IMODE(private_log(loose).stat().st_mode) == 0o600
    assert loose.read_text() == "kept\n"


def test_install_step_log_is_owner_only(tmp_path):
    """The silent installer's log (it names users and paths) is 0600."""
    log = StepLog(tmp_path / "install.log", echo=lambda _: None)
    log("step one")
    assert stat.S_IMODE((tmp_path / "install.log").stat().st_mode) == 0o600
