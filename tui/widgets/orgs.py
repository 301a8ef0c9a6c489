"""The organizations pane: list with search, add, edit, import, delete, report."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input

from server.names import display_name_problem  # shared plain rule, no server code
from tui.client import ApiError
from tui.screens.form import Field
from tui.screens.modals import TextModal
from tui.text import inert
from tui.widgets import choices
from tui.widgets.pane import Pane, fill_table


def _read(name: str) -> tuple[Path, bytes]:
    path = Path(os.path.expanduser(name))
    return path, path.read_bytes()


class OrgsPane(Pane):
    """Client organizations (MSPOrg administrators)."""

    LIST = "orgs-table"
    BINDINGS = [
        Binding("n", "new_org", "New", tooltip="New org", id="new-org"),
        Binding("e", "edit_org", "Edit", tooltip="Edit the org", id="edit-org"),
        Binding("d", "delete_org", "Delete", tooltip="Delete the org", id="delete-org"),
        Binding("p", "report", "Report", tooltip="Org report", id="org-report"),
        Binding("i", "import_orgs", "Import", tooltip="Import orgs from a file", id="import-orgs"),
        Binding("slash", "search", "Search", tooltip="Search orgs", id="orgs-search"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._orgs: list[dict] = []

    def compose(self) -> ComposeResult:
        """Search box and the table."""
        yield Input(placeholder="search organizations (/)", id="orgs-q", compact=True)
        table = DataTable(id="orgs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Org", "Name", "Account manager", "Vault", "Managed")
        yield table

    def on_mount(self) -> None:
        """Load the list."""
        self.load()

    @work(exclusive=True, exit_on_error=False, group="orgs")
    async def load(self) -> None:
        """Fetch the organizations I may see."""
        try:
            self._orgs = await self.app.client.orgs()
        except ApiError as error:
            self.app.show_error(error)
            return
        self.fill()

    @on(Input.Changed, "#orgs-q")
    def fill(self) -> None:
        """Show the orgs matching the search."""
        query = self.query_one("#orgs-q", Input).value.lower()
        rows = []
        for o in self._orgs:
            text = f"{o['display_name']} {o['name']} {o.get('account_manager') or ''}".lower()
            if query and query not in text:
                continue
            cells = (
                inert(o["display_name"]),
                inert(o["name"]),
                inert(o.get("account_manager") or "—"),
                o.get("vault_control", ""),
                "yes" if o.get("managed") else "",
            )
            rows.append((o["display_name"], cells))
        fill_table(self.query_one("#orgs-table", DataTable), rows)

    @on(Input.Submitted, "#orgs-q")
    def search_done(self) -> None:
        """Enter in the search box goes to the results."""
        self.focus_list()

    def _current(self) -> dict | None:
        org = self.selected()
        found = next((o for o in self._orgs if o["display_name"] == org), None)
        if found is None:
            self.app.notify("Select an organization first.", severity="warning")
        return found

    def action_search(self) -> None:
        """Jump to the search box."""
        self.screen.set_focus(self.query_one("#orgs-q", Input))

    @work(exit_on_error=False)
    async def action_new_org(self) -> None:
        """Add a client org, checking the display name as it is typed."""
        client = self.app.client
        try:
            managers = await choices.account_managers(client)
        except ApiError as error:
            self.app.show_error(error)
            return
        result = await self.form(
            "New organization",
            [
                Field("name", "Name", required=True),
                Field(
                    "display_name",
                    "Display name (the URL: https://host:7272/<name>)",
                    required=True,
                    check=display_name_problem,
                ),
                Field(
                    "account_manager",
                    "Account manager",
                    value=self.app.me.get("username", ""),
                    choices=managers,
                    required=True,
                ),
                Field(
                    "vault_control",
                    "Who adds resources",
                    value="both",
                    choices=choices.VAULT_CONTROL,
                ),
                Field("description", "Description"),
            ],
            lambda v: client.create_org({k: x for k, x in v.items() if x}),
            action="create",
        )
        if result:
            self.changed("orgs", f"Organization {result['display_name']} created.")

    @work(exit_on_error=False)
    async def action_edit_org(self) -> None:
        """Edit the selected org's name, description, account manager or vault control."""
        current = self._current()
        if current is None:
            return
        org, client = current["display_name"], self.app.client
        try:
            managers = await choices.account_managers(client)
        except ApiError as error:
            self.app.show_error(error)
            return
        fields = [
            Field("name", "Name", value=current["name"]),
            Field("description", "Description", value=current.get("description") or ""),
            Field(
                "vault_control",
                "Who adds resources",
                value=current.get("vault_control", "both"),
                choices=choices.VAULT_CONTROL,
            ),
        ]
        if not current["is_msp"]:
            fields.insert(
                2,
                Field(
                    "account_manager",
                    "Account manager",
                    value=current.get("account_manager") or "",
                    choices=managers,
                ),
            )
        else:
            fields.pop(0)  # MSPOrg keeps its name

        async def submit(v: dict) -> dict:
            changes = {k: x for k, x in v.items() if x != (current.get(k) or "")}
            return await client.update_org(org, changes) if changes else current

        if await self.form(f"Edit {org}", fields, submit):
            self.changed("orgs", f"{org} updated.")

    @work(exit_on_error=False)
    async def action_delete_org(self) -> None:
        """Delete the selected org after its display name is typed."""
        current = self._current()
        if current is None:
            return
        org, client = current["display_name"], self.app.client
        result = await self.form(
            f"Delete {org}",
            [
                Field(
                    "confirm",
                    f"Type {org} to confirm",
                    required=True,
                    check=lambda v: None if v == org else "does not match the org's name",
                )
            ],
            lambda v: client.delete_org(org, v["confirm"]),
            note="This deletes the org's users, groups, resources, accounts and shares, ends "
            "their sessions and destroys its data key. It cannot be undone.",
            action="delete",
            danger=True,
        )
        if result:
            d = result["deleted"]
            self.changed(
                "orgs",
                f"Deleted {org}: {d['users']} users, {d['groups']} groups, "
                f"{d['resources']} resources, {d['accounts']} accounts.",
            )

    @work(exit_on_error=False)
    async def action_import_orgs(self) -> None:
        """Import from a CSV/TXT file: preview the first rows, then show each row's fate."""
        picked = await self.form(
            "Import organizations",
            [Field("path", "File (.csv or .txt)", placeholder="/path/to/orgs.csv", required=True)],
            action="preview",
        )
        if not picked:
            return
        try:
            path, data = await asyncio.to_thread(_read, picked["path"])
        except OSError as exc:
            self.app.notify(f"Cannot read {picked['path']}: {exc.strerror}", severity="error")
            return
        preview = data.decode("utf-8-sig", errors="replace").splitlines()[:6]
        result = await self.form(
            f"Import {path.name}?",
            [
                Field(
                    "confirm",
                    "Type import to go ahead",
                    required=True,
                    check=lambda v: None if v == "import" else "type the word import",
                )
            ],
            lambda v: self.app.client.import_orgs(path.name, data),
            note="First rows:\n" + "\n".join(preview),
            action="import",
        )
        if not result:
            return
        lines = [f"created {result['created']}, failed {result['failed']}"]
        lines += [
            f"line {r['line']}: {r['display_name']} — {r['status']}"
            + (f" ({r['detail']})" if r.get("detail") else "")
            for r in result["results"]
        ]
        self.changed("orgs")
        await self.app.push_screen_wait(TextModal("Import results", lines))

    @work(exit_on_error=False)
    async def action_report(self) -> None:
        """The selected org's report."""
        current = self._current()
        if current is None:
            return
        org = current["display_name"]
        try:
            report = await self.app.client.org_report(org)
        except ApiError as error:
            self.app.show_error(error, "No report")
            return
        lines = [f"Account manager: {report['account_manager']}", "", "Users:"]
        lines += [f"  {u['username']} ({u['role']}, {u['status']})" for u in report["users"]]
        lines += ["", "Groups:"] + [
            f"  {g['name']}: {', '.join(g['members'])}" for g in report["groups"]
        ]
        lines += ["", "MSP access:"] + [
            f"  {a['username']} via {a['via']}" for a in report["msp_access"]
        ]
        lines += ["", "Pending requests:"] + [
            f"  {r.get('user') or r.get('group')} (approver {r['approver']})"
            for r in report["pending_requests"]
        ]
        await self.app.push_screen_wait(TextModal(f"Report: {org}", lines))
