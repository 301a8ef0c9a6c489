"""The Notify section's delivery words (tui/widgets/settings_notify.py), from the answer of
``GET /orgs/{org}/notifications/deliveries``: a webhook's Delivery cell as a SIEM
destination's, and notifications dropped for good said with what to do (newcomer pass,
session 10: the server log said "notification 1 failed for good: no SMTP relay is set",
the TUI nothing)."""

from __future__ import annotations

from tui.widgets.settings_notify import dropped_reasons, hook_state

NO_RELAY = "no SMTP relay is set (MSPOrg's settings)"


def _mail(status: str, error: str | None = NO_RELAY) -> dict:
    return {"channel": "email", "recipient": "a@example.org", "status": status,
            "attempts": 6 if status == "failed" else 2, "last_error": error}  # fmt: skip


def _hook(status: str, error: str | None = None, attempts: int = 1) -> dict:
    return {"channel": "webhook", "recipient": "hook1", "status": status,
            "attempts": attempts, "last_error": error}  # fmt: skip


def test_webhook_delivery_cell():
    hook = {"name": "hook1", "enabled": True}
    assert hook_state(hook, []) == "none yet"
    assert hook_state(hook, [_hook("sent")]) == "all sent"
    assert hook_state({**hook, "enabled": False}, [_hook("pending")]) == "paused"
    refused = "could not connect to 127.0.0.1:9 (refused): check the address"
    items = [_hook("pending", refused, 3), _hook("pending"), _hook("failed", refused, 6)]
    assert hook_state(hook, items) == "FAILING 3x · 2 to send · 1 dropped"


def test_dropped_notifications_said_with_what_to_do():
    deliveries = [_mail("failed"), _mail("pending"), _mail("pending"), _mail("sent", None)]
    (said,) = dropped_reasons(deliveries, "MSPOrg")
    assert said == (
        "No SMTP relay is set: 1 e-mail notification was dropped and 2 wait. "
        "Set the relay: m (SMTP relay)."
    )
    (said,) = dropped_reasons(deliveries, "acme")
    assert said.endswith("MSPOrg's administrators set it (Settings, 6 Notify, m, in MSPOrg).")
    assert dropped_reasons([_mail("sent", None)], "MSPOrg") == []
    refused = "the SMTP server refused the login (535)"
    hook_gone = _hook("failed", "could not connect to h:443 (timed out): check", 6)
    said = dropped_reasons([_mail("failed", refused), _mail("failed", refused), hook_gone], "x")
    assert said == [
        "2 e-mail notifications could not be sent and were dropped (last: the SMTP server "
        "refused the login (535)). Check the SMTP relay (m, in MSPOrg).",
        "Webhook hook1: 1 notification dropped after every retry (last: could not connect "
        "to h:443 (timed out): check). Check its address (c).",
    ]
