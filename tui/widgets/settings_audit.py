"""The Settings pane's audit section: which operations are recorded and alert, the
retention, purge, and the alerts list (a part of ``SettingsPane``)."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.controls.table import fill_table
from tui.screens import audit_settings as audit_forms
from tui.screens.form import Field, typed_confirmation
from tui.text import inert
from tui.wording import operation_words
from tui.workers import api_worker


def _alert_cell(operation: dict) -> str:
    """'ALERT', 'ALERT (not recorded)' (it cannot alert) or ''."""
    if not operation["alert"]:
        return ""
    return "ALERT" if operation["recorded"] else "ALERT (not recorded)"


class AuditSettingsActions:
    """The audit settings section's keys (mixed into ``SettingsPane``)."""

    def _fill_audit(self, settings: dict | None) -> None:
        self._audit = settings or {}
        operations = self._audit.get("operations", [])
        fill_table(
            self.query_one("#audit-ops-table", DataTable),
            (
                (
                    o["operation"],
                    (
                        inert(operation_words(o["operation"])),
                        ("yes" if o["recorded"] else "OFF") if o["switchable"] else "always",
                        _alert_cell(o),
                    ),
                )
                for o in operations
            ),
        )
        self.query_one("#audit-mute", Static).update(
            inert(audit_forms.mute_text(audit_forms.mute_alerts(operations)))
        )
        if settings is not None:
            self.query_one("#audit-retention", Static).update(
                audit_forms.retention_text(settings.get("retention_days"))
                + " Unlisted operations are always recorded."
            )

    def _operation(self) -> dict | None:
        operations = {o["operation"]: o for o in self._audit.get("operations", [])}
        return self._chosen("audit", operations, "an operation")

    async def _put_audit(self, body: dict, message: str) -> None:
        try:
            settings = await self.app.client.put_audit_settings(self.org, body)
        except ApiError as error:
            self.app.show_error(error, "Not changed")
            return
        self._fill_audit(settings)
        self.changed("settings", message)

    @api_worker(exclusive=True, group="audit-settings")
    async def action_toggle_recorded(self) -> None:
        """Switch recording of the highlighted operation off or on (routine ones only)."""
        operation = self._operation()
        if operation is None:
            return
        name = operation["operation"]
        words = operation_words(name)
        if not operation["switchable"]:
            self.app.notify(
                f"{words} touches secrets, access or keys: it is always recorded.",
                severity="warning",
            )
            return
        recorded = not operation["recorded"]
        now = "recorded again" if recorded else "no longer recorded"
        message = f"{words} is {now} in {self.org}"
        if operation["alert"] and not recorded:
            message += ", so it cannot alert"
        await self._put_audit({"operations": {name: {"recorded": recorded}}}, message + ".")

    @api_worker(exclusive=True, group="audit-settings")
    async def action_toggle_alert(self) -> None:
        """Mark the highlighted operation as raising an alert, or not."""
        operation = self._operation()
        if operation is None:
            return
        name, alert = operation["operation"], not operation["alert"]
        words = operation_words(name)
        message = f"{words} {'now raises an alert' if alert else 'no longer raises an alert'}."
        if alert and not operation["recorded"]:  # kept, but said plainly
            message = f"{words} is marked, but not recorded, so it cannot alert: r records it."
        await self._put_audit({"operations": {name: {"alert": alert}}}, message)

    @api_worker()
    async def action_alert_operation(self) -> None:
        """Raise an alert on an operation not listed yet: one the server always records
        (the catalogue of audited operations, ``GET /audit/operations``, read once per
        session)."""
        self._enter("audit")
        client, org = self.app.client, self.org
        listed = {o["operation"] for o in self._audit.get("operations", [])}
        others = sorted({o["name"] for o in await client.audit_operations()} - listed)
        if not others:
            self.app.notify("Every audited operation is listed already.", severity="warning")
            return
        picked: dict[str, str] = {}

        async def submit(values: dict) -> dict:
            picked["operation"] = values["operation"]
            return await client.put_audit_settings(
                org, {"operations": {values["operation"]: {"alert": True}}}
            )

        result = await self.form(
            f"Alert on an operation in {org}",
            [
                Field(
                    "operation",
                    "Operation",
                    choices=[(operation_words(op), op) for op in others],
                    required=True,
                )
            ],
            submit,
            note="Operations the server always records (the listed ones are switched with "
            "r and a). l lists the alert events (also in Audit, F5); a raises or clears "
            "one later.",
            action="alert",
        )
        if result:
            self._fill_audit(result)
            words = operation_words(picked["operation"])
            self.changed("settings", f"{words} now raises an alert.")

    def action_alerts(self) -> None:
        """List the events of the operations marked as alerts."""
        self._enter("audit")
        if self.org:
            self.app.push_screen(audit_forms.AlertsScreen(self.org))

    @api_worker()
    async def action_retention(self) -> None:
        """Set how many days audit events are kept (empty: all)."""
        self._enter("audit")
        client, org = self.app.client, self.org
        result = await self.form(
            f"Audit retention of {org}",
            audit_forms.retention_fields(self._audit.get("retention_days")),
            lambda v: client.put_audit_settings(org, audit_forms.retention_body(v)),
            note="Events older than this are purged hourly by the primary; a sealed "
            "checkpoint takes their place, so the chain stays verifiable.",
        )
        if result:
            self._fill_audit(result)
            self.changed("settings", audit_forms.retention_text(result.get("retention_days")))

    @api_worker()
    async def action_purge(self) -> None:
        """Purge events older than the retention now, after typing 'purge'."""
        self._enter("audit")
        client, org = self.app.client, self.org
        result = await self.form(
            f"Purge old audit events of {org}",
            [typed_confirmation("purge", "Type purge to go ahead")],
            lambda _v: client.purge_audit(org),
            note=audit_forms.retention_text(self._audit.get("retention_days"))
            + "\nPurged events are gone for good; the checkpoint proves what preceded.",
            action="purge",
            danger=True,
        )
        if result:
            line = audit_forms.purge_text(org, result)
            self.query_one("#audit-purged", Static).update(inert(line))
            self.changed("settings", line)
