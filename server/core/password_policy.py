"""Password policies for stored accounts: the built-ins, checking and generating."""

from __future__ import annotations

import datetime
import secrets
import string
from dataclasses import asdict, dataclass
from typing import Any

UPPER, LOWER, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
SPECIAL = "!#$%&()*+,-./:;<=>?@[]^_{|}~"


@dataclass(frozen=True)
class Policy:
    """Length bounds, required character classes and an optional maximum age."""

    name: str
    min_length: int
    max_length: int
    require_upper: bool = False
    require_lower: bool = False
    require_digit: bool = False
    require_special: bool = False
    max_age_days: int | None = None
    builtin: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The API's answer shape."""
        return asdict(self)

    def problems(self, password: str) -> list[str]:
        """Every way ``password`` breaks this policy (empty when it complies)."""
        found = []
        if len(password) < self.min_length:
            found.append(f"must be at least {self.min_length} characters")
        if len(password) > self.max_length:
            found.append(f"must be at most {self.max_length} characters")
        checks = (
            (self.require_upper, UPPER, "an upper-case letter"),
            (self.require_lower, LOWER, "a lower-case letter"),
            (self.require_digit, DIGITS, "a digit"),
            (self.require_special, SPECIAL, "a special character"),
        )
        for required, alphabet, label in checks:
            if required and not any(c in alphabet for c in password):
                found.append(f"must contain {label}")
        return found

    def generate(self) -> str:
        """A random password that satisfies the policy (CSPRNG; every class represented)."""
        length = max(self.min_length, min(self.max_length, 20))
        pools = [
            p
            for flag, p in (
                (self.require_upper, UPPER),
                (self.require_lower, LOWER),
                (self.require_digit, DIGITS),
                (self.require_special, SPECIAL),
            )
            if flag
        ]
        alphabet = "".join(pools) or (UPPER + LOWER + DIGITS)
        chars = [secrets.choice(pool) for pool in pools]
        chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
        rng = secrets.SystemRandom()
        rng.shuffle(chars)
        return "".join(chars)


BUILTIN = {
    p.name.lower(): p
    for p in (
        Policy("Low", 8, 64, builtin=True),
        Policy("Medium", 10, 64, True, True, True, builtin=True),
        Policy("Strong", 14, 64, True, True, True, True, max_age_days=90, builtin=True),
        Policy("Passphrase", 20, 128, require_lower=True, builtin=True),
    )
}
DEFAULT = "Strong"


def expires_at(changed_at: datetime.datetime, max_age_days: int | None) -> datetime.datetime | None:
    """When a password changed at ``changed_at`` expires under a policy's ``max_age_days``
    (None: the policy sets no maximum age). Source: issue 31, item 3."""
    if max_age_days is None:
        return None
    return changed_at + datetime.timedelta(days=max_age_days)


def expiry_words(expires: datetime.datetime | None, now: datetime.datetime) -> str:
    """How the vault says it: "" (no maximum age), "expired", "expires today" or
    "expires in N d" (whole days left, rounded down)."""
    if expires is None:
        return ""
    if expires <= now:
        return "expired"
    days = (expires - now).days
    return "expires today" if days == 0 else f"expires in {days} d"
