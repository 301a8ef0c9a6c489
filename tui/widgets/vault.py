"""The vault pane: resources (searchable as you type), their accounts, reveal and copy,
resources and accounts with their additional fields, passwords, shares, resource groups,
password policies and check-out (password access control)."""

from __future__ import annotations

import contextlib
import datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import RowDoesNotExist
from textual.worker import WorkerCancelled, WorkerFailed

from server.core.password_policy import expiry_words
from server.core.permissions import ADD_RESOURCES, MANAGE_VAULT
from tui.controls.table import fill_table
from tui.logic import choices
from tui.logic import vault_checkout as checkout
from tui.logic import vault_fields as extra
from tui.screens.form import Field
from tui.screens.policies import PoliciesScreen
from tui.screens.resource_groups import ResourceGroupsScreen
from tui.screens.shares import SharesScreen, grantee_body
from tui.text import inert
from tui.widgets.pane import Pane
from tui.widgets.vault_access import AccessControlActions
from tui.widgets.vault_accounts import AccountActions
from tui.widgets.vault_resources import ResourceActions
from tui.widgets.vault_reveal import RevealActions
from tui.widgets.vault_rotation import RotationActions, rotation_summary
from tui.workers import api_worker

SECTION = "Accounts (Tab to reach them; r reveals)"
RANK = {"view": 1, "modify": 2, "full": 3, "owner": 4}  # share levels (DESIGN.md §3)
# action → (whose permission: the resource, the account, or the focused list's row; the
# least share level the server accepts for it: server/services/entitlement.py NEEDS).
ROW_NEEDS = {
    "new_account": ("resources", "full"),
    "edit_resource": ("resources", "full"),
    "delete_resource": ("resources", "full"),
    "set_password": ("accounts", "modify"),
    "generate": ("accounts", "modify"),
    "edit_account": ("accounts", "full"),
    "delete_account": ("accounts", "full"),
    "share": ("", "full"),
    "shares": ("", "full"),
    "access_control": ("", "full"),
    "connection": ("resources", "full"),
    "rotate": ("accounts", "modify"),
    "verify": ("accounts", "view"),
    "history": ("accounts", "full"),
    "schedule": ("", "full"),
}
CONNECT_EXIT = 75  # the TUI ended to open a brokered session (server/gateway/tui_channel.py)

RESOURCE_KEYS = (  # the resources list's key bar, most used first (F1 lists every key)
    "reveal",
    "copy",
    "search",
    "new_resource",
    "new_account",
    "edit_resource",
    "share",
    "shares",
    "access_control",
    "delete_resource",
    "resource_groups",
    "policies",
)
ACCOUNT_KEYS = (  # the accounts list's key bar
    "reveal",
    "copy",
    "connect",
    "check_out",
    "check_in",
    "set_password",
    "generate",
    "new_account",
    "edit_account",
    "delete_account",
    "share",
    "shares",
    "access_control",
    "history",
    "connection",
)
# An account whose password is changed on its target: its target keys come right after
# reveal, copy and connect (they were only under F1: newcomer pass, session 8); C, the
# connection itself, is set once and stays behind them.
TARGET_KEYS = ("rotate", "verify", "history")


class VaultPane(
    RevealActions, ResourceActions, AccountActions, AccessControlActions, RotationActions, Pane
):
    """Resources on top, the selected resource's accounts below."""

    LIST = "resources"
    _access_of: dict[str, dict | None] = {}  # account id → its access (check-out) state
    _rotation_of: dict[str, dict | None] = {}  # account id → its password on its target
    _accounts_title = SECTION
    # Keys shown only with a capability in the org (GET /me's capabilities).
    NEEDS = {"new_resource": ADD_RESOURCES, "resource_groups": MANAGE_VAULT}
    BAR = {"resources": RESOURCE_KEYS, "vault-q": RESOURCE_KEYS, "accounts": ACCOUNT_KEYS}
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
        Binding("D", "delete_resource", "Del res", tooltip="Delete the resource", id="del-res"),
        # Through the SSH gateway only (issue 30): a session to the target, password unseen.
        Binding(
            "t",
            "connect",
            "Connect",
            tooltip="Open an SSH session to the target (the password stays hidden)",
            id="connect",
        ),
        Binding(
            "A",
            "access_control",
            "Access",
            tooltip="Access control (check-out) of the account or resource",
            id="access-control",
        ),
        # Passwords changed on the systems they open (issue 29).
        Binding(
            "C",
            "connection",
            "Target",
            tooltip="Connection to the target (host key)",
            id="target-connection",
        ),
        Binding(
            "R", "rotate", "Change", tooltip="Change the password on the target", id="target-change"
        ),
        Binding(
            "V", "verify", "Verify", tooltip="Verify the password on the target", id="target-verify"
        ),
        Binding(
            "H", "history", "History", tooltip="Earlier passwords (history)", id="password-history"
        ),
        Binding(
            "T",
            "schedule",
            "Schedule",
            tooltip="Rotation and verification schedule",
            id="rotation-schedule",
        ),
        Binding(
            "W",
            "rotation_report",
            "Report",
            tooltip="Rotation report (failed checks, passwords past max age)",
            id="rotation-report",
        ),
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

    def _row_permission(self, table_id: str) -> str | None:
        """My share level on the highlighted row of ``table_id`` (None: no row)."""
        if self.selected(table_id) is None:
            return None
        return self.selected_cell(table_id, 4 if table_id == "resources" else 2)

    def bar_actions(self, focused: object) -> tuple[str, ...] | None:
        """The focused list's key bar; on an account with a connection to its target, R V
        H come after reveal, copy and connect."""
        actions = super().bar_actions(focused)
        if actions is ACCOUNT_KEYS:
            account = self.selected("accounts")
            state = self._rotation_of.get(account) if account else None
            if state and state.get("connector"):
                rest = tuple(a for a in actions[3:] if a not in TARGET_KEYS)
                actions = actions[:3] + TARGET_KEYS + rest
        return actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys the user's capabilities in the org allow, and of those that change a
        resource or an account only the ones its share level on the highlighted row allows
        (a view-only user is not offered Edit to be refused after filling the form);
        check-out and check-in only on an account under access control."""
        if not self.may_use(action):
            return False
        if action in ROW_NEEDS:
            table, least = ROW_NEEDS[action]
            if not table:
                table = "accounts" if self._accounts_focused() else "resources"
            permission = self._row_permission(table)
            return permission is not None and RANK.get(permission, 0) >= RANK[least]
        if action == "connect":
            return self.app.connect_request is not None and self._accounts_focused()
        if action in ("check_out", "check_in"):
            state = self._access_state()
            return state is not None and (action == "check_out" or state == "mine")
        return True

    def palette_allows(self, action: str) -> bool:
        """The palette offers what the keys offer on the highlighted resource and account
        (capability, share level, check-out state: issue 35); its entries run on the
        resources list, so that list's row decides for the keys of the focused list."""
        table, least = ROW_NEEDS.get(action, (None, ""))
        if table == "":
            permission = self._row_permission("resources")
            return (
                self.may_use(action)
                and permission is not None
                and RANK.get(permission, 0) >= RANK[least]
            )
        return bool(self.check_action(action, ()))

    def _accounts_focused(self) -> bool:
        return self.screen.focused is self.query_one("#accounts", DataTable)

    def _access_state(self) -> str | None:
        """The highlighted account's check-out state (None: not under access control)."""
        account = self.selected("accounts")
        access = (self._access_of.get(account) or {}) if account else {}
        return access.get("state", "free") if access.get("controlled") else None

    @on(DataTable.RowHighlighted, "#accounts")
    def account_highlighted(self) -> None:
        """Another account: the keys its share level allows, and its password's state on
        its target in the section title (issue 29)."""
        self.refresh_bindings()
        self._show_account_title()

    def _show_account_title(self) -> None:
        """The accounts' title: the highlighted account's state on its target when it has
        one, else the section's title."""
        account = self.selected("accounts")
        summary = rotation_summary(self._rotation_of.get(account)) if account else ""
        title = f"{self.selected_cell('accounts', 0)} · {summary}" if summary else ""
        self.query_one("#accounts-title", Static).update(inert(title or self._accounts_title))

    @on(Input.Changed, "#vault-q")
    def search_changed(self) -> None:
        """Incremental search."""
        self.load()

    @on(Input.Submitted, "#vault-q")
    def search_done(self) -> None:
        """Enter in the search box goes to the results."""
        self.focus_list()

    @api_worker(exclusive=True, group="vault")
    async def load(self) -> None:
        """Fetch the resources I may see (the previous search is cancelled)."""
        if not self.org:
            return
        query = self.query_one("#vault-q", Input).value
        items = await self.app.client.resources(self.org, query)
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
            return
        title = f"No resource matches '{query}'." if query.strip() else self._empty_title()
        self.query_one("#accounts-title", Static).update(inert(title))
        fill_table(self.query_one("#accounts", DataTable), [])
        self._access_of = {}
        self.refresh_bindings()

    async def show_resource(self, resource_id: str) -> None:
        """Load the resources list now and put its cursor on ``resource_id`` (when the
        list shows it: a search may hide it)."""
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await self.load().wait()
        table = self.query_one("#resources", DataTable)
        with contextlib.suppress(RowDoesNotExist):
            table.move_cursor(row=table.get_row_index(resource_id))

    def _empty_title(self) -> str:
        """What an empty vault says: in an org reached through a grant (not one's home org)
        an empty list means nothing is shared with me there (issue 27), not an empty org."""
        me = getattr(self.app, "me", None) or {}
        home = str(me.get("org") or "")
        if home and self.org and home.lower() != self.org.lower():
            return f"Nothing is shared with you in {self.org}."
        return "No resources yet."

    @on(DataTable.RowHighlighted, "#resources")
    def resource_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Show the highlighted resource's accounts."""
        if event.row_key.value:
            self.load_accounts(event.row_key.value)
        self.refresh_bindings()

    @api_worker(exclusive=True, group="accounts")
    async def load_accounts(self, resource_id: str | None) -> None:
        """Fetch one resource's accounts, their check-out state and my pending requests."""
        if resource_id is None:
            return
        client = self.app.client
        resource = await client.resource(self.org, resource_id)
        controlled = any(a["access"]["controlled"] for a in resource["accounts"])
        pending = await checkout.pending_accounts(client, self.org) if controlled else set()
        fields = extra.summary(resource.get("fields") or {})
        self._accounts_title = SECTION + (f" · {fields}" if fields else "")
        self.query_one("#accounts-title", Static).update(inert(self._accounts_title))
        self._access_of = {a["id"]: a.get("access") for a in resource["accounts"]}
        self._rotation_of = {a["id"]: a.get("rotation") for a in resource["accounts"]}
        fill_table(
            self.query_one("#accounts", DataTable),
            (
                (
                    a["id"],
                    (
                        inert(a["username"]),
                        inert(policy_cell(a)),
                        a["permission"],
                        inert(checkout.state_text(a.get("access"), a["id"] in pending)),
                    ),
                )
                for a in resource["accounts"]
            ),
        )
        self._show_account_title()
        self.refresh_bindings()

    def _need(self, table_id: str, what: str) -> str | None:
        key = self.selected(table_id)
        if key is None:
            self.app.notify(f"Select {what} first.", severity="warning")
        return key

    def _account(self) -> str | None:
        return self._need("accounts", "an account (Tab to the accounts table)")

    def action_connect(self) -> None:
        """Leave the TUI for a brokered session to the selected account's target (SSH
        gateway only): the gateway opens it, then starts the TUI again."""
        account = self._account()
        request = self.app.connect_request
        if account is None or request is None:
            return
        request(
            {
                "org": self.org,
                "resource": self.selected_cell("resources", 0),
                "account": self.selected_cell("accounts", 0),
            }
        )
        self.app.exit(return_code=CONNECT_EXIT)

    def action_search(self) -> None:
        """Jump to the search box."""
        self.screen.set_focus(self.query_one("#vault-q", Input))

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

    @api_worker()
    async def action_share(self) -> None:
        """Share the selected resource (or account) with a user or group from a list."""
        target = self._share_target()
        if target is None:
            return
        kind, ref, label = target
        client = self.app.client
        org = self.org

        async def submit(v: dict) -> dict:
            body = grantee_body(v["target"]) | {"permission": v["permission"] or "view"}
            return await client.add_share(self.org, kind, ref, body)

        result = await self.form(
            f"Share {label}",
            [
                Field(
                    "target",
                    "With",
                    load=lambda: choices.share_targets(client, org),  # the form opens at once
                    required=True,
                    api_names=("user", "group", "user_org"),
                ),
                Field("permission", "Permission", value="view", choices=choices.PERMISSIONS),
            ],
            submit,
            action="share",
        )
        if result:
            self.changed("shares", result.get("note") or "Shared.")

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


SOON_DAYS = 14  # the vault names a password's expiry from this many days before it


def policy_cell(account: dict) -> str:
    """The policy, and "expired" / "expires in 3 d" once the password expires within
    ``SOON_DAYS`` days (its ``expires_at``: the last change + the policy's maximum age,
    issue 31)."""
    if not account.get("expires_at"):
        return account["policy"]
    expires = datetime.datetime.fromisoformat(account["expires_at"])
    now = datetime.datetime.now(datetime.UTC)
    if expires - now > datetime.timedelta(days=SOON_DAYS):
        return account["policy"]
    return f"{account['policy']} · {expiry_words(expires, now)}"
