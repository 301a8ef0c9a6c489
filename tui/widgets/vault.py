"""The vault pane: resources (searchable as you type), their accounts, reveal, add, share."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from tui.client import ApiError
from tui.screens.form import Field, check_repeated
from tui.screens.modals import RevealModal
from tui.text import inert
from tui.widgets import choices
from tui.widgets.pane import Pane, fill_table


class VaultPane(Pane):
    """Resources on top, the selected resource's accounts below."""

    LIST = "resources"
    BINDINGS = [
        Binding("r", "reveal", "Reveal", tooltip="Reveal the password", id="reveal"),
        Binding("slash", "search", "Search", tooltip="Search resources", id="vault-search"),
        Binding("n", "new_resource", "New", tooltip="New resource", id="new-resource"),
        Binding("a", "new_account", "Account", tooltip="New account", id="new-account"),
        Binding("s", "share", "Share", tooltip="Share the resource", id="share"),
        Binding("e", "edit_resource", "Edit", tooltip="Edit the resource", id="edit-resource"),
        Binding("p", "set_password", "Password", tooltip="Set a password", id="set-password"),
        Binding("g", "generate", "Generate", tooltip="Generate a password", id="generate"),
        Binding("G", "resource_group", "Group", tooltip="Resource group", id="resource-group"),
    ]

    def compose(self) -> ComposeResult:
        """Search box and two tables."""
        yield Input(placeholder="search resources (/)", id="vault-q", compact=True)
        resources = DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        resources.add_columns("Resource", "Type", "Address", "Accounts", "Access")
        yield resources
        yield Static("Accounts (Tab to reach them; r reveals)", classes="section")
        accounts = DataTable(id="accounts", cursor_type="row")
        accounts.add_columns("Account", "Policy", "Access")
        yield accounts

    @on(Input.Changed, "#vault-q")
    def search_changed(self) -> None:
        """Incremental search."""
        self.load()

    @on(Input.Submitted, "#vault-q")
    def search_done(self) -> None:
        """Enter in the search box goes to the results."""
        self.focus_list()

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
        fill_table(
            table,
            (
                (
                    r["id"],
                    (
                        inert(r["name"]),
                        inert(r["type"]),
                        inert(r["url"]),
                        str(r["accounts"]),
                        r["permission"],
                    ),
                )
                for r in items
            ),
        )
        if items:
            self.load_accounts(self.selected("resources"))
        else:
            fill_table(self.query_one("#accounts", DataTable), [])

    @on(DataTable.RowHighlighted, "#resources")
    def resource_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the highlighted resource's accounts."""
        if event.row_key.value:
            self.load_accounts(event.row_key.value)

    @work(exclusive=True, exit_on_error=False, group="accounts")
    async def load_accounts(self, resource_id: str | None) -> None:
        """Fetch one resource's accounts."""
        if resource_id is None:
            return
        try:
            resource = await self.app.client.resource(self.org, resource_id)
        except ApiError as error:
            self.app.show_error(error)
            return
        fill_table(
            self.query_one("#accounts", DataTable),
            (
                (a["id"], (inert(a["username"]), inert(a["policy"]), a["permission"]))
                for a in resource["accounts"]
            ),
        )

    def _need(self, table_id: str, what: str) -> str | None:
        key = self.selected(table_id)
        if key is None:
            self.app.notify(f"Select {what} first.", severity="warning")
        return key

    def action_search(self) -> None:
        """Jump to the search box."""
        self.screen.set_focus(self.query_one("#vault-q", Input))

    @work(exit_on_error=False, group="reveal")
    async def action_reveal(self) -> None:
        """Reveal the selected account's password; it hides itself after a while."""
        account = self._need("accounts", "an account (Tab to the accounts table)")
        if account is None:
            return
        name = self.selected_cell("accounts", 0)
        client = self.app.client
        try:
            secret = await client.reveal(self.org, account)
        except ApiError as error:
            if error.code != "reason_required":
                self.app.show_error(error, "Not revealed")
                return
            secret = await self.form(
                "Reason for revealing",
                [Field("reason", "Reason (ticket, change…)", required=True)],
                lambda v: client.reveal(self.org, account, v["reason"]),
                note=error.detail,
                action="reveal",
            )
            if not secret:
                return
        self.changed("audit")
        await self.app.push_screen(
            RevealModal(f"Password of {name}", secret["password"], self.app.reveal_seconds)
        )

    @work(exit_on_error=False)
    async def action_new_resource(self) -> None:
        """Add a resource; its type is picked from the org's catalogue."""
        client = self.app.client
        try:
            types = await choices.resource_types(client, self.org)
        except ApiError as error:
            self.app.show_error(error, "Cannot add a resource")
            return
        result = await self.form(
            f"New resource in {self.org}",
            [
                Field("name", "Name", required=True),
                Field("type", "Type", value="Linux", choices=types, required=True),
                Field("url", "Address (DNS name or URL)"),
                Field("description", "Description"),
            ],
            lambda v: client.create_resource(self.org, {k: x for k, x in v.items() if x}),
            action="add",
        )
        if result:
            self.changed("resources", f"Resource {result['name']} added.")

    @work(exit_on_error=False)
    async def action_new_account(self) -> None:
        """Add an account to the selected resource (empty password: generate one)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        try:
            policy_choices = await choices.policies(client, self.org)
        except ApiError:
            policy_choices = []

        async def submit(v: dict) -> dict:
            body = {"username": v["username"]}
            body |= {"password": v["password"]} if v["password"] else {"generate": True}
            if v.get("policy"):
                body["policy"] = v["policy"]
            return await client.create_account(self.org, resource, body)

        fields = [
            Field("username", "Account name", required=True),
            Field("password", "Password (empty: generate one)", password=True),
        ]
        if policy_choices:
            fields.append(Field("policy", "Password policy", choices=policy_choices))
        result = await self.form(
            f"New account on {self.selected_cell('resources', 0)}", fields, submit, action="add"
        )
        if result:
            self.changed("accounts", f"Account {result['username']} added.")

    @work(exit_on_error=False)
    async def action_generate(self) -> None:
        """Give the selected account a new generated password."""
        account = self._need("accounts", "an account")
        if account is None:
            return
        try:
            await self.app.client.change_account_password(self.org, account, None)
        except ApiError as error:
            self.app.show_error(error, "Password not changed")
            return
        self.changed("audit", "A new password was generated and stored.")

    @work(exit_on_error=False)
    async def action_edit_resource(self) -> None:
        """Edit the selected resource (needs full permission)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        try:
            current = await client.resource(self.org, resource)
            types = await choices.resource_types(client, self.org)
        except ApiError as error:
            self.app.show_error(error)
            return
        labels = {"name": "Name", "type": "Type", "url": "Address", "description": "Description"}
        fields = [Field(k, label, value=current.get(k) or "") for k, label in labels.items()]
        fields[1].choices = types
        result = await self.form(
            f"Edit {current['name']}",
            fields,
            lambda v: client.update_resource(
                self.org, resource, {k: x for k, x in v.items() if x != (current.get(k) or "")}
            ),
        )
        if result:
            self.changed("resources", "Resource updated.")

    @work(exit_on_error=False)
    async def action_set_password(self) -> None:
        """Type a new password for the selected account (checked against its policy)."""
        account = self._need("accounts", "an account")
        if account is None:
            return
        client = self.app.client

        async def submit(v: dict) -> bool:
            check_repeated(v, "password", "repeat")
            await client.change_account_password(self.org, account, v["password"])
            return True

        done = await self.form(
            f"Set the password of {self.selected_cell('accounts', 0)}",
            [
                Field("password", "New password", password=True, required=True),
                Field("repeat", "Repeat it", password=True, required=True),
            ],
            submit,
        )
        if done:
            self.changed("audit", "Password changed.")

    @work(exit_on_error=False)
    async def action_resource_group(self) -> None:
        """Put the selected resource in a resource group (made if new) and share the group."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        try:
            groups = {g["name"]: g for g in await client.resource_groups(self.org)}
            user_groups = [(g["name"], g["name"]) for g in await client.groups(self.org)]
        except ApiError as error:
            self.app.show_error(error)
            return

        async def submit(v: dict) -> dict:
            existing = groups.get(v["name"])
            members = [r["id"] for r in existing["resources"]] if existing else []
            await client.save_resource_group(
                self.org, v["name"], sorted({*members, resource}), bool(existing)
            )
            if v["share_with_group"]:
                await client.share_resource_group(
                    self.org,
                    v["name"],
                    {"group": v["share_with_group"], "permission": v["permission"] or "view"},
                )
            return v

        result = await self.form(
            "Resource group",
            [
                Field("name", "Group (existing or new)", required=True),
                Field("share_with_group", "Share the group with user group", choices=user_groups),
                Field("permission", "Permission", value="view", choices=choices.PERMISSIONS),
            ],
            submit,
            note="Existing groups: " + (", ".join(groups) or "none"),
        )
        if result:
            self.changed("resources", f"Resource group {result['name']} saved.")

    @work(exit_on_error=False)
    async def action_share(self) -> None:
        """Share the selected resource with a user or group picked from a list."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        try:
            targets = await choices.share_targets(client, self.org)
        except ApiError as error:
            self.app.show_error(error)
            return

        async def submit(v: dict) -> dict:
            kind, _, name = v["target"].partition(":")
            body = {"permission": v["permission"] or "view"}
            body |= {"group": name} if kind == "group" else {"user": name}
            if kind == "msp":
                body["user_org"] = "MSPOrg"
            return await client.share(self.org, resource, body)

        result = await self.form(
            f"Share {self.selected_cell('resources', 0)}",
            [
                Field(
                    "target", "With", choices=targets, required=True, api_names=("user", "group")
                ),
                Field("permission", "Permission", value="view", choices=choices.PERMISSIONS),
            ],
            submit,
            action="share",
        )
        if result:
            self.changed("shares", "Shared.")
