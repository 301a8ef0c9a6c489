"""Typed application keys: everything the app stores on itself, in one place."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from server.config import Config

CONFIG = web.AppKey("config", Config)
POOL = web.AppKey("pool", asyncpg.Pool)
