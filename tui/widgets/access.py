"""The access pane: org access requests to approve, my requests, filing and revoking."""

from __future__ import annotations

from datetime import UTC, datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.screens.form import Field
from tui.text import inert
from tui.widgets import choices
from tui.widgets.pane import Pane, fill_table


def expires_in(expires_at: str) -> str:
    """'in 7 days', 'in 5 hours', 'in 12 minutes' or 'expired' (rounded, as people say)."""
    try:
        left = datetime.fromisoformat(expires_at) - datetime.now(UTC)
    except ValueError:
        return expires_at
    seconds = left.total_seconds()
    if seconds <= 0:
        return "expired"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"in {count} {unit}{'s' if count != 1 else ''}"
    return "in under a minute"


def designee(request: dict) -> str:
    """'user adm2' or 'group ops'."""
    return f"user {request['user']}" if request.get("user") else f"group {request.get('group')}"


class AccessPane(Pane):
    """Dual-control org access: the approver's queue and the proposer's requests."""

    LIST = "queue"
    BINDINGS = [
        Binding("q", "request", "Request", tooltip="Request org access", id="request-access"),
        Binding("y", "approve", "Approve", tooltip="Approve the request", id="approve"),
        Binding("x", "reject", "Reject", tooltip="Reject the request", id="reject"),
        Binding("v", "revoke", "Revoke", tooltip="Revoke org access", id="revoke-access"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._requests: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        """Two tables."""
        yield Static("Waiting for my approval (y approve, x reject)", classes="section")
        queue = DataTable(id="queue", cursor_type="row")
        queue.add_columns("Org", "For", "Proposer", "Reason", "Expires")
        yield queue
        yield Static("My requests", classes="section")
        mine = DataTable(id="mine", cursor_type="row")
        mine.add_columns("Org", "For", "Approver", "Status")
        yield mine

    def on_mount(self) -> None:
        """Load both lists."""
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
        self._requests = {r["id"]: r for r in queue}
        fill_table(
            self.query_one("#queue", DataTable),
            (
                (
                    r["id"],
                    (
                        inert(r["org"]),
                        inert(designee(r)),
                        inert(r["proposer"]),
                        inert(r.get("reason") or ""),
                        expires_in(r["expires_at"]),
                    ),
                )
                for r in queue
            ),
        )
        fill_table(
            self.query_one("#mine", DataTable),
            (
                (
                    r["id"],
                    (inert(r["org"]), inert(designee(r)), inert(r["approver"]), r["status"]),
                )
                for r in mine
            ),
        )

    def _selected_request(self) -> dict | None:
        request = self._requests.get(self.selected("queue") or "")
        if request is None:
            self.app.notify("Nothing is waiting for your approval.", severity="warning")
        return request

    @staticmethod
    def _describe(r: dict) -> str:
        return (
            f"Organization: {r['org']}\nFor: {designee(r)}\nProposed by: {r['proposer']}\n"
            f"Reason: {r.get('reason') or '—'}\nExpires: {r['expires_at'][:16].replace('T', ' ')} "
            f"({expires_in(r['expires_at'])})"
        )

    @work(exit_on_error=False)
    async def action_approve(self) -> None:
        """Approve the selected request, re-entering my password."""
        request = self._selected_request()
        if request is None:
            return
        client = self.app.client
        result = await self.form(
            "Approve org access",
            [
                Field(
                    "password",
                    "Your password",
                    password=True,
                    required=True,
                    api_names=("current_password",),
                )
            ],
            lambda v: client.decide(request["id"], "approve", {"current_password": v["password"]}),
            note=self._describe(request)
            + f"\n\nApproving gives {designee(request)} access to {request['org']} at once.",
            action="approve",
        )
        if result:
            self.changed("grants", f"Approved: {designee(request)} may act in {request['org']}.")

    @work(exit_on_error=False)
    async def action_reject(self) -> None:
        """Reject the selected request with a reason."""
        request = self._selected_request()
        if request is None:
            return
        client = self.app.client
        result = await self.form(
            "Reject org access",
            [Field("reason", "Reason")],
            lambda v: client.decide(request["id"], "reject", {"reason": v["reason"]}),
            note=self._describe(request),
            action="reject",
        )
        if result:
            self.changed("requests", "Rejected.")

    @work(exit_on_error=False)
    async def action_request(self) -> None:
        """File a request: org and designee, then an approver the server says is eligible."""
        client = self.app.client
        try:
            orgs = await choices.client_orgs(client)
            people = await choices.designees(client)
        except ApiError as error:
            self.app.show_error(error, "Cannot request access")
            return
        if not orgs:
            self.app.notify("There is no client organization yet.", severity="warning")
            return
        selected = self.org if self.org and self.org.lower() != "msporg" else ""

        async def next_step(v: dict) -> dict:
            # The server's refusal (the proposer as designee, an account manager, …)
            # keeps this step open with what was chosen.
            return {**v, "eligible": await choices.approvers(client, v["org"], v["designee"])}

        first = await self.form(
            "Request org access (1 of 2)",
            [
                Field("org", "Organization", value=selected, choices=orgs, required=True),
                Field(
                    "designee",
                    "For (MSPOrg user or group)",
                    choices=people,
                    required=True,
                    api_names=("user", "group"),
                ),
            ],
            next_step,
            action="next",
        )
        if not first:
            return
        eligible = first["eligible"]
        kind, _, name = first["designee"].partition(":")

        async def submit(v: dict) -> dict:
            body = {"org": first["org"], kind: name, "approver": v["approver"]}
            if v["reason"]:
                body["reason"] = v["reason"]
            return await client.request_access(body)

        note = f"Organization: {first['org']}\nFor: {kind} {name}"
        if not eligible:
            note += "\nNo administrator is eligible to approve this request."
        result = await self.form(
            "Request org access (2 of 2)",
            [
                Field("approver", "Approver", choices=eligible, required=True),
                Field("reason", "Reason"),
            ],
            submit,
            note=note,
            action="file the request",
        )
        if result:
            self.changed("requests", f"Request filed; {result['approver']} has been asked.")

    @work(exit_on_error=False)
    async def action_revoke(self) -> None:
        """Revoke a user's or group's access to an org (no approval needed)."""
        client = self.app.client
        try:
            orgs = await choices.client_orgs(client, managed_only=True)
        except ApiError as error:
            self.app.show_error(error)
            return
        selected = self.org if self.org and self.org.lower() != "msporg" else ""
        first = await self.form(
            "Revoke org access (1 of 2)",
            [Field("org", "Organization", value=selected, choices=orgs, required=True)],
            action="next",
        )
        if not first:
            return
        org = first["org"]
        try:
            access = await client.access(org)
        except ApiError as error:
            self.app.show_error(error)
            return
        grants = [(f"user {u['username']}", f"users:{u['username']}") for u in access["users"]]
        grants += [(f"group {g['name']}", f"groups:{g['name']}") for g in access["groups"]]
        if not grants:
            self.app.notify(f"Nobody holds a grant for {org}.", severity="warning")
            return

        async def submit(v: dict) -> str:
            kind, _, name = v["grant"].partition(":")
            await client.revoke_access(org, kind, name)
            return name

        name = await self.form(
            f"Revoke org access to {org} (2 of 2)",
            [Field("grant", "Grant", choices=grants, required=True)],
            submit,
            action="revoke",
            danger=True,
        )
        if name:
            self.changed("grants", f"Access of {name} to {org} revoked.")
