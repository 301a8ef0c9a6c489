"""An OpenSSH sshd of the test's own on 127.0.0.1, and local test users with passwords.

Usage (as root; the daemon is the Debian package openssh-server's binary, no system service)::

    with Sshd.started() as sshd:
        user = sshd.add_user("s3cret-Pass")          # a fresh local account, e.g. "srt3f9a1c2d"
        ... connect to 127.0.0.1:sshd.port, pin sshd.fingerprint ...
        assert await sshd.can_login(user, "s3cret-Pass")
    # the daemon is stopped, its directory and every user it created are removed

The daemon has its own configuration, host key (ed25519), pid file and log in a temporary
directory; password authentication is on, PAM is off (sshd checks /etc/shadow itself, so
container quirks of pam_loginuid do not matter). ``replace_host_key()`` restarts it on the
same port with a new host key (a target presenting a different key). Users are created with
``useradd`` under a home in the temporary directory and removed with ``userdel`` at stop,
even when the test failed. ``add_user(..., root=True)`` makes a uid-0 alias (a
reconciliation account that may run ``chpasswd``); the daemon permits it to log in with a
password, on loopback only. ``sudo_rule(user)`` lets a user run ``chpasswd`` through sudo
(a drop-in in /etc/sudoers.d, password required unless ``nopasswd``), removed when the
``with`` block ends and, in any case, when the daemon stops.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SUDO = "/usr/bin/sudo"
SUDOERS_D = Path("/etc/sudoers.d")
USER_PREFIX = "srt"  # every user this module creates starts with it (and 8 hex digits)

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {pid_file}
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
PermitRootLogin yes
StrictModes no
UseDNS no
LogLevel ERROR
MaxStartups 200:30:400
MaxSessions 50
LoginGraceTime 30
PrintMotd no
PrintLastLog no
AcceptEnv LANG
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], stdin: str | None = None, attempts: int = 20) -> None:
    """Run an account tool, retrying while another process holds /etc/passwd's lock."""
    for attempt in range(attempts):
        done = subprocess.run(args, input=stdin, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr.lower() or attempt == attempts - 1:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}")
        time.sleep(0.2)


class Sshd:
    """One sshd process of the test's own, and the local users it created."""

    def __init__(self, port: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="strongroom-sshd-", dir="/tmp"))
        self.dir.chmod(0o755)
        (self.dir / "home").mkdir(mode=0o755)
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.process: subprocess.Popen[bytes] | None = None
        self.users: list[str] = []
        self.sudo_rules: list[Path] = []
        self._make_host_key()

    # -- the daemon ------------------------------------------------------------------------

    @staticmethod
    def available() -> bool:
        """Whether this machine can run it: the sshd binary, and root (to add users)."""
        return os.path.exists(SSHD) and os.geteuid() == 0

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[Sshd]:
        """Start a daemon, yield it, and always stop it and remove its users and directory."""
        sshd = cls()
        try:
            sshd.start()
            yield sshd
        finally:
            sshd.close()

    def _make_host_key(self) -> None:
        for path in (self.host_key, self.host_key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(self.host_key)],
            check=True,
            capture_output=True,
        )

    @property
    def public_key(self) -> str:
        """The host's public key as an OpenSSH line (``ssh-ed25519 AAAA...``)."""
        return self.host_key.with_suffix(".pub").read_text().strip()

    @property
    def fingerprint(self) -> str:
        """The host key's SHA-256 fingerprint as OpenSSH shows it (``SHA256:...``)."""
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key.with_suffix(".pub"))],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return out.split()[1]

    def start(self) -> None:
        """Start sshd in the foreground (-D) and wait until it accepts connections."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        config = self.dir / "sshd_config"
        config.write_text(
            CONFIG.format(port=self.port, host_key=self.host_key, pid_file=self.dir / "sshd.pid")
        )
        with (self.dir / "sshd.log").open("ab") as log:  # the daemon keeps its own copy
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()[-2000:]}")
            with socket.socket() as sock:
                if sock.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 15 s")

    def stop(self) -> None:
        """Stop the daemon (its connections end with it)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        # sshd -D leaves per-connection children behind only while they run; nothing else.

    def replace_host_key(self) -> str:
        """Restart on the same port with a new host key; return the new fingerprint."""
        self.stop()
        self._make_host_key()
        self.start()
        return self.fingerprint

    def close(self) -> None:
        """Stop the daemon, remove every user created here, and delete the directory."""
        try:
            self.stop()
        finally:
            for rule in list(self.sudo_rules):
                rule.unlink(missing_ok=True)
            self.sudo_rules.clear()
            for name in list(self.users):
                with contextlib.suppress(RuntimeError):
                    self.remove_user(name)
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- local users -----------------------------------------------------------------------

    def add_user(self, password: str, *, name: str | None = None, root: bool = False) -> str:
        """Create a local account with ``password`` (on stdin to chpasswd); return its name.

        ``root=True`` makes a uid-0 alias: an account that may change others' passwords.
        """
        name = name or f"{USER_PREFIX}{secrets.token_hex(4)}"
        home = self.dir / "home" / name
        args = ["useradd", "-m", "-d", str(home), "-s", "/bin/sh"]
        if root:
            args += ["-o", "-u", "0", "-g", "0"]
        else:
            args += ["-U"]
        _run([*args, name])
        self.users.append(name)
        self.set_password(name, password)
        return name

    def set_password(self, name: str, password: str) -> None:
        """Set a user's password directly (the way an administrator would, outside the vault)."""
        _run(["chpasswd"], stdin=f"{name}:{password}\n")

    def remove_user(self, name: str) -> None:
        """Remove a user created here (and its home and group)."""
        # -f: a uid-0 alias shares its uid with running processes; userdel would refuse.
        _run(["userdel", "-f", "-r", name])
        if name in self.users:
            self.users.remove(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"/var/mail/{name}")

    @contextlib.contextmanager
    def sudo_rule(
        self,
        user: str,
        command: str = "/usr/sbin/chpasswd",
        *,
        nopasswd: bool = False,
        rootpw: bool = False,
    ) -> Iterator[Path]:
        """Let ``user`` run ``command`` as root through sudo: a drop-in file in
        /etc/sudoers.d (checked with ``visudo -c`` before it is put in place), asking for the
        user's own password unless ``nopasswd`` (root's with ``rootpw``: a sudo password other
        than the login's). The file is removed when the block ends."""
        if not os.path.exists(SUDO):
            raise RuntimeError("sudo is not installed (./setup/test.sh installs it)")
        tag = "NOPASSWD: " if nopasswd else ""
        # A name without '.' or '~': sudo skips such files in an includedir.
        path = SUDOERS_D / f"strongroom-test-{user}"
        draft = self.dir / f"sudoers-{user}"
        defaults = f"Defaults:{user} rootpw\n" if rootpw else ""
        draft.write_text(f"{defaults}{user} ALL=(root) {tag}{command}\n")
        draft.chmod(0o440)
        _run(["visudo", "-c", "-q", "-f", str(draft)], attempts=1)
        self.sudo_rules.append(path)
        try:
            shutil.copyfile(draft, path)
            path.chmod(0o440)
            yield path
        finally:
            path.unlink(missing_ok=True)
            if path in self.sudo_rules:
                self.sudo_rules.remove(path)

    # -- what a user checks ----------------------------------------------------------------

    async def can_login(self, user: str, password: str) -> bool:
        """Whether ``user`` can log in with ``password`` and run a command (host key pinned)."""
        import asyncssh  # only the tests that log in need it

        known = asyncssh.import_known_hosts(f"[{self.host}]:{self.port} {self.public_key}\n")
        try:
            async with asyncssh.connect(
                self.host,
                self.port,
                username=user,
                password=password,
                known_hosts=known,
                client_keys=None,
                agent_path=None,
                preferred_auth="password",
                connect_timeout=10,
            ) as conn:
                done = await conn.run("true", check=False)
                return done.exit_status == 0
        except asyncssh.PermissionDenied:
            return False
