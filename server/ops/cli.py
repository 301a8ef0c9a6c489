"""The ``strongroom`` command line: init, serve, stop, status (more as features land).

Every failure is one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from replication.cluster import ClusterError
from server.core import siem_stream
from server.core.config import Config, ConfigError, dsn_hosts, load_config
from server.core.files import write_durably
from server.core.registration import read_registration, registration_lines
from server.core.typeahead import hold_keys
from server.ops import backup_cli, gateway_cli, service
from server.ops.command_line import command, self_command
from server.ops.install import ExternalDatabase, InstallError, PairOptions, init_install
from server.ops.silent_install import AnswerFileError, SetupFailed
from server.services import first_run
from server.store.db import UnsafeAppRole
from server.store.migrations import MigrationError

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3  # as LSB init scripts and systemctl status do
EXIT_USAGE = 2  # cannot run here (as argparse for a bad command line): no terminal, ...

DEFAULT_HOME = "var"


class CommandError(Exception):
    """A command failed in a way the user can act on."""


def _config_path(args: argparse.Namespace) -> Path:
    if getattr(args, "config", None):
        return Path(args.config)
    if os.environ.get("STRONGROOM_CONFIG"):
        return Path(os.environ["STRONGROOM_CONFIG"])
    if os.environ.get("STRONGROOM_HOME"):
        return Path(os.environ["STRONGROOM_HOME"]) / "conf" / "strongroom.toml"
    here = Path("conf") / "strongroom.toml"  # run inside a node's directory
    if here.is_file():
        return here
    return Path(DEFAULT_HOME) / "conf" / "strongroom.toml"


def _load(args: argparse.Namespace) -> Config:
    return load_config(_config_path(args))


def _admin_password(args: argparse.Namespace) -> str | None:
    if args.admin_password_file:
        try:
            text = Path(args.admin_password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read {args.admin_password_file}: {exc.strerror}") from None
        return text.rstrip("\r\n")
    return os.environ.get("STRONGROOM_ADMIN_PASSWORD") or None


def cmd_init(args: argparse.Namespace) -> int:
    """Make a new primary node in DIR (or, with --secondary, enroll a standby)."""
    if args.secondary:
        return _init_secondary(args)
    result = init_install(
        Path(args.dir),
        port=args.port,
        db_port=args.db_port,
        admin_username=args.admin_username,
        admin_password=_admin_password(args),
        progress=lambda msg: print(f"  … {msg}", flush=True),
        pair=_pair_options(args),
        external=_external_database(args),
        msp_totp_policy=args.msp_totp_policy,
        listen=args.listen,
        gateway_port=args.gateway_port,
    )
    print(f"Strongroom primary created in {Path(args.dir).absolute()}")
    _field("configuration", str(result.config_path), whole=True)
    _field("certificate pin", result.fingerprint, whole=True)
    _field("", "(the SHA-256 of the server's public key)")
    _field("administrator", f"{result.admin_username} (org MSPOrg)")
    if result.generated_password:
        kept = Path(args.dir).absolute() / first_run.INITIAL_PASSWORD_FILE
        write_durably(kept, result.generated_password + "\n")
        _field("initial password", result.generated_password)
        _field("", f"(kept in {kept}, mode 0600, until it is changed at first login)")
    _field("listening on", f"{_listen_words(result.listen)}, port {args.port} (--listen)")
    _field("SSH gateway", _gateway_words(result.listen, args.gateway_port))
    _field("start it with", command("serve", "--config", result.config_path), whole=True)
    return 0


def _field(label: str, value: str, whole: bool = False, width: int = 80) -> None:
    """Print ``  label:  value`` in columns within ``width`` (a terminal's 80 columns).

    A value too long for its line goes on at the value's column, broken between words
    (a word is never cut). ``whole``: a value never broken (a path, a command to copy,
    the pin): when it does not fit beside the label it stands on the next line, indented
    4, as long as it is.
    """
    head = f"  {label + ':' if label else '':<20} "
    if whole or " " not in value:
        if len(head) + len(value) <= width:
            print(head + value)
        else:
            print((head.rstrip() + "\n" if label else "") + "    " + value)
        return
    lines, line = [], head
    for word in value.split(" "):
        if line != head and len(line) + len(word) > width:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += word + " "
    lines.append(line.rstrip())
    print("\n".join(lines))


def _read_secret(path: str | None, env: str) -> str:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    return os.environ.get(env, "").strip()


def _pair_options(args: argparse.Namespace) -> PairOptions:
    """The witness, node name and addresses given to init."""
    return PairOptions(
        node_name=args.name or "node1",
        public_url=args.public_url or "",
        db_listen=args.db_listen or "",
        witness_url=args.witness_url or "",
        witness_fingerprint=args.witness_fingerprint or "",
        witness_token=_read_secret(args.witness_token_file, "STRONGROOM_WITNESS_TOKEN"),
        auto_rejoin=args.auto_rejoin,
    )


def _external_database(args: argparse.Namespace) -> ExternalDatabase | None:
    """An external PostgreSQL named by --database-dsn, or None for the embedded one."""
    if not args.database_dsn:
        if args.database_admin_dsn:
            raise CommandError("--database-admin-dsn goes with --database-dsn")
        return None
    return ExternalDatabase(
        dsn=args.database_dsn,
        admin_dsn=args.database_admin_dsn or "",
        owner_password=os.environ.get("STRONGROOM_DATABASE_OWNER_PASSWORD", ""),
        app_password=os.environ.get("STRONGROOM_DATABASE_APP_PASSWORD", ""),
    )


def _listen_words(host: str) -> str:
    return "all addresses (0.0.0.0)" if host in ("0.0.0.0", "") else host  # noqa: S104


def _gateway_words(host: str, port: int = 2222) -> str:
    """Where the SSH gateway will listen (issue 30; it is on by default, follows --listen
    and takes --gateway-port), and how to turn it off."""
    return (
        f"ssh -p {port} USER@HOST on {_listen_words(host)} "
        "([gateway] enabled = false in the configuration turns it off)"
    )


def _init_secondary(args: argparse.Namespace) -> int:
    from replication.enroll import init_secondary

    if not (args.enroll and args.primary):
        raise CommandError("a secondary needs --enroll TOKEN and --primary https://HOST:PORT")
    if args.database_dsn or args.witness_url:
        raise CommandError(
            "a secondary takes the witness and database settings from its primary "
            "(drop --witness-* and --database-*)"
        )
    config_path = init_secondary(
        Path(args.dir),
        token=args.enroll,
        primary_url=args.primary,
        name=args.name or "node2",
        port=args.port,
        db_port=args.db_port,
        primary_db=args.primary_db or "",
        advertise_url=args.advertise_url or args.public_url or "",
        advertise_db=args.advertise_db or "",
        db_listen=args.db_listen or "",
        auto_rejoin=args.auto_rejoin or None,
        progress=lambda msg: print(f"  … {msg}", flush=True),
        listen=args.listen or "",
    )
    print(f"Strongroom secondary '{args.name}' enrolled with {args.primary}")
    print(f"  configuration: {config_path}")
    print(f"  listening on:  {_listen_words(args.listen or '')}, port {args.port} (--listen)")
    print(f"  SSH gateway:   {_gateway_words(args.listen or '')}")
    print(f"  start it with: {command('serve', '--config', config_path)}")
    return 0


def cmd_enroll_token(args: argparse.Namespace) -> int:
    """Make a one-time token for enrolling a secondary with this primary."""
    from replication.enroll import make_token

    config = _load(args)
    token = make_token(config, args.minutes)
    print(token)
    print(
        f"(valid once, for {args.minutes} minutes; on the secondary: "
        f"{self_command()} init --secondary --enroll TOKEN --primary https://THIS-HOST:PORT DIR)",
        file=sys.stderr,
    )
    return 0


def cmd_remove_node(args: argparse.Namespace) -> int:
    """(primary) Remove a secondary: no longer waited for, its slot dropped, forgotten."""
    config = _load(args)
    if not service.server_pid(config):
        raise CommandError("the server is not running here: start it (strongroom serve) first")
    status, answer = service.remove_node(config, args.name)
    if status != 200:
        detail = answer.get("detail") or "the server did not answer"
        raise CommandError(f"not removed: {detail}")
    slot = "its replication slot dropped" if answer["slot_dropped"] else "it had no slot"
    print(f"removed {answer['removed']}: no longer waited for, {slot}, forgotten as a peer")
    print(f"its audit spool: {answer['spool']}")
    print(
        "if it still runs, stop it and remove its install directory (it is no standby now); "
        "a replacement can be enrolled now: "
        + command("cluster", "enroll-token", "--config", config.source)
    )
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Make this secondary the primary (manual failover, when there is no witness)."""
    config = _load(args)
    term = service.promote(config, force=args.force)
    print(f"promoted: this node is the primary now (term {term})")
    return 0


def cmd_rejoin(args: argparse.Namespace) -> int:
    """Make this former primary the standby of the new primary (pg_rewind)."""
    config = _load(args)
    if service.server_pid(config):
        raise CommandError(f"stop the server first ({command('stop')}); then rejoin")
    how = service.rejoin(config)
    service.embedded_cluster(config).stop()
    print(f"rejoined as a secondary ({how}); start it with: {command('serve')}")
    return 0


def cmd_witness(args: argparse.Namespace) -> int:
    """Run the witness that arbitrates automatic failover (state kept in DIR)."""
    import logging

    from replication import witness

    folder = Path(args.dir).absolute()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    fp, token_file = witness.prepare(folder)
    print(f"witness in {folder}: https://{args.host}:{args.port}", flush=True)
    print(f'  witness_fingerprint = "{fp}"', flush=True)
    print(f"  witness_token: in {token_file}", flush=True)
    print(
        f"  on the primary: {self_command()} init DIR --witness-url https://THIS-HOST:{args.port} "
        f"--witness-fingerprint {fp} --witness-token-file COPY-OF-{token_file.name}",
        flush=True,
    )
    witness.serve(folder, args.port, args.ttl, args.host)
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """Install (or, with ACTION=uninstall, remove) a node from an answer file, silently."""
    from server.ops import silent_install

    answers = silent_install.install(
        Path(args.answer_file),
        Path(args.log) if args.log else None,
        mode=args.service,
        dry_run=args.dry_run,
    )
    print(f"{answers.action} finished: {answers.install_dir}")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    """Stop and remove a node installed from an answer file (backups kept if asked)."""
    from server.ops import silent_install

    answers = silent_install.uninstall_from_file(
        Path(args.answer_file),
        Path(args.log) if args.log else None,
        mode=args.service,
        dry_run=args.dry_run,
    )
    print(f"uninstall finished: {answers.install_dir}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the HTTPS server (foreground, or in the background with --detach)."""
    config = _load(args)
    if args.detach:
        pid = service.start_detached(config, _config_path(args))
        print(f"Strongroom is running (pid {pid}) at https://localhost:{config.server.port}")
        return 0
    service.configure_logging(config)
    service.serve_foreground(config)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    """Run the SSH gateway alone (``serve`` runs it too while [gateway] enabled)."""
    config = _load(args)
    print(f"SSH gateway on port {config.gateway.port}: {gateway_cli.status_line(config)[12:]}")
    gateway_cli.run_alone(config)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the server and the embedded PostgreSQL."""
    config = _load(args)
    stopped = service.stop(config)
    print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Show whether the server and its database run, and the node's role."""
    config = _load(args)
    pid = service.server_pid(config)
    cluster = service.embedded_cluster(config)
    print(f"install:    {config.home}")
    print(f"database:   {_database_line(config, cluster)}")
    print(backup_cli.status_line(config))
    print(gateway_cli.status_line(config))
    details = registration_lines(read_registration(config.home))
    print(f"registered: {details[0]}")
    for line in details[1:]:
        print(f"            {line}")
    if not pid:
        print("server:     stopped")
        return EXIT_NOT_RUNNING
    health = service.health(config)
    print(f"server:     running (pid {pid}) at https://localhost:{config.server.port}")
    if health is None:
        print("health:     not answering")
        return EXIT_ERROR
    print(f"health:     {health.get('status')}")
    print(f"role:       {health.get('role')}{' (read-only)' if health.get('read_only') else ''}")
    print(f"term:       {health.get('term')}")
    print(f"degraded:   {'yes' if health.get('degraded') else 'no'}")
    if health.get("sync"):
        print(f"sync:       {health['sync']}")
    if health.get("writes_blocked"):
        print("writes:     BLOCKED (503 standby_unavailable)")
    if health.get("reason"):
        print(f"reason:     {health['reason']}")
    for slot in health.get("wal_retained") or []:
        limit = slot.get("limit_bytes")
        print(
            f"wal kept:   {slot['node']}: {slot['retained_bytes'] // 2**20} MB"
            + (f" of {limit // 2**20} MB" if limit else "")
            + f" ({slot['wal_status']}{', streaming' if slot['active'] else ''})"
        )
    if health.get("rejoin"):
        print(f"rejoin:     {health['rejoin']}")
    forwarding = health.get("forwarding")
    if forwarding and forwarding.get("destinations"):
        failing = forwarding.get("failing") or []
        print(
            f"siem:       {forwarding['destinations']} destination(s), "
            f"{forwarding['lag']} event(s) behind"
            + (f", failing: {', '.join(failing)}" if failing else "")
        )
    for line in service.pair_status(config):
        print(line)
    return 0


def _database_line(config: Config, cluster) -> str:
    """Where the database is: the embedded cluster's state and port, or the DSN's hosts."""
    db = config.database
    if cluster is not None:
        return f"{'running' if cluster.is_running() else 'stopped'} (embedded, port {db.port})"
    if not db.dsn:
        return f"external at {db.host}:{db.port}/{db.name}"
    hosts, options = dsn_hosts(db.dsn)
    attrs = options.get("target_session_attrs")
    return f"external, hosts {', '.join(hosts)}" + (
        f" (target_session_attrs={attrs})" if attrs else ""
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending schema migrations (serve does this too)."""
    from server.store.migrations import migrate_database

    config = _load(args)
    applied = asyncio.run(migrate_database(config))
    print(f"applied {len(applied)} migration(s)" if applied else "schema is up to date")
    return 0


def cmd_rotate_master(args: argparse.Namespace) -> int:
    """Re-wrap every data key under a new master key (server must be stopped)."""
    from server.services import master_key
    from server.store import db

    config = _load(args)
    if service.server_pid(config):
        raise CommandError(f"stop the server first ({command('stop')}); then rotate the master key")

    async def run() -> int:
        pool = await db.create_pool(config)
        try:
            return await master_key.rotate(config, pool)
        finally:
            await pool.close()

    cluster = service.embedded_cluster(config)
    was_running = cluster is None or cluster.is_running()
    if cluster is not None:
        cluster.start()
    try:
        count = asyncio.run(run())
    finally:
        if not was_running and cluster is not None:
            cluster.stop()
    print(f"master key rotated: {count} wrapped key(s) re-wrapped; back up conf/master.key now")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify every org's audit chain (or one org's) and name the first broken link."""
    from server.store import audit, db
    from server.store.anchors import AnchorLog
    from server.store.keyring import KeyRing

    config = _load(args)

    async def run() -> list[tuple[str, audit.Verification]]:
        ring = KeyRing.from_file(config.path(config.security.master_key))
        pool = await db.create_pool(config)
        anchors = AnchorLog(config.path(config.security.anchor_log), ring, pool)
        try:
            await audit.chain_pending(pool, ring, anchors=anchors, node=config.node.name)
            async with db.transaction(pool, readonly=True) as conn:
                orgs = await conn.fetch(
                    "SELECT id, display_name FROM orgs WHERE $1::text IS NULL "
                    "OR lower(display_name) = lower($1) ORDER BY NOT is_msp, display_name",
                    args.org,
                )
                if not orgs:
                    raise CommandError(f"no organization named {args.org!r}")
                return [
                    (o["display_name"], await audit.verify(conn, ring, o["id"], anchors))
                    for o in orgs
                ]
        finally:
            await pool.close()

    cluster = service.embedded_cluster(config)
    if cluster is not None:
        cluster.start()
    broken = 0
    for name, result in asyncio.run(run()):
        if result.ok:
            print(f"{name}: ok ({result.events} events, head {result.head[:16]}…)")
            if result.warning:
                print(f"{name}: warning: {result.warning}", file=sys.stderr)
        else:
            broken += 1
            print(f"{name}: BROKEN at event {result.first_bad_seq}: {result.problem}")
    return EXIT_ERROR if broken else 0


def cmd_verify_stream(args: argparse.Namespace) -> int:
    """Check audit events as a SIEM received them (issue 31): per org, every sequence
    number from the first received on, each event's previous hash the previous event's
    hash, and with --key each message's MAC. Reports gaps, duplicates (harmless) and
    alterations; exit status 1 when a gap or an alteration is found. Needs no server."""
    key = None
    if args.key:
        try:
            key = bytes.fromhex(Path(args.key).read_text().strip())
        except (OSError, ValueError) as exc:
            print(f"cannot read the verification key from {args.key}: {exc}", file=sys.stderr)
            return EXIT_ERROR
    try:
        if args.file == "-":
            reports = siem_stream.verify_stream(sys.stdin, key=key)
        else:
            with open(args.file, encoding="utf-8", errors="replace") as received:
                reports = siem_stream.verify_stream(received, key=key)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not reports:
        print("no Strongroom audit message found")
        return EXIT_ERROR
    for report in reports:
        for line in report.lines():
            print(line)
    return 0 if all(r.ok for r in reports) else EXIT_ERROR


def _as_administrator(args: argparse.Namespace, work) -> dict:
    """Run ``work(env, actor)`` as the MSPOrg administrator ``--as`` names, on this node
    (its embedded PostgreSQL started if needed); chain the audit events it wrote.

    Raises:
        CommandError with the service's sentence when it refuses.
    """
    from server.core.errors import StrongroomError
    from server.services.auth import local_actor
    from server.services.runtime import open_env
    from server.store import audit

    config = _load(args)

    async def run() -> dict:
        async with open_env(config) as env:
            actor = await local_actor(env, args.as_user)
            result = await work(env, actor)
            await audit.chain_pending(env.pool, env.ring, anchors=env.anchors, node=env.node)
            return result

    cluster = service.embedded_cluster(config)
    if cluster is not None:
        cluster.start()
    try:
        return asyncio.run(run())
    except StrongroomError as exc:
        raise CommandError(exc.detail) from None


def cmd_replicate_settings(args: argparse.Namespace) -> int:
    """Save MSPOrg's replicated categories and apply them to every client org, with a
    progress bar and per-org results (as PUT /msp/replicate-settings)."""
    from server.services import replication_settings

    async def work(env, actor) -> dict:
        saved = await replication_settings.get_settings(env, actor)
        chosen = args.categories or saved["categories"]
        if chosen == ["all"]:
            chosen = list(replication_settings.CATEGORIES)
        data = {"categories": chosen, "role_conflict": args.role_conflict or saved["role_conflict"]}
        return await replication_settings.save_and_apply(
            env, actor, data, progress=ProgressBar("replicating")
        )

    result = _as_administrator(args, work)
    for row in result["results"]:
        if row["status"] == "failed":
            print(f"{row['org']}: failed: {row['detail']}")
    print(
        f"categories: {', '.join(result['categories']) or '(none)'}; "
        f"applied to {result['applied']} org(s), failed {result['failed']}"
    )
    return 0 if result["failed"] == 0 else EXIT_ERROR


class ProgressBar:
    """A one-line text progress bar on stderr (plain lines when not a terminal)."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width = label, width
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total``."""
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"{self.label} [{bar}] {done}/{total}"
        if self.tty:
            print("\r" + line, end="" if done < total else "\n", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def cmd_orgs_import(args: argparse.Namespace) -> int:
    """Import organizations from a CSV/TXT file, acting as an MSPOrg administrator."""
    from server.services import org_import

    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None

    async def work(env, actor) -> dict:
        return await org_import.import_orgs(
            env, actor, path.name, raw, progress=ProgressBar("importing")
        )

    result = _as_administrator(args, work)
    for row in result["results"]:
        if row["status"] == "failed":
            print(f"line {row['line']}: {row['display_name']!r} failed: {row['detail']}")
    print(f"created {result['created']}, failed {result['failed']}")
    return 0 if result["failed"] == 0 else EXIT_ERROR


def cmd_recover_person(args: argparse.Namespace) -> int:
    """When MSPOrg's active administrators are fewer than two persons: give the MSPOrg
    administrator USERNAME a temporary password and an activation code (printed here, once),
    so that whoever receives both becomes an independent person when it sets its own
    password. Run on the primary's host (it needs the master key); audited as
    person_recovered and shown to every MSPOrg administrator for 7 days."""
    from server.core.errors import StrongroomError
    from server.services import activation
    from server.services.runtime import open_env
    from server.store import audit

    config = _load(args)

    async def run() -> dict:
        async with open_env(config) as env:
            result = await activation.recover_person(env, args.username)
            await audit.chain_pending(env.pool, env.ring, anchors=env.anchors, node=env.node)
            return result

    cluster = service.embedded_cluster(config)
    if cluster is not None:
        cluster.start()
    try:
        result = asyncio.run(run())
    except StrongroomError as exc:
        raise CommandError(exc.detail) from None
    print(f"user:               {result['username']}")
    print(f"temporary password: {result['temporary_password']}")
    print(f"activation code:    {result['activation_code']}")
    print(f"expires:            {result['expires_at']}")
    print(
        "Give both to the person who will hold the account: it logs in with the two, then "
        "sets its own password. Every MSPOrg administrator is told of this recovery."
    )
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    """Open the terminal UI against a server (URL may name the org: https://host:7272/abc)."""
    restore = hold_keys(0)  # as python -m server.ops.cli: from here (strongroom: from its start)
    try:
        from tui.terminal import unsupported

        why = unsupported()  # no terminal, TERM=dumb, a locale that is not UTF-8
        if why is not None:
            print(f"strongroom: {why}", file=sys.stderr)
            return EXIT_USAGE
        return _run_tui(args)
    finally:
        if restore is not None:
            restore()


def _run_tui(args: argparse.Namespace) -> int:
    """``cmd_tui`` once the terminal is known to serve: the app, run to its end."""
    from tui.app import StrongroomApp
    from tui.client import ApiError, Client, Endpoint

    url = args.url
    ca_file = args.ca_file
    if url is None:
        try:
            config = load_config(_config_path(args))
            url = f"https://localhost:{config.server.port}"
            cert = config.path(config.server.tls_cert)
            if ca_file is None and os.access(cert, os.R_OK):
                ca_file = str(cert)  # this machine's own certificate: no need to pin
        except ConfigError:
            url = "https://localhost:7272"
    try:
        endpoints = [Endpoint.parse(url)] + (
            [Endpoint.parse(args.secondary)] if args.secondary else []
        )
    except ApiError as exc:
        raise CommandError(exc.detail) from None
    client = Client(endpoints, ca_file=ca_file)
    token = _inherited_session()
    if token:
        client.token = token
    app = StrongroomApp(
        client,
        reveal_seconds=args.reveal_seconds,
        clipboard_seconds=args.clipboard_seconds,
        bound_session=bool(token),
        connect_request=_gateway_requests(),
    )
    app.run(mouse=False)  # a keyboard-only app: the mouse is never tracked
    return app.return_code or 0


SESSION_FD_ENV = "STRONGROOM_SESSION_FD"  # server/gateway/tui_channel.py sets it


def _inherited_session() -> str | None:
    """The session token the SSH gateway hands its TUI child on an inherited pipe (the
    descriptor named by STRONGROOM_SESSION_FD; issue 30): never on the command line,
    never in the environment. None when there is none."""
    fd_text = os.environ.pop(SESSION_FD_ENV, "")
    if not fd_text.isdigit():
        return None
    fd = int(fd_text)
    try:
        with os.fdopen(fd, "rb") as pipe:
            token = pipe.read(4096).decode("ascii", "replace").strip()
    except OSError:
        return None
    return token or None


GATEWAY_FD_ENV = "STRONGROOM_GATEWAY_FD"  # server/gateway/tui_channel.py sets it


def _gateway_requests() -> Callable[[dict], None] | None:
    """Under the SSH gateway: a function that hands the gateway a brokered-session request
    (one JSON line on the inherited pipe named by STRONGROOM_GATEWAY_FD; issue 30), the
    TUI then ending so the gateway opens the session and starts it again. None elsewhere."""
    fd_text = os.environ.pop(GATEWAY_FD_ENV, "")
    if not fd_text.isdigit():
        return None
    fd = int(fd_text)

    def request(what: dict) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, (json.dumps(what) + "\n").encode())

    return request


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="strongroom",
        description="Strongroom: privileged password manager for MSPs.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-c",
            "--config",
            metavar="FILE",
            help="configuration file (default: $STRONGROOM_CONFIG, else "
            "$STRONGROOM_HOME/conf/strongroom.toml, else ./conf/strongroom.toml in a node's "
            "directory, else ./var/conf/strongroom.toml)",
        )

    p = add("init", cmd_init, "Make a new primary node in an empty directory.")
    p.add_argument("dir", metavar="DIR", help="install directory (must not exist or be empty)")
    p.add_argument("--port", type=int, default=7272, help="HTTPS port (default 7272)")
    p.add_argument(
        "--gateway-port",
        type=int,
        default=2222,
        help="SSH gateway port (default 2222; a primary's init only)",
    )
    p.add_argument(
        "--listen",
        metavar="ADDR",
        default="0.0.0.0",  # noqa: S104 - a server for a LAN; the firewall decides
        help="address the HTTPS server listens on (default 0.0.0.0: all addresses)",
    )
    p.add_argument(
        "--db-port",
        type=int,
        default=7432,
        help="embedded PostgreSQL port on 127.0.0.1 (default 7432)",
    )
    p.add_argument(
        "--admin-username",
        default="admin",
        help="MSPOrg's first privileged administrator (default admin)",
    )
    p.add_argument(
        "--msp-totp-policy",
        choices=("none", "administrators", "everyone"),
        default="administrators",
        help="who in MSPOrg must use two-factor authentication (default administrators: "
        "the first administrator enrols at its first login)",
    )
    p.add_argument(
        "--admin-password-file",
        metavar="FILE",
        help="file holding its initial password (else $STRONGROOM_ADMIN_PASSWORD, "
        "else one is generated and shown once)",
    )

    p.add_argument(
        "--secondary",
        action="store_true",
        help="enroll a hot-standby secondary instead (needs --enroll and --primary)",
    )
    p.add_argument("--enroll", metavar="TOKEN", help="token from 'strongroom cluster enroll-token'")
    p.add_argument("--primary", metavar="URL", help="the primary's address, https://HOST:PORT")
    p.add_argument(
        "--name", help="this node's name in the pair (default node1; node2 for --secondary)"
    )
    p.add_argument(
        "--primary-db",
        metavar="HOST:PORT",
        help="the primary's PostgreSQL as this node reaches it (default: the URL's host)",
    )
    p.add_argument("--advertise-url", metavar="URL", help="this node's address for its peer")
    p.add_argument(
        "--advertise-db", metavar="HOST:PORT", help="this node's PostgreSQL for its peer"
    )
    pair = p.add_argument_group("high availability (a primary; a secondary inherits these)")
    pair.add_argument(
        "--public-url", metavar="URL", help="how the peer and clients reach this node's HTTPS"
    )
    pair.add_argument(
        "--db-listen",
        metavar="ADDR",
        help="address the embedded PostgreSQL listens on, reachable by the peer "
        "(default 127.0.0.1: single host only)",
    )
    pair.add_argument("--witness-url", metavar="URL", help="the witness, https://HOST:7273")
    pair.add_argument(
        "--witness-fingerprint",
        metavar="PIN",
        help="the witness certificate's pin, spki:sha256:… (printed by strongroom witness)",
    )
    pair.add_argument(
        "--witness-token-file",
        metavar="FILE",
        help="file holding the witness token (DIR/token on the witness host; "
        "else $STRONGROOM_WITNESS_TOKEN)",
    )
    pair.add_argument(
        "--auto-rejoin",
        action="store_true",
        help="a replaced primary rejoins as the new secondary by itself",
    )
    ext = p.add_argument_group("external PostgreSQL (instead of the embedded cluster)")
    ext.add_argument(
        "--database-dsn",
        metavar="DSN",
        help="libpq DSN the server connects with, e.g. postgresql://db1:5432,db2:5432/"
        "strongroom?target_session_attrs=read-write",
    )
    ext.add_argument(
        "--database-admin-dsn",
        metavar="DSN",
        help="a role allowed to create roles and databases: init makes the owner and app "
        "roles and the database (else they must exist; passwords in "
        "$STRONGROOM_DATABASE_OWNER_PASSWORD and $STRONGROOM_DATABASE_APP_PASSWORD)",
    )

    p = add("serve", cmd_serve, "Run the HTTPS server, starting the embedded PostgreSQL if needed.")
    with_config(p)
    p.add_argument(
        "--detach",
        action="store_true",
        help="run in the background and return once the server answers",
    )

    with_config(add("stop", cmd_stop, "Stop the server and the embedded PostgreSQL."))
    with_config(
        add(
            "gateway",
            cmd_gateway,
            "Run the SSH gateway alone (ssh -p 2222 USER@host lands in the TUI); "
            "serve runs it too.",
        )
    )
    with_config(add("status", cmd_status, "Show the state of the server and its database."))
    with_config(add("migrate", cmd_migrate, "Apply pending schema migrations."))

    keys = sub.add_parser("keys", help="Manage the master key.", description="Manage keys.")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = keys_sub.add_parser(
        "rotate-master", help=cmd_rotate_master.__doc__, description=cmd_rotate_master.__doc__
    )
    p.set_defaults(func=cmd_rotate_master)
    with_config(p)

    p = add("tui", cmd_tui, "Open the keyboard-driven terminal UI.")
    p.add_argument(
        "url",
        nargs="?",
        metavar="URL",
        help="server URL, optionally with the org: https://host:7272/abc "
        "(default: this machine's server)",
    )
    p.add_argument(
        "--secondary",
        metavar="URL",
        help="the secondary server, used when the primary does not answer",
    )
    p.add_argument(
        "--ca-file",
        metavar="FILE",
        help="CA bundle to verify the server with "
        "(default: pin the server's certificate on first use)",
    )
    p.add_argument(
        "--reveal-seconds",
        type=float,
        default=10.0,
        help="how long a revealed password stays on screen (default 10)",
    )
    p.add_argument(
        "--clipboard-seconds",
        type=float,
        default=30.0,
        help="clear a copied password from the clipboard after this (default 30; 0: never)",
    )
    with_config(p)

    for name, func in (("install", cmd_install), ("uninstall", cmd_uninstall)):
        p = add(name, func, func.__doc__)
        p.add_argument("--answer-file", "-f", required=True, metavar="FILE", help=".txt or .iss")
        p.add_argument("--log", "-l", metavar="FILE", help="write every step to this log")
        p.add_argument(
            "--service",
            choices=("auto", "systemd", "process", "windows"),
            default="auto",
            help="how the server runs: systemd unit, Windows service, or a plain background "
            "process (auto: systemd when it runs, else a process)",
        )
        p.add_argument(
            "--dry-run", action="store_true", help="print the service commands, change nothing"
        )

    clu = sub.add_parser("cluster", help="Pair nodes.", description="The primary/secondary pair.")
    clu_sub = clu.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    p = clu_sub.add_parser(
        "enroll-token", help=cmd_enroll_token.__doc__, description=cmd_enroll_token.__doc__
    )
    p.set_defaults(func=cmd_enroll_token)
    p.add_argument("--minutes", type=int, default=30, help="how long it is valid (default 30)")
    with_config(p)
    p = clu_sub.add_parser(
        "remove-node", help=cmd_remove_node.__doc__, description=cmd_remove_node.__doc__
    )
    p.set_defaults(func=cmd_remove_node)
    p.add_argument("name", metavar="NAME", help="the secondary's node name")
    with_config(p)
    p = add("promote", cmd_promote, cmd_promote.__doc__)
    p.add_argument("--force", action="store_true", help="even if the primary still answers")
    with_config(p)
    with_config(add("rejoin", cmd_rejoin, cmd_rejoin.__doc__))
    p = add("witness", cmd_witness, cmd_witness.__doc__)
    p.add_argument("dir", metavar="DIR", help="the witness's state folder (made if missing)")
    p.add_argument("--port", type=int, default=7273, help="HTTPS port (default 7273)")
    p.add_argument("--host", default="0.0.0.0", help="listen address (default all)")  # noqa: S104
    p.add_argument("--ttl", type=float, default=5.0, help="lease seconds (default 5)")

    orgs = sub.add_parser("orgs", help="Manage organizations.", description="Organizations.")
    orgs_sub = orgs.add_subparsers(dest="orgs_command", metavar="ACTION", required=True)
    p = orgs_sub.add_parser(
        "import", help=cmd_orgs_import.__doc__, description=cmd_orgs_import.__doc__
    )
    p.set_defaults(func=cmd_orgs_import)
    p.add_argument("file", metavar="FILE", help=".csv or .txt file, one org per line")
    p.add_argument(
        "--as",
        dest="as_user",
        required=True,
        metavar="USERNAME",
        help="the MSPOrg administrator the import is audited as",
    )
    with_config(p)

    p = orgs_sub.add_parser(
        "replicate-settings",
        help=cmd_replicate_settings.__doc__,
        description=cmd_replicate_settings.__doc__,
    )
    p.set_defaults(func=cmd_replicate_settings)
    p.add_argument(
        "categories",
        nargs="*",
        metavar="CATEGORY",
        help="categories to replicate (none: the ones saved last); all: every category",
    )
    p.add_argument("--role-conflict", choices=("overwrite", "rename"), default=None)
    p.add_argument("--as", dest="as_user", required=True, metavar="USERNAME")
    with_config(p)

    p = add("recover-person", cmd_recover_person, cmd_recover_person.__doc__)
    p.add_argument("username", metavar="USERNAME", help="the MSPOrg administrator to recover")
    with_config(p)

    aud = sub.add_parser("audit", help="Check the audit trail.", description="Audit trail.")
    aud_sub = aud.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = aud_sub.add_parser(
        "verify", help=cmd_audit_verify.__doc__, description=cmd_audit_verify.__doc__
    )
    p.set_defaults(func=cmd_audit_verify)
    p.add_argument("--org", help="only this org (display name)")
    with_config(p)
    p = aud_sub.add_parser(
        "verify-stream", help=cmd_verify_stream.__doc__, description=cmd_verify_stream.__doc__
    )
    p.set_defaults(func=cmd_verify_stream)
    p.add_argument("file", metavar="FILE", help="the received messages, one a line ('-': stdin)")
    p.add_argument(
        "--key",
        metavar="KEYFILE",
        help="a file holding the destination's verification key (hex), to check each MAC",
    )
    backup_cli.add_parsers(sub, add, with_config, _load, service.embedded_cluster)
    return parser


KNOWN_ERRORS = (
    CommandError,
    AnswerFileError,
    SetupFailed,
    ConfigError,
    ClusterError,
    InstallError,
    MigrationError,
    service.ServiceError,
    UnsafeAppRole,
    *backup_cli.KNOWN_ERRORS,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``strongroom`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except KNOWN_ERRORS as exc:
        if args.debug:
            raise
        print(f"strongroom: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"strongroom: unexpected error: {exc.__class__.__name__}: {exc} "
            "(run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
