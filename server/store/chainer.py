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

INTERVAL = 0.05


async def run_chainer(
    pool: asyncpg.Pool,
    ring: KeyRing,
    interval: float = INTERVAL,
    may_write: Callable[[], bool] = lambda: True,
    anchors: AnchorLog | None = None,
    node: str = "",
) -> None:
    """Chain pending events forever (until cancelled), logging but surviving failures.

    Chaining writes, so it pauses while ``may_write()`` is false (a secondary, a fenced
    primary) and resumes on its own after a promotion.
    """
    failing = False
    while True:
        if not may_write():
            await asyncio.sleep(interval * 4)
            continue
        try:
            await audit.chain_pending(pool, ring, anchors=anchors, node=node)
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
        await asyncio.sleep(interval)
