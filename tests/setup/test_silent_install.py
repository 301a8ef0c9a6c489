"""Silent install and uninstall from answer files, with the real command and processes.

No systemd on CI: the service step runs the server as a plain background process
(``--service process``) and the unit file's content is checked; the Windows path is a
dry run that prints the service commands it would run.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.replication.harness import call
from tests.setup.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SH = ROOT / "setup" / "linux" / "install.sh"
UNINSTALL_SH = ROOT / "setup" / "linux" / "uninstall.sh"

pytestmark = pytest.mark.timeout(300)


def answer_file(folder: Path, name: str, **fields: str) -> Path:
    """A Linux answer file from the template, with ``fields`` replaced or added."""
    template = (ROOT / "setup" / "linux" / name).read_text().splitlines()
    lines, seen = [], set()
    for line in template:
        key = line.split("=", 1)[0]
        if "=" in line and not line.startswith("#") and key in fields:
            value = fields[key]
            seen.add(key)
            if value is None:
                continue
            line = f"{key}={value}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in fields.items() if k not in seen and v is not None]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def script(path: Path, answers: Path, log: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(path), "-i", "silent", "-f", str(answers), "-l", str(log), "-s", "process"],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )


def _serving_python(home: Path) -> str:
    """argv[0] of the process serving the install in ``home``."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError):
            continue
        if "serve" in argv and any(a.startswith(str(home / "conf")) for a in argv):
            return argv[0]
    raise AssertionError(f"nothing serves {home}")


def _port() -> int:
    from tests.conftest import free_port

    return free_port()


def test_primary_then_secondary_then_uninstall_both(install_root):
    """The scripts install a primary and an enrolled secondary (a write on the primary is
    seen on the secondary), then uninstall both leaving nothing behind."""
    p_dir, s_dir = install_root / "primary", install_root / "secondary"
    p_port, s_port = _port(), _port()
    primary = answer_file(
        install_root,
        "LinuxPrimaryMSP.txt",
        USER_INSTALL_DIR=str(p_dir),
        PORT=str(p_port),
        DB_PORT=str(_port()),
        SERVICE_NAME="strongroom-test-primary",
    )
    log = install_root / "primary.log"
    result = script(INSTALL_SH, primary, log)
    assert result.returncode == 0, result.stderr + result.stdout
    text = log.read_text()
    assert "reading answer file" in text and "started the server" in text
    unit = (p_dir / "conf" / "strongroom-test-primary.service").read_text()
    python = p_dir / "program" / "runtime" / "bin" / "python"
    assert f"ExecStart={python} -m server.ops.cli serve --config {p_dir}/conf/" in unit
    # The running server is the install's own copy, not the checkout it came from.
    assert _serving_python(p_dir) == str(python)
    assert "WantedBy=multi-user.target" in unit and "Restart=on-failure" in unit
    registration = json.loads((p_dir / "conf" / "registration.json").read_text())
    assert registration["mail"] == "admin@example.com" and registration["country"]
    password = (p_dir / "conf" / "initial-admin-password").read_text().strip()
    assert password not in text  # the secret is in a 0600 file, never in the log
    assert (p_dir / "conf" / "initial-admin-password").stat().st_mode & 0o077 == 0

    token = subprocess.run(  # the install's own command
        [p_dir / "bin" / "strongroom", "cluster", "enroll-token"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert token.returncode == 0, token.stderr
    secondary = answer_file(
        install_root,
        "LinuxSecondaryMSP.txt",
        USER_INSTALL_DIR=str(s_dir),
        PRIMARY_ADDRESS=f"https://127.0.0.1:{p_port}",
        ENROLLMENT_TOKEN=token.stdout.strip(),
        PORT=str(s_port),
        DB_PORT=str(_port()),
        SERVICE_NAME="strongroom-test-secondary",
    )
    result = script(INSTALL_SH, secondary, install_root / "secondary.log")
    assert result.returncode == 0, result.stderr + result.stdout

    # A write on the primary is seen on the secondary.
    _, login = call(
        f"https://127.0.0.1:{p_port}/api/v1/auth/login",
        "POST",
        {"username": "admin", "password": password},
    )
    new = "Replicated-Passw0rd!"
    status, _ = call(
        f"https://127.0.0.1:{p_port}/api/v1/me/password",
        "POST",
        {"current_password": password, "new_password": new},
        token=login["token"],
    )
    assert status == 204
    deadline = time.monotonic() + 20
    status = 0
    while time.monotonic() < deadline and status != 200:
        status, body = call(
            f"https://127.0.0.1:{s_port}/api/v1/auth/login",
            "POST",
            {"username": "admin", "password": new},
        )
        time.sleep(0.3)
    assert status == 200, body
    assert call(f"https://127.0.0.1:{s_port}/api/v1/health")[1]["role"] == "secondary"

    for folder, name in ((s_dir, "secondary"), (p_dir, "primary")):
        uninstall = answer_file(
            install_root,
            "LinuxUninstallMSP.txt",
            USER_INSTALL_DIR=str(folder),
            KEEP_BACKUPS="false",
        )
        result = script(UNINSTALL_SH, uninstall, install_root / f"un-{name}.log")
        assert result.returncode == 0, result.stderr + result.stdout
        assert not folder.exists()
    assert call(f"https://127.0.0.1:{p_port}/api/v1/health", timeout=1)[0] == 0


def test_uninstall_keeps_backups_when_asked(install_root):
    home = install_root / "node"
    answers = answer_file(
        install_root,
        "LinuxPrimaryMSP.txt",
        USER_INSTALL_DIR=str(home),
        PORT=str(_port()),
        DB_PORT=str(_port()),
    )
    result = run_cli("install", "--answer-file", str(answers), "--service", "process")
    assert result.returncode == 0, result.stderr
    (home / "backups" / "nightly.dump").write_text("backup")
    uninstall = answer_file(
        install_root, "LinuxUninstallMSP.txt", USER_INSTALL_DIR=str(home), KEEP_BACKUPS="true"
    )
    result = run_cli("uninstall", "--answer-file", str(uninstall), "--service", "process")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in home.iterdir()) == ["backups"]
    assert (home / "backups" / "nightly.dump").read_text() == "backup"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"MailId": None}, "MailId is required"),
        ({"MailId": "not-an-address"}, "MailId is not a valid e-mail address"),
        ({"Country": None}, "Country is required"),
        ({"USER_INSTALL_DIR": "/proc/strongroom/x"}, "is not writable"),
        ({"USER_INSTALL_DIR": "relative/dir"}, "must be an absolute path"),
        ({"ROLE": "tertiary"}, "ROLE must be primary or secondary"),
        (
            {"WITNESS_URL": "https://w.example:7273"},
            "WITNESS_URL, WITNESS_FINGERPRINT and WITNESS_TOKEN go together",
        ),
    ],
)
def test_bad_answer_file_is_clear_and_leaves_nothing(install_root, fields, message):
    home = install_root / "node"
    values = {"USER_INSTALL_DIR": str(home), "PORT": str(_port()), "DB_PORT": str(_port())}
    answers = answer_file(install_root, "LinuxPrimaryMSP.txt", **{**values, **fields})
    log = install_root / "bad.log"
    result = run_cli(
        "install", "--answer-file", str(answers), "--log", str(log), "--service", "process"
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert message in log.read_text()
    assert not home.exists()
    assert "Traceback" not in result.stderr


def test_wrong_enrollment_token_leaves_nothing(install_root):
    """A secondary with a made-up token against a real primary: clear refusal, clean disk."""
    p_dir, s_dir = install_root / "p", install_root / "s"
    p_port = _port()
    primary = answer_file(
        install_root,
        "LinuxPrimaryMSP.txt",
        USER_INSTALL_DIR=str(p_dir),
        PORT=str(p_port),
        DB_PORT=str(_port()),
    )
    assert run_cli("install", "--answer-file", str(primary), "--service", "process").returncode == 0
    real = run_cli("cluster", "enroll-token", "--config", str(p_dir / "conf" / "strongroom.toml"))
    fake = real.stdout.strip().rsplit(".", 1)[0] + ".made-up-secret-made-up-secret"
    secondary = answer_file(
        install_root,
        "LinuxSecondaryMSP.txt",
        USER_INSTALL_DIR=str(s_dir),
        PRIMARY_ADDRESS=f"https://127.0.0.1:{p_port}",
        ENROLLMENT_TOKEN=fake,
        PORT=str(_port()),
        DB_PORT=str(_port()),
    )
    result = run_cli("install", "--answer-file", str(secondary), "--service", "process")
    assert result.returncode == 1
    assert "enrollment token is not valid" in result.stderr
    assert not s_dir.exists()
    # Fixing the file (a real token) and running again works.
    fixed = answer_file(
        install_root,
        "LinuxSecondaryMSP.txt",
        USER_INSTALL_DIR=str(s_dir),
        PRIMARY_ADDRESS=f"https://127.0.0.1:{p_port}",
        ENROLLMENT_TOKEN=real.stdout.strip(),
        PORT=str(_port()),
        DB_PORT=str(_port()),
    )
    result = run_cli("install", "--answer-file", str(fixed), "--service", "process")
    assert result.returncode == 0, result.stderr


def test_existing_install_needs_file_overwrite(install_root):
    home = install_root / "node"
    home.mkdir()
    (home / "something").write_text("x")
    answers = answer_file(install_root, "LinuxPrimaryMSP.txt", USER_INSTALL_DIR=str(home))
    result = run_cli("install", "--answer-file", str(answers), "--service", "process")
    assert result.returncode == 1 and "FILE_OVERWRITE=true" in result.stderr
    assert (home / "something").read_text() == "x"


def test_windows_dry_run_prints_service_commands(install_root):
    iss = ROOT / "setup" / "windows" / "WindowsPrimaryMSP.iss"
    result = run_cli("install", "--answer-file", str(iss), "--service", "windows", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "sc.exe create Strongroom binPath=" in result.stdout
    assert "serve --config" in result.stdout and "sc.exe start Strongroom" in result.stdout
    un = ROOT / "setup" / "windows" / "WindowsUninstallMSP.iss"
    result = run_cli("install", "--answer-file", str(un), "--service", "windows", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "sc.exe stop Strongroom" in result.stdout and "sc.exe delete Strongroom" in result.stdout
    secondary = ROOT / "setup" / "windows" / "WindowsSecondaryMSP.iss"
    result = run_cli(
        "install", "--answer-file", str(secondary), "--service", "windows", "--dry-run"
    )
    assert result.returncode == 0, result.stderr


def test_witness_and_pair_settings_reach_the_configuration(tmp_path):
    """The answer file's witness, addresses and auto_rejoin become the node's settings."""
    from server.core.config import Config, load_config, render_config
    from server.ops.install import apply_pair_options
    from server.ops.silent_install import validate

    answers = validate(
        {
            "USER_INSTALL_DIR": str(tmp_path / "node"),
            "MAILID": "admin@example.com",
            "COUNTRY": "Norway",
            "PUBLIC_URL": "https://p1.example:7272",
            "DB_LISTEN": "127.0.0.1,10.0.0.1",
            "WITNESS_URL": "https://w.example:7273",
            "WITNESS_FINGERPRINT": "AB:CD",
            "WITNESS_TOKEN": "t" * 20,
            "AUTO_REJOIN": "true",
        }
    )
    config = Config(home=tmp_path)
    config.database.app_password = "x" * 20
    apply_pair_options(config, answers.pair_options())
    path = tmp_path / "strongroom.toml"
    path.write_text(render_config(config))
    loaded = load_config(path, environ={})
    assert loaded.node.witness_url == "https://w.example:7273"
    assert loaded.node.witness_token == "t" * 20 and loaded.node.auto_rejoin is True
    assert loaded.database.listen == "127.0.0.1,10.0.0.1"
    assert loaded.server.public_url == "https://p1.example:7272"
