"""The organizations pane: list with search, add, edit, import, delete, report."""

from __future__ import annotations

import asyncio

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input

from server.core.names import display_name_problem  # shared plain rule, no server code
from server.core.permissions import MANAGE_ORGS  # shared plain data
from tui.client import ApiError
from tui.controls.table import fill_table
from tui.logic import choices
from tui.logic.org_report import deletion_lines, report_lines
from tui.logic.times import local_moment
from tui.screens.deleted_orgs import DeletedOrgsScreen
from tui.screens.form import Field, refusal, typed_confirmation
from tui.screens.modals import TextModal
from tui.screens.org_import import FileProblem, ImportScreen, flagged, flagged_text, read
from tui.text import inert
from tui.widgets.pane import Pane
from tui.workers import api_worker

REVEAL_REASON: choices.Choices = [
    ("no: a reveal needs no reason", "no"),
    ("yes: every reveal asks why", "yes"),
]
NAME_RULE = "one word of letters and digits, at most 64 characters"
MANAGER_NEEDS_REQUEST = (
    "a change of account manager needs a second administrator: file it from Access (F4), m"
)


def org_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be an org's display name (a sentence that fits the form at 80
    columns), or None."""
    problem = display_name_problem(value)
    return NAME_RULE if problem and problem.startswith("must be one word") else problem


def detail_fields(org: dict) -> list[Field]:
    """Description, department and location, filled from ``org``."""
    return [
        Field("description", "Description", value=org.get("description") or ""),
        Field("department", "Department", value=org.get("department") or ""),
        Field("location", "Location", value=org.get("location") or ""),
    ]


def control_fields(org: dict) -> list[Field]:
    """Vault control and whether a reveal needs a reason, filled from ``org``."""
    return [
        Field(
            "vault_control",
            "Who adds resources",
            value=org.get("vault_control") or "both",
            choices=choices.VAULT_CONTROL,
        ),
        Field(
            "require_reveal_reason",
            "Reveal reason required",
            value="yes" if org.get("require_reveal_reason") else "no",
            choices=REVEAL_REASON,
        ),
    ]


FIELD_OF_CONFLICT = {  # a server refusal without a field, shown under the field it is about
    "display_name_taken": "display_name",
    "vault_control_locked": "vault_control",
}


def in_place(error: ApiError) -> ApiError:
    """The server's refusal, moved under the field it is about when it names none."""
    if error.code == "dual_control_required":
        return refusal("account_manager", MANAGER_NEEDS_REQUEST)
    if error.code in FIELD_OF_CONFLICT:
        return refusal(FIELD_OF_CONFLICT[error.code], error.detail)
    return error


def manager_cell(org: dict, named: dict[str, str]) -> str:
    """The Account manager column: the org's, the one I named when I created it this
    session (the list leaves it out for an org I do not manage), or 'another user' for
    such an org; '—' only when the org has none."""
    if org.get("account_manager"):
        return org["account_manager"]
    if named.get(org["display_name"]):
        return named[org["display_name"]]
    return "another user" if "account_manager" not in org and not org.get("is_msp") else "—"


def changes_of(values: dict[str, str], org: dict) -> dict:
    """The fields of a submitted form that differ from ``org`` (the PATCH body)."""
    out: dict = {}
    for key, value in values.items():
        if key == "require_reveal_reason":
            flag = value == "yes"
            if flag != bool(org.get(key)):
                out[key] = flag
        elif value != (org.get(key) or ""):
            out[key] = value
    return out


class OrgsPane(Pane):
    """Client organizations (MSPOrg administrators)."""

    LIST = "orgs-table"
    # The list's key bar, most used first (F1 lists every key; Import is there).
    BAR = {
        "orgs-table": (
            "new_org",
            "edit_org",
            "delete_org",
            "report",
            "deleted_orgs",
            "search",
            "import_orgs",
        )
    }
    # Making, changing, deleting and importing orgs is for MSPOrg administrators (GET /me's
    # manage_orgs); others see the orgs they may look at and their reports.
    NEEDS = {
        "new_org": MANAGE_ORGS,
        "edit_org": MANAGE_ORGS,
        "delete_org": MANAGE_ORGS,
        "import_orgs": MANAGE_ORGS,
        "deleted_orgs": MANAGE_ORGS,
    }
    BINDINGS = [
        Binding("n", "new_org", "New", tooltip="New org", id="new-org"),
        Binding("e", "edit_org", "Edit", tooltip="Edit the org", id="edit-org"),
        Binding("d", "delete_org", "Delete", tooltip="Delete the org", id="delete-org"),
        Binding("p", "report", "Report", tooltip="Org report", id="org-report"),
        Binding("i", "import_orgs", "Import", tooltip="Import orgs from a file", id="import-orgs"),
        Binding(
            "r",
            "deleted_orgs",
            "Deleted",
            tooltip="Deleted orgs: restore, or purge with a second administrator",
            id="deleted-orgs",
        ),
        Binding("slash", "search", "Search", tooltip="Search orgs", id="orgs-search"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._orgs: list[dict] = []
        self._named: dict[str, str] = {}  # display name → the account manager I named

    def compose(self) -> ComposeResult:
        """Search box and the table."""
        yield Input(placeholder="search organizations (/)", id="orgs-q", compact=True)
        table = DataTable(id="orgs-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Org", "Name", "Account manager", "Vault", "Managed")
        yield table

    def on_mount(self) -> None:
        """Load the list."""
        self.load()

    @api_worker(exclusive=True, group="orgs")
    async def load(self) -> None:
        """Fetch the organizations I may see; an answer that did not change redraws
        nothing (a tab switch reloads it, issue 35 item 8)."""
        orgs = await self.app.client.orgs()
        shown = getattr(self.query_one("#orgs-table", DataTable), "shown_rows", None)
        if orgs == self._orgs and shown is not None:
            return
        self._orgs = orgs
        self.fill()

    @on(Input.Changed, "#orgs-q")
    def fill(self) -> None:
        """Show the orgs matching the search."""
        query = self.query_one("#orgs-q", Input).value.lower()
        rows = []
        for o in self._orgs:
            text = f"{o['display_name']} {o['name']} {o.get('account_manager') or ''}".lower()
            if query and query not in text:
                continue
            cells = (
                inert(o["display_name"]),
                inert(o["name"]),
                inert(manager_cell(o, self._named)),
                o.get("vault_control") or "",
                "yes" if o.get("managed") else "",
            )
            rows.append((o["display_name"], cells))
        fill_table(self.query_one("#orgs-table", DataTable), rows)

    @on(Input.Submitted, "#orgs-q")
    def search_done(self) -> None:
        """Enter in the search box goes to the results."""
        self.focus_list()

    def _current(self) -> dict | None:
        """The highlighted org if I manage it or hold a grant for it (else a warning)."""
        org = self.selected()
        found = next((o for o in self._orgs if o["display_name"] == org), None)
        if found is None:
            self.app.notify("Select an organization first.", severity="warning")
        elif not found["is_msp"] and not found.get("managed"):
            self.app.notify(
                f"You neither manage {org} nor hold a grant for it: request access from "
                "Access (F4), q.",
                severity="warning",
            )
            return None
        return found

    def action_search(self) -> None:
        """Jump to the search box."""
        self.screen.set_focus(self.query_one("#orgs-q", Input))

    @api_worker()
    async def action_new_org(self) -> None:
        """Add a client org with every field; the display name is checked as it is typed."""
        client = self.app.client
        blank = {"vault_control": "both"}
        fields = [
            Field("name", "Full name (e.g. Acme Corporation)", required=True),
            Field(
                "display_name",
                "Display name: one word, used in logins and URLs (e.g. acme)",
                required=True,
                check=org_name_problem,
            ),
            Field(
                "account_manager",
                "Account manager",
                value=self.app.me.get("username", ""),
                load=lambda: choices.account_managers(client),  # the form opens at once
                required=True,
            ),
            *control_fields(blank),
            *detail_fields(blank),
        ]

        async def create(values: dict[str, str]) -> dict:
            body: dict = {k: v for k, v in values.items() if v and k != "require_reveal_reason"}
            # In the create itself: a later PATCH is refused for an org made for another
            # account manager, after the org exists (newcomer pass 11).
            body["require_reveal_reason"] = values["require_reveal_reason"] == "yes"
            try:
                return await client.create_org(body)
            except ApiError as error:
                raise in_place(error) from None

        result = await self.form("New organization", fields, create, action="create")
        if result:
            # The list names the account manager of orgs I manage only: keep the one I
            # named for an org I made for someone else (issue 35).
            self._named[result["display_name"]] = result.get("account_manager") or ""
            self.changed("orgs", f"Organization {result['display_name']} created.")

    @api_worker()
    async def action_edit_org(self) -> None:
        """Edit every field of the selected org. A new account manager is a dual-control
        request (filed from Access): the server's refusal says so under the field."""
        current = self._current()
        if current is None:
            return
        org, client = current["display_name"], self.app.client
        fields = control_fields(current) + detail_fields(current)  # the order of New
        if not current["is_msp"]:  # MSPOrg keeps its names and has no account manager
            fields = [
                Field(
                    "name",
                    "Full name (e.g. Acme Corporation)",
                    value=current["name"],
                    required=True,
                ),
                Field(
                    "display_name",
                    "Display name: one word, used in logins and URLs (e.g. acme)",
                    value=org,
                    required=True,
                    check=org_name_problem,
                ),
                Field(
                    "account_manager",
                    "Account manager (a change needs a second administrator)",
                    value=current.get("account_manager") or "",
                    load=lambda: choices.account_managers(client),  # the form opens at once
                ),
                *fields,
            ]

        async def submit(values: dict[str, str]) -> dict:
            changes = changes_of(values, current)
            if not changes:
                return current
            try:
                return await client.update_org(org, changes)
            except ApiError as error:
                raise in_place(error) from None

        result = await self.form(f"Edit {org}", fields, submit)
        if result:
            self.changed("orgs", f"{result['display_name']} saved.")

    @api_worker("Cannot delete")
    async def action_delete_org(self) -> None:
        """Show what deleting the selected org takes with it, then delete it once its
        display name is typed."""
        current = self._current()
        if current is None:
            return
        org, client = current["display_name"], self.app.client
        if current["is_msp"]:
            self.app.notify("MSPOrg cannot be deleted.", severity="warning")
            return
        report = await client.org_report(org)
        preview = await client.delete_preview(org)
        result = await self.form(
            f"Delete {org}",
            [typed_confirmation(org, problem="does not match the org's name")],
            lambda v: client.delete_org(org, v["confirm"]),
            note="\n".join(deletion_lines(current, report, preview)),
            action="delete",
            danger=True,
        )
        if result:
            d = result["deleted"]
            self.changed(
                "orgs",
                f"Deleted {org}: {d['users']} users, {d['groups']} groups, "
                f"{d['resources']} resources, {d['accounts']} accounts; restorable until "
                f"{local_moment(result['purge_at'])}.",
            )

    @api_worker()
    async def action_import_orgs(self) -> None:
        """Import from a CSV/TXT file: read and preview it, then send it in chunks with a
        progress bar and each row's outcome (tui/screens/org_import.py)."""

        async def load(values: dict[str, str]):
            try:
                return await asyncio.to_thread(read, values["path"])
            except FileProblem as problem:
                raise refusal("path", str(problem)) from None

        file = await self.form(
            "Import organizations",
            [Field("path", "File (.csv or .txt)", placeholder="/path/to/orgs.csv", required=True)],
            load,
            note="One org a line: name, display_name, description, account_manager, "
            "department, location (or a header row naming the columns).",
            action="preview",
        )
        if not file:
            return
        existing = {o["display_name"].lower() for o in await self.app.client.orgs()}
        refused = flagged_text(flagged(file, existing))
        go = await self.form(
            f"Import {file.path.name}?",
            [typed_confirmation("import", "Type import to go ahead", "type the word import")],
            note=file.summary() + "\n\n" + file.preview() + ("\n\n" + refused if refused else ""),
            action="import",
            wide=True,
        )
        if not go:
            return
        created = await self.app.push_screen_wait(ImportScreen(file))
        self.changed("orgs", f"{created:,} organizations imported." if created else "")

    @api_worker("No report")
    async def action_report(self) -> None:
        """The selected org's report: its details, users, groups, who at the MSP reaches
        it and through what, and the requests waiting."""
        current = self._current()
        if current is None:
            return
        org = current["display_name"]
        report = await self.app.client.org_report(org)
        await self.app.push_screen_wait(TextModal(f"Report: {org}", report_lines(current, report)))

    def action_deleted_orgs(self) -> None:
        """The deleted orgs in their recovery window (restore, purge request); the list
        reloads on return (a restored org is back)."""
        self.app.push_screen(DeletedOrgsScreen(), lambda _result: self.load())
