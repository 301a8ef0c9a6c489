"""The access pane: org access requests to approve, my requests, and filing new ones."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from server.permissions import ADMIN_ROLES  # shared plain data, no server code
from tui.client import ApiError
from tui.screens.modals import FormField, FormModal
from tui.text import inert


class AccessPane(Vertical):
    """Dual-control org access: the approver's queue and the proposer's requests."""

    BINDINGS = [
        Binding("y", "approve", "Approve", id="approve"),
        Binding("x", "reject", "Reject", id="reject"),
        Binding("q", "request", "Request access", id="request-access"),
        Binding("f", "reload", "Refresh", id="access-refresh"),
        Binding("v", "revoke", "Revoke", id="revoke-access"),
    ]

    org: reactive[str | None] = reactive(None)

    def compose(self) -> ComposeResult:
        """Two tables."""
        yield Static("Waiting for my approval", classes="section")
        queue = DataTable(id="queue", cursor_type="row")
        queue.add_columns("Org", "For", "Proposer", "Reason", "Expires")
        yield queue
        yield Static("My requests", classes="section")
        mine = DataTable(id="mine", cursor_type="row")
        mine.add_columns("Org", "For", "Approver", "Status")
        yield mine

    def on_mount(self) -> None:
        """Load both lists."""
        self.action_reload()

    def action_reload(self) -> None:
        """Reload both lists."""
        self.load()

    @work(exclusive=True, exit_on_error=False, group="access")
    async def load(self) -> None:
        """Fetch pending requests for me to approve and the ones I filed."""
        client = self.app.client
        try:
            queue = await client.access_requests("pending", "approver")
            mine = await client.access_requests(None, "proposer")
        except ApiError as error:
            if error.code != "forbidden":
                self.app.show_error(error)
            return
        table = self.query_one("#queue", DataTable)
        table.clear()
        for r in queue:
            table.add_row(
                inert(r["org"]),
                inert(r.get("user") or f"group {r.get('group')}"),
                inert(r["proposer"]),
                inert(r["reason"]),
                r["expires_at"][:16],
                key=r["id"],
            )
        table = self.query_one("#mine", DataTable)
        table.clear()
        for r in mine:
            table.add_row(
                inert(r["org"]),
                inert(r.get("user") or f"group {r.get('group')}"),
                inert(r["approver"]),
                r["status"],
                key=r["id"],
            )

    def _selected_request(self) -> str | None:
        table = self.query_one("#queue", DataTable)
        if table.row_count == 0:
            self.app.notify("Nothing is waiting for your approval.")
            return None
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value

    @work(exit_on_error=False)
    async def action_approve(self) -> None:
        """Approve the selected request, re-entering my password."""
        request_id = self._selected_request()
        if request_id is None:
            return
        form = await self.app.push_screen_wait(
            FormModal(
                "Approve org access",
                [FormField("password", "Your password", password=True)],
                note="Approving gives the named user or group access to the org at once.",
            )
        )
        if not form:
            return
        try:
            await self.app.client.decide(
                request_id, "approve", {"current_password": form["password"]}
            )
        except ApiError as error:
            self.app.show_error(error, "Not approved")
            return
        self.app.notify("Approved: access is in force.")
        self.load()

    @work(exit_on_error=False)
    async def action_reject(self) -> None:
        """Reject the selected request with a reason."""
        request_id = self._selected_request()
        if request_id is None:
            return
        form = await self.app.push_screen_wait(
            FormModal("Reject org access", [FormField("reason", "Reason")])
        )
        if form is None:
            return
        try:
            await self.app.client.decide(request_id, "reject", {"reason": form["reason"]})
        except ApiError as error:
            self.app.show_error(error, "Not rejected")
            return
        self.app.notify("Rejected.")
        self.load()

    @work(exit_on_error=False)
    async def action_revoke(self) -> None:
        """Revoke a user's or group's access to the selected org (no approval needed)."""
        form = await self.app.push_screen_wait(
            FormModal(
                "Revoke org access",
                [
                    FormField("org", "Organization", value=self.org or ""),
                    FormField("user", "User (or leave empty and name a group)"),
                    FormField("group", "Group"),
                ],
            )
        )
        if not form or not (form["user"] or form["group"]):
            return
        kind, name = ("users", form["user"]) if form["user"] else ("groups", form["group"])
        try:
            await self.app.client.revoke_access(form["org"], kind, name)
        except ApiError as error:
            self.app.show_error(error, "Not revoked")
            return
        self.app.notify(f"Access of {name} to {form['org']} revoked.")

    @work(exit_on_error=False)
    async def action_request(self) -> None:
        """File a request naming an approver (an MSPOrg administrator other than me)."""
        admins = []
        try:
            admins = [
                u["username"]
                for u in await self.app.client.users("MSPOrg")
                if u["role"] in ADMIN_ROLES
                and u["status"] == "active"
                and u["username"] != self.app.me.get("username")
            ]
        except ApiError:
            pass
        form = await self.app.push_screen_wait(
            FormModal(
                "Request org access",
                [
                    FormField("org", "Organization", value=self.org or ""),
                    FormField("user", "For user (or leave empty and name a group)"),
                    FormField("group", "For MSPOrg group"),
                    FormField(
                        "approver",
                        "Approver",
                        check=lambda v: (
                            None if not admins or v in admins else "eligible: " + ", ".join(admins)
                        ),
                    ),
                    FormField("reason", "Reason"),
                ],
                note="Eligible approvers: " + (", ".join(admins) or "—"),
            )
        )
        if not form:
            return
        try:
            await self.app.client.request_access({k: v for k, v in form.items() if v})
        except ApiError as error:
            self.app.show_error(error, "Request not filed")
            return
        self.app.notify(f"Request filed; {form['approver']} has been asked.")
        self.load()
