"""Two-factor recovery codes (issue 27, item 3): ten one-time codes made at TOTP
enrolment, each usable once in place of a TOTP code.

A code is 16 characters of a 32-symbol alphabet (80 random bits from ``secrets``), shown
as ``xxxx-xxxx-xxxx-xxxx`` so it cannot be mistaken for a 6-digit TOTP code. It is kept
as SHA-256(per-user salt || code): with 80 bits of entropy a guess costs the same
whatever the hash, so a slow password hash (Argon2id, ten times per enrolment and once
per login attempt) would add cost and no strength, while the per-user salt stops one
table of hashes serving every user (OWASP Multifactor Authentication Cheat Sheet,
"recovery codes"; NIST SP 800-63B 5.1.2.2: a look-up secret of at least 64 bits may be
stored with an approved hash and salt).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COUNT = 10
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32: no i, l, o, u
LENGTH = 16  # 16 x 5 bits = 80 bits
GROUP = 4
SALT_BYTES = 16


def new_salt() -> bytes:
    """A fresh per-user salt."""
    return secrets.token_bytes(SALT_BYTES)


def new_codes(count: int = COUNT) -> list[str]:
    """``count`` fresh codes, formatted ``xxxx-xxxx-xxxx-xxxx``."""
    out = []
    for _ in range(count):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        out.append("-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP)))
    return out


def normalized(code: str) -> str | None:
    """The code without separators, lower-cased; None when it is not a recovery code's
    shape (a TOTP code, for one)."""
    raw = code.strip().lower().replace("-", "").replace(" ", "")
    if len(raw) != LENGTH or any(c not in ALPHABET for c in raw):
        return None
    return raw


def looks_like_code(code: str) -> bool:
    """Whether ``code`` has a recovery code's shape (so a login treats it as one)."""
    return normalized(code) is not None


def digest(salt: bytes, code: str) -> bytes:
    """What is stored of ``code`` (normalized first): SHA-256(salt || code).

    Raises:
        ValueError: ``code`` is not a recovery code's shape.
    """
    raw = normalized(code)
    if raw is None:
        raise ValueError("not a recovery code")
    return hashlib.sha256(salt + raw.encode()).digest()


def matches(salt: bytes, code: str, stored: bytes) -> bool:
    """Whether ``code`` is the one stored as ``stored`` (constant-time comparison)."""
    raw = normalized(code)
    if raw is None:
        return False
    return hmac.compare_digest(hashlib.sha256(salt + raw.encode()).digest(), bytes(stored))
