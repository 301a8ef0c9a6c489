"""Garbage collection out of the way of keys (issue 35, item 8: quick at every key).

CPython's full collection scans every object it tracks. With the TUI's ~220,000 (Textual,
the screens, a 1,000-row list) one took 100-200 ms and came every second or two, between
a key and the frame that answers it: most of the slow tab switches and form openings. So,
once the main screen is up:

- what exists then is frozen (``gc.freeze``: modules, classes, the screens built once and
  kept); it is not scanned until the next idle collection (and is still freed as soon
  as nothing refers to it);
- the automatic full collection is made rare (``RARE``: young collections go on as usual);
- a full collection runs instead while the keyboard is idle (no key for ``IDLE_SECONDS``),
  looked at every ``EVERY_SECONDS``, once per pause: of everything, the frozen objects included (so
  nothing frozen is kept for good), and what survives it is frozen again.
"""

from __future__ import annotations

import gc
import time
from typing import Any

IDLE_SECONDS = 2.0
EVERY_SECONDS = 5.0
RARE = 100  # the third generation's threshold (CPython's default: 10)

_settled = False  # once per process


def settle() -> None:
    """Freeze what exists and make the automatic full collection rare (once)."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.freeze()
    young, middle, _old = gc.get_threshold()
    gc.set_threshold(young, middle, RARE)


_collected_after: float | None = None  # the last key the previous idle collection followed


def collect_when_idle(app: Any) -> None:
    """A full collection now if no key came for ``IDLE_SECONDS`` (``app.keys_queue``), once
    per pause: a terminal left open does not collect every ``EVERY_SECONDS`` for nothing."""
    global _collected_after
    queue = getattr(app, "keys_queue", None)
    if queue is None or queue.pending() or queue.last_key == _collected_after:
        return
    if time.monotonic() - queue.last_key >= IDLE_SECONDS:
        _collected_after = queue.last_key
        gc.unfreeze()
        gc.collect()
        gc.freeze()


def start(screen: Any) -> None:
    """On the main screen: settle after its first frame, then collect when idle."""
    screen.call_after_refresh(settle)
    screen.set_interval(EVERY_SECONDS, lambda: collect_when_idle(screen.app))
