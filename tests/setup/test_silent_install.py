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
        ({"HOST": "not an address"}, "HOST must be an IP address or a host name"),
        ({"-fileOverwrite_{home}/conf/strongroom.toml": "Maybe"}, "must be Yes or No"),
        (
            {"FILE_OVERWRITE": "false", "-fileOverwrite_{home}/conf/strongroom.toml": "Yes"},
            "FILE_OVERWRITE=false contradicts -fileOverwrite_",
        ),
    ],
)
def test_bad_answer_file_is_clear_and_leaves_nothing(install_root, fields, message):
    home = install_root / "node"
    values = {"USER_INSTALL_DIR": str(home), "PORT": str(_port()), "DB_PORT": str(_port())}
    fields = {k.replace("{home}", str(home)): v for k, v in fields.items()}
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
    assert "strongroom-service.py" in result.stdout and "sc.exe start Strongroom" in result.stdout
    assert "--name Strongroom --config" in result.stdout
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
            "WITNESS_FINGERPRINT": "spki:sha256:" + "ab" * 32,
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


# -- the guide's answer-file forms (issue 34, items 3 and 5) -----------------------------

GUIDE_LINUX = """\
# as the guide writes it (InstallAnywhere properties)
INSTALLER_UI=silent
USER_INSTALL_DIR={home}
-fileOverwrite_{home}/conf/strongroom.toml=Yes
Name=Jane Q. Admin
MailId=jane@example.com
Phone=+47 22 00 00 00
Company=Example MSP AS
Country=Norway
HOST=127.0.0.1
PORT={port}
DB_PORT={db_port}
"""

MINIMAL_LINUX = """\
USER_INSTALL_DIR={home}
MailId=jane@example.com
Country=Norway
PORT={port}
DB_PORT={db_port}
"""

GUIDE_ISS = """\
[InstallShield Silent]
Version=v7.00
File=Response File

[Strongroom]
USER_INSTALL_DIR={home}
Name=Jane Q. Admin
MailId=jane@example.com
Phone=+47 22 00 00 00
Company=Example MSP AS
Country=Norway
PORT={port}
DB_PORT={db_port}
"""

MINIMAL_ISS = """\
[Strongroom]
USER_INSTALL_DIR={home}
MailId=jane@example.com
Country=Norway
"""


def _written(folder: Path, name: str, text: str, **values) -> Path:
    path = folder / name
    path.write_text(text.format(**{"port": 7272, "db_port": 7432, **values}))
    return path


@pytest.mark.parametrize(
    ("name", "text", "full"),
    [
        ("guide.txt", GUIDE_LINUX, True),
        ("minimal.txt", MINIMAL_LINUX, False),
        ("guide.iss", GUIDE_ISS, True),
        ("minimal.iss", MINIMAL_ISS, False),
    ],
)
def test_each_answer_file_form_is_read(tmp_path, name, text, full):
    """The guide's forms, with and without their optional keys: the registration details,
    the per-file overwrite line, HOST and the keys this program does not know."""
    from server.ops.silent_install import ALL_ADDRESSES, read_answer_file, validate

    home = tmp_path / "Strong Room"  # a space and capitals, as a path may hold
    answers = validate(read_answer_file(_written(tmp_path, name, text, home=home)))
    assert (answers.mail, answers.country) == ("jane@example.com", "Norway")
    assert answers.install_dir == home
    if full:
        assert answers.full_name == "Jane Q. Admin"
        assert (answers.phone, answers.company) == ("+47 22 00 00 00", "Example MSP AS")
    else:
        assert (answers.full_name, answers.phone, answers.company) == ("", "", "")
        assert answers.host == ALL_ADDRESSES and answers.overwrite is False
    if name == "guide.txt":
        assert answers.overwrite is True  # -fileOverwrite_<inside the install>=Yes
        assert answers.host == "127.0.0.1"
        assert answers.ignored == ["INSTALLER_UI"]
    else:
        assert answers.ignored == []  # .iss header keys (Version, File) are known


@pytest.mark.parametrize("form", ["guide.txt", "minimal.txt", "guide.iss", "minimal.iss"])
@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("MailId", "MailId is required (the administrator's e-mail address)"),
        ("Country", "Country is required"),
        ("USER_INSTALL_DIR", "USER_INSTALL_DIR is required"),
    ],
)
def test_each_mandatory_key_missing_is_named(tmp_path, form, key, message):
    from server.ops.silent_install import AnswerFileError, read_answer_file, validate

    text = {
        "guide.txt": GUIDE_LINUX,
        "minimal.txt": MINIMAL_LINUX,
        "guide.iss": GUIDE_ISS,
        "minimal.iss": MINIMAL_ISS,
    }[form]
    text = "\n".join(x for x in text.splitlines() if not x.startswith(f"{key}="))
    path = _written(tmp_path, form, text, home=tmp_path / "node")
    with pytest.raises(AnswerFileError) as caught:
        validate(read_answer_file(path))
    assert message in str(caught.value)
    assert not (tmp_path / "node").exists()


def test_file_overwrite_lines_keep_their_case_and_outside_paths_are_noted(tmp_path):
    from server.ops.silent_install import read_answer_file, validate

    home = tmp_path / "Opt" / "StrongRoom"
    path = tmp_path / "f.txt"
    path.write_text(
        f"USER_INSTALL_DIR={home}\nMailId=a@example.com\nCountry=NO\n"
        f"-fileOverwrite_{home}/Conf/A=B.toml=Yes\n-fileOverwrite_/etc/elsewhere=No\n"
    )
    values = read_answer_file(path)
    assert f"-FILEOVERWRITE_{home}/Conf/A=B.toml" in values  # the path's case and "=" kept
    answers = validate(values)
    assert answers.overwrite is True
    assert answers.overwrite_notes == [
        "-fileOverwrite_/etc/elsewhere names a file outside USER_INSTALL_DIR: ignored"
    ]


def test_guide_style_file_installs_over_an_old_folder_and_status_shows_the_details(
    install_root,
):
    """The guide's Linux file: no FILE_OVERWRITE, its -fileOverwrite_ line replaces what is
    in the folder; the unknown key and the listen address are in the log; status shows the
    registration details."""
    home = install_root / "node"
    home.mkdir()
    (home / "left-over").write_text("x")
    port = _port()
    answers = _written(
        install_root, "guide.txt", GUIDE_LINUX, home=home, port=port, db_port=_port()
    )
    log = install_root / "guide.log"
    result = run_cli(
        "install", "--answer-file", str(answers), "--log", str(log), "--service", "process"
    )
    conf = home / "conf" / "strongroom.toml"
    try:
        assert result.returncode == 0, result.stderr
        text = log.read_text()
        assert "ignored keys this program does not know: INSTALLER_UI" in text
        assert "the server will listen on 127.0.0.1" in text
        assert not (home / "left-over").exists()
        assert 'host = "127.0.0.1"' in conf.read_text()
        status = run_cli("status", "--config", str(conf))
        assert status.returncode == 0, status.stderr
        for shown in (
            "Name: Jane Q. Admin",
            "MailId: jane@example.com",
            "Phone: +47 22 00 00 00",
            "Company: Example MSP AS",
            "Country: Norway",
        ):
            assert shown in status.stdout
    finally:
        run_cli("stop", "--config", str(conf))


def test_minimal_file_installs_and_status_shows_what_was_not_given(install_root):
    home = install_root / "node"
    answers = _written(
        install_root, "minimal.txt", MINIMAL_LINUX, home=home, port=_port(), db_port=_port()
    )
    log = install_root / "minimal.log"
    result = run_cli(
        "install", "--answer-file", str(answers), "--log", str(log), "--service", "process"
    )
    conf = home / "conf" / "strongroom.toml"
    try:
        assert result.returncode == 0, result.stderr
        assert "listen on all addresses (0.0.0.0)" in log.read_text()
        assert "ignored keys" not in log.read_text()
        status = run_cli("status", "--config", str(conf))
        assert "Name: -" in status.stdout and "Country: Norway" in status.stdout
        assert json.loads((home / "conf" / "registration.json").read_text())["name"] == ""
    finally:
        run_cli("stop", "--config", str(conf))
