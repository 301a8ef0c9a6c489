"""The audit chainer: a background task on the primary that links committed audit
events into their orgs' hash chains within a fraction of a second."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from server.store import audit
from server.store.anchors import AnchorLog
from server.store.keyring import KeyRing

log = logging.getLogger(__name__)

INTERVAL = 0.05  # seconds between rounds that found nothing to link
# Seconds after a round that linked events: under load a round's fixed cost (a transaction
# per org, the anchor's read and its fsync'd append) is shared by more events, where at
# INTERVAL it took about 4 % of the server's time during a reveal load (issue 28). An
# event still reaches its chain within about a quarter of a second.
BUSY_INTERVAL = 0.25


async def run_chainer(
    pool: asyncpg.Pool,
    ring: KeyRing,
    interval: float = INTERVAL,
    may_write: Callable[[], bool] = lambda: True,
    anchors: AnchorLog | None = None,
    node: str = "",
) -> None:
    """Chain pending events forever (until cancelled), logging but surviving failures.

    Rounds come every ``interval`` seconds while there is nothing to link, and every
    BUSY_INTERVAL after a round that linked events. Chaining writes, so it pauses while
    ``may_write()`` is false (a secondary, a fenced primary) and resumes on its own after
    a promotion.
    """
    failing = False
    while True:
        if not may_write():
            await asyncio.sleep(interval * 4)
            continue
        linked = 0
        try:
            linked = await audit.chain_pending(pool, ring, anchors=anchors, node=node)
            if failing:
                log.info("audit chaining works again")
            failing = False
        except (asyncpg.PostgresError, OSError, asyncpg.TargetServerAttributeNotMatched) as exc:
            # The last: an external cluster with no writable host for now (issue 33).
            if not failing:
                log.error("audit chaining failed (will retry): %s", exc)
            failing = True
        except Exception:
            log.exception("audit chaining failed unexpectedly (will retry)")
            failing = True
        await asyncio.sleep(BUSY_INTERVAL if linked and interval < BUSY_INTERVAL else interval)
