"""The witness: a tiny HTTPS service that hands out the leader lease and the term.

Only the lease holder may run a writable primary. The rules, all here:

- the holder renews its lease; a renewal answers the current term and the lease's
  time to live (the holder fences itself well before that, by its own clock);
- another node gets the lease only when the current one has expired **and** the last
  holder reported its standby in sync (``standby_in_sync``): a standby that fell
  behind while the primary ran alone must never be promoted, or acknowledged writes
  would be lost; granting the lease to a new node raises the term by one;
- the state (term, holder, expiry, sync flag) is fsync'd before any answer, so a
  witness restart never hands out a term twice.

Expiry is measured on the witness's own clock only; nodes measure their own deadlines
from when they sent a renewal, so clock differences between hosts do not matter.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from aiohttp import web

from server.core.files import write_durably
from server.security.tls import make_self_signed, renew_if_due, server_context, spki_pin

log = logging.getLogger("strongroom.witness")

DEFAULT_PORT = 7273
DEFAULT_TTL = 5.0


@dataclass
class Lease:
    """The witness's whole state."""

    term: int = 0
    holder: str = ""
    expires_at: float = 0.0  # wall clock of the witness
    standby_in_sync: bool = True


class WitnessStore:
    """The lease, persisted in ``witness.json``; one decision at a time."""

    def __init__(self, folder: Path, ttl: float) -> None:
        self.path = folder / "witness.json"
        self.ttl = ttl
        self.lock = asyncio.Lock()
        try:
            self.lease = Lease(**json.loads(self.path.read_text()))
        except FileNotFoundError:
            self.lease = Lease()

    def _save(self) -> None:
        write_durably(self.path, json.dumps(asdict(self.lease)) + "\n")

    async def request(self, node: str, sync: bool | None) -> tuple[bool, Lease]:
        """Renew or acquire the lease for ``node``; ``sync`` is the holder's standby state."""
        async with self.lock:
            now = time.time()
            lease = self.lease
            if lease.holder == node:
                lease.expires_at = now + self.ttl
                if sync is not None:
                    lease.standby_in_sync = sync
            elif lease.holder and lease.expires_at > now:
                return False, lease
            elif lease.holder and not lease.standby_in_sync:
                # The last primary ran without its standby: this node may lack writes.
                return False, lease
            else:
                lease.term += 1
                lease.holder = node
                lease.expires_at = now + self.ttl
                lease.standby_in_sync = False  # the new primary has no standby yet
                log.warning("lease granted to %s, term %d", node, lease.term)
            await asyncio.to_thread(self._save)
            return True, lease

    def view(self) -> dict:
        """The lease as answered to nodes and to status."""
        lease = self.lease
        return {
            "term": lease.term,
            "holder": lease.holder or None,
            "expires_in": round(max(0.0, lease.expires_at - time.time()), 3),
            "standby_in_sync": lease.standby_in_sync,
            "ttl": self.ttl,
        }


def _authorized(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "")
    expected = "Bearer " + request.app["token"]
    return hmac.compare_digest(given.encode(), expected.encode())


async def _lease(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.json_response({"code": "unauthenticated"}, status=401)
    store: WitnessStore = request.app["store"]
    if request.method == "GET":
        return web.json_response(store.view())
    try:
        body = await request.json()
        node = body["node"]
        sync = body.get("sync")
        if not isinstance(node, str) or not node:
            raise ValueError
        if sync is not None and not isinstance(sync, bool):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return web.json_response({"code": "bad_request"}, status=400)
    granted, _ = await store.request(node, sync)
    return web.json_response({"granted": granted, **store.view()}, status=200 if granted else 409)


def witness_app(folder: Path, ttl: float) -> web.Application:
    """The witness web application over the state in ``folder``."""
    app = web.Application()
    app["store"] = WitnessStore(folder, ttl)
    app["token"] = (folder / "token").read_text().strip()
    app.router.add_route("*", "/lease", _lease)
    return app


def prepare(folder: Path) -> tuple[str, Path]:
    """Make the witness folder (certificate, token) once, renew a certificate that is about
    to expire (same key: the nodes' pin holds); return the pin and the token file."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    cert, key, token = folder / "tls.crt", folder / "tls.key", folder / "token"
    if not cert.exists():
        make_self_signed(cert, key)
    elif renewed := renew_if_due(cert, key):
        log.info("witness certificate renewed with the same key, valid until %s", renewed)
    if not token.exists():
        write_durably(token, secrets.token_urlsafe(32) + "\n")
    return spki_pin(cert), token


def serve(folder: Path, port: int, ttl: float, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Run the witness until SIGTERM or Ctrl-C."""
    prepare(folder)
    ssl_ctx = server_context(folder / "tls.crt", folder / "tls.key")

    async def main() -> None:
        runner = web.AppRunner(witness_app(folder, ttl), access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port, ssl_context=ssl_ctx).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("witness listening on https://%s:%d (lease %.1f s)", host, port, ttl)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(main())
