"""A deposed primary whose new primary does not answer: wait, serving only its state.

``strongroom serve`` on a former primary must rejoin before its database may start.
When the peer's PostgreSQL does not answer, the node neither exits nor touches its
data: it listens on its HTTPS port with no database, answers health with
``status: unavailable`` and why it waits (``rejoin``), refuses every other request
with ``503 read_only`` naming the peer, and tries the rejoin again every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl

from aiohttp import web

from replication.cluster import Cluster, ClusterError
from replication.rejoin import PeerUnreachable, peer_source, rejoin_cluster
from server.core.config import Config
from server.node.mode import HaState, ha_state_path
from server.web.problem import json_response, problem

log = logging.getLogger("strongroom.rejoin")

RETRY = 3.0  # seconds between rejoin attempts

_WAIT = web.AppKey("rejoin_wait", dict)


async def _health(request: web.Request) -> web.Response:
    return json_response(request.app[_WAIT], status=503)


_READS_TOO = ("/reveal", "/auth/login", "/auth/logout")  # what a read-only node still does


async def _refuse(request: web.Request) -> web.Response:
    """Every request answers at once: a write ``read_only``; a read, login or reveal (which
    a read-only node would answer, but this one has no database running) ``rejoining``,
    both naming the primary (issue 33, item 6)."""
    state = request.app[_WAIT]
    if request.method in ("GET", "HEAD") or request.path.endswith(_READS_TOO):
        return problem(
            503,
            "rejoining",
            "Rejoining",
            "this node was replaced as primary and has no database while it waits to "
            f"rejoin ({state['rejoin']}): read from the primary",
            primary=state["primary"],
        )
    return problem(
        503,
        "read_only",
        "Read-only node",
        f"this node was replaced as primary and waits to rejoin: {state['rejoin']}",
        primary=state["primary"],
    )


async def wait_and_rejoin(
    config: Config, cluster: Cluster, ssl_ctx: ssl.SSLContext, reason: str
) -> bool:
    """Rejoin as the peer's standby, serving health meanwhile (see the module docstring).

    Args:
        config: this node's configuration.
        cluster: its embedded cluster (stopped; started by a successful rejoin).
        ssl_ctx: the server's TLS context.
        reason: why the node was replaced (shown in health until it has rejoined).

    Returns:
        True once rejoined (the database runs as a standby), False when stopped first.
    """
    state = HaState.load(ha_state_path(config))
    body = {
        "status": "unavailable",
        "role": "secondary",
        "read_only": True,
        "term": state.term,
        "degraded": True,
        "database": "stopped",
        "name": config.node.name,
        "primary": state.peer.url or None,
        "rejoin": f"replaced ({reason}); rejoining {state.peer.name}",
    }
    app = web.Application()
    app[_WAIT] = body
    app.router.add_get("/api/v1/health", _health)
    app.router.add_route("*", "/{tail:.*}", _refuse)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, ssl_context=ssl_ctx)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rejoined = False
    try:
        while not stop.is_set():
            try:
                how = await asyncio.to_thread(
                    rejoin_cluster, cluster, peer_source(state), config.node.name, state.term
                )
            except PeerUnreachable as exc:
                if "waiting" not in body["rejoin"]:
                    log.error("cannot rejoin yet, waiting for the peer (data untouched): %s", exc)
                body["rejoin"] = f"waiting for {state.peer.name} (data untouched): {exc}"
            except ClusterError as exc:
                log.error("rejoin failed (will retry; data untouched): %s", exc)
                body["rejoin"] = f"rejoin failed, retrying (data untouched): {exc}"
            else:
                log.warning("rejoined as the standby of %s (%s)", state.peer.name, how)
                rejoined = True
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    return rejoined
