"""Fixtures for TUI tests: a real ``strongroom serve`` process on the module's database,
and helpers to drive the real app with Pilot."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.core.config import render_config
from tests.conftest import config_for, free_port
from tests.server.conftest import ADMIN, ADMIN_PASSWORD, msp  # noqa: F401 - fixture
from tui.app import StrongroomApp
from tui.client import Client, Endpoint

SNAPSHOT_PORT = 27272  # fixed (shown on screen), below the ephemeral range (32768+)


@dataclass
class TuiServer:
    """A running server process and how to reach it."""

    url: str
    cert: Path
    process: subprocess.Popen

    def api(
        self, method: str, path: str, body: dict | None = None, token: str | None = None
    ) -> tuple[int, dict]:
        """A blocking JSON call (for setting up data around the app under test)."""
        ctx = ssl.create_default_context(cafile=str(self.cert))
        ctx.check_hostname = False
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(
            self.url + "/api/v1" + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def login(self, username: str, password: str, org: str | None = None) -> str:
        """A session token."""
        body = {"username": username, "password": password} | ({"org": org} if org else {})
        status, answer = self.api("POST", "/auth/login", body)
        assert status == 200, answer
        return answer["token"]


def start_serve(config, port: int, extra_env: dict | None = None) -> TuiServer:
    """Write a config for ``config`` and run ``strongroom serve`` on ``port``."""
    config.server.port = port
    conf = config.home / "conf" / f"tui-{config.database.name}-{port}.toml"
    conf.write_text(render_config(config))
    conf.chmod(0o600)
    env = {**os.environ, "STRONGROOM_SERVER_HOST": "127.0.0.1", **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "server.ops.cli", "serve", "--config", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    server = TuiServer(f"https://127.0.0.1:{port}", config.home / "conf" / "tls.crt", process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if server.api("GET", "/health")[0] in (200, 503):
                return server
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("strongroom serve did not start")


@pytest.fixture(scope="module")
def tui_server(request, pg_server, install_files, database, msp) -> Iterator[TuiServer]:  # noqa: F811
    """``strongroom serve`` as a real process on this module's database (on the snapshot
    port if the module takes screenshots, which show it; else on a free port, so a module
    running on another xdist worker never holds the snapshot port)."""
    config = config_for(pg_server, install_files, database)
    config.security.argon2_memory_kib = 19456
    snapshots = any(
        "snap_compare" in getattr(item, "fixturenames", ())
        for item in request.session.items
        if item.path == request.node.path
    )
    port = SNAPSHOT_PORT if snapshots and _port_free(SNAPSHOT_PORT) else free_port()
    server = start_serve(config, port)
    yield server
    server.process.terminate()
    server.process.wait(timeout=20)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def make_app(tui_server, tmp_path):
    """Build the real app pointed at the test server (its own known_hosts file)."""

    def build(
        url: str | None = None, secondary: str | None = None, reveal_seconds: float = 10
    ) -> StrongroomApp:
        endpoints = [Endpoint.parse(url or tui_server.url)]
        if secondary:
            endpoints.append(Endpoint.parse(secondary))
        client = Client(endpoints, known_hosts=tmp_path / "known_hosts.json")
        return StrongroomApp(client, reveal_seconds=reveal_seconds)

    return build


async def settle(pilot, seconds: float = 0.3) -> None:
    """Let the screen catch up for a moment (only where there is no condition to wait for,
    e.g. before a snapshot)."""
    for _ in range(int(seconds / 0.05)):
        await pilot.pause(0.05)


async def until(pilot, condition, limit: float = 20.0, what: str = "") -> None:
    """Wait until ``condition()`` holds (bounded; generous for a busy 2-core machine)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.05)
    app = pilot.app
    raise AssertionError(
        f"the screen never reached the expected state {what}: on {app.screen!r}, "
        f"focus {app.screen.focused!r}, notifications "
        f"{[n.message for n in app._notifications]}"
    )


async def type_text(pilot, text: str) -> None:
    """Type ``text`` key by key."""
    await pilot.press(*text)


async def log_in(pilot, username: str, password: str, org: str = "", otp: str = "") -> None:
    """Type the credentials into the login screen (focus starts on the username) and
    wait for the answer: the next screen, a notification, or the code field."""
    from textual.widgets import Input

    app = pilot.app
    screen = app.screen
    otp_input = screen.query_one("#otp", Input)
    await until(pilot, lambda: screen.focused is not None, what="(login focus)")
    # The org field holds the org of the last login (or the URL's): always set it.
    await pilot.press("shift+tab", "ctrl+u")
    await type_text(pilot, org)
    await pilot.press("tab")
    await type_text(pilot, username)
    await pilot.press("tab")
    await type_text(pilot, password)
    notified = len(app._notifications)
    asked_code = not otp_input.has_class("hidden")
    await pilot.press("enter")
    await until(
        pilot,
        lambda: (
            app.screen is not screen
            or len(app._notifications) > notified
            or (not asked_code and not otp_input.has_class("hidden"))
        ),
        what="(after login)",
    )
    if otp:
        await type_text(pilot, otp)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is not screen, what="(after the code)")


def make_user(server, token: str, username: str, role: str, org: str = "MSPOrg") -> str:
    """Create a user in ``org`` that has set its own password (set-up around the app, as
    ``token`` an administrator's); return that password."""
    initial, final = f"initial-{username}-1", f"final-{username}-pw22"
    body = {"username": username, "role": role, "password": initial}
    status, body = server.api("POST", f"/orgs/{org}/users", body, token)
    assert status == 201, body
    own = server.login(username, initial, org)
    server.api("POST", "/me/password", {"current_password": initial, "new_password": final}, own)
    return final


def resource_with_account(
    server, token: str, resource: str, username: str, password: str, org: str = "MSPOrg"
) -> tuple[dict, dict]:
    """A Linux resource named ``resource`` in ``org`` with one account, made through the
    API as ``token``'s user; (the resource, the account) as the API answered them."""
    status, res = server.api(
        "POST", f"/orgs/{org}/resources", {"name": resource, "type": "Linux"}, token
    )
    assert status == 201, res
    status, account = server.api(
        "POST",
        f"/orgs/{org}/resources/{res['id']}/accounts",
        {"username": username, "password": password},
        token,
    )
    assert status == 201, account
    return res, account
