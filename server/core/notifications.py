"""Notification kinds, their default plain-text templates and the rendering (plain data).

Issue 31, item 2: what waits for a person is told by e-mail and webhook. Each kind has a
subject and a body template (``$name`` placeholders, ``string.Template``), which an org may
replace with its own; a user may mute the kinds that are not ``security`` ones. The values
put in a template are names, times and words chosen by the server (never a password, a
token or a secret field: nothing the vault decrypts reaches a notification).
"""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """One kind of notification: who gets it, whether it can be muted, its defaults."""

    name: str
    security: bool
    description: str
    subject: str
    body: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "request_waiting",
            False,
            "A request waits for your decision (check-out, org access, user confirmation).",
            "[Strongroom] $org: a request waits for you",
            "$requester asks for $what.\nReason: $reason\n\nDecide in Strongroom ($org).\n",
        ),
        Kind(
            "request_decided",
            False,
            "Your request was decided.",
            "[Strongroom] $org: your request was $decision",
            "Your request for $what was $decision by $by.\n",
        ),
        Kind(
            "checkout_ending",
            False,
            "Your check-out of a password ends within 10 minutes.",
            "[Strongroom] $org: your check-out ends at $until",
            "Your check-out of $what ends at $until (UTC).\n"
            "Check it in, or ask for a new window.\n",
        ),
        Kind(
            "password_expiring",
            False,
            "A daily digest to owners: their passwords expired or expiring within 7 days.",
            "[Strongroom] $org: passwords of yours expire",
            "Passwords you own in $org that expired or expire within 7 days:\n$detail\n",
        ),
        Kind(
            "rotation_failed",
            False,
            "A password change or verification on its target failed (to the org's "
            "administrators and the account's owner).",
            "[Strongroom] $org: $what",
            "$what: $detail\nAt $at (UTC). The vault kept the password that works.\n",
        ),
        Kind(
            "audit_alert",
            True,
            "An event of an operation the org marked as an alert (the org's administrators).",
            "[Strongroom] $org: alert: $what",
            "$by: $what $detail\nAt $at (UTC).\n",
        ),
        Kind(
            "cluster_alert",
            True,
            "Failover, a degraded pair, a failed or late backup (MSPOrg administrators).",
            "[Strongroom] $what",
            "$what\n$detail\nNode: $node, at $at (UTC).\n",
        ),
    )
}
SECURITY_KINDS = frozenset(k for k, v in KINDS.items() if v.security)
FIELDS = ("org", "requester", "what", "reason", "decision", "by", "until", "detail", "node", "at")
MAX_TEMPLATE = 4000


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with its ``$name`` placeholders filled from ``values``; an unknown or
    malformed placeholder stays as written (an org's template never fails a delivery)."""
    return string.Template(template).safe_substitute({k: str(values.get(k, "")) for k in FIELDS})


def template_problem(template: str) -> str | None:
    """Why an org's template cannot be saved (an unknown placeholder, too long), or None."""
    if len(template) > MAX_TEMPLATE:
        return f"must be at most {MAX_TEMPLATE} characters"
    try:
        names = {
            m.group("named") or m.group("braced")
            for m in string.Template.pattern.finditer(template)
            if m.group("invalid") is None
        } - {None}
    except (ValueError, AttributeError):
        return "is not a template"
    if any(m.group("invalid") is not None for m in string.Template.pattern.finditer(template)):
        return "has a '$' that names nothing (write $$ for a dollar sign)"
    unknown = sorted(str(n) for n in names if n not in FIELDS)
    if unknown:
        return f"names unknown placeholders: {', '.join(unknown)} (known: {', '.join(FIELDS)})"
    return None
