"""The one place dates, times and durations are put into words for lists and dialogs.

The server sends ISO 8601 times in UTC. Lists show them to the minute as sent
(``minute``), the audit lists without the year (``month_minute``); the check-out state
says the local clock time (``local_clock``); the server view says the UTC clock time
(``utc_clock``). Durations read as people say them: ``expires_in``, ``expires_short``,
``time_left``, ``since`` and ``ago``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime


def minute(iso: str | None, empty: str = "") -> str:
    """'2026-12-01T02:38:49.1+00:00' → '2026-12-01 02:38' (UTC as the server sends it);
    ``empty`` when there is no time."""
    return iso[:16].replace("T", " ") if iso else empty


def month_minute(iso: str) -> str:
    """'2026-12-01T02:38:49+00:00' → '12-01 02:38' (an audit list's When column)."""
    return iso[5:16].replace("T", " ")


def utc_clock(iso: str | None) -> str:
    """'2026-12-01T02:50:13+00:00' → '02:50:13 UTC' (the date when not today matters
    little next to a node that is down); '?' when there is none."""
    if not iso:
        return "?"
    return iso[11:19] + " UTC"


def local_clock(iso: str | None) -> str:
    """An ISO time as the local 'HH:MM' (with the date when it is not today); '?' when
    there is none."""
    if not iso:
        return "?"
    moment = datetime.fromisoformat(iso).astimezone()
    if moment.date() == datetime.now().astimezone().date():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def ago(iso: str | None, now: datetime | None = None) -> str:
    """'never', 'just now', '5 min ago', '3 h ago' or the date of an ISO 8601 time."""
    if not iso:
        return "never"
    at = datetime.fromisoformat(iso)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - at).total_seconds()
    if seconds < 120:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h ago"
    return at.date().isoformat()


def since(moment: str | None) -> str:
    """'today', 'yesterday' or '12 days ago' (local calendar days)."""
    if not moment:
        return "—"
    try:
        then = datetime.fromisoformat(moment).astimezone().date()
    except ValueError:
        return moment
    days = (datetime.now().astimezone().date() - then).days
    return "today" if days <= 0 else "yesterday" if days == 1 else f"{days} days ago"


def expires_in(expires_at: str | None) -> str:
    """'in 7 days', 'in 5 hours', 'in 12 minutes' or 'expired' (rounded, as people say)."""
    if not expires_at:
        return "—"
    try:
        left = datetime.fromisoformat(expires_at) - datetime.now(UTC)
    except ValueError:
        return expires_at
    seconds = left.total_seconds()
    if seconds <= 0:
        return "expired"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"in {count} {unit}{'s' if count != 1 else ''}"
    return "in under a minute"


def expires_short(expires_at: str | None) -> str:
    """A list's Expires cell, short enough for 80 columns: '7 d', '24 h', '12 min',
    '<1 min' or 'expired' (rounded like ``expires_in``)."""
    if not expires_at:
        return "—"
    try:
        seconds = (datetime.fromisoformat(expires_at) - datetime.now(UTC)).total_seconds()
    except ValueError:
        return expires_at
    if seconds <= 0:
        return "expired"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{round(seconds / size)} {unit}"
    return "<1 min"


def time_left(ends_at: str | None) -> str:
    """'42 min left', '3 h 5 min left', 'under a minute left' or 'window over'."""
    if not ends_at:
        return "—"
    try:
        seconds = (datetime.fromisoformat(ends_at) - datetime.now(UTC)).total_seconds()
    except ValueError:
        return ends_at
    if seconds <= 0:
        return "window over"
    if seconds < 60:
        return "under a minute left"
    minutes = math.ceil(seconds / 60)  # 44 min 30 s left reads '45 min left'
    hours, minutes = divmod(minutes, 60)
    return (f"{hours} h {minutes} min" if hours else f"{minutes} min") + " left"


def local_minute(iso: str | None, empty: str = "") -> str:
    """An ISO time (the server's UTC) as this terminal's local time, to the minute and
    without the year: '12-01 03:38' (a list's When column; issue 35: local times, never
    ISO text). ``empty`` when there is none; the text as sent when it cannot be read."""
    if not iso:
        return empty
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%m-%d %H:%M")
    except ValueError:
        return iso


def local_moment(iso: str | None, empty: str = "—") -> str:
    """An ISO time as the local date and time with its zone: '2026-12-01 03:38:49 CET'
    (an event's details); ``empty`` when there is none."""
    if not iso:
        return empty
    try:
        moment = datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S ") + (moment.tzname() or moment.strftime("%z"))
