"""Operations a newcomer trips on (issue 34, item 4): a restore beside a running node, and
commands printed so that they can be pasted as printed."""

from __future__ import annotations

import shlex
import socket
import subprocess
from pathlib import Path

from server.core import hostos
from server.ops import command_line
from server.ops.backup_cli import restore_port


def test_restore_takes_the_next_free_port_and_says_which(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = restore_port(port, "PostgreSQL", "--db-port")
    assert chosen > port
    assert (
        f"PostgreSQL port {port} is in use (another node?): using {chosen} (--db-port)"
        in capsys.readouterr().err
    )


def test_restore_keeps_the_default_port_when_it_is_free(capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert restore_port(port, "HTTPS", "--port") == port
    assert capsys.readouterr().err == ""


def test_printed_commands_survive_a_paste(monkeypatch):
    """A path with a space and a quote is one word again when the shell reads it."""
    monkeypatch.setattr(command_line, "self_command", lambda: "strongroom")
    path = Path("/srv/Strong Room/it's/conf/strongroom.toml")
    printed = command_line.command("serve", "--config", path)
    assert shlex.split(printed) == ["strongroom", "serve", "--config", str(path)]


def test_printed_commands_use_windows_quoting_on_windows(monkeypatch):
    monkeypatch.setattr(hostos, "IS_WINDOWS", True)
    monkeypatch.setattr(command_line, "self_command", lambda: "strongroom")
    printed = command_line.command("serve", "--config", "C:\\Program Files\\S\\conf\\s.toml")
    assert printed == 'strongroom serve --config "C:\\Program Files\\S\\conf\\s.toml"'
    assert subprocess.list2cmdline(["C:\\Program Files\\S\\conf\\s.toml"]) in printed
