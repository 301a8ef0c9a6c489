"""The notifier fetches only the events of NOTICE_OPERATIONS (issue 28: the rest of the trail,
reveals above all, stays off its path). An operation outside that set must mean no notice:
``_notices_of`` answers [] for it without touching the database (``tx`` is None here, so
any query would fail)."""

import asyncio
import datetime
import uuid

import pytest

from server.core.operations import OPERATIONS
from server.services.notifications import NOTICE_OPERATIONS, _notices_of

OTHERS = sorted(set(OPERATIONS) - NOTICE_OPERATIONS)


def test_every_notice_operation_is_a_catalogued_operation() -> None:
    assert NOTICE_OPERATIONS <= set(OPERATIONS)


@pytest.mark.parametrize("is_msp", [True, False])
def test_an_operation_outside_the_set_means_no_notice(is_msp: bool) -> None:
    async def all_of_them() -> dict[str, list]:
        found = {}
        for op in OTHERS:
            row = {
                "id": 1,
                "operation": op,
                "details": {"request_id": str(uuid.uuid4())},
                "actor": "alice",
                "at": datetime.datetime.now(datetime.UTC),
                "outcome": "failure",
                "target": "web01/root",
                "reason": None,
            }
            found[op] = await _notices_of(None, uuid.uuid4(), is_msp, "Acme", row)  # type: ignore[arg-type]
        return found

    assert {op: n for op, n in asyncio.run(all_of_them()).items() if n} == {}
