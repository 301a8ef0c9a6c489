"""The Windows paths of the program, run here on Linux (issue 34, item 2).

Nothing here runs on Windows: ``server.core.hostos.IS_WINDOWS`` is set for the duration of
a test, the few calls into the Windows API (``file_acl``, ``msvcrt``, pywin32's service
framework, ``icacls``, ``sc.exe``) are replaced by recorders, and the paths are Windows
paths (PureWindowsPath). What it shows: the program imports without POSIX-only modules,
finds PostgreSQL's ``.exe`` tools where the EDB installer puts them, protects and checks
the key files with ACLs, and a dry run prints exactly the commands a Windows install and
uninstall run. ``.github/workflows/windows.yml`` is the run on real Windows.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import types
from pathlib import Path, PureWindowsPath

import pytest

from server.core import hostos
from tests.setup.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
WINDOWS = ROOT / "setup" / "windows"


@pytest.fixture
def on_windows(monkeypatch):
    """Take the Windows branches of server.core.hostos for this test."""
    monkeypatch.setattr(hostos, "IS_WINDOWS", True)
    return monkeypatch


def test_every_module_imports_without_posix_only_modules():
    """pwd, grp, fcntl, termios and resource unimportable (as on Windows): every module of
    server/, replication/ and tui/ still imports, but the POSIX terminal driver, which the
    TUI imports only where ``os.name == "posix"``. Libraries that choose their platform's
    branch themselves are imported before the block, since on Linux they take the POSIX
    one: asyncssh by ``sys.platform``, aiomysql through getpass, which reads USERNAME on
    Windows before it would import pwd."""
    code = (
        "import importlib, pkgutil, sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import asyncssh, aiomysql  # noqa: F401 - their own platform branch\n"
        "for name in ('pwd', 'grp', 'fcntl', 'termios', 'resource'):\n"
        "    sys.modules[name] = None\n"
        "failed = []\n"
        "for package in ('server', 'replication', 'tui'):\n"
        "    root = importlib.import_module(package)\n"
        "    for info in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        "        if info.name == 'tui.posix_driver':\n"
        "            continue\n"
        "        try:\n"
        "            importlib.import_module(info.name)\n"
        "        except Exception as exc:\n"
        "            failed.append(f'{info.name}: {exc!r}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _fake_postgres(root: Path, version: str, tools=("initdb", "pg_ctl", "postgres")) -> Path:
    bindir = root / "PostgreSQL" / version / "bin"
    bindir.mkdir(parents=True)
    for tool in tools:
        (bindir / f"{tool}.exe").write_bytes(b"MZ")
    return bindir


def test_postgresql_found_with_exe_names_in_program_files(on_windows, tmp_path):
    from replication import cluster

    on_windows.delenv("STRONGROOM_PG_BINDIR", raising=False)
    on_windows.setenv("ProgramFiles", str(tmp_path))
    on_windows.delenv("ProgramW6432", raising=False)
    on_windows.setattr(cluster.shutil, "which", lambda name: None)  # no pg_config, no PATH
    _fake_postgres(tmp_path, "15")
    newest = _fake_postgres(tmp_path, "16")
    _fake_postgres(tmp_path, "17", tools=("initdb", "pg_ctl"))  # no postgres.exe: skipped
    assert cluster.find_bindir() == newest

    made = cluster.Cluster(tmp_path / "node" / "pgsql" / "data", 7432)
    assert made.account is None  # no account switch: the service's own account runs them
    assert made.command("pg_ctl", "status")[0] == str(newest / "pg_ctl.exe")
    assert made.initdb_args("su", tmp_path / "pw")[-1] == "--locale=C"

    on_windows.setenv("STRONGROOM_PG_BINDIR", str(tmp_path / "PostgreSQL" / "17" / "bin"))
    with pytest.raises(cluster.ClusterError, match=r"initdb\.exe, pg_ctl\.exe, postgres\.exe"):
        cluster.find_bindir()


def test_no_postgresql_names_the_windows_places(on_windows, tmp_path):
    from replication import cluster

    on_windows.delenv("STRONGROOM_PG_BINDIR", raising=False)
    on_windows.setenv("ProgramFiles", str(tmp_path))
    on_windows.setattr(cluster.shutil, "which", lambda name: None)
    with pytest.raises(cluster.ClusterError) as caught:
        cluster.find_bindir()
    assert "initdb.exe" in str(caught.value)
    assert "C:\\Program Files\\PostgreSQL\\*\\bin" in str(caught.value)


def test_postgresql_tools_get_a_windows_environment(on_windows, tmp_path):
    """Run as the service's account (no user switch) with the environment Windows programs
    need (SYSTEMROOT), never an inherited PGPASSWORD."""
    from replication import cluster

    seen = {}

    def fake_run(cmd, **kwargs):
        seen.update(cmd=cmd, **kwargs)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    on_windows.setenv("SYSTEMROOT", "C:\\Windows")
    on_windows.setenv("PGPASSWORD", "leaked")
    on_windows.setattr(cluster.subprocess, "run", fake_run)
    made = cluster.Cluster(tmp_path / "data", 7432, bindir=tmp_path / "bin")
    made.run_tool("pg_ctl", "status", "-D", str(tmp_path / "data"))
    assert seen["cmd"][0] == str(tmp_path / "bin" / "pg_ctl.exe")
    assert seen["env"]["SYSTEMROOT"] == "C:\\Windows"
    assert "PGPASSWORD" not in seen["env"]
    assert "user" not in seen and "group" not in seen


def test_key_files_are_protected_with_icacls(on_windows, tmp_path):
    from server.security import crypto

    ran = []
    on_windows.setattr(
        hostos.subprocess,
        "run",
        lambda cmd, **kw: ran.append(cmd) or subprocess.CompletedProcess(cmd, 0, "", ""),
    )
    key = tmp_path / "master.key"
    crypto.write_key_file(key, crypto.new_key())
    assert ran == [["icacls", str(key), "/inheritance:r", "/grant:r", "*S-1-3-4:F", "*S-1-5-18:F"]]


def test_the_master_key_and_tls_key_acls_are_checked_at_start(on_windows, tmp_path):
    """As mode 0600 on Linux: a key another account may read stops the start, and the
    error gives the icacls command that fixes it."""
    from server.security import crypto
    from server.security.tls import private_key_problem

    key = tmp_path / "master.key"
    key.write_bytes(b"k" * crypto.KEY_BYTES)
    owner = "S-1-5-21-1-2-3-1001"
    acl = {"now": (owner, [owner, hostos.SYSTEM_SID])}
    on_windows.setattr(hostos, "file_acl", lambda path: acl["now"])
    assert crypto.load_master_key(key) == b"k" * crypto.KEY_BYTES
    acl["now"] = (owner, [owner, hostos.SYSTEM_SID, "S-1-5-32-545"])  # BUILTIN\Users
    with pytest.raises(crypto.MasterKeyError) as caught:
        crypto.load_master_key(key)
    message = str(caught.value)
    assert "S-1-5-32-545" in message
    assert f"icacls {key} /inheritance:r /grant:r *S-1-3-4:F *S-1-5-18:F" in message
    tls_key = tmp_path / "tls.key"
    tls_key.write_text("key")
    assert "S-1-5-32-545" in private_key_problem(tls_key)
    acl["now"] = (owner, [hostos.OWNER_RIGHTS_SID, hostos.SYSTEM_SID])
    assert private_key_problem(tls_key) is None


def test_the_tls_key_mode_is_checked_on_linux_too(tmp_path):
    from server.security.tls import private_key_problem

    key = tmp_path / "tls.key"
    key.write_text("key")
    key.chmod(0o644)
    assert "chmod 600" in private_key_problem(key)
    key.chmod(0o600)
    assert private_key_problem(key) is None


def test_file_locks_use_msvcrt_on_windows(on_windows, tmp_path):
    calls = []
    fake = types.SimpleNamespace(
        LK_NBLCK=2, LK_UNLCK=0, locking=lambda fd, mode, size: calls.append((mode, size))
    )
    on_windows.setitem(sys.modules, "msvcrt", fake)
    on_windows.setitem(sys.modules, "fcntl", None)  # as on Windows: not there at all
    fd = os.open(tmp_path / "anchors.jsonl", os.O_RDWR | os.O_CREAT)
    try:
        hostos.lock(fd, exclusive=False)
        hostos.unlock(fd)
    finally:
        os.close(fd)
    assert calls == [(2, 1), (0, 1)]


def test_windows_answers_go_to_windows_paths():
    from server.ops import silent_install

    answers = silent_install.validate(
        silent_install.read_answer_file(WINDOWS / "WindowsPrimaryMSP.iss")
    )
    assert str(answers.install_dir) == "C:\\Program Files\\Strongroom"
    assert silent_install._windows_home(answers) == PureWindowsPath("C:/Program Files/Strongroom")


def test_dry_run_prints_exactly_what_a_windows_install_runs(on_windows, tmp_path, capsys):
    """Simulated Windows with PostgreSQL 16 in Program Files: the dry run's lines are the
    exact commands, in order (folder ACL, initdb.exe, key ACLs, sc.exe)."""
    from replication import cluster
    from server.ops import silent_install

    on_windows.delenv("STRONGROOM_PG_BINDIR", raising=False)
    on_windows.setenv("ProgramFiles", str(tmp_path))
    on_windows.setattr(cluster.shutil, "which", lambda name: None)
    bindir = _fake_postgres(tmp_path, "16")
    on_windows.setattr(silent_install, "service_python", lambda: Path("C:/Python312/python.exe"))
    iss = tmp_path / "WindowsPrimaryMSP.iss"
    iss.write_text(
        (WINDOWS / "WindowsPrimaryMSP.iss")
        .read_text()
        .replace("SERVICE_NAME=Strongroom", "SERVICE_NAME=StrongroomTest")
    )
    silent_install.install(iss, tmp_path / "dry.log", mode="windows", dry_run=True)
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    home = "C:\\Program Files\\Strongroom"
    script = f"{home}\\program\\strongroom-service.py"
    config = f"{home}\\conf\\strongroom.toml"
    bin_path = (
        f'\\"C:/Python312/python.exe\\" -E -s \\"{script}\\" --name StrongroomTest '
        f'--config \\"{config}\\"'
    )
    assert printed == [
        f'icacls "{home}" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F',
        subprocess.list2cmdline([str(PureWindowsPath(str(bindir)) / "initdb.exe")])
        + f' -D "{home}\\pgsql\\data" -U strongroom_admin '
        f'"--pwfile={home}\\pgsql\\.initdb-pw" --auth=scram-sha-256 --encoding=UTF8 --locale=C',
        f'icacls "{home}\\conf\\master.key" /inheritance:r /grant:r *S-1-3-4:F *S-1-5-18:F',
        f'icacls "{home}\\conf\\tls.key" /inheritance:r /grant:r *S-1-3-4:F *S-1-5-18:F',
        f'sc.exe create StrongroomTest binPath= "{bin_path}" start= auto '
        'DisplayName= "Strongroom (primary)"',
        'sc.exe description StrongroomTest "Strongroom privileged password manager"',
        "sc.exe failure StrongroomTest reset= 86400 actions= restart/2000",
        "sc.exe start StrongroomTest",
    ]


def test_cli_dry_run_on_linux_names_the_windows_commands():
    """The real command, on this Linux host: a Windows plan (initdb.exe, icacls, sc.exe
    with the service host script), where PostgreSQL would be named by its usual folder."""
    result = run_cli(
        "install",
        "--answer-file",
        str(WINDOWS / "WindowsPrimaryMSP.iss"),
        "--service",
        "windows",
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"C:\\Program Files\\PostgreSQL\\<version>\\bin\\initdb.exe" -D' in out
    assert "--locale=C\n" in out
    assert 'icacls "C:\\Program Files\\Strongroom\\conf\\master.key"' in out
    assert "strongroom-service.py" in out and "sc.exe start Strongroom" in out
    un = run_cli(
        "install",
        "--answer-file",
        str(WINDOWS / "WindowsUninstallMSP.iss"),
        "--service",
        "windows",
        "--dry-run",
    )
    assert un.returncode == 0, un.stderr
    lines = [x for x in un.stdout.splitlines() if x.startswith("sc.exe")]
    assert lines == ["sc.exe stop Strongroom", "sc.exe delete Strongroom"]
    assert "would remove C:\\Program Files\\Strongroom (keeping backups)" in un.stdout


def test_the_service_answers_the_service_control_manager(monkeypatch, tmp_path):
    """pywin32's framework replaced by a recorder: SvcStop reports STOP_PENDING and sets
    the event serve watches; SvcDoRun serves the node and returns when it is set."""
    from server.ops import winservice

    reported, logged = [], []

    class Framework:
        def __init__(self, args):
            self.args = args

        def ReportServiceStatus(self, status, waitHint=0):
            reported.append((status, waitHint))

    fakes = {
        "win32serviceutil": types.SimpleNamespace(ServiceFramework=Framework),
        "win32service": types.SimpleNamespace(SERVICE_STOP_PENDING=3),
        "servicemanager": types.SimpleNamespace(
            LogInfoMsg=logged.append, LogErrorMsg=logged.append
        ),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    served = threading.Event()

    def fake_run(config_path, stopping):
        served.set()
        assert stopping.wait(10)

    monkeypatch.setattr(winservice, "run_service", fake_run)
    cls = winservice.service_class("StrongroomTest", tmp_path / "strongroom.toml")
    assert cls._svc_name_ == "StrongroomTest"
    svc = cls(["StrongroomTest"])
    runner = threading.Thread(target=svc.SvcDoRun)
    runner.start()
    assert served.wait(10)
    svc.SvcStop()
    runner.join(10)
    assert not runner.is_alive()
    assert reported == [(3, 90_000)]
    assert any("stopped" in m for m in logged)


def test_the_service_host_script_puts_the_runtime_on_the_path():
    from server.ops.winservice import host_script

    text = host_script(
        PureWindowsPath("C:/S/program/runtime/Lib/site-packages"), PureWindowsPath("C:/S/app")
    )
    compile(text, "strongroom-service.py", "exec")
    assert "site.addsitedir('C:\\\\S\\\\program\\\\runtime\\\\Lib\\\\site-packages')" in text
    assert "from server.ops.winservice import main" in text


async def test_a_stop_request_ends_serving(tmp_path):
    """Windows has no SIGTERM for another process: ``strongroom stop`` writes the stop file
    and the server's watcher ends serving (the service sets an event instead)."""
    from server.core.config import Config
    from server.ops import service

    config = Config(home=tmp_path)
    config.pid_file.parent.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    watcher = asyncio.create_task(service._watch_stop(config, stop, None))
    await asyncio.sleep(0.1)
    assert not stop.is_set()
    service.stop_file(config).write_text("stop\n")
    await asyncio.wait_for(stop.wait(), 5)
    await watcher
    assert not service.stop_file(config).exists()
    event = threading.Event()
    stop = asyncio.Event()
    watcher = asyncio.create_task(service._watch_stop(config, stop, event))
    event.set()
    await asyncio.wait_for(stop.wait(), 5)


def test_stop_on_windows_asks_through_the_stop_file(on_windows, tmp_path):
    from server.core.config import Config
    from server.ops import service

    config = Config(home=tmp_path)
    config.database.embedded = False
    asked = []
    on_windows.setattr(service, "server_pid", lambda c: 4242)
    on_windows.setattr(
        service,
        "_alive",
        lambda pid: asked.append(service.stop_file(config).exists()) or len(asked) < 3,
    )
    on_windows.setattr(hostos, "terminate", lambda pid, hard=False: pytest.fail("terminated"))
    config.pid_file.parent.mkdir(parents=True, exist_ok=True)
    assert service.stop(config) == ["server (pid 4242)"]
    assert asked[0] is True  # the stop file was there while it shut down
    assert not service.stop_file(config).exists()
