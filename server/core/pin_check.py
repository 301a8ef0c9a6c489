"""The pin check on a live connection: aiohttp's certificate check on a pin of
``server.core.pins``, for every client that pins a Strongroom server (node-to-node calls,
the witness, the TUI's known_hosts).
"""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp

from server.core.pins import parse_pin, pin_matches


class KeyPin(aiohttp.Fingerprint):
    """aiohttp's certificate check on a pin: the SHA-256 of the server's public key
    (``spki:sha256:…``, which a renewal with the same key keeps) or an older bare SHA-256
    of the whole certificate or of its SPKI. Checked after the TLS handshake and before
    anything is sent; a mismatch is ``aiohttp.ServerFingerprintMismatch``.

    Raises:
        ValueError: ``pin`` is malformed (``parse_pin``).
    """

    def __init__(self, pin: str) -> None:
        super().__init__(parse_pin(pin)[1])
        self.pin = pin

    def check(self, transport: asyncio.Transport) -> None:
        """Raise ``ServerFingerprintMismatch`` unless the peer's certificate fits the pin."""
        if not transport.get_extra_info("sslcontext"):
            return
        der = transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
        if not pin_matches(self.pin, der):
            host, port, *_ = transport.get_extra_info("peername")
            got = hashlib.sha256(der or b"").digest()
            raise aiohttp.ServerFingerprintMismatch(self.fingerprint, got, host, port)
