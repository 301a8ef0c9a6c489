"""The Settings pane's Notify section (issue 31): where the org's audit trail is forwarded
(SIEM destinations, their delivery state, "send test event"), the webhooks, the SMTP relay
(MSPOrg), the templates, and my own mutes (a part of ``SettingsPane``)."""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path
from typing import Any

from textual import work
from textual.widgets import DataTable, Static

from server.core import notifications as kinds  # shared plain data
from server.core.permissions import is_administrator  # shared plain data
from tui.client import ApiError
from tui.controls.table import fill_table
from tui.logic.fields import refusal
from tui.screens.form import Field
from tui.screens.me import OnceModal
from tui.tabs import MSP_ORG
from tui.text import inert
from tui.workers import api_worker


def delivery_state(dest: dict) -> str:
    """A destination's delivery in a few words that still read right when the column
    cuts them: 'paused', 'all sent', '216 to send', 'FAILING 3x · 216 to send' (the
    reason is said under the table: ``failing_reasons``). 'sent 24 of 240' was cut to
    'sent 24 of 2' (newcomer pass, session 9)."""
    if not dest["enabled"]:
        return "paused"
    waiting = max(0, dest["head_seq"] - dest["sent_seq"])
    sent = f"{waiting} to send" if waiting else "all sent"
    if dest.get("last_error") and dest.get("failures"):
        return f"FAILING {dest['failures']}x · {sent}"
    return sent


def failing_reasons(rows: dict[str, dict]) -> list[str]:
    """A sentence for each failing destination, with its reason (shown under the table,
    where it is not cut): 'SIEM splunk is failing: connection refused.'"""
    return [
        f"SIEM {item['name']} is failing: {str(item['last_error']).rstrip('.')}."
        for item in rows.values()
        if item["row_kind"] == "siem"
        and item.get("enabled")
        and item.get("last_error")
        and item.get("failures")
    ]


def _pem_file(path: str, field: str = "ca_file") -> str:
    """The PEM text of a file named in a form ('' for none); a refusal when unreadable."""
    if not path.strip():
        return ""
    try:
        return Path(path.strip()).expanduser().read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise refusal(field, f"cannot read it: {exc}") from exc


def _ca_change(path: str) -> dict:
    """An edit form's CA file as a change: empty keeps the CAs, '-' goes back to the
    system's, a file name sets its PEM."""
    if not path.strip():
        return {}
    if path.strip() == "-":
        return {"ca_pem": ""}
    return {"ca_pem": _pem_file(path)}


# The Notify keys only an org's own administrators may use (SIEM, webhooks, templates);
# the SMTP relay is also MSPOrg's only.
OWN_NOTIFY_ACTIONS = frozenset(
    {
        "new_destination",
        "test_destination",
        "delete_destination",
        "edit_destination",
        "new_webhook",
        "template",
        "smtp",
    }
)


def owns_notify(me: dict, org: str) -> bool:
    """Whether the user ``me`` (``GET /me``'s answer) sees and sets ``org``'s SIEM
    forwarding, webhooks and templates: a built-in administrator of that org itself (the
    server's rule: ``require_own_administrator`` in server/services/siem.py and
    notifications.py). Decided before any call, so the TUI never asks what it knows will
    be refused (and recorded as denied: newcomer pass, session 10)."""
    return is_administrator(me.get("role")) and str(me.get("org", "")).lower() == org.lower()


def managed_by(org: str) -> str:
    """Who manages ``org``'s notifications, in words, for someone who may not."""
    return (
        f"Only {org}'s own administrators see and set its SIEM forwarding, webhooks and templates."
    )


# A notification kind in words (the template picker, the mutes): never its code.
KIND_WORDS = {
    "request_waiting": "Request waiting for your decision",
    "request_decided": "Request decided (yours)",
    "checkout_ending": "Check-out ending soon",
    "password_expiring": "Passwords expiring (a daily digest to owners)",
    "rotation_failed": "Rotation failed (a password change on its target)",
    "audit_alert": "Audit alert",
    "cluster_alert": "Cluster alert (failover, backup)",
}
# What each template placeholder is replaced by.
PLACEHOLDER_WORDS = {
    "org": "the org",
    "requester": "who asks",
    "what": "what it is about",
    "reason": "the reason given",
    "decision": "approved or rejected",
    "by": "who did it",
    "until": "when it ends",
    "detail": "the details",
    "node": "the server",
    "at": "when",
}


def kind_words(kind: str) -> str:
    """A notification kind as a person reads it ('request_waiting' → 'Request waiting
    for your decision'), never its code."""
    return KIND_WORDS.get(kind) or kind.replace("_", " ").capitalize()


def placeholders(kind: str, *texts: str) -> list[str]:
    """The ``$name`` placeholders of ``kind``'s default template, then any other in
    ``texts`` (the org's own), each once, in the order they first appear."""
    default = kinds.KINDS.get(kind)
    source = [default.subject, default.body] if default else []
    found = re.findall(r"\$\{?([a-z]+)", " ".join([*source, *texts]))
    return list(dict.fromkeys(name for name in found if name in kinds.FIELDS))


def placeholders_said(kind: str, *texts: str) -> str:
    """'You may use: $org (the org), $requester (who asks), …' for the template form."""
    names = placeholders(kind, *texts)
    return (
        "You may use: "
        + ", ".join(f"${name} ({PLACEHOLDER_WORDS.get(name, name)})" for name in names)
        + "."
    )


REFRESH_SECONDS = 5.0  # the Notify section's delivery state, while on show


def webhook_states(deliveries: list[dict]) -> dict[str, list[dict]]:
    """The deliveries to webhooks, by webhook name (``GET …/notifications/deliveries``:
    the org's latest 500 messages)."""
    by_hook: dict[str, list[dict]] = {}
    for item in deliveries:
        if item["channel"] == "webhook":
            by_hook.setdefault(item["recipient"], []).append(item)
    return by_hook


def hook_state(hook: dict, deliveries: list[dict]) -> str:
    """A webhook's delivery in the words of a SIEM destination's: 'paused', 'all sent',
    '3 to send', 'FAILING 2x · 3 to send', '2 dropped'."""
    if not hook["enabled"]:
        return "paused"
    waiting = [d for d in deliveries if d["status"] == "pending"]
    dropped = sum(1 for d in deliveries if d["status"] == "failed")
    failing = max((d["attempts"] for d in waiting if d.get("last_error")), default=0)
    parts = [f"FAILING {failing}x"] if failing else []
    parts += [f"{len(waiting)} to send"] if waiting else []
    parts += [f"{dropped} dropped"] if dropped else []
    if not parts:
        return "all sent" if deliveries else "none yet"
    return " · ".join(parts)


def dropped_reasons(deliveries: list[dict], org: str) -> list[str]:
    """A sentence for each reason notifications were dropped (failed for good after every
    retry) or wait on a missing relay, with what to do: 'No SMTP relay is set: 3 e-mail
    notifications were dropped and 25 wait. Set the relay: m (SMTP).'"""
    said: list[str] = []
    mails = [d for d in deliveries if d["channel"] == "email"]
    no_relay = [d for d in mails if "no SMTP relay" in (d.get("last_error") or "")]
    if no_relay:
        dropped = sum(1 for d in no_relay if d["status"] == "failed")
        waiting = sum(1 for d in no_relay if d["status"] == "pending")
        counts = " and ".join(
            x
            for x in (
                f"{dropped} e-mail notification{'s' * (dropped != 1)} "
                f"{'were' if dropped != 1 else 'was'} dropped"
                if dropped
                else "",
                f"{waiting} wait{'s' * (waiting == 1)}" if waiting else "",
            )
            if x
        )
        fix = (
            "Set the relay: m (SMTP relay)."
            if org.lower() == MSP_ORG
            else "MSPOrg's administrators set it (Settings, 6 Notify, m, in MSPOrg)."
        )
        said.append(f"No SMTP relay is set: {counts}. {fix}")
    other = [d for d in mails if d["status"] == "failed" and d not in no_relay]
    if other:
        last = str(other[0].get("last_error") or "not delivered").rstrip(".")
        said.append(
            f"{len(other)} e-mail notification{'s' * (len(other) != 1)} could not be sent "
            f"and {'were' if len(other) != 1 else 'was'} dropped (last: {last}). "
            "Check the SMTP relay (m, in MSPOrg)."
        )
    for hook, items in webhook_states(deliveries).items():
        failed = [d for d in items if d["status"] == "failed"]
        if failed:
            last = str(failed[0].get("last_error") or "not delivered").rstrip(".")
            said.append(
                f"Webhook {hook}: {len(failed)} notification{'s' * (len(failed) != 1)} "
                f"dropped after every retry (last: {last}). Check its address (c)."
            )
    return said


class NotifyActions:
    """The Notify section's keys (mixed into ``SettingsPane``)."""

    _notify: dict[str, dict]

    def _owns_notify(self) -> bool:
        """Whether the user sets the notifications of the org on show."""
        org = getattr(self, "org", None) or ""
        return bool(org) and owns_notify(getattr(self.app, "me", None) or {}, org)

    def notify_allows(self, action: str) -> bool:
        """Whether a Notify key is offered in the org on show: SIEM, webhook and template
        keys to its own administrators, the SMTP relay to MSPOrg's."""
        if action not in OWN_NOTIFY_ACTIONS:
            return True
        if action == "smtp" and (getattr(self, "org", None) or "").lower() != MSP_ORG:
            return False
        return self._owns_notify()

    async def _load_notify(self, client: Any, org: str) -> None:
        """Fill the section: destinations and webhooks in the table, relay and mutes under it.
        Someone who may not set them is told who does, and nothing is asked of the server."""
        own = owns_notify(getattr(self.app, "me", None) or {}, org)
        self.refresh_bindings()
        if not own:
            self._notify = {}
            fill_table(self.query_one("#notify-table", DataTable), ())
            mutes = await client.mutes()
            muted = ", ".join(kind_words(k).lower() for k in mutes["muted"]) or "nothing"
            self.query_one("#notify-note", Static).update(
                inert(f"{managed_by(org)} I muted: {muted} (u changes it).")
            )
            return
        relay = ""
        if org.lower() == MSP_ORG:  # the relay is the installation's, MSPOrg's to set
            smtp = await client.smtp(org)
            relay = (
                f"SMTP relay: {smtp['host']}:{smtp['port']} ({smtp['security']}), "
                f"from {smtp['sender']}."
                if smtp["configured"]
                else "SMTP relay: none set (m sets it)."
            )
        mutes = await client.mutes()
        muted = ", ".join(kind_words(k).lower() for k in mutes["muted"]) or "nothing"
        self._notify_said = (relay, f"I muted: {muted} (u changes it).")
        await self._refresh_deliveries(client, org)

    async def _refresh_deliveries(self, client: Any, org: str) -> None:
        """Destinations and webhooks with their delivery state in the table (changed cells
        only), what is failing or was dropped under it, in words with what to do."""
        rows: dict[str, dict] = {}
        for kind, call in (("siem", client.siem_destinations), ("webhook", client.webhooks)):
            for item in await call(org):
                rows[f"{kind}:{item['id']}"] = {**item, "row_kind": kind}
        deliveries = await client.deliveries(org)
        hooks = webhook_states(deliveries)
        self._notify = rows
        fill_table(
            self.query_one("#notify-table", DataTable),
            (
                (
                    key,
                    (
                        "SIEM" if item["row_kind"] == "siem" else "Webhook",
                        inert(item["name"]),
                        inert(
                            f"{item['host']}:{item['port']} {item['transport']}/{item['format']}"
                            if item["row_kind"] == "siem"
                            else item["url"]
                        ),
                        inert(
                            delivery_state(item)
                            if item["row_kind"] == "siem"
                            else hook_state(item, hooks.get(item["name"], []))
                        ),
                    ),
                )
                for key, item in rows.items()
            ),
        )
        relay, muted = getattr(self, "_notify_said", ("", ""))
        lines = [*failing_reasons(rows), *dropped_reasons(deliveries, org), relay, muted]
        self.query_one("#notify-note", Static).update(inert(" ".join(x for x in lines if x)))

    def start_notify_refresh(self) -> None:
        """Keep the delivery state fresh while the Notify section is on show: every
        ``REFRESH_SECONDS``, in place (newcomer pass, session 10: '25 to send' stayed until
        Ctrl+R)."""
        self.set_interval(REFRESH_SECONDS, self._notify_tick)

    def _notify_tick(self) -> None:
        if (
            getattr(self, "section", None) == "notify"
            and self.is_on_screen
            and self.app.screen is self.screen  # not under a dialog
            and self._owns_notify()
            and not any(
                w.is_running and w.group in ("settings", "notify-refresh") for w in self.workers
            )
        ):
            self._notify_refresh()

    @work(group="notify-refresh", exclusive=True, exit_on_error=False)
    async def _notify_refresh(self) -> None:
        org = self.org
        if not org:
            return
        with suppress(ApiError):  # the server away: the next tick tries again, unsaid
            await self._refresh_deliveries(self.app.client, org)

    def _notify_row(self, kind: str) -> dict | None:
        key = self.selected("notify-table")
        item = self._notify.get(key or "")
        if item is None or item["row_kind"] != kind:
            what = "a SIEM destination" if kind == "siem" else "a webhook"
            self.app.notify(f"Select {what} first.", severity="warning")
            return None
        return item

    @api_worker()
    async def action_new_destination(self) -> None:
        """Add a SIEM destination of the org's audit trail."""
        self._enter("notify")
        client, org = self.app.client, self.org

        async def submit(values: dict) -> dict:
            body = {
                "name": values["name"].strip(),
                "host": values["host"].strip(),
                "port": int(values["port"]) if values["port"].strip().isdigit() else 0,
                "transport": values["transport"],
                "format": values["format"],
                "ca_pem": _pem_file(values["ca_file"]) if values["transport"] == "tls" else "",
                "start": values["start"],
            }
            return await client.create_siem_destination(org, body)

        result = await self.form(
            f"New SIEM destination of {org}'s audit trail",
            [
                Field("name", "Name", required=True),
                Field("host", "Receiver host", required=True),
                Field("port", "Port", placeholder="6514 (TLS), 514 (TCP, UDP)", required=True),
                Field("transport", "Transport", value="tls", choices=[
                    ("TLS (RFC 5425)", "tls"), ("TCP", "tcp"), ("UDP", "udp")]),
                Field("format", "Body", value="json", choices=[("JSON", "json"), ("CEF", "cef")]),
                Field("ca_file", "CA file (PEM; empty: the system's CAs)"),
                Field("start", "Send", value="beginning", choices=[
                    ("the whole trail", "beginning"), ("from now on", "now")]),
            ],
            submit,
            action="add",
        )  # fmt: skip
        if result:
            self.changed("settings", f"Destination {result['name']} added.")
            await self.app.push_screen_wait(
                OnceModal(
                    f"Verification key of {result['name']}",
                    result["verify_key"],
                    "Save it in a file for 'strongroom audit verify-stream --key FILE', which "
                    "checks that the events the SIEM received were not altered.",
                )
            )

    @api_worker()
    async def action_test_destination(self) -> None:
        """Send a test event to the highlighted destination now."""
        dest = self._notify_row("siem")
        if dest is None:
            return
        try:
            result = await self.app.client.test_siem_destination(self.org, dest["id"])
        except ApiError as error:
            self.app.show_error(error, "Not sent")
            return
        if result["delivered"]:
            self.app.notify(f"Test event sent to {dest['name']}.")
        else:
            self.app.notify(f"{dest['name']}: {result['error']}", severity="error", timeout=20)

    @api_worker()
    async def action_delete_destination(self) -> None:
        """Remove the highlighted destination or webhook."""
        key = self.selected("notify-table")
        item = self._notify.get(key or "")
        if item is None:
            self.app.notify("Select a destination or webhook first.", severity="warning")
            return
        client, org = self.app.client, self.org
        if item["row_kind"] == "siem":
            call = lambda: client.delete_siem_destination(org, item["id"])  # noqa: E731
        else:
            call = lambda: client.delete_webhook(org, item["id"])  # noqa: E731
        if await self._confirm_delete(f"Remove {item['name']}", item["name"], call):
            self.changed("settings", f"{item['name']} removed.")

    @api_worker()
    async def action_edit_destination(self) -> None:
        """Change the highlighted SIEM destination (where and how it sends; its cursor
        stays, so the receiver continues the chain) or webhook (its URL; its secret
        stays). Only what the form changed is sent."""
        self._enter("notify")
        key = self.selected("notify-table")
        item = self._notify.get(key or "")
        if item is None:
            self.app.notify("Select a destination or webhook first.", severity="warning")
            return
        client, org = self.app.client, self.org
        state = "on" if item["enabled"] else "off"
        sending = Field("enabled", "Sending", value=state, choices=[
            ("on", "on"), ("paused", "off")])  # fmt: skip
        ca_field = Field(
            "ca_file", "CA file (PEM; empty: kept; '-': the system's CAs)", api_names=("ca_pem",)
        )
        if item["row_kind"] == "webhook":

            async def submit_hook(values: dict) -> dict:
                body: dict = {}
                if values["url"].strip() != item["url"]:
                    body["url"] = values["url"].strip()
                body.update(_ca_change(values["ca_file"]))
                if values["enabled"] != state:
                    body["enabled"] = values["enabled"] == "on"
                return await client.update_webhook(org, item["id"], body)

            fields = [Field("url", "https:// address", value=item["url"], required=True)]
            result = await self.form(
                f"Change webhook {item['name']}",
                [*fields, ca_field, sending],
                submit_hook,
                note="Its signing secret stays; messages waiting for it go to the new address.",
            )
        else:

            async def submit_siem(values: dict) -> dict:
                body: dict = {}
                port = int(values["port"]) if values["port"].strip().isdigit() else 0
                for name, value in (
                    ("host", values["host"].strip()),
                    ("port", port),
                    ("transport", values["transport"]),
                    ("format", values["format"]),
                ):
                    if value != item[name]:
                        body[name] = value
                body.update(_ca_change(values["ca_file"]))
                if values["cert_file"].strip() == "-":
                    body["client_cert_pem"] = body["client_key_pem"] = ""
                elif values["cert_file"].strip():
                    body["client_cert_pem"] = _pem_file(values["cert_file"], "cert_file")
                    body["client_key_pem"] = _pem_file(values["key_file"], "key_file")
                if values["enabled"] != state:
                    body["enabled"] = values["enabled"] == "on"
                return await client.update_siem_destination(org, item["id"], body)

            result = await self.form(
                f"Change SIEM destination {item['name']}",
                [
                    Field("host", "Receiver host", value=item["host"], required=True),
                    Field("port", "Port", value=str(item["port"]), required=True),
                    Field("transport", "Transport", value=item["transport"], choices=[
                        ("TLS (RFC 5425)", "tls"), ("TCP", "tcp"), ("UDP", "udp")]),
                    Field("format", "Body", value=item["format"], choices=[
                        ("JSON", "json"), ("CEF", "cef")]),
                    ca_field,
                    Field("cert_file", "Client certificate file (empty: unchanged; '-': none)",
                          api_names=("client_cert_pem",)),
                    Field("key_file", "Its key file (PEM, unencrypted)",
                          api_names=("client_key_pem",)),
                    sending,
                ],
                submit_siem,
                note="The receiver continues the chain from where it was (the cursor stays).",
            )  # fmt: skip
        if result:
            self.changed("settings", f"{item['name']} changed.")

    @api_worker()
    async def action_new_webhook(self) -> None:
        """Add an HTTPS webhook that hears every notification of the org, signed."""
        self._enter("notify")
        client, org = self.app.client, self.org

        async def submit(values: dict) -> dict:
            body = {
                "name": values["name"].strip(),
                "url": values["url"].strip(),
                "ca_pem": _pem_file(values["ca_file"]),
            }
            return await client.create_webhook(org, body)

        result = await self.form(
            f"New webhook of {org}",
            [
                Field("name", "Name", required=True),
                Field("url", "https:// address", required=True),
                Field("ca_file", "CA file (PEM; empty: the system's CAs)"),
            ],
            submit,
            action="add",
        )
        if result:
            self.changed("settings", f"Webhook {result['name']} added.")
            await self.app.push_screen_wait(
                OnceModal(
                    f"Signing secret of {result['name']}",
                    result["secret"],
                    "The receiver checks each notification's signature with it. Give it to "
                    "the receiver's owner by a safe channel.",
                )
            )

    @api_worker()
    async def action_smtp(self) -> None:
        """Set the SMTP relay (MSPOrg's administrators)."""
        self._enter("notify")
        client, org = self.app.client, self.org
        try:
            now = await client.smtp(org)
        except ApiError as error:
            self.app.show_error(error, "SMTP relay")
            return

        async def submit(values: dict) -> dict:
            body = {
                "host": values["host"].strip(),
                "port": int(values["port"]) if values["port"].strip().isdigit() else 0,
                "security": values["security"],
                "username": values["username"].strip(),
                "sender": values["sender"].strip(),
                "ca_pem": _pem_file(values["ca_file"]),
            }
            if values["password"]:
                body["password"] = values["password"]
            return await client.put_smtp(org, body)

        result = await self.form(
            "SMTP relay",
            [
                Field("host", "Host", value=now.get("host", ""), required=True),
                Field("port", "Port", value=str(now.get("port", 587)), required=True),
                Field("security", "Security", value=now.get("security", "starttls"), choices=[
                    ("STARTTLS", "starttls"), ("implicit TLS", "tls")]),
                Field("username", "User name", value=now.get("username", "")),
                Field("password", "Password (empty: unchanged)", password=True),
                Field("sender", "Sender address", value=now.get("sender", ""), required=True),
                Field("ca_file", "CA file (PEM; empty: the system's CAs)"),
            ],
            submit,
        )  # fmt: skip
        if result:
            self.changed("settings", "SMTP relay saved.")

    @api_worker()
    async def action_template(self) -> None:
        """Edit the org's template of one notification kind (empty: the default)."""
        self._enter("notify")
        client, org = self.app.client, self.org
        try:
            templates = {t["kind"]: t for t in await client.templates(org)}
        except ApiError as error:
            self.app.show_error(error, "Templates")
            return
        kind = await self.form(
            "Which notification's template?",
            [Field("kind", "Notification", choices=[(kind_words(k), k) for k in templates],
                   required=True)],
            action="choose",
        )  # fmt: skip
        if not kind:
            return
        chosen = templates[kind["kind"]]

        async def submit(values: dict) -> list[dict]:
            if not values["subject"].strip() and not values["body"].strip():
                return await client.put_template(org, chosen["kind"], None)
            body = values["body"].replace("\\n", "\n")
            return await client.put_template(
                org, chosen["kind"], {"subject": values["subject"], "body": body}
            )

        words = kind_words(chosen["kind"])
        result = await self.form(
            f"Template: {words}",
            [
                Field("subject", "Subject", value=chosen["subject"]),
                Field("body", "Body (\\n: a new line)", value=chosen["body"].replace("\n", "\\n")),
            ],
            submit,
            note=f"{chosen['description']} "
            f"{placeholders_said(chosen['kind'], chosen['subject'], chosen['body'])} "
            "Both empty: back to the default template.",
        )
        if result:
            self.changed("settings", f"Template saved: {words}.")

    @api_worker()
    async def action_mutes(self) -> None:
        """Choose the notification kinds I do not want (security ones cannot be muted)."""
        client = self.app.client
        now = await client.mutes()
        result = await self.form(
            "Mute notifications",
            [
                Field(
                    "muted",
                    "Kinds I do not want",
                    choices=[(kind_words(k), k) for k in now["mutable"]],
                    multiple=True,
                    chosen=tuple(now["muted"]),
                )
            ],
            lambda values: client.put_mutes(list(values["muted"])),
            note="Space ticks a kind. Security notifications always come.",
        )
        if result is not None:
            self.changed("settings", "Mutes saved.")
