"""Password access control (check-out) in the vault: an account's state as one phrase,
the request form, and checking a password in.

The account JSON's ``access`` says ``controlled`` and ``state`` (``free``, ``mine``,
``held``, with ``holder`` and ``until``); a pending request of mine comes from
``GET …/password-requests?role=requester&status=pending``.
"""

from __future__ import annotations

from tui.client import ApiError, Client
from tui.logic.fields import Field
from tui.logic.times import local_clock


def state_text(access: dict | None, pending: bool = False) -> str:
    """'' (not under access control), 'free', 'request pending', 'mine until 14:05' or
    'held by ann@MSPOrg until 14:05'."""
    if not access or not access.get("controlled"):
        return ""
    if access["state"] == "mine":
        return f"mine until {local_clock(access.get('until'))}"
    if access["state"] == "held":
        return f"held by {access.get('holder')} until {local_clock(access.get('until'))}"
    return "request pending" if pending else "free"


def held_message(error: ApiError) -> ApiError:
    """A ``checked_out`` refusal said the vault's way: 'held by X until T'."""
    holder, until = error.body.get("holder"), error.body.get("until")
    if not holder:
        return error
    return ApiError(
        error.code, f"Held by {holder} until {local_clock(until)}.", error.status, error.body
    )


async def pending_accounts(client: Client, org: str) -> set[str]:
    """Ids of the accounts I have a pending request for (empty when I may not list)."""
    try:
        items = await client.password_requests(org, "requester", "pending")
    except ApiError:
        return set()
    return {r["account_id"] for r in items}


async def my_checkout(client: Client, org: str, account_id: str) -> dict | None:
    """My approved request (an open or ended window) for ``account_id``, if any."""
    for status in ("approved", "ended"):
        for item in await client.password_requests(org, "requester", status):
            if item["account_id"] == account_id:
                return item
    return None


def request_fields(longest: int | None = None) -> list[Field]:
    """The request form: a reason and a window (60 minutes, or the ``longest`` the
    account's access control allows when that is shorter; the server checks it)."""
    window = min(60, longest) if longest else 60
    return [
        Field("reason", "Reason (ticket, change…)", required=True),
        Field(
            "window_minutes",
            f"For how many minutes (up to {longest})" if longest else "For how many minutes",
            value=str(window),
            required=True,
            check=lambda v: None if v.strip().isdigit() else "must be a whole number",
        ),
    ]


HINTS = {
    "no_eligible_approver": ": ask an administrator to name another approver (access control, A).",
}


def readable_refusal(error: ApiError) -> ApiError:
    """A refusal about the request as a whole (its ``account`` field, not in the form) as
    one sentence for the form's error line: 'No approver of this password is independent
    of you: ask an administrator …'. Other refusals are returned as they are."""
    errors = error.body.get("errors") or []
    about = [e.get("message", "") for e in errors if e.get("field") == "account"]
    if not about:
        return error
    text = about[0].strip().rstrip(".")
    text = text[:1].upper() + text[1:]
    sentence = text + HINTS.get(error.code, ".")
    body = {k: v for k, v in error.body.items() if k != "errors"}
    return ApiError(error.code, sentence, error.status, body)


def request_body(account_id: str, values: dict[str, str]) -> dict:
    """The request as the API takes it."""
    return {
        "account": account_id,
        "reason": values["reason"],
        "window_minutes": int(values["window_minutes"]),
    }
