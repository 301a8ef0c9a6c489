"""The TUI read without colour (NO_COLOR, a monochrome terminal, a colour-blind
administrator, a screen reader of the text; newcomer pass, session 11): the focused list's
cursor row, an open picker's highlighted choice and a focused checklist's highlighted row
are marked in the drawn text; a field's hint reads as a hint; a toast over a dialog leaves
its key line and bottom border in view. Driven by keys, read from what the screen draws (no
server needed: host apps styled as the app is)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input

import tui.app
from tests.tui.conftest import type_text, until
from tests.tui.keys import drawn, typed
from tui.app import StrongroomApp
from tui.controls.hints import HINT_CLOSE, HINT_OPEN, inputs_show_hints
from tui.controls.picker import HIGHLIGHT_MARK
from tui.controls.table import CURSOR_MARK, fill_table, mark_cursor_rows
from tui.screens.field_definitions import definition_fields
from tui.screens.form import FOCUS_MARK, FormModal
from tui.screens.roles import new_role_fields

CSS = [Path(tui.app.__file__).parent / path for path in StrongroomApp.CSS_PATH]
ARROW = HIGHLIGHT_MARK.strip()


class Host(App):
    """Styled as the app; the app's drawing without colour installed as the app does."""

    CSS_PATH = CSS

    def __init__(self) -> None:
        super().__init__()
        mark_cursor_rows()
        inputs_show_hints()


class ListsHost(Host):
    """Two lists, as a tab shows them (the vault's resources and accounts)."""

    def compose(self) -> ComposeResult:
        yield DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="accounts", cursor_type="row")

    def on_mount(self) -> None:
        for table, name in zip(self.query(DataTable), ("Resource", "Account"), strict=True):
            table.add_columns(name, "Type", "Where")
            fill_table(
                table, [(f"{name}{i}", (f"{name}-{i}", "Linux", "rack 1")) for i in range(4)]
            )
        self.query_one("#resources").focus()


class FormHost(Host):
    """An app that opens one form."""

    def __init__(self, form: FormModal) -> None:
        super().__init__()
        self.form = form

    def on_mount(self) -> None:
        self.push_screen(self.form)


def row_lines(table: DataTable) -> list[str]:
    """A list's row lines as drawn, its left bar and the header left out."""
    return [line[1:] for line in drawn(table).splitlines()[1 : 1 + table.row_count]]


async def test_the_focused_lists_cursor_row_alone_starts_with_the_mark() -> None:
    """Down moves the mark with the cursor; Tab to the other list moves it there (the list
    left keeps its cursor, unmarked); the columns stay where they were."""
    app = ListsHost()
    async with app.run_test(size=(80, 24)) as pilot:
        resources, accounts = app.query(DataTable)

        def marked(table: DataTable) -> list[int]:
            return [i for i, line in enumerate(row_lines(table)) if line.startswith(CURSOR_MARK)]

        await until(pilot, lambda: marked(resources) == [0], what="(first row marked)")
        assert marked(accounts) == []
        unmarked = row_lines(resources)[1]
        await pilot.press("down")
        await until(pilot, lambda: marked(resources) == [1], what="(mark on the second row)")
        lines = row_lines(resources)
        # The mark takes the first cell's padding: every column stays in its place.
        assert lines[1] == CURSOR_MARK + unmarked[1:]
        assert [line.index("Linux") for line in lines] == [lines[0].index("Linux")] * 4
        assert all(line.startswith(" ") for i, line in enumerate(lines) if i != 1)
        await pilot.press("tab")
        await until(pilot, lambda: marked(accounts) == [0], what="(mark on the other list)")
        assert marked(resources) == []
        assert resources.cursor_row == 1


async def test_without_colour_the_cursor_row_is_reversed(monkeypatch) -> None:
    """NO_COLOR=1: the focused list's cursor row is drawn reversed (and bold) as well as
    marked, the other rows are not."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = ListsHost()
    async with app.run_test(size=(80, 24)) as pilot:
        resources = app.query_one("#resources", DataTable)
        await until(pilot, lambda: row_lines(resources)[0].startswith(CURSOR_MARK))
        strips = app.screen._compositor.render_strips()
        top = resources.region.y + 1  # below the header
        reversed_rows = [
            i
            for i in range(resources.row_count)
            if any(s.style and s.style.reverse and s.text.strip() for s in strips[top + i])
        ]
        assert reversed_rows == [0]


def reversed_lines(app: App) -> list[str]:
    """The screen's lines drawn with reversed text in them, as text."""
    strips = app.screen._compositor.render_strips()
    return [
        strip.text.strip("│ ")
        for strip in strips
        if any(s.style and s.style.reverse and s.text.strip() for s in strip)
    ]


async def test_without_colour_a_pickers_and_a_checklists_highlight_is_reversed(
    monkeypatch,
) -> None:
    """NO_COLOR=1: an open picker's highlighted choice and a focused checklist's row are
    drawn reversed as well as marked, and only they."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = FormHost(FormModal("New field", definition_fields(["Linux", "Windows"])))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("tab", "space", "down")
        await until(
            pilot,
            lambda: [line.rstrip() for line in reversed_lines(app)] == [f"{ARROW} Windows"],
            what=f"(Windows reversed: {reversed_lines(app)})",
        )
    app = FormHost(FormModal("New role", new_role_fields()))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("tab", "tab", "down")
        await until(
            pilot,
            lambda: [line[:20] for line in reversed_lines(app)] == [f"{ARROW} ▐ ▌ read audit: th"],
            what=f"(read audit reversed: {reversed_lines(app)})",
        )


async def test_an_open_pickers_highlighted_choice_alone_is_marked() -> None:
    """The field definition form's Resource type picker: opened by Space, the highlighted
    choice starts with the arrow and no other does; Down moves it; the focused field's
    label keeps the form's own mark (one of each)."""
    app = FormHost(FormModal("New field", definition_fields(["Linux", "Windows", "Cisco"])))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("tab", "space")
        picker = app.screen.query_one("#f-resource_type")
        await until(pilot, lambda: picker.expanded, what="(list open)")

        def choices() -> list[str]:
            return [line.strip("│ ") for line in drawn(app.screen).splitlines()]

        def arrowed() -> list[str]:
            return [line for line in choices() if line.startswith(ARROW)]

        await until(pilot, lambda: len(arrowed()) == 1, what=f"(one arrow: {choices()})")
        first = arrowed()[0]
        await pilot.press("down")
        await until(pilot, lambda: arrowed() not in ([], [first]), what="(the arrow moved)")
        assert len(arrowed()) == 1
        screen = drawn(app.screen)
        assert screen.count(FOCUS_MARK) == 1 and FOCUS_MARK + "Resource type" in screen
        # The other choices are indented as the marked one is: their names line up.
        lines = drawn(app.screen).splitlines()
        at = {
            name: next(line.index(name) for line in lines if name in line and "│" in line)
            for name in ("Linux", "Windows", "Cisco")
        }
        assert len(set(at.values())) == 1, at


async def test_a_focused_checklists_highlighted_row_alone_is_marked() -> None:
    """The new role form's Permissions: with the focus, one row starts with the arrow (Down
    moves it, Space ticks that row); without the focus, none; the boxes stay in one
    column."""
    app = FormHost(FormModal("New role", new_role_fields()))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        checklist = app.screen.query_one("#f-permissions")

        def rows() -> list[str]:
            return [line.strip("│") for line in drawn(checklist).splitlines() if "▐" in line]

        def arrowed() -> list[int]:
            return [i for i, row in enumerate(rows()) if row.lstrip().startswith(ARROW)]

        assert arrowed() == []
        await pilot.press("tab", "tab")
        await until(pilot, lambda: arrowed() == [0], what=f"(first row marked: {rows()})")
        await pilot.press("down", "space")
        await until(pilot, lambda: arrowed() == [1] and "X" in rows()[1], what="(ticked)")
        assert len({row.index("▐") for row in rows()}) == 1
        await pilot.press("shift+tab")
        await until(pilot, lambda: arrowed() == [], what="(no mark without the focus)")


async def test_a_hint_reads_as_a_hint_not_as_typed_text() -> None:
    """An empty field's placeholder and a picker's prompt are drawn between angle
    quotation marks, the placeholder in italics; typed text is drawn as typed."""
    app = FormHost(FormModal("New field", definition_fields(["Linux"])))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        name = app.screen.query_one("#f-name", Input)
        screen = drawn(app.screen)
        assert f"{HINT_OPEN}letters, digits and _, starting with a letter{HINT_CLOSE}" in screen
        assert f"{HINT_OPEN}every type (type to search, Space for the list){HINT_CLOSE}" in screen
        assert typed(name) == ""  # the hint is not read as typed text
        assert name.get_component_rich_style("input--placeholder").italic
        await pilot.press("tab", "tab")
        await until(pilot, lambda: app.screen.focused is name, what="(name field)")
        await type_text(pilot, "serial")
        await until(pilot, lambda: "serial" in drawn(name), what="(typed)")
        assert HINT_OPEN not in drawn(name) and typed(name) == "serial"


@pytest.mark.parametrize("tall", [False, True])
async def test_a_toast_leaves_a_dialogs_key_line_and_bottom_border_in_view(tall: bool) -> None:
    """At 80x24 a notification over a dialog sits at the top right: never over the
    dialog's key line or bottom border (it covered their right half for seconds); a dialog
    of ordinary height is not covered at all, a tall one at most on its top border's
    right end (its title, at the left, stays in view)."""
    fields = definition_fields(["Linux"]) if tall else new_role_fields()
    app = FormHost(FormModal("A form", fields))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        app.notify("The name is taken: choose another name for it", title="Refused")
        await until(pilot, lambda: bool(app.screen.query("Toast")), what="(toast)")
        toast = app.screen.query_one("Toast")
        await until(pilot, lambda: toast.region.height > 0, what="(toast drawn)")
        dialog = app.screen.query_one(".dialog").region
        keys = app.screen.query_one("#form-keys").region
        assert toast.region.bottom <= keys.y and toast.region.bottom < dialog.bottom - 1
        if tall:  # a dialog near the screen's height: at most its top border's right end
            assert toast.region.bottom <= dialog.y + 1, (toast.region, dialog)
        else:
            assert not toast.region.overlaps(dialog), (toast.region, dialog)
