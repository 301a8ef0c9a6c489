"""Strongroom as a real Windows service (pywin32's service framework; issue 34, item 1).

The Service Control Manager starts ``program\\strongroom-service.py`` (written by the
install, ``host_script``) with the base interpreter that made the node's runtime; that
script puts the runtime's libraries on the path and calls ``main``, which connects to the
SCM (``StartServiceCtrlDispatcher``) and runs ``StrongroomService``:

- ``SvcDoRun`` serves exactly as ``strongroom serve`` does (server.ops.service.
  serve_foreground, in this thread) and, once serving ends, stops the embedded PostgreSQL
  (``pg_ctl stop -m fast``), so a stopped service leaves no database running;
- ``SvcStop`` reports STOP_PENDING and sets the event ``serve_foreground`` watches.

Why not the venv's ``Scripts\\python.exe``: on Windows that file is a launcher that starts
the base interpreter as a *child* process, and the SCM would be talking to the launcher,
which never answers it. The base interpreter is the one that made the runtime (so its
compiled libraries fit) and is recorded in the runtime's ``pyvenv.cfg``.

pywin32 is a dependency on Windows only (pyproject: ``pywin32; sys_platform == "win32"``);
this module imports it inside the functions, so it imports anywhere.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path, PureWindowsPath
from typing import Any

HOST_SCRIPT = "strongroom-service.py"


def host_script(runtime_site: PureWindowsPath | Path, app: PureWindowsPath | Path) -> str:
    """The text of ``program\\strongroom-service.py``: the runtime's libraries and the
    program on the path (``site.addsitedir`` also runs pywin32's .pth, which finds its
    DLLs), then ``main``."""
    return (
        "# Written by strongroom install: the Windows service's entry point.\n"
        "import site\nimport sys\n\n"
        f"site.addsitedir({str(runtime_site)!r})\n"
        f"sys.path.insert(0, {str(app)!r})\n"
        "from server.ops.winservice import main\n\n"
        "sys.exit(main())\n"
    )


def service_class(name: str, config_path: Path) -> Any:
    """A ``win32serviceutil.ServiceFramework`` subclass for the service ``name`` serving
    the node of ``config_path``."""
    import servicemanager  # type: ignore[import-not-found]
    import win32service  # type: ignore[import-not-found]
    import win32serviceutil  # type: ignore[import-not-found]

    class StrongroomService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = name
        _svc_display_name_ = f"Strongroom ({name})"
        _svc_description_ = "Strongroom privileged password manager"

        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            self.stopping = threading.Event()

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=90_000)
            self.stopping.set()

        def SvcDoRun(self) -> None:
            servicemanager.LogInfoMsg(f"Strongroom service {name}: starting ({config_path})")
            try:
                run_service(config_path, self.stopping)
            except Exception as exc:
                servicemanager.LogErrorMsg(f"Strongroom service {name}: {exc}")
                raise
            servicemanager.LogInfoMsg(f"Strongroom service {name}: stopped")

    return StrongroomService


def run_service(config_path: Path, stopping: threading.Event) -> None:
    """Serve until ``stopping`` is set, then stop the embedded PostgreSQL cleanly."""
    from server.core.config import load_config
    from server.ops import service

    config = load_config(config_path)
    service.configure_logging(config, to_stderr=False)
    try:
        service.serve_foreground(config, stop_event=stopping)
    finally:
        cluster = service.embedded_cluster(config)
        if cluster is not None and cluster.is_running():
            cluster.stop(mode="fast")


def main(argv: list[str] | None = None) -> int:
    """Entry point when the SCM starts the service: ``--name NAME --config FILE``."""
    parser = argparse.ArgumentParser(prog="strongroom-service")
    parser.add_argument("--name", required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import servicemanager

    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(service_class(args.name, Path(args.config)))
    servicemanager.StartServiceCtrlDispatcher()
    return 0
