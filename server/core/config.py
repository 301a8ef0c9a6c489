"""Configuration: a TOML file plus ``STRONGROOM_<SECTION>_<KEY>`` environment overrides.

Every value is validated at start-up; a bad value raises ConfigError naming the
file, the key and what was expected. Relative paths are relative to the install
directory (the folder holding ``conf/``).
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.core.pins import parse_pin

ENV_PREFIX = "STRONGROOM_"
LAYOUT = ("conf", "logs", "spool", "backups", "run", "pgsql")  # an install directory's folders


class ConfigError(Exception):
    """The configuration file or an environment override is invalid."""


@dataclass
class ServerConfig:
    """The HTTPS listener."""

    host: str = "0.0.0.0"  # noqa: S104 - a server for a LAN; the firewall decides
    port: int = 7272
    tls_cert: str = "conf/tls.crt"
    tls_key: str = "conf/tls.key"
    max_body_bytes: int = 4 * 1024 * 1024
    import_max_rows: int = 50_000  # organizations per import file; larger files get 413
    public_url: str = ""


@dataclass
class DatabaseConfig:
    """Where PostgreSQL is and how to reach it."""

    embedded: bool = True
    data_dir: str = "pgsql/data"
    listen: str = "127.0.0.1"  # the embedded cluster's address (the peer node must reach it)
    host: str = "127.0.0.1"
    port: int = 7432
    name: str = "strongroom"
    dsn: str = ""
    app_user: str = "strongroom_app"
    app_password: str = ""
    owner_user: str = "strongroom_owner"
    owner_password: str = ""
    superuser: str = "strongroom_admin"
    superuser_password: str = ""
    pool_min: int = 2
    pool_max: int = 20
    command_timeout: float = 30.0
    connect_timeout: float = 5.0


@dataclass
class SecurityConfig:
    """Keys, sessions and login throttling."""

    master_key: str = "conf/master.key"
    anchor_log: str = "audit/anchors.jsonl"  # audit chain heads, outside the database
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    argon2_memory_kib: int = 65536
    argon2_iterations: int = 2
    argon2_lanes: int = 1
    access_request_days: int = 7
    api_key_days: int = 90  # an API key's lifetime unless its creator picks one (<= 365)
    # Refused attempts (access_denied events, server/services/denials.py): one event per
    # actor, code and route at once, the rest counted and recorded once per window.
    denials_window_seconds: float = 60.0
    denials_max_keys: int = 10_000  # open windows held in memory; past it, one overflow count
    # A deleted client org is kept this many days before it is purged (issue 27, item 5).
    org_recovery_days: int = 7


@dataclass
class NodeConfig:
    """This node's place in a primary/secondary pair."""

    role: str = "primary"
    name: str = "node1"
    # Automatic failover needs a witness (strongroom witness); without one, promotion
    # is manual (strongroom promote).
    witness_url: str = ""
    witness_fingerprint: str = ""
    witness_token: str = ""
    auto_rejoin: bool = False
    # fence_after < the witness's lease TTL < failover_timeout (seconds).
    fence_after: float = 3.0
    failover_timeout: float = 6.0
    monitor_interval: float = 0.5


@dataclass
class ReplicationConfig:
    """How a primary treats its standby when it has no witness (issue 33)."""

    # No witness: seconds a standby may stop confirming WAL before the primary stops
    # waiting for it (asynchronous replication, health ``degraded``, audited).
    async_after: float = 10.0
    # True: never replicate asynchronously; while the standby is away writes answer
    # 503 standby_unavailable at once (logins, reveals and reads keep working).
    synchronous_required: bool = False
    # A COMMIT (or autocommit statement) that takes longer answers 503 outcome_unknown:
    # no request waits forever on a standby. Must exceed async_after.
    commit_timeout: float = 15.0
    # WAL a primary keeps for a standby that is away (PostgreSQL's max_slot_wal_keep_size,
    # e.g. "8GB"); past it the standby is re-seeded by a fresh base backup. "" sizes it at
    # start from the data directory's free space (a quarter of it, 1GB to 64GB).
    max_slot_wal_keep_size: str = ""
    wal_keep_size: str = "512MB"  # WAL kept whatever the slots (PostgreSQL's wal_keep_size)
    # Health warns (degraded) once a standby's retained WAL passes this share of the limit.
    wal_retained_warning: float = 0.8


@dataclass
class BackupConfig:
    """Scheduled encrypted backups (server/backup/archive.py); off while ``schedule`` is empty."""

    dir: str = "backups"
    # "HH:MM" once a day (the node's local time) or "every N s|m|h".
    schedule: str = ""
    keep: int = 7  # scheduled backups kept in ``dir``; older ones are deleted
    max_age_hours: float = 26.0  # health says degraded when the last good one is older
    # The public key scheduled backups are sealed for (strongroom backup keygen): the
    # node holds no secret that opens its own backups.
    recipient: str = ""


@dataclass
class GatewayConfig:
    """The SSH gateway (server/gateway, issue 30): ``ssh -p 2222 alice@host`` lands in the
    TUI. ``strongroom serve`` runs it too while ``enabled``; ``strongroom gateway`` runs it
    alone."""

    enabled: bool = True
    host: str = "0.0.0.0"  # noqa: S104 - a server for a LAN; the firewall decides
    port: int = 2222
    host_key: str = "conf/gateway_host_key"  # made by init (ed25519), or at first start
    # Before login (OpenSSH's LoginGraceTime, MaxAuthTries, MaxStartups per address).
    login_grace_seconds: float = 60.0
    max_auth_attempts: int = 6
    max_unauthenticated_per_address: int = 10
    max_sessions_per_user: int = 5
    # How often a gateway connection checks that its session still stands (logout,
    # disable, a password reset or the idle limit close the connection).
    session_check_seconds: float = 10.0
    # Brokered sessions (connect RESOURCE/ACCOUNT): no key from the user for this long
    # ends one; none lasts longer than the maximum; a target must answer within the timeout.
    connect_idle_seconds: float = 900.0
    connect_max_seconds: float = 28800.0
    connect_timeout_seconds: float = 20.0
    # The TUI child is given this server URL (default: https://localhost:<server.port>).
    tui_url: str = ""


@dataclass
class OutboundConfig:
    """Where the server connects on a user's say-so (SIEM destinations, webhooks, rotation
    targets: server/services/outbound.py, attacker finding 3). Loopback (this host) is refused
    unless ``allow_loopback``; link-local, unspecified and multicast always are."""

    allow_loopback: bool = False


_PG_SIZE = re.compile(r"^[1-9]\d{0,9}(kB|MB|GB|TB)$")
_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_EVERY = re.compile(r"^every\s+(\d+(?:\.\d+)?)\s*(s|m|h)$")


def parse_schedule(text: str) -> tuple[str, float] | None:
    """``("daily", minutes after midnight)`` or ``("every", seconds)``; None if invalid."""
    text = text.strip().lower()
    if match := _DAILY.match(text):
        return "daily", int(match.group(1)) * 60 + int(match.group(2))
    if match := _EVERY.match(text):
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
        return ("every", seconds) if seconds >= 1 else None
    return None


@dataclass
class Config:
    """The whole configuration of one Strongroom node."""

    home: Path
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    node: NodeConfig = field(default_factory=NodeConfig)
    replication: ReplicationConfig = field(default_factory=ReplicationConfig)
    backup: BackupConfig = field(default_factory=BackupConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    source: str = "<defaults>"

    def path(self, value: str) -> Path:
        """Resolve a configured path against the install directory."""
        p = Path(value)
        return p if p.is_absolute() else self.home / p

    @property
    def pid_file(self) -> Path:
        """Where a detached server records its process id."""
        return self.home / "run" / "strongroom.pid"

    def app_dsn(self) -> dict[str, Any]:
        """Connection arguments for the app role."""
        return self._dsn(self.database.app_user, self.database.app_password)

    def owner_dsn(self) -> dict[str, Any]:
        """Connection arguments for the owner role (migrations)."""
        return self._dsn(self.database.owner_user, self.database.owner_password)

    def superuser_dsn(self, database: str = "postgres") -> dict[str, Any]:
        """Connection arguments for the embedded cluster's superuser."""
        db = self.database
        return {
            "host": db.host,
            "port": db.port,
            "user": db.superuser,
            "password": db.superuser_password,
            "database": database,
            "timeout": db.connect_timeout,
        }

    def _dsn(self, user: str, password: str) -> dict[str, Any]:
        db = self.database
        if db.dsn:
            return {
                "dsn": db.dsn,
                "user": user,
                "password": password,
                "timeout": db.connect_timeout,
            }
        return {
            "host": db.host,
            "port": db.port,
            "user": user,
            "password": password,
            "database": db.name,
            "timeout": db.connect_timeout,
        }


def dsn_hosts(dsn: str) -> tuple[list[str], dict[str, str]]:
    """The ``host:port`` entries and the query options of a libpq DSN (URL or keywords).

    Only for showing where an external database is (``strongroom status``): a
    multi-host DSN names each host, ``target_session_attrs`` says which one is used.
    """
    if "://" in dsn:
        parts = urllib.parse.urlsplit(dsn)
        netloc = parts.netloc.rpartition("@")[2]
        options = dict(urllib.parse.parse_qsl(parts.query))
        hosts = [h for h in netloc.split(",") if h]
        if "host" in options:  # postgresql:///db?host=a,b&port=1,2
            hosts = _pair_hosts(options.pop("host"), options.pop("port", ""))
        return hosts, options
    words = dict(word.split("=", 1) for word in dsn.replace(" = ", "=").split() if "=" in word)
    hosts = _pair_hosts(words.pop("host", ""), words.pop("port", ""))
    words.pop("password", None)
    return hosts, {k: v for k, v in words.items() if k != "user"}


def _pair_hosts(hosts: str, ports: str) -> list[str]:
    names = [h for h in hosts.split(",") if h] or ["localhost"]
    numbers = [p for p in ports.split(",") if p]
    if len(numbers) == 1:
        numbers = numbers * len(names)
    return [f"{h}:{numbers[i]}" if i < len(numbers) else h for i, h in enumerate(names)]


def dsn_database(dsn: str) -> str:
    """The database a DSN names ("" when it names none)."""
    if "://" in dsn:
        parts = urllib.parse.urlsplit(dsn)
        return urllib.parse.unquote(parts.path.lstrip("/")) or dict(
            urllib.parse.parse_qsl(parts.query)
        ).get("dbname", "")
    for word in dsn.split():
        key, _, value = word.partition("=")
        if key == "dbname":
            return value.strip("'")
    return ""


_SECTIONS = {
    "server": ServerConfig,
    "database": DatabaseConfig,
    "security": SecurityConfig,
    "node": NodeConfig,
    "replication": ReplicationConfig,
    "backup": BackupConfig,
    "gateway": GatewayConfig,
    "outbound": OutboundConfig,
}


def load_config(path: Path, environ: dict[str, str] | None = None) -> Config:
    """Read, override from the environment and validate the configuration at ``path``."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found (pass --config DIR/conf/strongroom.toml, "
            "set STRONGROOM_CONFIG, run it inside the node's directory, or 'strongroom init "
            "DIR' first)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    home = path.resolve().parent.parent if path.parent.name == "conf" else path.resolve().parent
    config = Config(home=home, source=str(path))
    for section, values in raw.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        target = getattr(config, section)
        for key, value in values.items():
            _assign(target, section, key, value, path)
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in ("STRONGROOM_CONFIG", "STRONGROOM_HOME"):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section in _SECTIONS and key in {f.name for f in fields(_SECTIONS[section])}:
            _assign(getattr(config, section), section, key, _from_env(value), name)
    _validate(config)
    return config


def _from_env(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _assign(target: Any, section: str, key: str, value: Any, origin: Any) -> None:
    known = {f.name: f for f in fields(target)}
    if key not in known:
        raise ConfigError(f"{origin}: unknown setting {section}.{key}")
    expected = type(getattr(target, key))
    where = f"{origin}: {section}.{key}"
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false (got {value!r})")
    elif expected is int:
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise ConfigError(f"{where} must be an integer (got {value!r})") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer (got {value!r})")
    elif expected is float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where} must be a number (got {value!r})") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number (got {value!r})")
        value = float(value)
    elif expected is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string (got {value!r})")
    setattr(target, key, value)


def _validate(config: Config) -> None:
    src = config.source
    for section, key in (("server", "port"), ("database", "port")):
        port = getattr(getattr(config, section), key)
        if not 1 <= port <= 65535:
            raise ConfigError(f"{src}: {section}.{key} must be between 1 and 65535 (got {port})")
    if config.server.max_body_bytes < 1024:
        raise ConfigError(f"{src}: server.max_body_bytes must be at least 1024")
    db = config.database
    if not 1 <= db.pool_min <= db.pool_max:
        raise ConfigError(f"{src}: database.pool_min must be >= 1 and <= database.pool_max")
    if db.command_timeout <= 0 or db.connect_timeout <= 0:
        raise ConfigError(f"{src}: database timeouts must be positive")
    if not db.app_password:
        raise ConfigError(f"{src}: database.app_password is required")
    if db.app_user == db.owner_user:
        raise ConfigError(
            f"{src}: database.app_user must differ from database.owner_user "
            "(the server must not own the tables it is protected by)"
        )
    if config.node.role not in ("primary", "secondary"):
        raise ConfigError(
            f"{src}: node.role must be 'primary' or 'secondary' (got {config.node.role!r})"
        )
    node = config.node
    if not 0 < node.monitor_interval < node.fence_after < node.failover_timeout:
        raise ConfigError(
            f"{src}: node timings must satisfy 0 < monitor_interval < fence_after "
            "< failover_timeout (the witness's lease must lie between the last two)"
        )
    if node.witness_url and not (node.witness_fingerprint and node.witness_token):
        raise ConfigError(f"{src}: node.witness_url needs witness_fingerprint and witness_token")
    if node.witness_fingerprint:
        try:
            parse_pin(node.witness_fingerprint)
        except ValueError:
            raise ConfigError(
                f"{src}: node.witness_fingerprint must be the pin 'strongroom witness' prints "
                "(spki:sha256: and 64 hex digits)"
            ) from None
    sec = config.security
    if sec.session_idle_minutes < 1 or sec.session_max_hours < 1:
        raise ConfigError(f"{src}: session lifetimes must be positive")
    if sec.argon2_memory_kib < 19456 or sec.argon2_iterations < 2 or sec.argon2_lanes < 1:
        raise ConfigError(
            f"{src}: Argon2id parameters must be at least the OWASP minimum "
            "(argon2_memory_kib >= 19456, argon2_iterations >= 2, argon2_lanes >= 1)"
        )
    if not 1 <= sec.api_key_days <= 365:
        raise ConfigError(f"{src}: security.api_key_days must be between 1 and 365")
    if not 0 < sec.denials_window_seconds <= 3600 or sec.denials_max_keys < 1:
        raise ConfigError(
            f"{src}: security.denials_window_seconds must be in (0, 3600] and "
            "security.denials_max_keys at least 1"
        )
    if config.server.import_max_rows < 1:
        raise ConfigError(f"{src}: server.import_max_rows must be at least 1")
    if not 1 <= sec.access_request_days <= 90:
        raise ConfigError(f"{src}: security.access_request_days must be between 1 and 90")
    if not 1 <= sec.org_recovery_days <= 365:
        raise ConfigError(f"{src}: security.org_recovery_days must be between 1 and 365")
    if sec.session_idle_minutes > sec.session_max_hours * 60:
        raise ConfigError(
            f"{src}: security.session_idle_minutes cannot exceed security.session_max_hours"
        )
    _validate_backup(config)
    _validate_replication(config)
    _validate_gateway(config)


def _validate_replication(config: Config) -> None:
    src, rep = config.source, config.replication
    if rep.async_after <= 0 or rep.commit_timeout <= 0:
        raise ConfigError(f"{src}: replication.async_after and commit_timeout must be positive")
    for key in ("max_slot_wal_keep_size", "wal_keep_size"):
        value = getattr(rep, key)
        if value and not _PG_SIZE.match(value):
            raise ConfigError(
                f'{src}: replication.{key} must be a size such as "512MB" or "8GB" (got {value!r})'
            )
    if not 0 < rep.wal_retained_warning <= 1:
        raise ConfigError(f"{src}: replication.wal_retained_warning must be in (0, 1]")
    if not rep.synchronous_required and rep.commit_timeout <= rep.async_after:
        raise ConfigError(
            f"{src}: replication.commit_timeout must exceed replication.async_after "
            "(a commit waiting for a gone standby is released when replication turns "
            "asynchronous, before it times out)"
        )


def _validate_backup(config: Config) -> None:
    src, bk = config.source, config.backup
    if bk.schedule and parse_schedule(bk.schedule) is None:
        raise ConfigError(
            f'{src}: backup.schedule must be "HH:MM" or "every N s|m|h" (got {bk.schedule!r})'
        )
    if bk.schedule and not bk.recipient:
        raise ConfigError(
            f"{src}: backup.schedule needs backup.recipient (make one: strongroom backup keygen)"
        )
    if bk.keep < 1 or bk.max_age_hours <= 0:
        raise ConfigError(f"{src}: backup.keep must be >= 1 and backup.max_age_hours positive")


def _validate_gateway(config: Config) -> None:
    src, gw = config.source, config.gateway
    if not 1 <= gw.port <= 65535:
        raise ConfigError(f"{src}: gateway.port must be between 1 and 65535 (got {gw.port})")
    if gw.enabled and gw.port == config.server.port:
        raise ConfigError(f"{src}: gateway.port must differ from server.port")
    if gw.login_grace_seconds <= 0 or gw.session_check_seconds <= 0:
        raise ConfigError(
            f"{src}: gateway.login_grace_seconds and session_check_seconds must be positive"
        )
    for key in ("max_auth_attempts", "max_unauthenticated_per_address", "max_sessions_per_user"):
        if getattr(gw, key) < 1:
            raise ConfigError(f"{src}: gateway.{key} must be at least 1")
    for key in ("connect_idle_seconds", "connect_max_seconds", "connect_timeout_seconds"):
        if getattr(gw, key) <= 0:
            raise ConfigError(f"{src}: gateway.{key} must be positive")


def render_config(config: Config) -> str:
    """Write a configuration back as TOML (used by init)."""
    lines = [
        "# Strongroom node configuration. Environment variables STRONGROOM_<SECTION>_<KEY>",
        "# override any value here (e.g. STRONGROOM_SERVER_PORT=8443).",
    ]
    for section in _SECTIONS:
        lines.append("")
        lines.append(f"[{section}]")
        for f in fields(getattr(config, section)):
            lines.append(f"{f.name} = {_toml_value(getattr(getattr(config, section), f.name))}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
