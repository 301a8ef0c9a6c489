"""Audit settings forms: the retention (days, or none) and purging now (typed
confirmation), and how their answers read; the list of the org's alert events."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual.binding import Binding

from tui.logic.audit_export import request_words
from tui.logic.times import local_minute
from tui.screens.form import Field
from tui.screens.listing import ListModal
from tui.text import inert
from tui.wording import counted, operation_words
from tui.workers import api_worker

MIN_DAYS, MAX_DAYS = 30, 36500  # the server's bounds (it checks them too)


def days_problem(text: str) -> str | None:
    """A problem with a typed retention, or None ('' means no retention)."""
    if not text.strip():
        return None
    if not text.strip().isdigit():
        return "must be a whole number of days (or empty for none)"
    return None


def retention_fields(days: int | None) -> list[Field]:
    """One field: the retention in days, empty for none."""
    return [
        Field(
            "retention_days",
            f"Keep events for how many days ({MIN_DAYS}-{MAX_DAYS}; empty: keep all)",
            value="" if days is None else str(days),
            check=days_problem,
        )
    ]


def retention_body(values: dict[str, Any]) -> dict[str, Any]:
    """``{"retention_days": n}`` or ``{"retention_days": None}``."""
    text = values["retention_days"].strip()
    return {"retention_days": int(text) if text else None}


def retention_text(days: int | None) -> str:
    """The retention as a sentence."""
    if days is None:
        return "Retention: none (every event is kept)."
    return f"Retention: {days} days (older events are purged hourly, leaving a sealed checkpoint)."


def purge_text(org: str, answer: dict[str, Any]) -> str:
    """What the server answered to a purge, as a sentence."""
    if answer.get("checkpoint_seq") is None:
        return f"Purge in {org}: nothing purged (no retention set, or no event older than it)."
    return (
        f"Purge in {org}: {counted(answer.get('purged', 0), 'event')} purged; the chain now starts "
        f"from a sealed checkpoint at event {answer['checkpoint_seq']}."
    )


def mute_alerts(operations: list[dict[str, Any]]) -> list[str]:
    """The operations marked as alerts that are not recorded (so they cannot alert)."""
    return [operation_words(o["operation"]) for o in operations if o["alert"] and not o["recorded"]]


def mute_text(names: list[str]) -> str:
    """'session_refreshed: not recorded, so it cannot alert.' ('' for none)."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]}: not recorded, so it cannot alert."
    return f"{', '.join(names)}: not recorded, so they cannot alert."


ROUTE_TARGET = re.compile(r"^([A-Z]+) (/\S*)$")  # a refused request's: 'POST /api/v1/…'
TARGET_WIDTH = 32


def alert_target(target: str) -> str:
    """An alert's target as the event details say it: a refused request in words
    ('confirm org > user', never its API route), cut with '…' (issue 35)."""
    route = ROUTE_TARGET.match(target)
    if route:
        target = request_words(route.group(1), route.group(2), "", {})
    return target if len(target) <= TARGET_WIDTH else target[: TARGET_WIDTH - 1] + "…"


def alerts_note(operations: list[dict[str, Any]], count: int) -> str:
    """The alert list's note: which operations alert, and which cannot (not recorded)."""
    alerting = [operation_words(o["operation"]) for o in operations if o["alert"] and o["recorded"]]
    if alerting and not count:
        line = f"No alert event yet (alerting: {', '.join(alerting)})."
    elif alerting:
        line = f"{counted(count, 'alert event')} of: {', '.join(alerting)}."
    else:
        line = "No recorded operation raises an alert: F7, 4, then a or o marks one."
    mute = mute_text(mute_alerts(operations))
    return f"{line} {mute}" if mute else line


class AlertsScreen(ListModal):
    """The org's alert events (``GET /orgs/{org}/audit/alerts``), newest first."""

    COLUMNS = ("When", "Actor", "Operation", "Target", "Result")
    KEYS = [
        Binding("r", "reload", "Refresh", tooltip="Refresh the alerts", id="alerts-refresh"),
    ]

    def __init__(self, org: str) -> None:
        super().__init__()
        self.org = org

    def heading(self) -> str:
        """'Audit alerts of acme'."""
        return f"Audit alerts of {self.org}"

    @api_worker("Cannot list the alerts", exclusive=True, group="alerts")
    async def load(self) -> None:
        """Fetch the alert events and the settings that say which operations alert."""
        client = self.app.client
        operations = (await client.audit_settings(self.org)).get("operations", [])
        alerts = await client.audit_alerts(self.org)
        self.fill(
            [
                (
                    a["id"],
                    (
                        local_minute(a["at"]),
                        inert(a["actor"]),
                        inert(operation_words(a["operation"])),
                        inert(alert_target(a.get("target") or "")),
                        Text("ok") if a["outcome"] == "success" else Text("FAIL", style="red"),
                    ),
                )
                for a in alerts
            ],
            alerts_note(operations, len(alerts)),
        )

    def action_reload(self) -> None:
        """Fetch the alerts again."""
        self.load()
        self.app.notify("Refreshing the alerts.", timeout=2)
