"""Only the primary decides that a scheduled backup is late (issue 31, item 2): the
watcher checks on a writable primary only, and counts from when this node became it."""

from __future__ import annotations

import asyncio
import datetime
from types import SimpleNamespace

from server.backup import schedule


class _Node:
    def __init__(self, role: str, writable: bool) -> None:
        self.role, self._writable = role, writable

    def writable(self) -> bool:
        return self._writable


async def test_only_a_writable_primary_checks(monkeypatch):
    calls: list[datetime.datetime] = []

    async def check_late(env, watching_since, now=None):
        calls.append(watching_since)
        return False

    monkeypatch.setattr(schedule, "check_late", check_late)
    env = SimpleNamespace(
        config=SimpleNamespace(backup=SimpleNamespace(schedule="every 2 s")),
        node_state=_Node("standby", False),
    )
    task = asyncio.create_task(schedule.watch_late(env))  # checks every 0.5 s here
    try:
        await asyncio.sleep(1.2)
        assert calls == []  # a standby never decides
        env.node_state = _Node("primary", False)
        await asyncio.sleep(1.1)
        assert calls == []  # nor a primary that may not write (fenced)
        became = datetime.datetime.now(datetime.UTC)
        env.node_state = _Node("primary", True)
        await asyncio.sleep(1.2)
        assert len(calls) >= 2 and len(set(calls)) == 1  # counted from one moment
        assert abs((calls[0] - became).total_seconds()) < 1
    finally:
        task.cancel()
