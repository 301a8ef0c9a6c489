"""The top band's '2 to approve': org access and check-out requests waiting for me."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Static

from server.core.permissions import MANAGE_ORGS  # shared plain data
from tui.client import ApiError
from tui.tabs import capabilities_in
from tui.workers import api_worker


class ApprovalCount(Static):
    """How many requests wait for my decision: org access requests (all orgs) plus
    check-out requests of the org in the band. Hidden at zero; recounted every 10 s,
    when the org changes and when the main screen says data changed."""

    DEFAULT_CSS = "ApprovalCount { width: auto; padding: 0 1; color: $warning; text-style: bold; }"

    org: reactive[str | None] = reactive(None)

    def on_mount(self) -> None:
        """Hidden until something waits; recount with the server state's rhythm."""
        self.display = False
        self.set_interval(10, self.recount)

    def watch_org(self, org: str | None) -> None:
        """Another org in the band: its check-outs count now."""
        if org:
            self.recount()

    @api_worker(exclusive=True, group="approval-count")
    async def recount(self) -> None:
        """Ask the server how many pending requests name me as a possible approver."""
        client = self.app.client
        waiting = 0
        if MANAGE_ORGS in capabilities_in(self.app.me, None):  # others: refused, recorded
            try:
                waiting += len(await client.access_requests("pending", "approver"))
            except ApiError:
                pass
        if self.org:
            try:
                waiting += len(await client.password_requests(self.org, "approver", "pending"))
            except ApiError:
                pass  # the org is not mine to see: nothing to decide there
        self.update(f"{waiting} to approve" if waiting else "")
        self.display = bool(waiting)
