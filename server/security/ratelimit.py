"""Login throttling that slows guessing without letting anyone lock a victim out.

Failures are counted per (user, address), per address and per user. Past a
threshold each further attempt must wait an exponentially growing delay, capped
at ``max_delay``; counters forget after ``window`` seconds of quiet.

The per-user counter is the one an attacker could turn into a weapon: failures
from many addresses would otherwise keep the real user out everywhere, and one
wrong guess every few minutes would keep it out for good. So it applies only to
addresses that have never logged this user in (OWASP Authentication Cheat Sheet,
"Account Lockout": lock-outs must not become a denial of service; the same sheet
and ASVS 4.0 V2.2.1 allow recognising known devices). An address the user has
logged in from (a *known address*) is held only by the per-(user, address) and
per-address limits, which an attacker elsewhere cannot raise. An attacker without
the password therefore gets ``per_user`` quick guesses across all its addresses
before every new address of that user is slowed down, and ``per_user_address``
per address it controls.

The check runs before the password is verified and does not depend on it, so its
answer tells nothing about the password. Counters and known addresses live in
memory (a read-only secondary has nowhere else to keep them); a restart forgets
both, so until the user logs in again its usual address counts as new.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class _Counter:
    failures: int = 0
    last: float = 0.0


@dataclass
class LoginThrottle:
    """Decides whether a login attempt may proceed now."""

    per_user_address: int = 5
    per_address: int = 20
    per_user: int = 10  # across addresses that never logged the user in
    max_delay: float = 300.0
    window: float = 900.0
    known_ttl: float = 90 * 86400.0  # a known address stays known this long after a login
    known_per_user: int = 16
    max_entries: int = 100_000  # bound memory under a spray attack
    _counters: dict[tuple[str, ...], _Counter] = field(default_factory=dict)
    _known: OrderedDict[str, OrderedDict[str, float]] = field(default_factory=OrderedDict)

    def is_known(self, user: str, address: str, now: float | None = None) -> bool:
        """Whether ``address`` logged ``user`` in within ``known_ttl``."""
        now = time.monotonic() if now is None else now
        known = self._known.get(user)
        seen = known.get(address) if known is not None else None
        return seen is not None and now - seen <= self.known_ttl

    def _keys(self, user: str, address: str, known: bool) -> list[tuple[tuple[str, ...], int]]:
        keys = [
            (("ua", user, address), self.per_user_address),
            (("a", address), self.per_address),
        ]
        if not known:
            keys.append((("u", user), self.per_user))
        return keys

    def retry_after(self, user: str, address: str, now: float | None = None) -> int:
        """Seconds to wait before the next attempt may run (0 = go ahead)."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        for key, threshold in self._keys(user, address, self.is_known(user, address, now)):
            counter = self._counters.get(key)
            if counter is None:
                continue
            if now - counter.last > self.window:
                del self._counters[key]
                continue
            excess = counter.failures - threshold
            if excess >= 0:
                delay = min(self.max_delay, 2.0 ** min(excess, 20))
                wait = max(wait, counter.last + delay - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, user: str, address: str, now: float | None = None) -> None:
        """Count a failed attempt (on every counter, so a known address still feeds the
        per-user count that slows the attacker's other addresses)."""
        now = time.monotonic() if now is None else now
        for key, _ in self._keys(user, address, known=False):
            counter = self._counters.setdefault(key, _Counter())
            counter.failures += 1
            counter.last = now
        if len(self._counters) > self.max_entries:
            oldest = sorted(self._counters.items(), key=lambda kv: kv[1].last)
            for key, _ in oldest[: self.max_entries // 2]:
                del self._counters[key]

    def succeeded(self, user: str, address: str, now: float | None = None) -> None:
        """A login succeeded: forget this pair's failures and remember the address.

        The per-user count stays: the real user logging in says nothing about the
        guesses still coming from elsewhere.
        """
        now = time.monotonic() if now is None else now
        self._counters.pop(("ua", user, address), None)
        addresses = self._known.setdefault(user, OrderedDict())
        addresses[address] = now
        addresses.move_to_end(address)
        self._known.move_to_end(user)
        while len(addresses) > self.known_per_user:
            addresses.popitem(last=False)
        while len(self._known) > self.max_entries:
            self._known.popitem(last=False)
