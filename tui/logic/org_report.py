"""The org report and the delete preview as lines of text that read well at 80 columns."""

from __future__ import annotations

from tui.logic.times import local_minute
from tui.wording import role_words

REQUEST_KINDS = {
    "grant": "access for",
    "account_manager": "account manager",
    "group_member": "group member",
    "user_confirmation": "confirm user",
    "org_rename": "rename to",
}


def report_lines(org: dict, report: dict) -> list[str]:
    """``GET /orgs/{org}/report`` (with the org's own record ``org``) as readable lines:
    details, users, groups, MSP access and through what, pending requests."""
    reveal = "required" if org.get("require_reveal_reason") else "not required"
    lines = [
        f"{org['display_name']} — {org['name']}",
        f"Account manager: {report.get('account_manager') or '—'}",
        f"Vault control: {org.get('vault_control') or '—'}   Reveal reason: {reveal}",
    ]
    for label, key in (
        ("Description", "description"),
        ("Department", "department"),
        ("Location", "location"),
    ):
        if org.get(key):
            lines.append(f"{label}: {org[key]}")
    users = report["users"]
    lines += ["", f"Users ({len(users)}):"]
    lines += [
        f"  {u['username']}"
        + (f" — {u['full_name']}" if u.get("full_name") else "")
        + f" ({u['role'].replace('_', ' ')}, {u['status']}"
        + ("" if u.get("confirmed", True) else ", unconfirmed")
        + ")"
        for u in users
    ] or ["  none"]
    lines += ["", f"Groups ({len(report['groups'])}):"]
    lines += [
        f"  {g['name']}: {', '.join(g['members']) or 'no members'}" for g in report["groups"]
    ] or ["  none"]
    lines += ["", "MSP staff who reach it:"]
    lines += [
        f"  {a['username']}"
        + (f" ({role_words(a['role'])})" if a.get("role") else "")
        + f" via {a['via'].replace('_', ' ')}"
        for a in report["msp_access"]
    ] or ["  none"]
    if report.get("msp_group_access"):
        lines += ["", "MSP groups granted:"]
        lines += [
            f"  {g['name']}: {', '.join(g['members']) or 'no members'}"
            for g in report["msp_group_access"]
        ]
    lines += ["", "Requests waiting:"]
    lines += [
        f"  {REQUEST_KINDS.get(r['kind'], r['kind'])} "
        f"{r.get('user') or r.get('display_name') or _group(r)}"
        f" — by {r['proposer']}, approver {r['approver']}, expires {local_minute(r['expires_at'])}"
        for r in report["pending_requests"]
    ] or ["  none"]
    return lines


def _group(request: dict) -> str:
    return f"group {request['group']}" if request.get("group") else ""


def deletion_lines(org: dict, report: dict, preview: dict) -> list[str]:
    """What deleting ``org`` takes with it (the server's whole count, issue 27: not only
    what I can see), and how long it can be restored."""
    users = report["users"]
    counts = preview["counts"]
    names = ", ".join(u["username"] for u in users[:6]) + (" …" if len(users) > 6 else "")
    return [
        f"Deleting {org['display_name']} ({org['name']}) deletes:",
        f"  {counts['users']} users" + (f": {names}" if users else ""),
        f"  {counts['groups']} groups",
        f"  {counts['resources']} resources and {counts['accounts']} accounts, with their shares",
        f"  {counts['resource_groups']} resource groups, {counts['policies']} password "
        f"policies, {counts['roles']} roles, {counts['fields']} fields",
        "  the MSP's grants to it and its requests",
        "It ends their sessions at once. Any MSPOrg administrator can restore it for "
        f"{preview['recovery_days']} days; then it is purged with its data key.",
    ]
