"""The users pane: the selected org's users and groups; add a user, disable or enable one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from server.permissions import ROLES  # shared plain data, no server code
from tui.client import ApiError
from tui.screens.modals import FormField, FormModal
from tui.text import inert


class UsersPane(Vertical):
    """Users and user groups of the org chosen in the top band."""

    BINDINGS = [
        Binding("n", "new_user", "New user", id="new-user"),
        Binding("x", "toggle_user", "Disable/enable", id="toggle-user"),
    ]

    org: reactive[str | None] = reactive(None)

    def compose(self) -> ComposeResult:
        """Users, then groups."""
        users = DataTable(id="users-table", cursor_type="row", zebra_stripes=True)
        users.add_columns("User", "Name", "Role", "Status", "2FA")
        yield users
        yield Static("Groups", classes="section")
        groups = DataTable(id="groups-table", cursor_type="row")
        groups.add_columns("Group", "Members")
        yield groups

    def watch_org(self, org: str | None) -> None:
        """A new org: reload."""
        if org:
            self.load()

    @work(exclusive=True, exit_on_error=False, group="users")
    async def load(self) -> None:
        """Fetch users and groups."""
        client = self.app.client
        try:
            users = await client.users(self.org)
            groups = await client.groups(self.org)
        except ApiError as error:
            self.app.show_error(error)
            return
        table = self.query_one("#users-table", DataTable)
        table.clear()
        for u in users:
            table.add_row(
                inert(u["username"]),
                inert(u["full_name"]),
                u["role"],
                u["status"],
                "on" if u["totp_enabled"] else "",
                key=u["username"],
            )
        table = self.query_one("#groups-table", DataTable)
        table.clear()
        for g in groups:
            table.add_row(inert(g["name"]), inert(", ".join(g["members"])))

    def _selected(self) -> str | None:
        table = self.query_one("#users-table", DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    @work(exit_on_error=False)
    async def action_new_user(self) -> None:
        """Add a user to the org; it changes the initial password at first login."""
        form = await self.app.push_screen_wait(
            FormModal(
                f"New user in {self.org}",
                [
                    FormField("username", "Username"),
                    FormField("full_name", "Full name"),
                    FormField("email", "E-mail"),
                    FormField(
                        "role",
                        "Role",
                        value="password_user",
                        check=lambda v: None if v in ROLES else "one of " + ", ".join(ROLES),
                    ),
                    FormField("password", "Initial password (12+ characters)", password=True),
                ],
            )
        )
        if not form:
            return
        try:
            await self.app.client.create_user(self.org, {k: v for k, v in form.items() if v})
        except ApiError as error:
            self.app.show_error(error, "User not added")
            return
        self.app.notify(
            f"User {form['username']} added; they choose their own password at first login."
        )
        self.load()

    @work(exit_on_error=False)
    async def action_toggle_user(self) -> None:
        """Disable the selected user (ending its sessions), or enable it again."""
        username = self._selected()
        if username is None:
            return
        table = self.query_one("#users-table", DataTable)
        status = str(table.get_row_at(table.cursor_row)[3])
        new = "active" if status == "disabled" else "disabled"
        try:
            await self.app.client.update_user(self.org, username, {"status": new})
        except ApiError as error:
            self.app.show_error(error, "Not changed")
            return
        self.app.notify(f"{username} is now {new}.")
        self.load()
