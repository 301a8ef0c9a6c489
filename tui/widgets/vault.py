"""The vault pane: resources (searchable as you type), their accounts, reveal, add, share."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from tui.client import ApiError
from tui.screens.modals import FormField, FormModal, RevealModal
from tui.text import inert


class VaultPane(Vertical):
    """Resources on top, the selected resource's accounts below."""

    BINDINGS = [
        Binding("slash", "search", "Search", id="vault-search"),
        Binding("r", "reveal", "Reveal", id="reveal"),
        Binding("n", "new_resource", "New resource", id="new-resource"),
        Binding("a", "new_account", "New account", id="new-account"),
        Binding("g", "generate", "New password", id="generate"),
        Binding("s", "share", "Share", id="share"),
        Binding("G", "resource_group", "Resource group", id="resource-group"),
        Binding("e", "edit_resource", "Edit", id="edit-resource"),
        Binding("p", "set_password", "Set password", id="set-password"),
    ]

    org: reactive[str | None] = reactive(None)

    def compose(self) -> ComposeResult:
        """Search box and two tables."""
        yield Input(placeholder="search resources (/)", id="vault-q")
        resources = DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        resources.add_columns("Resource", "Type", "Address", "Accounts", "Access")
        yield resources
        yield Static("Accounts", classes="section")
        accounts = DataTable(id="accounts", cursor_type="row")
        accounts.add_columns("Account", "Policy", "Access")
        yield accounts

    def watch_org(self, org: str | None) -> None:
        """A new org: reload."""
        if org:
            self.load()

    @on(Input.Changed, "#vault-q")
    def search_changed(self) -> None:
        """Incremental search."""
        self.load()

    @work(exclusive=True, exit_on_error=False, group="vault")
    async def load(self) -> None:
        """Fetch the resources I may see (the previous search is cancelled)."""
        if not self.org:
            return
        query = self.query_one("#vault-q", Input).value
        try:
            items = await self.app.client.resources(self.org, query)
        except ApiError as error:
            self.app.show_error(error)
            return
        table = self.query_one("#resources", DataTable)
        table.clear()
        for r in items:
            table.add_row(
                inert(r["name"]),
                inert(r["type"]),
                inert(r["url"]),
                str(r["accounts"]),
                r["permission"],
                key=r["id"],
            )
        self.query_one("#accounts", DataTable).clear()
        if items:
            self.load_accounts(items[0]["id"])

    @on(DataTable.RowHighlighted, "#resources")
    def resource_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the highlighted resource's accounts."""
        if event.row_key.value:
            self.load_accounts(event.row_key.value)

    @work(exclusive=True, exit_on_error=False, group="accounts")
    async def load_accounts(self, resource_id: str) -> None:
        """Fetch one resource's accounts."""
        try:
            resource = await self.app.client.resource(self.org, resource_id)
        except ApiError as error:
            self.app.show_error(error)
            return
        table = self.query_one("#accounts", DataTable)
        table.clear()
        for a in resource["accounts"]:
            table.add_row(inert(a["username"]), inert(a["policy"]), a["permission"], key=a["id"])

    def _selected(self, table_id: str) -> str | None:
        table = self.query_one(f"#{table_id}", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    def action_search(self) -> None:
        """Jump to the search box."""
        self.query_one("#vault-q", Input).focus()

    @work(exit_on_error=False, group="reveal")
    async def action_reveal(self) -> None:
        """Reveal the selected account's password; it hides itself after a while."""
        account = self._selected("accounts")
        if account is None:
            self.app.notify("Select an account first (Tab to the accounts table).")
            return
        try:
            secret = await self.app.client.reveal(self.org, account)
        except ApiError as error:
            if error.code == "reason_required":
                form = await self.app.push_screen_wait(
                    FormModal(
                        "Reason for revealing", [FormField("reason", "Reason (ticket, change…)")]
                    )
                )
                if not form or not form["reason"]:
                    return
                try:
                    secret = await self.app.client.reveal(self.org, account, form["reason"])
                except ApiError as again:
                    self.app.show_error(again)
                    return
            else:
                self.app.show_error(error)
                return
        name = self.query_one("#accounts", DataTable).get_row_at(
            self.query_one("#accounts", DataTable).cursor_row
        )[0]
        await self.app.push_screen(
            RevealModal(f"Password of {name}", secret["password"], self.app.reveal_seconds)
        )

    @work(exit_on_error=False)
    async def action_new_resource(self) -> None:
        """Add a resource."""
        form = await self.app.push_screen_wait(
            FormModal(
                "New resource",
                [
                    FormField("name", "Name"),
                    FormField("type", "Type", value="Linux"),
                    FormField("url", "Address (DNS or URL)"),
                ],
            )
        )
        if not form:
            return
        try:
            await self.app.client.create_resource(self.org, {k: v for k, v in form.items() if v})
        except ApiError as error:
            self.app.show_error(error, "Resource not added")
            return
        self.app.notify(f"Resource {form['name']} added.")
        self.load()

    @work(exit_on_error=False)
    async def action_new_account(self) -> None:
        """Add an account to the selected resource (empty password: generate one)."""
        resource = self._selected("resources")
        if resource is None:
            self.app.notify("Select a resource first.")
            return
        form = await self.app.push_screen_wait(
            FormModal(
                "New account",
                [
                    FormField("username", "Account name"),
                    FormField("password", "Password (empty: generate)", password=True),
                ],
            )
        )
        if not form:
            return
        body = {"username": form["username"]}
        body |= {"password": form["password"]} if form["password"] else {"generate": True}
        try:
            await self.app.client.create_account(self.org, resource, body)
        except ApiError as error:
            self.app.show_error(error, "Account not added")
            return
        self.app.notify(f"Account {form['username']} added.")
        self.load_accounts(resource)

    @work(exit_on_error=False)
    async def action_generate(self) -> None:
        """Give the selected account a new generated password."""
        account = self._selected("accounts")
        if account is None:
            self.app.notify("Select an account first.")
            return
        try:
            await self.app.client.change_account_password(self.org, account, None)
        except ApiError as error:
            self.app.show_error(error, "Password not changed")
            return
        self.app.notify("A new password was generated and stored.")

    @work(exit_on_error=False)
    async def action_edit_resource(self) -> None:
        """Edit the selected resource (needs full permission)."""
        resource = self._selected("resources")
        if resource is None:
            return
        try:
            current = await self.app.client.resource(self.org, resource)
        except ApiError as error:
            self.app.show_error(error)
            return
        form = await self.app.push_screen_wait(
            FormModal(
                f"Edit {current['name']}",
                [
                    FormField("name", "Name", value=current["name"]),
                    FormField("type", "Type", value=current["type"]),
                    FormField("url", "Address", value=current["url"]),
                    FormField("description", "Description", value=current["description"]),
                ],
            )
        )
        if not form:
            return
        changes = {k: v for k, v in form.items() if v != current.get(k)}
        if not changes:
            return
        try:
            await self.app.client.update_resource(self.org, resource, changes)
        except ApiError as error:
            self.app.show_error(error, "Resource not changed")
            return
        self.app.notify("Resource updated.")
        self.load()

    @work(exit_on_error=False)
    async def action_set_password(self) -> None:
        """Type a new password for the selected account (checked against its policy)."""
        account = self._selected("accounts")
        if account is None:
            self.app.notify("Select an account first.")
            return
        form = await self.app.push_screen_wait(
            FormModal(
                "Set password",
                [
                    FormField("password", "New password", password=True),
                    FormField("repeat", "Repeat it", password=True),
                ],
            )
        )
        if not form or not form["password"]:
            return
        if form["password"] != form["repeat"]:
            self.app.notify("The two passwords differ; nothing was changed.", severity="warning")
            return
        try:
            await self.app.client.change_account_password(self.org, account, form["password"])
        except ApiError as error:
            self.app.show_error(error, "Password not changed")
            return
        self.app.notify("Password changed.")

    @work(exit_on_error=False)
    async def action_resource_group(self) -> None:
        """Put the selected resource in a resource group (made if new) and share the group."""
        resource = self._selected("resources")
        if resource is None:
            self.app.notify("Select a resource first.")
            return
        client = self.app.client
        try:
            groups = {g["name"]: g for g in await client.resource_groups(self.org)}
        except ApiError as error:
            self.app.show_error(error)
            return
        form = await self.app.push_screen_wait(
            FormModal(
                "Resource group",
                [
                    FormField("name", "Group (existing or new)"),
                    FormField(
                        "share_with_group", "Then share the group with user group (optional)"
                    ),
                    FormField(
                        "permission",
                        "Permission",
                        value="view",
                        check=lambda v: (
                            None if v in ("view", "modify", "full") else "view, modify or full"
                        ),
                    ),
                ],
                note="Existing: " + (", ".join(groups) or "none"),
            )
        )
        if not form or not form["name"]:
            return
        existing = groups.get(form["name"])
        members = [r["id"] for r in existing["resources"]] if existing else []
        try:
            await client.save_resource_group(
                self.org, form["name"], sorted({*members, resource}), bool(existing)
            )
            if form["share_with_group"]:
                await client.share_resource_group(
                    self.org,
                    form["name"],
                    {"group": form["share_with_group"], "permission": form["permission"]},
                )
        except ApiError as error:
            self.app.show_error(error, "Resource group not saved")
            return
        self.app.notify(f"Resource group {form['name']} saved.")

    @work(exit_on_error=False)
    async def action_share(self) -> None:
        """Share the selected resource with a user or group."""
        resource = self._selected("resources")
        if resource is None:
            self.app.notify("Select a resource first.")
            return
        form = await self.app.push_screen_wait(
            FormModal(
                "Share resource",
                [
                    FormField("user", "User (or leave empty and name a group)"),
                    FormField("group", "Group"),
                    FormField(
                        "permission",
                        "Permission",
                        value="view",
                        check=lambda v: (
                            None if v in ("view", "modify", "full") else "view, modify or full"
                        ),
                    ),
                    FormField("user_org", "User's org (MSPOrg for MSP staff; empty: this org)"),
                ],
            )
        )
        if not form:
            return
        try:
            await self.app.client.share(self.org, resource, {k: v for k, v in form.items() if v})
        except ApiError as error:
            self.app.show_error(error, "Not shared")
            return
        self.app.notify("Shared.")
