"""Deleted organizations (issue 27, item 5): client orgs in their recovery window, with who
deleted them, when, and the deadline after which they are purged; restore one (any MSPOrg
administrator), or ask a second administrator to purge it now (an ``org_purge`` request,
the approver picked among the eligible ones, the others listed with the reason why not).

Reached from the Organizations tab (r); Esc goes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.controls.keybar import KeyBar
from tui.controls.table import fill_table
from tui.logic.approvers import cannot_approve
from tui.logic.choices import person
from tui.logic.times import expires_in, expires_short, local_minute, local_moment
from tui.screens.form import Field, FormModal, typed_confirmation
from tui.text import inert
from tui.workers import api_worker

HEADER = (
    "Deleted organizations   (Esc: back)\n"
    "Logins are refused and the data kept sealed until the purge date; then it is gone."
)


def deadline_cell(purge_at: str | None) -> str:
    """The Purged column: '12-14 05:50 (7 d)' (local time as in every list, and how long
    is left)."""
    return f"{local_minute(purge_at)} ({expires_short(purge_at)})" if purge_at else "—"


def org_row(org: dict) -> tuple[str, tuple[str, ...]]:
    """A deleted org's row: its id (the key) and the cells."""
    return (
        org["id"],
        (
            inert(org["display_name"]),
            inert(org["name"]),
            inert(org.get("deleted_by") or "—"),
            local_minute(org["deleted_at"]),
            deadline_cell(org.get("purge_at")),
        ),
    )


class DeletedOrgs(Vertical):
    """The list of deleted orgs and its keys (F1 lists them)."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the organizations", id="do-back"),
        Binding("r", "restore", "Restore", tooltip="Restore the org", id="do-restore"),
        Binding(
            "u",
            "purge",
            "Purge now",
            tooltip="Ask a second administrator to purge it now",
            id="do-purge",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._orgs: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        """Header, the table, a line for the empty case."""
        yield Static(HEADER, classes="section")
        table = DataTable(id="deleted-orgs", cursor_type="row", zebra_stripes=True)
        table.add_columns("Org", "Name", "Deleted by", "Deleted", "Purged")
        yield table
        yield Static("", id="deleted-empty")

    def on_mount(self) -> None:
        """Fill in from the server."""
        self.load()

    @api_worker(exclusive=True, group="deleted-orgs")
    async def load(self) -> None:
        """Fetch the deleted orgs."""
        orgs = await self.app.client.deleted_orgs()
        self._orgs = {o["id"]: o for o in orgs}
        fill_table(self.query_one("#deleted-orgs", DataTable), (org_row(o) for o in orgs))
        self.query_one("#deleted-empty", Static).update(
            "" if orgs else "No organization is deleted: nothing to restore."
        )

    def _current(self) -> dict | None:
        table = self.query_one("#deleted-orgs", DataTable)
        if table.row_count == 0:
            self.app.notify("There is no deleted organization.", severity="warning")
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self._orgs.get(key or "")

    async def form(self, title: str, fields: list[Field], submit, **options):
        """Open a form; its result (None when cancelled)."""
        return await self.app.push_screen_wait(FormModal(title, fields, submit, **options))

    @api_worker("Not restored")
    async def action_restore(self) -> None:
        """Restore the highlighted org (its display name typed to confirm)."""
        org = self._current()
        if org is None:
            return
        name, client = org["display_name"], self.app.client
        done = await self.form(
            f"Restore {name}",
            [typed_confirmation(name, problem="does not match the org's name", strip=True)],
            lambda _v: client.restore_org(org["id"]),
            note=f"{name} comes back as it was: its users log in again and its data is "
            f"readable by those who could read it. Deleted by {org.get('deleted_by')} on "
            f"{local_moment(org['deleted_at'])}.",
            action="restore",
        )
        if done:
            self.app.notify(f"{name} restored.")
            self.load()

    @api_worker("No purge request")
    async def action_purge(self) -> None:
        """File an ``org_purge`` request: an eligible approver (the others shown with the
        reason why not) and a reason; the org goes for good once approved."""
        org = self._current()
        if org is None:
            return
        name, client = org["display_name"], self.app.client
        page = await client.approver_candidates_of("org_purge", {"org": org["id"]})
        eligible = [(person(u), u["username"]) for u in page["items"]]
        note = (
            f"If approved: {name} and everything in it are purged at once, instead of "
            f"{expires_in(org.get('purge_at'))}. This cannot be undone."
        )
        if not eligible:
            note += "\nNo administrator is eligible to approve this request."
        if cannot := cannot_approve(page.get("candidates") or []):
            note += "\nCannot approve it:\n  " + "\n  ".join(cannot)

        async def submit(values: dict) -> dict:
            body = {"kind": "org_purge", "org": org["id"], "approver": values["approver"]}
            if values.get("reason"):
                body["reason"] = values["reason"]
            return await client.request_access(body)

        result = await self.form(
            f"Purge {name} now",
            [
                Field("approver", "Approver", choices=eligible, required=True),
                Field("reason", "Reason"),
            ],
            submit,
            note=note,
            action="file the request",
            danger=True,
        )
        if result:
            self.app.notify(f"Purge of {name} requested; {result['approver']} has been asked.")

    def action_back(self) -> None:
        """Back to the organizations."""
        self.screen.dismiss(None)


class DeletedOrgsScreen(Screen[None]):
    """Deleted organizations over the main screen."""

    AUTO_FOCUS = "#deleted-orgs"

    def compose(self) -> ComposeResult:
        """The list and the key bar."""
        yield DeletedOrgs()
        yield KeyBar()

    def pane_title(self) -> str:
        """For the keys panel (F1)."""
        return "Deleted organizations"

    def palette_commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette: this screen's actions."""
        pane = self.query_one(DeletedOrgs)
        for binding in DeletedOrgs.BINDINGS:
            yield (
                f"Deleted orgs: {binding.tooltip}",
                f"key {binding.key}",
                getattr(pane, f"action_{binding.action}"),
            )
