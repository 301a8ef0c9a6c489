"""The SSH gateway's port chosen at install (newcomer pass, session 9: init had no option
for it and quickstart.sh took no ports). Cheap checks: no PostgreSQL is started."""

from __future__ import annotations

import subprocess
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
    assert "--port, --db-port, --gateway-port" in done.stderr
