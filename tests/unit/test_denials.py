"""Which refusals are access denials, and how a flood of them is counted (server/services/
denials.py), without a database: the recorder is replaced by a list."""

from __future__ import annotations

import uuid

import pytest

from server.services import denials
from server.services.context import Actor
from server.services.denials import DenialLog, Refusal, is_security_relevant

ORG = uuid.uuid4()
MSP = uuid.uuid4()


def actor(name: str = "x") -> Actor:
    return Actor(uuid.uuid4(), name, ORG, "AcmeCo", False, "administrator", "all", "10.0.0.1")


def refusal(status: int, code: str, route: str = "/api/v1/orgs/{org}", who=None, node=False):
    return Refusal(
        status, code, "GET", route, route.replace("{org}", "AcmeCo"), who, "10.0.0.9", node
    )


@pytest.mark.parametrize(
    ("status", "code", "route", "authenticated", "node", "expected"),
    [
        (403, "forbidden", "/api/v1/orgs/{org}", True, False, True),
        (403, "invalid_enrollment_token", "/api/v1/cluster/enroll", False, False, True),
        (409, "dual_control_required", "/api/v1/orgs/{org}", True, False, True),
        (422, "proposer_is_designee", "/api/v1/org-access-requests", True, False, True),
        (409, "client_confirms", "/api/v1/org-access-requests", True, False, True),
        (404, "not_found", "/api/v1/orgs/{org}/accounts/{id}", True, False, True),
        (404, "not_found", "/api/v1/orgs/{org}/accounts/{id}", False, False, False),
        (404, "not_found", "", True, False, False),  # no route: a mistyped address
        (401, "unauthenticated", "/api/v1/cluster/spool", False, True, True),
        (401, "unauthenticated", "/api/v1/me", False, False, False),
        (401, "invalid_otp", "/api/v1/auth/login", False, False, False),
        (422, "validation_failed", "/api/v1/orgs/{org}/users", True, False, False),
        (422, "password_policy_violation", "/api/v1/orgs/{org}/accounts/{id}", True, False, False),
        (409, "username_taken", "/api/v1/orgs/{org}/users", True, False, False),
    ],
)
def test_what_counts_as_an_access_denial(status, code, route, authenticated, node, expected):
    """Every 403, rule codes in any status, 404s naming objects to a known caller, 401s
    on node routes; not the caller's own typing, not an ordinary 401."""
    who = actor() if authenticated else None
    assert is_security_relevant(refusal(status, code, route, who, node)) is expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[uuid.UUID, object]]:
    events: list[tuple[uuid.UUID, object]] = []

    async def record(env, org_id, event):
        events.append((org_id, event))

    monkeypatch.setattr(denials.recording, "record", record)
    return events


def log(clock: Clock, max_keys: int = 100) -> DenialLog:
    made = DenialLog(60.0, max_keys, clock)
    made._msp_id = MSP
    return made


async def test_one_event_at_once_then_one_per_window(recorded):
    """A steady flood of one key: the first at once, then one event per closed window
    with its count; a window with nothing counted closes silently."""
    clock, who = Clock(), actor()
    table = log(clock)
    for _ in range(10):
        await table.note(None, refusal(403, "forbidden", who=who))
    assert [e.details["count"] for _, e in recorded] == [1]
    assert await table.flush(None) == 0  # the window is still open
    clock.now = 61
    assert await table.flush(None) == 1  # the other 9; a new window opens at once
    for _ in range(5):
        await table.note(None, refusal(403, "forbidden", who=who))
    clock.now = 122
    assert await table.flush(None) == 1  # the 5
    clock.now = 183
    assert await table.flush(None) == 0 and len(table) == 0
    assert [e.details["count"] for _, e in recorded] == [1, 9, 5]
    assert {org for org, _ in recorded} == {ORG}
    assert recorded[0][1].who.actor == "x" and recorded[0][1].reason == "forbidden"


async def test_a_full_table_counts_new_keys_as_one_overflow(recorded):
    """Past max_keys, new keys are one access_denied_overflow count in MSPOrg."""
    table = log(Clock(), max_keys=2)
    for n in range(50):
        await table.note(None, refusal(403, "forbidden", who=actor(f"u{n}")))
    names = [e.operation for _, e in recorded]
    assert names == ["access_denied", "access_denied", "access_denied_overflow"]
    await table.flush(None, everything=True)
    overflow = [(org, e) for org, e in recorded if e.operation == "access_denied_overflow"]
    assert [org for org, _ in overflow] == [MSP, MSP]
    assert sum(e.details["count"] for _, e in overflow) == 48
    assert len(table) == 0


async def test_an_unauthenticated_refusal_is_recorded_in_msporg(recorded):
    """A 401 on a node route: MSPOrg, actor '(unauthenticated)', the caller's address."""
    table = log(Clock())
    await table.note(None, refusal(401, "unauthenticated", "/api/v1/cluster/spool", node=True))
    ((org, event),) = recorded
    assert (org, event.who.actor, event.who.ip) == (MSP, "(unauthenticated)", "10.0.0.9")
    assert event.details["paths"] == ["/api/v1/cluster/spool"]
