"""The organizations pane: list with search, add, import, delete, report."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input

from server.names import display_name_problem  # shared plain rule, no server code
from tui.client import ApiError
from tui.screens.modals import ConfirmTypedModal, FormField, FormModal, TextModal
from tui.text import inert


def _read(name: str) -> tuple[Path, bytes]:
    path = Path(os.path.expanduser(name))
    return path, path.read_bytes()


class OrgsPane(Vertical):
    """Client organizations (MSPOrg administrators)."""

    BINDINGS = [
        Binding("slash", "search", "Search", id="orgs-search"),
        Binding("n", "new_org", "New org", id="new-org"),
        Binding("i", "import_orgs", "Import", id="import-orgs"),
        Binding("d", "delete_org", "Delete", id="delete-org"),
        Binding("p", "report", "Report", id="org-report"),
        Binding("e", "edit_org", "Edit", id="edit-org"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._orgs: list[dict] = []

    def compose(self) -> ComposeResult:
        """Search box and the table."""
        yield Input(placeholder="search organizations (/)", id="orgs-q")
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
        table = self.query_one("#orgs-table", DataTable)
        table.clear()
        for o in self._orgs:
            text = f"{o['display_name']} {o['name']} {o['account_manager'] or ''}".lower()
            if query and query not in text:
                continue
            table.add_row(
                inert(o["display_name"]),
                inert(o["name"]),
                inert(o["account_manager"] or "—"),
                o["vault_control"],
                "yes" if o.get("managed") else "",
                key=o["display_name"],
            )

    def _selected(self) -> str | None:
        table = self.query_one("#orgs-table", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def action_search(self) -> None:
        """Jump to the search box."""
        self.query_one("#orgs-q", Input).focus()

    @work(exit_on_error=False)
    async def action_new_org(self) -> None:
        """Add a client org, checking the display name as it is typed."""
        form = await self.app.push_screen_wait(
            FormModal(
                "New organization",
                [
                    FormField("name", "Name"),
                    FormField(
                        "display_name",
                        "Display name (the URL: https://host:7272/<name>)",
                        check=display_name_problem,
                    ),
                    FormField(
                        "account_manager",
                        "Account manager (MSPOrg username)",
                        value=self.app.me.get("username", ""),
                    ),
                    FormField("description", "Description"),
                ],
            )
        )
        if not form:
            return
        try:
            await self.app.client.create_org({k: v for k, v in form.items() if v})
        except ApiError as error:
            self.app.show_error(error, "Organization not created")
            return
        self.app.notify(f"Organization {form['display_name']} created.")
        self.load()

    @work(exit_on_error=False)
    async def action_edit_org(self) -> None:
        """Edit the selected org's name, description, account manager or vault control."""
        org = self._selected()
        current = next((o for o in self._orgs if o["display_name"] == org), None)
        if current is None:
            return
        form = await self.app.push_screen_wait(
            FormModal(
                f"Edit {org}",
                [
                    FormField("name", "Name", value=current["name"]),
                    FormField("description", "Description", value=current["description"]),
                    FormField(
                        "account_manager", "Account manager", value=current["account_manager"] or ""
                    ),
                    FormField(
                        "vault_control",
                        "Who adds resources: msp, client or both",
                        value=current["vault_control"],
                        check=lambda v: (
                            None if v in ("msp", "client", "both") else "msp, client or both"
                        ),
                    ),
                ],
            )
        )
        if not form:
            return
        changes = {k: v for k, v in form.items() if v != (current.get(k) or "")}
        if current["is_msp"]:
            changes.pop("name", None)
            changes.pop("account_manager", None)
        if not changes:
            return
        try:
            await self.app.client.update_org(org, changes)
        except ApiError as error:
            self.app.show_error(error, "Organization not changed")
            return
        self.app.notify(f"{org} updated.")
        self.load()

    @work(exit_on_error=False)
    async def action_delete_org(self) -> None:
        """Delete the selected org after its display name is typed."""
        org = self._selected()
        if org is None:
            return
        ok = await self.app.push_screen_wait(
            ConfirmTypedModal(
                f"Delete {org}",
                "This deletes the org's users, groups, resources, accounts and "
                "shares, ends their sessions and destroys its data key. It cannot be undone.",
                org,
            )
        )
        if not ok:
            return
        try:
            result = await self.app.client.delete_org(org, org)
        except ApiError as error:
            self.app.show_error(error, "Organization not deleted")
            return
        d = result["deleted"]
        self.app.notify(
            f"Deleted {org}: {d['users']} users, {d['groups']} groups, "
            f"{d['resources']} resources, {d['accounts']} accounts."
        )
        self.load()

    @work(exit_on_error=False)
    async def action_import_orgs(self) -> None:
        """Import from a CSV/TXT file: preview the first rows, then show each row's fate."""
        form = await self.app.push_screen_wait(
            FormModal(
                "Import organizations",
                [FormField("path", "File (.csv or .txt)", placeholder="/path/to/orgs.csv")],
            )
        )
        if not form or not form["path"]:
            return
        path = Path(form["path"])
        try:
            path, data = await asyncio.to_thread(_read, form["path"])
        except OSError as exc:
            self.app.notify(f"Cannot read {path}: {exc.strerror}", severity="error")
            return
        preview = data.decode("utf-8-sig", errors="replace").splitlines()[:6]
        go = await self.app.push_screen_wait(
            ConfirmTypedModal(
                f"Import {path.name}?", "First rows:\n" + "\n".join(preview), "import"
            )
        )
        if not go:
            return
        try:
            result = await self.app.client.import_orgs(path.name, data)
        except ApiError as error:
            self.app.show_error(error, "Nothing imported")
            return
        lines = [f"created {result['created']}, failed {result['failed']}"]
        lines += [
            f"line {r['line']}: {r['display_name']} — {r['status']}"
            + (f" ({r['detail']})" if r.get("detail") else "")
            for r in result["results"]
        ]
        await self.app.push_screen_wait(TextModal("Import results", lines))
        self.load()

    @work(exit_on_error=False)
    async def action_report(self) -> None:
        """The selected org's report."""
        org = self._selected()
        if org is None:
            return
        try:
            report = await self.app.client.org_report(org)
        except ApiError as error:
            self.app.show_error(error)
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
