"""Login throttling that slows guessing without locking a victim out for good.

Failures are counted per (user, address), per address and per user. Past a
threshold each further attempt must wait an exponentially growing delay, capped
at ``max_delay``; counters forget after ``window`` seconds of quiet and a success
clears the (user, address) and user counters. An attacker elsewhere therefore
delays a victim by at most ``max_delay`` at a time, and only after many failures.
Counters live in memory (on a read-only secondary nothing else could hold them).
"""

from __future__ import annotations

import math
import time
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
    per_user: int = 50
    max_delay: float = 300.0
    window: float = 900.0
    _counters: dict[tuple, _Counter] = field(default_factory=dict)

    def _keys(self, user: str, address: str) -> list[tuple[tuple, int]]:
        return [
            (("ua", user, address), self.per_user_address),
            (("a", address), self.per_address),
            (("u", user), self.per_user),
        ]

    def retry_after(self, user: str, address: str, now: float | None = None) -> int:
        """Seconds to wait before the next attempt may run (0 = go ahead)."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        for key, threshold in self._keys(user, address):
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
        """Count a failed attempt."""
        now = time.monotonic() if now is None else now
        for key, _ in self._keys(user, address):
            counter = self._counters.setdefault(key, _Counter())
            counter.failures += 1
            counter.last = now
        if len(self._counters) > 100_000:  # bound memory under a spray attack
            oldest = sorted(self._counters.items(), key=lambda kv: kv[1].last)[:50_000]
            for key, _ in oldest:
                del self._counters[key]

    def succeeded(self, user: str, address: str) -> None:
        """Forget the user's failures after a successful login."""
        self._counters.pop(("ua", user, address), None)
        self._counters.pop(("u", user), None)
