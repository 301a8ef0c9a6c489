"""The users pane: the selected org's users and groups; add a user, disable or enable one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.screens.form import Field
from tui.text import inert
from tui.widgets import choices
from tui.widgets.pane import Pane, fill_table


class UsersPane(Pane):
    """Users and user groups of the org chosen in the top band."""

    LIST = "users-table"
    BINDINGS = [
        Binding("n", "new_user", "New", tooltip="New user", id="new-user"),
        Binding(
            "x", "toggle_user", "Disable/enable", tooltip="Disable or enable", id="toggle-user"
        ),
    ]

    def compose(self) -> ComposeResult:
        """Users, then groups."""
        users = DataTable(id="users-table", cursor_type="row", zebra_stripes=True)
        users.add_columns("User", "Name", "Role", "Status", "2FA")
        yield users
        yield Static("Groups", classes="section")
        groups = DataTable(id="groups-table", cursor_type="row")
        groups.add_columns("Group", "Members")
        yield groups

    @work(exclusive=True, exit_on_error=False, group="users")
    async def load(self) -> None:
        """Fetch users and groups."""
        if not self.org:
            return
        client = self.app.client
        try:
            users = await client.users(self.org)
            groups = await client.groups(self.org)
        except ApiError as error:
            if error.code not in ("forbidden", "not_found"):
                self.app.show_error(error)
            return
        fill_table(
            self.query_one("#users-table", DataTable),
            (
                (
                    u["username"],
                    (
                        inert(u["username"]),
                        inert(u["full_name"]),
                        u["role"],
                        u["status"],
                        "on" if u["totp_enabled"] else "",
                    ),
                )
                for u in users
            ),
        )
        fill_table(
            self.query_one("#groups-table", DataTable),
            ((g["name"], (inert(g["name"]), inert(", ".join(g["members"])))) for g in groups),
        )

    @work(exit_on_error=False)
    async def action_new_user(self) -> None:
        """Add a user to the org; it changes the initial password at first login."""
        client, org = self.app.client, self.org
        result = await self.form(
            f"New user in {org}",
            [
                Field("username", "Username", required=True),
                Field("full_name", "Full name"),
                Field("email", "E-mail"),
                Field("role", "Role", value="password_user", choices=choices.ROLE_CHOICES),
                Field("password", "Initial password (12+ characters)", password=True),
            ],
            lambda v: client.create_user(org, {k: x for k, x in v.items() if x}),
            action="add",
        )
        if result:
            self.changed(
                "users",
                f"User {result['username']} added to {org}; "
                "they choose their own password at first login.",
            )

    @work(exit_on_error=False)
    async def action_toggle_user(self) -> None:
        """Disable the selected user (ending its sessions), or enable it again."""
        username = self.selected()
        if username is None:
            self.app.notify("Select a user first.", severity="warning")
            return
        new = "active" if self.selected_cell("users-table", 3) == "disabled" else "disabled"
        try:
            await self.app.client.update_user(self.org, username, {"status": new})
        except ApiError as error:
            self.app.show_error(error, "Not changed")
            return
        self.changed("users", f"{username} is now {new}.")
