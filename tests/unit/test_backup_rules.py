"""Backup housekeeping rules that need no cluster: what the schedule prunes, and what
restore --force may replace."""

from __future__ import annotations

import json

import pytest

from server.backup import archive as backup


def _fake(folder, stamp: str, scheduled: bool) -> None:
    name = f"strongroom-node-{stamp}{backup.SUFFIX}"
    (folder / name).write_bytes(b"x")
    (folder / (name + backup.MANIFEST_SUFFIX)).write_text(
        json.dumps({"created_at": stamp, "scheduled": scheduled})
    )


def test_the_schedule_prunes_only_its_own_backups(tmp_path):
    """keep=1 deletes older scheduled backups and never one made by hand."""
    _fake(tmp_path, "20260101T010000Z", scheduled=False)
    _fake(tmp_path, "20260102T010000Z", scheduled=True)
    _fake(tmp_path, "20260103T010000Z", scheduled=True)
    gone = backup.prune(tmp_path, keep=1)
    assert [p.name for p in gone] == [f"strongroom-node-20260102T010000Z{backup.SUFFIX}"]
    left = sorted(p.name for p in tmp_path.glob("*" + backup.SUFFIX))
    assert left == [
        f"strongroom-node-20260101T010000Z{backup.SUFFIX}",
        f"strongroom-node-20260103T010000Z{backup.SUFFIX}",
    ]


def test_force_replaces_only_a_node(tmp_path):
    """--force refuses a folder that is not a Strongroom node, and a file, leaving both."""
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(backup.BackupError, match="not a Strongroom node"):
        backup.restore_backup(tmp_path / "none.srbk", folder, None, force=True)
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
    plain = tmp_path / "file"
    plain.write_text("x")
    with pytest.raises(backup.BackupError, match="not a directory"):
        backup.restore_backup(tmp_path / "none.srbk", plain, None, force=True)
