"""The connector interface: how Strongroom changes and verifies a password on a target.

A connector serves some resource types (``resource_types``), needs some connection
settings of the resource (``fields``: host, port, a pinned host key, options), and does two
things: change an account's password on the target — as the account itself, or through a
*reconciliation account* of the same resource — and verify that a password logs in. It
does network I/O and nothing else: it reads no database, records no audit event and never
puts a password in an exception, a log line or a command line (issue 29). The rotation
engine (server/services/rotation.py) decides when and records what happened.

Adding a connector (Windows over WinRM, a network device over its SSH CLI, ...): write a
module in this package with a subclass of ``Connector``, and list an instance of it in
``server/services/connectors/__init__.py``'s ``CONNECTORS``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Why an operation on a target failed: stable codes the API and the audit trail carry.
REASONS = {
    "unreachable": "the target could not be reached",
    "timeout": "the target did not answer in time",
    "host_key_unknown": "no host key is pinned for this target yet (confirm one first)",
    "host_key_changed": "the target presented a host key other than the pinned one",
    "tls_failed": "the TLS connection to the target failed",
    "login_failed": "the target refused the login",
    "refused": "the target refused the password change",
    "no_reconciliation_account": "the reconciliation account is missing",
    "misconfigured": "the connection settings are incomplete",
    "not_allowed": "the target's address is not allowed (this server, link-local, multicast)",
}


class TargetError(Exception):
    """An operation on a target failed, with a stable ``reason`` (a key of ``REASONS``)
    and a message naming no secret. ``maybe_changed``: the change command was sent and its
    outcome is unknown (the engine then checks which password works)."""

    def __init__(
        self, reason: str, message: str | None = None, *, maybe_changed: bool = False, **extra: Any
    ) -> None:
        self.reason = reason
        self.message = message or REASONS.get(reason, reason)
        self.maybe_changed = maybe_changed
        self.extra = extra
        super().__init__(self.message)


@dataclass(frozen=True)
class Target:
    """Where a resource's accounts live and how to reach it (the resource's connection)."""

    host: str
    port: int
    host_key: str = ""  # the pinned key's fingerprint (SSH: 'SHA256:...'); '' = none yet
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 15.0


@dataclass(frozen=True)
class Login:
    """A user name and its password (the password never shows in ``repr``)."""

    username: str
    password: str = field(repr=False)


class Connector(ABC):
    """One kind of target. Subclasses set the class attributes and the two operations."""

    name: ClassVar[str]  # as stored on the resource's connection, e.g. "ssh"
    title: ClassVar[str]  # as people read it
    resource_types: ClassVar[frozenset[str]]  # resource types it serves (casefolded)
    fields: ClassVar[tuple[str, ...]] = ("host", "port")  # connection settings it needs
    options: ClassVar[tuple[str, ...]] = ()  # the option names it understands
    default_port: ClassVar[int]
    pins_host_key: ClassVar[bool] = False  # True: nothing is sent before the key is pinned

    def serves(self, resource_type: str) -> bool:
        """Whether this connector serves resources of ``resource_type``."""
        return resource_type.casefold() in self.resource_types

    def unusable(self, password: str) -> str | None:
        """Why ``password`` cannot be set on this kind of target (None: it can)."""
        if any(c in password for c in "\r\n\0"):
            return "a password for a target cannot contain line breaks or NUL"
        return None

    @abstractmethod
    async def change_password(
        self, target: Target, account: Login, new_password: str, via: Login | None
    ) -> None:
        """Set ``account``'s password on ``target`` to ``new_password``: as the account
        itself (``via`` None, with its current password) or through the reconciliation
        account ``via``. Raises TargetError."""

    @abstractmethod
    async def verify(self, target: Target, account: Login) -> None:
        """Log in to ``target`` as ``account``; return when it works. Raises TargetError
        (``login_failed`` when the password is refused)."""

    def options_problem(self, options: Mapping[str, Any]) -> tuple[str, str] | None:
        """What is wrong with the connection's ``options`` as (option name, why), or None.
        Connectors check what they can in memory (e.g. a CA as PEM text); no option ever
        names a path on the server (attacker finding 2)."""
        return None

    async def host_key(self, target: Target) -> str:
        """The fingerprint of the key ``target`` presents now (no login). Connectors that
        pin no key answer ''."""
        return ""
