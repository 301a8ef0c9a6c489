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
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from server.security.ssh_keys import host_key_fingerprint
from server.services import entitlement
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


async def pinned_target(admin, sshd, name: str) -> tuple[str, str, dict]:
    """A target user on the test sshd with a fresh password, and a Linux resource ``name``
    holding that account with the daemon's host key pinned: (secret, user, resource)."""
    secret = f"Tgt-{secrets.token_hex(10)}"
    user = sshd.add_user(secret)
    res = await linux_resource(admin, sshd, name, {user: secret})
    await pin(admin, res["id"], sshd)
    return secret, user, res


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
    secret, user, res = await pinned_target(admin, sshd, "web01")
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
        # The account's row must be there before Tab moves to it (the key bar's "Connect"
        # shows before the accounts have loaded: a loaded CI run pressed t on none).
        await term.expect(rf"{user}\s+\S+\s+view")
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
    secret, user, res = await pinned_target(admin, sshd, "web02")
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


async def test_a_stuck_target_blocks_no_other_session(api, admin, gateway, ssh_dir, sshd):
    """Issue 30 item 6: two targets that never finish a connect (one accepts TCP and never
    speaks, one sends its banner and stalls) keep erin's two connects waiting; meanwhile
    frank's brokered session to a working sshd runs a command and his gateway login lands
    in the TUI. Then erin's connects end at the connect timeout with a clear message, and
    each is audited (session_refused, timeout); the password reached nothing."""
    config, known = gateway
    config.gateway.connect_timeout_seconds = 12.0
    silent = socket.socket()  # accepts (the kernel's backlog) and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[asyncio.StreamWriter] = []

    async def banner_then_nothing(_reader, writer) -> None:
        writer.write(b"SSH-2.0-Stuck_1.0\r\n")
        held.append(writer)

    staller = await asyncio.start_server(banner_then_nothing, "127.0.0.1", 0)
    ports = {"stuck01": silent.getsockname()[1], "stuck02": staller.sockets[0].getsockname()[1]}
    secret = f"Tgt-{secrets.token_hex(10)}"
    user = sshd.add_user(secret)
    terms: list[Terminal] = []
    try:
        good = await linux_resource(admin, sshd, "web04", {user: secret})
        await pin(admin, good["id"], sshd)
        stuck = []
        for name, port in ports.items():
            res = await linux_resource(admin, sshd, name, {user: secret})
            status, body = await admin.call(
                "PUT",
                f"/orgs/{ORG}/resources/{res['id']}/connection",
                {
                    "connector": "ssh",
                    "host": "127.0.0.1",
                    "port": port,
                    "host_key": sshd.fingerprint,
                },
            )
            assert status == 200, body
            stuck.append(res["id"])
        await person(api, admin, "erin30", ssh_dir, "good", stuck)
        await person(api, admin, "frank30", ssh_dir, "old", [good["id"]])

        waiting = [connect(config, known, ssh_dir, "good", "erin30", f"{n}/{user}") for n in ports]
        terms += waiting
        await asyncio.sleep(1.0)  # both connects under way
        began = time.monotonic()
        verbose = ("-tt", "-v")  # -v: which cipher was agreed
        term = Terminal(
            ssh_args(
                config, known, ssh_dir / "old", "frank30", *verbose, command=f"connect web04/{user}"
            )
        )
        terms.append(term)
        await term.expect(f"connected to web04/{user}")
        # The gateway offers no chacha20 (slow per packet in asyncssh): OpenSSH picks AES.
        assert re.search(r"kex: server->client cipher: aes\d+-(ctr|gcm)", term.text())
        assert "chacha20" not in re.findall(r"kex: \S+ cipher: \S+", term.text())[0]
        term.type("echo free-$((3*4))\r")
        await term.expect("free-12")
        term.type("exit\r")
        assert await term.exit_code() == 0
        tui = Terminal(ssh_args(config, known, ssh_dir / "old", "frank30", "-tt"))
        terms.append(tui)
        await tui.expect_bytes(b"Quit", limit=11)
        tui.type(b"\x11")
        assert await tui.exit_code() == 0
        took = time.monotonic() - began
        # All of that happened while erin's connects were still waiting on their targets.
        for stuck_term in waiting:
            assert stuck_term.proc.poll() is None, (took, stuck_term.text()[-500:])
            assert "timeout" not in stuck_term.text()
        for stuck_term in waiting:
            await stuck_term.expect("did not answer within 12 seconds", limit=20)
            assert await stuck_term.exit_code() == 1
            assert secret.encode() not in bytes(stuck_term.output)
        for _ in range(50):
            refused = await events(admin, "session_refused", "erin30")
            if len(refused) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(r["target"] for r in refused) == [f"stuck01/{user}", f"stuck02/{user}"]
        assert {r["reason"] for r in refused} == {"timeout"}
    finally:
        for t in terms:
            t.close()
        for writer in held:
            writer.close()
        staller.close()
        silent.close()


async def test_connect_refusals_are_audited_as_a_reveals(
    api, admin, gateway, ssh_dir, sshd, owner_conn
):
    """Issue 30: a connect refused by entitlement is an access_denied event in the
    actor's org, as a refused reveal is (services/denials.py): not entitled, an org out
    of reach (or none), outside a check-out window. The user is told no more than a
    reveal tells: not entitled and no such account read the same. No password, no
    reason typed, in any event."""
    config, known = gateway
    secret, user, res = await pinned_target(admin, sshd, "web05")
    account = res["accounts"][user]
    ctl = await linux_resource(admin, sshd, "web06", {user: secret})
    await pin(admin, ctl["id"], sshd)
    gina = await person(api, admin, "gina30", ssh_dir, "plain", [ctl["id"]])  # not web05
    await make_user(admin, "appr30", "password_user")
    status, body = await admin.call(
        "POST",
        f"/orgs/{ORG}/resources/{ctl['id']}/shares",
        {"user": "appr30", "permission": "view"},
    )
    assert status == 201, body
    status, body = await admin.call(
        "PUT",
        f"/orgs/{ORG}/accounts/{ctl['accounts'][user]}/access-control",
        {"enabled": True, "approvers": ["appr30"], "max_window_minutes": 30, "exclusive": True},
    )
    assert status == 200, body
    status, body = await gina.call("POST", f"/orgs/{ORG}/accounts/{account}/reveal", {})
    assert (status, body["code"]) == (404, "not_found"), body

    async def refused_line(target: str) -> str:
        term = connect(config, known, ssh_dir, "plain", "gina30", target)
        try:
            await term.expect("refused")
            assert await term.exit_code() == 1
        finally:
            term.close()
        assert secret.encode() not in bytes(term.output)
        return next(line for line in term.text().splitlines() if "refused" in line)

    not_entitled = await refused_line(f"web05/{user} typed-reason-words")
    assert "not_found" in not_entitled
    assert await refused_line("web05/nobody-here") == not_entitled
    status, body = await gina.call("POST", f"/orgs/Globex/accounts/{account}/reveal", {})
    assert (status, body["code"]) == (404, "not_found"), body
    out_of_reach = await refused_line(f"Globex/web05/{user}")
    assert out_of_reach == f"Strongroom: refused (not_found): {body['detail']}"  # as a reveal
    assert "checkout_required" in await refused_line(f"web06/{user}")

    denied: list[dict] = []
    for _ in range(50):
        denied = [
            d
            for d in await events(admin, "access_denied", "gina30")
            if d["details"]["method"] == "SSH"  # not the reveals above (also recorded)
        ]
        if {d["reason"] for d in denied} >= {"not_found", "checkout_required"}:
            break
        await asyncio.sleep(0.1)
    by_reason = {d["reason"]: d for d in denied}
    first = by_reason["not_found"]
    assert first["details"]["route"] == "ssh connect {org}/{resource}/{account}"
    assert first["details"]["method"] == "SSH"
    assert first["details"]["paths"] == [f"connect {ORG}/web05/{user}"]
    assert first["outcome"] == "failure" and first["actor"] == "gina30"
    assert by_reason["checkout_required"]["details"]["paths"] == [f"connect {ORG}/web06/{user}"]
    dumped = json.dumps(denied)
    assert secret not in dumped and "typed-reason-words" not in dumped


async def cut_while_running(term: Terminal, target: str, change, expect: str) -> float:
    """A brokered session to ``target`` on ``term``: once it runs (a command answered),
    ``change`` is applied; the session must end with ``expect`` on the user's terminal.
    Returns the seconds from the change's commit to the cut."""
    try:
        await term.expect(f"connected to {target}")
        term.type("echo live-$((5*5))\r")
        await term.expect("live-25")
        await change()
        began = time.monotonic()
        await term.expect(expect, limit=15)
        took = time.monotonic() - began
        assert await term.exit_code() != 0
    finally:
        term.close()
    return took


@pytest.fixture(scope="module")
def user_keys(tmp_path_factory) -> Path:
    """A key pair per user of the test below (ssh-keygen), named after the user."""
    folder = tmp_path_factory.mktemp("gateway-cut-keys")
    for name in ("hank30", "ivy30", "jack30", "kim30", "lee30"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", folder / name],
            check=True,
        )
    return folder


async def test_session_is_cut_when_the_right_to_it_goes(
    api, admin, gateway, user_keys, sshd, monkeypatch
):
    """Issue 30 item 4 / attack pass F1: a brokered session runs only while the rule of a
    reveal (account_use_rule) still lets its user use the account, asked again every
    session_check_seconds: a share revoked, the user removed from the group whose share
    gave access, the user disabled each cut it within a few checks, with a clear message
    on the user's terminal and session_ended's ended_by saying why; a database error
    during the check ends it too (check_failed: fail closed). F4: a resource with no
    pinned host key is refused before anything is committed (only session_refused, no
    session_started), and only to an entitled user. The password is in no output."""
    config, known = gateway
    every = config.gateway.session_check_seconds
    secret, user, res = await pinned_target(admin, sshd, "web07")
    target = f"web07/{user}"
    keys = user_keys
    await person(api, admin, "hank30", keys, "hank30", [])
    await person(api, admin, "ivy30", keys, "ivy30", [])
    await person(api, admin, "jack30", keys, "jack30", [res["id"]])
    await person(api, admin, "kim30", keys, "kim30", [res["id"]])
    share = f"/orgs/{ORG}/resources/{res['id']}/shares"
    status, hanks = await admin.call("POST", share, {"user": "hank30", "permission": "view"})
    assert status == 201, hanks
    group = {"name": "ops30", "members": ["ivy30"]}
    status, body = await admin.call("POST", "/orgs/MSPOrg/groups", group)
    assert status == 201, body
    status, body = await admin.call("POST", share, {"group": "ops30", "permission": "view"})
    assert status == 201, body
    took: dict[str, float] = {}
    terms: dict[str, Terminal] = {}

    def session(name: str) -> Terminal:
        terms[name] = connect(config, known, keys, name, name, target)
        return terms[name]

    async def revoke_share() -> None:
        status, body = await admin.call("DELETE", f"{share}/{hanks['id']}")
        assert status in (200, 204), body

    took["hank30"] = await cut_while_running(
        session("hank30"), target, revoke_share, "no longer entitled"
    )

    async def leave_group() -> None:
        status, body = await admin.call("PATCH", "/orgs/MSPOrg/groups/ops30", {"members": []})
        assert status == 200, body

    took["ivy30"] = await cut_while_running(
        session("ivy30"), target, leave_group, "no longer entitled"
    )

    async def disable() -> None:
        status, body = await admin.call(
            "PATCH", "/orgs/MSPOrg/users/jack30", {"status": "disabled"}
        )
        assert status == 200, body

    took["jack30"] = await cut_while_running(
        session("jack30"), target, disable, "your user was disabled"
    )

    async def database_away(*_args, **_kwargs):
        raise asyncpg.ConnectionDoesNotExistError("the database went away")

    async def break_the_check() -> None:
        monkeypatch.setattr(entitlement, "use_refusal", database_away)

    took["kim30"] = await cut_while_running(
        session("kim30"), target, break_the_check, "could not be checked"
    )
    monkeypatch.undo()
    # Each was cut within a few checks of the change (the first check after it cuts; the
    # bound leaves room for a loaded machine).
    assert all(t < 2 * every + 3.0 for t in took.values()), took
    for term in terms.values():
        assert secret.encode() not in bytes(term.output)
    want = {
        "hank30": "not_entitled",
        "ivy30": "not_entitled",
        "jack30": "user_disabled",
        "kim30": "check_failed",
    }
    got: dict[str, str] = {}
    for _ in range(50):  # written when each channel closed, in the background
        got = {
            e["actor"]: e["details"]["ended_by"]
            for e in await events(admin, "session_ended")
            if e["actor"] in want
        }
        if got == want:
            break
        await asyncio.sleep(0.1)
    assert got == want

    # F4: a resource with no pinned host key. kim30 (entitled) is told so, and nothing
    # was committed but session_refused; hank30 (not entitled) hears what a reveal says.
    bare = await linux_resource(admin, sshd, "web08", {user: secret})
    status, body = await admin.call(
        "POST",
        f"/orgs/{ORG}/resources/{bare['id']}/shares",
        {"user": "kim30", "permission": "view"},
    )
    assert status == 201, body
    for name, answer in (("kim30", "host_key_unknown"), ("hank30", "not_found")):
        term = connect(config, known, keys, name, name, f"web08/{user}")
        try:
            await term.expect(answer)
            assert await term.exit_code() == 1
        finally:
            term.close()
        assert secret.encode() not in bytes(term.output)
    started = [e["target"] for e in await events(admin, "session_started", "kim30")]
    assert started == [target], started
    refused = await events(admin, "session_refused", "kim30")
    assert [(r["target"], r["reason"]) for r in refused] == [
        (f"web08/{user}", "host_key_unknown")
    ], refused
    assert await events(admin, "session_refused", "hank30") == []


async def login_idle_in(owner_conn, username: str, seconds: float) -> None:
    """Move ``username``'s sessions' last-seen so that their idle limit (the gateway's
    ``security.session_idle_minutes``) runs out ``seconds`` from now (negative: it has)."""
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        await owner_conn.execute(
            "UPDATE sessions SET last_seen_at = now() - make_interval(mins => $2) "
            "+ make_interval(secs => $3) "
            "WHERE user_id = (SELECT id FROM users WHERE username = $1)",
            username,
            LOGIN_IDLE_MINUTES,
            seconds,
        )


async def login_last_seen_age(owner_conn, username: str) -> float:
    """Seconds since ``username``'s newest session was last seen."""
    async with owner_conn.transaction():
        org = await owner_conn.fetchval("SELECT id FROM orgs WHERE display_name = $1", ORG)
        await owner_conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
        age = await owner_conn.fetchval(
            "SELECT extract(epoch FROM now() - max(last_seen_at)) FROM sessions "
            "WHERE user_id = (SELECT id FROM users WHERE username = $1)",
            username,
        )
    return float(age)


LOGIN_IDLE_MINUTES = 30  # security.session_idle_minutes, the default the gateway runs with


async def test_typing_in_a_brokered_session_keeps_the_login_alive(
    api, admin, gateway, user_keys, sshd, owner_conn
):
    """Session 10's note, left: a long brokered session was cut by the gateway login's
    idle limit although the user kept typing in it (nothing refreshed the login while no
    TUI request was made), and recorded as closed by the user. Now the user's keys count
    as the login's activity: a login a few seconds from its idle limit outlives it while
    its user types; left without a key past the limit, the brokered session ends saying
    so on the user's terminal, recorded ``credential_ended``."""
    config, known = gateway
    assert config.security.session_idle_minutes == LOGIN_IDLE_MINUTES
    every = config.gateway.session_check_seconds
    secret, user, res = await pinned_target(admin, sshd, "web09")
    target = f"web09/{user}"
    await person(api, admin, "lee30", user_keys, "lee30", [res["id"]])
    term = connect(config, known, user_keys, "lee30", "lee30", target)
    try:
        await term.expect(f"connected to {target}")
        term.type("echo up-$((3*3))\r")
        await term.expect("up-9")
        await login_idle_in(owner_conn, "lee30", 3)
        deadline = time.monotonic() + 3
        n = 0
        while time.monotonic() < deadline + 4 * every + 2:  # well past the old limit
            n += 1
            term.type(f"echo tick-$(({n}*11))\r")
            await term.expect(f"tick-{n * 11}")
            await asyncio.sleep(0.3)
        assert await login_last_seen_age(owner_conn, "lee30") < 30
        term.type("echo still-$((4*4))\r")
        await term.expect("still-16")

        # No key from the user any more, and the login past its idle limit: cut, saying so.
        await asyncio.sleep(2 * every + 0.5)  # the last keys' refresh is done
        await login_idle_in(owner_conn, "lee30", -1)
        await term.expect("your Strongroom session ended", limit=10 + 4 * every)
        assert await term.exit_code() != 0
    finally:
        term.close()
    assert secret.encode() not in bytes(term.output)
    ended: list[str] = []
    for _ in range(50):  # written when the channel closed, in the background
        ended = [e["details"]["ended_by"] for e in await events(admin, "session_ended", "lee30")]
        if ended:
            break
        await asyncio.sleep(0.1)
    assert ended == ["credential_ended"], ended
