"""Enrolling a secondary: the one-time token, the primary's answer, the secondary's setup.

``strongroom cluster enroll-token`` (on the primary) makes a token
``sre1.<SHA-256 of the certificate's public key>.<secret>``: valid once, for a short
time; only the secret's hash is kept (``conf/enrollment.json``). ``strongroom init
--secondary`` sends the secret to the primary over TLS pinned to that key (an older
token's whole-certificate SHA-256 is accepted too) and gets back what a second node of
the same installation needs: the master key, the TLS identity (both nodes present the
same key pair, so a client pins one; each renews its certificate with it), the database role
passwords, the replication role and a slot made for it. Then it takes a base backup
and leaves a hot standby ready for ``strongroom serve``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg

from replication import roles
from replication.cluster import (
    REPLICATION_ROLE,
    Cluster,
    ClusterError,
    Source,
    check_traversable,
    port_is_free,
)
from replication.roles import slot_name
from server.core import hostos
from server.core.config import LAYOUT, Config, render_config
from server.core.errors import Forbidden, coded
from server.core.files import undo_install_dir, write_durably
from server.core.pins import SPKI_PREFIX
from server.node.mode import HaState, Peer, ha_state_path
from server.node.peer import PinnedClient
from server.security import crypto
from server.security.ssh_keys import ensure_host_key
from server.security.tls import spki_pin
from server.services.context import Env

TOKEN_PREFIX = "sre1"  # noqa: S105 - a format tag, not a secret
TOKEN_MINUTES = 30


class EnrollError(ClusterError):
    """The secondary could not be enrolled; nothing was left behind."""


def _token_file(config: Config) -> Path:
    return config.home / "conf" / "enrollment.json"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _load_tokens(path: Path) -> dict[str, float]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def make_token(config: Config, minutes: int = TOKEN_MINUTES) -> str:
    """A new one-time enrollment token for this primary."""
    secret = secrets.token_urlsafe(32)
    path = _token_file(config)
    now = time.time()
    tokens = {h: t for h, t in _load_tokens(path).items() if t > now}
    tokens[_hash(secret)] = now + minutes * 60
    write_durably(path, json.dumps(tokens) + "\n")
    # The SPKI's SHA-256 as bare hex (the token's form): server.core.pins accepts it.
    fp = spki_pin(config.path(config.server.tls_cert)).removeprefix(SPKI_PREFIX)
    return f"{TOKEN_PREFIX}.{fp}.{secret}"


def parse_token(token: str) -> tuple[str, str]:
    """(fingerprint, secret) of a token, or EnrollError."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) != 64:
        raise EnrollError(
            "the enrollment token is malformed (make one with 'strongroom cluster "
            "enroll-token' on the primary)"
        )
    try:
        bytes.fromhex(parts[1])
    except ValueError:
        raise EnrollError("the enrollment token is malformed") from None
    return parts[1], parts[2]


def _consume(config: Config, secret: str) -> bool:
    path = _token_file(config)
    tokens = _load_tokens(path)
    expires = tokens.pop(_hash(secret), None)
    if expires is None:
        return False
    write_durably(path, json.dumps(tokens) + "\n")  # used up, even if it had expired
    return expires > time.time()


async def enroll(
    env: Env, *, secret: str, name: str, url: str, db_host: str, db_port: int
) -> dict[str, Any]:
    """The primary's side: check and spend the token, prepare replication, hand over.

    Args:
        env: this primary's environment (config, node state).
        secret: the secret part of the one-time enrollment token.
        name: the secondary's node name (not this primary's).
        url: the secondary's API address; db_host, db_port: its database's address.
        (The web layer has checked their form: server.web.models.cluster.EnrollBody.)

    Returns:
        What the secondary needs (master key, TLS identity, database and replication
        credentials, node and security settings), sent only over the pinned TLS channel.

    Raises:
        Forbidden: ``invalid_enrollment_token`` (unknown, used or expired) or
            ``name_taken`` (the secondary would share the primary's name).
    """
    config = env.config
    if not await asyncio.to_thread(_consume, config, secret):
        raise coded(
            Forbidden,
            "invalid_enrollment_token",
            "the enrollment token is not valid "
            "(unknown, already used or expired); make a new one on the primary",
        )
    if name == env.node_state.name:
        raise coded(Forbidden, "name_taken", f"the primary is already called {name!r}")
    state = env.node_state.state
    state.cluster_secret = state.cluster_secret or secrets.token_urlsafe(32)
    state.replication_password = state.replication_password or secrets.token_urlsafe(24)
    conn = await asyncpg.connect(**config.superuser_dsn())
    try:
        await roles.ensure_replication_role(conn, REPLICATION_ROLE, state.replication_password)
        await roles.ensure_slot(conn, slot_name(name))
    finally:
        await conn.close()
    state.peer = Peer(name, url, db_host, db_port)
    state.save(env.node_state.state_path)
    db = config.database
    sec = config.security
    return {
        "primary": {"name": env.node_state.name, "url": env.node_state.own_url},
        "term": env.node_state.term,
        "master_key": base64.b64encode(config.path(sec.master_key).read_bytes()).decode(),
        "tls_cert": config.path(config.server.tls_cert).read_text(),
        "tls_key": config.path(config.server.tls_key).read_text(),
        # The SSH gateway's host key (issue 30): both nodes present the same one, as they
        # do the TLS identity, so ``ssh`` to the pair's name never sees a changed key.
        "gateway_host_key": _gateway_host_key(config),
        "cluster_secret": state.cluster_secret,
        "replication": {
            "user": REPLICATION_ROLE,
            "password": state.replication_password,
            "slot": slot_name(name),
            "port": db.port,
        },
        "database": {
            "name": db.name,
            "app_user": db.app_user,
            "app_password": db.app_password,
            "owner_user": db.owner_user,
            "owner_password": db.owner_password,
            "superuser": db.superuser,
            "superuser_password": db.superuser_password,
        },
        "node": {
            key: getattr(config.node, key)
            for key in (
                "witness_url",
                "witness_fingerprint",
                "witness_token",
                "auto_rejoin",
                "fence_after",
                "failover_timeout",
                "monitor_interval",
            )
        },
        "security": {
            "session_idle_minutes": sec.session_idle_minutes,
            "session_max_hours": sec.session_max_hours,
            "argon2_memory_kib": sec.argon2_memory_kib,
            "argon2_iterations": sec.argon2_iterations,
            "argon2_lanes": sec.argon2_lanes,
            "access_request_days": sec.access_request_days,
        },
        # How a primary treats an absent standby (issue 33): the same once promoted.
        "replication_settings": dataclasses.asdict(config.replication),
    }


def _no_progress(message: str) -> None:
    return None


def init_secondary(
    home: Path,
    *,
    token: str,
    primary_url: str,
    name: str = "node2",
    port: int = 7272,
    db_port: int = 7432,
    primary_db: str = "",
    advertise_url: str = "",
    advertise_db: str = "",
    db_listen: str = "",
    auto_rejoin: bool | None = None,
    progress: Callable[[str], None] = _no_progress,
    listen: str = "",
) -> Path:
    """Make a hot-standby node in ``home`` enrolled with the primary; answer its config path.
    ``listen``: the address its HTTPS server and SSH gateway listen on ("" all)."""
    fp, secret = parse_token(token)
    home = Path(home).absolute()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise EnrollError(f"{home} is not empty; choose a new directory")
    if not port_is_free(db_port):
        raise EnrollError(f"port {db_port} for the embedded PostgreSQL is already in use")
    own_url = advertise_url or f"https://{_host_of(primary_url, 'localhost')}:{port}"
    own_db_host, own_db_port = _split_addr(advertise_db, "127.0.0.1", db_port)
    created = not home.exists()
    try:
        home.mkdir(parents=True, exist_ok=True)
        for folder in LAYOUT:
            (home / folder).mkdir(exist_ok=True)
        (home / "conf").chmod(0o700)
        home.chmod(0o755)
        progress(f"asking {primary_url} to enroll this node as '{name}'")
        answer = asyncio.run(
            _ask_primary(
                primary_url,
                fp,
                {
                    "secret": secret,
                    "name": name,
                    "url": own_url,
                    "db_host": own_db_host,
                    "db_port": own_db_port,
                },
            )
        )
        config = _secondary_config(home, answer, name, port, db_port, own_url)
        if db_listen:
            config.database.listen = db_listen
        if listen:
            config.server.host = config.gateway.host = listen
        if auto_rejoin is not None:
            config.node.auto_rejoin = auto_rejoin
        progress("writing the master key, TLS identity and configuration")
        crypto.write_key_file(
            config.path(config.security.master_key), base64.b64decode(answer["master_key"])
        )
        config.path(config.server.tls_cert).write_text(answer["tls_cert"])
        write_durably(config.path(config.server.tls_key), answer["tls_key"])
        hostos.make_private(config.path(config.server.tls_key))  # owner and SYSTEM on Windows
        if answer.get("gateway_host_key"):  # a primary from before issue 30 sends none
            write_durably(config.path(config.gateway.host_key), answer["gateway_host_key"])
            hostos.make_private(config.path(config.gateway.host_key))
        rep = answer["replication"]
        host, pport = _split_addr(primary_db, _host_of(primary_url, "127.0.0.1"), rep["port"])
        primary = answer["primary"]
        state = HaState(
            term=answer["term"],
            peer=Peer(primary["name"], primary_url, host, pport),
            cluster_secret=answer["cluster_secret"],
            replication_password=rep["password"],
        )
        state.save(ha_state_path(config))
        source = Source(host, pport, rep["user"], rep["password"])
        cluster = Cluster(
            config.path(config.database.data_dir), db_port, listen=config.database.listen
        )
        check_traversable(home, cluster.account)
        progress(f"taking a base backup from {host}:{pport} (slot {rep['slot']})")
        cluster.base_backup(source, rep["slot"])
        cluster.make_standby(source, rep["slot"], name)
        config_path = home / "conf" / "strongroom.toml"
        write_durably(config_path, render_config(config))
        progress("checking the standby starts and streams")
        cluster.start()
        cluster.stop()
        return config_path
    except BaseException as exc:
        undo_install_dir(home, created)
        if isinstance(exc, ClusterError | OSError):
            raise EnrollError(str(exc)) from exc
        raise


async def _ask_primary(url: str, fp: str, body: dict) -> dict:
    client = PinnedClient(url, fp, timeout=30.0)
    try:
        status, answer = await client.call("POST", "/api/v1/cluster/enroll", body)
    finally:
        await client.close()
    if status == 0:
        raise EnrollError(
            f"cannot reach the primary at {url} with the certificate the token names "
            "(wrong address, or not the primary that made the token)"
        )
    if status != 200:
        raise EnrollError(
            f"the primary refused enrollment: {answer.get('detail') or answer.get('code')}"
        )
    return answer


def _secondary_config(
    home: Path, answer: dict, name: str, port: int, db_port: int, own_url: str
) -> Config:
    config = Config(home=home, source=str(home / "conf" / "strongroom.toml"))
    config.server.port = port
    config.server.public_url = own_url
    config.node.role = "secondary"
    config.node.name = name
    db = config.database
    db.port = db_port
    for key, value in answer["database"].items():
        setattr(db, key, value)
    for key, value in answer["security"].items():
        setattr(config.security, key, value)
    for key, value in answer["node"].items():
        setattr(config.node, key, value)
    for key, value in answer.get("replication_settings", {}).items():  # absent: older primary
        if hasattr(config.replication, key):
            setattr(config.replication, key, value)
    return config


def _host_of(url: str, default: str) -> str:
    return urllib.parse.urlsplit(url).hostname or default


def _split_addr(addr: str, host: str, port: int) -> tuple[str, int]:
    if not addr:
        return host, port
    h, _, p = addr.rpartition(":")
    try:
        return (h or host), int(p)
    except ValueError:
        raise EnrollError(f"{addr!r} is not HOST:PORT") from None


def _gateway_host_key(config: Config) -> str:
    """The primary's SSH gateway host key in OpenSSH form (made now if it has none)."""
    path = config.path(config.gateway.host_key)
    ensure_host_key(path)
    return path.read_text()
