"""Passwords changed on the systems they open, in the vault pane (mixed into ``VaultPane``;
issue 29): C sets a resource's connection to its target and pins the host key the
administrator confirms, R changes an account's password on its target, V verifies it by
logging in, H shows its earlier passwords, T sets a rotation schedule, W shows the
org's rotation report. Each says its outcome in words."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tui.client import ApiError
from tui.logic.times import local_minute
from tui.screens.form import Field, refusal
from tui.screens.listing import confirm_field
from tui.screens.modals import RevealModal
from tui.screens.rotation_report import RotationReportScreen
from tui.workers import api_worker

NONE = "(none: each account changes its own)"
# What a failure on the target means, in words (the server's codes, issue 29).
TARGET_WORDS = {
    "host_key_unknown": "no host key is pinned for this target yet: set it with C first",
    "host_key_changed": "the target presented another host key than the pinned one, so "
    "nothing was sent (check the server; pin the new key with C only if it is expected)",
    "target_unreachable": "the target could not be reached",
    "target_timeout": "the target did not answer in time",
    "target_login_failed": "the target refused the login",
    "target_refused": "the target refused the change",
    "target_tls_failed": "the TLS connection to the target failed",
    "target_no_reconciliation_account": "the reconciliation account is missing",
    "no_connection": "its resource has no connection to a target: set one with C",
    "rotation_in_progress": "a change or verification of it is already running",
}


REASON_WORDS = {  # a verification's reason (without the target_ prefix of the codes)
    "login_failed": "the target refused the vault's password (changed outside the vault?)",
    "host_key_changed": TARGET_WORDS["host_key_changed"],
    "host_key_unknown": TARGET_WORDS["host_key_unknown"],
    "unreachable": TARGET_WORDS["target_unreachable"],
    "timeout": TARGET_WORDS["target_timeout"],
}


def reason_words(reason: str) -> str:
    """A stored reason (``code`` or ``code: message``, as the rotation report and an
    account's last change carry it) as words: the known code's sentence, else the
    server's message."""
    code, _, message = reason.partition(": ")
    return (
        REASON_WORDS.get(code)
        or TARGET_WORDS.get(code)
        or TARGET_WORDS.get(f"target_{code}")
        or message
        or code
        or "no reason was recorded"
    )


def target_words(error: ApiError) -> str:
    """A failure on a target as a sentence (the server's detail when no words are known)."""
    return TARGET_WORDS.get(error.code, error.detail)


def _failed(widget: Any, error: ApiError, sentence: str, title: str) -> None:
    """Say a failure on a target in words; other errors (session ended, read-only…) go
    the app's one error path."""
    if error.code in TARGET_WORDS:
        widget.app.notify(sentence.format(target_words(error)), title=title, severity="error")
    else:
        widget.app.show_error(error, title)


def _whole_or_blank(value: str) -> str | None:
    return None if not value.strip() or value.strip().isdigit() else "a whole number, or blank"


def _every(count: int | None, done: str, unit: str) -> str:
    """'rotated every 90 days', 'verified every hour'; '' for none."""
    if not count:
        return ""
    return f"{done} every {unit}" if count == 1 else f"{done} every {count} {unit}s"


def _when(stamp: str | None) -> str:
    """A time the server sent, as this terminal's local time (as the audit list shows it)."""
    return local_minute(stamp)


def rotation_summary(state: dict | None) -> str:
    """An account's password on its target in a few words (empty: no connection):
    'target: changed 2026-12-07 05:01 · verified ok 05:02 · next rotation 2027-01-06'."""
    if not state or not state.get("connector"):
        return ""
    change, check = state.get("last_change") or {}, state.get("last_verification") or {}
    parts = []
    if state.get("in_progress"):
        parts.append(f"{state['in_progress']} running")
    if change.get("state") == "ok":
        parts.append(f"changed {_when(change['at'])}")
    elif change.get("state") == "failed":
        parts.append(f"change FAILED {_when(change['at'])}")
    if check.get("state") == "ok":
        parts.append(f"verified {_when(check['at'])}")
    elif check.get("state") == "failed":
        parts.append(f"verify FAILED {_when(check['at'])}")
    else:
        parts.append("never verified")
    if state.get("next_rotation"):
        parts.append(f"next rotation {state['next_rotation'][:10]}")
    return "target: " + " · ".join(parts)


class RotationActions:
    """C connection (resources list), R reset on target, V verify, H history, T schedule,
    W the rotation report."""

    def action_rotation_report(self) -> None:
        """The org's rotation report: failed verifications and changes, passwords past
        their policy's maximum age (of the accounts I may use)."""
        self.app.push_screen(RotationReportScreen(self.org, reason_words))

    @api_worker("Connection not saved")
    async def action_connection(self) -> None:
        """A resource's connection: connector, host, port, reconciliation account; then
        the host key the target presents, to confirm before it is pinned."""
        resource = self._need("resources", "a resource")
        if resource is None:
            return
        label = self.selected_cell("resources", 0)
        kind = str(self.selected_cell("resources", 1)).casefold()
        client = self.app.client
        current = await client.connection(self.org, resource)
        connectors = await client.connectors()
        detail = await client.resource(self.org, resource)
        accounts = detail["accounts"]
        names = {a["id"]: a["username"] for a in accounts}
        fields = [
            Field(
                "connector",
                "Connector",
                value=current.get("connector")
                or next(
                    (c["name"] for c in connectors if kind in c["resource_types"]),
                    connectors[0]["name"],
                ),
                choices=[(f"{c['title']} ({c['name']})", c["name"]) for c in connectors],
                required=True,
            ),
            Field(  # a new connection starts from the resource's address (newcomer pass 10)
                "host",
                "Host",
                value=current.get("host") or address_host(detail.get("url") or ""),
                required=True,
            ),
            Field(
                "port",
                "Port (blank: the connector's default)",
                value=str(current.get("port") or ""),
                check=_whole_or_blank,
            ),
            Field(
                "reconciliation_account",
                "Reconciliation account (changes the others' passwords)",
                value=current.get("reconciliation_account") or "",
                choices=[(NONE, "")] + [(n, i) for i, n in names.items()],
            ),
        ]

        async def submit(values: dict[str, Any]) -> dict:
            body: dict[str, Any] = {
                "connector": values["connector"],
                "host": values["host"].strip(),
                "reconciliation_account": values["reconciliation_account"] or None,
            }
            if values["port"].strip():
                body["port"] = int(values["port"])
            return await client.set_connection(self.org, resource, body)

        saved = await self.form(
            f"Connection of {label} to its target",
            fields,
            submit,
            note="Passwords of its accounts are then changed on that system, not only here.",
        )
        if not saved:
            return
        if not saved.get("pins_host_key"):
            self.changed("accounts", f"Connection of {label} saved.")
            return
        self.app.notify(f"Reading the host key {saved['host']}:{saved['port']} presents…")
        try:
            scan = await client.scan_host_key(self.org, resource)
        except ApiError as error:
            _failed(
                self,
                error,
                f"Connection of {label} saved, but its host key could not be read: {{}}. "
                "No password is sent until a key is pinned.",
                "Host key not pinned",
            )
            return
        if scan["matches"]:
            self.changed("accounts", f"Connection of {label} saved; its host key is pinned.")
            return
        was = f" (the pinned one was {scan['pinned']})" if scan["pinned"] else ""
        confirmed = await self.form(
            f"Pin the host key of {saved['host']}:{saved['port']}?",
            [confirm_field()],
            note=f"The target presents {scan['presented']}{was}. Compare it with "
            "ssh-keygen -l on the server itself before you pin it.",
            action="pin",
        )
        if not confirmed:
            self.changed("accounts", f"Connection of {label} saved; no host key pinned.")
            return
        body = {
            "connector": saved["connector"],
            "host": saved["host"],
            "port": saved["port"],
            "host_key": scan["presented"],
            "reconciliation_account": saved.get("reconciliation_account"),
        }
        await client.set_connection(self.org, resource, body)
        self.changed("accounts", f"Host key {scan['presented']} pinned for {label}.")

    async def _has_connection(self, account: str) -> bool:
        """Whether the account's resource has a connection to a target (its rotation
        state as loaded, else the highlighted resource's connection); True when unknown:
        the server then says."""
        state = getattr(self, "_rotation_of", {}).get(account)
        if state is not None:
            return bool(state.get("connector"))
        resource = self.selected("resources")
        if not resource:
            return True
        try:
            current = await self.app.client.connection(self.org, resource)
        except ApiError:
            return True
        return bool(current.get("configured", True))

    @api_worker("Password not changed on the target")
    async def action_rotate(self) -> None:
        """Change the highlighted account's password on its target now (generated under
        its policy, verified by logging in, then kept; the old one goes to the history)."""
        account = self._account()
        if account is None:
            return
        name = self.selected_cell("accounts", 0)
        if not await self._has_connection(account):
            self.app.notify(
                f"The password of {name} was not changed: {TARGET_WORDS['no_connection']}.",
                title="Not changed on the target",
                severity="error",
            )
            return
        if not await self.form(
            f"Change the password of {name} on its target?",
            [confirm_field()],
            note="A new password is generated under the account's policy, set on the "
            "target, verified by logging in, and only then kept here.",
            action="change",
        ):
            return
        self.app.notify(f"Changing the password of {name} on its target…")
        try:
            await self.app.client.reset_on_target(self.org, account)
        except ApiError as error:
            self.changed("accounts")
            _failed(
                self,
                error,
                f"The password of {name} was not changed: {{}}. "
                "The current password stays as it was.",
                "Not changed on the target",
            )
            return
        self.changed(
            "accounts",
            f"The password of {name} was changed on its target and verified; "
            "the old one is in its history (H).",
        )

    @api_worker("Not verified")
    async def action_verify(self) -> None:
        """Log in to the target with the highlighted account's password now."""
        account = self._account()
        if account is None:
            return
        name = self.selected_cell("accounts", 0)
        if not await self._has_connection(account):  # said alone, before any "logging in"
            self.app.notify(
                f"{name} was not verified: {TARGET_WORDS['no_connection']}.",
                title="Not verified",
                severity="error",
            )
            return
        self.app.notify(f"Logging in to the target as {name}…")
        try:
            result = await self.app.client.verify_on_target(self.org, account)
        except ApiError as error:
            _failed(self, error, f"{name} was not verified: {{}}.", "Not verified")
            return
        if result["ok"]:
            self.changed("accounts", f"{name} logs in to its target with the vault's password.")
        else:
            words = REASON_WORDS.get(result.get("reason") or "", result.get("message") or "")
            self.changed("audit")
            self.app.notify(
                f"{name} does not log in to its target: {words}.",
                title="Verification failed",
                severity="error",
            )

    @api_worker("History not shown")
    async def action_history(self) -> None:
        """The highlighted account's earlier passwords; one can be revealed (audited)."""
        account = self._account()
        if account is None:
            return
        name = self.selected_cell("accounts", 0)
        client = self.app.client
        entries = await client.password_history(self.org, account)
        if not entries:
            self.app.notify(f"{name} has no earlier passwords.")
            return
        rows = [
            (f"{_when(e['replaced_at'])} · {e['how']} by {e['replaced_by']}", e["id"])
            for e in entries
        ]
        picked = await self.form(
            f"Earlier passwords of {name} ({len(entries)})",
            [Field("entry", "Replaced", value=rows[0][1], choices=rows, required=True)],
            note="Revealing one is recorded in the audit trail.",
            action="reveal",
        )
        if not picked:
            return
        try:
            shown = await client.reveal_history(self.org, account, picked["entry"])
        except ApiError as error:
            if error.code != "reason_required":
                raise
            shown = await self.form(
                "Reason for revealing",
                [Field("reason", "Reason (ticket, change…)", required=True)],
                lambda v: client.reveal_history(self.org, account, picked["entry"], v["reason"]),
                note="This organization asks why a password is revealed.",
                action="reveal",
            )
            if not shown:
                return
        when = next(label for label, ref in rows if ref == picked["entry"])
        self.changed("audit")
        await self.app.push_screen(
            RevealModal(
                f"Earlier password of {name} ({when})", shown["password"], self.app.reveal_seconds
            )
        )

    @api_worker("Schedule not saved")
    async def action_schedule(self) -> None:
        """Rotate every N days and verify every N hours, on the highlighted account or
        resource (blank: inherited from the resource or its resource groups)."""
        target = self._share_target()
        if target is None:
            return
        kind, ref, label = target

        def number(value: str) -> int | None:
            return int(value) if value.strip() else None

        async def submit(values: dict[str, Any]) -> dict:
            body = {
                "rotate_every_days": number(values["rotate_every_days"]),
                "verify_every_hours": number(values["verify_every_hours"]),
            }
            if body["rotate_every_days"] == 0 or body["verify_every_hours"] == 0:
                raise refusal("rotate_every_days", "at least 1, or blank")
            return await self.app.client.set_rotation_schedule(self.org, kind, ref, body)

        saved = await self.form(
            f"Rotation schedule of {kind} {label}",
            [
                Field("rotate_every_days", "Rotate every (days)", check=_whole_or_blank),
                Field("verify_every_hours", "Verify every (hours)", check=_whole_or_blank),
            ],
            submit,
            note="Blank: inherited (an account from its resource, a resource from its "
            "resource groups). Runs on the primary.",
        )
        if saved:
            parts = [
                _every(saved["rotate_every_days"], "rotated", "day"),
                _every(saved["verify_every_hours"], "verified", "hour"),
            ]
            said = " and ".join(p for p in parts if p) or "inherited"
            self.changed("accounts", f"Schedule of {label}: {said}.")


def address_host(address: str) -> str:
    """The host in a resource's address (a DNS name, or a URL: 'https://fw1:8443/ui' →
    'fw1'), to start a new connection's Host from (newcomer pass 10)."""
    address = address.strip()
    if "://" in address:
        return urlsplit(address).hostname or ""
    return address
