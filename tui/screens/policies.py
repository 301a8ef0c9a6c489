"""Password policies of an org: list, create, and generate a password under one."""

from __future__ import annotations

from textual.binding import Binding

from tui.screens.form import Field, refusal
from tui.screens.listing import ListModal
from tui.screens.modals import RevealModal
from tui.workers import api_worker

YES_NO = [("yes", "yes"), ("no", "no")]


def rules(policy: dict) -> str:
    """'12-64 · A a 9 #' · 'max 90 days'."""
    parts = [f"{policy['min_length']}-{policy['max_length']}"]
    marks = " ".join(
        mark
        for key, mark in (
            ("require_upper", "A"),
            ("require_lower", "a"),
            ("require_digit", "9"),
            ("require_special", "#"),
        )
        if policy[key]
    )
    if marks:
        parts.append(marks)
    if policy.get("max_age_days"):
        parts.append(f"max {policy['max_age_days']} days")
    return " · ".join(parts)


def _number(value: str) -> str | None:
    return None if value.strip().isdigit() else "must be a whole number"


def kind(policy: dict) -> str:
    """'built-in', 'replicated' (copied from MSPOrg, as roles say it) or 'own'."""
    if policy["builtin"]:
        return "built-in"
    return "replicated" if policy.get("replicated") else "own"


class PoliciesScreen(ListModal):
    """The built-in policies and the org's own."""

    COLUMNS = ("Policy", "Rules", "Kind")
    KEYS = [
        Binding("n", "new", "New", tooltip="New password policy", id="policy-new"),
        Binding("g", "generate", "Generate", tooltip="Generate a password", id="policy-generate"),
    ]

    def __init__(self, org: str) -> None:
        super().__init__()
        self.org = org

    def heading(self) -> str:
        """'Password policies of acme'."""
        return f"Password policies of {self.org}"

    @api_worker("Cannot list the policies", exclusive=True, group="policies")
    async def load(self) -> None:
        """Fetch the policies."""
        items = await self.app.client.password_policies(self.org)
        self.fill(
            [(p["name"], (p["name"], rules(p), kind(p))) for p in items],
            "Rules: length, A upper, a lower, 9 digit, # special.",
        )

    @api_worker()
    async def action_new(self) -> None:
        """A new policy: name, lengths, required kinds of characters, maximum age."""
        client = self.app.client

        async def submit(v: dict) -> dict:
            body: dict = {"name": v["name"]}
            for key in ("min_length", "max_length"):
                body[key] = int(v[key])
            for key in ("upper", "lower", "digit", "special"):
                body[f"require_{key}"] = v[key] == "yes"
            if v["max_age_days"].strip():
                if not v["max_age_days"].strip().isdigit():
                    raise refusal("max_age_days", "must be a whole number")
                body["max_age_days"] = int(v["max_age_days"])
            return await client.create_policy(self.org, body)

        done = await self.form(
            "New password policy",
            [
                Field("name", "Name", required=True),
                Field("min_length", "Shortest", value="12", required=True, check=_number),
                Field("max_length", "Longest", value="64", required=True, check=_number),
                Field("upper", "Upper case required", value="yes", choices=YES_NO),
                Field("lower", "Lower case required", value="yes", choices=YES_NO),
                Field("digit", "Digit required", value="yes", choices=YES_NO),
                Field("special", "Special character required", value="no", choices=YES_NO),
                Field("max_age_days", "Maximum age in days (empty: none)", check=_number),
            ],
            submit,
            action="create",
        )
        if done:
            self.app.notify(f"Policy {done['name']} created.")
            self.load()

    @api_worker("Nothing generated")
    async def action_generate(self) -> None:
        """Show a password generated under the highlighted policy (c copies it)."""
        name = self.selected()
        if name is None:
            return
        password = await self.app.client.generate_password(self.org, name)
        await self.app.push_screen_wait(
            RevealModal(f"Generated under {name}", password, self.app.reveal_seconds)
        )
