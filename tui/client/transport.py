"""The client's transport: one aiohttp session, TLS pinning, failover between the
primary and the secondary, and every failure (a problem+json answer, a connection that
fails) turned into an ``ApiError`` with a stable code and one human sentence.

Nothing above this module sees aiohttp: the per-domain modules call ``_request`` and
``_every`` and get parsed JSON back.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

from server.core.pin_check import KeyPin
from server.core.pins import spki_pin
from tui.api_types import ApiError, Endpoint, ServerState
from tui.wording import readable_problem

KNOWN_HOSTS = Path(
    os.environ.get(
        "STRONGROOM_KNOWN_HOSTS", Path.home() / ".config" / "strongroom" / "known_hosts.json"
    )
)
LIST_PAGE = 1000  # the API's largest page
LIST_PAGES = 50  # a list longer than 50,000 items is shown cut
SESSION_ENDED = "session_ended"  # ApiError.code when a logged-in request answers 401
MOVE_WAIT = 20.0  # s to stay on the secondary while a session made there moves over


def reason(exc: BaseException) -> str:
    """A short human reason for a failed connection: 'connection refused', 'timed out'."""
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return "its key changed"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "TLS handshake failed"
    cause = getattr(exc, "os_error", None) or exc
    while not isinstance(cause, OSError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[0].lower() + cause.strerror[1:]
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return "no answer"


def read_only_sentence(error: ApiError) -> str:
    """What a ``read_only`` refusal means to the user: nothing saved, where changes go."""
    primary = error.body.get("primary")
    where = f"the primary, {primary}" if primary else "the primary"
    return (
        f"Nothing was saved: this server is read-only ({error.detail}). "
        f"Changes go to {where}; try again when it answers."
    )


async def _peer_fingerprint(base: str) -> str:
    """The pin (``spki:sha256:`` and the SHA-256 of the public key) of the certificate
    ``base`` presents (first contact; nothing is sent)."""
    parts = urlsplit(base)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # learning the pin: nothing secret goes over this link
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 7272, ssl=ctx), 5
        )
    except (OSError, TimeoutError) as exc:
        raise aiohttp.ClientConnectionError(reason(exc)) from exc
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    try:
        return spki_pin(der)
    except ValueError as exc:
        raise aiohttp.ClientConnectionError("the server sent no usable certificate") from exc


def problem_error(status: int, data: Any) -> ApiError:
    """The ``ApiError`` for an answer with ``status`` >= 400 whose body ``data`` is the
    server's problem+json (``{code, detail, ...}``; anything else gets ``http_error``)."""
    problem = readable_problem(data) if isinstance(data, dict) else {}
    return ApiError(
        problem.get("code", "http_error"),
        problem.get("detail", f"the server answered {status}"),
        status,
        problem,
    )


@dataclass
class Transport:
    """The connection to one Strongroom pair (primary first, then the secondary)."""

    endpoints: list[Endpoint]
    ca_file: str | None = None
    trust_on_first_use: bool = True
    known_hosts: Path = KNOWN_HOSTS
    token: str | None = None
    state: ServerState | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)
    _active: int = 0
    _primary_back: float | None = None  # when the primary first answered again (monotonic)

    @property
    def org(self) -> str | None:
        """The org named in the first URL, if any."""
        return self.endpoints[0].org

    @property
    def base(self) -> str:
        """The server currently in use."""
        return self.endpoints[self._active].base

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _pins(self) -> dict[str, str]:
        try:
            return json.loads(self.known_hosts.read_text())
        except (OSError, ValueError):
            return {}

    async def _ssl_for(self, base: str) -> ssl.SSLContext | aiohttp.Fingerprint:
        """How to check the server at ``base`` before any credential is sent.

        With a CA bundle: ordinary verification. Otherwise the server's public key is
        pinned (``KeyPin``; SHA-256 of its SPKI): learnt on first contact (no credentials
        are sent then) and required on every connection after, so another key is refused;
        the server's renewed certificate (same key) is not.
        """
        if self.ca_file:
            return ssl.create_default_context(cafile=self.ca_file)
        pins = self._pins()
        if base not in pins:
            if not self.trust_on_first_use:
                raise ApiError("untrusted_certificate", f"{base} is not a known server")
            pins[base] = await _peer_fingerprint(base)
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            self.known_hosts.write_text(json.dumps(pins, indent=2))
        try:
            return KeyPin(pins[base])
        except (TypeError, ValueError):
            raise ApiError(
                "untrusted_certificate",
                f"the pin of {base} in {self.known_hosts} is malformed; "
                "remove that entry to learn the server's key again",
            ) from None

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30, connect=5)
            )
        order = [self._active] + [i for i in range(len(self.endpoints)) if i != self._active]
        last = ""
        tried: list[str] = []
        # A POST is sent with an Idempotency-Key (issue 33): a retry of it (after a
        # dropped connection, an answer lost, or 503 outcome_unknown, retried once here)
        # gets the first answer back instead of doing the work twice.
        key = secrets.token_urlsafe(18) if method == "POST" else None
        for index in order:
            base = self.endpoints[index].base
            headers = {}
            if key:
                headers["Idempotency-Key"] = key
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            if content_type:
                headers["Content-Type"] = content_type
            try:
                check = await self._ssl_for(base)
                status, data = await self._send(
                    method,
                    base + "/api/v1" + path,
                    check,
                    headers,
                    json=body if raw is None else None,
                    data=raw,
                )
                if key and status == 503 and (data or {}).get("code") == "outcome_unknown":
                    status, data = await self._send(
                        method,
                        base + "/api/v1" + path,
                        check,
                        headers,
                        json=body if raw is None else None,
                        data=raw,
                    )
            except aiohttp.ServerFingerprintMismatch:
                raise ApiError(
                    "certificate_changed",
                    f"{base} presents a different key than the one pinned; "
                    "refusing to connect (see the known_hosts file)",
                ) from None
            except (aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as exc:
                last = reason(exc)
                tried.append(f"{base} ({last})")
                continue
            if index != self._active:
                self._active = index
                self.state = None
            if status >= 400:
                error = problem_error(status, data)
                sent = headers.get("Authorization", "").removeprefix("Bearer ")
                if status == 401 and path != "/auth/login" and self.token in (None, sent):
                    # The token stopped working: logged out elsewhere, expired, the
                    # password changed, the user disabled. Nothing shown is current now.
                    # The answers to the other requests sent with it (or after it was
                    # dropped) say the same, so they take the one session-ended path too.
                    # (A late answer to a token already replaced by a new login is not.)
                    self.token = None
                    error.code = SESSION_ENDED
                raise error
            return data
        raise ApiError("unreachable", "cannot reach " + " nor ".join(tried))

    async def _send(
        self, method: str, url: str, check: Any, headers: dict[str, str], **payload: Any
    ) -> tuple[int, Any]:
        """One HTTP exchange: (status, parsed JSON or None). A kept-alive connection that
        the server closed meanwhile (it restarted) is retried once on a fresh one, so a
        node that comes back is not taken for one that is down."""
        assert self._session is not None
        for attempt in (1, 2):
            try:
                async with self._session.request(
                    method, url, headers=headers, ssl=check, **payload
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if attempt == 2 or isinstance(exc, aiohttp.ClientConnectorError):
                    raise
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    async def prefer_primary(self) -> bool:
        """If we are on a later endpoint and the first (primary) answers as a writable
        primary again, switch back to it; True when we switched.

        A session made on the secondary moves to the primary a moment after the primary
        is back (the secondary sends it): while the primary does not know the session
        yet, and for at most ``MOVE_WAIT`` seconds, we stay where the session works.
        """
        if self._active == 0 or self._session is None:
            return False
        base = self.endpoints[0].base
        try:
            check = await self._ssl_for(base)
            _status, data = await self._send("GET", base + "/api/v1/health", check, {})
            data = data if isinstance(data, dict) else {}
            if data.get("role") != "primary" or data.get("read_only"):
                self._primary_back = None
                return False
            if self.token and not await self._session_known(base, check):
                now = asyncio.get_running_loop().time()
                self._primary_back = self._primary_back or now
                if now - self._primary_back < MOVE_WAIT:
                    return False
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, AttributeError):
            return False
        self._active = 0
        self.state = None
        self._primary_back = None
        return True

    async def _session_known(self, base: str, check: Any) -> bool:
        """True when the server at ``base`` accepts our session token."""
        status, _ = await self._send(
            "GET", base + "/api/v1/me", check, {"Authorization": f"Bearer {self.token}"}
        )
        return status != 401

    async def _every(self, path: str, **params: str) -> list[Any]:
        """Every item of a list, following ``next_cursor`` a page of 1,000 at a time."""
        items: list[Any] = []
        query = {k: v for k, v in params.items() if v} | {"limit": str(LIST_PAGE)}
        for _ in range(LIST_PAGES):
            page = await self._request("GET", f"{path}?{urlencode(query)}")
            items += page["items"]
            if not page.get("next_cursor"):
                break
            query["cursor"] = page["next_cursor"]
        return items
