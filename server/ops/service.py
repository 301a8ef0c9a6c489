"""Running the server process: foreground serve, detached start, stop, status."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiohttp import web

from replication import monitor
from replication.cluster import REPLICATION_ROLE, Cluster, port_is_free
from replication.promote import how_far_behind, promote_database
from replication.rejoin import (
    PeerUnreachable,
    finish_interrupted_swap,
    peer_source,
    rejoin_cluster,
)
from server.core import hostos
from server.core.config import Config
from server.core.files import private_log
from server.node.mode import HaState, ha_state_path
from server.ops import collector, gateway_cli
from server.security import crypto
from server.security.tls import private_key_problem, renew_if_due, server_context
from server.services import master_key
from server.store import db
from server.web.app import create_app
from server.web.keys import ENV
from server.web.rejoin_wait import wait_and_rejoin

log = logging.getLogger("strongroom")
RENEW_CHECK_SECONDS = 24 * 3600  # how often a running server looks at its certificate's expiry
SHUTDOWN_GRACE = 10.0  # seconds a stop waits for requests in flight before the spool ships


class ServiceError(Exception):
    """The server could not be started, stopped or asked for its state."""


def embedded_cluster(config: Config) -> Cluster | None:
    """The embedded PostgreSQL cluster, or None when the database is external."""
    if not config.database.embedded:
        return None
    db = config.database
    return Cluster(config.path(db.data_dir), db.port, listen=db.listen)


def preflight(config: Config, renew: bool = False) -> ssl.SSLContext:
    """Check what serve needs before anything starts; return the TLS context. With
    ``renew`` (the serving process), a certificate about to expire is re-issued first
    (``renew_certificate``)."""
    if not port_is_free(config.server.port):
        raise ServiceError(f"port {config.server.port} is already in use")
    crypto.load_master_key(config.path(config.security.master_key))
    cert, key = config.path(config.server.tls_cert), config.path(config.server.tls_key)
    problem = private_key_problem(key)
    if problem:
        raise ServiceError(problem)
    if renew:
        renew_certificate(config)
    try:
        return server_context(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ServiceError(f"cannot load the TLS certificate {cert} / key {key}: {exc}") from None


def renew_certificate(config: Config) -> bool:
    """Re-issue this node's certificate when it expires within ``RENEW_BEFORE_DAYS`` (or
    has expired): same key pair and names, ``LIFETIME_DAYS`` more (server.security.tls.
    renew_if_due); log one line. True when renewed.

    Every pin (the TUI's known_hosts, the other node's, an enrollment token) is of the
    public key, so it still holds; clients that trust the file read the new one. Each node
    of a pair renews its own copy: both keep the same key (issue 26, item 11).

    Raises:
        ServiceError: the certificate or key cannot be read, do not belong together, or
            the new certificate cannot be written.
    """
    cert, key = config.path(config.server.tls_cert), config.path(config.server.tls_key)
    try:
        renewed = renew_if_due(cert, key)
    except (OSError, ValueError) as exc:
        raise ServiceError(f"cannot renew the TLS certificate {cert}: {exc}") from None
    if renewed is None:
        return False
    log.info("TLS certificate %s renewed with the same key, valid until %s", cert, renewed)
    return True


async def _keep_certificate_fresh(config: Config, ssl_ctx: ssl.SSLContext) -> None:
    """While serving, check the certificate once a day; renew it (``renew_certificate``)
    and load it into the listening context, so new connections get it."""
    cert, key = config.path(config.server.tls_cert), config.path(config.server.tls_key)
    while True:
        await asyncio.sleep(RENEW_CHECK_SECONDS)
        try:
            if await asyncio.to_thread(renew_certificate, config):
                ssl_ctx.load_cert_chain(str(cert), str(key))
        except (ServiceError, OSError, ssl.SSLError) as exc:
            log.warning("TLS certificate: %s", exc)


def configure_logging(config: Config, to_stderr: bool = True) -> None:
    """Log to logs/strongroom.log (and stderr in the foreground)."""
    handlers: list[logging.Handler] = []
    logs = config.home / "logs"
    if logs.is_dir():
        log_file = private_log(logs / "strongroom.log")
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    if to_stderr:
        handlers.append(logging.StreamHandler())
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    # aiohttp's access log would record URLs and addresses; our audit trail covers actions.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # asyncpg's pool logs each failed reconnection with a traceback: while an external
    # cluster has no writable host (a switchover) that is one line each (issue 33).
    logging.getLogger("asyncpg.pool").addFilter(_one_line)


def _one_line(record: logging.LogRecord) -> bool:
    """A log filter that folds a record's exception into its message, without traceback."""
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}"
        record.args = ()
        record.exc_info = None
    return True


def serve_foreground(config: Config, stop_event: threading.Event | None = None) -> None:
    """Start the embedded cluster if needed and serve HTTPS until SIGTERM or Ctrl-C, the
    stop file (``stop_file``: how ``strongroom stop`` asks on Windows) or ``stop_event``
    (set by the Windows service when the Service Control Manager says stop).

    A former primary never starts its database read-write before it has checked that
    no other node took over (witness and peer); if one did, it rejoins as the standby
    (``node.auto_rejoin``) or refuses to start.
    """
    ssl_ctx = preflight(config, renew=True)
    cluster = embedded_cluster(config)
    if cluster is not None:
        finish_interrupted_swap(cluster)  # a crash between a rejoin's two renames
        if not cluster.is_standby() and not cluster.is_running():
            replaced = asyncio.run(monitor.replaced_by(config))
            if replaced and not config.node.auto_rejoin:
                raise ServiceError(
                    f"this node was replaced as primary ({replaced[0]}); "
                    "run 'strongroom rejoin' to make it the new secondary"
                )
            if replaced:
                reason, term = replaced
                log.warning("this node was replaced as primary (%s): rejoining", reason)
                _raise_term(config, term)
                # Waits (serving health, data untouched) while the new primary is away.
                _write_pid(config.pid_file)  # strongroom stop and status work meanwhile
                if not asyncio.run(wait_and_rejoin(config, cluster, ssl_ctx, reason)):
                    config.pid_file.unlink(missing_ok=True)
                    return
        cluster.start()
    asyncio.run(_serve(config, ssl_ctx, stop_event))


def stop_file(config: Config) -> Path:
    """The file whose appearance asks a running server to shut down cleanly (Windows has
    no SIGTERM for another process; POSIX servers watch it too)."""
    return config.pid_file.with_name("strongroom.stop")


async def _watch_stop(config: Config, stop: asyncio.Event, event: threading.Event | None):
    """Set ``stop`` when the stop file appears or ``event`` is set."""
    request = stop_file(config)
    while not stop.is_set():
        if request.exists() or (event is not None and event.is_set()):
            request.unlink(missing_ok=True)
            stop.set()
            return
        await asyncio.sleep(0.5)


def _raise_term(config: Config, term: int) -> None:
    state = HaState.load(ha_state_path(config))
    if term > state.term:
        state.term = term
        state.save(ha_state_path(config))


def rejoin(config: Config) -> str:
    """Make this (stopped) node the standby of its peer: pg_rewind, else a base backup.

    The data directory is replaced only by a complete copy (replication/rejoin.py).

    Raises:
        ServiceError: no embedded cluster or no peer, or the peer does not answer
            (nothing was changed then).
    """
    cluster = embedded_cluster(config)
    if cluster is None:
        raise ServiceError("rejoin manages the embedded PostgreSQL only")
    state = HaState.load(ha_state_path(config))
    if not state.peer.name:
        raise ServiceError("this node has no peer to rejoin (it was never paired)")
    try:
        return rejoin_cluster(cluster, peer_source(state), config.node.name, state.term)
    except PeerUnreachable as exc:
        raise ServiceError(f"{exc}; nothing was changed, try again when it answers") from None


def pair_status(config: Config) -> list[str]:
    """Lines about the peer node, the witness and replication, for ``strongroom status``."""
    return asyncio.run(_pair_status(config))


async def _pair_status(config: Config) -> list[str]:
    from server.node.peer import ask_once, peer_client, witness_client

    if not config.database.embedded:
        return await external_status(config)
    state = HaState.load(ha_state_path(config))
    lines = []
    if state.peer.name:
        where = f"{state.peer.name} at {state.peer.url}"
        status, peer = await ask_once(peer_client(config, state.peer.url, 2.0), "/api/v1/health")
        ro = " (read-only)" if peer.get("read_only") else ""
        lines.append(
            f"peer:       {where}: {peer.get('role')}{ro}, term {peer.get('term')}"
            if status
            else f"peer:       {where}: not answering"
        )
    else:
        lines.append("peer:       none (single node)")
    url = config.node.witness_url
    if url:
        status, lease = await ask_once(witness_client(config, 2.0), "/lease")
        lines.append(
            f"witness:    {url}: lease held by {lease.get('holder')}, term {lease.get('term')}"
            if status == 200
            else f"witness:    {url}: not reachable"
        )
    else:
        lines.append("witness:    none (failover is manual: strongroom promote)")
    if state.peer.name:
        lines.append(await _replication_line(config))
    return lines


async def external_status(config: Config) -> list[str]:
    """``strongroom status`` lines for a node on an external cluster (issue 33, item 7): its
    failover is the cluster's own (Patroni, a managed service), Strongroom's pair and
    witness are not used, and which host takes writes now (asked as the app role through
    the configured DSN)."""
    import asyncpg

    lines = [
        "failover:   the external cluster's own (e.g. Patroni); this node follows the host "
        "that takes writes (no Strongroom pair or witness)"
    ]
    try:
        conn = await asyncpg.connect(**{**config.app_dsn(), "timeout": 3.0})
    except asyncpg.TargetServerAttributeNotMatched:
        return [
            *lines,
            "writable:   no host takes writes right now (a switchover?): writes, logins and "
            "reveals answer 503 no_writable_database until one does",
        ]
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return [*lines, f"writable:   unknown (the database does not answer: {exc})"]
    try:
        host, port = conn._addr if isinstance(conn._addr, tuple) else (conn._addr, "")
        standbys = await conn.fetchval("SELECT count(*) FROM pg_stat_replication")
    except (OSError, asyncpg.PostgresError) as exc:
        return [*lines, f"writable:   unknown ({exc})"]
    finally:
        await conn.close()
    return [*lines, f"writable:   {host}:{port} ({standbys} standby(s) streaming from it)"]


async def _replication_line(config: Config) -> str:
    """Sync state and lag, read from the local PostgreSQL as its superuser."""
    import asyncpg

    from server.services.cluster import RECEIVER_SQL, STANDBYS_SQL

    try:
        conn = await asyncpg.connect(**{**config.superuser_dsn(), "timeout": 2.0})
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"replication: unknown (local database: {exc})"
    try:
        if await conn.fetchval("SELECT pg_is_in_recovery()"):
            row = await conn.fetchrow(RECEIVER_SQL)
            return (
                f"replication: standby, receiver {row['status'] or 'not connected'}, "
                f"replay lag {row['lag_bytes'] or 0} bytes"
            )
        rows = await conn.fetch(STANDBYS_SQL)
    finally:
        await conn.close()
    if not rows:
        return "replication: no standby connected"
    return "; ".join(
        f"replication: {r['application_name']} {r['state']} ({r['sync_state']}), "
        f"lag {r['lag_bytes'] or 0} bytes / {r['lag_seconds'] or 0:.2f} s"
        for r in rows
    )


def remove_node(config: Config, name: str, url: str = "") -> tuple[int, dict]:
    """Ask a primary's server (this node's own unless ``url``) to remove the secondary
    ``name`` (replication/membership.py), with the pair's cluster secret. (0, {}) when it
    does not answer."""
    from server.node.peer import peer_client

    state = HaState.load(ha_state_path(config))
    if not state.cluster_secret:
        raise ServiceError("this node was never paired: there is no secondary to remove")
    base = url or f"https://127.0.0.1:{config.server.port}"
    client = peer_client(config, base, 30.0, state.cluster_secret)

    async def run() -> tuple[int, dict]:
        try:
            return await client.call("POST", "/api/v1/cluster/remove-node", {"name": name})
        finally:
            await client.close()

    return asyncio.run(run())


def _primary_dsn(state: HaState) -> dict | None:
    """The old primary's database, reached as the replication role (None: no peer)."""
    if not state.peer.db_host:
        return None
    return {
        "host": state.peer.db_host,
        "port": state.peer.db_port,
        "user": REPLICATION_ROLE,
        "password": state.replication_password,
        "database": "postgres",
    }


def promote(config: Config, force: bool = False) -> int:
    """Promote this secondary by hand (a pair without a witness); answer the new term."""
    import asyncpg

    state = HaState.load(ha_state_path(config))
    if not force:
        reason = asyncio.run(monitor.peer_primary_answers(config, state))
        if reason:
            raise ServiceError(
                f"{reason}: promoting now would make two primaries "
                "(stop it first, or use --force if it is really gone)"
            )

    async def run() -> int:
        conn = await asyncpg.connect(**config.superuser_dsn())
        try:
            if not await conn.fetchval("SELECT pg_is_in_recovery()"):
                raise ServiceError("this node is already a primary")
            if not force:
                behind = await how_far_behind(
                    conn, _primary_dsn(state), config.replication.async_after
                )
                if behind:
                    raise ServiceError(
                        f"{behind}. Promoting it may lose writes the primary acknowledged; "
                        "use --force to promote anyway"
                    )
            state.term += 1  # durable before the database is writable
            state.save(ha_state_path(config))
            await promote_database(conn, state.peer.name)
        finally:
            await conn.close()
        return state.term

    return asyncio.run(run())


async def _serve(
    config: Config, ssl_ctx: ssl.SSLContext, stop_event: threading.Event | None = None
) -> None:
    cluster = embedded_cluster(config)
    standby = cluster.is_standby() if cluster is not None else config.node.role != "primary"
    if cluster is None and not config.database.embedded:
        _write_pid(config.pid_file)  # strongroom stop and status work while it waits
        await wait_for_writable_host(config)
    if not standby and config.database.owner_password:
        from server.store.migrations import migrate_database

        applied = await migrate_database(config)
        if applied:
            log.info("applied schema migrations %s", ", ".join(f"{v:03d}" for v in applied))
    note = None
    if not standby:
        pool = await db.create_pool(config)
        try:
            note = await master_key.finish_rotation(config, pool)
        finally:
            await pool.close()
    if note:
        log.warning("master key: %s", note)
    app = create_app(config)
    # A stop waits at most SHUTDOWN_GRACE for requests in flight, so that the audit spool
    # is shipped (replication/monitor.py ship_before_stop) well before `strongroom stop`
    # gives up waiting and kills the process (issue 33, item 5).
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE
    )
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port, ssl_context=ssl_ctx)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServiceError(f"cannot listen on port {config.server.port}: {exc.strerror}") from None
    gateway = await _start_gateway(config, app) if config.gateway.enabled else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows event loops have no signal handlers (Ctrl-C still ends asyncio.run), and a
        # service runs this in a worker thread: the stop file and stop_event serve there.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    stop_file(config).unlink(missing_ok=True)
    watching = asyncio.create_task(_watch_stop(config, stop, stop_event))
    _write_pid(config.pid_file)
    log.info(
        "Strongroom %s node listening on https://%s:%d",
        "secondary" if standby else "primary",
        config.server.host,
        config.server.port,
    )
    renewing = asyncio.create_task(_keep_certificate_fresh(config, ssl_ctx))
    collector.settle()  # the start-up objects out of the full collections (issue 28)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        renewing.cancel()
        watching.cancel()
        if gateway is not None:
            await gateway_cli.stop(gateway)
        await runner.cleanup()
        with contextlib.suppress(FileNotFoundError):
            config.pid_file.unlink()


async def _start_gateway(config: Config, app: web.Application) -> Any:
    """The SSH gateway (issue 30) over the web app's own environment, so both share the
    login throttle and a secondary's in-memory sessions. A port that cannot be bound is
    logged and the HTTPS server goes on without it (the vault stays reachable)."""
    try:
        return await gateway_cli.start(app[ENV], config)
    except OSError as exc:
        log.error(
            "the SSH gateway cannot listen on port %d: %s (another program has it; or set "
            "[gateway] enabled = false); serving HTTPS without it",
            config.gateway.port,
            exc.strerror,
        )
        return None


WRITABLE_RETRY = 2.0  # seconds between looks for an external cluster's writable host


async def wait_for_writable_host(config: Config) -> None:
    """An external cluster with no host that takes writes right now (a planned switchover,
    issue 33 item 7): wait for one, saying so once, instead of exiting; any other
    connection error is raised as before."""
    import asyncpg

    said = False
    while True:
        try:
            conn = await asyncpg.connect(**config.app_dsn())
        except asyncpg.TargetServerAttributeNotMatched:
            if not said:
                log.warning(
                    "no host of the external database takes writes yet (a switchover?): "
                    "waiting for one"
                )
                said = True
            await asyncio.sleep(WRITABLE_RETRY)
            continue
        await conn.close()
        if said:
            log.info("a host of the external database takes writes again: starting")
        return


def start_detached(
    config: Config, config_path: Path, timeout: float = 60, python: Path | None = None
) -> int:
    """Start ``strongroom serve`` in the background (with ``python``, by default this
    interpreter) and wait until health answers."""
    running = server_pid(config)
    if running:
        raise ServiceError(f"the server is already running (pid {running})")
    preflight(config)
    log_path = private_log(config.home / "logs" / "server.out")
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [
                str(python or sys.executable),
                "-m",
                "server.ops.cli",
                "serve",
                "--config",
                str(config_path),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **hostos.detached_process_options(),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"the server exited at start: {_last_line(log_path)}")
        if health(config) is not None:
            return proc.pid
        time.sleep(0.2)
    proc.terminate()
    raise ServiceError(f"the server did not answer within {timeout:.0f} s (see {log_path})")


def stop(config: Config, timeout: float = 30) -> list[str]:
    """Stop the server (if running) and the embedded cluster; return what was stopped."""
    stopped = []
    pid = server_pid(config)
    if pid:
        if hostos.IS_WINDOWS:
            stop_file(config).write_text("stop\n")  # the server shuts down cleanly
        else:
            hostos.terminate(pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            hostos.terminate(pid, hard=True)
        stop_file(config).unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            config.pid_file.unlink()
        stopped.append(f"server (pid {pid})")
    cluster = embedded_cluster(config)
    if cluster is not None and cluster.is_running():
        cluster.stop()
        stopped.append("embedded PostgreSQL")
    return stopped


def server_pid(config: Config) -> int | None:
    """The running server's pid from the pid file, or None (a stale file is removed)."""
    try:
        pid = int(config.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _alive(pid):
        return pid
    config.pid_file.unlink(missing_ok=True)
    return None


def health(config: Config) -> dict | None:
    """Ask the local server's health endpoint; None if it does not answer."""
    ctx = ssl.create_default_context(cafile=str(config.path(config.server.tls_cert)))
    ctx.check_hostname = False  # the address may be 127.0.0.1; the certificate is pinned
    url = f"https://127.0.0.1:{config.server.port}/api/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


def _write_pid(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


def _alive(pid: int) -> bool:
    return hostos.pid_alive(pid)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"
