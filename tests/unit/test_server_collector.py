"""The server's collector (issue 28): start-up objects frozen, full collections rare."""

from __future__ import annotations

import gc

from server.ops import collector


def test_settle_freezes_once_and_makes_full_collections_rare(monkeypatch):
    before = gc.get_threshold()
    monkeypatch.setattr(collector, "_settled", False)
    try:
        collector.settle()
        frozen = gc.get_freeze_count()
        assert frozen > 0
        assert gc.get_threshold() == (before[0], before[1], collector.RARE)
        collector.settle()  # once per process
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
