"""The SSH gateway (issue 30) driven by OpenSSH's own ``ssh`` client in a pseudo-terminal,
like a person: key + TOTP login lands in the TUI at 80x24, and quitting it closes the
connection; a wrong key, a revoked or expired key, a disabled user, a wrong code: refused
(and audited, and counted by the login throttle); shell without a pty, exec, port
forwarding and SFTP: refused and audited."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
from pathlib import Path

import pytest

from server.gateway.server import start_gateway
from server.security import totp
from server.security.ssh_keys import host_key_fingerprint
from server.services.gateway_login import parse_ssh_user
from server.web.keys import ENV
from tests.conftest import free_port
from tests.server.conftest import make_user
from tests.server.test_totp import enrol

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client missing")

ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07")


def test_ssh_user_names_read_one_way():
    """``alice`` is MSPOrg's; ``alice@acme`` acme's; a user name with a dotted domain is
    MSPOrg's unless an org follows (issue 30, item 2: the documented form)."""
    assert parse_ssh_user("alice") == ("alice", "MSPOrg")
    assert parse_ssh_user("alice@acme") == ("alice", "acme")
    assert parse_ssh_user("alice@example.com") == ("alice@example.com", "MSPOrg")
    assert parse_ssh_user("alice@example.com@acme") == ("alice@example.com", "acme")
    assert parse_ssh_user("bob@acme@MSPOrg") == ("bob@acme", "MSPOrg")
    assert parse_ssh_user("@acme") == ("@acme", "MSPOrg")


class Terminal:
    """A program in a pseudo-terminal of 80x24, its output collected as it comes."""

    def __init__(self, args: list[str], cols: int = 80, rows: int = 24) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # its /dev/tty
            env={"PATH": os.environ["PATH"], "TERM": "xterm-256color", "LANG": "C.UTF-8"},
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    async def expect_bytes(self, pattern: bytes, since: int = 0, limit: float = 30.0) -> None:
        """Wait until the raw output after ``since`` matches ``pattern``."""
        deadline = time.monotonic() + limit
        while not re.search(pattern, bytes(self.output[since:])):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never sent; got {bytes(self.output[-500:])!r}")
            await asyncio.sleep(0.05)

    def text(self) -> str:
        """What was shown, escape sequences removed."""
        return ANSI.sub(b"", bytes(self.output)).decode("utf-8", "replace")

    async def expect(self, pattern: str, limit: float = 30.0) -> None:
        """Wait until ``pattern`` (a regular expression) was shown."""
        deadline = time.monotonic() + limit
        while not re.search(pattern, self.text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} never shown; got:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)

    def resize(self, cols: int, rows: int) -> None:
        """The window changes size (the program gets SIGWINCH, as from a terminal)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str | bytes) -> None:
        """Keys, as typed."""
        os.write(self.master, text.encode() if isinstance(text, str) else text)

    async def exit_code(self, limit: float = 30.0) -> int:
        """Wait for the program to end; its exit status."""
        deadline = time.monotonic() + limit
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; shown:\n{self.text()[-3000:]}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def close(self) -> None:
        """End the program (if need be) and release the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        self.reader.join(timeout=2)


@pytest.fixture(scope="module")
def ssh_dir(tmp_path_factory) -> Path:
    """Key pairs made by ssh-keygen: 'good', 'other' (never registered), 'old' (to revoke)."""
    folder = tmp_path_factory.mktemp("gateway-ssh")
    for name in ("good", "other", "old", "plain", "carol", "dave"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", folder / name],
            check=True,
        )
    return folder


@pytest.fixture
async def gateway(live_server, config, tmp_path):
    """The gateway on a free loopback port, over the live HTTPS server's environment; its
    TUI child reaches that server."""
    config.gateway.port = free_port()
    config.gateway.host = "127.0.0.1"
    config.gateway.host_key = str(tmp_path / "gateway_host_key")
    config.gateway.max_auth_attempts = 4
    cert = config.path(config.server.tls_cert)
    command = [sys.executable, "-m", "server.ops.cli", "tui", live_server.url, "--ca-file", cert]
    config.gateway.session_check_seconds = 0.5
    listener = await start_gateway(live_server.app[ENV], config, command)
    known = tmp_path / "known_hosts"
    host_pub = host_public_key(config.gateway.host_key)
    known.write_text(f"[127.0.0.1]:{config.gateway.port} {host_pub}")
    yield config, known
    await listener.close()


def ssh_args(
    config, known: Path, key: Path, user: str, *extra: str, command: str | None = None
) -> list[str]:
    """``ssh`` as a person would run it, with only this key and the pinned host key."""
    return [
        "ssh",
        "-F",
        "/dev/null",
        "-p",
        str(config.gateway.port),
        "-i",
        str(key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "PreferredAuthentications=publickey,keyboard-interactive",
        *extra,
        f"{user}@127.0.0.1",
        *([command] if command else []),
    ]


async def audit_of(admin, user: str) -> list[dict]:
    status, page = await admin.call("GET", f"/orgs/MSPOrg/audit?actor={user}&limit=100")
    assert status == 200, page
    return page["items"]


async def test_key_and_totp_land_in_the_tui(api, admin, gateway, ssh_dir):
    """alice's registered key, then her TOTP code at the keyboard-interactive prompt: the
    TUI's main screen, at 80x24, bound to a new session audited as a gateway login with
    the key's fingerprint; Ctrl+Q ends the TUI and the connection, and the session."""
    config, known = gateway
    password = await make_user(admin, "alice", "administrator")
    alice = await api.login("alice", password)
    secret, _ = await enrol(alice, password)
    pub = (ssh_dir / "good.pub").read_text()
    status, key = await alice.call("POST", "/me/ssh-keys", {"public_key": pub})
    assert status == 201, key
    assert host_key_fingerprint(Path(config.gateway.host_key)).startswith("SHA256:")

    await asyncio.sleep(max(0.0, 30 - time.time() % 30 + 0.5) if time.time() % 30 > 27 else 0)
    term = Terminal(
        ssh_args(config, known, ssh_dir / "good", "alice", "-tt", "-o", "NumberOfPasswordPrompts=2")
    )
    try:
        await term.expect("Authenticator code:")
        wrong = "000000" if totp.code_at(secret, time.time() + 30) != "000000" else "111111"
        term.type(wrong + "\r")  # a wrong code: asked again, and counted
        await term.expect("(?s)Authenticator code:.*Authenticator code:")
        term.type(totp.code_at(secret, time.time() + 30) + "\r")  # the next step: unused
        await term.expect("Vault", limit=60)
        await term.expect("Quit")
        events = await audit_of(admin, "alice")
        logins = [e for e in events if e["operation"] == "login"]
        assert logins[0]["details"]["via"] == "ssh_gateway"
        assert logins[0]["details"]["fingerprint"] == key["fingerprint"]
        assert logins[0]["details"]["method"] == "ssh_key+totp"
        assert logins[0]["ip"] == "127.0.0.1"
        failed = [e for e in events if e["operation"] == "login_failed"]
        assert failed[0]["reason"] == "invalid_otp"
        assert failed[0]["details"]["via"] == "ssh_gateway"
        # The window grows to 100x30: the TUI, on the gateway's pty, redraws at that size.
        shown = len(term.output)
        term.resize(100, 30)
        await term.expect_bytes(rb"\x1b\[30;\d+H", since=shown)
        term.type(b"\x11")  # Ctrl+Q quits the TUI ...
        assert await term.exit_code() == 0  # ... and the connection closes
    finally:
        term.close()
    await asyncio.sleep(0.5)
    events = await audit_of(admin, "alice")
    assert events[0]["operation"] == "logout", [e["operation"] for e in events[:5]]


def sftp_batch(args: list[str]) -> int:
    """Run OpenSSH's sftp with ``args`` (ssh's, -P for the port) and one ``ls``."""
    done = subprocess.run(
        ["sftp", "-b", "-", "-F", "/dev/null", *args],
        input=b"ls\n",
        capture_output=True,
        timeout=30,
    )
    return done.returncode


def host_public_key(path: str) -> str:
    """The public half of an OpenSSH private key file (ssh-keygen -y)."""
    return subprocess.run(
        ["ssh-keygen", "-y", "-f", path], capture_output=True, check=True
    ).stdout.decode()


def knock(port: int) -> bytes:
    """Connect to a local port (retrying while it is not yet listening), send a request,
    return what came back before the connection closed."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /api/v1/health HTTP/1.0\r\n\r\n")
                try:
                    return sock.recv(100)
                except ConnectionResetError:
                    return b""
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def test_refusals(api, admin, gateway, ssh_dir, live_server):
    """An unregistered key, a revoked key, a wrong code, a disabled user's key, an expired
    key: no session. Exec, a shell without a pty, port forwarding, SFTP: refused and
    audited; nothing of the server's machine is reached."""
    config, known = gateway
    password = await make_user(admin, "bob", "password_user")
    bob = await api.login("bob", password)
    # Attacker finding 4: a colleague registers bob's public key first, to block him (a
    # key was unique per org) — bob still registers it, and the key logs in as bob only.
    mallory = await api.login("mallory", await make_user(admin, "mallory", "password_user"))
    plain_pub = (ssh_dir / "plain").with_suffix(".pub").read_text()
    status, made = await mallory.call("POST", "/me/ssh-keys", {"public_key": plain_pub})
    assert status == 201, made
    for name in ("plain", "old"):
        pub = (ssh_dir / name).with_suffix(".pub").read_text()
        status, made = await bob.call("POST", "/me/ssh-keys", {"public_key": pub})
        assert status == 201, made
        if name == "old":
            old_id = made["id"]

    async def run(key: str, *extra: str, command: str | None = None) -> tuple[int, str]:
        args = ssh_args(
            config, known, ssh_dir / key, "bob", "-o", "BatchMode=yes", *extra, command=command
        )
        term = Terminal(args)
        try:
            return await term.exit_code(), term.text()
        finally:
            term.close()

    # A key nobody registered: refused.
    code, shown = await run("other", "-T", command="true")
    assert code == 255 and "Permission denied" in shown
    # Revoked: refused from then on.
    status, _ = await bob.call("DELETE", f"/me/ssh-keys/{old_id}")
    assert status == 204
    code, shown = await run("old", "-T", command="true")
    assert code == 255 and "Permission denied" in shown

    # Logged in with a good key (no 2FA), but exec, a shell without a pty, -L and sftp
    # are refused.
    code, shown = await run("plain", "-T", command="cat /etc/passwd")
    assert code == 1 and "root:" not in shown  # said in one line, not OpenSSH's refusal
    assert "Commands are not run." in shown and "connect <resource>/<account>" in shown, shown
    assert "exec request failed" not in shown, shown
    via_gateway = [
        e
        for who in ("bob", "mallory")
        for e in await audit_of(admin, who)
        if e["operation"] == "login" and e["details"].get("via") == "ssh_gateway"
    ]
    assert via_gateway and {e["actor"] for e in via_gateway} == {"bob"}, via_gateway
    code, shown = await run("plain", "-T")
    assert code != 0 and "needs a terminal" in shown
    code, shown = await run(
        "plain", "-T", "-N", "-o", "ExitOnForwardFailure=yes", "-R", f"{free_port()}:127.0.0.1:22"
    )
    assert code == 255 and "forwarding failed" in shown
    # -L: the local end listens, but what connects to it reaches nothing.
    port = free_port()
    target = live_server.url.rsplit(":", 1)[1]
    term = Terminal(
        ssh_args(
            config, known, ssh_dir / "plain", "bob", "-T", "-N", "-L", f"{port}:127.0.0.1:{target}"
        )
    )
    try:
        answer = await asyncio.to_thread(knock, port)
        assert answer == b""
    finally:
        term.close()
    args = ssh_args(config, known, ssh_dir / "plain", "bob", "-o", "BatchMode=yes")
    args[args.index("-p")] = "-P"  # sftp's port option
    assert await asyncio.to_thread(sftp_batch, args[3:]) != 0
    await asyncio.sleep(0.5)
    refused = {
        e["details"]["request"]
        for e in await audit_of(admin, "bob")
        if e["operation"] == "gateway_request_refused"
    }
    assert {
        "exec",
        "shell_without_pty",
        "sftp",
        "port_forwarding",
        "remote_port_forwarding",
    } <= refused, refused
    failed = [e for e in await audit_of(admin, "bob") if e["operation"] == "login_failed"]
    assert {e["reason"] for e in failed} >= {"ssh_key_not_registered"}

    # Ctrl+X in the TUI logs out: the TUI ends and so does the connection.
    term = Terminal(ssh_args(config, known, ssh_dir / "plain", "bob", "-tt"))
    try:
        await term.expect("Quit", limit=60)
        term.type(b"\x18")
        # 0 when the TUI's own exit closes the channel, 255 when the gateway saw the
        # session end first and closed the connection: either way, it ends.
        assert await term.exit_code() in (0, 255)
    finally:
        term.close()
    assert "logout" in [e["operation"] for e in (await audit_of(admin, "bob"))[:5]]

    # Disabled: a TUI session of bob's ends (the connection closes), and his key no
    # longer logs in.
    term = Terminal(ssh_args(config, known, ssh_dir / "plain", "bob", "-tt"))
    try:
        await term.expect("Quit", limit=60)
        status, _ = await admin.call("PATCH", "/orgs/MSPOrg/users/bob", {"status": "disabled"})
        assert status == 200
        assert await term.exit_code(limit=15) != 0 or "closed" in term.text()
    finally:
        term.close()
    code, shown = await run("plain", "-T", command="true")
    assert code == 255 and "Permission denied" in shown
    failed = [e for e in await audit_of(admin, "bob") if e["operation"] == "login_failed"]
    assert "user_disabled" in {e["reason"] for e in failed}


async def test_same_throttle_as_https_and_expired_keys(
    api, admin, gateway, ssh_dir, owner_conn, live_server
):
    """Five wrong passwords over HTTPS lock carol out of the gateway too (her good key is
    refused), and an expired key never logs in."""
    config, known = gateway
    password = await make_user(admin, "carol", "password_user")
    carol = await api.login("carol", password)
    pub = (ssh_dir / "carol.pub").read_text()
    status, key = await carol.call("POST", "/me/ssh-keys", {"public_key": pub})
    assert status == 201, key

    async def run() -> tuple[int, str]:
        args = ssh_args(config, known, ssh_dir / "carol", "carol", "-o", "BatchMode=yes", "-T")
        term = Terminal(args)
        try:
            return await term.exit_code(), term.text()
        finally:
            term.close()

    code, shown = await run()  # the key works: the TUI needs a terminal, but no refusal
    assert "Permission denied" not in shown and "needs a terminal" in shown
    for _ in range(5):
        status, _ = await api.call(
            "POST", "/auth/login", {"username": "carol", "password": "wrong-password-1"}
        )
        assert status == 401
    code, shown = await run()
    assert code == 255 and "Permission denied" in shown

    # An expired key: refused even when not locked out (a fresh live server's throttle).
    async with owner_conn.transaction():
        org_id = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
        await owner_conn.execute(
            "UPDATE user_ssh_keys SET created_at = now() - interval '2 days', "
            "expires_at = now() - interval '1 day' WHERE id = $1",
            uuid.UUID(key["id"]),
        )
    page = (await carol.call("GET", "/me/ssh-keys"))[1]
    assert page["items"][0]["expired"] is True
    live_server.app[ENV].throttle.succeeded("msporg/carol", "127.0.0.1")  # lockout over
    code, shown = await run()
    assert code == 255 and "Permission denied" in shown
    failed = [e for e in await audit_of(admin, "carol") if e["operation"] == "login_failed"]
    assert failed[0]["reason"] == "ssh_key_expired"


def raw_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` TCP connections to the gateway that never log in."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Does the server close ``sock`` within ``seconds`` (its version line aside)?"""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return False


async def test_pre_auth_limits(gateway):
    """Unauthenticated connections per address are capped (the next one is closed at
    once), and one that does not log in within the grace time is closed."""
    config, _ = gateway
    config.gateway.max_unauthenticated_per_address = 3
    socks = await asyncio.to_thread(raw_connections, config.gateway.port, 3)
    try:
        await asyncio.sleep(0.3)
        extra = await asyncio.to_thread(raw_connections, config.gateway.port, 1)
        assert await asyncio.to_thread(closed_within, extra[0], 5)
        extra[0].close()
        # The grace time (60 s by default) has not passed for the first three.
        assert not await asyncio.to_thread(closed_within, socks[0], 1)
    finally:
        for sock in socks:
            sock.close()
    await asyncio.sleep(0.3)  # their slots are free again
    again = await asyncio.to_thread(raw_connections, config.gateway.port, 1)
    try:
        assert not await asyncio.to_thread(closed_within, again[0], 1)
    finally:
        again[0].close()


async def test_login_grace_time(live_server, config, tmp_path):
    """A connection that has not logged in when the grace time ends is closed."""
    config.gateway.port = free_port()
    config.gateway.host = "127.0.0.1"
    config.gateway.host_key = str(tmp_path / "gateway_host_key")
    config.gateway.login_grace_seconds = 1.0
    listener = await start_gateway(live_server.app[ENV], config, ["true"])
    try:
        socks = await asyncio.to_thread(raw_connections, config.gateway.port, 1)
        started = time.monotonic()
        assert await asyncio.to_thread(closed_within, socks[0], 10)
        assert 0.8 < time.monotonic() - started < 5
        socks[0].close()
    finally:
        await listener.close()


async def test_sessions_per_user_cap(api, admin, gateway, ssh_dir):
    """Past ``max_sessions_per_user`` gateway connections, the next login is refused; a
    closed one frees its place (and its session is logged out)."""
    config, known = gateway
    config.gateway.max_sessions_per_user = 2
    password = await make_user(admin, "dave", "password_user")
    dave = await api.login("dave", password)
    pub = (ssh_dir / "dave.pub").read_text()
    assert (await dave.call("POST", "/me/ssh-keys", {"public_key": pub}))[0] == 201
    args = ssh_args(config, known, ssh_dir / "dave", "dave", "-o", "BatchMode=yes", "-T", "-N")

    async def logged_in() -> int:
        events = await audit_of(admin, "dave")
        return sum(1 for e in events if e["operation"] == "login" and e["details"].get("via"))

    first, second = Terminal(args), Terminal(args)
    try:
        for _ in range(200):
            if await logged_in() == 2:
                break
            await asyncio.sleep(0.1)
        assert await logged_in() == 2
        third = Terminal(args)
        try:
            assert await third.exit_code() == 255
        finally:
            third.close()
        assert await logged_in() == 2
        await asyncio.sleep(0.3)
        failed = [e for e in await audit_of(admin, "dave") if e["operation"] == "login_failed"]
        assert failed[0]["reason"] == "too_many_sessions"
    finally:
        first.close()
        second.close()
    await asyncio.sleep(0.5)
    events = await audit_of(admin, "dave")
    assert sum(1 for e in events if e["operation"] == "logout") == 2
    fourth = Terminal(args)
    try:
        for _ in range(200):
            if await logged_in() == 3:
                break
            await asyncio.sleep(0.1)
        assert await logged_in() == 3
    finally:
        fourth.close()
