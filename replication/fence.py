"""How a primary knows its standby keeps up, measured on the primary's own clock.

The primary may keep writing while its standby follows it (the standby cannot be
promoted while it confirms this primary's WAL), and it may drop to asynchronous
replication only once the standby has stopped following. Both need proof that the
standby follows *now*, and a ``streaming`` row in ``pg_stat_replication`` is not
that proof: after a silent link cut the walsender keeps its row until
``wal_sender_timeout``, and a standby cut off from the primary's WAL still sends
status replies.

The proof used here is a *new* reply (``reply_time`` changed since the last look,
compared as a value, so the hosts' clocks never matter) whose ``flush_lsn`` covers
WAL that this primary had sent at a moment it noted itself. Such a reply shows the
standby had everything sent up to that moment: the standby kept up then.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

# A standby that confirmed WAL this recently keeps up (it replies every second,
# wal_receiver_status_interval, and at once after each flush while WAL flows).
STANDBY_FRESH = 2.0
# An open primary whose standby confirmed WAL at t may keep writing until t + this. Not
# a safety margin (a standby that stopped following no longer acknowledges synchronous
# commits), only room for a late monitor step on a busy machine.
STANDBY_HOLD = 3.0
_HISTORY = 10.0  # seconds of sent positions kept to match replies against

STANDBY_SQL = """
SELECT state, sync_state, reply_time,
       (flush_lsn - '0/0'::pg_lsn)::bigint AS flushed,
       (sent_lsn - '0/0'::pg_lsn)::bigint AS sent
FROM pg_stat_replication
WHERE application_name = $1
ORDER BY reply_time DESC NULLS LAST
LIMIT 1
"""

_UNSEEN = object()


class StandbyWatch:
    """When the standby last confirmed this primary's WAL (monotonic seconds)."""

    def __init__(self) -> None:
        self.kept_up_at = -math.inf
        self.sync_state = ""
        self._reply: Any = _UNSEEN
        self._sent: deque[tuple[float, int]] = deque()

    def observe(self, row: Any, now: float) -> None:
        """Take one sample of the standby's ``pg_stat_replication`` row.

        Args:
            row: the row of ``STANDBY_SQL`` (None when the standby is not connected).
            now: the monotonic time the row was read.
        """
        if row is None or row["state"] != "streaming" or row["sent"] is None:
            # Gone or (re)starting: the next reply seen is only a baseline, so a row
            # left over from before a cut can never count as news.
            self._reply = _UNSEEN
            self._sent.clear()
            self.sync_state = ""
            return
        self.sync_state = row["sync_state"] or ""
        self._sent.append((now, row["sent"]))
        while self._sent and self._sent[0][0] < now - _HISTORY:
            self._sent.popleft()
        reply = row["reply_time"]
        if self._reply is _UNSEEN:
            self._reply = reply
            return
        if reply == self._reply or row["flushed"] is None:
            return
        self._reply = reply
        confirmed = [at for at, sent in self._sent if sent <= row["flushed"]]
        if confirmed:
            self.kept_up_at = max(self.kept_up_at, max(confirmed))

    def keeps_up(self, now: float) -> bool:
        """True when the standby confirmed this primary's WAL within ``STANDBY_FRESH``."""
        return now - self.kept_up_at < STANDBY_FRESH

    def in_sync(self, now: float) -> bool:
        """True when it keeps up and is the synchronous standby (what the witness records)."""
        return self.keeps_up(now) and self.sync_state == "sync"

    def away(self, now: float) -> float:
        """Seconds since the standby last confirmed WAL (inf if it never did)."""
        return now - self.kept_up_at
