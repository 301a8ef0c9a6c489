"""Who can approve, and why not, as the pickers show it (issue 27, item 2): the server's
candidates (``eligible``, ``reason``), never decided here."""

from __future__ import annotations


def cannot_approve(candidates: list[dict]) -> list[str]:
    """'username: reason' for each candidate the server says cannot approve."""
    return [
        f"{c['username']}: {c.get('reason') or 'not eligible'}"
        for c in candidates
        if not c.get("eligible")
    ]


def checkout_note(page: dict) -> str:
    """Who could approve my check-out (``GET …/password-requests/eligible-approvers``), in
    lines for the request dialog: how many approvals, who can, who cannot and why, and
    groups that have nobody in them."""
    candidates = page.get("candidates") or []
    can = [c["username"] for c in candidates if c.get("eligible")]
    needed = page.get("approvals_needed") or 1
    lines = [
        f"Needs {needed} approval{'s' if needed != 1 else ''}; can approve: "
        + (", ".join(can) or "nobody")
        + "."
    ]
    cannot = cannot_approve(candidates)
    if cannot:
        lines.append("Cannot approve it:\n  " + "\n  ".join(cannot))
    if page.get("empty_groups"):
        lines.append("Groups with nobody in them: " + ", ".join(page["empty_groups"]) + ".")
    if len(can) < needed:
        lines.append("Too few can approve: ask an administrator to name other approvers.")
    return "\n".join(lines)
