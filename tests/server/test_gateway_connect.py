# ruff: noqa: F811 - the gateway and ssh_dir fixtures come from test_gateway
"""Brokered sessions through the SSH gateway (issue 30, items 4-5): OpenSSH's ``ssh`` in a
pty runs ``connect RESOURCE/ACCOUNT`` against the gateway, which opens SSH to a real
OpenSSH sshd (tests/targets/sshd.py) with the stored password, host key pinned. The user
runs a command on the target and the sealed recording replays it; the password never
reaches the user's terminal (nor the recording); a connect-only account is refused to a
reveal and allowed to connect; a controlled account is refused outside a check-out window
and cut at its end; a target presenting another host key is refused and audited."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.security.ssh_keys import host_key_fingerprint
from tests.server.conftest import make_user
from tests.server.test_gateway import (  # noqa: F401 - fixtures
    Terminal,
    gateway,
    ssh_args,
    ssh_dir,
)
from tests.server.test_rotation import linux_resource, pin
from tests.targets.sshd import Sshd

pytestmark = [
    pytest.mark.skipif(shutil.which("ssh") is None, reason="OpenSSH client missing"),
    pytest.mark.skipif(not Sshd.available(), reason="openssh-server is not installed"),
]

ORG = "MSPOrg"


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    """One target sshd for the module (its users are removed when it stops)."""
    with Sshd.started() as daemon:
        yield daemon


async def person(api, admin, name: str, ssh_dir: Path, key: str, resources: list[str]):
    """A password user with ``key`` registered and view on ``resources``."""
    password = await make_user(admin, name, "password_user")
    who = await api.login(name, password)
    pub = (ssh_dir / f"{key}.pub").read_text()
    status, made = await who.call("POST", "/me/ssh-keys", {"public_key": pub})
    assert status == 201, made
    for res in resources:
        status, body = await admin.call(
            "POST", f"/orgs/{ORG}/resources/{res}/shares", {"user": name, "permission": "view"}
        )
        assert status == 201, body
    return who


async def events(admin, operation: str, actor: str | None = None) -> list[dict]:
    query = f"operation={operation}&limit=50" + (f"&actor={actor}" if actor else "")
    status, page = await admin.call("GET", f"/orgs/{ORG}/audit?{query}")
    assert status == 200, page
    return page["items"]


def connect(config, known, ssh_dir: Path, key: str, user: str, target: str) -> Terminal:
    """``ssh -tt -p PORT user@gateway connect TARGET`` in a pty of 80x24."""
    return Terminal(
        ssh_args(config, known, ssh_dir / key, user, "-tt", command=f"connect {target}")
    )


async def test_brokered_session_is_recorded_and_never_shows_the_password(
    api, admin, gateway, ssh_dir, sshd
):
    """A connect-only account: its reveal is refused (403 connect_only); ``connect`` opens
    the target's shell, the user runs a command there and leaves; the password appears in
    nothing the user's terminal received; session_started / session_ended are audited, the
    latter with the recording's SHA-256 and size; an auditor lists the recording and
    replays it (asciicast v2, the command's output in it); a password user may not."""
    config, known = gateway
    secret = f"Tgt-{secrets.token_hex(10)}"
    user = sshd.add_user(secret)
    res = await linux_resource(admin, sshd, "web01", {user: secret})
    await pin(admin, res["id"], sshd)
    account = res["accounts"][user]
    status, body = await admin.call(
        "PATCH", f"/orgs/{ORG}/accounts/{account}", {"connect_only": True}
    )
    assert (status, body["connect_only"]) == (200, True), body
    carol = await person(api, admin, "carol", ssh_dir, "carol", [res["id"]])
    status, body = await carol.call("POST", f"/orgs/{ORG}/accounts/{account}/reveal", {})
    assert (status, body["code"]) == (403, "connect_only"), body

    term = connect(config, known, ssh_dir, "carol", "carol", f"web01/{user}")
    try:
        await term.expect(f"connected to web01/{user}")
        await term.expect(r"[$#] ?$")
        term.type("echo broker-$((6*7))-ok; whoami\r")
        await term.expect("broker-42-ok")
        await term.expect(user)
        term.type("exit\r")
        assert await term.exit_code() == 0
    finally:
        term.close()
    assert secret.encode() not in bytes(term.output)

    started = await events(admin, "session_started", "carol")
    assert started and started[0]["target"] == f"web01/{user}", started
    assert started[0]["details"]["via"] == "ssh_gateway"
    ended = None
    for _ in range(50):  # written when the channel closed, in the background
        found = await events(admin, "session_ended", "carol")
        if found:
            ended = found[0]
            break
        await asyncio.sleep(0.1)
    assert ended is not None
    details = ended["details"]
    assert details["session_id"] == started[0]["details"]["session_id"]
    assert details["bytes_out"] > 0 and details["bytes_in"] > 0
    assert details["duration_seconds"] > 0 and details["ended_by"] == "target_closed"

    status, listed = await admin.call("GET", f"/orgs/{ORG}/session-recordings")
    assert status == 200, listed
    item = next(i for i in listed["items"] if i["id"] == details["recording_id"])
    assert (item["sha256"], item["size"]) == (
        details["recording_sha256"],
        details["recording_size"],
    )
    status, got = await admin.call(
        "GET", f"/orgs/{ORG}/session-recordings/{details['recording_id']}"
    )
    assert status == 200, got
    cast = got["cast"].encode()
    assert hashlib.sha256(cast).hexdigest() == details["recording_sha256"]
    assert len(cast) == details["recording_size"]
    lines = got["cast"].splitlines()
    header = json.loads(lines[0])
    assert (header["version"], header["width"], header["height"]) == (2, 80, 24)
    frames = [json.loads(line) for line in lines[1:]]
    assert all(kind == "o" and isinstance(at, float | int) for at, kind, _ in frames)
    replayed = "".join(text for _, _, text in frames)
    assert "broker-42-ok" in replayed and secret not in got["cast"]
    read = await events(admin, "session_recording_read")
    assert read[0]["details"]["recording_id"] == details["recording_id"]
    # A password user reads no recording (nor the audit trail).
    status, body = await carol.call("GET", f"/orgs/{ORG}/session-recordings")
    assert (status, body["code"]) == (403, "not_audit_reader"), body
    # From the TUI: the account's `t` key leaves the TUI for the session, and Enter after
    # it brings the TUI back (same gateway session).
    term = Terminal(ssh_args(config, known, ssh_dir / "carol", "carol", "-tt"))
    try:
        await term.expect("web01", limit=60)
        term.type("\t")
        await term.expect("Connect")
        term.type("t")
        await term.expect(f"connected to web01/{user}")
        await term.expect(r"[$#] ?$")
        term.type("echo from-tui-$((1+1))\r")
        await term.expect("from-tui-2")
        term.type("exit\r")
        await term.expect("Press Enter to return to the vault")
        shown = len(term.output)
        term.type("\r")
        await term.expect_bytes(b"Vault", since=shown, limit=60)
        term.type(b"\x11")  # Ctrl+Q: the TUI ends, and the connection
        assert await term.exit_code() == 0
    finally:
        term.close()
    assert secret.encode() not in bytes(term.output)
    assert len(await events(admin, "session_started", "carol")) == 2
    # Any other exec is still refused.
    term = Terminal(ssh_args(config, known, ssh_dir / "carol", "carol", command="id"))
    try:
        assert await term.exit_code() != 0
    finally:
        term.close()


async def checked_out(owner_conn, account: str, username: str) -> str:
    """An approved, open check-out of ``account`` for ``username`` (the approval flow is
    tested in test_password_requests.py; here only what the window does to a session)."""
    now = datetime.datetime.now(datetime.UTC)
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE is_msp")
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        user_id = await owner_conn.fetchval("SELECT id FROM users WHERE username = $1", username)
        rid = await owner_conn.fetchval(
            "INSERT INTO password_requests (org_id, account_id, requester_id, requester_name, "
            "requester_org, reason, window_minutes, status, expires_at, decided_at, starts_at, "
            "ends_at) VALUES ($1, $2, $3, $4, 'MSPOrg', 'test', 10, 'approved', $5, $6, "
            "$6, $5) RETURNING id",
            org,
            uuid.UUID(account),
            user_id,
            username,
            now + datetime.timedelta(minutes=10),
            now - datetime.timedelta(seconds=1),
        )
        await owner_conn.execute(
            "INSERT INTO open_checkouts (request_id, org_id, ends_at) VALUES ($1, $2, $3)",
            rid,
            org,
            now + datetime.timedelta(minutes=10),
        )
    return str(rid)


async def end_window(owner_conn, rid: str) -> None:
    """Move a check-out's window end into the past, as time would."""
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE password_requests SET ends_at = now() - interval '1 second' "
            "WHERE id = $1::uuid",
            rid,
        )


async def test_checkout_window_and_pinned_host_key(api, admin, gateway, ssh_dir, sshd, owner_conn):
    """A controlled account: connect refused without a check-out (checkout_required);
    inside an approved window the session opens, and it is cut when the window ends.
    A target pinned to another key: refused before any password is sent, and audited."""
    config, known = gateway
    secret = f"Tgt-{secrets.token_hex(10)}"
    user = sshd.add_user(secret)
    res = await linux_resource(admin, sshd, "web02", {user: secret})
    await pin(admin, res["id"], sshd)
    account = res["accounts"][user]
    await person(api, admin, "dave", ssh_dir, "dave", [res["id"]])
    await person(api, admin, "appr", ssh_dir, "other", [res["id"]])
    status, control = await admin.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{account}/access-control",
        {"enabled": True, "approvers": ["appr"], "max_window_minutes": 30, "exclusive": True},
    )
    assert status == 200, control

    term = connect(config, known, ssh_dir, "dave", "dave", f"web02/{user}")
    try:
        await term.expect("checkout_required")
        assert await term.exit_code() == 1
    finally:
        term.close()
    refused = await events(admin, "session_refused", "dave")
    assert refused[0]["reason"] == "checkout_required", refused

    rid = await checked_out(owner_conn, account, "dave")
    term = connect(config, known, ssh_dir, "dave", "dave", f"web02/{user}")
    try:
        await term.expect(f"connected to web02/{user}")
        term.type("echo inside-$((2+3))\r")
        await term.expect("inside-5")
        await end_window(owner_conn, rid)
        await term.expect("check-out window ended", limit=15)
        assert await term.exit_code() != 0
    finally:
        term.close()
    assert secret.encode() not in bytes(term.output)
    for _ in range(50):
        ended = await events(admin, "session_ended", "dave")
        if ended:
            break
        await asyncio.sleep(0.1)
    assert ended[0]["details"]["ended_by"] == "window_ended"

    # Another resource on the same target, pinned to a key the target does not have.
    other = await linux_resource(admin, sshd, "web03", {user: secret})
    wrong = host_key_fingerprint(Path(config.gateway.host_key))
    status, body = await admin.call(
        "PUT",
        f"/orgs/{ORG}/resources/{other['id']}/connection",
        {"connector": "ssh", "host": sshd.host, "port": sshd.port, "host_key": wrong},
    )
    assert status == 200, body
    status, body = await admin.call(
        "POST",
        f"/orgs/{ORG}/resources/{other['id']}/shares",
        {"user": "dave", "permission": "view"},
    )
    assert status == 201, body
    term = connect(config, known, ssh_dir, "dave", "dave", f"web03/{user}")
    try:
        await term.expect("host_key_changed")
        assert await term.exit_code() == 1
    finally:
        term.close()
    refused = await events(admin, "target_host_key_refused", "dave")
    assert refused[0]["details"]["pinned_fingerprint"] == wrong
    assert refused[0]["details"]["presented"] == sshd.fingerprint
