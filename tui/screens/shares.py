"""Shares of an account, a resource or a resource group: list, add, change level, remove."""

from __future__ import annotations

from textual.binding import Binding

from tui.logic import choices
from tui.screens.form import Field
from tui.screens.listing import ListModal, confirm_field
from tui.workers import api_worker

KIND_NAMES = {"account": "account", "resource": "resource", "resource_group": "resource group"}


def grantee(share: dict, org: str = "") -> str:
    """'user carol', 'group ops', or 'user adm4@MSPOrg' for a user of another org."""
    if share.get("group"):
        return f"group {share['group']}"
    other = (share.get("user_org") or org).lower() != org.lower()
    return f"user {share['user']}" + (f"@{share['user_org']}" if other else "")


def grantee_body(target: str) -> dict:
    """A share target picked as 'user:NAME', 'group:NAME' or 'msp:NAME' → the API's fields."""
    kind, _, name = target.partition(":")
    if kind == "group":
        return {"group": name}
    return {"user": name} | ({"user_org": "MSPOrg"} if kind == "msp" else {})


class SharesScreen(ListModal):
    """Who a target is shared with, and at what level."""

    COLUMNS = ("With", "Permission")
    KEYS = [
        Binding("a", "add", "Add", tooltip="Share with a user or group", id="share-add"),
        Binding("l", "level", "Level", tooltip="Change the share's level", id="share-level"),
        Binding("x", "remove", "Remove", tooltip="Remove the share", id="share-remove"),
    ]

    def __init__(self, org: str, kind: str, ref: str, label: str) -> None:
        super().__init__()
        self.org, self.kind, self.ref, self.label = org, kind, ref, label
        self.items: dict[str, dict] = {}

    def heading(self) -> str:
        """'Shares of resource web01'."""
        return f"Shares of {KIND_NAMES[self.kind]} {self.label}"

    @api_worker("Cannot list the shares", exclusive=True, group="shares")
    async def load(self) -> None:
        """Fetch the shares."""
        items = await self.app.client.shares(self.org, self.kind, self.ref)
        self.items = {s["id"]: s for s in items}
        self.fill(
            [(s["id"], (grantee(s, self.org), s["permission"])) for s in items],
            "Not shared with anyone yet (a: share)." if not items else "",
        )

    @api_worker()
    async def action_add(self) -> None:
        """Share with a user or group picked from the org's, at a picked level."""
        client = self.app.client
        org = self.org

        async def submit(v: dict) -> dict:
            body = grantee_body(v["target"]) | {"permission": v["permission"] or "view"}
            return await client.add_share(self.org, self.kind, self.ref, body)

        done = await self.form(
            f"Share {self.label}",
            [
                Field(
                    "target",
                    "With",
                    load=lambda: choices.share_targets(client, org),  # the form opens at once
                    required=True,
                    api_names=("user", "group", "user_org"),
                ),
                Field("permission", "Permission", value="view", choices=choices.PERMISSIONS),
            ],
            submit,
            action="share",
        )
        if done:
            note = f": {done['note']}" if done.get("note") else "."
            self.app.notify(f"Shared with {grantee(done, self.org)} ({done['permission']}){note}")
            self.load()

    @api_worker()
    async def action_level(self) -> None:
        """Give the highlighted share another level (view, modify, full)."""
        share = self.items.get(self.selected() or "")
        if share is None:
            return
        client = self.app.client
        body = (
            {"group": share["group"]}
            if share.get("group")
            else {"user": share["user"], "user_org": share["user_org"] or self.org}
        )
        done = await self.form(
            f"Level of {grantee(share, self.org)} on {self.label}",
            [
                Field(
                    "permission",
                    "Permission",
                    value=share["permission"],
                    choices=choices.PERMISSIONS,
                    required=True,
                )
            ],
            lambda v: client.add_share(
                self.org, self.kind, self.ref, body | {"permission": v["permission"]}
            ),
        )
        if done:
            self.app.notify(f"{grantee(done, self.org)} now has {done['permission']}.")
            self.load()

    @api_worker()
    async def action_remove(self) -> None:
        """Withdraw the highlighted share (asks first)."""
        share = self.items.get(self.selected() or "")
        if share is None:
            return
        client = self.app.client

        async def submit(_v: dict) -> bool:
            await client.remove_share(self.org, self.kind, self.ref, share["id"])
            return True

        done = await self.form(
            f"Remove the share of {self.label} with {grantee(share, self.org)}?",
            [confirm_field()],
            submit,
            action="remove",
            danger=True,
        )
        if done:
            self.app.notify(f"No longer shared with {grantee(share, self.org)}.")
            self.load()
