"""Linux/Unix over SSH (asyncssh): ``passwd`` as the account itself, or ``chpasswd``
through a reconciliation account (root, or a sudoer with the ``sudo`` option); the new
password goes on stdin, never on a command line. The server's host key is pinned: no
password is sent before the key the target presents matches the pinned fingerprint, and a
changed key is refused (issue 29)."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from server.security.ssh_keys import GATEWAY_CIPHERS, GATEWAY_MACS
from server.services.connectors.base import Connector, Login, Target, TargetError

with warnings.catch_warnings():
    # asyncssh still names cryptography's deprecated DSA types at import.
    warnings.simplefilter("ignore")
    import asyncssh

# To a target: the gateway's fast ciphers and MACs first (a brokered session's every
# keystroke crosses this connection twice), then the rest of asyncssh's defaults, so a
# target offering only those still connects (issue 30, echo latency).
_CIPHERS = [*GATEWAY_CIPHERS] + [
    alg.decode()
    for alg in asyncssh.encryption.get_default_encryption_algs()
    if alg.decode() not in GATEWAY_CIPHERS
]
_MACS = [*GATEWAY_MACS] + [
    alg.decode() for alg in asyncssh.mac.get_default_mac_algs() if alg.decode() not in GATEWAY_MACS
]


class _PinningClient(asyncssh.SSHClient):
    """Accepts the server's host key only when its SHA-256 fingerprint is the pinned one;
    remembers the fingerprint presented, for the refusal's message and audit."""

    def __init__(self, pinned: str) -> None:
        self.pinned = pinned
        self.presented = ""

    def validate_host_public_key(self, host: str, addr: str, port: int, key: Any) -> bool:
        self.presented = key.get_fingerprint("sha256")
        return bool(self.pinned) and self.presented == self.pinned


# chpasswd through sudo, the reconciliation account's own password and then ``user:new`` on
# stdin (nothing secret on the command line; ``read``, ``printf`` are shell built-ins).
# The shell reads the sudo password itself, so that whatever sudo's rule is, no line but
# ``user:new`` ever reaches chpasswd (with a NOPASSWD rule, ``sudo -S`` reads nothing and a
# password like ``root:x`` would otherwise be applied as a line), and the password is
# checked (``sudo -v``, cached credentials ignored) before chpasswd runs, so that a
# refused sudo password never makes sudo read the new password as a second attempt.
_SUDO_SCRIPT = "; ".join(
    (
        "LC_ALL=C",
        "export LC_ALL",
        'command -v sudo >/dev/null || { echo "sudo is not installed on the target" >&2; exit 4; }',
        "IFS= read -r pw || exit 2",
        "if sudo -n chpasswd </dev/null >/dev/null 2>&1; then exec sudo -n chpasswd; fi",
        'printf "%s\\n" "$pw" | sudo -S -k -v -p "" || { echo "sudo refused the '
        'reconciliation account (its password, or it may not use sudo)" >&2; exit 3; }',
        '{ printf "%s\\n" "$pw"; exec cat; } | sudo -S -k -p "" chpasswd',
    )
)
SUDO_CHPASSWD = f"/bin/sh -c '{_SUDO_SCRIPT}'"


class SshConnector(Connector):
    """A local account of a Linux/Unix host, over SSH with password authentication."""

    name = "ssh"
    title = "Linux/Unix over SSH"
    resource_types = frozenset({"linux", "unix", "server"})
    fields = ("host", "port", "host_key")
    options = ("sudo",)  # sudo: the reconciliation account runs `sudo -S chpasswd`
    default_port = 22
    pins_host_key = True

    def unusable(self, password: str) -> str | None:
        """chpasswd and passwd read one line per password."""
        return super().unusable(password)

    async def _connect(
        self, target: Target, login: Login, private_key: str | None = None
    ) -> asyncssh.SSHClientConnection:
        if not target.host_key:
            raise TargetError("host_key_unknown")
        client = _PinningClient(target.host_key)
        keys = None
        if private_key:  # a stored private key (issue 30): tried before the password
            try:
                keys = [asyncssh.import_private_key(private_key)]
            except (asyncssh.KeyImportError, ValueError):
                raise TargetError(
                    "misconfigured", "the stored private key cannot be read"
                ) from None
        try:
            conn, _ = await asyncssh.create_connection(
                lambda: client,
                target.host,
                target.port,
                username=login.username,
                password=login.password,
                known_hosts=([], [], []),  # nothing trusted: validate_host_public_key decides
                client_keys=keys,
                agent_path=None,
                preferred_auth=(
                    "publickey,password,keyboard-interactive"
                    if keys
                    else "password,keyboard-interactive"
                ),
                connect_timeout=target.timeout,
                login_timeout=target.timeout,
                kbdint_auth=False,
                config=None,
                encryption_algs=_CIPHERS,
                mac_algs=_MACS,
            )
            return conn
        except asyncssh.HostKeyNotVerifiable:
            raise TargetError(
                "host_key_changed",
                f"the target presented host key {client.presented or 'of an unknown kind'}, "
                f"not the pinned {target.host_key}: nothing was sent",
                presented=client.presented,
            ) from None
        except asyncssh.PermissionDenied:
            raise TargetError(
                "login_failed", f"the target refused the login of {login.username}"
            ) from None
        except TimeoutError:
            raise TargetError("timeout") from None
        except (OSError, asyncssh.Error) as exc:
            raise TargetError(
                "unreachable", f"the target could not be reached ({type(exc).__name__})"
            ) from None

    async def host_key(self, target: Target) -> str:
        """The SHA-256 fingerprint of the host key the target presents (no login)."""
        try:
            key = await asyncio.wait_for(
                asyncssh.get_server_host_key(target.host, target.port), target.timeout
            )
        except TimeoutError:
            raise TargetError("timeout") from None
        except (OSError, asyncssh.Error) as exc:
            raise TargetError(
                "unreachable", f"the target could not be reached ({type(exc).__name__})"
            ) from None
        if key is None:
            raise TargetError("unreachable", "the target presented no host key")
        fingerprint: str = key.get_fingerprint("sha256")
        return fingerprint

    async def verify(self, target: Target, account: Login) -> None:
        """Log in with password authentication (the connection is closed at once)."""
        conn = await self._connect(target, account)
        conn.close()
        await conn.wait_closed()

    async def change_password(
        self, target: Target, account: Login, new_password: str, via: Login | None
    ) -> None:
        """``passwd`` (current, new, new on stdin) as the account, or ``chpasswd``
        (``user:new`` on stdin) through ``via``. With the ``sudo`` option ``via`` is a
        sudoer: its own password goes first on stdin and is checked by ``sudo -v`` before
        ``sudo chpasswd`` runs (``SUDO_CHPASSWD``); a NOPASSWD rule works too, and no line
        but ``user:new`` ever reaches chpasswd. Raises TargetError (``refused`` naming sudo
        when it does not accept the reconciliation account)."""
        if any(c in account.username for c in ":\n") or not account.username:
            raise TargetError("misconfigured", "the account name cannot be used with chpasswd")
        if via is None:
            conn = await self._connect(target, account)
            command, tool = "LC_ALL=C passwd", "passwd"
            stdin = f"{account.password}\n{new_password}\n{new_password}\n"
        else:
            conn = await self._connect(target, via)
            if target.options.get("sudo"):
                command, tool = SUDO_CHPASSWD, "sudo chpasswd"
                stdin = f"{via.password}\n{account.username}:{new_password}\n"
            else:
                command, tool = "LC_ALL=C chpasswd", "chpasswd"
                stdin = f"{account.username}:{new_password}\n"
        try:
            async with conn:
                done = await asyncio.wait_for(
                    conn.run(command, input=stdin, check=False), target.timeout
                )
        except (TimeoutError, OSError, asyncssh.Error):
            raise TargetError(
                "unreachable",
                "the connection ended while the password was being changed",
                maybe_changed=True,
            ) from None
        if done.exit_status != 0:
            said = _clean(str(done.stderr or ""), (account.password, new_password, via))
            raise TargetError("refused", f"{tool} failed (exit {done.exit_status}): {said}")


def _clean(text: str, secrets: tuple[Any, ...]) -> str:
    """A target's last error line, short, with any secret blanked out (defence in depth:
    passwd and chpasswd do not echo passwords)."""
    line = next((x for x in reversed(text.strip().splitlines()) if x.strip()), "")[:200]
    for secret in secrets:
        value = secret.password if isinstance(secret, Login) else secret
        if value:
            line = line.replace(value, "***")
    return line


async def connect_pinned(
    target: Target, login: Login, private_key: str | None = None
) -> asyncssh.SSHClientConnection:
    """An SSH connection to ``target`` as ``login`` (password authentication, or
    ``private_key`` first when given), its host key pinned exactly as a rotation pins it:
    nothing is sent before the presented key matches ``target.host_key``. For the
    gateway's brokered sessions (issue 30).

    Raises: TargetError (``host_key_unknown``, ``host_key_changed`` with ``presented``,
    ``login_failed``, ``timeout``, ``unreachable``, ``misconfigured``).
    """
    return await SshConnector()._connect(target, login, private_key)
