"""Resource groups of an org: create, add and remove resources, their shares, and the
rotation schedule their resources' accounts inherit (issue 29).

Resources are added one at a time with a picker (repeat ``a`` for more); the group's
shares open the same shares dialog as a resource's.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.client import ApiError
from tui.screens.form import Field, refusal, typed_confirmation
from tui.screens.listing import ListModal
from tui.screens.shares import SharesScreen
from tui.text import inert
from tui.workers import api_worker

EXTENDS = "shares_would_extend"


def extension_sentence(error: ApiError) -> str:
    """The server's 409 ``shares_would_extend`` in one sentence: 'This gives alice (full),
    ops (view) access to web01, db02.' (its detail when the names are missing)."""
    shares = error.body.get("shares") or []
    resources = error.body.get("resources") or []
    if not shares or not resources:
        return error.detail
    who = ", ".join(f"{s.get('user') or s.get('group')} ({s.get('permission')})" for s in shares)
    return f"This gives {who} access to {', '.join(resources)}."


class ExtendSharesModal(ModalScreen[bool]):
    """Asks whether the group's shares may reach the resources being added: y or n (Esc)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Extend", id="extend-yes"),
        Binding("n", "answer(False)", "Keep", id="extend-no"),
        Binding("escape", "answer(False)", "Keep", id="extend-escape"),
    ]

    def __init__(self, group: str, sentence: str) -> None:
        super().__init__()
        self._group, self._sentence = group, sentence

    def compose(self) -> ComposeResult:
        """Title, what would be given, the keys."""
        with Vertical(classes="dialog danger"):
            yield Static(inert(f"Resource group {self._group} is shared"), classes="dialog-title")
            yield Static(inert(f"{self._sentence} Extend? y/n"), id="extend-sentence")
            yield Static("y: extend the shares   n or Esc: add nothing", classes="dialog-keys")

    def action_answer(self, extend: bool) -> None:
        """Close with the answer."""
        self.dismiss(extend)


def schedule_words(schedule: dict | None) -> str:
    """A group's rotation schedule in a few words: 'every 30 d, verify 12 h' ('—': none)."""
    if not schedule:
        return "—"
    parts = []
    if schedule.get("rotate_every_days"):
        parts.append(f"every {schedule['rotate_every_days']} d")
    if schedule.get("verify_every_hours"):
        parts.append(f"verify {schedule['verify_every_hours']} h")
    return ", ".join(parts) or "—"


def _whole_or_blank(value: str) -> str | None:
    return None if not value.strip() or value.strip().isdigit() else "a whole number, or blank"


class ResourceGroupsScreen(ListModal):
    """The org's resource groups and their resources."""

    COLUMNS = ("Group", "Resources", "Rotation")
    KEYS = [
        Binding("n", "new", "New", tooltip="New resource group", id="group-new"),
        Binding("a", "add", "Add", tooltip="Add a resource to the group", id="group-add"),
        Binding("x", "remove", "Remove", tooltip="Take a resource out", id="group-remove"),
        Binding("s", "shares", "Shares", tooltip="Shares of the group", id="group-shares"),
        Binding("d", "delete", "Delete", tooltip="Delete the group", id="group-delete"),
        Binding(
            "t",
            "schedule",
            "Schedule",
            tooltip="Rotation schedule of the group",
            id="group-schedule",
        ),
    ]

    def __init__(self, org: str) -> None:
        super().__init__()
        self.org = org
        self.groups: dict[str, dict] = {}

    def heading(self) -> str:
        """'Resource groups of acme'."""
        return f"Resource groups of {self.org}"

    @api_worker("Cannot list the resource groups", exclusive=True, group="resource-groups")
    async def load(self) -> None:
        """Fetch the groups."""
        items = await self.app.client.resource_groups(self.org)
        self.groups = {g["name"]: g for g in items}
        self.fill(
            [
                (
                    g["name"],
                    (
                        g["name"],
                        ", ".join(r["name"] for r in g["resources"]) or "—",
                        schedule_words(g.get("rotation_schedule")),
                    ),
                )
                for g in items
            ],
            "No resource group yet (n: new)." if not items else "",
        )

    async def _resources(self) -> list[tuple[str, str]] | None:
        """(name, id) of the resources I may see, or None after an error."""
        try:
            return [(r["name"], r["id"]) for r in await self.app.client.resources(self.org)]
        except ApiError as error:
            self.app.show_error(error)
            return None

    async def _save(self, name: str, resources: list[str], exists: bool) -> dict:
        """Save; when the group's shares would reach what is added (409
        ``shares_would_extend``), say to whom and ask, then send again with
        ``extend_shares`` (no: nothing is saved, and the form says so)."""
        client = self.app.client
        try:
            return await client.save_resource_group(self.org, name, resources, exists)
        except ApiError as error:
            if error.code != EXTENDS:
                raise
            sentence = extension_sentence(error)
            if not await self.app.push_screen_wait(ExtendSharesModal(name, sentence)):
                raise refusal("resource", f"Not added: {sentence}") from None
        return await client.save_resource_group(
            self.org, name, resources, exists, extend_shares=True
        )

    @api_worker()
    async def action_new(self) -> None:
        """A new group with a name and, optionally, a first resource."""
        resources = await self._resources()
        if resources is None:
            return
        done = await self.form(
            "New resource group",
            [
                Field("name", "Name", required=True),
                Field("resource", "First resource (optional)", choices=resources),
            ],
            lambda v: self._save(v["name"], [v["resource"]] if v["resource"] else [], False),
            action="create",
        )
        if done:
            self.app.notify(f"Resource group {done['name']} created.")
            self.load()

    def _group(self) -> dict | None:
        return self.groups.get(self.selected() or "")

    @api_worker()
    async def action_add(self) -> None:
        """Add one resource (picked among those not in the group yet)."""
        group = self._group()
        resources = await self._resources() if group else None
        if group is None or resources is None:
            return
        members = [r["id"] for r in group["resources"]]
        offered = [(n, i) for n, i in resources if i not in members]
        if not offered:
            self.app.notify("Every resource you see is in the group already.", severity="warning")
            return
        done = await self.form(
            f"Add a resource to {group['name']}",
            [Field("resource", "Resource", choices=offered, required=True)],
            lambda v: self._save(group["name"], [*members, v["resource"]], True),
            action="add",
        )
        if done:
            self.app.notify(f"Resource group {done['name']} has {len(done['resources'])}.")
            self.load()

    @api_worker()
    async def action_remove(self) -> None:
        """Take one resource (picked among the group's) out of the group."""
        group = self._group()
        if group is None:
            return
        members = [(r["name"], r["id"]) for r in group["resources"]]
        if not members:
            self.app.notify(f"{group['name']} has no resources.", severity="warning")
            return
        done = await self.form(
            f"Take a resource out of {group['name']}",
            [Field("resource", "Resource", choices=members, required=True)],
            lambda v: self._save(
                group["name"], [i for _n, i in members if i != v["resource"]], True
            ),
            action="remove",
        )
        if done:
            self.app.notify(f"Resource group {done['name']} has {len(done['resources'])}.")
            self.load()

    def action_shares(self) -> None:
        """The group's shares: list, add, change level, remove."""
        group = self._group()
        if group is not None:
            self.app.push_screen(
                SharesScreen(self.org, "resource_group", group["name"], group["name"])
            )

    @api_worker()
    async def action_delete(self) -> None:
        """Delete the highlighted group (type its name first); its resources stay."""
        group = self._group()
        if group is None:
            return
        name = group["name"]

        async def submit(_v: dict) -> bool:
            await self.app.client.delete_resource_group(self.org, name)
            return True

        if await self.form(
            f"Delete resource group {name}?",
            [typed_confirmation(name, f"Type {name} to delete it (Esc keeps it)")],
            submit,
            note="Its resources stay; the shares of the group end with it.",
            action="delete",
            danger=True,
        ):
            self.app.notify(f"Resource group {name} deleted.")
            self.load()

    @api_worker("Schedule not saved")
    async def action_schedule(self) -> None:
        """Rotate every N days and verify every N hours, for the accounts of the group's
        resources that set neither themselves nor through their resource (blank: none)."""
        group = self._group()
        if group is None:
            return
        name = group["name"]
        current = group.get("rotation_schedule") or {}

        def number(value: str) -> int | None:
            return int(value) if value.strip() else None

        async def submit(values: dict) -> dict:
            body = {
                "rotate_every_days": number(values["rotate_every_days"]),
                "verify_every_hours": number(values["verify_every_hours"]),
            }
            for field, value in body.items():
                if value == 0:
                    raise refusal(field, "at least 1, or blank")
            return await self.app.client.set_rotation_schedule(
                self.org, "resource_group", name, body
            )

        saved = await self.form(
            f"Rotation schedule of resource group {name}",
            [
                Field(
                    "rotate_every_days",
                    "Rotate every (days)",
                    value=str(current.get("rotate_every_days") or ""),
                    check=_whole_or_blank,
                ),
                Field(
                    "verify_every_hours",
                    "Verify every (hours)",
                    value=str(current.get("verify_every_hours") or ""),
                    check=_whole_or_blank,
                ),
            ],
            submit,
            note="Its resources' accounts inherit it field by field, unless the account or "
            "its resource sets its own. Blank: none. Runs on the primary.",
        )
        if saved:
            parts = [
                f"passwords rotated every {saved['rotate_every_days']} days"
                if saved["rotate_every_days"]
                else "",
                f"verified every {saved['verify_every_hours']} hours"
                if saved["verify_every_hours"]
                else "",
            ]
            said = " and ".join(p for p in parts if p) or "no rotation schedule"
            self.app.notify(f"Resource group {name}: {said}.")
            self.load()
