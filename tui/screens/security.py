"""Two-factor authentication an org can require, and an administrator's reset of another
user's 2FA (issue 27, item 3): the dialogs the Settings tab (f) and the Users tab (T) open.
The server decides who may (a client's policy lowered by the MSP needs the client's
consent; a 2FA reset follows the person rules of a password reset)."""

from __future__ import annotations

from typing import Any

from tui.client import ApiError
from tui.screens.form import Choices, Field, typed_confirmation
from tui.screens.me import enrol_if_required

TOTP_POLICIES: Choices = [
    ("nobody is required to use it", "none"),
    ("administrators must use 2FA", "administrators"),
    ("everyone must use 2FA", "everyone"),
]
POLICY_WORDS = dict((value, label) for label, value in TOTP_POLICIES)

# Refusals whose sentence needs the next step said.
NEXT_STEP = {
    "client_confirms": "Only the org's own confirmed administrator lowers its policy.",
    "dual_control_required": "This user reaches a client org: revoke its access (or move the "
    "account managership by request) first, or let the user turn 2FA off itself.",
    "totp_not_enabled": "Nothing to reset.",
}


def explained(error: ApiError) -> ApiError:
    """The server's refusal with the next step, when ``NEXT_STEP`` has one."""
    step = NEXT_STEP.get(error.code)
    if step is None:
        return error
    return ApiError(error.code, f"{error.detail}. {step}", error.status, error.body)


async def edit_totp_policy(pane: Any) -> bool:
    """Show and change who must use two-factor authentication in the pane's org (users
    it covers enrol at their next login, before anything else). True when saved."""
    client, org = pane.app.client, pane.org
    current = await client.security_settings(org)

    async def submit(values: dict) -> dict:
        if values["totp_policy"] == current["totp_policy"]:
            return current
        try:
            return await client.set_security_settings(org, values["totp_policy"])
        except ApiError as error:
            raise explained(error) from None

    result = await pane.form(
        f"Two-factor authentication in {org}",
        [
            Field(
                "totp_policy",
                "Who must use two-factor authentication",
                value=current["totp_policy"],
                choices=TOTP_POLICIES,
                required=True,
            )
        ],
        submit,
        note="A user it covers who has no 2FA yet sets it up at its next login, before "
        "anything else (its authenticator app and ten recovery codes)."
        + (
            ""
            if (pane.app.me or {}).get("totp_enabled")
            else "\nYou have no 2FA yet: if the policy covers you, you set it up right away."
        ),
    )
    if not result:
        return False
    pane.app.notify(f"{org}: {POLICY_WORDS.get(result['totp_policy'], result['totp_policy'])}.")
    # The policy holds at once: a session of mine without 2FA may now only enrol.
    pane.app.me = await client.me()
    if not await enrol_if_required(pane.app):
        pane.app.notify(
            "The server refuses everything else until you set up two-factor authentication: "
            "Ctrl+T, then t.",
            severity="warning",
        )
    return True


async def reset_user_totp(pane: Any, user: dict) -> bool:
    """Turn ``user``'s two-factor authentication off (its name typed to confirm): for a
    lost phone and lost recovery codes. Its sessions and API keys end; it enrols again at
    its next login where 2FA is required. True when done."""
    client, org, name = pane.app.client, pane.org, user["username"]
    if not user.get("totp_enabled"):
        pane.app.notify(f"{name} has no two-factor authentication to reset.", severity="warning")
        return False

    async def submit(_values: dict) -> dict:
        try:
            return await client.reset_user_totp(org, name)
        except ApiError as error:
            raise explained(error) from None

    done = await pane.form(
        f"Reset {name}'s two-factor authentication",
        [typed_confirmation(name, problem=f"type {name} to reset it", strip=True)],
        submit,
        note=f"For a lost phone: {name}'s authenticator and recovery codes stop working, its "
        "sessions and API keys end, and it sets 2FA up again at its next login if required. "
        "Make sure you are talking to the real person first.",
        action="reset 2FA",
        danger=True,
    )
    return bool(done)
