"""Typed application and request keys: everything stored on the app or a request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from server.core.config import Config
from server.services.context import Actor, Env
from server.services.denials import DenialLog

if TYPE_CHECKING:
    from server.backup.schedule import BackupStatus
    from server.services.siem import Forwarder

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
ENV = web.AppKey("env", Env)
ACTOR = web.RequestKey("actor", Actor)
BACKUP_STATUS: web.AppKey[BackupStatus] = web.AppKey("backup_status")
DENIALS = web.AppKey("denials", DenialLog)  # refused requests counted for the audit trail
REFUSED_BY = web.RequestKey("refused_by", str)  # what refused a request before its handler
FORWARDER: web.AppKey[Forwarder] = web.AppKey("forwarder")  # SIEM forwarding (issue 31)


@dataclass(frozen=True)
class DeferredToken:
    """A bearer token the handler's own statement checks (``@authenticates_in_statement``,
    issue 28); ``authenticate`` makes the door's check instead (server/web/auth_middleware.py)
    where the handler cannot (an invalid body or path answers after the token, as before)."""

    token: str
    authenticate: Callable[[], Awaitable[None]]


DEFERRED_TOKEN = web.RequestKey("deferred_token", DeferredToken)
