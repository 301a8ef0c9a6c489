"""The strongroom command: init, serve, status, stop as real processes."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import time
import urllib.request

import pytest
from cryptography import x509

from server.node.peer import PinnedClient
from server.security import tls
from tests.conftest import free_port
from tests.setup.conftest import STRONGROOM, run_cli

pytestmark = pytest.mark.slow


def get_health(home, port):
    """GET /api/v1/health over HTTPS, trusting only the install's own certificate."""
    ctx = ssl.create_default_context(cafile=str(home / "conf" / "tls.crt"))
    with urllib.request.urlopen(
        f"https://localhost:{port}/api/v1/health", context=ctx, timeout=5
    ) as resp:
        return json.loads(resp.read())


def banner(port: int, limit: float = 30) -> bytes:
    """The first bytes an SSH server on ``port`` sends (retrying while it starts)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                return sock.recv(64)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def assert_one_line_error(result, fragment):
    """A failure is one line on stderr, a non-zero exit and no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["serve"],
        ["stop"],
        ["status"],
        ["gateway"],
        ["migrate"],
        ["keys", "rotate-master"],
        ["audit", "verify"],
        ["orgs", "import"],
        ["orgs", "replicate-settings"],
        ["recover-person"],
    ],
)
def test_every_command_has_help(command):
    """strongroom and each subcommand answer --help."""
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "usage: strongroom" in result.stdout


def test_init_serve_status_stop(install_root):
    """A fresh init serves health over HTTPS; init twice is refused; stop stops everything."""
    home = install_root / "node"
    port, db_port = free_port(), free_port()
    result = run_cli("init", str(home), "--port", str(port), "--db-port", str(db_port))
    assert result.returncode == 0, result.stderr
    conf = home / "conf" / "strongroom.toml"
    host_key = home / "conf" / "gateway_host_key"  # the SSH gateway's (issue 30)
    for secret in (conf, home / "conf" / "master.key", home / "conf" / "tls.key", host_key):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (home / "pgsql" / "data" / "PG_VERSION").exists()

    again = run_cli("init", str(home), "--port", str(port), "--db-port", str(db_port))
    assert_one_line_error(again, "is not empty")
    assert conf.exists()

    assert run_cli("status", "--config", str(conf)).returncode == 3
    ssh_port = free_port()  # the SSH gateway serve runs too (issue 30)
    started = run_cli(
        "serve", "--detach", "--config", str(conf), env={"STRONGROOM_GATEWAY_PORT": str(ssh_port)}
    )
    assert started.returncode == 0, started.stderr
    with socket.create_connection(("127.0.0.1", ssh_port), timeout=10) as sock:
        assert sock.recv(64).startswith(b"SSH-2.0-Strongroom")
    # strongroom gateway: the gateway alone, until SIGTERM.
    alone_port = free_port()
    alone = subprocess.Popen(
        [STRONGROOM, "gateway", "--config", str(conf)],
        env={**os.environ, "STRONGROOM_GATEWAY_PORT": str(alone_port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert b"SSH-2.0-Strongroom" in banner(alone_port)
    finally:
        alone.terminate()
        out, err = alone.communicate(timeout=30)
    assert alone.returncode == 0, err
    assert b"host key SHA256:" in out
    health = get_health(home, port)
    assert health["status"] == "ok"
    assert health["role"] == "primary"
    assert health["read_only"] is False

    status = run_cli("status", "--config", str(conf))
    assert status.returncode == 0
    assert "role:       primary" in status.stdout
    assert "gateway:    ssh -p 2222 USER@host · host key SHA256:" in status.stdout

    second = run_cli("serve", "--config", str(conf))
    assert_one_line_error(second, "already in use")

    stopped = run_cli("stop", "--config", str(conf))
    assert stopped.returncode == 0
    assert "embedded PostgreSQL" in stopped.stdout
    assert run_cli("status", "--config", str(conf)).returncode == 3
    # Serving again restarts the embedded cluster by itself.
    assert run_cli("serve", "--detach", "--config", str(conf)).returncode == 0
    assert get_health(home, port)["status"] == "ok"


def test_serve_renews_an_expiring_certificate(install_root):
    """A certificate with 5 days left is re-issued with the same key before the server
    listens (issue 26, item 11): start and status (which trust the file) work, a client
    pinned to the key from before connects, a pin of the old whole certificate does not."""
    home = install_root / "node"
    port, db_port = free_port(), free_port()
    result = run_cli("init", str(home), "--port", str(port), "--db-port", str(db_port))
    assert result.returncode == 0, result.stderr
    conf, cert, key = (home / "conf" / name for name in ("strongroom.toml", "tls.crt", "tls.key"))
    assert tls.spki_pin(cert) in result.stdout  # the pin init prints
    now = datetime.datetime.now(datetime.UTC)
    tls.reissue(cert, key, now=now - datetime.timedelta(days=tls.LIFETIME_DAYS - 5))
    old_pin, old_whole = tls.spki_pin(cert), tls.fingerprint(cert)

    started = run_cli("serve", "--detach", "--config", str(conf))
    assert started.returncode == 0, started.stderr
    assert get_health(home, port)["status"] == "ok"
    assert run_cli("status", "--config", str(conf)).returncode == 0
    renewed = x509.load_pem_x509_certificate(cert.read_bytes())
    assert renewed.not_valid_after_utc > now + datetime.timedelta(days=tls.LIFETIME_DAYS - 1)
    assert tls.spki_pin(cert) == old_pin
    assert "renewed with the same key" in (home / "logs" / "strongroom.log").read_text()

    async def pinned(pin: str) -> int:
        client = PinnedClient(f"https://127.0.0.1:{port}", pin, timeout=5)
        try:
            return (await client.call("GET", "/api/v1/health"))[0]
        finally:
            await client.close()
            await asyncio.sleep(0.25)  # a refused TLS connection finishes closing

    assert asyncio.run(pinned(old_pin)) == 200
    assert asyncio.run(pinned(old_whole)) == 0


def test_init_with_taken_database_port_leaves_nothing(install_root):
    """If the PostgreSQL port is taken, init says so and creates nothing."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        result = run_cli("init", str(install_root / "node"), "--db-port", str(taken))
    assert_one_line_error(result, f"port {taken}")
    assert not (install_root / "node").exists()


def test_init_without_postgresql_is_clear(install_root):
    """With no PostgreSQL binaries, init explains and leaves nothing behind."""
    result = run_cli(
        "init",
        str(install_root / "node"),
        "--db-port",
        str(free_port()),
        env={"STRONGROOM_PG_BINDIR": str(install_root)},
    )
    assert_one_line_error(result, "does not hold initdb")
    assert not (install_root / "node").exists()


def test_serve_with_bad_config_is_one_line(install_root):
    """A broken configuration file is reported in one line naming the setting."""
    conf = install_root / "conf" / "strongroom.toml"
    conf.parent.mkdir()
    conf.write_text('[server]\nport = "https"\n[database]\napp_password = "x"\n')
    result = run_cli("serve", "--config", str(conf))
    assert_one_line_error(result, "server.port must be an integer")


def test_missing_config_points_to_init(install_root):
    """Running serve before init tells the user what to do."""
    result = run_cli(
        "status", env={"STRONGROOM_HOME": str(install_root / "none"), "STRONGROOM_CONFIG": ""}
    )
    assert_one_line_error(result, "strongroom init")


def test_environment_overrides_port(install_root):
    """STRONGROOM_SERVER_PORT moves the listener without editing the file."""
    home = install_root / "node"
    assert (
        run_cli(
            "init", str(home), "--port", str(free_port()), "--db-port", str(free_port())
        ).returncode
        == 0
    )
    port = free_port()
    conf = str(home / "conf" / "strongroom.toml")
    env = {"STRONGROOM_SERVER_PORT": str(port)}
    assert run_cli("serve", "--detach", "--config", conf, env=env).returncode == 0
    assert get_health(home, port)["status"] == "ok"
    assert run_cli("stop", "--config", conf, env=env).returncode == 0
    assert not os.path.exists(home / "run" / "strongroom.pid")


def login(home, port, username, password):
    """POST /auth/login over HTTPS; return (status, body)."""
    ctx = ssl.create_default_context(cafile=str(home / "conf" / "tls.crt"))
    req = urllib.request.Request(
        f"https://localhost:{port}/api/v1/auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_generated_admin_password_is_shown_once_and_must_change(install_root):
    """init without a password prints a generated one that logs in and must be changed."""
    home, port = install_root / "node", free_port()
    result = run_cli(
        "init",
        str(home),
        "--port",
        str(port),
        "--db-port",
        str(free_port()),
        env={"STRONGROOM_ADMIN_PASSWORD": ""},
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "initial password:" in x)
    password = line.split(":", 1)[1].strip()
    assert len(password) >= 12
    assert password not in (home / "conf" / "strongroom.toml").read_text()
    for log in (home / "logs").glob("*"):
        assert password not in log.read_text(errors="replace")
    conf = str(home / "conf" / "strongroom.toml")
    assert run_cli("serve", "--detach", "--config", conf).returncode == 0
    status, body = login(home, port, "admin", password)
    assert status == 200
    assert body["must_change_password"] is True
    assert body["user"]["role"] == "privileged_administrator"
    # A new install requires 2FA of MSPOrg's administrators (issue 27): after its password,
    # the first administrator enrols before anything else.
    assert body["must_enrol_totp"] is True


def test_first_password_is_kept_and_the_printed_command_runs(install_root):
    """init keeps a generated password in conf/initial-admin-password (0600); health names
    the file until that password is changed, which removes it; 'start it with' runs."""
    home, port = install_root / "node", free_port()
    result = run_cli(
        "init",
        str(home),
        "--port",
        str(port),
        "--db-port",
        str(free_port()),
        env={"STRONGROOM_ADMIN_PASSWORD": ""},
    )
    assert result.returncode == 0, result.stderr
    kept = home / "conf" / "initial-admin-password"
    password = kept.read_text().strip()
    assert kept.stat().st_mode & 0o077 == 0
    assert f"kept in {kept}" in " ".join(result.stdout.split())  # lines fit 80 columns
    lines = result.stdout.splitlines()
    assert max(len(x) for x in lines if str(home) not in x) <= 80, result.stdout
    at = next(i for i, x in enumerate(lines) if "start it with:" in x)
    command = (lines[at].split(":", 1)[1].strip() or lines[at + 1]).split()  # a line of its own
    assert shutil.which(command[0]) or os.access(command[0], os.X_OK), command
    assert command[1:] == ["serve", "--config", str(home / "conf" / "strongroom.toml")]
    started = subprocess.run(
        [*command, "--detach"], capture_output=True, text=True, timeout=120, check=False
    )
    assert started.returncode == 0, started.stderr
    try:
        assert get_health(home, port)["initial_admin_password"] == "conf/initial-admin-password"
        status, body = login(home, port, "admin", password)
        assert status == 200
        ctx = ssl.create_default_context(cafile=str(home / "conf" / "tls.crt"))
        req = urllib.request.Request(
            f"https://localhost:{port}/api/v1/me/password",
            data=json.dumps(
                {"current_password": password, "new_password": "Own-admin-pass-22"}
            ).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {body['token']}",
            },
            method="POST",
        )
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            assert resp.status == 204
        assert not kept.exists()
        assert "initial_admin_password" not in get_health(home, port)
    finally:
        run_cli("stop", "--config", str(home / "conf" / "strongroom.toml"))


def test_audit_verify_keys_and_key_permissions(install_root):
    """audit verify passes then names a tampered event; rotate-master needs the server
    stopped and keeps the install working; a loose key file stops serve in one line."""
    home, port = install_root / "node", free_port()
    pw_file = install_root / "admin.pw"
    pw_file.write_text("chosen-Admin-pass-1\n")
    assert (
        run_cli(
            "init",
            str(home),
            "--port",
            str(port),
            "--db-port",
            str(free_port()),
            "--admin-username",
            "root.admin",
            "--admin-password-file",
            str(pw_file),
        ).returncode
        == 0
    )
    conf = str(home / "conf" / "strongroom.toml")
    assert run_cli("serve", "--detach", "--config", conf).returncode == 0
    assert login(home, port, "root.admin", "chosen-Admin-pass-1")[0] == 200
    assert login(home, port, "root.admin", "wrong-password-11")[0] == 401

    refused = run_cli("keys", "rotate-master", "--config", conf)
    assert_one_line_error(refused, "stop the server first")
    assert run_cli("stop", "--config", conf).returncode == 0
    rotated = run_cli("keys", "rotate-master", "--config", conf)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-wrapped" in rotated.stdout

    csv_file = install_root / "orgs.csv"
    csv_file.write_text("name,display_name,account_manager\nOne,One,root.admin\nTwo,Two,nobody\n")
    imported = run_cli("orgs", "import", str(csv_file), "--as", "root.admin", "--config", conf)
    assert imported.returncode == 1  # one row failed
    assert "importing [" in imported.stderr and "2/2" in imported.stderr
    assert "line 3: 'Two' failed" in imported.stdout
    assert "created 1, failed 1" in imported.stdout
    unknown = run_cli("orgs", "import", str(csv_file), "--as", "ghost", "--config", conf)
    assert_one_line_error(unknown, "no active MSPOrg user named 'ghost'")

    verified = run_cli("audit", "verify", "--config", conf)
    assert verified.returncode == 0, verified.stderr
    assert "MSPOrg: ok" in verified.stdout
    assert "One: ok (1 events" in verified.stdout
    replicated = run_cli(
        "orgs", "replicate-settings", "all", "--as", "root.admin", "--config", conf
    )
    assert replicated.returncode == 0, replicated.stderr
    assert "replicating [" in replicated.stderr and "1/1" in replicated.stderr
    assert "applied to 1 org(s), failed 0" in replicated.stdout

    assert run_cli("serve", "--detach", "--config", conf).returncode == 0
    assert login(home, port, "root.admin", "chosen-Admin-pass-1")[0] == 200
    assert run_cli("stop", "--config", conf).returncode == 0

    key = home / "conf" / "master.key"
    key.chmod(0o644)
    loose = run_cli("serve", "--config", conf)
    assert_one_line_error(loose, "chmod 600")
    key.chmod(0o600)
