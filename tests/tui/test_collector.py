"""Full garbage collections out of the way of keys (issue 35, item 8): after the main
screen is up, what exists is frozen and the automatic full collection is rare; a full
collection runs when no key came for a while, never while keys wait."""

from __future__ import annotations

import gc
import time
from types import SimpleNamespace

from tui import collector


class Queue:
    def __init__(self, waiting: int, seconds_since_key: float) -> None:
        self.waiting = waiting
        self.last_key = time.monotonic() - seconds_since_key

    def pending(self) -> int:
        return self.waiting


def test_full_collections_wait_for_an_idle_keyboard(monkeypatch):
    collector.settle()
    assert gc.get_threshold()[2] == collector.RARE and gc.get_freeze_count() > 0
    runs: list[int] = []
    monkeypatch.setattr(collector.gc, "collect", lambda *a: runs.append(1) or 0)
    collector.collect_when_idle(SimpleNamespace(keys_queue=Queue(0, 0.1)))  # typing
    collector.collect_when_idle(SimpleNamespace(keys_queue=Queue(2, 60)))  # keys wait
    assert not runs
    idle = SimpleNamespace(keys_queue=Queue(0, collector.IDLE_SECONDS))
    collector.collect_when_idle(idle)
    assert runs == [1] and gc.get_freeze_count() > 0  # the survivors frozen again
    collector.collect_when_idle(idle)  # the same pause: nothing to collect again
    assert runs == [1]
