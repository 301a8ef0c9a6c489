"""Which field names may hold a secret: the one rule behind "no secret in the audit trail"
(server/store/audit.py) and "no secret kept with an idempotency key" (server/store/
idempotency.py).

A name is split at ``_``; it may hold a secret when one of its words is a secret word
(password, token, key, ...), unless its last word says it is about the secret rather than
the secret itself (``password_policy``, ``key_id``, ``totp_required``). One-time codes
that are secrets by what they are, not by their words (recovery codes, an activation
code: NIST SP 800-63B 5.1.2 look-up secrets), are named on their own; an answer never
keeps them, while the audit trail records only their count under such a name.
Source: OWASP ASVS 4.0 7.1.1 (no credentials in logs) and 8.3.4 (sensitive data kept).
"""

from __future__ import annotations

from typing import Any

SECRET_WORDS = frozenset(
    {"password", "secret", "token", "otp", "passphrase", "seed", "hash", "key", "private"}
)
HARMLESS_LAST = frozenset(
    {"name", "policy", "id", "count", "required", "enabled", "version", "prefix"}
)
# Answer fields that carry a one-time code in clear (POST /me/totp/confirm and
# /me/totp/recovery-codes: recovery_codes; user activation: activation_code).
ONE_TIME_CODES = frozenset({"recovery_codes", "activation_code"})


def names_secret(name: str) -> bool:
    """True when a field called ``name`` (any case) may hold a secret by its words."""
    parts = name.lower().split("_")
    return bool(SECRET_WORDS.intersection(parts)) and parts[-1] not in HARMLESS_LAST


def answer_holds_secret(value: Any) -> bool:
    """True when a JSON answer (dicts, lists, scalars) has, at any depth, a field that may
    hold a secret: by its words, or a one-time code (``ONE_TIME_CODES``)."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if names_secret(str(name)) or str(name).lower() in ONE_TIME_CODES:
                return True
            if answer_holds_secret(inner):
                return True
    elif isinstance(value, list):
        return any(answer_holds_secret(item) for item in value)
    return False
