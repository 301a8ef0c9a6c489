"""Time-based one-time passwords (RFC 6238 via pyotp): ±1 step, never the same step twice."""

from __future__ import annotations

import hmac
import time

import pyotp

STEP_SECONDS = 30
ISSUER = "Strongroom"


def new_secret() -> str:
    """A fresh 160-bit base32 secret."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, username: str, org: str) -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{org}", issuer_name=ISSUER)


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (within ±1 of now) whose code equals ``code``, or None."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit()) or len(code) != 6:  # ASCII: not full-width digits
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    found = None
    for step in (current - 1, current, current + 1):
        # Compare every candidate so timing does not reveal which step matched.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def code_at(secret: str, when: float) -> str:
    """The code for a given time (used by tests and the TUI's enrolment check)."""
    return pyotp.TOTP(secret).at(when)
