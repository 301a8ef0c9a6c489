"""A real primary/secondary pair on loopback, a witness, and a link the test can cut.

Every byte between the two nodes (streaming replication, pg_rewind, the monitors'
health checks, spool shipping) passes through TCP proxies owned by the test:
``cut(from_primary=..., from_secondary=...)`` silently drops the bytes one node sends
the other, as a failed link does (no reset, no FIN: each side finds out by timeout);
a connection that lost bytes stays dead after the link heals, and new ones work.

Writers run throughout a scenario against both nodes directly and record every
acknowledged write; ``check_no_two_writers`` and ``missing_on`` judge the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from server.core.config import load_config, render_config
from tests.conftest import free_port, scratch_dir

STRONGROOM = str(Path(sys.executable).parent / "strongroom")
ADMIN_PASSWORD = "Initial-Passw0rd!"
NEW_PASSWORD = "Changed-Passw0rd!"
WITNESS_TTL = 5.0
_HANDED_OUT: set[int] = set()


def fresh_port() -> int:
    """A free loopback port not handed out before in this process: a node's database
    port stays unbound until its init, so a later proxy must not be given it too."""
    while True:
        port = free_port()
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class Proxy:
    """One TCP forwarder 127.0.0.1:port -> 127.0.0.1:target with per-direction cuts."""

    def __init__(self, target: int, client_is_primary: bool) -> None:
        self.port = fresh_port()
        self.target = target
        self.client_is_primary = client_is_primary
        self.block_up = False  # client -> target
        self.block_down = False  # target -> client
        self.server: asyncio.base_events.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.dead: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def cut(self, from_primary: bool, from_secondary: bool) -> None:
        """Drop what the primary and/or the secondary sends through this proxy."""
        if self.client_is_primary:
            self.block(from_primary, from_secondary)
        else:
            self.block(from_secondary, from_primary)

    def block(self, up: bool, down: bool) -> None:
        """Drop bytes client -> target (up) and/or target -> client (down). Once neither
        is blocked, connections that lost bytes are reset, as a returning link resets
        connections whose state one side has given up."""
        self.block_up, self.block_down = up, down
        if not (up or down) and self.loop is not None:
            self.loop.call_soon_threadsafe(self._reset_dead)

    def _reset_dead(self) -> None:
        for pair in self.dead:
            for w in pair:
                w.transport.abort()
        self.dead.clear()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))
        # A connection that lost bytes is dead for good, as a TCP connection whose peer
        # vanished: forwarding later bytes after a hole would hand either side a
        # corrupted stream (a standby would write garbage WAL), which no network does.
        lost = {"bytes": False, "on": lambda: self.dead.append((writer, up_writer))}
        await asyncio.gather(
            self._pump(reader, up_writer, lambda: self.block_up, lost),
            self._pump(up_reader, writer, lambda: self.block_down, lost),
            return_exceptions=True,
        )
        self.writers.difference_update((writer, up_writer))
        for w in (writer, up_writer):
            w.transport.abort()  # both directions are done (a cut side never closed)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        if self.server is not None:
            await self.server.wait_closed()

    @staticmethod
    async def _pump(reader, writer, blocked, lost: dict) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if blocked() or lost["bytes"]:
                    if not lost["bytes"]:
                        lost["bytes"] = True
                        lost["on"]()  # reset when the link heals
                    continue  # lost on the wire
                writer.write(data)
                await writer.drain()
        finally:
            if not blocked() and not lost["bytes"]:
                with contextlib.suppress(Exception):
                    writer.close()


class Link:
    """All proxies between the two nodes, served by one background event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxies: list[Proxy] = []
        self.others: list[Proxy] = []  # a node's own way to the witness

    def proxy(self, target: int, client_is_primary: bool, between_nodes: bool = True) -> Proxy:
        """A new proxy; ``between_nodes`` ones are what ``cut`` and ``heal`` act on."""
        proxy = Proxy(target, client_is_primary)
        asyncio.run_coroutine_threadsafe(proxy.start(), self.loop).result(5)
        if between_nodes:
            self.proxies.append(proxy)
        else:
            self.others.append(proxy)
        return proxy

    def cut(self, from_primary: bool = True, from_secondary: bool = True) -> None:
        for proxy in self.proxies:
            proxy.cut(from_primary, from_secondary)

    def heal(self) -> None:
        self.cut(False, False)

    def close(self) -> None:
        for proxy in self.proxies + self.others:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(proxy.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run the strongroom command; fail loudly with its output."""
    result = subprocess.run(
        [STRONGROOM, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"strongroom {args[0]} failed: {result.stderr}{result.stdout}"
    return result


def _ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # both nodes share one self-signed certificate
    return ctx


def call(url: str, method: str = "GET", body=None, token: str = "", timeout: float = 3.0):
    """(status, json) of one HTTPS request; (0, {}) when nothing answers in time."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_ctx()) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read())
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError):
        return 0, {}


def eventually(check, seconds: float, what: str):
    """Poll ``check`` until it answers something true (returned); fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not {what} within {seconds:.0f} s")


def make_account(url: str, api_key: str, resource: str, password: str) -> str:
    """A resource in MSPOrg with one account (user root) on the node at ``url``; its id."""
    status, res = call(
        f"{url}/api/v1/orgs/MSPOrg/resources",
        "POST",
        {"name": resource, "type": "server"},
        token=api_key,
    )
    assert status == 201, res
    status, acc = call(
        f"{url}/api/v1/orgs/MSPOrg/resources/{res['id']}/accounts",
        "POST",
        {"username": "root", "password": password},
        token=api_key,
    )
    assert status == 201, acc
    return acc["id"]


@dataclass
class Node:
    """One node's install directory and its ``strongroom serve`` process."""

    name: str
    home: Path
    port: int
    db_port: int
    proc: subprocess.Popen | None = None

    @property
    def config(self) -> Path:
        return self.home / "conf" / "strongroom.toml"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "pgsql" / "data"

    def start(self) -> None:
        if self.proc is not None:  # reap the previous (killed) process
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
        log = open(self.home / "logs" / "test-serve.out", "ab")
        self.proc = subprocess.Popen(
            [STRONGROOM, "serve", "--config", str(self.config)],
            # Test receivers (SIEM, webhooks) listen on 127.0.0.1 ([outbound] allow_loopback).
            env={**os.environ, "STRONGROOM_OUTBOUND_ALLOW_LOOPBACK": "true"},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def health(self, timeout: float = 2.0) -> dict:
        status, body = call(self.url + "/api/v1/health", timeout=timeout)
        return body if status else {}

    def wait(self, predicate, seconds: float, what: str) -> dict:
        """Poll health until ``predicate(health)``; fail with what was last seen."""
        deadline = time.monotonic() + seconds
        last: dict = {}
        while time.monotonic() < deadline:
            last = self.health()
            if "role" not in last and last.get("status") == 500:
                raise AssertionError(f"{self.name}: health failed: {last}")
            if last and predicate(last):
                return last
            time.sleep(0.25)
        raise AssertionError(f"{self.name}: not {what} within {seconds:.0f} s (last: {last})")

    def postgres_pids(self) -> list[int]:
        """The postmaster and all its children."""
        try:
            master = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        pids = [master]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                        pids.append(int(entry.name))
        return pids

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to the server process and every PostgreSQL process of the node."""
        targets = self.postgres_pids()
        if self.proc is not None and self.proc.poll() is None:
            targets.append(self.proc.pid)
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill_server(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.signal_all(signal.SIGCONT)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        subprocess.run(
            [STRONGROOM, "stop", "--config", str(self.config)],
            capture_output=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
        )


class HealthSampler:
    """Samples a node's health every ``every`` seconds in a thread: (time, health)."""

    def __init__(self, node: Node, every: float = 0.05) -> None:
        self.node = node
        self.every = every
        self.samples: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> HealthSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self.node.health(timeout=1.0)))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def reopenings(self) -> list[tuple[float, dict]]:
        """Samples where the node said it takes writes after it had said it was fenced."""
        fenced_at = None
        found = []
        for at, health in self.samples:
            if health.get("role") == "primary" and health.get("read_only") is True:
                fenced_at = fenced_at or at
            elif fenced_at is not None and health.get("read_only") is False:
                found.append((at - fenced_at, health))
        return found


@dataclass
class Ack:
    node: str
    name: str
    started: float
    ended: float


@dataclass
class Writers:
    """Threads writing to both nodes and recording every acknowledged write."""

    pair: Pair
    acks: list[Ack] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    stop_flag: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, per_node: int = 2) -> Writers:
        for node in (self.pair.primary, self.pair.secondary):
            for i in range(per_node):
                t = threading.Thread(target=self._write, args=(node, i), daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def _write(self, node: Node, index: int) -> None:
        n = 0
        while not self.stop_flag.is_set():
            n += 1
            name = f"w-{node.name}-{index}-{n}-{time.monotonic_ns()}"
            started = time.monotonic()
            status, body = call(
                f"{node.url}/api/v1/orgs/MSPOrg/resources",
                "POST",
                {"name": name, "type": "server"},
                token=self.pair.api_key,
                timeout=5.0,
            )
            if status == 201:
                self.acks.append(Ack(node.name, name, started, time.monotonic()))
            else:
                code = body.get("code", str(status))
                self.refused[code] = self.refused.get(code, 0) + 1
                time.sleep(0.05)

    def stop(self) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(10)

    def on(self, node: Node) -> list[Ack]:
        return [a for a in self.acks if a.node == node.name]

    def check_no_two_writers(self) -> None:
        """Writes were accepted by one node, then (after a failover) only by the other."""
        by_start = sorted(self.acks, key=lambda a: a.started)
        if not by_start:
            return
        first = by_start[0].node
        later = [a for a in self.acks if a.node != first]
        if later:
            last_first = max(a.started for a in self.acks if a.node == first)
            first_later = min(a.ended for a in later)
            assert last_first < first_later, (
                f"both nodes accepted writes at once: {first} acknowledged a write started "
                f"at {last_first:.2f} after the other node acknowledged one by {first_later:.2f}"
            )

    def missing_on(self, node: Node) -> list[str]:
        """Acknowledged writes that the node's database does not have (read directly: the
        API lists at most 1,000 resources)."""
        config = load_config(node.config)

        async def names() -> set[str]:
            conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
            try:
                rows = await conn.fetch("SELECT name FROM resources")
            finally:
                await conn.close()
            return {r["name"] for r in rows}

        have = asyncio.run(names())
        return [a.name for a in self.acks if a.name not in have]


@dataclass
class Pair:
    """A witness, a primary and an enrolled secondary, linked through proxies."""

    root: Path
    primary: Node
    secondary: Node
    link: Link
    witness_dir: Path
    witness_port: int
    witness: subprocess.Popen | None = None
    api_key: str = ""
    started: float = 0.0
    witness_links: dict[str, Proxy] = field(default_factory=dict)  # node name -> its proxy

    def isolate(self, node: Node) -> None:
        """Cut ``node`` from its peer and from the witness (both directions, silently)."""
        self.link.cut()
        self.witness_links[node.name].block(True, True)

    def heal(self) -> None:
        """Undo every cut."""
        self.link.heal()
        for proxy in self.witness_links.values():
            proxy.block(False, False)

    def start_witness(self) -> None:
        log = open(self.root / "witness.out", "ab")
        self.witness = subprocess.Popen(
            [
                STRONGROOM,
                "witness",
                str(self.witness_dir),
                "--port",
                str(self.witness_port),
                "--host",
                "127.0.0.1",
                "--ttl",
                str(WITNESS_TTL),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if call(f"https://127.0.0.1:{self.witness_port}/lease")[0] == 401:
                return
            time.sleep(0.2)
        raise AssertionError("the witness did not start")

    def stop_witness(self) -> None:
        if self.witness is not None and self.witness.poll() is None:
            self.witness.kill()
            self.witness.wait(10)

    def log_tails(self, lines: int = 40) -> str:
        """The end of each node's log and the witness's, to read when a scenario fails."""
        parts = []
        for path in [*sorted(self.root.glob("*/logs/strongroom.log")), self.root / "witness.out"]:
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"==> {path.relative_to(self.root)} <==\n" + "\n".join(tail))
        return "\n".join(parts)

    def close(self) -> None:
        for node in (self.primary, self.secondary):
            node.stop()
        self.stop_witness()
        self.link.close()
        if not os.environ.get("STRONGROOM_KEEP_TEST_DIRS"):  # set it to read the logs
            shutil.rmtree(self.root, ignore_errors=True)

    def nodes(self) -> tuple[Node, Node]:
        return self.primary, self.secondary

    def writable(self) -> list[str]:
        """Names of the nodes whose health says they take writes."""
        return [n.name for n in self.nodes() if n.health().get("read_only") is False]


def make_pair(
    witness: bool = True, auto_rejoin: bool = True, replication: dict | None = None
) -> Pair:
    """Build and start a synchronous pair (about 15 s); ``replication`` overrides settings
    of the ``[replication]`` section on both nodes."""
    root = scratch_dir("strongroom-ha-")
    link = Link()
    primary = Node("node1", root / "node1", fresh_port(), fresh_port())
    secondary = Node("node2", root / "node2", fresh_port(), fresh_port())
    pair = Pair(root, primary, secondary, link, root / "witness", fresh_port())
    try:
        pw = root / "admin-password"
        pw.write_text(ADMIN_PASSWORD)
        run_cli(
            "init",
            str(primary.home),
            "--port",
            str(primary.port),
            "--db-port",
            str(primary.db_port),
            "--admin-password-file",
            str(pw),
            "--msp-totp-policy",  # the harness uses admin's session at once (issue 27)
            "none",
        )
        p_app = link.proxy(primary.port, client_is_primary=False)
        p_db = link.proxy(primary.db_port, client_is_primary=False)
        s_app = link.proxy(secondary.port, client_is_primary=True)
        s_db = link.proxy(secondary.db_port, client_is_primary=True)
        config = load_config(primary.config)
        config.node.auto_rejoin = auto_rejoin
        config.server.public_url = f"https://127.0.0.1:{p_app.port}"
        for name, value in (replication or {}).items():
            setattr(config.replication, name, value)
        if witness:
            pair.start_witness()
            from replication.witness import prepare

            fp, token_file = prepare(pair.witness_dir)
            for node in (primary, secondary):
                pair.witness_links[node.name] = link.proxy(
                    pair.witness_port, client_is_primary=node is primary, between_nodes=False
                )
            config.node.witness_url = f"https://127.0.0.1:{pair.witness_links['node1'].port}"
            config.node.witness_fingerprint = fp
            config.node.witness_token = token_file.read_text().strip()
        primary.config.write_text(render_config(config))
        primary.start()
        primary.wait(lambda h: h["read_only"] is False, 60, "a writable primary")
        pair.api_key = _api_key(primary)
        token = run_cli("cluster", "enroll-token", "--config", str(primary.config)).stdout.strip()
        run_cli(
            "init",
            "--secondary",
            "--enroll",
            token,
            "--primary",
            f"https://127.0.0.1:{p_app.port}",
            "--primary-db",
            f"127.0.0.1:{p_db.port}",
            "--advertise-url",
            f"https://127.0.0.1:{s_app.port}",
            "--advertise-db",
            f"127.0.0.1:{s_db.port}",
            "--name",
            secondary.name,
            "--port",
            str(secondary.port),
            "--db-port",
            str(secondary.db_port),
            "--listen",
            "127.0.0.1",
            str(secondary.home),
        )
        if witness or replication:
            s_config = load_config(secondary.config)
            if witness:  # the secondary reaches the witness through its own proxy
                s_config.node.witness_url = f"https://127.0.0.1:{pair.witness_links['node2'].port}"
            for name, value in (replication or {}).items():
                setattr(s_config.replication, name, value)
            secondary.config.write_text(render_config(s_config))
        secondary.start()
        secondary.wait(lambda h: h["role"] == "secondary", 60, "a running secondary")
        primary.wait(lambda h: not h["degraded"], 60, "synchronous with its standby")
    except BaseException:
        pair.close()
        raise
    return pair


def _api_key(node: Node) -> str:
    status, body = call(
        node.url + "/api/v1/auth/login",
        "POST",
        {"username": "admin", "password": ADMIN_PASSWORD},
    )
    assert status == 200, body
    token = body["token"]
    status, body = call(
        node.url + "/api/v1/me/password",
        "POST",
        {"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD},
        token=token,
    )
    assert status in (200, 204), body
    return new_api_key(node.url, NEW_PASSWORD)


def new_api_key(url: str, password: str) -> str:
    """An API key of admin's, made from a session logged in with ``password`` (a password
    change ends the owner's API keys, and only a session makes one)."""
    status, body = call(
        url + "/api/v1/auth/login", "POST", {"username": "admin", "password": password}
    )
    assert status == 200, body
    status, body = call(
        url + "/api/v1/me/api-keys", "POST", {"name": "ha-test"}, token=body["token"]
    )
    assert status == 201, body
    key: str = body["key"]
    return key
