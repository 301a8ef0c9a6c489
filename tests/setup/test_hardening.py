"""Issue 13 against a real `strongroom serve` process: login throttling that cannot be
turned into a lock-out, and audit tail truncation caught by the anchor log."""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import ssl
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from server.core.config import load_config
from tests.conftest import free_port, scratch_dir
from tests.setup.conftest import run_cli

pytestmark = pytest.mark.slow

ADMIN, PASSWORD = "root.admin", "chosen-Admin-pass-1"


@dataclass
class Node:
    """A primary made by `strongroom init` and served by `strongroom serve --detach`."""

    home: Path
    port: int
    conf: str
    last_retry_after: int = 0  # the Retry-After of the last answer (0: none)

    def call(
        self, method: str, path: str, body=None, token: str = "", source: str = "127.0.0.1"
    ) -> tuple[int, dict]:
        """One HTTPS request from the loopback address ``source``; (status, JSON body)."""
        ctx = ssl.create_default_context(cafile=str(self.home / "conf" / "tls.crt"))
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=ctx, timeout=30, source_address=(source, 0)
        )
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, "/api/v1" + path, json.dumps(body) if body else None, headers)
            resp = conn.getresponse()
            text = resp.read()
            self.last_retry_after = int(resp.headers.get("Retry-After") or 0)
            return resp.status, json.loads(text) if text else {}
        finally:
            conn.close()

    def login(self, password: str, source: str = "127.0.0.1") -> tuple[int, dict]:
        """POST /auth/login as the administrator from ``source``."""
        return self.call(
            "POST", "/auth/login", {"username": ADMIN, "password": password}, source=source
        )


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    """One initialised, running node for the module; stopped and removed afterwards."""
    root = scratch_dir("strongroom-hardening-")
    home, port = root / "node", free_port()
    pw_file = root / "admin.pw"
    pw_file.write_text(PASSWORD + "\n")
    init = run_cli(
        "init",
        str(home),
        "--port",
        str(port),
        "--db-port",
        str(free_port()),
        "--admin-username",
        ADMIN,
        "--admin-password-file",
        str(pw_file),
        "--msp-totp-policy",  # these tests use admin's session at once (issue 27)
        "none",
    )
    assert init.returncode == 0, init.stderr
    conf = str(home / "conf" / "strongroom.toml")
    started = run_cli("serve", "--detach", "--config", conf)
    assert started.returncode == 0, started.stderr
    try:
        yield Node(home, port, conf)
    finally:
        run_cli("stop", "--config", conf, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_spray_from_eleven_addresses_does_not_lock_out_the_usual_address(node):
    """5 wrong passwords from each of 127.0.8.1-11 (55 attempts) leave the user's usual
    address working, while the attacker got few real guesses and a new address waits."""
    assert node.login(PASSWORD)[0] == 200  # 127.0.0.1 is now a known address
    answers, last_guess = [], time.monotonic()
    for host in range(1, 12):
        for _ in range(5):
            answers.append(node.login("wrong-password-1", source=f"127.0.8.{host}")[0])
            if answers[-1] == 401:
                last_guess = time.monotonic()
    assert set(answers) <= {401, 429}
    guesses = answers.count(401)
    assert guesses <= 20, answers  # few guesses: the per-user limit slows new addresses
    assert answers.count(429) >= 30
    status, body = node.login(PASSWORD)
    assert status == 200, body
    status, body = node.login(PASSWORD, source="127.0.8.12")  # never logged in from here
    # A new address waits 2^(guesses - 10) s after the last guess (server/security/
    # ratelimit.py); on a slow machine that wait may have run out, and then it may log in.
    if time.monotonic() - last_guess < 2 ** (guesses - 10) - 1:
        assert (status, body["code"]) == (429, "rate_limited")
        assert node.last_retry_after > 0


def test_log_files_are_not_world_readable(node):
    """The server's logs, its detached output and PostgreSQL's log are owner-only
    (issue 13, item 11)."""
    logs = [
        node.home / "logs" / "strongroom.log",
        node.home / "logs" / "server.out",
        node.home / "pgsql" / "postgresql.log",
    ]
    for path in logs:
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE((node.home / "logs").stat().st_mode) & 0o077 == 0


TRUNCATE_TAIL = """
WITH org AS (SELECT id FROM orgs WHERE is_msp),
     gone AS (DELETE FROM audit_links WHERE org_id = (SELECT id FROM org) AND seq > 56
              RETURNING event_id)
DELETE FROM audit_events WHERE id IN (SELECT event_id FROM gone);
UPDATE audit_heads h SET seq = l.seq, hash = l.hash FROM audit_links l, orgs o
WHERE o.is_msp AND h.org_id = o.id AND l.org_id = o.id AND l.seq = 56;
"""


def test_deleting_the_newest_events_is_caught_by_the_anchor_log(node):
    """As the database superuser: MSPOrg's last 3 events deleted and audit_heads moved
    back to link 56. `strongroom audit verify` and GET …/audit/verify both fail and name
    the missing tail, against the running server and its own anchor log."""
    new_password = PASSWORD + "-changed"
    status, body = node.login(PASSWORD)
    assert status == 200, body
    status, _ = node.call(
        "POST",
        "/me/password",
        {"current_password": PASSWORD, "new_password": new_password},
        token=body["token"],
    )
    assert status == 204
    token = node.login(new_password)[1]["token"]

    def verify() -> dict:
        status, result = node.call("GET", "/orgs/MSPOrg/audit/verify", token=token)
        assert status == 200, result
        return result

    for i in range(59 - verify()["events"]):
        body = {"name": f"server-{i}", "type": "Linux"}
        assert node.call("POST", "/orgs/MSPOrg/resources", body, token=token)[0] == 201
    assert (verify()["ok"], verify()["events"]) == (True, 59)
    assert (node.home / "audit" / "anchors.jsonl").exists()

    config = load_config(Path(node.conf))

    async def tamper() -> None:
        conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
        try:
            async with conn.transaction():
                await conn.execute(TRUNCATE_TAIL)
        finally:
            await conn.close()

    asyncio.run(tamper())
    cli = run_cli("audit", "verify", "--config", node.conf)
    assert cli.returncode != 0, cli.stdout
    assert "MSPOrg: BROKEN at event 57" in cli.stdout
    assert "links 57-59" in cli.stdout
    result = verify()
    assert (result["ok"], result["first_bad_seq"], result["anchored_seq"]) == (False, 57, 59)
    assert "missing" in result["problem"]
