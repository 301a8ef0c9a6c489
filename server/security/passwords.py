"""Login password hashing with Argon2id (from ``cryptography``).

Hashes are PHC strings. Hashing and verifying run in a worker thread so a login
never stalls the event loop. Unknown users are checked against a dummy hash so
that timing does not tell whether a username exists.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

_PHC = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")

# OWASP's minimum for Argon2id; configuration may only go above it.
MIN_MEMORY_KIB, MIN_ITERATIONS, MIN_LANES = 19456, 2, 1


@dataclass(frozen=True)
class Argon2Params:
    """Cost parameters: memory in KiB, iterations, lanes."""

    memory_kib: int = 65536
    iterations: int = 2
    lanes: int = 1

    def describe(self) -> str:
        """Human-readable parameters, e.g. for benchmarks."""
        return f"Argon2id m={self.memory_kib} KiB, t={self.iterations}, p={self.lanes}"


class PasswordHasher:
    """Hash and verify login passwords with fixed Argon2id parameters."""

    def __init__(self, params: Argon2Params) -> None:
        if (
            params.memory_kib < MIN_MEMORY_KIB
            or params.iterations < MIN_ITERATIONS
            or params.lanes < MIN_LANES
        ):
            raise ValueError("Argon2id parameters are below the OWASP minimum (m=19456, t=2)")
        self.params = params
        self._dummy = self.hash_sync(secrets.token_urlsafe(16))

    def hash_sync(self, password: str) -> str:
        """Hash a password (blocking)."""
        kdf = Argon2id(
            salt=secrets.token_bytes(16),
            length=32,
            iterations=self.params.iterations,
            lanes=self.params.lanes,
            memory_cost=self.params.memory_kib,
        )
        return kdf.derive_phc_encoded(password.encode())

    @staticmethod
    def verify_sync(password: str, phc: str) -> bool:
        """Constant-time verification of a password against a PHC string (blocking)."""
        try:
            Argon2id.verify_phc_encoded(password.encode(), phc)
        except (InvalidKey, ValueError):
            return False
        return True

    async def hash(self, password: str) -> str:
        """Hash a password off the event loop."""
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, password: str, phc: str | None) -> bool:
        """Verify off the event loop; with ``phc`` None, burn the same time and fail."""
        ok = await asyncio.to_thread(self.verify_sync, password, phc or self._dummy)
        return ok and phc is not None

    def needs_rehash(self, phc: str) -> bool:
        """True when a stored hash is weaker than the current parameters."""
        match = _PHC.match(phc)
        if not match:
            return True
        m, t, p = (int(g) for g in match.groups())
        return m < self.params.memory_kib or t < self.params.iterations or p < self.params.lanes


def check_login_password(password: str, username: str) -> str | None:
    """Why a new login password is unacceptable, or None."""
    if len(password) < 12:
        return "must be at least 12 characters"
    if len(password) > 1024:
        return "must be at most 1024 characters"
    if password.lower() == username.lower():
        return "must not be the username"
    return None
