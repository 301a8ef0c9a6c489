"""The reveal benchmark's baseline: a minimal aiohttp + asyncpg HTTPS handler doing one
indexed SELECT and one INSERT in a transaction. Run by bench/reveal.py, not by hand."""

from __future__ import annotations

import argparse
import json
import ssl

import asyncpg
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)


async def handle(request: web.Request) -> web.Response:
    """SELECT one row by primary key, INSERT one log row, in one transaction."""
    item = int(request.match_info["id"])
    async with request.app[POOL].acquire() as conn, conn.transaction():
        secret = await conn.fetchval("SELECT secret FROM bench_items WHERE id = $1", item)
        await conn.execute("INSERT INTO bench_log (item_id) VALUES ($1)", item)
    return web.json_response({"password": secret})


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True, help="JSON connection arguments")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    dsn = json.loads(args.dsn)

    async def pool_ctx(app: web.Application):
        app[POOL] = await asyncpg.create_pool(**dsn, min_size=2, max_size=20)
        yield
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/reveal/{id}", handle)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    web.run_app(app, host="127.0.0.1", port=args.port, ssl_context=ctx, print=None, access_log=None)


if __name__ == "__main__":
    main()
