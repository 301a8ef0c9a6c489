"""The SSH gateway (issue 30, item 7).

1. Time from starting OpenSSH's ``ssh`` to the TUI's first main screen, against the same
   TUI started directly on a local pseudo-terminal with a session already made (what the
   gateway adds: SSH handshake, key login, session, the child's start).
2. Keystroke echo through a brokered session (``ssh ... connect bench01/USER``: the
   gateway's SSH, then its SSH to the target) against a direct ``ssh`` to the same target
   (OpenSSH's sshd, tests/targets/sshd.py), interleaved in the same run; issue 30 asks
   for at most 1.5x. Printed: p50/p95 of each, their ratio, the time the gateway adds,
   the gateway's CPU per keystroke, and an ``ssh -J`` through the same sshd (an OpenSSH
   hop, for reference). First on loopback, then over a user link with ``--user-rtt-ms``
   of round trip (a delay proxy, the same one in front of the gateway and of the direct
   sshd; the gateway-to-target hop stays on loopback, as in a rack).

The gateway runs in a process of its own, as ``strongroom gateway`` does, and each echo
is timed by the thread that reads the pty (no polling, nothing on an event loop).
``BENCH_GATEWAY_PROFILE=FILE`` writes a cProfile of the gateway process to FILE.
Report the load average (``uptime``) beside the figures: the machine is shared.

Run: .venv/bin/python -m bench.gateway [--runs 10] [--keys 200] [--user-rtt-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import queue
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg

from bench.harness import ADMIN_PASSWORD, free_port, primary, progress, summary_ms
from server.gateway.server import start_gateway
from server.ops.gateway_cli import run_event_loop, tui_command
from server.services.runtime import open_env

READY = re.compile(rb"Quit")  # the main screen's key bar (the login screen has no ^q Quit)
NEW_PASSWORD = "bench-gateway-password-1"


class Pty:
    """A program on a new 80x24 pseudo-terminal; ``seconds_until`` times its output."""

    def __init__(self, args: list[str], pass_fds: tuple[int, ...] = (), env=None) -> None:
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            pass_fds=pass_fds,
            env=env or {"PATH": os.environ["PATH"], "TERM": "xterm-256color", "LANG": "C.UTF-8"},
        )
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.seen_at: float | None = None
        self.expected: bytes | None = None  # echo_latencies' key, until the reader sees it
        self.expect_from = 0
        self.echo_at: float | None = None
        self.echoed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            at = time.monotonic()
            self.output += data
            expected = self.expected
            if expected is not None and expected in self.output[self.expect_from :]:
                self.expected = None
                self.echo_at = at
                self.echoed.set()
            if self.seen_at is None and READY.search(self.output):
                self.seen_at = time.monotonic()

    def expect(self, char: bytes | None) -> None:
        """The next key's echo to time (None: none)."""
        self.echoed.clear()
        self.echo_at = None
        self.expect_from = len(self.output)
        self.expected = char

    async def seconds_until_ready(self, limit: float = 60) -> float:
        """Seconds from start to the main screen."""
        while self.seen_at is None:
            if time.monotonic() - self.started > limit:
                raise RuntimeError(f"no main screen; shown: {bytes(self.output[-500:])!r}")
            await asyncio.sleep(0.01)
        return self.seen_at - self.started

    async def quit(self) -> None:
        """Ctrl+Q, then wait for the end."""
        os.write(self.master, b"\x11")
        for _ in range(300):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
        else:
            self.proc.kill()
        os.close(self.master)


def precise_ms(samples: list[float]) -> str:
    """p50/p95 and mean of samples in seconds, in milliseconds to the hundredth."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50 {statistics.median(samples) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, "
        f"mean {statistics.fmean(samples) * 1000:.2f} ms"
    )


def keygen(*args: str) -> str:
    """Run OpenSSH's ssh-keygen; its output."""
    done = subprocess.run(["ssh-keygen", *args], capture_output=True, check=True)
    return done.stdout.decode()


async def no_totp_policy(config) -> None:
    """The bench measures the key-only login: MSPOrg's 2FA policy off (init's default asks
    administrators for it; with it, every run would wait for a fresh TOTP step)."""
    conn = await asyncpg.connect(**config.owner_dsn())
    try:
        async with conn.transaction():
            org_id = await conn.fetchval("SELECT id FROM orgs WHERE is_msp")
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            await conn.execute("UPDATE orgs SET totp_policy = 'none' WHERE id = $1", org_id)
            await conn.execute("UPDATE users SET totp_required = false")
    finally:
        await conn.close()


async def first_login(node) -> str:
    """admin's own password set; returns a session token."""
    await no_totp_policy(node.config)
    async with node.session.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    ) as resp:
        token = (await resp.json())["token"]
    async with node.session.post(
        "/api/v1/me/password",
        json={"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == 204, await resp.text()
    return token


async def session_token(node) -> str:
    """A fresh session of admin's (for the direct runs)."""
    async with node.session.post(
        "/api/v1/auth/login", json={"username": "admin", "password": NEW_PASSWORD}
    ) as resp:
        return (await resp.json())["token"]


def echo_latencies(term: Pty, keys: int) -> list[float]:
    """Type ``keys`` characters at a shell prompt one at a time; for each, the seconds from
    writing it to the pty until the reader thread read its echo off the pty. Runs in a
    thread of its own and waits on an event the reader sets (no polling, nothing on any
    event loop: the figure is the path's, not the bench's)."""
    samples: list[float] = []
    for i in range(keys):
        char = "abcdefghijklmnopqrstuvwxyz"[i % 26].encode()
        term.expect(char)
        started = time.monotonic()
        os.write(term.master, char)
        if not term.echoed.wait(10):
            raise RuntimeError(f"no echo; shown: {bytes(term.output[-300:])!r}")
        assert term.echo_at is not None
        samples.append(term.echo_at - started)
        if i % 20 == 19:
            term.expect(None)
            os.write(term.master, b"\x15")  # ^U: clear the line typed so far
            time.sleep(0.02)
    return samples


async def wait_for(term: Pty, pattern: bytes, limit: float = 30) -> None:
    """Until ``pattern`` (a regular expression) was shown."""
    deadline = time.monotonic() + limit
    while not re.search(pattern, bytes(term.output)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pattern!r} not shown; got {bytes(term.output[-300:])!r}")
        await asyncio.sleep(0.01)


async def brokered_target(node, token: str, key: Path):
    """An sshd on loopback with a user (password in the vault; ``key`` authorised for the
    direct runs), and a pinned resource bench01 with that account. (sshd, user)."""
    from tests.targets.sshd import Sshd

    sshd = Sshd()
    sshd.start()
    password = "Bench-Target-pw-1"
    user = sshd.add_user(password)
    home = sshd.dir / "home" / user / ".ssh"
    home.mkdir(mode=0o700)
    (home / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    owner = pwd.getpwnam(user)
    for path in (home, home / "authorized_keys"):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    auth = {"Authorization": f"Bearer {token}"}

    async def call(method: str, path: str, body: dict) -> dict:
        async with node.session.request(method, "/api/v1" + path, json=body, headers=auth) as r:
            answer = await r.json()
            assert r.status in (200, 201), answer
            return answer

    res = await call("POST", "/orgs/MSPOrg/resources", {"name": "bench01", "type": "Linux"})
    await call(
        "POST",
        f"/orgs/MSPOrg/resources/{res['id']}/accounts",
        {"username": user, "password": password},
    )
    await call(
        "PUT",
        f"/orgs/MSPOrg/resources/{res['id']}/connection",
        {"connector": "ssh", "host": sshd.host, "port": sshd.port, "host_key": sshd.fingerprint},
    )
    return sshd, user


class DelayProxy:
    """A TCP proxy on loopback that holds every chunk ``one_way`` seconds in each direction
    (the user's link: a round trip of twice that). The bench puts the same proxy in front
    of the gateway and of the direct sshd, so both paths cross the same link. Threads with
    blocking sockets (not an event loop: asyncio's timers round to the millisecond)."""

    def __init__(self, target_port: int, one_way: float) -> None:
        self.target_port, self.one_way = target_port, one_way
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._pipe(client, upstream)
            self._pipe(upstream, client)

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        held: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

        def receive() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                held.put((time.monotonic() + self.one_way, data))
                if not data:
                    return

        def send() -> None:
            while True:
                due, data = held.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                try:
                    sink.sendall(data)
                except OSError:
                    return

        threading.Thread(target=receive, daemon=True).start()
        threading.Thread(target=send, daemon=True).start()

    def close(self) -> None:
        """Stop accepting (open connections end with their ends)."""
        self.closed = True
        self.listener.close()


def ssh_args(port: int, key: Path, known: Path, login: str) -> list[str]:
    """OpenSSH's client to 127.0.0.1:``port`` as ``login``, key only, host key pinned."""
    return [
        "ssh", "-F", "/dev/null", "-tt", "-p", str(port), "-i", str(key),
        "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
        "-o", "PreferredAuthentications=publickey", "-o", "HostKeyAlias=bench", login,
    ]  # fmt: skip


async def start_gateway_process(config, url: str) -> subprocess.Popen:
    """The gateway in a process of its own, as ``strongroom gateway`` runs it (the bench's
    own threads and loop stay off its event loop); ready once it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.gateway",
            "--serve-gateway",
            str(config.source),
            "--gateway-port",
            str(config.gateway.port),
            "--url",
            url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    if line.strip() != b"ready":
        proc.kill()
        raise RuntimeError(f"the gateway did not start: {line!r}")
    return proc


def stop_gateway_process(proc: subprocess.Popen) -> None:
    """Close its stdin (it stops), kill it if it does not."""
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def serve_gateway(source: str, port: int, url: str) -> None:
    """The bench's gateway process: the bench node's configuration, this port, the TUI
    against ``url``; runs as ``strongroom gateway`` does until stdin closes."""
    from server.core.config import load_config

    config = load_config(Path(source))
    config.server.host = "127.0.0.1"
    config.outbound.allow_loopback = True
    config.gateway.host, config.gateway.port = "127.0.0.1", port
    command = tui_command(config)
    command[command.index("tui") + 1] = url

    async def run() -> None:
        async with open_env(config) as env:
            listener = await start_gateway(env, config, command)
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.read)
            await listener.close()

    profile = os.environ.get("BENCH_GATEWAY_PROFILE")  # a cProfile output file, when set
    if profile:
        import cProfile

        cProfile.runctx("run_event_loop(run())", globals(), locals(), profile)
    else:
        run_event_loop(run())


async def echo_runs(
    runs: int, keys: int, paths: list[list[str]], gateway_pid: int
) -> tuple[list[list[float]], tuple[float, float]]:
    """``runs`` times: each of ``paths`` (the brokered session first), ``keys`` keystrokes
    each. The samples of each path, and the gateway process's CPU seconds (user, system)
    per brokered keystroke (its TUI children not included)."""
    samples: list[list[float]] = [[] for _ in paths]
    cpu = (0.0, 0.0)
    for run in range(runs):
        progress(f"echo run {run + 1}/{runs}")
        for i, args in enumerate(paths):
            term = Pty(args)
            await wait_for(term, rb"[$#] ?$")
            await asyncio.sleep(0.2)
            before = user_system(gateway_pid)
            samples[i] += await asyncio.to_thread(echo_latencies, term, keys)
            if i == 0:
                after = user_system(gateway_pid)
                cpu = (cpu[0] + after[0] - before[0], cpu[1] + after[1] - before[1])
            await term.quit()
    return samples, (cpu[0] / (runs * keys), cpu[1] / (runs * keys))


def user_system(pid: int) -> tuple[float, float]:
    """CPU seconds process ``pid`` spent so far in user space and in the kernel."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def report_echo(title: str, samples: list[list[float]], cpu: tuple[float, float]) -> None:
    """Print p50/p95 of each path, the ratio and the time the gateway adds."""
    brokered, direct, *jump = samples
    mid_b, mid_d = statistics.median(brokered), statistics.median(direct)
    print(title)
    print(f"  brokered session : {precise_ms(brokered)}")
    print(f"  direct ssh       : {precise_ms(direct)}")
    if jump:
        print(f"  ssh -J via sshd  : {precise_ms(jump[0])} (an OpenSSH hop, for reference)")
    print(
        f"  median ratio {mid_b / mid_d:.2f} (issue 30: at most 1.5); "
        f"the gateway adds {(mid_b - mid_d) * 1000:.2f} ms; "
        f"its CPU per keystroke {sum(cpu) * 1e6:.0f} us (user {cpu[0] * 1e6:.0f}, "
        f"kernel {cpu[1] * 1e6:.0f})"
    )


async def main(runs: int, keys: int, user_rtt_ms: float, screen_runs: int) -> None:
    """Measure both paths ``runs`` times each, interleaved."""

    def tune(config) -> None:
        config.gateway.host = "127.0.0.1"
        config.gateway.port = free_port()

    async with primary(tune) as node:
        config = node.config
        token = await first_login(node)
        folder = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
        key = folder / "id_ed25519"
        keygen("-q", "-t", "ed25519", "-N", "", "-f", str(key))
        async with node.session.post(
            "/api/v1/me/ssh-keys",
            json={"public_key": key.with_suffix(".pub").read_text()},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            assert resp.status == 201, await resp.text()
        command = tui_command(config)
        command[command.index("tui") + 1] = node.url
        gateway = await start_gateway_process(config, node.url)
        host_pub = keygen("-y", "-f", str(config.path(config.gateway.host_key)))
        known = folder / "known_hosts"
        known.write_text(f"bench {host_pub}")
        ssh = ssh_args(config.gateway.port, key, known, "admin@127.0.0.1")
        via_ssh: list[float] = []
        direct: list[float] = []
        sshd = None
        proxies: list[DelayProxy] = []
        try:
            for run in range(screen_runs):
                progress(f"first screen, run {run + 1}/{screen_runs}")
                term = Pty(ssh)
                via_ssh.append(await term.seconds_until_ready())
                await term.quit()
                read_end, write_end = os.pipe()
                os.write(write_end, (await session_token(node)).encode())
                os.close(write_end)
                env_vars = {
                    "PATH": os.environ["PATH"],
                    "TERM": "xterm-256color",
                    "LANG": "C.UTF-8",
                    "STRONGROOM_SESSION_FD": str(read_end),
                }
                term = Pty(command, pass_fds=(read_end,), env=env_vars)
                os.close(read_end)
                direct.append(await term.seconds_until_ready())
                await term.quit()
            progress("keystroke echo: brokered session and direct ssh, on loopback")
            sshd, user = await brokered_target(node, token, key)
            target_known = folder / "target_known_hosts"
            target_known.write_text(f"bench {sshd.public_key}\n")
            connect = f"connect bench01/{user}"
            direct_ssh = ssh_args(sshd.port, key, target_known, f"{user}@127.0.0.1")
            jump = [*direct_ssh[:-1], "-o", f"ProxyCommand={shlex.join(direct_ssh)} -W %h:%p"]
            loopback = await echo_runs(
                runs, keys, [[*ssh, connect], direct_ssh, [*jump, direct_ssh[-1]]], gateway.pid
            )
            delayed = None
            if user_rtt_ms > 0:
                progress(f"keystroke echo over a user link of {user_rtt_ms:g} ms round trip")
                proxies = [
                    DelayProxy(port, user_rtt_ms / 2000)
                    for port in (config.gateway.port, sshd.port)
                ]
                delayed = await echo_runs(
                    runs,
                    keys,
                    [
                        [*ssh_args(proxies[0].port, key, known, "admin@127.0.0.1"), connect],
                        ssh_args(proxies[1].port, key, target_known, f"{user}@127.0.0.1"),
                    ],
                    gateway.pid,
                )
        finally:
            for proxy in proxies:
                proxy.close()
            stop_gateway_process(gateway)
            if sshd is not None:
                sshd.close()
            shutil.rmtree(folder, ignore_errors=True)
    if via_ssh:
        ratio = statistics.median(via_ssh) / statistics.median(direct)
        print(f"ssh start to TUI main screen : {summary_ms(via_ssh)}")
        print(f"same TUI started directly    : {summary_ms(direct)}")
        print(f"median ratio (gateway/direct): {ratio:.2f}")
    report_echo("keystroke echo on loopback (time to read the echo off the pty):", *loopback)
    if delayed is not None:
        report_echo(
            f"keystroke echo over a user link of {user_rtt_ms:g} ms round trip (the same "
            "delay proxy in front of the gateway and the direct sshd):",
            *delayed,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keys", type=int, default=200, help="keystrokes per echo run")
    parser.add_argument(
        "--user-rtt-ms",
        type=float,
        default=2.0,
        help="the user's link round trip for the second echo run (0: loopback only)",
    )
    parser.add_argument(
        "--screen-runs", type=int, help="runs of the first-screen measure (default: --runs)"
    )
    parser.add_argument("--serve-gateway", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--gateway-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_gateway:
        serve_gateway(args.serve_gateway, args.gateway_port, args.url)
    else:
        screen_runs = args.runs if args.screen_runs is None else args.screen_runs
        asyncio.run(main(args.runs, args.keys, args.user_rtt_ms, screen_runs))
    sys.exit(0)
