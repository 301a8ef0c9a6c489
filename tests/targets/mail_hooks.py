"""An SMTP server (aiosmtpd: STARTTLS required, then AUTH) and an HTTPS webhook receiver
of the test's own on 127.0.0.1 (issue 31's notifications).

Usage::

    with SmtpReceiver.started("user", "pass") as smtp:   # its own thread
        ... smtp.port, smtp.ca_pem; smtp.messages: [email.message.EmailMessage]
    async with HookReceiver.started() as hooks:          # in the test's event loop
        ... hooks.url("/x"), hooks.ca_pem; hooks.calls: [(headers, body bytes)]

Both use a certificate issued by a test CA of their own for 127.0.0.1; nothing is left
behind (no files: the keys are loaded from temporary files removed at once).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.targets.certs import ca, leaf, pem


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_context() -> tuple[ssl.SSLContext, str]:
    """A TLS server context for 127.0.0.1 and the PEM of the CA that issued it."""
    authority = ca("Strongroom test receivers CA")
    cert_pem, key_pem = leaf(authority, "127.0.0.1", server=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "c.pem").write_text(cert_pem)
        (Path(folder) / "k.pem").write_text(key_pem)
        ctx.load_cert_chain(Path(folder) / "c.pem", Path(folder) / "k.pem")
    return ctx, pem(authority[0])


class _Keep:
    def __init__(self, sink: list[Any]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.sink.append(message)
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on a free port: TLS (STARTTLS required, or implicit) before AUTH, AUTH
    required to send."""

    def __init__(self, username: str, password: str, implicit: bool = False) -> None:
        self.messages: list[Any] = []
        self.logins: list[str] = []
        ctx, self.ca_pem = _server_context()
        self.port = _free_port()

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
            ok = isinstance(data, LoginPassword) and (
                data.login.decode(),
                data.password.decode(),
            ) == (username, password)
            self.logins.append("ok" if ok else "refused")
            return AuthResult(success=ok)

        tls = {"ssl_context": ctx} if implicit else {"tls_context": ctx, "require_starttls": True}
        self.controller = Controller(
            _Keep(self.messages),
            hostname="127.0.0.1",
            port=self.port,
            **tls,
            auth_required=True,
            # With implicit TLS aiosmtpd does not see the TLS under it: every byte is in TLS.
            auth_require_tls=not implicit,
            authenticator=authenticate,
            ready_timeout=10,
        )

    @classmethod
    @contextlib.contextmanager
    def started(
        cls, username: str, password: str, implicit: bool = False
    ) -> Iterator[SmtpReceiver]:
        """A running SMTP server (STARTTLS, or TLS from the first byte with ``implicit``),
        stopped afterwards."""
        receiver = cls(username, password, implicit)
        receiver.controller.start()
        try:
            yield receiver
        finally:
            receiver.controller.stop()


class HookReceiver:
    """An HTTPS server answering ``status`` (200 unless changed) to every POST, keeping
    each call's headers and body."""

    def __init__(self, like: HookReceiver | None = None) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.location = ""  # with a 3xx status: where it redirects
        self.ctx, self.ca_pem = (like.ctx, like.ca_pem) if like else _server_context()
        self.port = _free_port()

    def url(self, path: str = "/hook") -> str:
        """The receiver's address for ``path``."""
        return f"https://127.0.0.1:{self.port}{path}"

    async def _take(self, request: web.Request) -> web.Response:
        self.calls.append((dict(request.headers), await request.read()))
        headers = {"Location": self.location} if self.location else None
        return web.Response(status=self.status, headers=headers)

    @classmethod
    @contextlib.asynccontextmanager
    async def started(cls, like: HookReceiver | None = None) -> AsyncIterator[HookReceiver]:
        """A running receiver in the current event loop, stopped afterwards (with ``like``:
        the same certificate as that receiver's)."""
        receiver = cls(like)
        app = web.Application()
        app.router.add_post("/{tail:.*}", receiver._take)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", receiver.port, ssl_context=receiver.ctx).start()
        try:
            yield receiver
        finally:
            await runner.cleanup()
