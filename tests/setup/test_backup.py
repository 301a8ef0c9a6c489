"""Encrypted backup and restore with real nodes, real pg_dump/pg_restore and real servers."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from replication.cluster import port_is_free
from server.core.config import load_config
from tests.conftest import free_port
from tests.setup.conftest import run_cli
from tests.setup.test_silent_install import answer_file

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "chosen-Admin-pass-1"
NEW_PASSWORD = "changed-Admin-pass-2"
SECRET = "Vault-Secret-7!xq"
PASSPHRASE = "correct horse battery staple"


def api(home: Path, port: int, method: str, path: str, body=None, token: str | None = None):
    """One HTTPS call trusting only the node's certificate; answer (status, JSON body)."""
    ctx = ssl.create_default_context(cafile=str(home / "conf" / "tls.crt"))
    ctx.check_hostname = False
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"https://127.0.0.1:{port}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


def login(home: Path, port: int, password: str) -> str:
    """Log admin in; answer the session token."""
    status, body = api(
        home, port, "POST", "/auth/login", {"username": "admin", "password": password}
    )
    assert status == 200, body
    return body["token"]


def first_login(home: Path, port: int) -> str:
    """Log admin in for the first time and change its password; answer the session token."""
    token = login(home, port, ADMIN_PASSWORD)
    body = {"current_password": ADMIN_PASSWORD, "new_password": NEW_PASSWORD}
    status, _ = api(home, port, "POST", "/me/password", body, token)
    assert status == 204
    return login(home, port, NEW_PASSWORD)


def init_node(root: Path, name: str) -> tuple[Path, int, Path]:
    """A fresh primary (admin's password chosen); answer (home, HTTPS port, config)."""
    home, port = root / name, free_port()
    pw = root / "admin.pw"
    pw.write_text(ADMIN_PASSWORD + "\n")
    result = run_cli(
        "init",
        str(home),
        "--port",
        str(port),
        "--db-port",
        str(free_port()),
        "--admin-password-file",
        str(pw),
        "--msp-totp-policy",  # these tests use admin's session at once (issue 27)
        "none",
    )
    assert result.returncode == 0, result.stderr
    return home, port, home / "conf" / "strongroom.toml"


def refused(result, fragment: str) -> None:
    """A refusal: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("strongroom: error:"), result.stderr
    assert fragment in last, result.stderr


def leftovers(root: Path) -> list[str]:
    """Hidden staging folders a restore might have left beside its target."""
    return [p.name for p in root.iterdir() if p.name.startswith(".")]


def test_backup_verify_restore_serve_reveal(install_root):
    """A secret written before the backup reveals identically on a node restored from it
    in a fresh directory; the restored node's chains verify and record the restore; a
    wrong passphrase, a flipped byte, a truncated file and a non-empty target are each
    refused, leaving nothing behind."""
    home, port, conf = init_node(install_root, "node")
    assert run_cli("serve", "--detach", "--config", str(conf)).returncode == 0
    token = first_login(home, port)
    status, resource = api(
        home, port, "POST", "/orgs/MSPOrg/resources", {"name": "db01", "type": "Linux"}, token
    )
    assert status == 201, resource
    status, account = api(
        home,
        port,
        "POST",
        f"/orgs/MSPOrg/resources/{resource['id']}/accounts",
        {"username": "root", "password": SECRET},
        token,
    )
    assert status == 201, account

    pp = install_root / "backup.pp"
    pp.write_text(PASSPHRASE + "\n")
    weak = install_root / "weak.pp"
    weak.write_text("short\n")
    refused(run_cli("backup", "--config", str(conf), "--passphrase-file", str(weak)), "at least 12")

    # A stream of writes while the backup runs: the snapshot must hold each resource
    # together with its audit event, or neither.
    writing = threading.Event()
    writes: list[int] = []

    def write_stream() -> None:
        while not writing.is_set():
            body = {"name": f"busy{len(writes)}", "type": "Linux"}
            writes.append(api(home, port, "POST", "/orgs/MSPOrg/resources", body, token)[0])

    writer = threading.Thread(target=write_stream)
    writer.start()
    started = time.monotonic()
    try:
        made = run_cli("backup", "--config", str(conf), "--passphrase-file", str(pp))
    finally:
        backup_seconds = time.monotonic() - started
        writing.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert writes and set(writes) == {201}
    files = sorted((home / "backups").glob("*.srbk"))
    assert len(files) == 1
    backup = files[0]
    manifest = json.loads((backup.parent / (backup.name + ".manifest.json")).read_text())
    assert manifest["node"] == "node1" and manifest["schema_version"] >= 11
    assert manifest["bytes"] == backup.stat().st_size
    raw = backup.read_bytes()
    assert SECRET.encode() not in raw and b"PGDMP" not in raw
    assert (home / "conf" / "master.key").read_bytes() not in raw
    assert not list((home / "backups").glob(".*"))  # no temporary file left

    status, health = api(home, port, "GET", "/health")
    assert health["last_backup"]["at"] == manifest["created_at"]
    assert health["last_backup"]["ok"] is True and health["degraded"] is False
    status_out = run_cli("status", "--config", str(conf)).stdout
    assert f"last good {manifest['created_at']}" in status_out

    verified = run_cli("backup", "verify", str(backup), "--passphrase-file", str(pp))
    assert verified.returncode == 0, verified.stderr
    assert "backup ok" in verified.stdout

    # Refusals, each leaving nothing behind.
    wrong = install_root / "wrong.pp"
    wrong.write_text("not the right passphrase at all\n")
    flipped = install_root / "flipped.srbk"
    data = bytearray(raw)
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated = install_root / "truncated.srbk"
    truncated.write_bytes(raw[: len(raw) - 1000])
    db_port = free_port()
    target = install_root / "restored"
    cases = [
        (backup, wrong, "passphrase does not open"),
        (flipped, pp, "damaged or was altered"),
        (truncated, pp, "truncated"),
    ]
    for file, secret, fragment in cases:
        refused(run_cli("backup", "verify", str(file), "--passphrase-file", str(secret)), fragment)
        result = run_cli(
            "restore",
            str(file),
            str(target),
            "--db-port",
            str(db_port),
            "--passphrase-file",
            str(secret),
        )
        refused(result, fragment)
        assert not target.exists()
        assert leftovers(install_root) == []
    assert port_is_free(db_port)
    occupied = install_root / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    result = run_cli("restore", str(backup), str(occupied), "--passphrase-file", str(pp))
    refused(result, "not empty")
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]

    # The node is lost; a fresh directory (and other ports) gets it back.
    assert run_cli("stop", "--config", str(conf)).returncode == 0
    new_port = free_port()
    started = time.monotonic()
    restored = run_cli(
        "restore",
        str(backup),
        str(target),
        "--port",
        str(new_port),
        "--db-port",
        str(db_port),
        "--listen",
        "127.0.0.1",
        "--passphrase-file",
        str(pp),
    )
    restore_seconds = time.monotonic() - started
    assert restored.returncode == 0, restored.stderr
    assert "audit MSPOrg: ok" in restored.stdout
    assert "listens on:    127.0.0.1" in restored.stdout
    restored_config = load_config(target / "conf" / "strongroom.toml")
    assert restored_config.server.host == restored_config.gateway.host == "127.0.0.1"
    assert leftovers(install_root) == []
    new_conf = target / "conf" / "strongroom.toml"
    assert os.stat(target / "conf" / "master.key").st_mode & 0o777 == 0o600
    assert (target / "conf" / "master.key").read_bytes() == (
        home / "conf" / "master.key"
    ).read_bytes()

    assert run_cli("serve", "--detach", "--config", str(new_conf)).returncode == 0
    token = login(target, new_port, NEW_PASSWORD)
    status, revealed = api(
        target, new_port, "POST", f"/orgs/MSPOrg/accounts/{account['id']}/reveal", {}, token
    )
    assert status == 200, revealed
    assert revealed["password"] == SECRET
    status, events = api(
        target, new_port, "GET", "/orgs/MSPOrg/audit?operation=backup_restored", None, token
    )
    assert status == 200
    assert [e["target"] for e in events["items"]] == [backup.name]
    _, resources = api(target, new_port, "GET", "/orgs/MSPOrg/resources?limit=1000", None, token)
    _, created = api(
        target,
        new_port,
        "GET",
        "/orgs/MSPOrg/audit?operation=resource_created&limit=1000",
        None,
        token,
    )
    names = sorted(r["name"] for r in resources["items"])
    assert names == sorted(e["target"] for e in created["items"])
    assert "db01" in names and 1 < len(names) <= len(writes) + 1
    assert run_cli("stop", "--config", str(new_conf)).returncode == 0
    chains = run_cli("audit", "verify", "--config", str(new_conf))
    assert chains.returncode == 0, chains.stdout + chains.stderr
    assert "MSPOrg: ok" in chains.stdout
    print(f"\nbackup {backup_seconds:.2f} s, restore {restore_seconds:.2f} s (command wall time)")

    # --force replaces a stopped node in place (here the original one).
    (home / "logs" / "old.log").write_text("from before")
    forced = run_cli(
        "restore",
        str(backup),
        str(home),
        "--force",
        "--passphrase-file",
        str(pp),
        "--db-port",
        str(free_port()),
    )
    assert forced.returncode == 0, forced.stderr
    assert not (home / "logs" / "old.log").exists() and leftovers(install_root) == []


def test_scheduled_backups_sealed_for_a_recipient(install_root):
    """With a short schedule the primary writes backups sealed for a public key, keeps
    the newest N, audits each, and health shows the last good one; the key file (with
    its passphrase, kept off the node) opens them."""
    home, port, conf = init_node(install_root, "node")
    pp = install_root / "key.pp"
    pp.write_text(PASSPHRASE + "\n")
    key_file = install_root / "backup-key.json"
    made = run_cli("backup", "keygen", str(key_file), "--passphrase-file", str(pp))
    assert made.returncode == 0, made.stderr
    recipient = next(x for x in made.stdout.splitlines() if x.startswith("recipient = "))
    text = conf.read_text()  # init wrote a [backup] section with scheduling off
    for old, new in (('schedule = ""', 'schedule = "every 2s"'), ("keep = 7", "keep = 2")):
        assert old in text
        text = text.replace(old, new)
    conf.write_text(text.replace('recipient = ""', recipient))
    assert run_cli("serve", "--detach", "--config", str(conf)).returncode == 0

    deadline = time.monotonic() + 40
    token = first_login(home, port)
    while time.monotonic() < deadline:
        status, events = api(
            home, port, "GET", "/orgs/MSPOrg/audit?operation=backup_created", None, token
        )
        if status == 200 and len(events["items"]) >= 3:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"fewer than three scheduled backups were audited: {events}")
    assert all(e["outcome"] == "success" for e in events["items"])
    assert {"bytes", "sha256", "schema_version"} <= set(events["items"][0]["details"])
    status, health = api(home, port, "GET", "/health")
    assert health["last_backup"]["ok"] is True
    assert health["last_backup"]["at"] is not None
    assert health["degraded"] is False
    assert run_cli("stop", "--config", str(conf)).returncode == 0

    files = sorted((home / "backups").glob("*.srbk"))
    assert len(files) == 2  # keep = 2
    # The node holds no secret that opens its backups: its passphrase is not enough.
    refused(run_cli("backup", "verify", str(files[-1]), "--passphrase-file", str(pp)), "--key-file")
    verified = run_cli(
        "backup",
        "verify",
        str(files[-1]),
        "--key-file",
        str(key_file),
        "--passphrase-file",
        str(pp),
    )
    assert verified.returncode == 0, verified.stderr
    audit_ok = run_cli("audit", "verify", "--config", str(conf))
    assert audit_ok.returncode == 0, audit_ok.stdout

    # A silent install may start from that backup instead of an empty vault.
    restored, new_port = install_root / "silent", free_port()
    fields = {
        "USER_INSTALL_DIR": str(restored),
        "PORT": str(new_port),
        "DB_PORT": str(free_port()),
        "RESTORE_FILE": str(files[-1]),
        "RESTORE_KEY_FILE": str(key_file),
    }
    answers = answer_file(install_root, "LinuxPrimaryMSP.txt", **fields)
    missing = run_cli("install", "--answer-file", str(answers), "--service", "process")
    assert missing.returncode == 1 and "RESTORE_PASSPHRASE_FILE" in missing.stderr
    assert not restored.exists()
    fields["RESTORE_PASSPHRASE_FILE"] = str(pp)
    answers = answer_file(install_root, "LinuxPrimaryMSP.txt", **fields)
    installed = run_cli("install", "--answer-file", str(answers), "--service", "process")
    assert installed.returncode == 0, installed.stderr
    login(restored, new_port, NEW_PASSWORD)  # the backed-up administrator, not a new one
