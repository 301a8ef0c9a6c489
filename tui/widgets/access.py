"""The access pane: the two approval queues (org access, check-out) and my requests; in
its second view, the org's grants and password holds.

Org access requests are MSPOrg-wide; check-out requests and holds are those of the org in
the top band (the server lists them per org only).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from server.core.permissions import ADMINISTER, MANAGE_ORGS  # shared plain data
from tui.client import ApiError
from tui.controls.table import fill_table
from tui.flows import access_requests as org_access
from tui.flows import checkout_queue as checkout
from tui.logic import choices
from tui.logic.times import minute, since
from tui.screens.form import Field
from tui.tabs import capabilities_in
from tui.text import inert
from tui.widgets.pane import Pane
from tui.wording import role_words
from tui.workers import api_worker

ORG_ACCESS, CHECKOUT = "oa", "co"  # row key prefixes: 'oa:<id>', 'co:<id>'
# Filing org access requests and revoking grants is for MSPOrg administrators only.
MSP_ADMIN_ACTIONS = frozenset(
    {"request", "request_manager", "request_member", "request_confirmation", "revoke"}
)

# The requests view's keys (deciding, withdrawing, filing); the grants view keeps g, v, i.
REQUESTS_VIEW_ACTIONS = frozenset(
    {"approve", "reject", "withdraw", "request", "request_manager", "request_member"}
    | {"request_confirmation"}
)


def _cells(cells: tuple[str, ...]) -> tuple:
    return tuple(inert(c) for c in cells)


class AccessPane(Pane):
    """Dual-control org access and password check-out: what waits for me, what I asked
    for, and (g) the org's grants and holds."""

    LIST = "queue"
    NEEDS = dict.fromkeys(MSP_ADMIN_ACTIONS, MANAGE_ORGS)  # MSPOrg administrators only
    PALETTE_SKIP = frozenset({"show_requests"})  # g toggles: one palette entry
    BINDINGS = [
        Binding("y", "approve", "Approve", tooltip="Approve the request", id="approve"),
        Binding("x", "reject", "Reject", tooltip="Reject the request", id="reject"),
        Binding("q", "request", "Request", tooltip="Request org access", id="request-access"),
        Binding("w", "withdraw", "Withdraw", tooltip="Withdraw my pending request", id="withdraw"),
        Binding(
            "i",
            "check_in",
            "Check in",
            tooltip="Check in my held password (in Holds: force it)",
            id="check-in",
        ),
        Binding(
            "g",
            "toggle_view",
            "Grants",
            tooltip="Show the org's grants and holds, or the requests again",
            id="access-view",
        ),
        Binding(
            "g",
            "show_requests",
            "Requests",
            tooltip="Show the requests again",
            id="access-requests-view",
        ),
        Binding("v", "revoke", "Revoke", tooltip="Revoke org access", id="revoke-access"),
        Binding(
            "m",
            "request_manager",
            "Manager",
            tooltip="Request another account manager for an org",
            id="request-account-manager",
        ),
        Binding(
            "j",
            "request_member",
            "Join",
            tooltip="Request adding a user to an MSPOrg group",
            id="request-group-member",
        ),
        Binding(
            "c",
            "request_confirmation",
            "Confirm",
            tooltip="Request confirming a client org's first administrator",
            id="request-confirmation",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._queue: dict[str, dict] = {}
        self._mine: dict[str, dict] = {}
        self._holds: dict[str, dict] = {}
        self._grants: dict[str, str] = {}
        self._org_view = False

    def compose(self) -> ComposeResult:
        """The requests view (two queues in one list, my requests) and the org view."""
        with Vertical(id="requests-view"):
            yield Static("Waiting for my approval (y approve, x reject)", classes="section")
            queue = DataTable(id="queue", cursor_type="row")
            queue.add_columns("Org", "For", "Proposer", "Reason", "Expires")
            yield queue
            yield Static("My requests (w withdraw, i check in)", classes="section")
            mine = DataTable(id="mine", cursor_type="row")
            mine.add_columns("Org", "For", "Approver", "Status")
            yield mine
        with Vertical(id="org-view", classes="hidden"):
            yield Static("Grants", id="grants-title", classes="section")
            grants = DataTable(id="grants", cursor_type="row")
            grants.add_columns("Grant", "Role or members", "Granted")
            yield grants
            yield Static("Password holds", id="holds-title", classes="section")
            holds = DataTable(id="holds", cursor_type="row")
            holds.add_columns("Password", "Holder", "Reason", "Left")
            yield holds

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Each view shows only its keys (the grants view: g, v, i), and only the keys
        the user may use in the org (org access keys: ``manage_orgs``)."""
        if self._org_view and action in REQUESTS_VIEW_ACTIONS | {"toggle_view"}:
            return False
        if not self._org_view and action == "show_requests":
            return False
        return self.may_use(action)

    def on_mount(self) -> None:
        """Load the lists (when on show); keep the time left fresh while the pane is on
        show."""
        if self.is_shown():
            self.load()
        self.set_interval(30, self._tick)

    def _tick(self) -> None:
        if self.is_on_screen:
            self.load()

    def focus_list(self) -> None:
        """The first list of the view on show."""
        self.screen.set_focus(self.query_one("#grants" if self._org_view else "#queue", DataTable))

    def action_toggle_view(self) -> None:
        """Switch between the requests and the org's grants and holds."""
        self._org_view = not self._org_view
        self.query_one("#requests-view").set_class(self._org_view, "hidden")
        self.query_one("#org-view").set_class(not self._org_view, "hidden")
        self.refresh_bindings()
        self.load()
        self.focus_list()

    def action_show_requests(self) -> None:
        """Back from the grants and holds to the requests."""
        if self._org_view:
            self.action_toggle_view()
        else:
            self.focus_list()

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Reload the view on show."""
        if self._org_view:
            self.load_org_view()
        else:
            self.load_requests()

    @api_worker(exclusive=True, group="access")
    async def load_requests(self) -> None:
        """Org access requests for me to approve and mine (MSPOrg administrators only:
        ``manage_orgs``; nobody else is asked); the band org's check-outs."""
        client, org = self.app.client, self.org
        queue: list[dict] = []
        mine: list[dict] = []
        if MANAGE_ORGS in capabilities_in(self.app.me, None):
            try:
                queue = await client.access_requests("pending", "approver")
                mine = await client.access_requests(None, "proposer")
            except ApiError as error:
                if error.code != "forbidden":
                    self.app.show_error(error)
                queue, mine = [], []
        co_queue: list[dict] = []
        co_mine: list[dict] = []
        if org:
            try:
                co_queue = await client.password_requests(org, "approver", "pending")
                co_mine = await client.password_requests(org, "requester")
            except ApiError as error:
                if error.code not in ("forbidden", "not_found"):
                    self.app.show_error(error)
        self._queue = {f"{ORG_ACCESS}:{r['id']}": r for r in queue}
        self._queue |= {f"{CHECKOUT}:{r['id']}": r for r in co_queue}
        self._mine = {f"{ORG_ACCESS}:{r['id']}": r for r in mine}
        self._mine |= {f"{CHECKOUT}:{r['id']}": r for r in co_mine}
        org_name = org or ""
        fill_table(
            self.query_one("#queue", DataTable),
            [(f"{ORG_ACCESS}:{r['id']}", _cells(org_access.queue_row(r))) for r in queue]
            + [
                (f"{CHECKOUT}:{r['id']}", _cells(checkout.queue_row(r, org_name))) for r in co_queue
            ],
        )
        fill_table(
            self.query_one("#mine", DataTable),
            [(f"{CHECKOUT}:{r['id']}", _cells(checkout.mine_row(r, org_name))) for r in co_mine]
            + [(f"{ORG_ACCESS}:{r['id']}", _cells(org_access.mine_row(r))) for r in mine],
        )

    @api_worker(exclusive=True, group="access")
    async def load_org_view(self) -> None:
        """The band org's grants (MSP users and groups) and its password holds."""
        client, org = self.app.client, self.org or ""
        grants_title = self.query_one("#grants-title", Static)
        holds_title = self.query_one("#holds-title", Static)
        grant_rows: list[tuple[str, tuple]] = []
        self._grants = {}
        if org.lower() == "msporg":
            grants_title.update("Grants: MSPOrg needs none (pick a client org: Ctrl+O)")
        elif MANAGE_ORGS not in self.capabilities():  # the server's rule: require_msp_admin
            grants_title.update(inert(f"Grants of {org}: only MSPOrg administrators see them."))
        else:
            try:
                access = await client.access(org)
            except ApiError as error:
                grants_title.update(inert(f"Grants of {org}: {error.detail}"))
            else:
                grants_title.update(inert(f"Grants of {org} (v revoke)"))
                for u in access["users"]:
                    key = f"users:{u['username']}"
                    self._grants[key] = u["username"]
                    role = role_words(u["role"])
                    cells = (f"user {u['username']}", role, minute(u["granted_at"]))
                    grant_rows.append((key, cells))
                for g in access["groups"]:
                    key = f"groups:{g['name']}"
                    self._grants[key] = g["name"]
                    cells = (f"group {g['name']}", ", ".join(g["members"]), minute(g["granted_at"]))
                    grant_rows.append((key, cells))
        fill_table(
            self.query_one("#grants", DataTable),
            [(k, _cells((c[0], c[1], since(c[2])))) for k, c in grant_rows],
        )
        holds: list[dict] = []
        if ADMINISTER not in self.capabilities():  # the server's rule: is_administrator
            holds_title.update(
                inert(f"Password holds of {org}: only its administrators see who holds which.")
            )
        else:
            holds = await self._holds_of(org, holds_title)
        self._holds = {r["id"]: r for r in holds}
        fill_table(
            self.query_one("#holds", DataTable),
            [(r["id"], _cells(checkout.hold_row(r))) for r in holds],
        )

    async def _holds_of(self, org: str, holds_title: Static) -> list[dict]:
        """The org's password holds (asked of its administrators only), its title said."""
        try:
            holds = await self.app.client.password_holds(org) if org else []
        except ApiError as error:
            holds_title.update(inert(f"Password holds of {org}: {error.detail}"))
            holds = []
        else:
            holds_title.update(inert(f"Password holds of {org} (i force check-in)"))
        return holds

    # -- what the cursor is on -----------------------------------------------------------

    def _focused_table(self) -> str:
        focused = self.screen.focused
        return focused.id if isinstance(focused, DataTable) and focused.id else ""

    def _in(self, table: str, rows: dict[str, dict], empty: str) -> tuple[str, dict] | None:
        """(kind prefix, request) of the highlighted row of ``table``, or a notice."""
        key = self.selected(table) or ""
        request = rows.get(key)
        if request is None:
            self.app.notify(empty, severity="warning")
            return None
        return key.partition(":")[0], request

    def _from_queue(self) -> tuple[str, dict] | None:
        if self._org_view:
            self.action_toggle_view()
        return self._in("queue", self._queue, "Nothing is waiting for your approval.")

    def _from_mine(self) -> tuple[str, dict] | None:
        if self._org_view:
            self.action_toggle_view()
        return self._in("mine", self._mine, "You have no request here.")

    # -- deciding ----------------------------------------------------------------------------

    @api_worker()
    async def action_approve(self) -> None:
        """Approve the highlighted request: org access asks my password, check-out a note."""
        picked = self._from_queue()
        if picked is None:
            return
        kind, request = picked
        if kind == CHECKOUT:
            await checkout.approve(self, self.org or "", request)
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
            note=org_access.describe(request) + "\n\nApproving: " + org_access.effect(request),
            action="approve",
        )
        if result:
            self.changed("grants", "Approved: " + org_access.effect(request))

    @api_worker()
    async def action_reject(self) -> None:
        """Reject the highlighted request with a reason."""
        picked = self._from_queue()
        if picked is None:
            return
        kind, request = picked
        if kind == CHECKOUT:
            await checkout.reject(self, self.org or "", request)
            return
        client = self.app.client
        result = await self.form(
            "Reject org access",
            [Field("reason", "Reason", required=True)],
            lambda v: client.decide(request["id"], "reject", {"reason": v["reason"]}),
            note=org_access.describe(request),
            action="reject",
        )
        if result:
            self.changed("requests", "Rejected.")

    @api_worker()
    async def action_withdraw(self) -> None:
        """Withdraw my highlighted pending request (org access: with a reason)."""
        picked = self._from_mine()
        if picked is None:
            return
        kind, request = picked
        if kind == CHECKOUT:
            await checkout.withdraw(self, self.org or "", request)
            return
        if request["status"] != "pending":
            self.app.notify(
                f"Only a pending request can be withdrawn; this one is {request['status']}.",
                severity="warning",
            )
            return
        client = self.app.client
        result = await self.form(
            "Withdraw org access request",
            [Field("reason", "Reason (optional)")],
            lambda v: client.decide(request["id"], "cancel", {"reason": v["reason"]}),
            note=org_access.describe(request).replace("Proposed by", "Filed by"),
            action="withdraw",
        )
        if result:
            self.changed("requests", "Withdrawn.")

    @api_worker()
    async def action_check_in(self) -> None:
        """In Holds: force the highlighted check-in; elsewhere: check in my held password."""
        if self._org_view:
            hold = self._holds.get(self.selected("holds") or "")
            if hold is None:
                self.app.notify("Nobody holds a password here.", severity="warning")
                return
            await checkout.force_check_in(self, self.org or "", hold)
            return
        picked = self._from_mine()
        if picked is None:
            return
        kind, request = picked
        if kind != CHECKOUT:
            self.app.notify("Only a password check-out is checked in.", severity="warning")
            return
        await checkout.check_in(self, self.org or "", request)

    # -- filing --------------------------------------------------------------------------

    @api_worker()
    async def action_request(self) -> None:
        """Request org access: org and designee, then an eligible approver."""
        await org_access.request_grant(self)

    @api_worker()
    async def action_request_manager(self) -> None:
        """Request another account manager: org and user, then an eligible approver."""
        await org_access.request_account_manager(self)

    @api_worker()
    async def action_request_member(self) -> None:
        """Request a group member: MSPOrg group and user, then an eligible approver."""
        await org_access.request_group_member(self)

    @api_worker()
    async def action_request_confirmation(self) -> None:
        """Request a client user's confirmation: org, user, then an eligible approver."""
        await org_access.request_confirmation(self)

    # -- grants ----------------------------------------------------------------------------

    @api_worker()
    async def action_revoke(self) -> None:
        """Revoke a user's or group's access to an org (no approval needed); in the grants
        list the highlighted grant of the band org is the one proposed."""
        client = self.app.client
        highlighted = self.selected("grants") if self._org_view else None
        if highlighted and self.org:
            org = self.org  # the grants list shows the band org's grants
        else:
            selected = self.org if self.org and self.org.lower() != "msporg" else ""
            first = await self.form(
                "Revoke org access (1 of 2)",
                [
                    Field(
                        "org",
                        "Organization",
                        value=selected,
                        load=lambda: choices.client_orgs(client, managed_only=True),
                        required=True,
                    )
                ],
                action="next",
            )
            if not first:
                return
            org = first["org"]
        access = await client.access(org)
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
            f"Revoke org access to {org}" + ("" if highlighted else " (2 of 2)"),
            [Field("grant", "Grant", value=highlighted or "", choices=grants, required=True)],
            submit,
            note="No approval is needed to take access away.",
            action="revoke",
            danger=True,
        )
        if name:
            self.changed("grants", f"Access of {name} to {org} revoked.")
