"""Silent install and uninstall from an answer file (``strongroom install|uninstall``).

The answer files mirror the product Strongroom follows: Java-style properties (``.txt``)
on Linux, InstallShield-style INI (``.iss``) on Windows, the same keys in both. All the
logic is here; ``setup/linux/*.sh`` and ``setup/windows/install.ps1`` only prepare
Python and call it.

Every step is written to the log file. A failed install says why (log and stderr) and
removes what it created, so fixing the file and running again works.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING

from server.core import hostos
from server.core.files import private_log, write_durably
from server.core.registration import REGISTRATION_FILE
from server.ops.program_files import install_program, runtime_python
from server.ops.winservice import HOST_SCRIPT, host_script

if TYPE_CHECKING:
    from server.ops.install import PairOptions

SERVICE_MODES = ("auto", "systemd", "process", "windows")
# InstallAnywhere's per-file answer, as the guide writes it on Linux:
# -fileOverwrite_/opt/strongroom/conf/strongroom.toml=Yes
OVERWRITE_PREFIX = "-FILEOVERWRITE_"
# Every key an answer file may hold (upper-cased); others are named in the log as ignored.
KNOWN_KEYS = frozenset(
    {
        "ACTION", "USER_INSTALL_DIR", "FILE_OVERWRITE", "ROLE", "NODE_NAME", "ADMIN_NAME",
        "ADMIN_PASSWORD", "NAME", "MAILID", "PHONE", "COMPANY", "COUNTRY", "HOST", "PORT",
        "DB_PORT", "SERVICE_NAME", "RESTORE_FILE", "RESTORE_PASSPHRASE_FILE",
        "RESTORE_KEY_FILE", "PUBLIC_URL", "DB_LISTEN", "WITNESS_URL", "WITNESS_FINGERPRINT",
        "WITNESS_TOKEN", "AUTO_REJOIN", "DATABASE_DSN", "DATABASE_ADMIN_DSN",
        "PRIMARY_ADDRESS", "PRIMARY_DB", "ENROLLMENT_TOKEN", "KEEP_BACKUPS",
        # the .iss header ([InstallShield Silent] Version=, File=)
        "VERSION", "FILE",
    }
)  # fmt: skip
ALL_ADDRESSES = "0.0.0.0"  # noqa: S104 - the default listen address: a server for a LAN
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}
UNIT_DIR = Path("/etc/systemd/system")


class AnswerFileError(Exception):
    """The answer file is missing, unreadable or invalid; the message lists every problem."""


class SetupFailed(Exception):
    """A step of the install failed; what it had made was removed."""


@dataclass
class Answers:
    """A validated answer file."""

    action: str  # install | uninstall
    install_dir: Path
    overwrite: bool
    role: str
    admin_name: str
    admin_password: str | None
    full_name: str  # Name: the first administrator's full name (registration)
    mail: str
    phone: str
    company: str
    country: str
    port: int
    db_port: int
    node_name: str
    primary_address: str
    primary_db: str
    enrollment_token: str
    keep_backups: bool
    service_name: str
    # A primary may start from a backup instead of empty (strongroom restore).
    restore_file: str = ""
    restore_passphrase_file: str = ""
    restore_key_file: str = ""
    public_url: str = ""
    db_listen: str = ""
    witness_url: str = ""
    witness_fingerprint: str = ""
    witness_token: str = ""
    auto_rejoin: bool = False
    database_dsn: str = ""
    database_admin_dsn: str = ""
    host: str = ALL_ADDRESSES  # HOST: the address the HTTPS server listens on
    ignored: list[str] = field(default_factory=list)  # keys not understood (logged)
    overwrite_notes: list[str] = field(default_factory=list)  # -fileOverwrite_ outside

    def pair_options(self) -> PairOptions:
        """The node name, addresses and witness this answer file gives a primary."""
        from server.ops.install import PairOptions

        return PairOptions(
            node_name=self.node_name,
            public_url=self.public_url,
            db_listen=self.db_listen,
            witness_url=self.witness_url,
            witness_fingerprint=self.witness_fingerprint,
            witness_token=self.witness_token,
            auto_rejoin=self.auto_rejoin,
        )


def read_answer_file(path: Path) -> dict[str, str]:
    """The file's KEY=VALUE pairs (keys upper-cased); .iss sections are flattened."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnswerFileError(f"answer file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnswerFileError(f"cannot read the answer file {path}: {exc}") from None
    values: dict[str, str] = {}
    if path.suffix.lower() == ".iss":
        # "=" only: a Windows path (C:\\...) in a key or value holds a colon.
        parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment]
        try:
            parser.read_string(text)
        except configparser.Error as exc:
            raise AnswerFileError(f"{path} is not a valid INI (.iss) file: {exc}") from None
        for section in parser.sections():
            for key, value in parser.items(section):
                values[_key(key)] = _unquote(value)
        return values
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.rpartition("=") if _is_overwrite(line) else line.partition("=")
        if not sep:
            raise AnswerFileError(f"{path} line {number}: expected KEY=VALUE, got {line!r}")
        values[_key(key)] = _unquote(value)
    return values


def _is_overwrite(key: str) -> bool:
    return key.strip().upper().startswith(OVERWRITE_PREFIX)


def _key(key: str) -> str:
    """Keys are case-blind (upper-cased), but the path in ``-fileOverwrite_<path>`` keeps
    its case (Linux paths are case-sensitive)."""
    key = key.strip()
    if _is_overwrite(key):
        return OVERWRITE_PREFIX + key[len(OVERWRITE_PREFIX) :]
    return key.upper()


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def validate(values: dict[str, str], action: str = "install") -> Answers:
    """Check every field; raise AnswerFileError naming all problems at once."""
    problems: list[str] = []
    action = values.get("ACTION", action).strip().lower() or action
    if action not in ("install", "uninstall"):
        problems.append(f"ACTION must be install or uninstall (got {action!r})")

    def flag(key: str, default: bool) -> bool:
        raw = values.get(key, "").strip().lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return default if raw == "" else False
        problems.append(f"{key} must be true or false (got {values[key]!r})")
        return default

    def number(key: str, default: int) -> int:
        raw = values.get(key, "").strip()
        if not raw:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            problems.append(f"{key} must be a port number between 1 and 65535 (got {raw!r})")
            return default
        return int(raw)

    install_dir = values.get("USER_INSTALL_DIR", "").strip()
    if not install_dir:
        problems.append("USER_INSTALL_DIR is required (the folder to install into)")
    elif not (Path(install_dir).is_absolute() or PureWindowsPath(install_dir).is_absolute()):
        problems.append(f"USER_INSTALL_DIR must be an absolute path (got {install_dir!r})")
    role = values.get("ROLE", "primary").strip().lower() or "primary"
    mail = values.get("MAILID", "").strip()
    country = values.get("COUNTRY", "").strip()
    primary_address = values.get("PRIMARY_ADDRESS", "").strip()
    token = values.get("ENROLLMENT_TOKEN", "").strip()
    if action == "install":
        if role not in ("primary", "secondary"):
            problems.append(f"ROLE must be primary or secondary (got {role!r})")
        if not mail:
            problems.append("MailId is required (the administrator's e-mail address)")
        elif not _EMAIL.match(mail):
            problems.append(f"MailId is not a valid e-mail address (got {mail!r})")
        if not country:
            problems.append("Country is required")
        if role == "secondary":
            if not primary_address.startswith("https://"):
                problems.append(
                    "PRIMARY_ADDRESS is required for a secondary (https://HOST:PORT of the primary)"
                )
            if not token:
                problems.append(
                    "ENROLLMENT_TOKEN is required for a secondary "
                    "(make one on the primary: strongroom cluster enroll-token)"
                )
    answers = Answers(
        action=action,
        install_dir=Path(install_dir or "/nonexistent"),
        overwrite=flag("FILE_OVERWRITE", False),
        role=role,
        admin_name=values.get("ADMIN_NAME", "admin").strip() or "admin",
        admin_password=values.get("ADMIN_PASSWORD") or None,
        full_name=values.get("NAME", "").strip(),
        mail=mail,
        phone=values.get("PHONE", "").strip(),
        company=values.get("COMPANY", "").strip(),
        country=country,
        port=number("PORT", 7272),
        db_port=number("DB_PORT", 7432),
        node_name=values.get("NODE_NAME", "").strip()
        or ("node1" if role == "primary" else "node2"),
        primary_address=primary_address,
        primary_db=values.get("PRIMARY_DB", "").strip(),
        enrollment_token=token,
        keep_backups=flag("KEEP_BACKUPS", True),
        service_name=values.get("SERVICE_NAME", "strongroom").strip() or "strongroom",
        public_url=values.get("PUBLIC_URL", "").strip(),
        db_listen=values.get("DB_LISTEN", "").strip(),
        witness_url=values.get("WITNESS_URL", "").strip(),
        witness_fingerprint=values.get("WITNESS_FINGERPRINT", "").strip(),
        witness_token=values.get("WITNESS_TOKEN", "").strip(),
        auto_rejoin=flag("AUTO_REJOIN", False),
        database_dsn=values.get("DATABASE_DSN", "").strip(),
        database_admin_dsn=values.get("DATABASE_ADMIN_DSN", "").strip(),
    )
    _restore_answers(values, answers, problems)
    _registration_answers(values, answers, problems)
    witness = [answers.witness_url, answers.witness_fingerprint, answers.witness_token]
    if action == "install" and any(witness) and not all(witness):
        problems.append("WITNESS_URL, WITNESS_FINGERPRINT and WITNESS_TOKEN go together")
    if (
        action == "install"
        and answers.witness_url
        and not answers.witness_url.startswith("https://")
    ):
        problems.append(f"WITNESS_URL must be https://HOST:PORT (got {answers.witness_url!r})")
    if action == "install" and role == "secondary" and (any(witness) or answers.database_dsn):
        problems.append(
            "a secondary takes the witness and database settings from its primary "
            "(leave WITNESS_* and DATABASE_DSN empty)"
        )
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", answers.service_name):
        problems.append(
            f"SERVICE_NAME may hold letters, digits, . _ - (got {answers.service_name!r})"
        )
    if problems:
        raise AnswerFileError("the answer file is invalid:\n  - " + "\n  - ".join(problems))
    return answers


class StepLog:
    """Every step, timestamped, to the log file (and a short line to stdout)."""

    def __init__(self, path: Path | None, echo: Callable[[str], None] = print) -> None:
        self.path = path
        self.echo = echo
        if path is not None:
            private_log(path)  # 0600: it names the install, its users and its steps

    def __call__(self, message: str, level: str = "INFO") -> None:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(f"{stamp} {level} {message}\n")
        self.echo(f"  … {message}" if level == "INFO" else f"{level}: {message}")


def resolve_mode(mode: str) -> str:
    """The service manager to use: systemd when it runs, else a background process."""
    if mode != "auto":
        return mode
    if os.name == "nt":
        return "windows"
    return "systemd" if Path("/run/systemd/system").is_dir() else "process"


def unit_text(answers: Answers, config_path: Path) -> str:
    """The systemd unit that runs this node from its own program files."""
    exe = shlex.quote(str(runtime_python(answers.install_dir, windows=False)))
    conf = shlex.quote(str(config_path))
    return (
        "[Unit]\n"
        f"Description=Strongroom privileged password manager ({answers.role} {answers.node_name})\n"
        "After=network-online.target\nWants=network-online.target\n\n"
        "[Service]\nType=simple\n"
        f"WorkingDirectory={answers.install_dir}\n"
        f"ExecStart={exe} -m server.ops.cli serve --config {conf}\n"
        f"ExecStopPost={exe} -m server.ops.cli stop --config {conf}\n"
        "Restart=on-failure\nRestartSec=2\nTimeoutStopSec=60\n"
        "NoNewPrivileges=true\nPrivateTmp=true\n\n"
        "[Install]\nWantedBy=multi-user.target\n"
    )


def service_python() -> Path:
    """The interpreter the Windows service runs: the base one that makes the node's runtime
    (a venv's Scripts\\python.exe is a launcher that would not answer the Service Control
    Manager; server.ops.winservice)."""
    return Path(getattr(sys, "_base_executable", "") or sys.executable)


def _windows_home(answers: Answers) -> PureWindowsPath:
    return PureWindowsPath(str(answers.install_dir))


def windows_commands(answers: Answers) -> list[list[str]]:
    """The sc.exe commands that register and start the Windows service: the SCM starts
    the base interpreter on ``program\\strongroom-service.py`` (server.ops.winservice),
    automatically at boot, restarted after a failure."""
    home = _windows_home(answers)
    script = home / "program" / HOST_SCRIPT
    config = home / "conf" / "strongroom.toml"
    name = answers.service_name
    bin_path = f'"{service_python()}" -E -s "{script}" --name {name} --config "{config}"'
    return [
        [
            "sc.exe",
            "create",
            name,
            "binPath=",
            bin_path,
            "start=",
            "auto",
            "DisplayName=",
            f"Strongroom ({answers.role})",
        ],
        ["sc.exe", "description", name, "Strongroom privileged password manager"],
        ["sc.exe", "failure", name, "reset=", "86400", "actions=", "restart/2000"],
        ["sc.exe", "start", name],
    ]


def windows_plan(answers: Answers) -> list[list[str]]:
    """Every command a Windows install runs, in order, as a dry run prints them: the
    install folder's ACL, initdb.exe (a primary), the key files' ACLs, then sc.exe."""
    from replication.cluster import ClusterError, find_bindir, initdb_arguments
    from server.core.config import DatabaseConfig

    home = _windows_home(answers)
    plan = hostos.protect_folder_commands(home)
    if answers.role == "primary" and not answers.restore_file and not answers.database_dsn:
        bindir = PureWindowsPath("C:\\Program Files\\PostgreSQL\\<version>\\bin")
        if hostos.IS_WINDOWS:  # on another system, where it would be is all one can say
            with contextlib.suppress(ClusterError):
                bindir = PureWindowsPath(str(find_bindir()))
        data = home / PureWindowsPath(DatabaseConfig.data_dir)
        pwfile = str(data.parent / ".initdb-pw")
        args = initdb_arguments(str(data), DatabaseConfig.superuser, pwfile, windows=True)
        plan.append([str(bindir / "initdb.exe"), *args])
    for key in ("master.key", "tls.key"):
        plan += hostos.protect_commands(home / "conf" / key)
    return plan + windows_commands(answers)


def windows_uninstall_commands(answers: Answers) -> list[list[str]]:
    """The sc.exe commands that stop and remove the Windows service."""
    return [["sc.exe", "stop", answers.service_name], ["sc.exe", "delete", answers.service_name]]


def _write_service_host(answers: Answers) -> Path:
    """``program\\strongroom-service.py``, which the service's command line names."""
    home = answers.install_dir
    runtime_site = home / "program" / "runtime" / "Lib" / "site-packages"
    script = home / "program" / HOST_SCRIPT
    script.write_text(host_script(runtime_site, home / "program" / "app"), encoding="utf-8")
    return script


def _run(cmd: list[str], log: StepLog, dry_run: bool, also_fine: tuple[int, ...] = ()) -> int:
    """Run ``cmd`` (or, on a dry run, print it exactly as it would run); answer its exit
    code. Raises SetupFailed unless it is 0 or in ``also_fine``."""
    shown = subprocess.list2cmdline(cmd)
    if dry_run:
        log(f"would run: {shown}")
        print(shown)
        return 0
    log(f"running: {shown}")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 and result.returncode not in also_fine:
        raise SetupFailed(f"{shown} failed: {(result.stderr or result.stdout).strip()}")
    return result.returncode


def install(
    answer_file: Path, log_path: Path | None, mode: str = "auto", dry_run: bool = False
) -> Answers:
    """Install a node as the answer file says (or uninstall, when ACTION=uninstall)."""
    log = StepLog(log_path)
    answers = _read_answers(answer_file, log)
    if answers.action == "uninstall":
        uninstall(answers, log, mode, dry_run)
        return answers
    mode = resolve_mode(mode)
    home = answers.install_dir
    log(f"installing a {answers.role} node '{answers.node_name}' into {home} (service: {mode})")
    _log_answers(answers, log)
    if not (dry_run and mode == "windows"):  # a Windows path is only printed on a dry run
        _check_target(answers, log)
    if dry_run:
        config_path = home / "conf" / "strongroom.toml"
        if mode == "windows":
            for cmd in windows_plan(answers):
                _run(cmd, log, dry_run=True)
        else:
            log("dry run: the unit would be\n" + unit_text(answers, config_path))
        return answers
    created: list[Path] = []
    try:
        if answers.overwrite and home.exists() and any(home.iterdir()):
            log(f"FILE_OVERWRITE=true: removing the previous install in {home}")
            _stop_quietly(home, answers, mode)
            _remove_install(home, keep_backups=False, log=log)
        if mode == "windows":
            if not home.exists():
                home.mkdir(parents=True)
                created.append(home)
            for cmd in hostos.protect_folder_commands(home):
                _run(cmd, log, False)
        config_path = _make_node(answers, log)
        created.append(home)
        _apply_listen(config_path, answers.host)
        install_program(home, log)
        log(f"installed the program files; the command is {home / 'bin' / 'strongroom'}")
        _write_registration(answers, home)
        log("wrote conf/registration.json (Name, MailId, Phone, Company, Country)")
        if mode == "windows":
            script = _write_service_host(answers)
            log(f"wrote the service's entry point {script}")
        else:
            unit = home / "conf" / f"{answers.service_name}.service"
            unit.write_text(unit_text(answers, config_path))
            log(f"wrote the service definition {unit}")
        _start_service(answers, config_path, mode, log)
        log(f"installed: https://localhost:{answers.port} ({answers.role})")
        return answers
    except BaseException as exc:
        log(f"install failed: {exc}", "ERROR")
        if created:
            log(f"removing what this install created in {home}")
            _stop_quietly(home, answers, mode)
            shutil.rmtree(home, ignore_errors=True)
        if isinstance(exc, SetupFailed | AnswerFileError):
            raise
        if isinstance(exc, Exception):
            raise SetupFailed(str(exc)) from exc
        raise


def _log_answers(answers: Answers, log: StepLog) -> None:
    """Say what the file asked that is easy to miss: keys ignored, -fileOverwrite_ lines
    outside the install, and where the server will listen."""
    if answers.ignored:
        log(f"ignored keys this program does not know: {', '.join(answers.ignored)}", "WARNING")
    for note in answers.overwrite_notes:
        log(note, "WARNING")
    where = f"all addresses ({ALL_ADDRESSES})" if answers.host == ALL_ADDRESSES else answers.host
    log(f"the server will listen on {where}, port {answers.port} (HOST, PORT)")


def _apply_listen(config_path: Path, host: str) -> None:
    """Write HOST into the node's configuration when it differs from what init wrote."""
    from server.core.config import load_config, render_config

    config = load_config(config_path, environ={})
    if config.server.host == host:
        return
    config.server.host = host
    write_durably(config_path, render_config(config))


def _check_target(answers: Answers, log: StepLog) -> None:
    home = answers.install_dir
    if home.exists() and not home.is_dir():
        raise _logged(log, AnswerFileError(f"USER_INSTALL_DIR {home} exists and is not a folder"))
    if home.exists() and any(home.iterdir()) and not answers.overwrite:
        raise _logged(
            log,
            AnswerFileError(
                f"USER_INSTALL_DIR {home} is not empty; set FILE_OVERWRITE=true to replace it"
            ),
        )
    # Writable means a file can be made there: try it, then take back what was made.
    missing = [p for p in (home, *home.parents) if not p.exists()]
    probe = home / ".strongroom-write-test"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise _logged(
            log,
            AnswerFileError(f"USER_INSTALL_DIR {home} is not writable: {exc.strerror or exc}"),
        ) from None
    finally:
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def _logged(log: StepLog, exc: Exception) -> Exception:
    log(str(exc), "ERROR")
    return exc


def _make_node(answers: Answers, log: StepLog) -> Path:
    from replication.cluster import ClusterError
    from server.ops.install import ExternalDatabase, InstallError, init_install

    home = answers.install_dir
    try:
        if answers.role == "primary" and answers.restore_file:
            return _restore_node(answers, log)
        if answers.role == "primary":
            result = init_install(
                home,
                port=answers.port,
                db_port=answers.db_port,
                admin_username=answers.admin_name,
                admin_password=answers.admin_password,
                progress=log,
                pair=answers.pair_options(),
                external=ExternalDatabase(
                    answers.database_dsn,
                    answers.database_admin_dsn,
                    os.environ.get("STRONGROOM_DATABASE_OWNER_PASSWORD", ""),
                    os.environ.get("STRONGROOM_DATABASE_APP_PASSWORD", ""),
                )
                if answers.database_dsn
                else None,
            )
            if result.generated_password:
                secret = home / "conf" / "initial-admin-password"
                write_durably(secret, result.generated_password + "\n")
                log(f"the administrator's generated password is in {secret} (0600; read it once)")
            return result.config_path
        from replication.enroll import init_secondary

        return init_secondary(
            home,
            token=answers.enrollment_token,
            primary_url=answers.primary_address,
            name=answers.node_name,
            port=answers.port,
            db_port=answers.db_port,
            primary_db=answers.primary_db,
            advertise_url=answers.public_url,
            db_listen=answers.db_listen,
            auto_rejoin=answers.auto_rejoin,
            progress=log,
        )
    except (ClusterError, InstallError) as exc:
        raise SetupFailed(str(exc)) from exc


def _registration_answers(values: dict[str, str], answers: Answers, problems: list[str]) -> None:
    """The guide's keys beyond the basics (issue 34, item 3): ``-fileOverwrite_<path>=Yes|No``
    lines (InstallAnywhere's form, beside FILE_OVERWRITE), HOST (the listen address,
    default all addresses), and the keys this program does not know (logged as ignored)."""
    answers.ignored = sorted(
        k for k in values if k not in KNOWN_KEYS and not k.startswith(OVERWRITE_PREFIX)
    )
    host = values.get("HOST", "").strip() or ALL_ADDRESSES
    if not _valid_host(host):
        problems.append(f"HOST must be an IP address or a host name to listen on (got {host!r})")
    answers.host = host
    home = values.get("USER_INSTALL_DIR", "").strip()
    said: dict[bool, list[str]] = {True: [], False: []}
    for key, raw in values.items():
        if not key.startswith(OVERWRITE_PREFIX):
            continue
        target = key[len(OVERWRITE_PREFIX) :]
        answer = raw.strip().lower()
        if answer not in _TRUE | _FALSE or not answer:
            problems.append(f"{key.replace(OVERWRITE_PREFIX, '-fileOverwrite_')} must be Yes or No")
            continue
        if home and _inside(target, home):
            said[answer in _TRUE].append(target)
        else:
            answers.overwrite_notes.append(
                f"-fileOverwrite_{target} names a file outside USER_INSTALL_DIR: ignored"
            )
    if said[True] and said[False]:
        problems.append(
            "-fileOverwrite_ lines disagree: Yes for "
            f"{', '.join(said[True])} but No for {', '.join(said[False])} "
            "(an install is replaced whole or not at all)"
        )
        return
    if not (said[True] or said[False]):
        return
    wanted = bool(said[True])
    explicit = values.get("FILE_OVERWRITE", "").strip().lower()
    if explicit and (explicit in _TRUE) != wanted:
        problems.append(
            f"FILE_OVERWRITE={values['FILE_OVERWRITE']} contradicts -fileOverwrite_"
            f"{(said[True] or said[False])[0]}={'Yes' if wanted else 'No'}"
        )
        return
    answers.overwrite = wanted


def _inside(target: str, home: str) -> bool:
    """Whether ``target`` is ``home`` or inside it (POSIX or Windows spelling)."""
    for kind in (PurePosixPath, PureWindowsPath):
        t, h = kind(target), kind(home)
        if t.is_absolute() and h.is_absolute() and (t == h or h in t.parents):
            return True
    return False


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.\-]{0,252})", host) is not None


def _restore_answers(values: dict[str, str], answers: Answers, problems: list[str]) -> None:
    """RESTORE_FILE (a backup), RESTORE_PASSPHRASE_FILE (else $STRONGROOM_BACKUP_PASSPHRASE)
    and RESTORE_KEY_FILE (for a backup sealed for a recipient key)."""
    answers.restore_file = values.get("RESTORE_FILE", "").strip()
    answers.restore_passphrase_file = values.get("RESTORE_PASSPHRASE_FILE", "").strip()
    answers.restore_key_file = values.get("RESTORE_KEY_FILE", "").strip()
    if not answers.restore_file or answers.action != "install":
        return
    if answers.role != "primary":
        problems.append("RESTORE_FILE is for a primary (a secondary copies its primary)")
    if not Path(answers.restore_file).is_file():
        problems.append(f"RESTORE_FILE {answers.restore_file!r} is not a file")
    if not (answers.restore_passphrase_file or os.environ.get("STRONGROOM_BACKUP_PASSPHRASE")):
        problems.append(
            "RESTORE_FILE needs RESTORE_PASSPHRASE_FILE (or $STRONGROOM_BACKUP_PASSPHRASE)"
        )


def _restore_node(answers: Answers, log: StepLog) -> Path:
    """Make the primary from RESTORE_FILE instead of an empty one."""
    from server.backup import archive as backup
    from server.backup import crypto as backup_crypto
    from server.ops.backup_cli import BackupCommandError, read_passphrase

    log(f"restoring from {answers.restore_file} (ADMIN_NAME/ADMIN_PASSWORD are not used)")
    try:
        passphrase = read_passphrase(answers.restore_passphrase_file or None) or ""
        key_file = Path(answers.restore_key_file) if answers.restore_key_file else None
        result = backup.restore_backup(
            Path(answers.restore_file),
            answers.install_dir,
            backup_crypto.Unlock(passphrase, key_file),
            port=answers.port,
            db_port=answers.db_port,
            note=log,
        )
    except (backup.BackupError, backup_crypto.BackupCryptoError, BackupCommandError) as exc:
        raise SetupFailed(f"restore failed: {exc}") from exc
    log(f"restored the backup of {result.manifest['created_at']} (node {result.manifest['node']})")
    return result.config_path


def _write_registration(answers: Answers, home: Path) -> None:
    data = {
        "name": answers.full_name,
        "mail": answers.mail,
        "country": answers.country,
        "company": answers.company,
        "phone": answers.phone,
        "role": answers.role,
        "node": answers.node_name,
        "installed_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    write_durably(home / REGISTRATION_FILE, json.dumps(data, indent=2) + "\n")


def _start_service(answers: Answers, config_path: Path, mode: str, log: StepLog):
    if mode == "systemd":
        unit = answers.install_dir / "conf" / f"{answers.service_name}.service"
        target = UNIT_DIR / unit.name
        shutil.copyfile(unit, target)
        log(f"installed the systemd unit {target}")
        _run(["systemctl", "daemon-reload"], log, False)
        _run(["systemctl", "enable", "--now", unit.name], log, False)
    elif mode == "windows":
        for cmd in windows_commands(answers):
            _run(cmd, log, False)
        _wait_windows_service(answers.service_name, "RUNNING", log)
    else:
        from server.core.config import load_config
        from server.ops import service

        pid = service.start_detached(
            load_config(config_path), config_path, python=runtime_python(answers.install_dir)
        )
        log(f"started the server as a background process (pid {pid}; no service manager)")


def _wait_windows_service(name: str, state: str, log: StepLog, timeout: float = 120) -> None:
    """Wait until ``sc.exe query NAME`` says ``state`` (RUNNING, STOPPED); sc.exe start and
    stop only ask. Raises SetupFailed when it does not get there in time."""
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        result = subprocess.run(
            ["sc.exe", "query", name], capture_output=True, text=True, timeout=30, check=False
        )
        seen = result.stdout
        if result.returncode == 1060 or state in seen:  # 1060: no such service
            log(f"service {name}: {state.lower()}")
            return
        time.sleep(1)
    raise SetupFailed(f"service {name} did not reach {state} within {timeout:.0f} s: {seen}")


def _stop_quietly(home: Path, answers: Answers, mode: str) -> None:
    try:
        if mode == "windows":
            for cmd in windows_uninstall_commands(answers):
                subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        if mode == "systemd":
            subprocess.run(
                ["systemctl", "disable", "--now", f"{answers.service_name}.service"],
                capture_output=True,
                timeout=60,
                check=False,
            )
            (UNIT_DIR / f"{answers.service_name}.service").unlink(missing_ok=True)
        config_path = home / "conf" / "strongroom.toml"
        if config_path.exists():
            from server.core.config import load_config
            from server.ops import service

            service.stop(load_config(config_path))
    except Exception:  # noqa: S110 - best effort while cleaning up after a failure
        pass


def uninstall(answers: Answers, log: StepLog, mode: str = "auto", dry_run: bool = False) -> None:
    """Stop and remove the service, then the install directory (backups kept if asked)."""
    mode = resolve_mode(mode)
    home = answers.install_dir
    log(f"uninstalling {home} (service: {mode}, keep backups: {answers.keep_backups})")
    if mode == "windows":
        # 1060: no such service; 1062: it was not running. Both leave nothing to stop.
        stop, delete = windows_uninstall_commands(answers)
        if _run(stop, log, dry_run, also_fine=(1060, 1062)) == 0 and not dry_run:
            _wait_windows_service(answers.service_name, "STOPPED", log)
        _run(delete, log, dry_run, also_fine=(1060,))
        if dry_run:
            kept = " (keeping backups)" if answers.keep_backups else ""
            log(f"dry run: would remove {home}{kept}")
            return
    if not home.exists():
        log(f"{home} does not exist: nothing to remove")
        return
    if not (home / "conf").is_dir():
        raise _logged(log, AnswerFileError(f"{home} is not a Strongroom install directory"))
    if dry_run:
        log(f"dry run: would stop the service and remove {home}")
        return
    _stop_quietly(home, answers, mode)
    log("stopped the server and its database")
    leave_pair(home, log)
    _remove_install(home, answers.keep_backups, log)
    log("uninstalled")


def _remove_install(home: Path, keep_backups: bool, log: StepLog) -> None:
    """Delete a stopped install directory, or everything in it but its backups."""
    backups = home / "backups"
    keep = keep_backups and backups.is_dir() and any(backups.iterdir())
    for child in home.iterdir():
        if keep and child == backups:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    if keep:
        log(f"kept {backups}")
    else:
        home.rmdir()
        log(f"removed {home}")


def uninstall_from_file(
    answer_file: Path, log_path: Path | None, mode: str = "auto", dry_run: bool = False
) -> Answers:
    """``strongroom uninstall``: the answer file names the install directory."""
    log = StepLog(log_path)
    answers = _read_answers(answer_file, log, action="uninstall")
    uninstall(answers, log, mode, dry_run)
    return answers


def _read_answers(answer_file: Path, log: StepLog, action: str | None = None) -> Answers:
    """Read and validate the answer file, logging what is wrong with it. ``action``
    overrides the file's ACTION (``strongroom uninstall`` always uninstalls)."""
    log(f"reading answer file {answer_file}")
    try:
        values = read_answer_file(answer_file)
        if action:
            values["ACTION"] = action
        return validate(values, action or "install")
    except AnswerFileError as exc:
        log(str(exc), "ERROR")
        raise


def leave_pair(home: Path, log: StepLog) -> bool:
    """A secondary being uninstalled leaves its pair (issue 33, item 2): it ships its
    audit spool to the primary, then asks the primary to remove it (no longer waited for,
    its slot dropped: server/ops/service.remove_node). Says so when the primary cannot be
    reached. True when the primary removed it (or there was nothing to leave)."""
    config_path = home / "conf" / "strongroom.toml"
    if not (home / "pgsql" / "data" / "standby.signal").exists() or not config_path.exists():
        return True
    import asyncio

    from server.core.config import load_config
    from server.node.mode import HaState, ha_state_path
    from server.node.peer import peer_client
    from server.ops import service

    try:
        config = load_config(config_path)
    except Exception as exc:
        log(f"cannot read {config_path} ({exc}): remove this node on its primary by hand")
        return False
    state = HaState.load(ha_state_path(config))
    if not state.peer.url or not state.cluster_secret:
        return True
    primary = f"{state.peer.name} at {state.peer.url}"
    spool_file = home / "spool" / "audit.jsonl"
    lines = spool_file.read_text(encoding="utf-8").splitlines() if spool_file.exists() else []
    if lines:
        client = peer_client(config, state.peer.url, 30.0, state.cluster_secret)

        async def ship() -> int:
            try:
                records = [json.loads(line) for line in lines if line.strip()]
                status, _ = await client.call("POST", "/api/v1/cluster/spool", {"events": records})
                return status
            finally:
                await client.close()

        if asyncio.run(ship()) == 200:
            log(f"shipped {len(lines)} spooled audit event(s) to the primary {primary}")
        else:
            kept = home.parent / f"{home.name}-unshipped-audit.jsonl"
            shutil.copy2(spool_file, kept)
            log(f"could not ship the audit spool to {primary}: kept a copy in {kept}")
    try:
        status, answer = service.remove_node(config, config.node.name, url=state.peer.url)
    except Exception as exc:
        status, answer = 0, {"detail": str(exc)}
    if status == 200:
        log(f"the primary {primary} removed this node ({config.node.name}): slot dropped")
        return True
    why = answer.get("detail") or "it did not answer"
    log(
        f"the primary {primary} could not remove this node ({why}): run "
        f"'strongroom cluster remove-node {config.node.name}' there"
    )
    return False
