"""The seed's story once in a real terminal: ``strongroom tui`` in tmux at 80x24, keys
sent with send-keys, screens captured with capture-pane and asserted."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tui.story import (
    ADMIN,
    APPROVER,
    CLIENT,
    DESIGNEE,
    ORG,
    PROPOSER,
    SECRET,
    Person,
    fresh_node,  # noqa: F401 - fixture
)

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    """One tmux session on a private socket, running one command at 80x24."""

    def __init__(self, socket: Path, command: list[str], env: dict[str, str]) -> None:
        self.socket = socket
        wrapped = shlex.join(["env", *(f"{k}={v}" for k, v in env.items()), *command])
        self._tmux("new-session", "-d", "-s", "story", "-x", "80", "-y", "24", wrapped)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip() or f"tmux {args[0]} failed")
        return done.stdout

    def screen(self) -> str:
        """The 24 lines on screen now."""
        return self._tmux("capture-pane", "-p", "-t", "story")

    def keys(self, *keys: str) -> None:
        """Press named keys (Enter, Tab, BTab, F2, C-l, Escape…), one at a time."""
        for key in keys:
            self._tmux("send-keys", "-t", "story", key)
            time.sleep(0.05)  # a person's pace: lets the app read each key on its own

    def burst(self, *keys: str) -> None:
        """Send every key in ONE send-keys, as a fast typist over SSH does: tmux writes
        them to the pty together (names such as Tab or Enter are keys, the rest text)."""
        self._tmux("send-keys", "-t", "story", *keys)

    def type(self, text: str) -> None:
        """Type text literally."""
        self._tmux("send-keys", "-t", "story", "-l", text)
        time.sleep(0.05)

    def wait_for(self, *words: str, gone: bool = False, limit: float = 60.0) -> str:
        """Wait until every word is on the screen (or, with ``gone``, none is)."""
        deadline = time.monotonic() + limit
        screen = ""
        while time.monotonic() < deadline:
            try:
                screen = self.screen()
            except RuntimeError:  # the session ended (the app quit)
                screen = ""
            present = [w in screen for w in words]
            if (not any(present)) if gone else all(present):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"waited for {words} (gone={gone}); the screen was:\n{screen}")

    def ended(self) -> bool:
        """True once the session (the app) has ended."""
        try:
            self._tmux("has-session", "-t", "story")
        except RuntimeError:
            return True
        return False

    def close(self) -> None:
        """Stop this tmux server (only ours: it has its own socket)."""
        subprocess.run(
            ["tmux", "-S", str(self.socket), "kill-server"], capture_output=True, check=False
        )


@pytest.fixture
def terminal_factory(tmp_path):
    """Start the TUI in tmux; skip, saying why, where tmux cannot run."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (./setup/test.sh installs it with apt-get)")
    started: list[Terminal] = []

    def start(url: str) -> Terminal:
        env = {
            "STRONGROOM_KNOWN_HOSTS": str(tmp_path / "known_hosts.json"),
            "TERM": "xterm-256color",
            "PYTHONPATH": str(ROOT),
            "HOME": os.environ.get("HOME", str(tmp_path)),
        }
        command = [sys.executable, "-m", "server.ops.cli", "tui", url, "--reveal-seconds", "3"]
        try:
            terminal = Terminal(tmp_path / "tmux.sock", command, env)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"tmux cannot start a terminal here: {exc}")
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()


def log_in(term: Terminal, person: Person, password: str, org: str = "") -> None:
    """Type into the login screen (focus starts on the username: its label is marked)."""
    term.wait_for("▶ Username", "Password")
    term.keys("BTab", "C-u")  # the org field holds the last login's org: set it
    if org:
        term.type(org)
    term.keys("Tab")
    term.type(person.username)
    term.keys("Tab")
    term.type(password)
    term.keys("Enter")


def first_login(term: Terminal, person: Person, org: str = "") -> None:
    """Initial password, then one's own at the form that follows."""
    log_in(term, person, person.initial, org)
    term.wait_for("Choose a new password")
    term.type(person.final)
    term.keys("Tab")
    term.type(person.final)
    term.keys("Enter")
    term.wait_for("Vault F2", "Log out")


def log_out(term: Terminal) -> None:
    """Ctrl+X."""
    term.keys("C-x")
    term.wait_for("Username", "Password")


def add_user(term: Terminal, person: Person, full_name: str, role: str, org="MSPOrg") -> None:
    """n in the users pane; the role is picked by typing."""
    term.keys("n")
    term.wait_for(f"New user in {org}")
    term.type(person.username)
    term.keys("Tab")
    term.type(full_name)
    term.keys("Tab", "Tab")
    term.type(role)
    term.keys("Enter", "Tab")
    term.type(person.initial)
    term.keys("Enter")
    term.wait_for(f"User {person.username} added")


def test_story_in_tmux(terminal_factory, fresh_node):  # noqa: F811
    """The story by keys in a real terminal, asserting on captured screens."""
    term = terminal_factory(fresh_node.url)
    screen = term.wait_for("First run", "conf/initial-admin-password")
    assert "^q Quit" in screen.splitlines()[-1]
    first_login(term, ADMIN)
    term.wait_for("r Reveal c Copy / Search")  # the vault's list has the focus, its keys first
    last = term.screen().rstrip().splitlines()[-1]
    assert " ".join(last.split()).endswith("F1 Keys ^x Log out ^q Quit")  # nothing cut

    term.keys("F6")
    term.wait_for("Users F6", "PRIVILEGED admin")
    for person, name in ((PROPOSER, "Pat"), (APPROVER, "Ann"), (DESIGNEE, "Dee")):
        add_user(term, person, name, "adm")
    term.keys("F3")
    term.keys("n")
    term.wait_for("New organization")
    term.type("Acme Ltd")
    term.keys("Tab")
    term.type(ORG)
    term.keys("Tab", "Tab")
    term.type("msp")
    term.keys("Enter", "Enter")
    term.wait_for(f"Organization {ORG} created")
    # Typed ahead of the server's answers (issue 35): the keys after each Enter wait for
    # it, then open the next form; none reach the list (the d of "Ltd" once opened
    # "Delete acme" there).
    term.burst("n", "Beta Ltd", "Tab", "beta", "Enter", "n", "Gamma Ltd", "Tab", "gamma", "Enter")
    screen = term.wait_for("Organization gamma created", "beta", "gamma", ORG)
    assert f"Delete {ORG}" not in screen and "New organization" not in screen, screen
    log_out(term)

    first_login(term, PROPOSER)
    term.keys("F4")
    term.wait_for("q Request")
    term.keys("q")
    term.wait_for("Request org access (1 of 2)")
    term.type(ORG)
    term.keys("Enter", "Tab")
    term.type(f"user {DESIGNEE.username}")
    term.keys("Enter", "Enter")
    term.wait_for("Request org access (2 of 2)")
    term.type(APPROVER.username)
    term.keys("Enter", "Tab")
    term.type("on call")
    term.keys("Enter")
    term.wait_for(f"{APPROVER.username} has been asked")
    term.keys("y")
    term.wait_for("Nothing is waiting")
    log_out(term)

    first_login(term, DESIGNEE)
    term.keys("F4", "y")
    term.wait_for("Nothing is waiting")
    log_out(term)

    first_login(term, APPROVER)
    term.keys("F4")
    term.wait_for("on call")
    term.keys("y")
    screen = term.wait_for("Approve org access", f"Proposed by: {PROPOSER.username}")
    assert f"For: user {DESIGNEE.username}" in screen and f"Organization: {ORG}" in screen
    term.type(APPROVER.final)
    term.keys("Enter")
    # "may act in <org>" is the dialog's own note; the approval is done when it closes.
    term.wait_for("Approve org access", gone=True)
    log_out(term)

    log_in(term, DESIGNEE, DESIGNEE.final)
    term.wait_for("Vault F2")
    term.keys("C-o")
    term.type(ORG)
    term.keys("Enter")
    term.wait_for(f"{ORG}                        ▼")
    term.keys("F6")
    term.wait_for("x Disable d Delete")
    add_user(term, CLIENT, "Carol", "password user", org=ORG)
    term.keys("F2", "n")
    term.wait_for("New resource in acme")
    term.type("web01")
    term.keys("Enter")
    term.wait_for("Resource web01 added")
    term.keys("a")
    term.wait_for("New account on web01")
    term.type("root")
    term.keys("Tab")
    term.type(SECRET)
    term.keys("Enter")
    term.wait_for("Account root added")
    term.keys("s")
    term.wait_for("Share web01")
    term.type(f"user {CLIENT.username}")
    term.keys("Enter", "Enter")
    term.wait_for("Shared.")
    term.keys("Tab", "r")
    term.wait_for(SECRET, "hides in")
    term.wait_for(SECRET, gone=True)
    term.burst("a", "postgres", "Enter", "a", "backup", "Tab", "S3cret-pass-123", "Enter")
    screen = term.wait_for("Account backup added", "postgres", "backup")
    assert "New account on" not in screen, screen
    term.keys("F5")
    term.wait_for("web01/root")
    log_out(term)

    first_login(term, CLIENT, org=ORG)
    term.wait_for("web01")
    log_out(term)

    log_in(term, DESIGNEE, DESIGNEE.final)
    term.wait_for("Vault F2")
    term.keys("F3")
    term.wait_for("n New e Edit")
    term.keys("/")
    term.wait_for("n New e Edit", gone=True)  # the search box has the keys now
    term.type(ORG)
    term.keys("Enter", "d")
    term.wait_for(f"Delete {ORG}")
    term.type(ORG)
    term.keys("Enter")
    term.wait_for(f"Deleted {ORG}")
    term.keys("C-q")
    deadline = time.monotonic() + 20
    while not term.ended() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert term.ended()
