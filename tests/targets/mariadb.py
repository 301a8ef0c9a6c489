"""A MariaDB server of the test's own on 127.0.0.1, in a temporary data directory.

Usage (the Debian package mariadb-server's binaries; no system service is started)::

    with MariaDb.started() as db:
        db.add_user("app1", "s3cret-Pass")                      # 'app1'@'%'
        db.add_user("rec1", "other-Pass", reconciliation=True)  # may ALTER USER others
        assert await db.can_login("app1", "s3cret-Pass")

The data directory is made by mariadb-install-db (root reaches it through the socket, with
no password), the server listens on a free loopback port and the socket in the directory;
stopping it removes the directory. Users live in that server only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MARIADBD = "/usr/sbin/mariadbd"
INSTALL_DB = "mariadb-install-db"
CLIENT = "mariadb"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class MariaDb:
    """One mariadbd process with its own data directory."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="strongroom-mariadb-", dir="/tmp"))
        self.datadir = self.dir / "data"
        self.socket = self.dir / "mysqld.sock"
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether the server binaries are installed."""
        return os.path.exists(MARIADBD) and shutil.which(INSTALL_DB) is not None

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[MariaDb]:
        """Start a server, yield it, and always stop it and remove its directory."""
        server = cls()
        try:
            server.start()
            yield server
        finally:
            server.close()

    def start(self) -> None:
        """Make the data directory and start mariadbd; wait until it answers."""
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
        )
        with (self.dir / "mariadbd.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    MARIADBD,
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--socket={self.socket}",
                    f"--pid-file={self.dir / 'mariadbd.pid'}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    "--user=root",
                    "--skip-name-resolve",
                    "--skip-log-bin",
                    "--innodb-buffer-pool-size=16M",
                    "--innodb-log-file-size=8M",
                    "--performance-schema=OFF",
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mariadbd exited: {(self.dir / 'mariadbd.log').read_text()[-2000:]}"
                )
            with socket.socket() as sock:
                if sock.connect_ex((self.host, self.port)) == 0 and self.socket.exists():
                    return
            time.sleep(0.1)
        raise RuntimeError("mariadbd did not start listening within 60 s")

    def sql(self, statement: str) -> str:
        """Run SQL as root through the socket; its output."""
        done = subprocess.run(
            [CLIENT, "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-e", statement],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mariadb: {done.stderr.strip()}")
        return done.stdout

    def add_user(self, name: str, password: str, *, reconciliation: bool = False) -> None:
        """CREATE USER name@'%'; a reconciliation user may change others' passwords."""
        self.sql(f"CREATE USER {_quote(name)}@'%' IDENTIFIED BY {_quote(password)}")
        if reconciliation:
            self.sql(f"GRANT CREATE USER ON *.* TO {_quote(name)}@'%'")

    def set_password(self, name: str, password: str) -> None:
        """Change a user's password outside the vault."""
        self.sql(f"ALTER USER {_quote(name)}@'%' IDENTIFIED BY {_quote(password)}")

    async def can_login(self, user: str, password: str) -> bool:
        """Whether ``user`` can connect over TCP with ``password``."""
        import aiomysql  # only the tests that log in need it
        import pymysql

        try:
            conn = await aiomysql.connect(
                host=self.host, port=self.port, user=user, password=password, connect_timeout=10
            )
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] == 1045:
                return False
            raise
        conn.close()
        return True

    def stop(self) -> None:
        """Stop the server."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
