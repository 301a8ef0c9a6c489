"""The runtime: the service environment (``Env``) a web app, a command or a benchmark
works with, built from the configuration over an open database pool."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from server.core.config import Config
from server.node.mode import Node, load_node
from server.node.spool import AuditSpool
from server.security.passwords import Argon2Params, PasswordHasher
from server.security.ratelimit import LoginThrottle
from server.services import master_key
from server.services.access import ORGS_BY_NAME
from server.services.context import Env
from server.store import db
from server.store.anchors import AnchorLog
from server.store.keyring import KeyRing


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
            pool,
            "SELECT * FROM reveal_accounts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            readonly=node.reads_read_only,
            prompt=True,
        ),
        authentications=db.Batcher(
            pool,
            "SELECT * FROM authenticate_tokens($1, $2, $3, $4)",
            readonly=node.reads_read_only,
            prompt=True,
        ),
        orgs_by_name=db.Batcher(pool, ORGS_BY_NAME),
        token_reveals=db.Batcher(
            pool,
            "SELECT * FROM reveal_accounts_with_tokens($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            readonly=node.reads_read_only,
            prompt=True,
        ),
        anchors=AnchorLog(config.path(config.security.anchor_log), ring, pool),
    )
