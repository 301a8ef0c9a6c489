"""Scheduled backups on the primary, and the "last good backup" that health reports.

``backup_ctx`` (a cleanup_ctx) runs a task that sleeps until the next time
``[backup] schedule`` names, then, if this node is a writable primary, writes a backup
sealed for ``[backup] recipient`` in a worker thread, deletes all but the newest
``keep`` and records the outcome (``backup_created``, success or failure) in MSPOrg's
audit chain. ``watch_late`` (a second task) records ``backup_late`` once per lateness
when no scheduled backup succeeded within the interval plus a grace (``late_at``), which
the notifier tells MSPOrg's administrators. Sealing for a public key means the node
holds nothing that opens its own backups: a stolen disk with its backup folder gives
away no backup.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.backup import archive as backup
from server.backup import crypto as backup_crypto
from server.core.config import Config, parse_schedule
from server.services import recording
from server.services.context import Env
from server.store import db

log = logging.getLogger(__name__)


def seconds_until_next(schedule: str, now: datetime.datetime) -> float:
    """Seconds from ``now`` (aware, local time) until the schedule's next run.

    ``"HH:MM"``: the next such local time (tomorrow if it has passed today);
    ``"every N s|m|h"``: N from now.
    """
    parsed = parse_schedule(schedule)
    if parsed is None:
        raise ValueError(f"invalid backup schedule {schedule!r}")
    kind, value = parsed
    if kind == "every":
        return value
    minutes = int(value)
    target = now.replace(hour=minutes // 60, minute=minutes % 60, second=0, microsecond=0)
    if target <= now:
        target += datetime.timedelta(days=1)
    return (target - now).total_seconds()


@dataclass
class BackupStatus:
    """The newest good backup in the node's folder and the outcome of the last attempt."""

    config: Config
    last_good: dict[str, Any] | None = None
    last_failure_at: str | None = None
    last_failure: str | None = None
    _seen: tuple[int, int] | None = field(default=None, repr=False)

    def refresh(self, force: bool = False) -> None:
        """Re-read the folder when it changed (health is polled often; a stat is cheap)."""
        try:
            st = os.stat(self.config.path(self.config.backup.dir))
            seen = (st.st_mtime_ns, st.st_ino)
        except OSError:
            seen = (0, 0)
        if force or seen != self._seen:
            self.last_good = backup.last_backup(self.config)
            self._seen = seen

    def overdue(self, now: datetime.datetime) -> bool:
        """Whether backups are scheduled and the last good one is older than the bound."""
        if not self.config.backup.schedule:
            return False
        if self.last_good is None:
            return True
        at = datetime.datetime.fromisoformat(self.last_good["at"])
        return now - at > datetime.timedelta(hours=self.config.backup.max_age_hours)

    def as_dict(self) -> dict[str, Any]:
        """Health's ``last_backup``: {"at": last good (ISO 8601 UTC) or null, "ok": the
        last attempt succeeded, "file", "failure" (a failed attempt's reason)}."""
        self.refresh()
        failed_later = self.last_failure_at is not None and (
            self.last_good is None or self.last_failure_at > self.last_good["at"]
        )
        body: dict[str, Any] = {
            "at": self.last_good["at"] if self.last_good else None,
            "ok": self.last_good is not None and not failed_later,
            "file": self.last_good["file"] if self.last_good else None,
        }
        if failed_later:
            body["failure"] = self.last_failure
        return body


async def run_scheduled_backup(env: Env, status: BackupStatus, stop: threading.Event) -> bool:
    """Write one backup sealed for the configured recipient, prune, audit; answer success."""
    config = env.config
    started = datetime.datetime.now(datetime.UTC)
    try:
        seal = backup_crypto.recipient_seal(config.backup.recipient)
        # One thread writes and prunes: a stop that cancels this task while the backup is
        # being written cannot leave it written but the old ones unpruned (keep + 1 files).
        result, pruned = await asyncio.to_thread(_write_and_prune, config, seal, stop)
    except (backup.BackupError, backup_crypto.BackupCryptoError, OSError) as exc:
        status.last_failure_at = started.isoformat(timespec="seconds")
        status.last_failure = str(exc)
        log.error("scheduled backup failed: %s", exc)
        await _audit(env, "failure", "", _failure_details(exc))
        return False
    status.refresh(force=True)
    log.info(
        "scheduled backup %s written (%d bytes, %.1f s)",
        result.path.name,
        result.manifest["bytes"],
        result.seconds,
    )
    await _audit(env, "success", result.path.name, _backup_details(result, len(pruned)))
    return True


def _write_and_prune(
    config: Config, seal: Any, stop: threading.Event
) -> tuple[backup.BackupResult, list[Path]]:
    """Write a scheduled backup, then delete all but the newest ``backup.keep``."""
    result = backup.create_backup(config, seal, stop=stop, scheduled=True)
    return result, backup.prune(config.path(config.backup.dir), config.backup.keep)


def _backup_details(result: backup.BackupResult, pruned: int) -> dict[str, Any]:
    return {
        "bytes": result.manifest["bytes"],
        "sha256": result.manifest["sha256"],
        "schema_version": result.manifest["schema_version"],
        "seconds": round(result.seconds, 3),
        "pruned_count": pruned,
    }


def _failure_details(exc: Exception) -> dict[str, Any]:
    return {"error": str(exc)[:500]}


async def _audit(env: Env, outcome: str, target: str, details: dict[str, Any]) -> None:
    """Record a scheduled backup's outcome in MSPOrg's chain (logged if that fails)."""
    from server.services.orgs import SYSTEM

    try:
        msp_id = await env.pool.fetchval("SELECT id FROM orgs WHERE is_msp")
        async with db.transaction(env.pool, msp_id) as tx:
            await recording.writer(tx, env, msp_id, SYSTEM).record(
                "backup_created",
                target_type="backup",
                target=target,
                outcome=outcome,
                details=details,
            )
    except Exception:
        log.exception("could not audit the scheduled backup's outcome")


async def run_schedule(env: Env, status: BackupStatus, stop: threading.Event) -> None:
    """Run backups at the scheduled times forever (until cancelled); only a writable
    primary writes them, so after a failover the new primary takes over."""
    schedule = env.config.backup.schedule
    while True:
        now = datetime.datetime.now().astimezone()
        await asyncio.sleep(seconds_until_next(schedule, now))
        node = env.node_state
        if node.role != "primary" or not node.writable():
            continue
        await run_scheduled_backup(env, status, stop)


# --- a late backup (issue 31, item 2: "failed or late backup", MSPOrg administrators) ----

# The grace past the interval before a backup is late: a tenth of the interval (a daily
# backup 2.4 h past its time, an hourly one 6 min past, has not merely run long: it failed
# or never ran), plus the last good backup's own duration (its success is recorded when
# the dump ends, and an "every N" schedule counts N from the end of the previous run).
LATE_SHARE = 0.1


def interval_seconds(schedule: str) -> float:
    """The seconds between two scheduled backups: a day for ``"HH:MM"``, N for ``"every N"``.

    Raises:
        ValueError: the schedule is not one (the configuration checks it at start-up).
    """
    parsed = parse_schedule(schedule)
    if parsed is None:
        raise ValueError(f"invalid backup schedule {schedule!r}")
    kind, value = parsed
    return value if kind == "every" else 86400.0


def late_at(
    schedule: str,
    last_success: datetime.datetime | None,
    last_seconds: float,
    watching_since: datetime.datetime,
) -> datetime.datetime:
    """When the scheduled backup is late: its last success (or, with none, when this node
    began to decide as the primary) + the interval + the grace (``LATE_SHARE`` of the
    interval + the last success's own duration). Issue 31, item 2."""
    interval = interval_seconds(schedule)
    since = last_success if last_success is not None else watching_since
    grace = interval * LATE_SHARE + max(last_seconds, 0.0)
    return since + datetime.timedelta(seconds=interval + grace)


async def _last_outcomes(tx: db.Tx, msp_id: Any) -> tuple[Any, Any]:
    """MSPOrg's last scheduled backup success (id, at, details) and last ``backup_late``
    event id, from its audit trail: the state survives a restart and a failover."""
    success = await tx.fetchrow(
        "SELECT id, at, details FROM audit_events WHERE org_id = $1 "
        "AND operation = 'backup_created' AND outcome = 'success' ORDER BY id DESC LIMIT 1",
        msp_id,
    )
    late = await tx.fetchval(
        "SELECT id FROM audit_events WHERE org_id = $1 AND operation = 'backup_late' "
        "ORDER BY id DESC LIMIT 1",
        msp_id,
    )
    return success, late


async def check_late(
    env: Env, watching_since: datetime.datetime, now: datetime.datetime | None = None
) -> bool:
    """Record ``backup_late`` in MSPOrg's audit trail when the scheduled backup is late
    (``late_at``) and this lateness was not yet recorded; answer whether it recorded one.

    Once per lateness: a ``backup_late`` after the last success means it was told; only a
    success followed by a new lateness is told again. The notifier turns the event into a
    ``cluster_alert`` for MSPOrg's administrators (server/services/notifications.py). The
    caller runs this on a writable primary only (the primary decides).
    """
    from server.services.orgs import SYSTEM

    schedule = env.config.backup.schedule
    now = now or datetime.datetime.now(datetime.UTC)
    msp_id = await env.pool.fetchval("SELECT id FROM orgs WHERE is_msp")
    if msp_id is None:
        return False
    async with db.transaction(env.pool, msp_id) as tx:
        success, late = await _last_outcomes(tx, msp_id)
        if late is not None and (success is None or late > success["id"]):
            return False  # this lateness was told already
        last_at = success["at"] if success else None
        details: dict[str, Any] = {}
        if success is not None:
            raw = success["details"]
            details = raw if isinstance(raw, dict) else json.loads(raw)
        due = late_at(schedule, last_at, float(details.get("seconds") or 0), watching_since)
        if now <= due:
            return False
        await recording.writer(tx, env, msp_id, SYSTEM).record(
            "backup_late",
            target_type="backup",
            target="",
            outcome="failure",
            details={
                "schedule": schedule,
                "last_success_at": last_at.isoformat(timespec="seconds") if last_at else None,
                "due_by": due.isoformat(timespec="seconds"),
            },
        )
    log.warning("the scheduled backup is late (due by %s)", due.isoformat(timespec="seconds"))
    return True


async def watch_late(env: Env) -> None:
    """Check, while this node is the writable primary, whether the scheduled backup is
    late (``check_late``), every twentieth of the interval (between 0.5 s and a minute);
    forever, until cancelled. A failed check is logged and retried."""
    interval = interval_seconds(env.config.backup.schedule)
    every = min(60.0, max(0.5, interval / 20))
    watching_since: datetime.datetime | None = None
    while True:
        await asyncio.sleep(every)
        node = env.node_state
        if node.role != "primary" or not node.writable():
            watching_since = None
            continue
        if watching_since is None:
            watching_since = datetime.datetime.now(datetime.UTC)
        try:
            await check_late(env, watching_since)
        except Exception:
            log.exception("could not check whether the scheduled backup is late")
