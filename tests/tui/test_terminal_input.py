"""The TUI over a real terminal as SSH gives it (issue 35 items 1, 5, 9): keys typed ahead
in one burst while the server answers slowly, a byte that is not UTF-8, Esc then a key,
Ctrl+L, no terminal, a terminal that goes away, a window below 80x24, no mouse tracking.

The screens are tmux at 80x24 on a private socket (``tests.tui.test_terminal.Terminal``);
the terminal that goes away is a plain pty whose master the test closes. OpenSSH's server
is not installed here: a pty is what sshd gives the TUI, and a slow TCP proxy between the
TUI and the server stands for the slow link.
"""

from __future__ import annotations

import os
import pty
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

from tests.server.conftest import ADMIN, ADMIN_PASSWORD
from tests.tui.conftest import log_in, type_text, until
from tests.tui.keys import drawn, main_ready, notified, typed
from tests.tui.test_terminal import Terminal
from tui.clipboard import osc52, terminal_refusal
from tui.screens.login import LoginScreen
from tui.terminal import EscapeThenKeyParser, too_small, unsupported

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


# --- the pieces, without a terminal ---------------------------------------------------


def keys_of(data: str, then_wait: bool = True) -> list[str]:
    """The keys the TUI's parser reads from ``data`` (arriving in one read)."""
    parser = EscapeThenKeyParser()
    found = [e.key for e in parser.feed(data) if isinstance(e, events.Key)]
    if then_wait:
        time.sleep(0.15)  # past the escape delay: a lone Esc is Esc
        found += [e.key for e in parser.tick() if isinstance(e, events.Key)]
    return found


def test_escape_then_a_key_is_escape_then_the_key():
    """Over SSH Esc and the next key arrive in one read: Esc, then the key (never
    Alt+key); escape sequences (arrows, F-keys) still read as themselves."""
    assert keys_of("\x1bn") == ["escape", "n"]
    assert keys_of("\x1bN") == ["escape", "N"]
    assert keys_of("\x1b/abc") == ["escape", "slash", "a", "b", "c"]
    assert keys_of("\x1b") == ["escape"]
    assert keys_of("\x1b\x1b") == ["escape", "escape"]
    assert keys_of("\x1b[A") == ["up"]
    assert keys_of("\x1bOP") == ["f1"]
    assert keys_of("\x1b[15~") == ["f5"]
    assert keys_of("\x1b[Z") == ["shift+tab"]
    # Esc, then a letter that can begin a sequence (O, P, [) and nothing that completes
    # one: Esc, then what was typed (newcomer pass, session 11: Esc then P landed in the
    # field as Alt+Shift+P).
    assert keys_of("\x1bO") == ["escape", "O"]
    assert keys_of("\x1bPab") == ["escape", "P", "a", "b"]
    assert keys_of("\x1b[") == ["escape", "left_square_bracket"]
    assert keys_of("\x1b\x1bO") == ["escape", "escape", "O"]
    assert keys_of("\x1bP" + "q" * 30) == ["escape", "P", *["q"] * 30]
    assert keys_of("\x1bOA") == ["up"] and keys_of("\x1b[1;5A") == ["ctrl+up"]
    # Enter typed before the TUI had the terminal arrives as a line feed: still Enter.
    assert keys_of("ab\n") == ["a", "b", "enter"]


class FakeTty:
    def __init__(self, tty: bool = True) -> None:
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_terminals_that_cannot_show_it_are_refused_with_a_reason():
    """No terminal, TERM=dumb, a locale that is not UTF-8: a sentence that says what to do."""
    tty, utf8 = FakeTty(), {"TERM": "xterm-256color"}
    assert unsupported(tty, tty, utf8, "UTF-8") is None
    assert unsupported(tty, tty, {"TERM": "screen"}, "utf-8") is None
    assert "needs a terminal" in unsupported(FakeTty(False), tty, utf8, "UTF-8")
    assert "ssh -t" in unsupported(tty, FakeTty(False), utf8, "UTF-8")
    assert "TERM=dumb" in unsupported(tty, tty, {"TERM": "dumb"}, "UTF-8")
    assert "TERM=unset" in unsupported(tty, tty, {}, "UTF-8")
    latin = unsupported(tty, tty, utf8, "ISO-8859-1")
    assert "ISO-8859-1, not UTF-8" in latin and "LANG=C.UTF-8" in latin
    # The locale an SSH client forwards names its terminal's charset, installed here or not.
    named = {"TERM": "xterm", "LANG": "de_DE.ISO-8859-1"}
    assert "ISO-8859-1, not UTF-8" in unsupported(tty, tty, named)
    assert "latin1, not" in unsupported(tty, tty, {**named, "LC_ALL": "de_DE.latin1"})
    assert unsupported(tty, tty, {**named, "LC_CTYPE": "en_US.UTF-8"}) is None
    assert unsupported(tty, tty, {"TERM": "xterm", "LANG": "en_US.utf8"}) is None
    assert too_small(80, 24) is None and too_small(120, 40) is None
    assert "79x24" in too_small(79, 24) and "at least 80x24" in too_small(80, 23)


def test_without_a_terminal_it_refuses_to_start():
    """``ssh host 'strongroom tui URL'`` (no -t): exit status 2 and a clear message at
    once, never an app spinning with nobody to quit it."""
    done = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", "tui", "https://127.0.0.1:9"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert done.returncode == 2, done
    assert "strongroom tui needs a terminal" in done.stderr
    assert "ssh -t" in done.stderr


# --- a pty the test drives ----------------------------------------------------------------


def tui_in_pty(url: str, home: Path) -> tuple[subprocess.Popen, int]:
    """The TUI on a fresh pty of its own (no controlling terminal: closing the master is
    a hang-up seen only as the end of input, not as SIGHUP)."""
    master, slave = pty.openpty()
    os.set_blocking(master, False)
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "STRONGROOM_KNOWN_HOSTS": str(home / "known_hosts.json"),
        "COLUMNS": "80",
        "LINES": "24",
    }
    env.pop("TMUX", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "server.ops.cli", "tui", url],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        cwd=ROOT,
    )
    os.close(slave)
    return process, master


def read_pty(master: int, until_text: str, limit: float = 60.0) -> str:
    """What the TUI wrote, until ``until_text`` appears."""
    seen = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
            if until_text.encode() in seen:
                return seen.decode(errors="replace")
    raise AssertionError(f"never saw {until_text!r}; got {seen[-2000:]!r}")


def test_a_latin1_byte_and_a_closed_terminal(tui_server, tmp_path):
    """A byte that is not UTF-8 is typed as U+FFFD and the app goes on; when the terminal
    goes away (the master closed: reads fail), the app ends by itself with status 129
    instead of spinning at 100 % CPU."""
    process, master = tui_in_pty(tui_server.url, tmp_path)
    try:
        read_pty(master, "Username")
        time.sleep(1.0)
        os.write(master, b"ab\xfc\xe9cd")  # Latin-1 "abücd" typed into the username
        time.sleep(1.0)
        assert process.poll() is None, "a Latin-1 byte ended the app"
        os.write(master, b"\t")
        time.sleep(0.5)
        assert process.poll() is None
    finally:
        os.close(master)
    try:
        status = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("the TUI kept running after its terminal went away") from None
    assert status == 129


# --- tmux at 80x24, with a slow link ----------------------------------------------------


class SlowProxy:
    """A TCP proxy that holds every chunk from the server for ``delay`` seconds: the
    slow SSH-era link (and a slow server) the typed-ahead keys must not outrun."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._sockets.append(client)
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            self._sockets.append(server)
            threading.Thread(target=self._pipe, args=(client, server, 0), daemon=True).start()
            threading.Thread(
                target=self._pipe, args=(server, client, self.delay), daemon=True
            ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, delay: float) -> None:
        try:
            while data := source.recv(65536):
                if delay:
                    time.sleep(delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        for s in self._sockets:
            s.close()


@pytest.fixture
def tty(tmp_path):
    """Start the TUI in tmux at 80x24 (``env`` extra variables; ``program``: the command
    before ``tui``, python -m server.ops.cli unless given); each run records its exit
    status in ``tmp_path/status``. Skips, saying why, where tmux cannot run."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (./setup/test.sh installs it with apt-get)")
    started: list[Terminal] = []

    def start(url: str, program: list[str] | None = None, **env: str) -> Terminal:
        base = {
            "STRONGROOM_KNOWN_HOSTS": str(tmp_path / "known_hosts.json"),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
            "HOME": os.environ.get("HOME", str(tmp_path)),
        }
        tui = shlex.join([*(program or [sys.executable, "-m", "server.ops.cli"]), "tui", url])
        status = tmp_path / "status"
        status.unlink(missing_ok=True)
        command = ["sh", "-c", f"{tui}; echo $? > {shlex.quote(str(status))}; sleep 30"]
        try:
            terminal = Terminal(tmp_path / "tmux.sock", command, base | env)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"tmux cannot start a terminal here: {exc}")
        terminal.status = status
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()


def burst(term: Terminal, *keys: str) -> None:
    """Send every key in ONE send-keys: tmux writes them to the pty together, as a
    fast typist over SSH does (names such as Tab or Enter are keys, the rest text)."""
    term._tmux("send-keys", "-t", "story", *keys)


def tui_pid(term: Terminal) -> int:
    """The TUI's process (the child of the pane's shell)."""
    shell = term._tmux("display-message", "-p", "-t", "story", "#{pane_pid}").strip()
    found = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True, check=False)
    return int(found.stdout.split()[0])


def exit_status(term: Terminal, limit: float = 20.0) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if term.status.exists() and term.status.read_text().strip():
            return int(term.status.read_text())
        time.sleep(0.1)
    raise AssertionError(f"the TUI did not end; the screen was:\n{term.screen()}")


def test_typed_ahead_in_one_burst_over_a_slow_link(tty, tui_server):
    """Login, the Users tab and a whole new-user form typed in two bursts while every
    answer of the server takes 0.3 s: every key lands in its field, in order."""
    upstream = ("127.0.0.1", int(tui_server.url.rsplit(":", 1)[1]))
    proxy = SlowProxy(upstream, delay=0.3)
    try:
        term = tty(f"https://127.0.0.1:{proxy.port}")
        term.wait_for("Username", "Password")
        # Below 80x24: a message, not a cut title and empty lists.
        term._tmux("resize-window", "-t", "story", "-x", "70", "-y", "20")
        term.wait_for("Window too small", "needs at least 80x24")
        term._tmux("resize-window", "-t", "story", "-x", "80", "-y", "24")
        burst(term, ADMIN, "Tab", ADMIN_PASSWORD, "Enter")
        # Right after Enter, before the main screen exists: the tab, the form, its fields.
        burst(term, "F6", "n", "burst1", "Tab", "Bea Burst", "Tab", "Tab", "adm")
        burst(term, "Enter", "Tab", "burst-Initial-pw-1", "Enter")
        term.wait_for("User burst1 added", limit=90)
        token = tui_server.login(ADMIN, ADMIN_PASSWORD)
        status, user = tui_server.api("GET", "/orgs/MSPOrg/users/burst1", token=token)
        assert status == 200, user
        assert user["full_name"] == "Bea Burst"
        assert "admin" in user["role"]
        assert tui_server.login("burst1", "burst-Initial-pw-1")  # the password, whole

        # Esc and a key in one read: the form closes and the key acts on the list.
        burst(term, "n")
        term.wait_for("New user in MSPOrg")
        burst(term, "zzz")
        term.wait_for("zzz")
        burst(term, "Escape", "n")  # → "\x1bn": not Alt+n kept in the form
        term.wait_for("zzz", gone=True)
        term.wait_for("New user in MSPOrg")  # a new, empty form: n acted on the list

        # Ctrl+L repaints (and does not log out): scribble on the terminal, then Ctrl+L.
        burst(term, "Escape")
        term.wait_for("New user in MSPOrg", gone=True)
        pane_tty = term._tmux("display-message", "-p", "-t", "story", "#{pane_tty}").strip()
        Path(pane_tty).write_text("\x1b[5;5HLINE-NOISE-LINE-NOISE")
        term.wait_for("LINE-NOISE")
        term.keys("C-l")
        term.wait_for("LINE-NOISE", gone=True)
        screen = term.wait_for("Users F6", "Log out", "burst1", limit=10)  # drawn again
        assert "LINE-NOISE" not in screen

        # No mouse tracking, ever.
        flags = term._tmux(
            "display-message",
            "-p",
            "-t",
            "story",
            "#{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}#{mouse_sgr_flag}",
        )
        assert flags.strip() == "0000", flags

        # Copy inside tmux, whose set-clipboard is external by default: said, not hidden.
        inside = {"TMUX": f"{term.socket},1,0", "PATH": os.environ.get("PATH", "")}
        term._tmux("set-option", "-g", "set-clipboard", "external")
        assert "set-clipboard is external" in terminal_refusal(inside)
        term._tmux("set-option", "-g", "set-clipboard", "on")
        assert terminal_refusal(inside) is None
        # Log out is Ctrl+X.
        term.keys("C-x")
        term.wait_for("Username", "Password")

        # A hang-up (SIGHUP, as sshd sends when the connection drops): the app ends.
        os.kill(tui_pid(term), signal.SIGHUP)
        assert exit_status(term) == 129
    finally:
        proxy.close()


def test_keys_typed_before_the_tui_starts_are_never_shown(tty, tui_server):
    """Newcomer pass, session 11: ``strongroom tui URL``, then the user name, Tab, the
    password and Enter typed at once, while the TUI still loads (a second or more). The
    terminal stops echoing before the TUI takes the screen; the password is never on the
    screen (while the TUI starts, nor after it ends, in the scrollback too); the Enter
    logs in; at the end the terminal echoes again, as before."""
    strongroom = Path(sys.executable).with_name("strongroom")
    term = tty(tui_server.url, program=[str(strongroom)])
    pane_tty = term._tmux("display-message", "-p", "-t", "story", "#{pane_tty}").strip()

    def mode() -> list[str]:
        found = subprocess.run(["stty", "-F", pane_tty, "-a"], capture_output=True, text=True)
        return found.stdout.split()

    deadline = time.monotonic() + 30
    while "-echo" not in mode() and time.monotonic() < deadline:
        time.sleep(0.01)
    alternate = term._tmux("display-message", "-p", "-t", "story", "#{alternate_on}")
    assert alternate.strip() == "0"  # held before the TUI took the screen
    burst(term, ADMIN, "Tab", ADMIN_PASSWORD, "Enter")
    screens = []
    while time.monotonic() < deadline + 30:
        screens.append(term.screen())
        if "Log out" in screens[-1]:
            break
        time.sleep(0.05)
    assert "Log out" in screens[-1], screens[-1]  # the Enter logged in
    assert not [s for s in screens if ADMIN_PASSWORD in s]
    term.keys("C-q")
    assert exit_status(term) == 0
    after = term._tmux("capture-pane", "-p", "-S", "-200", "-t", "story")
    assert ADMIN not in after and ADMIN_PASSWORD not in after, after
    assert {"echo", "icrnl", "icanon"} <= set(mode())  # given back as it was


def test_keys_typed_before_python_runs_leave_no_echo(tty, tui_server):
    """Newcomer pass, session 12: the login typed in the same instant as the command,
    before Python even runs, is echoed by the terminal itself; that echo stayed on the
    shell's screen after the TUI ended. The TUI now reads those keys at its start, erases
    their echo and uses them: the login goes through, and after the TUI the password is
    nowhere on the screen or in its scrollback."""
    strongroom = Path(sys.executable).with_name("strongroom")
    term = tty(tui_server.url, program=[str(strongroom)])
    burst(term, ADMIN, "Tab", ADMIN_PASSWORD, "Enter")  # before the process has started
    term.wait_for("Log out", limit=60)  # the typed Enter logged in
    term.keys("C-q")
    assert exit_status(term) == 0
    after = term._tmux("capture-pane", "-p", "-S", "-200", "-t", "story")
    assert ADMIN_PASSWORD not in after, after


def test_latin1_locale_and_dumb_terminal_are_refused(tty, tui_server):
    """An ISO-8859-1 locale or TERM=dumb: a clear message and status 2, not boxes drawn
    as ``\\u2502`` text."""
    for env, words in (
        ({"LANG": "en_US.ISO-8859-1", "LC_ALL": "", "LC_CTYPE": ""}, "ISO-8859-1, not UTF-8"),
        ({"TERM": "dumb"}, "TERM=dumb"),
    ):
        term = tty(tui_server.url, **env)
        screen = term.wait_for(words)
        assert exit_status(term) == 2, screen
        term.close()


# --- Pilot: the same rules inside the app ------------------------------------------------


async def test_typed_reads_what_is_drawn_not_the_placeholder():
    """The check the tests below rely on: an empty org field shows its grey 'MSPOrg'
    placeholder, which ``typed`` does not read as typed text; typed text is read."""

    class Login(App):
        def compose(self) -> ComposeResult:
            yield Input(placeholder="MSPOrg", id="org", compact=True)
            yield Input(id="other", compact=True)

    app = Login()
    async with app.run_test(size=(80, 24)) as pilot:
        org = app.query_one("#org", Input)
        await pilot.press("tab")  # the focus (and the cursor) elsewhere
        await pilot.pause()
        assert "MSPOrg" in drawn(org) and typed(org) == ""
        await pilot.press("shift+tab", *"MSPOrg", "tab")
        await pilot.pause()
        assert typed(org) == "MSPOrg"


async def test_fields_keep_their_text_and_tab_stays_in_the_pane(tui_server, make_app):
    """Shift+Tab then a letter adds to the field (the cursor goes to the end, nothing is
    selected); Tab from the accounts list stays in the vault (never the org selector);
    Ctrl+C says how to quit in words; Ctrl+L does not log out; the clipboard is emptied
    at log out and quit; the org of the last login comes back at the login screen."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.focused is not None, what="(login focus)")
        await type_text(pilot, "adm")
        await pilot.press("tab", "shift+tab")
        await type_text(pilot, "in")
        await pilot.pause()
        assert typed(screen.query_one("#username", Input)) == "admin"
        await pilot.press("shift+tab")
        await type_text(pilot, "MSPOrg")
        await pilot.press("tab", "tab")
        await type_text(pilot, ADMIN_PASSWORD)
        await pilot.press("enter")
        await main_ready(pilot)
        assert app.last_org == "MSPOrg"
        main = app.screen
        for _ in range(6):
            await pilot.press("tab")
            focused = main.focused
            assert focused is not None and focused.id != "org-select", focused
            assert "vault" in [a.id for a in focused.ancestors if a.id], focused
        await pilot.press("ctrl+c")
        await notified(pilot, "Press Ctrl+Q to quit Strongroom.")
        assert all("[b]" not in n.message for n in app._notifications)
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        assert app.screen is main

        written: list[str] = []
        driver_write = app._driver.write
        app._driver.write = lambda data: (written.append(data), driver_write(data))[1]
        app.copy_to_clipboard("a-password")
        app._clipboard_clearing = None
        await pilot.press("ctrl+x")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(logged out)")
        assert osc52("") in written and app.clipboard == ""
        await until(pilot, lambda: typed(app.screen.query_one("#org", Input)) == "MSPOrg")

        await log_in(pilot, ADMIN, ADMIN_PASSWORD, "MSPOrg")
        await main_ready(pilot)
        assert isinstance(app.screen.focused, DataTable)
        written.clear()
        app.copy_to_clipboard("another")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: osc52("") in written, what="(cleared on quit)")

    # A new run on this terminal starts with the org of the last login too.
    again = make_app()
    async with again.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: typed(again.screen.query_one("#org", Input)) == "MSPOrg")
