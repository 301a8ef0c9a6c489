"""The vault pane: resources (searchable as you type), their accounts, reveal and copy,
resources and accounts with their additional fields, passwords, shares, resource groups,
password policies and check-out (password access control)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from tui.client import ApiError
from tui.clipboard import copy_for_a_while
from tui.screens.form import Field, check_repeated
from tui.screens.listing import confirm_field
from tui.screens.modals import RevealModal
from tui.screens.policies import PoliciesScreen
from tui.screens.resource_groups import ResourceGroupsScreen
from tui.screens.shares import SharesScreen, grantee_body
from tui.text import inert
from tui.widgets import choices
from tui.widgets import vault_checkout as checkout
from tui.widgets import vault_fields as extra
from tui.widgets.pane import Pane, fill_table

SECTION = "Accounts (Tab to reach them; r reveals)"


class VaultPane(Pane):
    """Resources on top, the selected resource's accounts below."""

    LIST = "resources"
    BINDINGS = [
        Binding("r", "reveal", "Reveal", tooltip="Reveal the password", id="reveal"),
        Binding("slash", "search", "Search", tooltip="Search resources", id="vault-search"),
        Binding("n", "new_resource", "New", tooltip="New resource", id="new-resource"),
        Binding("a", "new_account", "Account", tooltip="New account", id="new-account"),
        Binding("s", "share", "Share", tooltip="Share the resource or account", id="share"),
        Binding("e", "edit_resource", "Edit", tooltip="Edit the resource", id="edit-resource"),
        Binding("p", "set_password", "Password", tooltip="Set a password", id="set-password"),
        Binding("g", "generate", "Generate", tooltip="Generate a password", id="generate"),
        Binding("c", "copy", "Copy", tooltip="Copy the password (cleared later)", id="copy-pw"),
        Binding("E", "edit_account", "Edit acct", tooltip="Edit the account", id="edit-account"),
        Binding("d", "delete_account", "Del acct", tooltip="Delete the account", id="del-account"),
        Binding("S", "shares", "Shares", tooltip="List and change the shares", id="shares"),
        Binding("G", "resource_groups", "Groups", tooltip="Resource groups", id="resource-groups"),
        Binding("P", "policies", "Policies", tooltip="Password policies", id="policies"),
        Binding("o", "check_out", "Check out", tooltip="Request a check-out", id="check-out"),
        Binding("i", "check_in", "Check in", tooltip="Check the password in", id="check-in"),
    ]

    def compose(self) -> ComposeResult:
        """Search box and two tables."""
        yield Input(placeholder="search resources (/)", id="vault-q", compact=True)
        resources = DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        resources.add_columns("Resource", "Type", "Address", "Accounts", "Access")
        yield resources
        yield Static(SECTION, classes="section", id="accounts-title")
        accounts = DataTable(id="accounts", cursor_type="row")
        accounts.add_columns("Account", "Policy", "Access", "State")
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
        """Fetch one resource's accounts, their check-out state and my pending requests."""
        if resource_id is None:
            return
        client = self.app.client
        try:
            resource = await client.resource(self.org, resource_id)
        except ApiError as error:
            self.app.show_error(error)
            return
        controlled = any(a["access"]["controlled"] for a in resource["accounts"])
        pending = await checkout.pending_accounts(client, self.org) if controlled else set()
        fields = extra.summary(resource.get("fields") or {})
        self.query_one("#accounts-title", Static).update(
            inert(SECTION + (f" · {fields}" if fields else ""))
        )
        fill_table(
            self.query_one("#accounts", DataTable),
            (
                (
                    a["id"],
                    (
                        inert(a["username"]),
                        inert(a["policy"]),
                        a["permission"],
                        inert(checkout.state_text(a.get("access"), a["id"] in pending)),
                    ),
                )
                for a in resource["accounts"]
            ),
        )

    def _need(self, table_id: str, what: str) -> str | None:
        key = self.selected(table_id)
        if key is None:
            self.app.notify(f"Select {what} first.", severity="warning")
        return key

    def _account(self) -> str | None:
        return self._need("accounts", "an account (Tab to the accounts table)")

    def action_search(self) -> None:
        """Jump to the search box."""
        self.screen.set_focus(self.query_one("#vault-q", Input))

    # -- reveal, copy, check-out ---------------------------------------------------------

    async def _secret(self, account: str) -> dict | None:
        """Reveal ``account``: a reason when the org asks for one; under access control the
        request form is offered; a password held by another says by whom until when."""
        client = self.app.client
        try:
            return await client.reveal(self.org, account)
        except ApiError as error:
            if error.code == "checkout_required":
                await self._request_checkout(
                    account, "This password is under access control: ask for it first."
                )
                return None
            if error.code == "checked_out":
                self.app.show_error(checkout.held_message(error), "Checked out")
                return None
            if error.code != "reason_required":
                self.app.show_error(error, "Not revealed")
                return None
        return await self.form(
            "Reason for revealing",
            [Field("reason", "Reason (ticket, change…)", required=True)],
            lambda v: client.reveal(self.org, account, v["reason"]),
            note="This organization asks why a password is revealed.",
            action="reveal",
        )

    @work(exit_on_error=False, group="reveal")
    async def action_reveal(self) -> None:
        """Reveal the selected account's password; it hides itself after a while."""
        account = self._account()
        if account is None:
            return
        name = self.selected_cell("accounts", 0)
        secret = await self._secret(account)
        if not secret:
            return
        self.changed("audit")
        await self.app.push_screen(
            RevealModal(
                f"Password of {name}",
                secret["password"],
                self.app.reveal_seconds,
                secret.get("fields") or {},
            )
        )

    @work(exit_on_error=False, group="reveal")
    async def action_copy(self) -> None:
        """Copy the selected account's password without showing it; the clipboard is
        cleared again after the app's ``clipboard_seconds``."""
        account = self._account()
        if account is None:
            return
        secret = await self._secret(account)
        if not secret:
            return
        seconds = self.app.clipboard_seconds
        copy_for_a_while(self.app, secret["password"], seconds)
        after = f"; cleared in {seconds:g} s" if seconds > 0 else ""
        self.changed("audit", f"Password of {self.selected_cell('accounts', 0)} copied{after}.")

    async def _request_checkout(self, account: str, why: str = "") -> None:
        client = self.app.client
        name = self.selected_cell("accounts", 0)
        done = await self.form(
            f"Request the password of {name}",
            checkout.request_fields(),
            lambda v: client.request_password(self.org, checkout.request_body(account, v)),
            note=(why + "\n" if why else "") + "The approvers are asked; reveal once approved.",
            action="request",
        )
        if done:
            self.changed("accounts", f"Check-out of {name} requested; waiting for approval.")

    @work(exit_on_error=False)
    async def action_check_out(self) -> None:
        """Ask for the selected (access-controlled) password: reason and window."""
        account = self._account()
        if account is not None:
            await self._request_checkout(account)

    @work(exit_on_error=False)
    async def action_check_in(self) -> None:
        """Give back the selected password that I hold."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        try:
            mine = await checkout.my_checkout(client, self.org, account)
            if mine is None:
                self.app.notify("You hold no check-out of this password.", severity="warning")
                return
            await client.check_in(self.org, mine["id"])
        except ApiError as error:
            self.app.show_error(error, "Not checked in")
            return
        self.changed("accounts", f"{mine['account']} checked in.")

    # -- resources -----------------------------------------------------------------------

    async def _settings(self) -> tuple[list, list[dict]]:
        """(the org's resource types, its field definitions)."""
        client = self.app.client
        types = await choices.resource_types(client, self.org)
        try:
            definitions = await client.field_definitions(self.org)
        except ApiError:
            definitions = []  # a server without them, or a user who may not list them
        return types, definitions

    @work(exit_on_error=False)
    async def action_new_resource(self) -> None:
        """Add a resource: name, type (from the org's catalogue), address, description and
        the additional fields for every type; a type with its own fields asks for them next."""
        client = self.app.client
        try:
            types, definitions = await self._settings()
        except ApiError as error:
            self.app.show_error(error, "Cannot add a resource")
            return
        common = extra.applicable(definitions, "resource", "\0")  # those of every type

        def body(v: dict, more: list[dict], more_values: dict | None = None) -> dict:
            data = {k: v[k] for k in ("name", "type", "url", "description") if v[k]}
            fields = extra.field_values(common, v) | extra.field_values(more, more_values or {})
            return data | ({"fields": fields} if fields else {})

        def own(type_name: str) -> list[dict]:
            return [
                d for d in extra.applicable(definitions, "resource", type_name) if d not in common
            ]

        async def first(v: dict) -> dict:
            if own(v["type"]):
                return {"next": v}  # the type's own fields come in the next form
            return await client.create_resource(self.org, body(v, []))

        fields = [
            Field("name", "Name", required=True),
            Field("type", "Type", value="Linux", choices=types, required=True),
            Field("url", "Address (DNS name or URL)"),
            Field("description", "Description"),
            *extra.form_fields(common),
        ]
        result = await self.form(f"New resource in {self.org}", fields, first, action="add")
        if result and "next" in result:
            v = result["next"]
            more = own(v["type"])
            result = await self.form(
                f"New {v['type']} resource {v['name']}: its fields",
                extra.form_fields(more),
                lambda w: client.create_resource(self.org, body(v, more, w)),
                action="add",
            )
        if result:
            self.changed("resources", f"Resource {result['name']} added.")

    @work(exit_on_error=False)
    async def action_edit_resource(self) -> None:
        """Edit the selected resource and its additional fields (needs full permission)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        try:
            current = await client.resource(self.org, resource)
            types, definitions = await self._settings()
        except ApiError as error:
            self.app.show_error(error)
            return
        labels = {"name": "Name", "type": "Type", "url": "Address", "description": "Description"}
        fields = [Field(k, label, value=current.get(k) or "") for k, label in labels.items()]
        fields[1].choices = types
        defs = extra.applicable(definitions, "resource", current["type"])
        fields += extra.form_fields(defs, current.get("fields") or {})

        async def submit(v: dict) -> dict:
            data = {k: v[k] for k in labels if v[k] != (current.get(k) or "")}
            values = extra.field_values(defs, v)
            if values != (current.get("fields") or {}):
                data["fields"] = values
            return await client.update_resource(self.org, resource, data)

        result = await self.form(f"Edit {current['name']}", fields, submit)
        if result:
            self.changed("resources", "Resource updated.")

    # -- accounts ------------------------------------------------------------------------

    async def _account_settings(self) -> tuple[list, list[dict]]:
        client = self.app.client
        try:
            policies = await choices.policies(client, self.org)
        except ApiError:
            policies = []
        try:
            definitions = extra.applicable(await client.field_definitions(self.org), "account")
        except ApiError:
            definitions = []
        return policies, definitions

    @work(exit_on_error=False)
    async def action_new_account(self) -> None:
        """Add an account to the selected resource: name, password (empty: generated under
        the picked policy) and the org's account fields (secret ones typed hidden)."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        client = self.app.client
        policy_choices, definitions = await self._account_settings()

        async def submit(v: dict) -> dict:
            body = {"username": v["username"]}
            body |= {"password": v["password"]} if v["password"] else {"generate": True}
            if v.get("policy"):
                body["policy"] = v["policy"]
            if fields := extra.field_values(definitions, v):
                body["fields"] = fields
            return await client.create_account(self.org, resource, body)

        fields = [
            Field("username", "Account name", required=True),
            Field("password", "Password (empty: generate one)", password=True),
        ]
        if policy_choices:
            fields.append(Field("policy", "Password policy", choices=policy_choices))
        fields += extra.form_fields(definitions)
        result = await self.form(
            f"New account on {self.selected_cell('resources', 0)}", fields, submit, action="add"
        )
        if result:
            self.changed("accounts", f"Account {result['username']} added.")

    @work(exit_on_error=False)
    async def action_edit_account(self) -> None:
        """Rename the selected account, change its policy or its additional fields."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        try:
            current = await client.account(self.org, account)
        except ApiError as error:
            self.app.show_error(error)
            return
        policy_choices, definitions = await self._account_settings()
        fields = [Field("username", "Account name", value=current["username"], required=True)]
        if policy_choices:
            fields.append(
                Field("policy", "Password policy", value=current["policy"], choices=policy_choices)
            )
        fields += extra.form_fields(definitions, current.get("fields") or {})
        secret = any(d["kind"] == "secret" for d in definitions)

        async def submit(v: dict) -> dict:
            data = {k: v[k] for k in ("username", "policy") if v.get(k) and v[k] != current[k]}
            values = extra.field_values(definitions, v)
            if values != (current.get("fields") or {}):
                data["fields"] = values
            return await client.update_account(self.org, account, data)

        result = await self.form(
            f"Edit account {current['username']}",
            fields,
            submit,
            note="Secret fields: type them again when changing the fields (empty clears)."
            if secret
            else "",
        )
        if result:
            self.changed("accounts", f"Account {result['username']} updated.")

    @work(exit_on_error=False)
    async def action_delete_account(self) -> None:
        """Delete the selected account (asks first; needs full permission)."""
        account = self._account()
        if account is None:
            return
        client = self.app.client
        name = self.selected_cell("accounts", 0)

        async def submit(_v: dict) -> bool:
            await client.delete_account(self.org, account)
            return True

        if await self.form(
            f"Delete account {name}?",
            [confirm_field()],
            submit,
            note="Its password is gone for good.",
            action="delete",
            danger=True,
        ):
            self.changed("resources", f"Account {name} deleted.")

    @work(exit_on_error=False)
    async def action_generate(self) -> None:
        """Give the selected account a new password generated under its policy."""
        account = self._account()
        if account is None:
            return
        try:
            await self.app.client.change_account_password(self.org, account, None)
        except ApiError as error:
            if error.code == "checked_out":
                error = checkout.held_message(error)
            self.app.show_error(error, "Password not changed")
            return
        self.changed("audit", "A new password was generated and stored.")

    @work(exit_on_error=False)
    async def action_set_password(self) -> None:
        """Type a new password for the selected account (checked against its policy)."""
        account = self._account()
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

    # -- shares, resource groups, policies -------------------------------------------------

    def _share_target(self) -> tuple[str, str, str] | None:
        """(kind, id, name): the account when the accounts list has the focus, else the
        resource."""
        if self.screen.focused is self.query_one("#accounts", DataTable):
            account = self._account()
            if account is None:
                return None
            resource = self.selected_cell("resources", 0)
            return "account", account, f"{resource}/{self.selected_cell('accounts', 0)}"
        resource = self._need("resources", "a resource")
        if resource is None:
            return None
        return "resource", resource, self.selected_cell("resources", 0)

    @work(exit_on_error=False)
    async def action_share(self) -> None:
        """Share the selected resource (or account) with a user or group from a list."""
        target = self._share_target()
        if target is None:
            return
        kind, ref, label = target
        client = self.app.client
        try:
            targets = await choices.share_targets(client, self.org)
        except ApiError as error:
            self.app.show_error(error)
            return

        async def submit(v: dict) -> dict:
            body = grantee_body(v["target"]) | {"permission": v["permission"] or "view"}
            return await client.add_share(self.org, kind, ref, body)

        result = await self.form(
            f"Share {label}",
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

    def action_shares(self) -> None:
        """The shares of the selected resource (or account): list, add, level, remove."""
        target = self._share_target()
        if target is not None:
            self.app.push_screen(SharesScreen(self.org, *target))

    def action_resource_groups(self) -> None:
        """The org's resource groups: create, add and remove resources, shares."""
        if self.org:
            self.app.push_screen(
                ResourceGroupsScreen(self.org), lambda _r: self.changed("resource-groups")
            )

    def action_policies(self) -> None:
        """The org's password policies: list, create, generate a password."""
        if self.org:
            self.app.push_screen(PoliciesScreen(self.org))
