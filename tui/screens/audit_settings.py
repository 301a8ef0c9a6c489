"""Audit settings forms: the retention (days, or none) and purging now (typed
confirmation), and how their answers read."""

from __future__ import annotations

from typing import Any

from tui.screens.form import Field

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


def typed_confirmation(word: str, what: str) -> Field:
    """A field that must read ``word`` (``what`` says what it confirms)."""
    return Field(
        "confirm",
        f"Type {word} to {what}",
        required=True,
        check=lambda v: None if v == word else f"type {word}",
    )


def purge_text(org: str, answer: dict[str, Any]) -> str:
    """What the server answered to a purge, as a sentence."""
    if answer.get("checkpoint_seq") is None:
        return f"Purge in {org}: nothing purged (no retention set, or no event older than it)."
    return (
        f"Purge in {org}: {answer.get('purged', 0)} event(s) purged; the chain now starts "
        f"from a sealed checkpoint at event {answer['checkpoint_seq']}."
    )
