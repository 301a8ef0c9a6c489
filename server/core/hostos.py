"""What differs between Linux and Windows, in one place (issue 34, item 1).

Every POSIX-only module (``pwd``, ``fcntl``) and every Windows-only one (``msvcrt``,
``ctypes.windll``, pywin32's ``win32security``) is imported here, inside the function that
needs it, so that the whole program imports on either system. Callers ask ``IS_WINDOWS``
*at call time* (``hostos.IS_WINDOWS``, never ``from hostos import IS_WINDOWS``), so tests
run the Windows branches on Linux by setting it (``monkeypatch.setattr(hostos,
"IS_WINDOWS", True)``) and stubbing the one helper that would touch the Windows API.

Private files (the master key, the TLS key): mode 0600 on POSIX; on Windows an ACL that
grants the owner and SYSTEM only, with inheritance removed (``icacls``), checked at start
like the mode (OWASP ASVS 4.0 V6.4.1: key material protected at rest).
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path, PureWindowsPath
from typing import Any

IS_WINDOWS = sys.platform == "win32"

SYSTEM_SID = "S-1-5-18"  # NT AUTHORITY\SYSTEM, the account the Windows service runs as
OWNER_RIGHTS_SID = "S-1-3-4"  # OWNER RIGHTS: whoever owns the file
ADMINISTRATORS_SID = "S-1-5-32-544"  # BUILTIN\Administrators
PG_TOOLS = ("initdb", "pg_ctl", "postgres")


def exe(name: str) -> str:
    """A program's file name on this system: ``initdb`` on POSIX, ``initdb.exe`` on Windows."""
    return f"{name}.exe" if IS_WINDOWS else name


def windows_postgres_bindirs() -> list[Path]:
    """``<Program Files>\\PostgreSQL\\<version>\\bin`` folders, newest version first (the
    EDB installer's layout; ``%ProgramFiles%`` and ``%ProgramW6432%`` are both looked at)."""
    roots = []
    for var in ("ProgramFiles", "ProgramW6432"):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]))
    roots.append(Path("C:\\Program Files"))
    found: list[Path] = []
    for root in dict.fromkeys(roots):
        base = root / "PostgreSQL"
        if not base.is_dir():
            continue
        for version in base.iterdir():
            if (version / "bin").is_dir():
                found.append(version / "bin")
    return sorted(found, key=lambda p: _version_number(p.parent.name), reverse=True)


def _version_number(name: str) -> float:
    try:
        return float(name)
    except ValueError:
        return 0.0


# -- file locks -------------------------------------------------------------------------


def lock(fd: int, exclusive: bool = True) -> None:
    """Block until this process holds a lock on the open file ``fd`` (``flock`` on POSIX;
    on Windows ``msvcrt.locking`` of its first byte, which is always exclusive). Released
    by ``unlock`` or when the file is closed."""
    if IS_WINDOWS:
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
                return
            except OSError:
                time.sleep(0.05)
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)


def unlock(fd: int) -> None:
    """Release ``lock`` (Windows needs it before the file is closed; harmless on POSIX)."""
    with contextlib.suppress(OSError):
        if IS_WINDOWS:
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; NTFS journals renames itself and a
    folder cannot be opened as a file on Windows)."""
    if IS_WINDOWS:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- processes --------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Tell whether process ``pid`` runs (a zombie child of ours is reaped and is not)."""
    if IS_WINDOWS:
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def terminate(pid: int, hard: bool = False) -> None:
    """Ask ``pid`` to stop (SIGTERM), or with ``hard`` end it (SIGKILL). Windows has no
    signals for another process: the polite request is the stop file the server watches
    (server.ops.service), and both end in TerminateProcess here."""
    import signal

    if IS_WINDOWS:
        os.kill(pid, signal.SIGTERM)  # TerminateProcess on Windows
        return
    os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)


def detached_process_options() -> dict[str, Any]:
    """``subprocess.Popen`` options that detach a background server from this console."""
    if IS_WINDOWS:
        flags = 0x00000200 | 0x08000000  # CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW
        return {"creationflags": flags}
    return {"start_new_session": True}


# -- private files ----------------------------------------------------------------------


def protect_commands(path: Path | PureWindowsPath) -> list[list[str]]:
    """The commands that leave the file ``path`` to its owner and SYSTEM only (Windows):
    inherited entries removed, every other grant replaced. The owner is named by the
    OWNER RIGHTS SID, so the command is the same whoever installs."""
    return [
        [
            "icacls",
            str(path),
            "/inheritance:r",
            "/grant:r",
            f"*{OWNER_RIGHTS_SID}:F",
            f"*{SYSTEM_SID}:F",
        ]
    ]


def protect_folder_commands(path: Path | PureWindowsPath) -> list[list[str]]:
    """The commands that leave an install folder (and what is made in it) to SYSTEM, the
    service's account, and the Administrators group (Windows): as conf/ 0700 and the
    data directory owned by the postgres user are on Linux."""
    return [
        [
            "icacls",
            str(path),
            "/inheritance:r",
            "/grant:r",
            f"*{SYSTEM_SID}:(OI)(CI)F",
            f"*{ADMINISTRATORS_SID}:(OI)(CI)F",
        ]
    ]


def run_commands(commands: list[list[str]]) -> None:
    """Run each command; raise OSError naming the first that fails."""
    for cmd in commands:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise OSError(f"{subprocess.list2cmdline(cmd)} failed: {detail}")


def make_private(path: Path) -> None:
    """Leave ``path`` readable by its owner only: mode 0600 (POSIX), or an ACL for the
    owner and SYSTEM (Windows, ``protect_commands``).

    Raises:
        OSError: the mode or the ACL could not be set.
    """
    if not IS_WINDOWS:
        path.chmod(0o600)
        return
    run_commands(protect_commands(path))


def private_file_problem(path: Path) -> str | None:
    """What makes ``path`` readable by someone other than its owner (and SYSTEM), with
    the command that fixes it; None when it is private. POSIX: a group or other mode bit.
    Windows: an allowing ACL entry for any other account (``file_acl``)."""
    if not IS_WINDOWS:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            return f"is readable by group or others (mode {mode:04o}); run: chmod 600 {path}"
        return None
    owner, allowed = file_acl(path)
    others = sorted(set(allowed) - {owner, OWNER_RIGHTS_SID, SYSTEM_SID})
    if not others:
        return None
    fix = subprocess.list2cmdline(protect_commands(path)[0])
    return f"is open to accounts other than its owner and SYSTEM ({', '.join(others)}); run: {fix}"


def file_acl(path: Path) -> tuple[str, list[str]]:
    """(owner SID, SIDs the DACL allows any access) of ``path`` on Windows (pywin32)."""
    import win32security

    info = win32security.OWNER_SECURITY_INFORMATION | win32security.DACL_SECURITY_INFORMATION
    sd = win32security.GetFileSecurity(str(path), info)
    owner = win32security.ConvertSidToStringSid(sd.GetSecurityDescriptorOwner())
    dacl = sd.GetSecurityDescriptorDacl()
    if dacl is None:  # a NULL DACL lets everyone in
        return owner, ["S-1-1-0"]
    allowed = []
    for index in range(dacl.GetAceCount()):
        (ace_type, _flags), _mask, sid = dacl.GetAce(index)
        if ace_type == win32security.ACCESS_ALLOWED_ACE_TYPE:
            allowed.append(win32security.ConvertSidToStringSid(sid))
    return owner, allowed


def lookup_account(name: str) -> Any:
    """The POSIX account ``name`` (``pwd.struct_passwd``), or None if there is none."""
    import pwd

    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def is_superuser() -> bool:
    """Root on POSIX. Windows: False, as PostgreSQL's own tools drop administrator
    rights there by themselves (a restricted token), so no account switch is needed."""
    if IS_WINDOWS:
        return False
    return os.geteuid() == 0
