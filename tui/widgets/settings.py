"""The settings pane (F7): the org's custom roles, resource types, additional field
definitions, audit settings, directory login and notifications (SIEM forwarding, webhooks,
SMTP, templates, my mutes), one section at a time (1-6), and, for MSPOrg
administrators, replicating MSPOrg's settings to every client org (R)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, DataTable, Select, Static

from server.core.permissions import ADMINISTER, MANAGE_ORGS, READ_AUDIT  # shared plain data
from tui.client import ApiError
from tui.controls.table import fill_table
from tui.logic import choices
from tui.screens import field_definitions as definitions
from tui.screens import roles
from tui.screens.form import Field, typed_confirmation
from tui.screens.replicate import ReplicateScreen, choice_form, load_choice
from tui.screens.security import edit_totp_policy
from tui.text import inert
from tui.widgets.pane import Pane
from tui.widgets.settings_audit import AuditSettingsActions
from tui.widgets.settings_directory import DirectoryActions
from tui.widgets.settings_notify import NotifyActions
from tui.wording import role_words
from tui.workers import api_worker

SECTIONS = {  # section: (title, its table)
    "roles": ("Roles", "roles-table"),
    "types": ("Types", "types-table"),
    "fields": ("Fields", "fields-table"),
    "audit": ("Audit", "audit-ops-table"),
    "directory": ("LDAP/AD", "directory-table"),
    "notify": ("Notify", "notify-table"),
}
SECTION_OF = {  # action: the section it works in
    "new_role": "roles",
    "edit_role": "roles",
    "delete_role": "roles",
    "new_type": "types",
    "delete_type": "types",
    "new_field": "fields",
    "delete_field": "fields",
    "toggle_recorded": "audit",
    "toggle_alert": "audit",
    "alert_operation": "audit",
    "retention": "audit",
    "purge": "audit",
    "alerts": "audit",
    "edit_directory": "directory",
    "test_directory": "directory",
    "sync_directory": "directory",
    "ask_directory_approval": "directory",
    "new_destination": "notify",
    "test_destination": "notify",
    "delete_destination": "notify",
    "edit_destination": "notify",
    "new_webhook": "notify",
    "smtp": "notify",
    "template": "notify",
    "mutes": "notify",
}
# A section the server lets only some read: (the capability its GET needs, in the org, as
# the server rules, the note that says why in its place). Nothing is asked without it: a
# refusal is recorded as denied (newcomer pass, session 10).
READ_NEEDS = {
    "audit": (  # audit_settings.get_settings: can_read_audit
        READ_AUDIT,
        "audit-retention",
        "Audit settings are for administrators and auditors (a role that reads the audit trail).",
    ),
    "directory": (  # directory.get_config: is_administrator
        ADMINISTER,
        "directory-note",
        "Only the org's administrators see and set its directory login (LDAP / AD).",
    ),
}
QUIET = ("forbidden", "not_found")  # a role that may not see a section: the section says so


def _binding(key: str, action: str, description: str, tooltip: str) -> Binding:
    return Binding(key, action, description, tooltip=tooltip, id=action.replace("_", "-"))


class SettingsPane(DirectoryActions, AuditSettingsActions, NotifyActions, Pane):
    """Settings of the org chosen in the top band, one section at a time."""

    LIST = "roles-table"
    # Replicate: MSPOrg administrators; the 2FA policy: the org's built-in administrators.
    NEEDS = {"replicate": MANAGE_ORGS, "totp_policy": ADMINISTER}
    BINDINGS = [
        _binding("n", "new_role", "New", "New custom role"),
        _binding("e", "edit_role", "Edit", "Edit the custom role"),
        _binding("d", "delete_role", "Delete", "Delete the custom role"),
        _binding("n", "new_type", "New", "New resource type"),
        _binding("d", "delete_type", "Delete", "Delete the resource type"),
        _binding("n", "new_field", "New", "New additional field"),
        _binding("d", "delete_field", "Delete", "Delete the field definition"),
        _binding("r", "toggle_recorded", "Recorded", "Record the operation or not"),
        _binding("a", "toggle_alert", "Alert", "Alert on the operation or not"),
        _binding("t", "retention", "Retention", "Audit retention (days)"),
        _binding("p", "purge", "Purge", "Purge old audit events now"),
        _binding("o", "alert_operation", "Alert on…", "Alert on another operation"),
        _binding("l", "alerts", "Alerts", "List the org's audit alerts"),
        _binding("1", "show_roles", "Roles", "Custom roles"),
        _binding("2", "show_types", "Types", "Resource types"),
        _binding("3", "show_fields", "Fields", "Additional field definitions"),
        _binding("4", "show_audit", "Audit", "Audit settings"),
        _binding("e", "edit_directory", "Edit", "Set the org's directory (LDAP / AD)"),
        _binding("c", "test_directory", "Test", "Test the directory connection"),
        _binding("s", "sync_directory", "Sync now", "Sync directory users now"),
        _binding(
            "a",
            "ask_directory_approval",
            "Ask approval",
            "Ask a second administrator to approve MSPOrg's directory",
        ),
        _binding("5", "show_directory", "Directory", "Directory login (LDAP / AD)"),
        _binding("6", "show_notify", "Notify", "SIEM forwarding and notifications"),
        _binding("n", "new_destination", "New SIEM", "Forward the audit trail to a SIEM"),
        _binding("t", "test_destination", "Test", "Send a test event to the destination"),
        _binding("d", "delete_destination", "Remove", "Remove the destination or webhook"),
        _binding("c", "edit_destination", "Change", "Change the destination or webhook"),
        _binding("w", "new_webhook", "Webhook", "New webhook"),
        _binding("m", "smtp", "SMTP", "The SMTP relay (MSPOrg)"),
        _binding("e", "template", "Template", "Edit a notification template"),
        _binding("u", "mutes", "Mutes", "Mute notification kinds (mine)"),
        _binding("R", "replicate", "Replicate", "Replicate settings to client orgs"),
        _binding("f", "totp_policy", "2FA", "Who must use two-factor authentication"),
    ]
    DEFAULT_CSS = """
    SettingsPane { height: 1fr; }
    SettingsPane #settings-sections { height: 1; padding: 0 1; background: $boost; }
    SettingsPane ContentSwitcher { height: 1fr; }
    SettingsPane ContentSwitcher > Vertical { height: 1fr; }
    SettingsPane .settings-line { height: auto; padding: 0 1; color: $text-muted; }
    """

    section: reactive[str] = reactive("roles", bindings=True)

    def __init__(self) -> None:
        super().__init__()
        self._roles: dict[str, dict] = {}
        self._types: dict[str, dict] = {}
        self._fields: dict[str, dict] = {}
        self._audit: dict[str, Any] = {}
        self._directory: dict[str, Any] = {}
        self._notify: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        """The section bar, then one section's list on show."""
        yield Static(self._bar(), id="settings-sections")
        with ContentSwitcher(initial="roles"):
            with Vertical(id="roles"):
                table = DataTable(id="roles-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Role", "Kind", "Permissions", "Description")
                yield table
                yield Static("", id="roles-note", classes="settings-line")
            with Vertical(id="types"):
                table = DataTable(id="types-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Resource type", "Kind")
                yield table
            with Vertical(id="fields"):
                table = DataTable(id="fields-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Field", "For", "Kind", "Required", "Default", "Choices")
                yield table
                yield Static("", id="fields-note", classes="settings-line")
            with Vertical(id="audit"):
                table = DataTable(id="audit-ops-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Operation", "Recorded", "Alert")
                yield table
                yield Static("", id="audit-mute", classes="settings-line")
                yield Static("", id="audit-retention", classes="settings-line")
                yield Static("", id="audit-purged", classes="settings-line")
            with Vertical(id="directory"):
                table = DataTable(id="directory-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Setting", "Active", "Pending")
                yield table
                yield Static("", id="directory-note", classes="settings-line")
                yield Static("", id="directory-result", classes="settings-line")
            with Vertical(id="notify"):
                table = DataTable(id="notify-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Kind", "Name", "Where", "Delivery")
                yield table
                yield Static("", id="notify-note", classes="settings-line")

    def on_mount(self) -> None:
        """Follow the org chosen in the top band; keep Notify's delivery state fresh."""
        self.start_notify_refresh()
        with suppress(NoMatches):
            band = self.screen.query_one("#org-select", Select)
            self.watch(band, "value", self._band_changed)

    def _band_changed(self, value: object) -> None:
        if isinstance(value, str):
            self.org = value

    # -- sections -------------------------------------------------------------------

    def _bar(self) -> Text:
        """' 1 Roles  2 Types  3 Fields  4 Audit ', the section on show marked."""
        bar = Text()
        for number, (section, (title, _table)) in enumerate(SECTIONS.items(), start=1):
            style = "reverse bold" if section == self.section else ""
            bar.append(f" {number} {title} ", style=style)
        if self._msp_admin():  # 80 columns hold the six sections and both hints
            bar.append(" R Replicate ", style="dim")  # two spaces before f, as between sections
        if self.may_use("totp_policy"):  # the key bar is full with the section's keys
            bar.append(" f 2FA", style="dim")
        return bar

    def watch_section(self, section: str) -> None:
        """Show the section's list and mark it in the bar."""
        with suppress(NoMatches):
            self.query_one(ContentSwitcher).current = section
            self.query_one("#settings-sections", Static).update(self._bar())

    def focus_list(self) -> None:
        """The list of the section on show takes the focus."""
        self.screen.set_focus(self.query_one(f"#{SECTIONS[self.section][1]}", DataTable))

    def _enter(self, section: str) -> None:
        self.section = section
        self.focus_list()

    def action_show_roles(self) -> None:
        """Show the roles."""
        self._enter("roles")

    def action_show_types(self) -> None:
        """Show the resource types."""
        self._enter("types")

    def action_show_fields(self) -> None:
        """Show the additional field definitions."""
        self._enter("fields")

    def action_show_audit(self) -> None:
        """Show the audit settings."""
        self._enter("audit")

    def action_show_directory(self) -> None:
        """Show the directory settings."""
        self._enter("directory")

    def action_show_notify(self) -> None:
        """Show SIEM forwarding and notifications."""
        self._enter("notify")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A section's keys work (and show) in that section only; Replicate for MSPOrg
        administrators only."""
        section = SECTION_OF.get(action)
        if section is not None and section != self.section:
            return False
        if action == "ask_directory_approval":  # only MSPOrg's directory waits for approval
            return (self.org or "").lower() == "msporg" and self._msp_admin()
        if not self.notify_allows(action):
            return False  # another org's notifications: not ours to set (who does is said)
        return self.may_use(action)

    def _msp_admin(self) -> bool:
        return self.may_use("replicate")

    # -- loading --------------------------------------------------------------------

    @api_worker(exclusive=True, group="settings")
    async def load(self) -> None:
        """Fetch every section of the org (a section the role may not read says so)."""
        org = self.org
        if not org:
            return
        self.query_one("#settings-sections", Static).update(self._bar())  # R: in this org?
        client = self.app.client
        try:
            self._fill_roles(await self._fetch(client.roles(org), "roles-note"))
            self._fill_types(await self._fetch(client.resource_types(org)))
            self._fill_fields(await self._fetch(client.field_definitions(org), "fields-note"))
            audit = directory = None
            if self._may_read("audit"):
                audit = await self._fetch(client.audit_settings(org), "audit-retention")
            self._fill_audit(audit)
            if self._may_read("directory"):
                directory = await self._fetch(client.directory(org), "directory-note")
            self._fill_directory(directory)
            await self._load_notify(client, org)
        except ApiError as error:  # not a refusal: the server is away, say so once
            self.app.show_error(error)

    def _may_read(self, section: str) -> bool:
        """Whether the user may read ``section`` in the org (``READ_NEEDS``); when not,
        its note says why, in words, and nothing is asked."""
        needed, note, words = READ_NEEDS[section]
        if needed in self.capabilities():
            return True
        self.query_one(f"#{note}", Static).update(words)
        return False

    async def _fetch(self, call, note: str = "") -> Any:
        """The call's answer, or None after saying why not in ``note`` (a refusal of this
        section to this role); other errors are raised."""
        try:
            return await call
        except ApiError as error:
            if error.code not in QUIET:
                raise
            if note:
                self.query_one(f"#{note}", Static).update(inert(error.detail))
            return None

    def _fill_roles(self, items: list[dict] | None) -> None:
        self._roles = {r["name"]: r for r in items or []}
        fill_table(
            self.query_one("#roles-table", DataTable),
            (
                (
                    r["name"],
                    (
                        inert(role_words(r["name"]) if r.get("builtin") else r["name"]),
                        roles.role_kind(r),
                        inert(roles.permissions_text(r["permissions"])),
                        inert(r.get("description") or ""),
                    ),
                )
                for r in self._roles.values()
            ),
        )
        self._describe_role()

    def _fill_types(self, items: list[dict] | None) -> None:
        self._types = {t["name"]: t for t in items or []}
        fill_table(
            self.query_one("#types-table", DataTable),
            ((t["name"], (inert(t["name"]), roles.role_kind(t))) for t in self._types.values()),
        )

    def _fill_fields(self, items: list[dict] | None) -> None:
        self._fields = {d["id"]: d for d in items or []}
        fill_table(
            self.query_one("#fields-table", DataTable),
            (
                (
                    d["id"],
                    (
                        inert(d["name"]),
                        inert(definitions.applies_to_text(d)),
                        d["kind"] + (" (MSP)" if d.get("replicated") else ""),
                        "yes" if d["required"] else "",
                        inert(d.get("default") or ""),
                        inert(", ".join(d.get("choices") or ())),
                    ),
                )
                for d in self._fields.values()
            ),
        )
        self._describe_field()

    @on(DataTable.RowHighlighted, "#roles-table")
    def _describe_role(self) -> None:
        """Under the roles: the highlighted role in full (the table cuts long rows)."""
        role = self._roles.get(self.selected("roles-table") or "")
        if role is None:
            return
        name = role_words(role["name"]) if role.get("builtin") else role["name"]
        line = f"{name} ({roles.role_kind(role)}): " + roles.permissions_text(role["permissions"])
        if role.get("builtin"):
            line += ". Built-in roles are fixed."
        elif role.get("description"):
            line += f". {role['description']}"
        self.query_one("#roles-note", Static).update(inert(line))

    @on(DataTable.RowHighlighted, "#fields-table")
    def _describe_field(self) -> None:
        """Under the fields: the highlighted definition in full."""
        note = self.query_one("#fields-note", Static)
        definition = self._fields.get(self.selected("fields-table") or "")
        if definition is None:
            note.update("No additional fields yet: n defines one." if not self._fields else "")
            return
        note.update(inert(definitions.describe(definition)))

    # -- roles ----------------------------------------------------------------------

    def _chosen(self, section: str, items: dict[str, dict], what: str) -> dict | None:
        """The highlighted item of ``section`` (switching to it), or None after a hint."""
        self._enter(section)
        key = self.selected(SECTIONS[section][1])
        if key is None or key not in items:
            self.app.notify(f"Select {what} first.", severity="warning")
            return None
        return items[key]

    def _custom_role(self) -> dict | None:
        role = self._chosen("roles", self._roles, "a role")
        if role is not None and role.get("builtin"):
            self.app.notify(
                f"{role['name']} is a built-in role: it cannot be changed.", severity="warning"
            )
            return None
        return role

    @api_worker()
    async def action_new_role(self) -> None:
        """Add a custom role built from the built-in permissions."""
        self._enter("roles")
        client, org = self.app.client, self.org
        result = await self.form(
            f"New custom role in {org}",
            roles.new_role_fields(),
            lambda v: client.create_role(org, roles.role_body(v)),
            note="Space ticks a permission. Custom roles never make an administrator.",
            action="create",
        )
        if result:
            self.changed("settings", f"Role {result['name']} created in {org}.")

    @api_worker()
    async def action_edit_role(self) -> None:
        """Change the highlighted custom role's description and permissions."""
        role = self._custom_role()
        if role is None:
            return
        client, org, name = self.app.client, self.org, role["name"]
        result = await self.form(
            f"Edit role {name}",
            roles.edit_role_fields(role),
            lambda v: client.update_role(org, name, roles.edit_body(v)),
            note="Space ticks or unticks a permission.",
        )
        if result:
            self.changed("settings", f"Role {name} updated.")

    @api_worker()
    async def action_delete_role(self) -> None:
        """Delete the highlighted custom role (nobody may hold it)."""
        role = self._custom_role()
        if role is None:
            return
        client, org, name = self.app.client, self.org, role["name"]
        if await self._confirm_delete(
            f"Delete role {name}", name, lambda: client.delete_role(org, name)
        ):
            self.changed("settings", f"Role {name} deleted.")

    async def _confirm_delete(self, title: str, name: str, call) -> bool:
        """A typed-name confirmation that runs ``call`` (the server's refusal stays on
        the form); True when done."""

        async def submit(_values: dict) -> bool:
            await call()
            return True

        return bool(
            await self.form(
                title,
                [typed_confirmation(name)],
                submit,
                action="delete",
                danger=True,
            )
        )

    # -- resource types ---------------------------------------------------------------

    @api_worker()
    async def action_new_type(self) -> None:
        """Add a resource type to the org's catalogue."""
        self._enter("types")
        client, org = self.app.client, self.org
        result = await self.form(
            f"New resource type in {org}",
            [Field("name", "Type name", required=True)],
            lambda v: client.create_resource_type(org, v["name"].strip()),
            action="add",
        )
        if result:
            self.changed("settings", f"Resource type {result['name']} added to {org}.")

    @api_worker()
    async def action_delete_type(self) -> None:
        """Delete the highlighted custom resource type (no resource may use it)."""
        rtype = self._chosen("types", self._types, "a resource type")
        if rtype is None:
            return
        if rtype.get("builtin"):
            self.app.notify(f"{rtype['name']} is a built-in type.", severity="warning")
            return
        client, org, name = self.app.client, self.org, rtype["name"]
        if await self._confirm_delete(
            f"Delete resource type {name}", name, lambda: client.delete_resource_type(org, name)
        ):
            self.changed("settings", f"Resource type {name} deleted.")

    # -- field definitions ----------------------------------------------------------

    @api_worker()
    async def action_new_field(self) -> None:
        """Define an additional field for resources (all, or one type's) or accounts."""
        self._enter("fields")
        client, org = self.app.client, self.org
        types = [value for _label, value in await choices.resource_types(client, org)]
        result = await self.form(
            f"New additional field in {org}",
            definitions.definition_fields(types),
            lambda v: client.create_field_definition(org, definitions.definition_body(v)),
            action="create",
        )
        if result:
            self.changed("settings", f"Field {result['name']} defined in {org}.")

    @api_worker()
    async def action_delete_field(self) -> None:
        """Remove the highlighted field definition (stored values stay)."""
        definition = self._chosen("fields", self._fields, "a field definition")
        if definition is None:
            return
        client, org, name = self.app.client, self.org, definition["name"]
        if await self._confirm_delete(
            f"Delete field {name}",
            name,
            lambda: client.delete_field_definition(org, definition["id"]),
        ):
            self.changed("settings", f"Field {name} deleted.")

    # -- replication ----------------------------------------------------------------

    @api_worker()
    async def action_replicate(self) -> None:
        """Open the Replicate settings screen (MSPOrg administrators)."""
        if not self._msp_admin():
            self.app.notify("Only MSPOrg administrators replicate settings.", severity="warning")
            return
        try:
            saved, orgs = await load_choice(self.app.client)
        except ApiError as error:
            self.app.show_error(error, "Cannot replicate settings")
            return
        values = await self.app.push_screen_wait(choice_form(saved, orgs))  # one dialog
        if values is not None and await self.app.push_screen_wait(
            ReplicateScreen(saved, orgs, values)
        ):
            self.changed("settings")

    @api_worker("Two-factor policy not changed")
    async def action_totp_policy(self) -> None:
        """Who must use two-factor authentication in the org (tui/screens/security.py)."""
        await edit_totp_policy(self)
