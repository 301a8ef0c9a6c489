"""Password access control in the vault pane (mixed into ``VaultPane``): ``A`` puts the
highlighted account — or, from the resources list, the resource as the default of its
accounts — under access control, changes it or takes it off
(``GET/PUT /orgs/{org}/accounts|resources/{id}/access-control``)."""

from __future__ import annotations

from typing import Any

from tui.logic import choices
from tui.screens.form import Field, refusal
from tui.workers import api_worker

YES_NO = [("yes", "yes"), ("no", "no")]


def _yes(flag: Any, default: bool) -> str:
    return "yes" if (default if flag is None else flag) else "no"


def _whole(value: str) -> str | None:
    return None if value.strip().isdigit() else "must be a whole number"


def never_approves(user: dict) -> str:
    """Why a user could never approve a check-out (the server refuses it as an approver,
    issue 27), or ''."""
    if user.get("status") == "disabled":
        return "disabled"
    if user.get("confirmed") is False:
        return "unconfirmed"
    return ""


async def approver_choices(client, org: str) -> list[tuple[str, str]]:
    """The org's users and groups as checklist rows: ('ann — Ann Smith · user',
    'user:ann'), ('ops · group', 'group:ops'); one that could never approve says why
    ('· user, disabled: cannot approve', '· group, empty: cannot approve')."""
    rows = []
    for u in await client.users(org):
        why = never_approves(u)
        tail = f", {why}: cannot approve" if why else ""
        rows.append((f"{choices.person(u)} · user{tail}", f"user:{u['username']}"))
    for g in await client.groups(org):
        tail = "" if g.get("members", True) else ", empty: cannot approve"
        rows.append((f"{g['name']} · group{tail}", f"group:{g['name']}"))
    return rows


def control_fields(current: dict, approvers: list[tuple[str, str]]) -> list[Field]:
    """The form over an access control as the server holds it (``current``)."""
    chosen = tuple(f"user:{n}" for n in current.get("approvers") or ()) + tuple(
        f"group:{n}" for n in current.get("approver_groups") or ()
    )
    return [
        Field(
            "enabled",
            "Under access control",
            value=_yes(current.get("enabled"), False),
            choices=YES_NO,
            required=True,
        ),
        Field(
            "approvers",
            "Approvers (users or groups; Space ticks)",
            choices=approvers,
            multiple=True,
            chosen=chosen,
            api_names=("approver_groups",),
        ),
        Field(
            "approvals_needed",
            "Approvals needed (1-5)",
            value=str(current.get("approvals_needed") or 1),
            required=True,
            check=_whole,
        ),
        Field(
            "max_window_minutes",
            "Longest window (minutes, up to 10080)",
            value=str(current.get("max_window_minutes") or 60),
            required=True,
            check=_whole,
        ),
        Field(
            "exclusive",
            "Exclusive (one holder at a time)",
            value=_yes(current.get("exclusive"), True),
            choices=YES_NO,
            required=True,
        ),
        Field(
            "rotate_on_checkin",
            "New password on check-in",
            value=_yes(current.get("rotate_on_checkin"), False),
            choices=YES_NO,
            required=True,
        ),
    ]


def control_body(values: dict[str, Any]) -> dict:
    """The PUT body from the form's values. What is wrong in it the server says, every
    problem at once (no approver ticked among them), under each field."""
    picked = values["approvers"]
    enabled = values["enabled"] == "yes"
    return {
        "enabled": enabled,
        "approvers": [v.partition(":")[2] for v in picked if v.startswith("user:")],
        "approver_groups": [v.partition(":")[2] for v in picked if v.startswith("group:")],
        "approvals_needed": int(values["approvals_needed"]),
        "max_window_minutes": int(values["max_window_minutes"]),
        "exclusive": values["exclusive"] == "yes",
        "rotate_on_checkin": values["rotate_on_checkin"] == "yes",
    }


SOLE_APPROVER = (
    "you are its only approver: nobody can approve your own check-outs (no one approves "
    "their own request), and every other one waits for you alone. Tick another user or a "
    "group, or press Enter again to save it as it is."
)


def sole_approver_is_me(body: dict, me: str) -> bool:
    """Does an access control that is on name ``me`` as its only approver (no other user,
    no group)? The TUI warns before saving it (newcomer pass, session 9)."""
    return bool(
        body["enabled"] and me and body["approvers"] == [me] and not body["approver_groups"]
    )


class AccessControlActions:
    """A: the access control of the highlighted account (accounts list) or resource."""

    @api_worker("Access control")
    async def action_access_control(self) -> None:
        """Show and change the access control: on/off, approvers, approvals needed, longest
        window, exclusive, rotation on check-in (needs full permission)."""
        target = self._share_target()
        if target is None:
            return
        kind, ref, label = target
        client = self.app.client
        current = await client.access_control(self.org, kind, ref)
        approvers = await approver_choices(client, self.org)
        if kind == "account" and current.get("inherited_from") == "resource":
            note = "Now inherited from its resource; saving gives the account its own."
        elif kind == "resource":
            note = "The default of the resource's accounts (an account's own one wins)."
        else:
            note = "Reveals then need a check-out request approved by the approvers."
        resource = ref if kind == "resource" else self.selected("resources")
        if current.get("rotate_on_checkin") and resource:
            if not (await client.connection(self.org, resource)).get("configured"):
                # A control made before issue 29: its new password stays in the vault.
                note += (
                    " Its new password at check-in is kept only here: the resource has no "
                    "connection to its target (set one with C)."
                )

        me = (self.app.me or {}).get("username", "")
        warned: list[object] = []  # the approvers a warning was shown for

        async def submit(values: dict) -> dict:
            body = control_body(values)
            picked = values["approvers"]
            if sole_approver_is_me(body, me) and warned != [picked]:
                warned[:] = [picked]  # Enter again, unchanged, saves it as it is
                raise refusal("approvers", SOLE_APPROVER)
            return await client.set_access_control(self.org, kind, ref, body)

        result = await self.form(
            f"Access control of {kind} {label}",
            control_fields(current, approvers),
            submit,
            note=note,
        )
        if result and "weakens" in result:
            # 202: a weakening is a request the control's approvers decide (issue 26).
            self.changed(
                "accounts",
                f"Access control of {label} unchanged: weakening it needs an approver's "
                "approval; your request waits for one of its approvers.",
            )
        elif result:
            state = "on" if result.get("enabled") else "off"
            self.changed("accounts", f"Access control of {label} is {state}.")
