"""The Settings pane's directory section (issue 32): the org's LDAP / Active Directory
configuration, test connection and sync now (a part of ``SettingsPane``)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.controls.table import fill_table
from tui.flows import access_requests as org_access
from tui.screens import directory as forms
from tui.text import inert
from tui.workers import api_worker


class DirectoryActions:
    """The directory section's keys (mixed into ``SettingsPane``)."""

    _directory: dict[str, Any]

    def _fill_directory(self, directory: dict | None) -> None:
        self._directory = directory or {}
        fill_table(
            self.query_one("#directory-table", DataTable),
            ((label, (label, inert(a), inert(p))) for label, a, p in forms.rows(self._directory)),
        )
        if directory is not None:
            self.query_one("#directory-note", Static).update(
                inert(forms.state_text(self.org, directory))
            )

    def _result(self, text: str) -> None:
        self.query_one("#directory-result", Static).update(inert(text))

    @api_worker()
    async def action_edit_directory(self) -> None:
        """Set the org's directory (MSPOrg's waits for a second administrator)."""
        self._enter("directory")
        client, org = self.app.client, self.org
        current = self._directory.get("pending") or self._directory.get("active")

        async def submit(values: dict) -> dict:
            try:
                return await client.put_directory(org, forms.directory_body(values, current))
            except ApiError as error:
                raise forms.in_form_words(error) from None

        result = await self.form(
            f"Directory of {org}",
            forms.directory_fields(current),
            submit,
            note="Plain LDAP is refused. The password is sealed and never shown again.",
            wide=True,
        )
        if result:
            self._fill_directory(result)
            waits = (
                " It waits for a second administrator's approval: press a (Ask approval) "
                "to ask one."
                if result.get("pending")
                else ""
            )
            self.changed("settings", f"Directory of {org} saved.{waits}")

    @api_worker(exclusive=True, group="directory")
    async def action_test_directory(self) -> None:
        """Connect, bind as the service account and search: say what was found."""
        self._enter("directory")
        self._result("Testing the connection…")
        try:
            found = await self.app.client.test_directory(self.org)
        except ApiError as error:
            self._result("")
            self.app.show_error(error, "Cannot test the directory")
            return
        self._result(forms.test_text(found))

    @api_worker(exclusive=True, group="directory")
    async def action_sync_directory(self) -> None:
        """Bring the org's directory users in step now; say what changed."""
        self._enter("directory")
        self._result("Syncing with the directory… (reading users and groups)")
        try:
            changed = await self.app.client.sync_directory(self.org)
        except ApiError as error:
            self._result("")
            self.app.show_error(error, "Not synced")
            return
        self._result(forms.sync_text(changed))
        self.changed("users")

    @api_worker("No approval request")
    async def action_ask_directory_approval(self) -> None:
        """Ask a second MSPOrg administrator to approve MSPOrg's pending directory
        configuration (a ``directory_config`` request, the approver picked among the
        eligible ones; issue 32)."""
        self._enter("directory")
        if not self._directory.get("pending"):
            self.app.notify(
                "Nothing waits for approval: e sets MSPOrg's directory first.", severity="warning"
            )
            return
        await org_access.request_directory_config(self)
