"""The SSH gateway's port chosen at install (newcomer pass, session 9: init had no option
for it and quickstart.sh took no ports). Cheap checks: no PostgreSQL is started."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.setup.conftest import run_cli
from tests.setup.test_cli import assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]


def test_init_takes_a_gateway_port_and_refuses_the_https_one(install_root):
    """--gateway-port is an init option; the HTTPS port for it is refused in one line and
    nothing is created."""
    assert "--gateway-port" in run_cli("init", "--help").stdout
    home = install_root / "node"
    result = run_cli("init", str(home), "--port", "7300", "--gateway-port", "7300")
    assert_one_line_error(result, "must be between 1 and 65535 and differ from the HTTPS port")
    assert not home.exists()


def test_quickstart_names_its_port_options():
    """An unknown option is refused before anything is installed, naming the ones it takes."""
    done = subprocess.run(
        ["bash", str(ROOT / "setup" / "quickstart.sh"), "--gatway-port", "2223"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--port, --db-port, --gateway-port, --listen" in done.stderr


FAKE_STRONGROOM = """#!/usr/bin/env bash
echo "$*" >> "$STRONGROOM_CALLS"
case "$1" in
    init)
        mkdir -p "$2/conf"
        host=0.0.0.0
        [ "${3:-}" = --listen ] && host="$4"
        printf '[server]\\nhost = "%s"\\nport = 7272\\n\\n' "$host" > "$2/conf/strongroom.toml"
        printf '[gateway]\\nhost = "%s"\\nport = 2222\\n' "$host" >> "$2/conf/strongroom.toml"
        ;;
    status) exit 1 ;;
esac
"""


def test_quickstart_listen_goes_to_init(tmp_path):
    """--listen ADDRESS is given to init (whose --listen the SSH gateway follows), and what
    quickstart then says names that address (newcomer pass, session 10: quickstart bound
    HTTPS and the gateway to 0.0.0.0 with no way to say otherwise). Run on a copy of
    setup/ with a stand-in ``strongroom`` (no PostgreSQL, no install)."""
    root = tmp_path / "root"
    (root / "setup").mkdir(parents=True)
    for name in ("quickstart.sh", "lib.sh"):
        (root / "setup" / name).write_bytes((ROOT / "setup" / name).read_bytes())
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(Path(sys.executable))
    (root / ".venv" / ".installed").touch()  # no pyproject.toml here: nothing to install
    fake = bin_dir / "strongroom"
    fake.write_text(FAKE_STRONGROOM)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        **os.environ,
        "STRONGROOM_HOME": str(tmp_path / "home"),
        "STRONGROOM_CALLS": str(calls),
        "STRONGROOM_NO_TUI": "1",
    }
    done = subprocess.run(
        ["bash", str(root / "setup" / "quickstart.sh"), "--listen", "127.0.0.1", "--port", "7301"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first = calls.read_text().splitlines()[0]
    assert first == f"init {tmp_path / 'home'} --listen 127.0.0.1 --port 7301", first
    # the loopback address is named as the TUI opened by quickstart names it (session 11)
    assert "https://localhost:7272" in done.stdout and "admin@localhost" in done.stdout
    assert "127.0.0.1:7272" not in done.stdout
    refused = subprocess.run(
        ["bash", str(root / "setup" / "quickstart.sh"), "--listen"],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert refused.returncode == 2 and "--listen needs an address" in refused.stderr


# What the real init and serve --detach print (server/ops/cli.py), lines longer than 80.
FAKE_INIT_WORDS = """#!/usr/bin/env bash
case "$1" in
    init)
        mkdir -p "$2/conf"
        printf '[server]\\nhost = "0.0.0.0"\\nport = 7272\\n\\n[gateway]\\nport = 2222\\n' \\
            > "$2/conf/strongroom.toml"
        echo "Strongroom primary created in $2"
        echo "  certificate pin:     $(printf 'ab%.0s' {1..32}) (SHA-256 of its public key)"
        echo "    (kept in $2/conf/initial-admin-password, mode 0600," \\
            "until it is changed at first login)"
        echo "  SSH gateway:         ssh -p 2222 USER@HOST on all addresses (0.0.0.0)" \\
            "([gateway] enabled = false in the configuration turns it off)"
        ;;
    status) exit 1 ;;
    serve) echo "Strongroom is running (pid 1) at https://localhost:7272" ;;
esac
"""


def test_quickstart_fits_80_columns_and_names_one_url(tmp_path):
    """Every line quickstart prints fits in 80 columns, init's own lines included, and it
    names one URL for the server: the one the TUI it opens uses (newcomer pass, session 11:
    a banner wider than 80 columns naming https://localhost and another address). Run as the
    README says, from the checkout, with a stand-in ``strongroom``."""
    root = tmp_path / "a-checkout-in-a-folder-with-a-rather-long-name" / "strongroom"
    (root / "setup").mkdir(parents=True)
    for name in ("quickstart.sh", "lib.sh"):
        (root / "setup" / name).write_bytes((ROOT / "setup" / name).read_bytes())
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(Path(sys.executable))
    (root / ".venv" / ".installed").touch()
    fake = bin_dir / "strongroom"
    fake.write_text(FAKE_INIT_WORDS)
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "STRONGROOM_HOME"}
    env["STRONGROOM_NO_TUI"] = "1"
    done = subprocess.run(
        ["bash", "./setup/quickstart.sh"], cwd=root, capture_output=True, text=True, timeout=60,
        check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    wide = [line for line in done.stdout.splitlines() if len(line) > 80]
    assert not wide, wide
    urls = set(re.findall(r"https://[^/\s]+", done.stdout))
    assert urls == {"https://localhost:7272"}, urls
    assert "Strongroom is running at https://localhost:7272" in done.stdout
    assert ".venv/bin/strongroom tui --config var/conf/strongroom.toml" in done.stdout
    assert "cat var/conf/initial-admin-password" in done.stdout
    assert "ssh -p 2222 admin@localhost" in done.stdout
    assert "certificate pin:" in done.stdout and "ab" * 32 in done.stdout  # init's, kept
