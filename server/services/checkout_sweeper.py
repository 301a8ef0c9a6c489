"""The sweeper: checks in every password check-out whose window has ended (rotating the
password where its access control says so), and hourly purges audit events past each
org's retention, ended-session records past their lifetime and deleted orgs past their
recovery window (issue 27); on a writable node only."""

from __future__ import annotations

import asyncio
import logging

from server.services import audit_settings, directory, orgs, password_requests, session_moves
from server.services.context import Env
from server.store import db

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 5.0  # an ended window is checked in at most this long after its end
PURGE_EVERY_SECONDS = 3600.0
DIRECTORY_EVERY_SECONDS = 60.0  # how often orgs' directory syncs are looked at (issue 32)


async def run_sweeper(env: Env, interval: float = INTERVAL_SECONDS) -> None:
    """Sweep forever; a failure is logged once and retried next round."""
    failing = False
    loop = asyncio.get_running_loop()
    next_purge = loop.time() + 60.0  # not in the first minute of a start
    next_directory_sync = loop.time() + 30.0
    while True:
        try:
            if env.node_state.records_in_database():
                done = await password_requests.sweep(env)
                if done:
                    log.info("checked in %d ended password check-out(s)", done)
                if loop.time() >= next_directory_sync:
                    next_directory_sync = loop.time() + DIRECTORY_EVERY_SECONDS
                    await directory.sync_due(env)
                if loop.time() >= next_purge:
                    next_purge = loop.time() + PURGE_EVERY_SECONDS
                    purged = await audit_settings.purge_all(env)
                    if purged:
                        log.info("purged %d audit event(s) past their retention", purged)
                    await session_moves.purge_ended(env)
                    gone = await orgs.purge_due(env)  # deleted orgs past their window
                    if gone:
                        log.info("purged %d deleted org(s) past their recovery window", gone)
            failing = False
        except db.RETRYABLE as exc:
            if not failing:
                log.error("check-out sweep failed (will retry): %s", exc)
            failing = True
        except Exception:
            log.exception("check-out sweep failed unexpectedly (will retry)")
            failing = True
        await asyncio.sleep(interval)
