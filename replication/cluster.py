"""Manage one PostgreSQL cluster on disk: find binaries, initdb, start, stop, readiness.

PostgreSQL refuses to run as root. When the caller is root every PostgreSQL
program is run as an unprivileged system user (``postgres`` or ``strongroom``)
that is given the data directory. On Windows the programs are ``initdb.exe`` and so
on, run as the account of the service (PostgreSQL's tools drop administrator rights with a
restricted token themselves); nothing POSIX-only is imported there (server.core.hostos).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from server.core import hostos

if TYPE_CHECKING:
    import pwd

SERVICE_USERS = ("postgres", "strongroom")
REPLICATION_ROLE = "strongroom_repl"


class ClusterError(Exception):
    """A PostgreSQL cluster could not be found, made, started or stopped."""


def find_bindir() -> Path:
    """Return the folder holding initdb, pg_ctl and postgres.

    ``STRONGROOM_PG_BINDIR`` wins when set. Otherwise looks at ``pg_config --bindir``,
    Debian's per-version folders (newest first) and PATH, because Debian links only
    a few programs into PATH; on Windows at ``C:\\Program Files\\PostgreSQL\\<version>\\bin``
    (newest first) instead of Debian's folders, for ``initdb.exe``, ``pg_ctl.exe`` and
    ``postgres.exe`` (issue 34).
    """
    tools = [hostos.exe(tool) for tool in hostos.PG_TOOLS]
    override = os.environ.get("STRONGROOM_PG_BINDIR")
    if override:
        folder = Path(override)
        if all((folder / tool).exists() for tool in tools):
            return folder
        raise ClusterError(f"STRONGROOM_PG_BINDIR={override} does not hold {', '.join(tools)}")
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(Path(out.stdout.strip()))
        except (subprocess.SubprocessError, OSError):
            pass
    if hostos.IS_WINDOWS:
        candidates += hostos.windows_postgres_bindirs()
        where = "C:\\Program Files\\PostgreSQL\\*\\bin"
    else:
        for versioned in sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True
        ):
            candidates.append(Path(versioned))
        where = "/usr/lib/postgresql/*/bin"
    on_path = shutil.which(hostos.exe("postgres"))
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    for folder in candidates:
        if all((folder / tool).exists() for tool in tools):
            return folder
    install = (
        "install PostgreSQL (the EDB installer or winget install PostgreSQL.PostgreSQL)"
        if hostos.IS_WINDOWS
        else "install the 'postgresql' package"
    )
    raise ClusterError(
        f"no PostgreSQL server binaries ({', '.join(tools)}) found (looked at "
        f"pg_config --bindir, {where} and PATH); {install}"
    )


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Tell whether nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


def service_account() -> pwd.struct_passwd | None:
    """The system user PostgreSQL runs as, or None when the caller is not root (and on
    Windows, where the tools run as the service's account: hostos.is_superuser)."""
    if not hostos.is_superuser():
        return None
    for name in SERVICE_USERS:
        account = hostos.lookup_account(name)
        if account is not None:
            return account
    raise ClusterError(
        "running as root: PostgreSQL needs an unprivileged system user "
        f"({' or '.join(SERVICE_USERS)}); install the 'postgresql' package or create one"
    )


def check_traversable(path: Path, account: pwd.struct_passwd | None) -> None:
    """Raise ClusterError if ``account`` cannot reach ``path`` through its parents."""
    if account is None:
        return
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if st.st_uid == account.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == account.pw_gid:
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            raise ClusterError(
                f"the '{account.pw_name}' system user cannot enter {parent} "
                f"(needed to reach {path}); choose a directory outside it"
            )


def initdb_arguments(
    data_dir: str, superuser: str, pwfile: str, windows: bool | None = None
) -> list[str]:
    """initdb's arguments for a Strongroom cluster (a dry run prints them as they would
    run; ``windows``: for Windows, default this system). The C locale with UTF-8 text:
    ``C.UTF-8`` on POSIX; Windows names no such locale, and plain ``C`` sorts the same."""
    if windows is None:
        windows = hostos.IS_WINDOWS
    return [
        "-D",
        data_dir,
        "-U",
        superuser,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C" if windows else "--locale=C.UTF-8",
    ]


@dataclass(frozen=True)
class Source:
    """A PostgreSQL server to replicate from, reached as the replication role."""

    host: str
    port: int
    user: str
    password: str

    def conninfo(self, application_name: str, database: str = "") -> str:
        """A libpq connection string (the password included: written to 0600 files only)."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "password": self.password,
            "application_name": application_name,
            "connect_timeout": "2",
        }
        if database:
            parts["dbname"] = database
        return " ".join(f"{key}={_conn_value(value)}" for key, value in parts.items())


def _conn_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Cluster:
    """A PostgreSQL data directory listening on 127.0.0.1:port."""

    data_dir: Path
    port: int
    bindir: Path | None = None
    listen: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        if self.bindir is None:
            self.bindir = find_bindir()
        self.account = service_account()

    @property
    def log_file(self) -> Path:
        """PostgreSQL's own log, beside the data directory so the service user can write it."""
        return self.data_dir.parent / "postgresql.log"

    def exists(self) -> bool:
        """Tell whether initdb has been run here."""
        return (self.data_dir / "PG_VERSION").exists()

    def initdb(self, superuser: str, password: str, extra_conf: dict[str, str] | None = None):
        """Create the cluster with a password-protected superuser and Strongroom's settings."""
        if self.exists():
            raise ClusterError(f"a PostgreSQL cluster already exists in {self.data_dir}")
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        check_traversable(parent, self.account)
        self._give(parent)
        pwfile = parent / ".initdb-pw"
        pwfile.write_text(password + "\n")
        self._give(pwfile)
        pwfile.chmod(0o600)
        try:
            self._run(*self.initdb_args(superuser, pwfile), timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        self.write_settings(extra_conf)
        with (self.data_dir / "postgresql.conf").open("a") as main_conf:
            main_conf.write("\ninclude_if_exists = 'strongroom.conf'\n")
        self._write_owned(
            self.data_dir / "pg_hba.conf",
            "# Strongroom: password (SCRAM) logins over loopback; the replication role\n"
            "# (its peer's base backups, streaming and pg_rewind) from anywhere it can reach.\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n"
            f"host replication {REPLICATION_ROLE} all scram-sha-256\n"
            f"host postgres {REPLICATION_ROLE} all scram-sha-256\n",
        )

    def initdb_args(self, superuser: str, pwfile: Path) -> list[str]:
        """initdb and its arguments (``initdb_arguments``)."""
        return ["initdb", *initdb_arguments(str(self.data_dir), superuser, str(pwfile))]

    def command(self, tool: str, *args: str) -> list[str]:
        """The argv that runs ``tool`` from the bin folder (``initdb.exe`` on Windows)."""
        assert self.bindir is not None
        return [str(self.bindir / hostos.exe(tool)), *args]

    def write_settings(self, extra: dict[str, str] | None = None) -> None:
        """(Re)write ``strongroom.conf``: every setting Strongroom manages, plus ``extra``.

        The replication timeouts are short so that a dead or frozen peer is noticed in a
        few seconds (the failover monitor's timings build on them).
        """
        settings = {
            "listen_addresses": f"'{self.listen}'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "password_encryption": "'scram-sha-256'",
            "wal_level": "replica",
            "wal_log_hints": "on",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
            "wal_keep_size": "'512MB'",
            # A peer that never comes back must not fill the disk through its slot: past
            # this the slot is invalidated and that peer rejoins with a base backup.
            "max_slot_wal_keep_size": "'8GB'",
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "wal_sender_timeout": "'4s'",
            "wal_receiver_timeout": "'4s'",
            "wal_receiver_status_interval": "'1s'",
            "wal_retrieve_retry_interval": "'1s'",
            # A standby's connection whose handshake was lost (a link that dropped the
            # server's answer) holds up its streaming until this passes (default 60 s).
            "authentication_timeout": "'10s'",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        settings.update(extra or {})
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        self._write_owned(self.data_dir / "strongroom.conf", conf)

    def is_standby(self) -> bool:
        """Tell whether the cluster starts as a hot standby (standby.signal present)."""
        return (self.data_dir / "standby.signal").exists()

    def make_standby(self, source: Source, slot: str, application_name: str) -> None:
        """Make the (stopped) cluster a hot standby streaming from ``source`` via ``slot``."""
        self.write_settings(
            {
                "primary_conninfo": _quote(source.conninfo(application_name)),
                "primary_slot_name": _quote(slot),
            }
        )
        # A base backup or a former primary carries the old primary's ALTER SYSTEM
        # settings (synchronous_standby_names): a standby must not inherit them.
        self._write_owned(self.data_dir / "postgresql.auto.conf", "")
        self._write_owned(self.data_dir / "standby.signal", "")

    def base_backup(self, source: Source, slot: str, timeout: float = 600) -> None:
        """Copy ``source``'s cluster into this (absent) data directory through ``slot``."""
        if self.exists():
            raise ClusterError(f"a PostgreSQL cluster already exists in {self.data_dir}")
        parent = self.data_dir.parent
        parent.mkdir(parents=True, exist_ok=True)
        check_traversable(parent, self.account)
        self._give(parent)
        self._run(
            "pg_basebackup",
            "-D",
            str(self.data_dir),
            "-d",
            source.conninfo("strongroom_basebackup"),
            "-X",
            "stream",
            "-S",
            slot,
            "-c",
            "fast",
            timeout=timeout,
            password=source.password,
        )

    def rewind(self, source: Source, timeout: float = 300) -> None:
        """Bring a stopped former primary back onto ``source``'s timeline (pg_rewind)."""
        self._run(
            "pg_rewind",
            "-D",
            str(self.data_dir),
            f"--source-server={source.conninfo('strongroom_rewind', database='postgres')}",
            timeout=timeout,
            password=source.password,
        )

    def run_tool(self, tool: str, *args: str, **kwargs):
        """Run one PostgreSQL program from the bin folder (as the service user when root)."""
        return self._run(tool, *args, **kwargs)

    def is_running(self) -> bool:
        """Tell whether a postmaster runs for this data directory."""
        if not self.exists():
            return False
        result = self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False)
        return result.returncode == 0

    def start(self, timeout: float = 60) -> None:
        """Start the cluster and wait until it accepts connections."""
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise ClusterError(f"PostgreSQL port {self.port} is already in use")
        self._private_log()
        result = self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            str(int(timeout)),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            check=False,
            timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"PostgreSQL did not start (see {self.log_file}): {self._last_log_line()}"
            )

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """Stop the cluster if it runs (mode: smart, fast or immediate)."""
        if not self.is_running():
            return
        self._run(
            "pg_ctl",
            "stop",
            "-w",
            "-t",
            str(int(timeout)),
            "-m",
            mode,
            "-D",
            str(self.data_dir),
            timeout=timeout + 10,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the port accepts TCP connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not port_is_free(self.port):
                return
            time.sleep(0.1)
        raise ClusterError(f"PostgreSQL on port {self.port} did not become ready")

    def _last_log_line(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log written"
        return lines[-1] if lines else "empty log"

    def _private_log(self) -> None:
        """PostgreSQL's log may name users and statements: make it 0600 before pg_ctl
        opens it (its umask would leave it world-readable)."""
        log = self.log_file
        if log.parent.is_dir():
            log.touch(mode=0o600, exist_ok=True)
            self._give(log)
            log.chmod(0o600)

    def _give(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _write_owned(self, path: Path, text: str) -> None:
        path.write_text(text)
        self._give(path)
        path.chmod(0o600)

    def _run(
        self, tool: str, *args: str, check: bool = True, timeout: float = 60, password: str = ""
    ):
        cmd = self.command(tool, *args)
        kwargs: dict = {}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        if hostos.IS_WINDOWS:  # Windows programs need SYSTEMROOT, TEMP and the like
            env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PG")}
        if password:
            env["PGPASSWORD"] = password  # never on the command line
        if self.account is not None:
            kwargs.update(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
            env["HOME"] = self.account.pw_dir
        try:
            result = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=str(
                    self.data_dir.parent if self.data_dir.parent.exists() else self.data_dir.anchor
                ),
                stdin=subprocess.DEVNULL,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{tool} did not finish within {timeout:.0f} s") from exc
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ClusterError(f"{tool} failed: {detail[-1] if detail else 'no output'}")
        return result
