"""Garbage collection out of the way of requests (issue 28: the reveal's p99).

CPython's full collection scans every object it tracks. A started server holds about
100,000 (modules, classes, the app, pydantic models, the pools) and one full collection
took 45-60 ms of CPU, twice in a bench run of 4,000 reveals: 32 requests in flight wait
for each, right at the p99. Once the server is up (``settle``):

- what exists then is collected once and frozen (``gc.freeze``): it is not scanned again
  (still freed as soon as nothing refers to it; only a reference cycle among those
  start-up objects would stay, a bounded amount made once);
- the automatic full collection is made ten times rarer (``RARE``); young collections go
  on as usual, and a full one then scans only what came after start-up (about a fifth).

Measured with the bench's reveal load (CPU time of the collections, in the server):
before, 2 full collections of 45-61 ms in a run; after, none, and the young ones alike.
The TUI does the same for its keys (tui/collector.py).
"""

from __future__ import annotations

import gc

RARE = 100  # the third generation's threshold (CPython's default: 10)

_settled = False  # once per process


def settle() -> None:
    """Collect, freeze what exists and make the automatic full collection rare (once per
    process; a second call does nothing)."""
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()
    young, middle, _old = gc.get_threshold()
    gc.set_threshold(young, middle, RARE)
