"""The audit chainer: a background task on the primary that links committed audit
events into their orgs' hash chains within a fraction of a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from server import audit
from server.anchors import AnchorLog
from server.keys import ENV

log = logging.getLogger(__name__)

INTERVAL = 0.05


async def run_chainer(
    pool: asyncpg.Pool,
    ring,
    interval: float = INTERVAL,
    may_write=lambda: True,
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
        except (asyncpg.PostgresError, OSError) as exc:
            if not failing:
                log.error("audit chaining failed (will retry): %s", exc)
            failing = True
        except Exception:
            log.exception("audit chaining failed unexpectedly (will retry)")
            failing = True
        await asyncio.sleep(interval)


async def chainer_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: run the chainer while the app lives (it writes only on a primary)."""
    env = app[ENV]
    task = asyncio.create_task(
        run_chainer(
            env.pool,
            env.ring,
            may_write=env.node_state.writable,
            anchors=env.anchors,
            node=env.node,
        ),
        name="audit-chainer",
    )
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
