"""The SSH gateway's listener and login (issue 30, items 1-3 and 6's pre-auth limits).

One ``GatewayConnection`` per SSH connection (asyncssh calls it). The rules of who may
log in are in ``server.services.gateway_login``; this module speaks SSH:

- public-key authentication first: a key the client offers is accepted when it is
  registered for the user the SSH user name names; when that user has 2FA, a verified
  key signature is answered "continue with keyboard-interactive" (only that method is
  offered from then on) and the TOTP code is asked there;
- pre-auth limits: unauthenticated connections per client address, authentication
  attempts per connection (keys offered and codes typed), the login grace time;
- a cap on concurrent gateway sessions per user;
- after login: a session channel with a pty runs the TUI bound to the new session
  (``server.gateway.tui_channel``); shell without pty, exec, subsystems (SFTP), port and
  agent forwarding are refused and audited.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.core.config import Config
from server.core.errors import StrongroomError
from server.gateway import broker
from server.gateway.tui_channel import Connect, TuiChannel, end_children
from server.gateway.wire import one_write_per_packet
from server.security.ssh_keys import (
    GATEWAY_CIPHERS,
    GATEWAY_MACS,
    asyncssh,
    ensure_host_key,
    fingerprint,
    parse_public_key,
)
from server.services import gateway_login
from server.services.context import Env
from server.services.denials import DenialLog, run_flusher
from server.services.gateway_login import GatewaySession, KeyHolder

log = logging.getLogger("strongroom.gateway")

KBDINT_PROMPT = "Authenticator code: "
LOGOUT_GRACE_SECONDS = 5.0
SAY_WHY_SECONDS = 0.5  # for a cut brokered session's last line to reach the user


@dataclass
class Gateway:
    """What every connection of one listener shares: the service environment, the
    configuration, the TUI command, and the counters behind the limits."""

    env: Env
    config: Config
    tui_command: Sequence[str]
    unauthenticated: collections.Counter[str] = field(default_factory=collections.Counter)
    sessions_of: collections.Counter[Any] = field(default_factory=collections.Counter)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    children: set[asyncio.subprocess.Process] = field(default_factory=set)  # running TUIs
    denials: DenialLog | None = None  # refused connects, recorded as access_denied events

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, kept until done (audit work after a close)."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def audit_safely(self, coro: Any) -> None:
        """Await an audit/cleanup coroutine; a failure is logged, never raised into SSH."""
        try:
            await coro
        except StrongroomError as exc:
            log.warning("gateway: %s", exc)
        except Exception:  # a closing connection must not take the listener down
            log.exception("gateway: cleanup failed")


class GatewayConnection(asyncssh.SSHServer):  # type: ignore[misc]
    """One SSH connection to the gateway, from TCP accept to close."""

    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway
        self.conn: Any = None
        self.ip = ""
        self.counted = False  # in gw.unauthenticated
        self.ssh_user = ""
        self.attempts = 0
        self.holder: KeyHolder | None = None
        self.key_verified = False
        self.session: GatewaySession | None = None
        self.ready: asyncio.Future[GatewaySession | None] = (
            asyncio.get_running_loop().create_future()
        )
        self.failure_reason = ""  # why the login failed, when it did (audited once)
        self.failure_counted = False  # a failure already counted and audited
        self.opening = False  # the session is being written
        self.lost = False  # the connection is gone
        self.watcher: asyncio.Task[Any] | None = None  # checks the session still stands
        self.channel: TuiChannel | None = None  # the session channel, once opened

    # -- connection ------------------------------------------------------------------

    def connection_made(self, conn: Any) -> None:
        """Count the connection against its address's pre-auth limit (refuse past it)."""
        self.conn = conn
        one_write_per_packet(conn)
        peer = conn.get_extra_info("peername") or ("", 0)
        self.ip = str(peer[0])
        limit = self.gw.config.gateway.max_unauthenticated_per_address
        if self.gw.unauthenticated[self.ip] >= limit:
            log.warning("gateway: too many unauthenticated connections from %s", self.ip)
            conn.close()
            return
        self.gw.unauthenticated[self.ip] += 1
        self.counted = True

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.gw.unauthenticated[self.ip] -= 1
            if self.gw.unauthenticated[self.ip] <= 0:
                del self.gw.unauthenticated[self.ip]

    def connection_lost(self, exc: Exception | None) -> None:
        """A login that was tried and did not finish counts once; a session ends (one
        still being written is ended by ``_open`` once it is)."""
        self.lost = True
        if self.watcher is not None:
            self.watcher.cancel()
        self._uncount()
        if self.opening:
            return
        if not self.ready.done():
            self.ready.set_result(None)
        if self.session is not None:
            self._end_session(self.session)
        elif self.attempts and not self.failure_counted and self.ssh_user:
            reason = self.failure_reason or (
                "otp_not_given" if self.key_verified else "ssh_key_not_registered"
            )
            failed = gateway_login.connection_failed(
                self.gw.env, self.ssh_user, self.ip, reason, count=reason != "too_many_sessions"
            )
            self.gw.spawn(self.gw.audit_safely(failed))

    def _end_session(self, session: GatewaySession) -> None:
        self.gw.sessions_of[session.holder.user_id] -= 1
        closing = gateway_login.close_session(self.gw.env, session, self.ip)
        self.gw.spawn(self.gw.audit_safely(closing))

    # -- authentication --------------------------------------------------------------

    def begin_auth(self, username: str) -> bool:
        """Every user authenticates (there is no anonymous access)."""
        self.ssh_user = username
        return True

    def password_auth_supported(self) -> bool:
        """Passwords are never taken over SSH (keys, then the second factor)."""
        return False

    def public_key_auth_supported(self) -> bool:
        """Offered until a key's signature was verified."""
        return not self.key_verified

    def kbdint_auth_supported(self) -> bool:
        """Offered only after a verified key of a user with 2FA: the TOTP code."""
        return self.key_verified and self.holder is not None and self.holder.needs_otp

    def _attempt(self) -> bool:
        """Count one authentication attempt; False (and the connection closed) past the
        limit (OpenSSH's MaxAuthTries)."""
        self.attempts += 1
        if self.attempts > self.gw.config.gateway.max_auth_attempts:
            self.failure_reason = self.failure_reason or "too_many_attempts"
            self.conn.close()
            return False
        return True

    async def validate_public_key(self, username: str, key: Any) -> bool:
        """Accept ``key`` for ``username`` when it is registered for that user (the
        signature is checked by asyncssh on the same key object, see ``_verify``)."""
        if self.holder is not None and self.holder.fingerprint == fingerprint(key):
            # The signed request after the query (a new key object each time).
            if username != self.ssh_user:
                return False
            self._verify(key, self.holder)
            return True
        if not self._attempt():
            return False
        try:
            public = parse_public_key(key.export_public_key("openssh").decode("ascii"))
        except ValueError:
            return False  # a kind or size of key Strongroom never registers
        try:
            holder = await gateway_login.match_key(
                self.gw.env, username, public.openssh, public.fingerprint, self.ip
            )
        except StrongroomError as exc:
            self.failure_counted = True  # locked out, or counted and audited already
            log.info("gateway: login refused for %r from %s: %s", username, self.ip, exc.code)
            return False
        if holder is None:
            return False
        self.holder = holder
        self._verify(key, holder)
        return True

    def _verify(self, key: Any, holder: KeyHolder) -> None:
        """Wrap this key object's signature check (asyncssh verifies the signed request on
        the very object ``validate_public_key`` accepted): a good signature marks the key
        verified; for a user with 2FA it is answered as a failure so the client goes on
        to keyboard-interactive, the only method offered from then on."""
        check = key.verify

        def verify(data: bytes, sig: bytes) -> bool:
            good = bool(check(data, sig))
            if good:
                self.key_verified = True
            return good and not holder.needs_otp

        key.verify = verify

    async def auth_completed(self) -> None:
        """A key alone sufficed (no 2FA): make the session now."""
        if self.session is None and self.holder is not None and not self.holder.needs_otp:
            await self._open(None)

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> Any:
        """The second factor's one prompt (not echoed)."""
        return ("Strongroom two-factor login", "", "", [(KBDINT_PROMPT, False)])

    async def validate_kbdint_response(self, username: str, responses: Sequence[str]) -> bool:
        """The TOTP code: right, the session is made; wrong, one failed login."""
        if not self.key_verified or username != self.ssh_user or len(responses) != 1:
            return False
        if not self._attempt():
            return False
        return await self._open(responses[0])

    async def _open(self, otp: str | None) -> bool:
        holder = self.holder
        assert holder is not None
        cap = self.gw.config.gateway.max_sessions_per_user
        if self.gw.sessions_of[holder.user_id] >= cap:
            log.info("gateway: %s has %d sessions already", holder.username, cap)
            self.failure_reason = "too_many_sessions"
            self.conn.close()
            return False
        self.opening = True
        try:
            session = await gateway_login.open_session(self.gw.env, holder, self.ip, otp)
        except StrongroomError as exc:
            if exc.code in ("invalid_otp", "rate_limited"):
                self.failure_counted = True  # counted and audited where it was refused
            if otp is None or exc.code != "invalid_otp":
                self.conn.close()
            if self.lost and not self.ready.done():
                self.ready.set_result(None)
            return False
        finally:
            self.opening = False
        self.session = session
        self.gw.sessions_of[holder.user_id] += 1
        self._uncount()
        if not self.ready.done():
            self.ready.set_result(session)
        if self.lost:  # the client went away while the session was written
            self._end_session(session)
        else:
            self.watcher = self.gw.spawn(self._watch(session))
        return True

    async def _watch(self, session: GatewaySession) -> None:
        """Close the connection once its session no longer stands (logged out in the TUI
        or elsewhere, the user disabled, the password reset, the idle or total limit)."""
        every = self.gw.config.gateway.session_check_seconds
        while not self.lost:
            await asyncio.sleep(every)
            if self.lost:
                return
            try:
                alive = await gateway_login.session_alive(self.gw.env, session)
            except Exception:  # the database away for a moment: ask again next time
                log.warning("gateway: could not check %s's session", session.holder.username)
                continue
            if not alive:
                # A brokered session running: cut now, with the rule's reason (user
                # disabled, session ended), before the connection goes.
                if self.channel is not None and self.channel.pump is not None:
                    self.channel.pump.check_now()
                # A logout in the TUI ends the TUI too: let it close the channel itself
                # (a clean exit status), then close whatever is left.
                await asyncio.sleep(LOGOUT_GRACE_SECONDS)
                if self.lost:
                    return
                pump = self.channel.pump if self.channel is not None else None
                if pump is not None:
                    # The login ended in a way the rule does not see (its idle limit): the
                    # brokered session ends with it and says so, rather than being
                    # recorded as closed by the user when the connection goes.
                    pump.finish("credential_ended")
                    await asyncio.sleep(SAY_WHY_SECONDS)
                if not self.lost:
                    log.info("gateway: %s's session ended; closing", session.holder.username)
                    self.conn.close()
                return

    # -- after login: channels and forwarding -----------------------------------------

    def session_requested(self) -> Any:
        """A session channel: the TUI (``tui_channel``), one per connection."""
        self.channel = TuiChannel(
            self.ready, self.refused, self.gw.tui_command, self.gw.children, self._broker
        )
        return self.channel

    async def _broker(
        self, channel: TuiChannel, session: GatewaySession, target: Connect, keep_open: bool
    ) -> None:
        """A brokered session on ``channel`` (``server.gateway.broker``, issue 30 item 4)."""
        gw = self.gw
        await broker.run(gw.env, channel, session, self.ip, target, gw.spawn, keep_open, gw.denials)

    def connection_requested(self, dest_host: str, dest_port: int, *_: Any) -> bool:
        """Local port forwarding (ssh -L) and direct-tcpip: refused and audited."""
        self.refused("port_forwarding")
        return False

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        """Remote port forwarding (ssh -R): refused and audited."""
        self.refused("remote_port_forwarding")
        return False

    def unix_connection_requested(self, dest_path: str) -> bool:
        """Forwarding to a UNIX socket: refused and audited."""
        self.refused("unix_socket_forwarding")
        return False

    def unix_server_requested(self, listen_path: str) -> bool:
        """A remote UNIX socket listener: refused and audited."""
        self.refused("unix_socket_forwarding")
        return False

    def refused(self, what: str) -> None:
        """Audit a refused request of this logged-in connection (once its session exists:
        a request may come before the login's session is written)."""
        self.gw.spawn(self.gw.audit_safely(self._audit_refusal(what)))

    async def _audit_refusal(self, what: str) -> None:
        session = await self.ready
        if session is not None:
            await gateway_login.refused_request(self.gw.env, session, self.ip, what)


@dataclass
class Listener:
    """A running gateway: its SSH acceptor and what its connections share."""

    acceptor: Any
    gateway: Gateway
    flusher: asyncio.Task[None] | None = None  # records closed windows of refusals

    async def close(self) -> None:
        """Stop listening, close every connection (their sessions end), stop the
        background checks."""
        self.acceptor.close()
        with contextlib.suppress(Exception):
            await self.acceptor.wait_closed()
        await asyncio.sleep(0)  # connection_lost callbacks spawn the sessions' logouts
        await end_children(self.gateway.children)
        pending = list(self.gateway.tasks)
        if pending:
            _, slow = await asyncio.wait(pending, timeout=5)
            for task in slow:
                task.cancel()
        if self.flusher is not None:
            self.flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.flusher
        if self.gateway.denials is not None:  # the refusals still counted, recorded
            await self.gateway.denials.flush(self.gateway.env, everything=True)


async def start_gateway(env: Env, config: Config, tui_command: Sequence[str]) -> Listener:
    """Listen for SSH on ``gateway.host``:``gateway.port`` (the host key made if missing).

    Args:
        tui_command: the command that starts the TUI (``strongroom tui URL --ca-file``);
            the session token reaches it on an inherited pipe, never its command line.

    Raises: OSError when the port cannot be bound.
    """
    gw_config = config.gateway
    # asyncssh logs each command an exec request names at INFO: a command line may hold
    # what should not be logged, and every refusal is audited here anyway.
    asyncssh.set_log_level(logging.WARNING)
    host_key = ensure_host_key(config.path(gw_config.host_key))
    security = config.security
    gateway = Gateway(env, config, tuple(tui_command))
    gateway.denials = DenialLog(security.denials_window_seconds, security.denials_max_keys)
    acceptor = await asyncssh.create_server(
        lambda: GatewayConnection(gateway),
        gw_config.host,
        gw_config.port,
        server_host_keys=[host_key],
        login_timeout=gw_config.login_grace_seconds,
        agent_forwarding=False,
        x11_forwarding=False,
        allow_scp=False,
        sftp_factory=None,
        keepalive_interval=60,
        encoding=None,
        line_editor=False,
        server_version="Strongroom",
        encryption_algs=list(GATEWAY_CIPHERS),  # no chacha20: slow per packet in asyncssh
        mac_algs=list(GATEWAY_MACS),
    )
    flusher = asyncio.ensure_future(run_flusher(env, gateway.denials))
    return Listener(acceptor, gateway, flusher)


def host_key_path(config: Config) -> Path:
    """Where the gateway's host key is."""
    return config.path(config.gateway.host_key)


async def close_gateway(listener: Listener) -> None:
    """Stop listening and close every gateway connection."""
    await listener.close()
