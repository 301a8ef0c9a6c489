"""The aiohttp application factory."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from aiohttp import web, web_response

from replication.monitor import monitor_ctx
from server import db
from server.anchors import AnchorLog
from server.auth_middleware import auth_middleware
from server.backup_schedule import backup_ctx
from server.chainer import chainer_ctx
from server.checkout_sweeper import sweeper_ctx
from server.config import Config
from server.context import Env
from server.keyring import KeyRing
from server.keys import CONFIG, ENV, POOL
from server.middlewares import (
    SERVER_NAME,
    error_middleware,
    read_only_middleware,
    security_headers,
)
from server.node import Node, load_node
from server.passwords import Argon2Params, PasswordHasher
from server.ratelimit import LoginThrottle
from server.routes import setup_routes
from server.services import master_key
from server.services.access import ORGS_BY_NAME
from server.spool import AuditSpool

# Answers the HTTP parser refuses (a malformed request line) never reach the app's
# on_response_prepare hook, and aiohttp names itself and Python's version in their
# Server header. Its default is a module global read when headers are prepared, so
# the product name replaces it there too (ASVS 4.0 V14.3.3: no version disclosure).
web_response.SERVER_SOFTWARE = SERVER_NAME


def create_app(config: Config) -> web.Application:
    """Build the Strongroom web application for ``config``.

    Loads the master key first: a missing or loosely-permissioned key file stops
    the server before it listens.
    """
    ring = KeyRing.from_file(config.path(config.security.master_key))
    app = web.Application(
        middlewares=[error_middleware, read_only_middleware, auth_middleware],
        client_max_size=config.server.max_body_bytes,
    )
    app[CONFIG] = config
    app.cleanup_ctx.append(_environment(ring))
    app.cleanup_ctx.append(chainer_ctx)
    app.cleanup_ctx.append(monitor_ctx)
    app.cleanup_ctx.append(sweeper_ctx)
    app.cleanup_ctx.append(backup_ctx)
    app.on_response_prepare.append(security_headers)
    setup_routes(app)
    return app


def hasher_for(config: Config) -> PasswordHasher:
    """The password hasher with the configured Argon2id parameters."""
    sec = config.security
    return PasswordHasher(
        Argon2Params(sec.argon2_memory_kib, sec.argon2_iterations, sec.argon2_lanes)
    )


@asynccontextmanager
async def open_env(config: Config) -> AsyncIterator[Env]:
    """The service environment outside a web app (command-line tools, benchmarks)."""
    ring = KeyRing.from_file(config.path(config.security.master_key))
    pool = await db.create_pool(config)
    try:
        await master_key.check_master_key(ring, pool)
        node = load_node(config)
        if node.role == "primary":
            node.write_deadline = math.inf  # the operator's own command line on this node
        yield make_env(config, pool, ring, node)
    finally:
        await pool.close()


def make_env(config: Config, pool: asyncpg.Pool, ring: KeyRing, node: Node) -> Env:
    """The service environment over an open pool."""
    return Env(
        config=config,
        pool=pool,
        ring=ring,
        hasher=hasher_for(config),
        throttle=LoginThrottle(),
        node_state=node,
        spool=AuditSpool(config.home / "spool" / "audit.jsonl", ring, pool),
        reveals=db.Batcher(
            pool, "SELECT * FROM reveal_accounts($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        authentications=db.Batcher(pool, "SELECT * FROM authenticate_tokens($1, $2, $3, $4)"),
        orgs_by_name=db.Batcher(pool, ORGS_BY_NAME),
        anchors=AnchorLog(config.path(config.security.anchor_log), ring, pool),
    )


def _environment(ring: KeyRing):
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        pool = await db.create_pool(config)
        try:
            await master_key.check_master_key(ring, pool)
        except BaseException:
            await pool.close()
            raise
        app[POOL] = pool
        app[ENV] = make_env(config, pool, ring, load_node(config))
        yield
        await pool.close()

    return lifetime
