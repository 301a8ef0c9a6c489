"""An audit event's details in words (issue 35, item 4): local times, never ISO text;
outcome reasons and other codes as words, never snake_case. The dialog is rendered at
80x24 from events that carry such fields, as the server records them."""

from __future__ import annotations

import re

from textual.app import App

from tests.tui.keys import screen_text
from tui.logic.audit_export import NameBook
from tui.logic.times import local_moment
from tui.screens.audit_settings import alert_target, alerts_note
from tui.screens.modals import TextModal
from tui.widgets.audit import detail_value, event_lines
from tui.wording import code_words, counted, outcome_words

ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]?\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)|T\d\d:\d\d")
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")

EVENTS = [
    {  # a rotation that met another host key
        "id": 41,
        "at": "2026-12-01T02:38:49.123456+00:00",
        "actor": "system",
        "actor_org": "MSPOrg",
        "ip": None,
        "operation": "password_rotation_failed",
        "target_type": "account",
        "target": "fw-hq-01/root",
        "outcome": "failure",
        "reason": "host_key_changed",
        "seq": 7,
        "details": {
            "pinned_fingerprint": "SHA256:abc",
            "retry_at": "2026-12-01T03:38:49+00:00",
        },
    },
    {  # a check-out granted until a time, with a role and an operation list
        "id": 42,
        "at": "2026-12-02T10:00:00+00:00",
        "actor": "admin",
        "actor_org": "MSPOrg",
        "ip": "127.0.0.1",
        "operation": "access_request_approved",
        "target_type": "org_access_request",
        "target": "acme",
        "outcome": "success",
        "reason": None,
        "seq": None,
        "details": {
            "until": "2026-12-09T10:00:00+00:00",
            "expires_at": "2027-01-02 10:00:00+00",
            "role": "privileged_administrator",
            "kind": "account_manager",
            "operations": ["password_revealed", "login_failed"],
            "read_only": False,
            "window": {"starts_at": "2026-12-09T08:00:00+00:00", "state": "not_started"},
        },
    },
    {  # a refused login, the reason a target's code sent with its prefix
        "id": 43,
        "at": "2026-12-03T23:59:59+00:00",
        "actor": "bob",
        "actor_org": "acme",
        "ip": "10.0.0.9",
        "operation": "login_failed",
        "target_type": "user",
        "target": "bob",
        "outcome": "failure",
        "reason": "target_timeout",
        "seq": 9,
        "details": {},
    },
]


def test_outcome_and_codes_in_words():
    """The outcome line says what happened; a code not in the table reads as words."""
    assert outcome_words("success") == "succeeded"
    assert outcome_words("failure", "host_key_changed") == (
        "failed: the target presented a host key other than the pinned one"
    )
    assert code_words("target_timeout") == "the target did not answer in time"
    assert code_words("some_new_code") == "some new code"
    assert detail_value("db_prod", "name") == "db_prod"  # a name as typed is no code
    assert detail_value("not_started", "state") == "not started"
    assert detail_value("password_user", "role") == "password user"


class _Dialog(App):
    CSS_PATH = ["../../tui/styles/app.tcss", "../../tui/styles/dialogs.tcss"]


async def test_event_details_show_no_iso_time_and_no_code():
    """Each event's details dialog, drawn at 80x24: no ISO time, no snake_case word; the
    times are the local ones, as the When line says them."""
    for event in EVENTS:
        lines = event_lines(event, NameBook())
        app = _Dialog()
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(TextModal(f"Event {event['id']}", lines))
            await pilot.pause()
            text = screen_text(app)
        whole = "\n".join(lines)
        for shown in (text, whole):
            assert not ISO.search(shown), shown
            assert not SNAKE.search(shown), shown
        assert f"When: {local_moment(event['at'])}" in whole
        for value in event["details"].values():
            if isinstance(value, str) and ISO.search(value.replace(" ", "T", 1)):
                assert local_moment(value) in whole, (value, whole)
    first = "\n".join(event_lines(EVENTS[0], NameBook()))
    assert "Outcome: failed: the target presented a host key other than the pinned one" in first
    assert "Operation: password rotation failed" in first
    second = "\n".join(event_lines(EVENTS[1], NameBook()))
    assert "role: privileged administrator" in second
    assert "operations: password revealed, login failed" in second
    assert "read only: no" in second and "window: starts at: " in second
    assert "Outcome: succeeded" in second and "Chain link: not yet chained" in second


def test_request_details_show_local_times():
    """An org-access request's and a check-out request's details say when they expire in
    local time, as the audit list does (never ISO text)."""
    from tui.flows import access_requests, checkout_queue
    from tui.logic.times import local_minute

    expires = "2026-12-09T10:00:00.5+00:00"
    org_request = {
        "org": "acme",
        "kind": "grant",
        "user": "bob",
        "role": "password_user",
        "proposer": "admin",
        "expires_at": expires,
    }
    checkout = {
        "account": "root",
        "resource": "fw",
        "requester": "bob",
        "requester_org": "MSPOrg",
        "window_minutes": 30,
        "approvals_needed": 1,
        "expires_at": expires,
    }
    for text in (
        access_requests.describe(org_request),
        checkout_queue.describe(checkout, "acme"),
    ):
        assert f"Expires: {local_minute(expires)} (" in text, text
        assert not ISO.search(text), text


def test_deleted_orgs_in_local_time():
    """The deleted-orgs list (Organizations, r) gives both times as every list does:
    local, to the minute, without a '(UTC)' label of its own."""
    from tui.logic.times import local_minute
    from tui.screens.deleted_orgs import org_row

    org = {
        "id": "o1",
        "display_name": "acme",
        "name": "Acme",
        "deleted_by": "admin",
        "deleted_at": "2026-12-01T23:30:00+00:00",
        "purge_at": "2026-12-31T23:30:00+00:00",
    }
    _key, cells = org_row(org)
    assert str(cells[3]) == local_minute(org["deleted_at"])
    assert str(cells[4]).startswith(local_minute(org["purge_at"]) + " (")
    assert not any(ISO.search(str(cell)) or "UTC" in str(cell) for cell in cells)


REFUSED_ID = "0b3a1c2d-1111-2222-3333-444455556666"
REFUSED = {  # a refused reveal, as server/services/denials.py records it
    "id": 44,
    "at": "2026-12-04T08:00:00+00:00",
    "actor": "bob",
    "actor_org": "MSPOrg",
    "ip": "10.0.0.9",
    "operation": "access_denied",
    "target_type": "route",
    "target": "GET /api/v1/orgs/{org}/accounts/{id}/reveal",
    "outcome": "failure",
    "reason": "forbidden",
    "seq": 12,
    "details": {
        "count": 2,
        "first_at": "2026-12-04T08:00:00+00:00",
        "last_at": "2026-12-04T08:00:30+00:00",
        "window_seconds": 60,
        "code": "forbidden",
        "status": 403,
        "method": "GET",
        "route": "/api/v1/orgs/{org}/accounts/{id}/reveal",
        "paths": [f"/api/v1/orgs/acme/accounts/{REFUSED_ID}/reveal"],
    },
}


async def test_refused_request_in_words():
    """A refused request (access_denied) says what was asked in words, naming the
    account it knows, and never shows the API route nor an id (newcomer pass)."""
    book = NameBook()
    for names, account in (({REFUSED_ID: "fw/root"}, "account fw/root"), ({}, "an account")):
        book.names = dict(names)
        lines = event_lines(REFUSED, book)
        whole = "\n".join(lines)
        assert f"read org acme > {account} > reveal" in whole, whole
        assert "/api/" not in whole and "{" not in whole and REFUSED_ID not in whole, whole
        assert not SNAKE.search(whole) and not ISO.search(whole), whole
        assert book.target(REFUSED) == f"read org acme > {account} > reveal"
    app = _Dialog()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(TextModal("Event 44", lines))
        await pilot.pause()
        text = screen_text(app)
    assert "/api/" not in text and "reveal" in text


GATEWAY_REFUSED = {  # a command asked of the SSH gateway, as gateway_login records it
    "id": 45,
    "at": "2026-12-04T09:00:00+00:00",
    "actor": "bob",
    "actor_org": "MSPOrg",
    "ip": "10.0.0.9",
    "operation": "gateway_request_refused",
    "target_type": "user",
    "target": "bob",
    "outcome": "failure",
    "reason": "exec",
    "seq": 13,
    "details": {"request": "exec", "via": "ssh_gateway", "fingerprint": "SHA256:abc"},
}


async def test_raw_bits_said_in_words():
    """No raw bit in an event's details (newcomer pass 10): the gateway, the refused
    command and the way out, the answer's status, the counting window, and a refused
    POST said as its action (never 'route send')."""
    whole = "\n".join(event_lines(GATEWAY_REFUSED, NameBook()))
    assert "via the SSH gateway" in whole and "ssh_gateway" not in whole
    assert "Outcome: refused: a command (exec) — the gateway opens only the TUI or connect" in whole
    refused = "\n".join(event_lines(REFUSED, NameBook()))
    assert "answer: refused (403)" in refused and "status: 403" not in refused
    assert "counted within 60 s" in refused and "window seconds" not in refused
    assert "Target: the request to read org acme" in refused and "Target: route" not in refused
    posted = {
        **REFUSED,
        "target": "POST /api/v1/orgs/{org}/accounts/{id}/reveal",
        "details": {
            **REFUSED["details"],
            "method": "POST",
            "route": "/api/v1/orgs/{org}/accounts/{id}/reveal",
            "paths": [f"/api/v1/orgs/MSPOrg/accounts/{REFUSED_ID}/reveal"],
        },
    }
    book = NameBook()
    book.names = {REFUSED_ID: "fw/root"}
    said = "\n".join(event_lines(posted, book))
    assert "Target: the request to reveal org MSPOrg > account fw/root" in said, said
    assert "send" not in said
    assert counted(1, "client org") == "1 client org"
    assert counted(5, "alert event") == "5 alert events"
    assert alerts_note([{"operation": "role_created", "alert": True, "recorded": True}], 1) == (
        "1 alert event of: role created."
    )


async def test_alert_targets_in_words():
    """Audit l: a refused request's target in words, cut with '…', never its API path."""
    assert alert_target("POST /api/v1/orgs/{org}/users/{username}/confirm") == (
        "confirm org > user"
    )
    cut = alert_target("GET /api/v1/orgs/{org}/resources/{id}/accounts/{aid}/history/{hid}")
    assert cut.endswith("…") and len(cut) == 32 and "/api/" not in cut and "{" not in cut
    assert alert_target("fw/root") == "fw/root"
