"""The users pane: the selected org's users and user groups, and everything done to them.

Users: add (with a temporary password, typed or generated and shown once), edit the
profile, role, scope and status, reset the password, disable/enable, delete (naming who
receives what it owned), confirm a client org's unconfirmed user, activate an MSPOrg
administrator as an independent person (I: its one-time activation code, shown once).
Groups: create, edit (description, default share permission, members in a checklist),
delete.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.client import ApiError, Client
from tui.controls.table import fill_table
from tui.logic import choices
from tui.screens.form import Choices, Field, refusal, typed_confirmation
from tui.screens.me import OnceModal
from tui.screens.security import reset_user_totp
from tui.text import inert
from tui.widgets.pane import Pane
from tui.wording import counted, role_words
from tui.workers import api_worker

SCOPES: Choices = [
    ("owned and shared: what it owns or is shared with it", "owned_and_shared"),
    ("all: every resource of the org", "all"),
]
STATUSES: Choices = [("active", "active"), ("disabled: no login, its sessions end", "disabled")]
GROUP_PERMISSIONS: Choices = choices.PERMISSIONS
TEMPORARY = "Temporary password (empty: generate one, shown once)"
GENERATE: Choices = [
    ("no: the password typed above", "no"),
    ("yes: generate a temporary one, shown once", "yes"),
]

# Refusals whose server sentence says what happened but not what to do next.
NEXT_STEP = {
    "client_confirms": "A confirmed client user is changed or deleted only by a confirmed "
    "administrator of that org; profile fields (name, e-mail) stay editable.",
    "user_owns_resources": "Pick the user who receives what it owns.",
    "password_not_changed": "Ask the user to log in and choose a password first.",
}


def temporary_password() -> str:
    """A new random temporary password (20 URL-safe characters, 120 bits)."""
    return secrets.token_urlsafe(15)


async def explained(request: Awaitable[Any]) -> Any:
    """Run a request; a refusal listed in ``NEXT_STEP`` comes back with its next step."""
    try:
        return await request
    except ApiError as error:
        step = NEXT_STEP.get(error.code)
        if step is None:
            raise
        raise ApiError(error.code, f"{error.detail}. {step}", error.status, error.body) from None


async def role_choices(client: Client, org: str) -> Choices:
    """The built-in roles, then the org's custom roles (built-in ones only on a server
    that has no role list)."""
    try:
        roles = await client.roles(org)
    except ApiError:
        return list(choices.ROLE_CHOICES)
    return [
        (role_words(r["name"]) if r.get("builtin") else f"{r['name']} (custom)", r["name"])
        for r in roles
    ]


class UsersPane(Pane):
    """Users and user groups of the org chosen in the top band."""

    LIST = "users-table"
    BAR = {  # each list's key bar, most used first (F1 lists every key)
        "users-table": (
            "new_user",
            "edit_user",
            "reset_password",
            "toggle_user",
            "confirm_user",
            "delete_user",
            "reset_totp",
            "activate_user",
            "new_group",
        ),
        "groups-table": ("new_group", "edit_group", "delete_group", "new_user"),
    }
    users: list[dict] = []  # as last loaded (replaced, never changed in place)
    groups: dict[str, dict] = {}  # name → group, as last loaded
    BINDINGS = [
        Binding("n", "new_user", "New", tooltip="New user", id="new-user"),
        Binding("e", "edit_user", "Edit", tooltip="Edit the user", id="edit-user"),
        Binding("p", "reset_password", "Reset", tooltip="Reset its password", id="reset-user"),
        Binding("x", "toggle_user", "Disable", tooltip="Disable or enable", id="toggle-user"),
        Binding("d", "delete_user", "Delete", tooltip="Delete the user", id="delete-user"),
        Binding("c", "confirm_user", "Confirm", tooltip="Confirm the user", id="confirm-user"),
        Binding(
            "I",
            "activate_user",
            "Activate",
            tooltip="Activate as an independent person (MSPOrg administrators)",
            id="activate-user",
        ),
        Binding(
            "T",
            "reset_totp",
            "Reset 2FA",
            tooltip="Reset its two-factor authentication (a lost phone)",
            id="reset-totp",
        ),
        Binding("g", "new_group", "New group", tooltip="New user group", id="new-group"),
        Binding("m", "edit_group", "Edit group", tooltip="Edit the group", id="edit-group"),
        Binding("D", "delete_group", "Del group", tooltip="Delete the group", id="delete-group"),
    ]

    def compose(self) -> ComposeResult:
        """Users, then groups."""
        users = DataTable(id="users-table", cursor_type="row", zebra_stripes=True)
        users.add_columns("User", "Name", "Role", "Status", "2FA", "Confirmed")
        yield users
        yield Static("Groups (g new, m edit, D delete)", classes="section")
        groups = DataTable(id="groups-table", cursor_type="row")
        groups.add_columns("Group", "Share", "Members")
        yield groups

    def bar_actions(self, focused: object) -> tuple[str, ...] | None:
        """The list's key bar; Reset 2FA only on a user that has 2FA (the key still says,
        on another, that there is nothing to reset)."""
        actions = super().bar_actions(focused)
        if actions and "reset_totp" in actions:
            username = self.selected()
            user = next((u for u in self.users if u["username"] == username), None)
            if user is None or not user.get("totp_enabled"):
                actions = tuple(a for a in actions if a != "reset_totp")
        return actions

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The keys the user's capabilities allow; Confirm only on an unconfirmed user of
        a client org (elsewhere there is nothing to confirm). Reset 2FA stays on: on a
        user without 2FA it says there is nothing to reset."""
        if action == "confirm_user":
            username = self.selected() if self.confirms_here else None
            user = next((u for u in self.users if u["username"] == username), None)
            return user is not None and not user.get("confirmed")
        return super().check_action(action, parameters)

    def palette_allows(self, action: str) -> bool:
        """The palette offers Confirm only where the server would confirm (see
        ``confirms_here``)."""
        if action == "confirm_user" and not self.confirms_here:
            return False
        return super().palette_allows(action)

    @on(DataTable.RowHighlighted, "#users-table")
    def user_highlighted(self) -> None:
        """Another user: Confirm is offered where it applies."""
        self.refresh_bindings()

    @property
    def is_client(self) -> bool:
        """True when the org on show is a client org (users there may be unconfirmed)."""
        return bool(self.org) and self.org.lower() != "msporg"

    @property
    def confirms_here(self) -> bool:
        """True when I may confirm users here: the server lets only a confirmed
        administrator of the client org itself do it (an MSP user, or an unconfirmed
        administrator, is refused: ``users.confirm_user``), so c is not offered elsewhere."""
        me = getattr(self.app, "me", None) or {}
        if not self.is_client or str(me.get("org", "")).lower() != str(self.org).lower():
            return False
        mine = next((u for u in self.users if u["username"] == me.get("username")), None)
        return mine is not None and bool(mine.get("confirmed"))

    def _confirmed_cell(self, user: dict, first: bool) -> str:
        """The Confirmed column: yes, or PENDING with the way out where c is not mine
        (a client org's first administrator is confirmed through Access (F4) c)."""
        if not self.is_client:
            return ""
        if user.get("confirmed"):
            return "yes"
        if self.confirms_here:
            return "PENDING"
        return "PENDING (F4 c)" if first else "PENDING"

    @api_worker(exclusive=True, group="users")
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
        self.users, self.groups = users, {g["name"]: g for g in groups}
        # No confirmed administrator yet: a pending one is the first, confirmed through
        # Access (F4) c (an MSP request).
        first = not any(u.get("confirmed") and u["role"] == "administrator" for u in users)
        fill_table(
            self.query_one("#users-table", DataTable),
            (
                (
                    u["username"],
                    (
                        inert(u["username"]),
                        inert(u["full_name"]),
                        inert(role_words(u["role"])),
                        u["status"] + (" (directory)" if u.get("directory") else ""),
                        "on" if u["totp_enabled"] else "",
                        self._confirmed_cell(u, first and u["role"] == "administrator"),
                    ),
                )
                for u in users
            ),
        )
        fill_table(
            self.query_one("#groups-table", DataTable),
            (
                (
                    g["name"],
                    (
                        inert(g["name"]),
                        g.get("default_permission", ""),
                        inert(", ".join(g["members"])),
                    ),
                )
                for g in groups
            ),
        )
        self.refresh_bindings()  # c: on an unconfirmed user only

    def _user(self) -> dict | None:
        """The highlighted user as last loaded (None, and a hint, when there is none)."""
        username = self.selected()
        user = next((u for u in self.users if u["username"] == username), None)
        if user is None:
            self.app.notify("Select a user first.", severity="warning")
        return user

    def _group(self) -> dict | None:
        """The highlighted group as last loaded (None, and a hint, when there is none)."""
        group = self.groups.get(self.selected("groups-table") or "")
        if group is None:
            self.app.notify("This org has no group yet: g makes one.", severity="warning")
        return group

    async def _show_once(self, username: str, password: str) -> None:
        await self.app.push_screen_wait(
            OnceModal(
                f"Temporary password of {username}",
                password,
                f"Give it to {username} by a safe channel: they must choose their own "
                "password at their first login.",
            )
        )

    # -- users ------------------------------------------------------------------------

    @api_worker()
    async def action_new_user(self) -> None:
        """Add a user to the org with a temporary password (generated when left empty,
        then shown once); they choose their own at first login."""
        client, org = self.app.client, self.org
        generated: list[str] = []

        async def submit(v: dict) -> dict:
            fields = {k: x for k, x in v.items() if x and k != "generate"}
            generated[:] = []
            if v["generate"] == "yes":
                if v["password"]:
                    raise refusal("generate", "either type a password or generate one")
                generated[:] = [temporary_password()]
                fields["password"] = generated[0]
            return await explained(client.create_user(org, fields))

        result = await self.form(
            f"New user in {org}",
            [
                Field("username", "Username", required=True),
                Field("full_name", "Full name"),
                Field("email", "E-mail"),
                Field(
                    "role",
                    "Role",
                    value="password_user",
                    choices=list(choices.ROLE_CHOICES),  # the form opens at once, the
                    load=lambda: role_choices(client, org),  # org's own roles come after
                    required=True,
                ),
                Field("password", "Initial password (12+ characters)", password=True),
                Field("generate", "Or generate a temporary password", value="no", choices=GENERATE),
                Field("access_scope", "Access scope", value="owned_and_shared", choices=SCOPES),
            ],
            submit,
            action="add",
        )
        if not result:
            return
        self.changed(
            "users",
            f"User {result['username']} added to {org}; "
            "they choose their own password at first login.",
        )
        if generated:
            await self._show_once(result["username"], generated[0])

    @api_worker()
    async def action_edit_user(self) -> None:
        """Edit the highlighted user's name, e-mail, role, scope and status (only what
        changed is sent)."""
        client, org = self.app.client, self.org
        user = self._user()
        if user is None:
            return
        roles = list(choices.ROLE_CHOICES)  # the org's own roles come after the form opens
        if user["role"] not in {value for _label, value in roles}:
            roles.append((f"{user['role']} (custom)", user["role"]))
        names = ("full_name", "email", "role", "access_scope", "status")

        async def submit(v: dict) -> dict:
            changes = {k: v[k] for k in names if v[k] != (user.get(k) or "")}
            if not changes:
                return user
            return await explained(client.update_user(org, user["username"], changes))

        result = await self.form(
            f"Edit {user['username']} in {org}",
            [
                Field("full_name", "Full name", value=user.get("full_name") or ""),
                Field("email", "E-mail", value=user.get("email") or ""),
                Field(
                    "role",
                    "Role",
                    value=user["role"],
                    choices=roles,
                    load=lambda: role_choices(client, org),
                    required=True,
                ),
                Field("access_scope", "Access scope", value=user["access_scope"], choices=SCOPES),
                Field("status", "Status", value=user["status"], choices=STATUSES, required=True),
            ],
            submit,
        )
        if result:
            self.changed("users", f"{user['username']} saved.")

    @api_worker()
    async def action_reset_password(self) -> None:
        """Give the highlighted user a temporary password (generated when left empty,
        shown once); its sessions and API keys end, it chooses its own at next login."""
        client, org = self.app.client, self.org
        user = self._user()
        if user is None:
            return
        generated: list[str] = []

        async def submit(v: dict) -> dict:
            password = v["password"] or temporary_password()
            generated[:] = [] if v["password"] else [password]
            return await explained(
                client.update_user(org, user["username"], {"password": password})
            )

        result = await self.form(
            f"Reset the password of {user['username']}",
            [Field("password", TEMPORARY, password=True)],
            submit,
            note="Its sessions and API keys end; it must choose its own password at the "
            "next login.",
            action="reset",
            danger=True,
        )
        if not result:
            return
        self.changed("users", f"{user['username']} has a temporary password now.")
        if generated:
            await self._show_once(user["username"], generated[0])

    @api_worker("Not changed")
    async def action_toggle_user(self) -> None:
        """Disable the selected user (ending its sessions), or enable it again."""
        username = self.selected()
        if username is None:
            self.app.notify("Select a user first.", severity="warning")
            return
        new = "active" if self.selected_cell("users-table", 3) == "disabled" else "disabled"
        client, org = self.app.client, self.org
        if new == "disabled":  # enabling needs no confirmation; disabling asks first
            if not await self.form(
                f"Disable {username}",
                [
                    typed_confirmation(
                        "yes", "Type yes to disable it (Esc keeps it active)", any_case=True
                    )
                ],
                lambda _v: explained(client.update_user(org, username, {"status": new})),
                note=f"{username} can no longer log in, and its sessions end now. "
                "x enables it again.",
                action="disable",
                danger=True,
            ):
                return
        else:
            await explained(client.update_user(org, username, {"status": new}))
        self.changed("users", f"{username} is now {new}.")

    @api_worker()
    async def action_delete_user(self) -> None:
        """Delete the highlighted user; what it owns goes to the user picked as new owner."""
        client, org = self.app.client, self.org
        user = self._user()
        if user is None:
            return
        heirs = [
            (choices.person(u), u["username"])
            for u in self.users
            if u["username"] != user["username"] and u["status"] == "active"
        ]

        async def submit(v: dict) -> dict:
            return await explained(client.delete_user(org, user["username"], v["new_owner"]))

        result = await self.form(
            f"Delete {user['username']} from {org}",
            [
                Field(
                    "new_owner",
                    "New owner of its resources and accounts",
                    choices=heirs,
                    placeholder="nobody (it owns nothing): type to search",
                ),
                typed_confirmation(
                    user["username"], problem=f"type {user['username']} to delete it", strip=True
                ),
            ],
            submit,
            note="Its sessions, API keys and group memberships go with it.",
            action="delete",
            danger=True,
        )
        if result is None:
            return
        moved = (result or {}).get("transferred") or {}
        message = f"{user['username']} deleted."
        if any(moved.values()):
            message += (
                f" {counted(moved.get('resources', 0), 'resource')} and "
                f"{counted(moved.get('accounts', 0), 'account')} now belong to the new owner."
            )
        self.changed("users", message)

    @api_worker("Not confirmed")
    async def action_confirm_user(self) -> None:
        """Confirm the highlighted unconfirmed user of a client org (a confirmed
        administrator of that org does it)."""
        user = self._user()
        if user is None:
            return
        if not self.is_client or user.get("confirmed"):
            self.app.notify(f"{user['username']} needs no confirmation.", severity="warning")
            return
        await explained(self.app.client.confirm_user(self.org, user["username"]))
        self.changed(
            "users", f"{user['username']} is confirmed: it now reaches what {self.org} shares."
        )

    @api_worker("Not activated")
    async def action_activate_user(self) -> None:
        """Activate the highlighted MSPOrg administrator as an independent person: after
        re-entering my password, the server gives me a one-time activation code (shown
        once) that its first login needs with the temporary password its maker set."""
        user = self._user()
        if user is None:
            return
        if self.is_client:
            self.app.notify(
                "Activation is for MSPOrg administrators: open MSPOrg's users.",
                severity="warning",
            )
            return
        client, org = self.app.client, self.org
        result = await self.form(
            f"Activate {user['username']} as an independent person",
            [
                Field(
                    "password",
                    "Your current password",
                    password=True,
                    required=True,
                    api_names=("current_password",),
                )
            ],
            lambda v: client.activate_user(org, user["username"], v["password"]),
            note="You must be independent of whoever made the account or set its password. "
            "Its first login will need its temporary password AND the code you get now.",
            action="activate",
        )
        if not result:
            return
        await self.app.push_screen_wait(
            OnceModal(
                f"Activation code of {result['username']}",
                result["activation_code"],
                f"Give it to {result['username']} yourself (not through its maker). It "
                f"expires {result['expires_at'][:16].replace('T', ' ')} UTC; the first login "
                "needs it with the temporary password, then the user sets its own password "
                "and is its own person.",
            )
        )
        self.changed("users", f"Activation code issued for {result['username']}.")

    @api_worker("2FA not reset")
    async def action_reset_totp(self) -> None:
        """Reset the highlighted user's two-factor authentication (its name typed to
        confirm; tui/screens/security.py)."""
        user = self._user()
        if user is not None and await reset_user_totp(self, user):
            self.changed("users", f"{user['username']}'s two-factor authentication was reset.")

    # -- groups -----------------------------------------------------------------------

    def _group_fields(self, group: dict | None) -> list[Field]:
        """Name, description, default share permission, members (a checklist)."""
        group = group or {}
        return [
            Field("name", "Name", value=group.get("name", ""), required=True),
            Field("description", "Description", value=group.get("description", "")),
            Field(
                "default_permission",
                "Default permission of a share to the group",
                value=group.get("default_permission", "view"),
                choices=GROUP_PERMISSIONS,
                required=True,
            ),
            Field(
                "members",
                "Members (Space ticks, Ctrl+A all/none)",
                choices=[(choices.person(u), u["username"]) for u in self.users],
                multiple=True,
                chosen=tuple(group.get("members", ())),
            ),
        ]

    @api_worker()
    async def action_new_group(self) -> None:
        """Create a user group with its members."""
        client, org = self.app.client, self.org
        result = await self.form(
            f"New group in {org}",
            self._group_fields(None),
            lambda v: explained(client.create_group(org, v)),
            action="create",
        )
        if result:
            self.changed("groups", f"Group {result['name']} created.")

    @api_worker()
    async def action_edit_group(self) -> None:
        """Edit the highlighted group: name, description, default permission, members."""
        client, org = self.app.client, self.org
        group = self._group()
        if group is None:
            return

        async def submit(v: dict) -> dict:
            changes = {k: x for k, x in v.items() if x != group.get(k, "")}
            if "members" in changes and sorted(v["members"]) == sorted(group["members"]):
                del changes["members"]
            if not changes:
                return group
            return await explained(client.update_group(org, group["name"], changes))

        result = await self.form(f"Edit group {group['name']}", self._group_fields(group), submit)
        if result:
            self.changed("groups", f"Group {result['name']} saved.")

    @api_worker()
    async def action_delete_group(self) -> None:
        """Delete the highlighted group (type its name); its members stay."""
        client, org = self.app.client, self.org
        group = self._group()
        if group is None:
            return

        async def submit(v: dict) -> bool:
            await explained(client.delete_group(org, group["name"]))
            return True

        if await self.form(
            f"Delete group {group['name']}",
            [
                typed_confirmation(
                    group["name"], problem=f"type {group['name']} to delete it", strip=True
                )
            ],
            submit,
            note="Its members stay; shares to the group end.",
            action="delete",
            danger=True,
        ):
            self.changed("groups", f"Group {group['name']} deleted.")
