"""Replicate settings (MSPOrg administrators): choose among the guide's ten categories
and the role-clash rule, apply to every client org, see each org's result.

The server applies in ONE call (``PUT /msp/replicate-settings``) that answers when every
org is done; it streams nothing and has no per-org call. So the progress shown while it
runs is honest about that: an indeterminate bar with the number of orgs and the seconds
spent, then the per-org results table from the answer.
"""

from __future__ import annotations

import time
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import DataTable, ProgressBar, Static

from tui.client import ApiError
from tui.controls.table import fill_table
from tui.logic.times import ago
from tui.screens.form import Choices, Field, FormModal
from tui.text import inert, inert_lines
from tui.wording import counted, operation_words
from tui.workers import api_worker

CATEGORY_LABELS = {
    "user_groups": "User groups",
    "user_group_settings": "User group settings",
    "resource_groups": "Resource groups",
    "resource_group_shares": "Resource group → user group shares",
    "additional_fields": "Additional fields",
    "user_roles": "User roles",
    "resource_types": "Resource types",
    "password_policies": "Password policies",
    "audit_operation_settings": "Audit operation type settings",
    "audit_purge_settings": "Audit purge settings",
}
ROLE_CONFLICT: Choices = [
    ("rename: the MSP's role is added as <name>-MSP", "rename"),
    ("overwrite: the MSP's permissions replace the client's", "overwrite"),
]


def category_text(categories: list[str]) -> str:
    """'User roles, Resource types' ('none' for an empty list)."""
    return ", ".join(CATEGORY_LABELS.get(c, c) for c in categories) or "none"


def saved_text(saved: dict[str, Any]) -> str:
    """The saved choice as one line."""
    chosen = saved["categories"]
    every = set(saved.get("available") or CATEGORY_LABELS) <= set(chosen)
    what = f"all {len(chosen)} categories" if every else category_text(chosen)
    return (
        f"Saved: {what} · role clash: {saved['role_conflict']}"
        f" · last applied {ago(saved.get('applied_at'))}"
    )


def kept_text(kept: list[dict[str, Any]]) -> str:
    """What an org kept of its own, and why, as the results' Reason: 'kept
    resource updated: MSPOrg does not record it; …' (issue 35: not applied, said so)."""

    def name(k: dict[str, Any]) -> str:
        raw = str(k.get("name", ""))
        return operation_words(raw) if k.get("category") == "audit_operation_settings" else raw

    return "; ".join(f"kept {name(k)}: {k.get('why', '')}" for k in kept)


async def load_choice(client: Any) -> tuple[dict[str, Any], int]:
    """(the saved choice, ``GET /msp/replicate-settings``; the number of client orgs)."""
    saved = await client.replicate_settings()
    return saved, sum(1 for o in await client.orgs() if not o["is_msp"])


def choice_form(saved: dict[str, Any], orgs: int) -> FormModal:
    """The one dialog R opens: the categories (the saved choice ticked) and the role-clash
    rule; Enter applies."""
    available = saved.get("available") or list(CATEGORY_LABELS)
    return FormModal(
        "Replicate settings: choose",
        [
            Field(
                "categories",
                "Categories (Space ticks, Ctrl+A all/none)",
                choices=[(CATEGORY_LABELS.get(c, c), c) for c in available],
                multiple=True,
                chosen=tuple(saved.get("categories") or ()),
            ),
            Field(
                "role_conflict",
                "When a client org has a role of the same name",
                value=saved.get("role_conflict") or "rename",
                choices=ROLE_CONFLICT,
            ),
        ],
        note=saved_text(saved)
        + f"\nApplies MSPOrg's current version to all {counted(orgs, 'client org')} now and"
        " to each org created later. Structure only: no users, secrets or resources.",
        action="apply",
    )


class ReplicateScreen(ModalScreen[bool]):
    """Applying the chosen categories (the choice form comes first, alone), the progress
    and the per-org results; ``a`` chooses and applies again. Dismissed with True once
    something was applied."""

    BINDINGS = [
        Binding(
            "a", "apply", "Apply", tooltip="Choose the categories and apply", id="replicate-apply"
        ),
        Binding("escape", "close", "Close", tooltip="Back to the settings", id="replicate-close"),
    ]
    DEFAULT_CSS = """
    ReplicateScreen .replicate { width: 100; max-width: 100%; height: 90%; }
    ReplicateScreen #replicate-results { height: 1fr; }
    ReplicateScreen #replicate-progress { height: 1; }
    ReplicateScreen #replicate-progress Bar { width: 1fr; }
    """

    def __init__(self, saved: dict[str, Any], orgs: int, values: dict[str, Any]) -> None:
        super().__init__()
        self._saved = saved
        self._orgs = orgs
        self._values = values
        self._applied = False
        self._busy = False
        self._ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        """Title, saved choice, state line, progress bar, results, keys."""
        with Vertical(classes="dialog replicate"):
            yield Static("Replicate settings from MSPOrg to client orgs", classes="dialog-title")
            yield Static(inert(saved_text(self._saved)), id="replicate-saved")
            yield Static("", id="replicate-state")
            yield ProgressBar(
                total=None,
                show_eta=False,
                show_percentage=False,
                id="replicate-progress",
                classes="hidden",
            )
            table = DataTable(id="replicate-results", cursor_type="row", zebra_stripes=True)
            table.add_columns("Org", "Result", "Created", "Updated", "Reason")
            yield table
            yield Static("a: choose and apply   Esc: close", classes="dialog-keys")

    def on_mount(self) -> None:
        """Apply the choice made in the form."""
        self.query_one(".dialog").can_focus = False
        self.start()

    @api_worker(exclusive=True, group="replicate")
    async def start(self) -> None:
        """Apply what the form chose."""
        values = self._values
        await self._apply(values["categories"], values["role_conflict"] or "rename")

    def action_apply(self) -> None:
        """Open the form again (with the saved choice) and apply."""
        if not self._busy:
            self.again()

    @api_worker(exclusive=True, group="replicate")
    async def again(self) -> None:
        """The form, then applying (a worker: the form is waited for)."""
        values = await self.app.push_screen_wait(choice_form(self._saved, self._orgs))
        if values is not None:
            await self._apply(values["categories"], values["role_conflict"] or "rename")

    async def _apply(self, categories: list[str], conflict: str) -> None:
        """One PUT; an indeterminate bar with the seconds spent while it runs."""
        self._busy = True
        state = self.query_one("#replicate-state", Static)
        bar = self.query_one("#replicate-progress", ProgressBar)
        started = time.monotonic()
        what = f"Applying {len(categories)} categor{'y' if len(categories) == 1 else 'ies'}"
        what += f" to {counted(self._orgs, 'client org')}"

        def tick() -> None:
            state.update(
                f"{what}… {int(time.monotonic() - started)} s (one request: the server "
                "answers when every org is done)"
            )

        tick()
        bar.remove_class("hidden")
        self._ticker = self.set_interval(1, tick)
        try:
            answer = await self.app.client.apply_replicate_settings(categories, conflict)
        except ApiError as error:
            state.update(inert(f"Not applied: {error.detail}"))
            self.app.show_error(error, "Not applied")
            return
        finally:
            self._ticker.stop()
            bar.add_class("hidden")
            self._busy = False
        self._applied = True
        self._saved = {**self._saved, **{k: v for k, v in answer.items() if k != "results"}}
        self._show_results(answer)

    def _show_results(self, answer: dict[str, Any]) -> None:
        self.query_one("#replicate-saved", Static).update(inert(saved_text(self._saved)))
        summary = (
            f"Applied to {counted(answer['applied'], 'client org')}; {answer['failed']} failed."
        )
        self.query_one("#replicate-state", Static).update(inert_lines(summary))
        table = self.query_one("#replicate-results", DataTable)
        fill_table(
            table,
            (
                (
                    r["org"],
                    (
                        inert(r["org"]),
                        "applied" if r["status"] == "applied" else "FAILED",
                        str(r.get("created", 0)),
                        str(r.get("updated", 0)),
                        inert(r.get("detail") or kept_text(r.get("kept") or [])),
                    ),
                )
                for r in answer["results"]
            ),
        )
        self.set_focus(table)
        self.app.notify(
            summary, severity="warning" if answer["failed"] else "information", timeout=6
        )

    def action_close(self) -> None:
        """Back to the settings (not while applying: the answer is on its way)."""
        if self._busy:
            self.app.notify("Still applying; the results follow.", severity="warning")
            return
        self.dismiss(self._applied)
