"""The rotation report of an org (issue 29, item 4): the accounts whose last verification
or last change on the target failed, and the passwords older than their policy's maximum
age, one row each, the reason said in words. v verifies the highlighted account again."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tui.client import ApiError
from tui.logic.times import local_minute
from tui.screens.listing import ListModal
from tui.text import inert
from tui.workers import api_worker


def _count(items: list, noun: str) -> str:
    """'1 failed change', '2 failed changes'."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _when(stamp: str | None) -> str:
    """A time the server sent, as this terminal's local time (as the audit list shows it)."""
    return local_minute(stamp)


def report_rows(
    report: Mapping[str, list[dict]], words: Callable[[str], str]
) -> list[tuple[str, tuple[str, str, str]]]:
    """The report as (row key, (account, problem, since)) rows: failed verifications,
    then failed changes, then passwords past their maximum age. ``words`` turns a stored
    reason (``code`` or ``code: message``) into a sentence."""
    rows = []
    for item in report.get("failed_verifications", []):
        rows.append(
            (
                f"verify:{item['id']}",
                (
                    f"{item['resource']}/{item['account']}",
                    f"verification failed: {words(item.get('reason') or '')}",
                    _when(item.get("at")),
                ),
            )
        )
    for item in report.get("failed_changes", []):
        rows.append(
            (
                f"change:{item['id']}",
                (
                    f"{item['resource']}/{item['account']}",
                    f"change failed: {words(item.get('reason') or '')}",
                    _when(item.get("at")),
                ),
            )
        )
    for item in report.get("over_age", []):
        rows.append(
            (
                f"age:{item['id']}",
                (
                    f"{item['resource']}/{item['account']}",
                    f"{item['age_days']} days old (its policy: at most {item['max_age_days']})",
                    "",
                ),
            )
        )
    return rows


class RotationReportScreen(ListModal):
    """Accounts to look at: verification or change failed, or password past its age."""

    COLUMNS = ("Account", "Problem", "Since")
    CUT = (1,)  # a long problem is cut with '…' (it was clipped: newcomer pass, session 9)
    KEYS = [
        Binding("v", "verify", "Verify", tooltip="Verify the account again", id="report-verify"),
    ]

    def __init__(self, org: str, words: Callable[[str], str]) -> None:
        super().__init__()
        self.org = org
        self.words = words

    def heading(self) -> str:
        """'Rotation report of acme'."""
        return f"Rotation report of {self.org}"

    @api_worker("Cannot show the rotation report", exclusive=True, group="rotation-report")
    async def load(self) -> None:
        """Fetch the report."""
        report = await self.app.client.rotation_report(self.org)
        rows = report_rows(report, self.words)
        counts = (
            f"{_count(report['failed_verifications'], 'failed verification')}, "
            f"{_count(report['failed_changes'], 'failed change')}, "
            f"{len(report['over_age'])} past their maximum age."
        )
        self._counts = "Nothing to look at: every password is fine." if not rows else counts
        self.fill(rows, self._counts)
        self._say_whole()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The position under the list, and the highlighted row's whole problem under the
        counts when the list cuts it."""
        super().on_data_table_row_highlighted(event)
        self._say_whole()

    def _say_whole(self) -> None:
        table = self.query_one("#items", DataTable)
        full = getattr(table, "full_cells", {})
        lines = [inert(getattr(self, "_counts", ""))]
        if table.row_count:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
            cells = full.get(key)
            shown = str(table.get_row(key)[1]) if key is not None else ""
            if cells is not None and str(cells[1]) != shown:
                lines.append(inert(f"{cells[0]}: {cells[1]}"))
        # Each line made inert on its own, then joined by real line breaks (never a '␊').
        self.query_one("#list-note", Static).update(Text("\n").join(lines))

    @api_worker("Not verified")
    async def action_verify(self) -> None:
        """Log in to the target with the highlighted account's password now, say the
        outcome in words and reload the report."""
        key = self.selected()
        if key is None:
            return
        account = key.split(":", 1)[1]
        table = self.query_one("#items")
        name = str(table.get_row(key)[0])  # type: ignore[attr-defined]
        self.app.notify(f"Logging in to the target as {name}…")
        try:
            result = await self.app.client.verify_on_target(self.org, account)
        except ApiError as error:
            self.app.show_error(error, "Not verified")
            return
        if result["ok"]:
            self.app.notify(f"{name} logs in to its target with the vault's password.")
        else:
            self.app.notify(
                f"{name} does not log in to its target: {self.words(result.get('reason') or '')}.",
                title="Verification failed",
                severity="error",
            )
        self.load()
