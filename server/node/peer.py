"""Node-to-node and node-to-witness HTTPS calls: pinned public keys, short timeouts.

Every call answers ``(status, body)`` or ``(0, {})`` when the other side cannot be
reached in time; callers decide what silence means.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from server.core.config import Config
from server.core.pin_check import KeyPin
from server.security.tls import spki_pin


class PinnedClient:
    """One keep-alive session to one HTTPS service whose public key is pinned (``KeyPin``)."""

    def __init__(self, base_url: str, pin: str, token: str = "", timeout: float = 1.0):
        self.base = base_url.rstrip("/")
        self.pin = KeyPin(pin)
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def call(
        self, method: str, path: str, body: Any = None, budget: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One request; (0, {}) when unreachable, too slow, or the pin does not match."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        kwargs: dict[str, Any] = {"ssl": self.pin, "headers": headers}
        if body is not None:
            kwargs["json"] = body
        if budget is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=budget)
        try:
            async with self._open().request(method, self.base + path, **kwargs) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
                return resp.status, data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, TimeoutError, OSError):
            # A half-open connection may be what failed: start afresh next time.
            await self.close()
            return 0, {}

    async def close(self) -> None:
        """Close the session (a new one opens on the next call)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def peer_client(config: Config, url: str, timeout: float, token: str = "") -> PinnedClient:
    """A client for the other node: both nodes present this install's key pair (each
    node may have renewed its certificate on its own; the key, so the pin, is the same)."""
    return PinnedClient(url, spki_pin(config.path(config.server.tls_cert)), token, timeout)


def witness_client(config: Config, timeout: float) -> PinnedClient | None:
    """A client for the configured witness, or None when there is none."""
    node = config.node
    if not node.witness_url:
        return None
    return PinnedClient(node.witness_url, node.witness_fingerprint, node.witness_token, timeout)


async def ask_once(client: PinnedClient | None, path: str) -> tuple[int, dict[str, Any]]:
    """One GET on a client made for it, then closed; (0, {}) without a client."""
    if client is None:
        return 0, {}
    try:
        return await client.call("GET", path)
    finally:
        await client.close()
