"""A brokered session: the user's gateway channel joined to an SSH session on the target
(issue 30, items 4-6).

``ssh -t -p 2222 alice@vault connect web01/root``: the gateway decides as a reveal does
(``server.services.brokered.open_session``), connects to the target with its host key
pinned and the stored password (or private key) — which stays in this process's memory:
it is never written to the channel, a log, a child's environment or a command line — and
copies bytes both ways. What the target sends is recorded (asciicast v2, output events)
and sealed when the session ends. The session is cut when the user may no longer use the
account (``brokered.ended_by``, asked every ``session_check_seconds``: the user disabled
or its session ended, the org out of reach, the entitlement withdrawn, the check-out
window ended or checked in; or the rule could not be asked), after the idle timeout (no
key from the user), or at the maximum session length. Each session is its own task: a
slow or stuck target only delays its own session.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import time
from typing import Any

from server.core.errors import StrongroomError
from server.gateway.wire import one_write_per_packet
from server.security.ssh_keys import asyncssh
from server.services import auth, brokered, gateway_login
from server.services.connectors.base import Login, TargetError
from server.services.connectors.ssh import connect_pinned
from server.services.context import Env
from server.services.denials import DenialLog
from server.services.gateway_login import GatewaySession

log = logging.getLogger("strongroom.gateway")

# A session whose recording would pass this is ended (an unrecorded session is not allowed).
MAX_RECORDING_BYTES = 64 * 1024 * 1024

ENDED_MESSAGES = {
    "recording_full": "the session's recording reached its maximum size",
    "window_ended": "the check-out window ended (or the check-out was checked in)",
    "not_entitled": "you are no longer entitled to this account (a share or group changed)",
    "no_org": "this organization is no longer in your reach",
    "user_disabled": "your user was disabled",
    "credential_ended": "your Strongroom session ended (logged out, idle too long, or the "
    "password was reset)",
    "check_failed": "your access could not be checked (the database did not answer), "
    "so the session was ended",
    "idle": "the session was idle too long",
    "max_length": "the session reached its maximum length",
}


class Recorder:
    """The session's asciicast v2 recording: a header line, then ``[time, "o", text]``
    events (what the target sent, UTF-8 decoded as it streams)."""

    def __init__(self, cols: int, rows: int, term: str, title: str) -> None:
        self.start = time.monotonic()
        header = {
            "version": 2,
            "width": cols,
            "height": rows,
            "timestamp": int(time.time()),
            "env": {"TERM": term},
            "title": title,
        }
        self.lines = [json.dumps(header)]
        self.size = len(self.lines[0])
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def output(self, data: bytes) -> None:
        """Record what the target sent."""
        text = self.decoder.decode(data)
        if text:
            at = round(time.monotonic() - self.start, 6)
            self.lines.append(json.dumps([at, "o", text]))
            self.size += len(self.lines[-1]) + 1

    def cast(self) -> bytes:
        """The whole recording (newline-terminated lines)."""
        tail = self.decoder.decode(b"", final=True)
        if tail:
            self.lines.append(json.dumps([round(time.monotonic() - self.start, 6), "o", tail]))
        return ("\n".join(self.lines) + "\n").encode("utf-8")


class _TargetSide(asyncssh.SSHClientSession):  # type: ignore[misc]
    def __init__(self, pump: Pump) -> None:
        self.pump = pump

    def data_received(self, data: bytes, datatype: Any) -> None:
        self.pump.from_target(data)

    def exit_status_received(self, status: int) -> None:
        self.pump.exit_status = status

    def connection_lost(self, exc: Exception | None) -> None:
        self.pump.finish("target_closed")


class Pump:
    """Bytes between the user's channel and the target's, counted and recorded."""

    def __init__(self, user_chan: Any, recorder: Recorder) -> None:
        self.user_chan = user_chan
        self.recorder = recorder
        self.target_chan: Any = None
        self.bytes_out = 0
        self.bytes_in = 0
        self.last_input = time.monotonic()
        self.exit_status: int | None = None
        self.reason = ""
        self.done = asyncio.Event()
        self.wake = asyncio.Event()  # ask the rule now (or the session is done)

    def from_target(self, data: bytes) -> None:
        """Target -> user (recorded). The bytes go to the user first, straight from
        asyncssh's callback, and are recorded after: the recording's work (decoding,
        JSON) never delays an echo, and the recording still holds every byte the user
        was sent (the chunk that fills it included)."""
        if self.done.is_set():
            return
        with contextlib.suppress(Exception):
            self.user_chan.write(data)
        self.bytes_out += len(data)
        self.recorder.output(data)
        if self.recorder.size > MAX_RECORDING_BYTES:
            self.finish("recording_full")

    def from_user(self, data: bytes) -> None:
        """User -> target (not recorded: what a user types may be a secret of theirs)."""
        self.bytes_in += len(data)
        self.last_input = time.monotonic()
        if self.target_chan is not None:
            with contextlib.suppress(Exception):
                self.target_chan.write(data)

    def resize(self, cols: int, rows: int) -> None:
        """The user's window changed size: the target's pty follows."""
        if self.target_chan is not None:
            with contextlib.suppress(Exception):
                self.target_chan.change_terminal_size(cols, rows)

    def finish(self, reason: str) -> None:
        """End the session (the first reason given is kept)."""
        if not self.reason:
            self.reason = reason
        self.done.set()
        self.wake.set()

    def check_now(self) -> None:
        """Ask the rule again without waiting for the next check (the gateway's login
        session ended: the session is cut with the rule's reason, before the connection
        is closed)."""
        self.wake.set()


async def run(
    env: Env,
    channel: Any,
    session: GatewaySession,
    ip: str,
    target: tuple[str | None, str, str, str | None],
    spawn: Any,
    keep_open: bool = False,
    denials: DenialLog | None = None,
) -> None:
    """Run one brokered session on ``channel`` (the gateway's TuiChannel) to ``target``
    (org or None for the user's own, resource, account, reason: ``connect
    [ORG/]RESOURCE/ACCOUNT [REASON]``, or the TUI's request); the channel exits when it
    ends, unless ``keep_open`` (the TUI starts again). ``spawn`` runs the closing work
    (recording, audit) even if the connection is gone. ``denials``: the gateway's count
    of refusals, where a refused connect is noted (``brokered.connect_refusal``)."""
    chan = channel.chan

    def finish(code: int) -> None:
        if not keep_open:
            with contextlib.suppress(Exception):
                chan.exit(code)

    org, resource, account, reason = target
    actor = None
    try:
        actor = await auth.authenticate(env, session.token, ip)
        opened = await brokered.open_session(
            env, actor, org or actor.org, resource, account, reason
        )
    except StrongroomError as exc:
        if actor is not None and denials is not None:  # audited as a reveal's refusal is
            spawn(denials.note(env, brokered.connect_refusal(exc, actor, ip, target)))
        chan.write(f"Strongroom: refused ({exc.code or exc.status}): {exc}\r\n".encode())
        finish(1)
        return
    gw = env.config.gateway
    cols, rows = channel.size
    recorder = Recorder(cols, rows, channel.term, opened.target_name)
    pump = Pump(chan, recorder)
    login = Login(opened.username, opened.password)
    try:
        conn = await asyncio.wait_for(
            connect_pinned(opened.target, login, opened.private_key), gw.connect_timeout_seconds
        )
        one_write_per_packet(conn)
        target_chan, _ = await conn.create_session(
            lambda: _TargetSide(pump),
            term_type=channel.term,
            term_size=(cols, rows),
            encoding=None,
        )
    except (TargetError, TimeoutError, OSError, asyncssh.Error) as exc:
        why = exc.reason if isinstance(exc, TargetError) else "unreachable"
        if isinstance(exc, TimeoutError):
            why = "timeout"
        extra = (
            {"presented": exc.extra.get("presented", "")} if isinstance(exc, TargetError) else {}
        )
        spawn(_safely(brokered.refused(env, actor, opened, why, **extra)))
        chan.write(_unreached(why, gw.connect_timeout_seconds).encode())
        finish(1)
        return
    del login
    opened.password = ""  # the connection is made: nothing keeps the password any longer
    opened.private_key = None
    pump.target_chan = target_chan
    channel.attach(pump)
    chan.write(f"Strongroom: connected to {opened.target_name} (recorded).\r\n".encode())
    started = time.monotonic()
    kept_alive = pump.last_input  # the user's keys up to here count for the login already
    try:
        while not pump.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pump.wake.wait(), gw.session_check_seconds)
            pump.wake.clear()
            if pump.done.is_set():
                break
            now = time.monotonic()
            if now - pump.last_input > gw.connect_idle_seconds:
                pump.finish("idle")
            elif now - started > gw.connect_max_seconds:
                pump.finish("max_length")
            else:
                if pump.last_input > kept_alive:
                    # The user is working: their gateway login is not idle either.
                    kept_alive = pump.last_input
                    try:
                        await gateway_login.keep_alive(env, session, ip)
                    except Exception:  # the rule, asked next, decides (fail closed)
                        log.warning("gateway: could not refresh %s's login", actor.username)
                # THE rule of a reveal, asked again (issue 30 item 4); an error ends the
                # session (check_failed: fail closed).
                why = await brokered.ended_by(env, actor, opened)
                if why is not None:
                    pump.finish(why)
    finally:
        channel.detach()
        conn.close()
        if pump.reason in ENDED_MESSAGES:
            with contextlib.suppress(Exception):
                chan.write(f"\r\nStrongroom: {ENDED_MESSAGES[pump.reason]}.\r\n".encode())
        ended = brokered.Ended(pump.reason, pump.bytes_out, pump.bytes_in, recorder.cast())
        spawn(_safely(brokered.close_session(env, actor, opened, ended)))
        status = pump.exit_status if pump.reason == "target_closed" else None
        finish(status if status is not None else (0 if pump.reason == "target_closed" else 1))


def _unreached(why: str, timeout: float) -> str:
    """What the user is told when the target was not reached (``why``: the reason code)."""
    if why == "timeout":
        return (
            f"Strongroom: the target did not answer within {timeout:g} seconds "
            "(timeout); the session was not opened.\r\n"
        )
    return f"Strongroom: the target refused or could not be reached ({why}).\r\n"


async def _safely(coro: Any) -> None:
    try:
        await coro
    except StrongroomError as exc:
        log.warning("gateway: %s", exc)
    except Exception:
        log.exception("gateway: a brokered session's closing work failed")
