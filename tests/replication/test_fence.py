"""The fence's rules without a cluster: what counts as a standby keeping up, and what
may open a primary."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from replication.fence import STANDBY_FRESH, StandbyWatch
from server.node.mode import HaState, Node

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _row(reply_s: float, flushed: int, sent: int, state: str = "streaming") -> dict:
    return {
        "state": state,
        "sync_state": "sync",
        "reply_time": T0 + datetime.timedelta(seconds=reply_s),
        "flushed": flushed,
        "sent": sent,
    }


def test_a_stale_streaming_row_never_counts():
    """A row whose reply never changes (a walsender that has not noticed a cut) is not
    evidence, however long it says streaming."""
    watch = StandbyWatch()
    for step in range(10):
        watch.observe(_row(0.0, 100, 100 + step), float(step))
    assert not watch.keeps_up(9.0)


def test_replies_that_do_not_cover_sent_wal_do_not_count():
    """A standby cut off from the primary's WAL still replies, but its flush position no
    longer covers what was sent: it stops keeping up."""
    watch = StandbyWatch()
    watch.observe(_row(0.0, 100, 100), 0.0)  # baseline
    watch.observe(_row(1.0, 100, 100), 1.0)
    assert watch.keeps_up(1.0) and watch.in_sync(1.0)
    for step in range(2, 8):  # WAL sent (200+), replies keep coming, flush stays at 100
        watch.observe(_row(float(step), 100, 200 + step), float(step))
    assert not watch.keeps_up(7.0)
    assert watch.away(7.0) >= STANDBY_FRESH


def test_first_reply_after_a_reconnect_is_only_a_baseline():
    """A row seen for the first time (or again after it was gone) proves nothing yet."""
    watch = StandbyWatch()
    watch.observe(_row(0.0, 100, 100), 0.0)
    assert not watch.keeps_up(0.0)
    watch.observe(None, 1.0)
    watch.observe(_row(5.0, 100, 100), 2.0)
    assert not watch.keeps_up(2.0)
    watch.observe(_row(6.0, 100, 100), 2.5)
    assert watch.keeps_up(2.5)


def test_only_a_lease_renewal_reopens_a_fenced_primary(tmp_path: Path):
    """Standby evidence extends an open primary's deadline but never reopens a fenced one;
    a lease renewal does."""
    node = Node("node1", "primary", tmp_path / "ha.json", HaState(), witness=True)
    node.write_deadline = 0.0  # fenced (as at start, or after its deadline passed)
    node.standby_kept_up(time.monotonic() + 60)
    assert not node.writable() and node.fenced()
    node.lease_renewed(time.monotonic() + 60)
    assert node.writable()
    node.standby_kept_up(time.monotonic() + 120)
    assert node.write_deadline > time.monotonic() + 100
