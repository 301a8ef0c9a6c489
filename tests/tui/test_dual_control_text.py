"""How the TUI words issue 27's approvers and requests (no server): who can approve a
check-out and why the others cannot, and the org_purge / audit_retention requests in an
approver's queue (they read 'group None' before)."""

from __future__ import annotations

from tui.flows.access_requests import effect, label
from tui.logic.approvers import cannot_approve, checkout_note


def test_checkout_note_names_who_can_and_why_not():
    page = {
        "approvals_needed": 2,
        "candidates": [
            {"username": "ann", "eligible": True, "reason": None},
            {"username": "me2", "eligible": False, "reason": "made by the requester"},
            {"username": "old", "eligible": False, "reason": None},
        ],
        "empty_groups": ["night-shift"],
    }
    note = checkout_note(page)
    assert note.splitlines()[0] == "Needs 2 approvals; can approve: ann."
    assert "  me2: made by the requester" in note and "  old: not eligible" in note
    assert "Groups with nobody in them: night-shift." in note
    assert note.endswith("Too few can approve: ask an administrator to name other approvers.")
    assert checkout_note({"approvals_needed": 1, "candidates": []}).startswith(
        "Needs 1 approval; can approve: nobody."
    )
    assert cannot_approve([{"username": "a", "eligible": True}]) == []


def test_org_purge_and_audit_retention_requests_read_as_what_they_do():
    purge = {"kind": "org_purge", "org": "goneco"}
    assert label(purge) == "purge now"
    assert "goneco" in effect(purge) and "purged" in effect(purge)
    retention = {"kind": "audit_retention", "org": "acme", "retention_days": 40, "purge": True}
    assert label(retention) == "audit purge"
    assert effect(retention).startswith("acme's audit retention becomes 40 days.")
    assert "None" not in label({"kind": "audit_retention", "org": "acme", "retention_days": 40})


def test_access_control_checklist_says_who_can_never_approve():
    from tui.widgets.vault_access import never_approves

    assert never_approves({"status": "disabled", "confirmed": True}) == "disabled"
    assert never_approves({"status": "active", "confirmed": False}) == "unconfirmed"
    assert never_approves({"status": "active", "confirmed": True}) == ""
