"""The person count of ``strongroom recover-person`` (issue 27): the most administrators
that are pairwise two persons, a largest clique of the "two persons" relation, found
exactly (a greedy pass would say one when an account tied to both of two independent
founders is met first)."""

from __future__ import annotations

import itertools
import random

from server.services.dual_control import _largest_clique


def independent(pairs: set[tuple[int, int]], n: int) -> dict[int, set[int]]:
    linked: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in pairs:
        linked[a].add(b)
        linked[b].add(a)
    return linked


def test_small_cases():
    assert _largest_clique([], {}) == []
    assert _largest_clique([0], {0: set()}) == [0]
    # 0 is one person with 1 and with 2 (it holds both links); 1 and 2 are two persons.
    assert _largest_clique([0, 1, 2], independent({(1, 2)}, 3)) == [1, 2]
    # siblings 0 and 1 (one person), each independent of 2: two persons, not three.
    assert len(_largest_clique([0, 1, 2], independent({(0, 2), (1, 2)}, 3))) == 2


def test_matches_brute_force():
    rng = random.Random(27)
    for _ in range(200):
        n = rng.randint(1, 8)
        pairs = {p for p in itertools.combinations(range(n), 2) if rng.random() < 0.5}
        linked = independent(pairs, n)
        best = max(
            (
                len(c)
                for k in range(1, n + 1)
                for c in itertools.combinations(range(n), k)
                if all(b in linked[a] for a, b in itertools.combinations(c, 2))
            ),
            default=0,
        )
        found = _largest_clique(list(range(n)), linked)
        assert len(found) == best
        assert all(b in linked[a] for a, b in itertools.combinations(found, 2))
