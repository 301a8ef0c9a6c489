"""The TUI over an SSH channel (issue 30, item 3).

The gateway runs the very TUI an administrator runs at a terminal (``strongroom tui``)
as a child process on a pseudo-terminal, bound to the session the login just made: the
token reaches the child on an inherited pipe (``STRONGROOM_SESSION_FD``), never on its
command line or in its environment. Bytes are copied between the pty and the channel;
window-size changes set the pty's size (and the child gets SIGWINCH); ^C, ^D and ^Z are
keys the TUI reads (it runs in raw mode), there is no shell behind it; when the TUI ends,
the channel closes with its exit status, and when the channel closes, the TUI is hung up.

Only a ``shell`` request with a pty starts the TUI. ``exec`` (any command), subsystems
(SFTP among them) and a shell without a pty are refused and audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from server.core.typeahead import hold_keys
from server.security.ssh_keys import asyncssh
from server.services.brokered import parse_connect

log = logging.getLogger("strongroom.gateway")

MIN_COLS, MIN_ROWS = 80, 24
SESSION_FD_ENV = "STRONGROOM_SESSION_FD"
GATEWAY_FD_ENV = "STRONGROOM_GATEWAY_FD"  # the TUI's brokered-session requests
CONNECT_EXIT = 75  # the TUI ended to open a brokered session (tui/widgets/vault.py)
Connect = tuple[str | None, str, str, str | None]  # org, resource, account, reason
CHILD_STOP_SECONDS = 3.0


class TuiChannel(asyncssh.SSHServerSession):  # type: ignore[misc]
    """One session channel: refuses everything but a shell with a pty, which is the TUI."""

    def __init__(
        self,
        ready: asyncio.Future[Any],
        refused: Callable[[str], None],
        tui_command: Sequence[str],
        children: set[asyncio.subprocess.Process],
        broker: Callable[[TuiChannel, Any, Connect, bool], Awaitable[None]] | None = None,
    ) -> None:
        """``ready``: resolves to the login's session (its ``token``), or None when the
        login failed; ``refused``: audits a refused request; ``tui_command``: the TUI;
        ``children``: the listener's running TUIs (ended when it closes); ``broker``: runs
        a brokered session (``connect RESOURCE/ACCOUNT``, issue 30 item 4) on this channel."""
        self.ready, self.refused, self.tui_command = ready, refused, list(tui_command)
        self.children = children
        self.tasks: set[asyncio.Task[Any]] = set()
        self.chan: Any = None
        self.term = "xterm-256color"
        self.size = (MIN_COLS, MIN_ROWS)
        self.has_pty = False
        self.master: int | None = None
        self.child: asyncio.subprocess.Process | None = None
        self.started = False
        self.broker = broker
        self.connect_to: Connect | None = None  # asked for by ``exec connect ...``
        self.exec_refused = False  # another command: said on stderr, status 1 (never run)
        self.session: Any = None
        self.requests: int | None = None  # read end of the TUI's request pipe
        self.lost = False
        self.key_waiter: asyncio.Future[bytes] | None = None
        self.pump: Any = None  # a brokered session's pump while one runs (broker.Pump)

    def connection_made(self, chan: Any) -> None:
        """Keep the channel."""
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], _: Any) -> bool:
        """Accept a pty (the TUI needs one); remember its type and size."""
        self.has_pty = True
        self.term = term_type or self.term
        self.size = (term_size[0] or MIN_COLS, term_size[1] or MIN_ROWS)
        return True

    def shell_requested(self) -> bool:
        """The 'shell' is the TUI: accepted (a shell without a pty is refused at start)."""
        return True

    def exec_requested(self, command: str) -> bool:
        """No command runs on the vault's machine: refused and audited (never the text).
        The one exception: ``connect [ORG/]RESOURCE/ACCOUNT [REASON]``, a brokered
        session to a target (issue 30, item 4)."""
        parsed = parse_connect(command)
        if self.broker is not None and parsed is not None:
            self.connect_to = parsed
            return True
        # Accepted, to say why in one line on stderr and end with status 1 (OpenSSH says
        # only "exec request failed on channel 0" to a refusal; newcomer pass, session 10).
        self.refused("exec")
        self.exec_refused = True
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        """SFTP and every other subsystem: refused and audited."""
        self.refused("sftp" if subsystem == "sftp" else "subsystem")
        return False

    def session_started(self) -> None:
        """Start the TUI once the login's session exists."""
        self._spawn_task(self._start())

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _start(self) -> None:
        session = await self.ready
        if session is None:
            self.chan.close()
            return
        self.session = session
        if self.exec_refused:
            self.chan.write_stderr(_exec_refusal(self.chan).encode())
            self.chan.exit(1)
            return
        if self.connect_to is not None and self.broker is not None:
            if not self.has_pty:
                self.chan.write(b"Strongroom: a brokered session needs a terminal (ssh -t).\r\n")
                self.chan.exit(1)
                return
            await self.broker(self, session, self.connect_to, False)
            return
        if not self.has_pty:
            self.refused("shell_without_pty")
            self.chan.write(
                b"Strongroom: this is the vault's terminal UI; it needs a terminal "
                b"(ssh -t). There is no shell here.\r\n"
            )
            self.chan.exit(1)
            return
        try:
            await self._spawn(session.token)
        except OSError as exc:
            log.error("gateway: the TUI did not start: %s", exc)
            self.chan.write(b"Strongroom: the terminal UI could not start.\r\n")
            self.chan.exit(1)
            return
        self.started = True

    async def _spawn(self, token: str) -> None:
        master, slave = os.openpty()
        read_end, write_end = os.pipe()
        pass_fds: tuple[int, ...] = (read_end,)
        request_write = None
        if self.broker is not None:  # the TUI may ask for a brokered session (its `t` key)
            self.requests, request_write = os.pipe()
            os.set_blocking(self.requests, False)
            pass_fds = (read_end, request_write)
        try:
            self._set_size(master)
            hold_keys(slave)  # keys typed before the TUI reads them: never echoed back
            env = {
                "TERM": self.term,
                "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8",
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", "/"),
                SESSION_FD_ENV: str(read_end),
            }
            if request_write is not None:
                env[GATEWAY_FD_ENV] = str(request_write)
            self.child = await asyncio.create_subprocess_exec(
                *self.tui_command,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                pass_fds=pass_fds,
                start_new_session=True,
                preexec_fn=_controlling_tty,  # sets the pty as the controlling terminal
                close_fds=True,
            )
            os.write(write_end, token.encode("ascii"))
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
            os.close(read_end)
            os.close(write_end)
            if request_write is not None:
                os.close(request_write)
        self.master = master
        self.children.add(self.child)
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._from_tui)
        self._spawn_task(self._wait_child())

    def _set_size(self, fd: int) -> None:
        import fcntl  # POSIX only, as ptys are: imported where used (issue 34)
        import termios

        cols, rows = self.size
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _from_tui(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the TUI closed its terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            return
        try:
            self.chan.write(data)
        except BrokenPipeError:  # the client went: what the TUI still draws goes nowhere
            asyncio.get_running_loop().remove_reader(self.master)

    async def _wait_child(self) -> None:
        child = self.child
        assert child is not None
        await child.wait()
        self.children.discard(child)
        await asyncio.sleep(0.05)  # the last screen bytes still in the pty
        if self.master is not None:
            with contextlib.suppress(OSError):
                while True:
                    data = os.read(self.master, 65536)
                    if not data:
                        break
                    self.chan.write(data)
        self._close_pty()
        code = child.returncode
        request = self._take_request()
        if request is not None and code == CONNECT_EXIT and not self.lost and self.broker:
            await self._brokered_then_tui(request)
            return
        with contextlib.suppress(Exception):
            self.chan.exit(code if code is not None and code >= 0 else 1)

    def _take_request(self) -> Connect | None:
        """The brokered session the TUI asked for before it ended (one JSON line with
        org, resource and account on its request pipe), if any."""
        if self.requests is None:
            return None
        try:
            raw = os.read(self.requests, 4096)
        except OSError:
            raw = b""
        finally:
            os.close(self.requests)
            self.requests = None
        try:
            asked = json.loads(raw.decode("utf-8").splitlines()[0])
            return (str(asked["org"]), str(asked["resource"]), str(asked["account"]), None)
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    async def _brokered_then_tui(self, request: Connect) -> None:
        """Run the brokered session the TUI asked for on this channel, then wait for
        Enter and start the TUI again (bound to the same session)."""
        assert self.broker is not None
        await self.broker(self, self.session, request, True)
        if self.lost:
            return
        with contextlib.suppress(Exception):
            self.chan.write(b"\r\nPress Enter to return to the vault.\r\n")
        self.key_waiter = asyncio.get_running_loop().create_future()
        try:
            while not self.lost:
                key = await self.key_waiter
                if b"\r" in key or b"\n" in key:
                    break
                self.key_waiter = asyncio.get_running_loop().create_future()
        finally:
            self.key_waiter = None
        if self.lost:
            return
        try:
            await self._spawn(self.session.token)
        except OSError as exc:
            log.error("gateway: the TUI did not start again: %s", exc)
            with contextlib.suppress(Exception):
                self.chan.exit(1)

    def attach(self, pump: Any) -> None:
        """A brokered session runs on this channel: keys and size changes go to it."""
        self.pump = pump

    def detach(self) -> None:
        """The brokered session ended."""
        self.pump = None

    def data_received(self, data: bytes, datatype: Any) -> None:
        """Keys from the user to the TUI (or the brokered session's target)."""
        if self.pump is not None:
            self.pump.from_user(data)
        elif self.key_waiter is not None:
            if not self.key_waiter.done():
                self.key_waiter.set_result(data)
        elif self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, data)

    def terminal_size_changed(self, width: int, height: int, *_: Any) -> None:
        """The user's window changed size: the pty follows (the TUI gets SIGWINCH)."""
        self.size = (width or MIN_COLS, height or MIN_ROWS)
        if self.pump is not None:
            self.pump.resize(*self.size)
        if self.master is not None:
            with contextlib.suppress(OSError):
                self._set_size(self.master)

    def break_received(self, msec: int) -> bool:
        """A break is not passed on (there is no shell to interrupt)."""
        return False

    def signal_received(self, signal_name: str) -> None:
        """Signals from the client are ignored: the TUI is ended by its own keys."""

    def eof_received(self) -> bool:
        """The client closed its input: hang the TUI up (a brokered target gets EOF)."""
        if self.pump is not None and self.pump.target_chan is not None:
            with contextlib.suppress(Exception):
                self.pump.target_chan.write_eof()
            return False
        self._hang_up()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The channel closed: hang the TUI up and release the pty (a brokered session
        ends)."""
        self.lost = True
        if self.pump is not None:
            self.pump.finish("client_closed")
        if self.key_waiter is not None and not self.key_waiter.done():
            self.key_waiter.set_result(b"")
        self._hang_up()

    def _hang_up(self) -> None:
        child = self.child
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGHUP)
            asyncio.get_running_loop().call_later(CHILD_STOP_SECONDS, _terminate, child)

    def _close_pty(self) -> None:
        if self.master is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.master)
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None


async def end_children(children: set[asyncio.subprocess.Process]) -> None:
    """Hang up every running TUI, then kill what is left after ``CHILD_STOP_SECONDS``."""
    running = [c for c in children if c.returncode is None]
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGHUP)
    if not running:
        return
    waits = [asyncio.ensure_future(c.wait()) for c in running]
    _, slow = await asyncio.wait(waits, timeout=CHILD_STOP_SECONDS)
    for child in running:
        _terminate(child)
    if slow:
        await asyncio.wait(slow, timeout=CHILD_STOP_SECONDS)


def _terminate(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)


def _controlling_tty() -> None:
    """In the child, after setsid: make its pty (stdin) the controlling terminal."""
    import fcntl  # POSIX only (issue 34)
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _exec_refusal(chan: Any) -> str:
    """The one line an ``ssh HOST COMMAND`` gets: what the gateway opens instead, with the
    port and user name of this connection (newcomer pass, session 10)."""
    user = chan.get_extra_info("username") or "USER"
    sockname = chan.get_extra_info("sockname") or ()
    port = f"-p {sockname[1]} " if len(sockname) >= 2 else ""
    return (
        f"This gateway opens the Strongroom TUI (ssh -t {port}{user}@HOST) or a brokered "
        f"session: ssh -t {port}{user}@HOST connect <resource>/<account>. "
        "Commands are not run.\r\n"
    )
