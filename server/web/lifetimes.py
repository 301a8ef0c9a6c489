"""Every lifetime of the web app (aiohttp ``cleanup_ctx``): the service environment, and
the background tasks that live as long as the app (audit chainer, failover monitor,
check-out sweeper, backup schedule, refused-request counts). Each creates, yields, then
cancels or closes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from replication.cluster import Cluster, ClusterError
from replication.monitor import Monitor
from server.backup.schedule import BackupStatus, run_schedule, watch_late
from server.node.mode import load_node
from server.services import master_key, rotation
from server.services.checkout_sweeper import run_sweeper
from server.services.denials import DenialLog, run_flusher
from server.services.notifications import Notifier
from server.services.runtime import make_env
from server.services.siem import Forwarder
from server.store import db
from server.store.chainer import run_chainer
from server.store.keyring import KeyRing
from server.web.keys import BACKUP_STATUS, CONFIG, DENIALS, ENV, FORWARDER, POOL

Lifetime = Callable[[web.Application], AsyncIterator[None]]


def every(ring: KeyRing) -> list[Lifetime]:
    """The app's lifetimes in start order (stopped in reverse): the environment first; the
    refusal counts last, so they are flushed while the others still run."""
    return [
        environment(ring),
        chainer_ctx,
        monitor_ctx,
        sweeper_ctx,
        rotation_ctx,
        backup_ctx,
        forwarder_ctx,
        notifier_ctx,
        denials_ctx,
    ]


def environment(ring: KeyRing) -> Lifetime:
    """The database pool and the service environment (``app[ENV]``) over it; the master
    key is checked against the database before anything else runs."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        pool = await db.create_pool(config)
        try:
            await master_key.check_master_key(ring, pool)
            await db.check_app_role(pool)
        except BaseException:
            await pool.close()
            raise
        app[POOL] = pool
        app[ENV] = make_env(config, pool, ring, load_node(config))
        yield
        await pool.close()

    return lifetime


async def _cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _task(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    return asyncio.create_task(coro, name=name)


async def chainer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the audit chainer while the app lives (it writes only on a primary)."""
    env = app[ENV]
    task = _task(
        run_chainer(
            env.pool,
            env.ring,
            may_write=env.node_state.records_in_database,
            anchors=env.anchors,
            node=env.node,
        ),
        "audit-chainer",
    )
    yield
    await _cancel(task)


async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the check-out sweeper while the app lives."""
    task = _task(run_sweeper(app[ENV]), "checkout-sweeper")
    yield
    await _cancel(task)


async def rotation_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the password schedule (issue 29) while the app lives; it acts on the primary."""
    task = _task(rotation.run_schedule(app[ENV]), "password-schedule")
    yield
    await _cancel(task)


async def backup_ctx(app: web.Application) -> AsyncIterator[None]:
    """The backup status for health, and the schedule's task when one is set."""
    env = app[ENV]
    status = BackupStatus(env.config)
    app[BACKUP_STATUS] = status
    stop = threading.Event()
    task = late = None
    if env.config.backup.schedule:
        task = _task(run_schedule(env, status, stop), "backup-schedule")
        late = _task(watch_late(env), "backup-late")
    yield
    if task is not None and late is not None:
        stop.set()
        await _cancel(late)
        await _cancel(task)


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the failover monitor while the app lives.

    Only for the embedded PostgreSQL: an external database (a Patroni or managed
    cluster) manages its own failover, and the node keeps its configured role.
    """
    env = app[ENV]
    if not env.config.database.embedded:
        yield
        return
    database = env.config.database
    cluster = None
    with contextlib.suppress(ClusterError):
        cluster = Cluster(env.config.path(database.data_dir), database.port, listen=database.listen)
    monitor = Monitor(env, cluster)
    task = _task(monitor.run(), "failover-monitor")
    yield
    await _cancel(task)
    await monitor.ship_before_stop()
    await monitor.close()


async def denials_ctx(app: web.Application) -> AsyncIterator[None]:
    """Count refused requests (``app[DENIALS]``, fed by the error middleware) and record
    each closed window's counts while the app lives; the open ones when it stops
    (server/services/denials.py)."""
    env = app[ENV]
    security = env.config.security
    denials = DenialLog(security.denials_window_seconds, security.denials_max_keys)
    app[DENIALS] = denials
    task = _task(run_flusher(env, denials), "denials-flusher")
    yield
    await _cancel(task)
    await denials.flush(env, everything=True)


async def forwarder_ctx(app: web.Application) -> AsyncIterator[None]:
    """Forward the audit trail to the orgs' SIEM destinations while the app lives (on a
    primary only; server/services/siem.py)."""
    forwarder = Forwarder(app[ENV])
    app[FORWARDER] = forwarder
    task = _task(forwarder.run(), "siem-forwarder")
    yield
    await _cancel(task)


async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    """Notify people by e-mail and webhook while the app lives (on a primary only;
    server/services/notifications.py)."""
    task = _task(Notifier(app[ENV]).run(), "notifier")
    yield
    await _cancel(task)
