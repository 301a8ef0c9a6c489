"""Password check-out requests: how they read, and deciding, withdrawing and checking in.

A check-out request (``/orgs/{org}/password-requests``) asks for a controlled password
for a window; its ``status`` is pending, approved (window open: the requester holds it),
ended (window over, not yet checked in), checked_in, rejected, withdrawn or expired.
"""

from __future__ import annotations

from tui.client import ApiError
from tui.flows import Pane
from tui.flows.access_requests import cut
from tui.logic.times import expires_in, expires_short, local_minute, time_left
from tui.screens.form import Field, typed_confirmation


def password_of(request: dict) -> str:
    """'web01/root': the resource and account the request is about."""
    return f"{request['resource']}/{request['account']}"


def state(request: dict) -> str:
    """The requester's view of the status: 'held, 42 min left', 'pending', 'rejected: …'."""
    status = request["status"]
    if status == "approved":
        return f"held, {time_left(request.get('ends_at'))}"
    if status == "ended":
        return "window over, check it in"
    if status == "rejected" and request.get("decision_reason"):
        return f"rejected: {request['decision_reason']}"
    return status.replace("_", " ")


def describe(request: dict, org: str) -> str:
    """The approver's view: password, org, requester, reason, window, approvals, expiry."""
    needed = request.get("approvals_needed")
    approvals = f"{len(request.get('approved_by') or [])} of {needed or 1}"
    if request.get("approved_by"):
        approvals += f" ({', '.join(request['approved_by'])})"
    return (
        f"Password: {password_of(request)} in {org}\n"
        f"Requested by: {request['requester']} ({request['requester_org']})\n"
        f"Reason: {request.get('reason') or '—'}\n"
        f"Window: {request['window_minutes']} minutes from approval\n"
        f"Approvals: {approvals}\n"
        f"Expires: {local_minute(request.get('expires_at'), '—')} "
        f"({expires_in(request.get('expires_at'))})"
    )


def queue_row(request: dict, org: str) -> tuple[str, ...]:
    """The approver's queue cells: org, 'check-out web01/root', requester, reason, expires."""
    return (
        org,
        f"check-out {password_of(request)}",
        request["requester"],
        cut(request.get("reason") or ""),
        expires_short(request.get("expires_at")),
    )


def mine_row(request: dict, org: str) -> tuple[str, ...]:
    """The requester's list cells: org, 'check-out web01/root', approved by, state."""
    return (
        org,
        f"check-out {password_of(request)}",
        ", ".join(request.get("approved_by") or []) or "—",
        state(request),
    )


def hold_row(request: dict) -> tuple[str, ...]:
    """The holds list cells: password, holder, reason, time left."""
    return (
        password_of(request),
        request["requester"],
        request.get("reason") or "",
        time_left(request.get("ends_at")),
    )


async def approve(pane: Pane, org: str, request: dict) -> None:
    """Approve a check-out (an optional note); the window opens once enough approved."""
    client = pane.app.client
    result = await pane.form(
        "Approve check-out",
        [Field("reason", "Note (optional)")],
        lambda v: client.decide_password_request(org, request["id"], "approve", v["reason"]),
        note=describe(request, org)
        + f"\n\nOnce approved, {request['requester']} may reveal it for the window.",
        action="approve",
    )
    if not result:
        return
    if result["status"] == "approved":
        message = f"Approved: {result['requester']} holds {password_of(result)}."
    else:
        message = "Approved; it waits for more approvals."
    pane.changed("checkouts", message)


async def reject(pane: Pane, org: str, request: dict) -> None:
    """Reject a check-out with a reason (the requester sees it)."""
    client = pane.app.client
    result = await pane.form(
        "Reject check-out",
        [Field("reason", "Reason", required=True)],
        lambda v: client.decide_password_request(org, request["id"], "reject", v["reason"]),
        note=describe(request, org),
        action="reject",
    )
    if result:
        pane.changed("checkouts", f"Rejected the check-out of {password_of(request)}.")


async def withdraw(pane: Pane, org: str, request: dict) -> None:
    """Withdraw my pending check-out request."""
    if request["status"] != "pending":
        pane.app.notify(
            f"Only a pending request can be withdrawn; this one is {state(request)}.",
            severity="warning",
        )
        return
    try:
        await pane.app.client.decide_password_request(org, request["id"], "withdraw")
    except ApiError as error:
        pane.app.show_error(error, "Cannot withdraw")
        return
    pane.changed("checkouts", f"Withdrew the check-out request for {password_of(request)}.")


async def check_in(pane: Pane, org: str, request: dict) -> None:
    """Give back a password I hold (the window open or just over)."""
    if request["status"] not in ("approved", "ended"):
        pane.app.notify(
            f"Only a held password can be checked in; this request is {state(request)}.",
            severity="warning",
        )
        return
    done = await pane.form(
        f"Check in {password_of(request)}?",
        [typed_confirmation("yes", "Type yes to confirm (Esc keeps it)", any_case=True)],
        lambda _v: pane.app.client.decide_password_request(org, request["id"], "check-in"),
        note="You give the password back; revealing it again needs a new check-out.",
        action="check in",
    )
    if done:
        pane.changed("checkouts", f"Checked in {password_of(request)}.")


async def force_check_in(pane: Pane, org: str, hold: dict) -> None:
    """An administrator ends someone's check-out now (the server audits it as forced);
    the holder's name is typed to confirm."""
    client = pane.app.client
    holder = hold["requester"]

    result = await pane.form(
        f"Force check-in of {password_of(hold)}",
        [typed_confirmation(holder, problem=f"type {holder} to confirm")],
        lambda _v: client.decide_password_request(org, hold["id"], "check-in"),
        note=(
            f"{holder} holds {password_of(hold)} in {org} ({time_left(hold.get('ends_at'))}"
            ").\nChecking it in now ends the window; "
            "the server records it as forced."
        ),
        action="check in now",
        danger=True,
    )
    if result:
        pane.changed("checkouts", f"Checked in {password_of(hold)} held by {holder}.")
