"""``strongroom gateway`` and the gateway inside ``strongroom serve`` (issue 30): the
TUI command the gateway starts for each login, and the listener's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from server.core.config import Config
from server.gateway.server import close_gateway, host_key_path, start_gateway
from server.security.ssh_keys import host_key_fingerprint
from server.services.context import Env

log = logging.getLogger("strongroom.gateway")


def tui_command(config: Config) -> list[str]:
    """The TUI child the gateway runs for a login: this program's ``tui`` against this
    node's HTTPS server, trusting its own certificate (the session token comes on an
    inherited pipe, never here)."""
    url = config.gateway.tui_url or f"https://localhost:{config.server.port}"
    cert = config.path(config.server.tls_cert)
    return [sys.executable, "-m", "server.ops.cli", "tui", url, "--ca-file", str(cert)]


async def start(env: Env, config: Config) -> Any:
    """Start the gateway over ``env`` (serve passes its web app's, so a login on a
    secondary keeps its in-memory session where the TUI's requests land)."""
    acceptor = await start_gateway(env, config, tui_command(config))
    log.info(
        "SSH gateway listening on %s:%d (host key %s)",
        config.gateway.host,
        config.gateway.port,
        host_key_fingerprint(host_key_path(config)),
    )
    return acceptor


async def stop(acceptor: Any) -> None:
    """Stop the gateway (its connections close; their sessions end)."""
    await close_gateway(acceptor)


def status_line(config: Config) -> str:
    """``gateway:`` in ``strongroom status``: port and host key fingerprint."""
    if not config.gateway.enabled:
        return "gateway:    off ([gateway] enabled = false)"
    fp = host_key_fingerprint(host_key_path(config))
    return f"gateway:    ssh -p {config.gateway.port} USER@host · host key {fp or '(not made yet)'}"


def run_alone(config: Config) -> None:
    """``strongroom gateway``: the gateway without the HTTPS server (which must run, on
    this node, for the TUI it starts), until SIGTERM or Ctrl-C."""
    from server.services.runtime import open_env

    async def main() -> None:
        async with open_env(config) as env:
            acceptor = await start(env, config)
            stopped = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, stopped.set)
            try:
                await stopped.wait()
            finally:
                await stop(acceptor)

    run_event_loop(main())


def run_event_loop(main: Any) -> Any:
    """Run the gateway's coroutine ``main`` to its end on a fresh asyncio event loop (the
    bench runs its gateway process through this too). uvloop was measured here and made
    no difference to a brokered keystroke's echo (issue 30, session 10): not used."""
    return asyncio.run(main)
