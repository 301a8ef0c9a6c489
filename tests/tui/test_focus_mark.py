"""The focus mark in every form: the focused field's label starts with '▶ ' and no other
label does, as Tab, Shift+Tab and a refused save move the focus (seen on a terminal without
colour, over SSH). Driven by keys, read from what the screen draws (no server needed: a
host app opens the app's own forms)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

import tui.app
from tests.tui.conftest import until
from tests.tui.keys import drawn
from tui.app import StrongroomApp
from tui.client import Client, Endpoint
from tui.screens.directory import directory_fields
from tui.screens.field_definitions import definition_fields
from tui.screens.form import FOCUS_MARK, FormModal, refusal
from tui.screens.roles import new_role_fields
from tui.screens.totp import confirm_form

MARK = FOCUS_MARK.strip()


class FormHost(App):
    """An app that opens one form, styled as the app styles its dialogs."""

    CSS_PATH = [Path(tui.app.__file__).parent / path for path in StrongroomApp.CSS_PATH]

    def __init__(self, form: FormModal) -> None:
        super().__init__()
        self.form = form

    def on_mount(self) -> None:
        self.push_screen(self.form)


def marked(app: App) -> list[str]:
    """The lines of the screen that carry the mark, as drawn from the mark on (what is
    left of it, a frame or a QR code, aside)."""
    lines = drawn(app.screen).splitlines()
    return [line[line.index(MARK) :].rstrip(" ▊▎▌▐│") for line in lines if MARK in line]


async def mark_on(pilot, label: str) -> None:
    """Wait until exactly one line carries the mark, the one that starts ``label``."""
    await until(
        pilot,
        lambda: [line.startswith(FOCUS_MARK + label) for line in marked(pilot.app)] == [True],
        what=f"(the mark on {label!r} alone; marked: {marked(pilot.app)})",
    )


async def test_tab_and_shift_tab_move_the_mark_over_inputs_and_pickers() -> None:
    """The field definition form: pickers (Applies to, Resource type, Kind, Required) and
    text fields; the first field is marked from the start."""
    app = FormHost(FormModal("New field", definition_fields(["Linux", "Windows"])))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await mark_on(pilot, "Applies to *")
        await pilot.press("tab")  # a picker with a long label (it still fits)
        await mark_on(pilot, "Resource type (resources only; none = every type)")
        await pilot.press("tab")
        await mark_on(pilot, "Field name *")
        await pilot.press("tab")
        await mark_on(pilot, "Kind *")
        await pilot.press("shift+tab", "shift+tab")
        await mark_on(pilot, "Resource type")
        await pilot.press("enter")  # the picker's list opens: the picker keeps the mark
        await until(pilot, lambda: app.screen.query_one("#f-resource_type").expanded)
        await mark_on(pilot, "Resource type")
        await pilot.press("escape", "shift+tab")
        await mark_on(pilot, "Applies to *")
        # Saved with the required name empty: refused, the focus goes to Field name.
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "is required" in drawn(app.screen), what="(refused)")
        await mark_on(pilot, "Field name *")


async def test_a_checklist_and_a_refusal_from_the_submit_move_the_mark() -> None:
    """The new role form (a checklist last): the mark follows Tab onto the checklist; a
    refusal of the save puts the focus, and the mark, on the field it is about."""

    async def submit(values: dict) -> None:
        raise refusal("description", "Say what the role is for")

    app = FormHost(FormModal("New role", new_role_fields(), submit))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await mark_on(pilot, "Role name *")
        await pilot.press("tab", "tab")
        await mark_on(pilot, "Permissions")
        await pilot.press("shift+tab", "shift+tab", *"ops")
        await mark_on(pilot, "Role name *")
        await pilot.press("enter")  # sent; refused about the description
        await until(pilot, lambda: "Say what the role is for" in drawn(app.screen))
        await mark_on(pilot, "Description")
        assert isinstance(app.screen, FormModal)


async def test_long_labels_keep_their_words_with_the_mark_at_80_columns() -> None:
    """The directory form's longest labels (wider than the dialog) wrap, mark and all:
    every word stays on screen."""
    app = FormHost(FormModal("Directory", directory_fields(None)))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await mark_on(pilot, "URL (ldaps://host:636")
        screen = drawn(app.screen)
        assert "StartTLS)" in screen  # the end of the wrapped label
        await pilot.press(*["tab"] * 8)
        await mark_on(pilot, "Role of each directory group")
        assert "between)" in drawn(app.screen)


async def test_the_two_factor_form_marks_its_code_field() -> None:
    """The enrolment form (laid out on its own) marks its one field too."""
    client = Client([Endpoint.parse("https://127.0.0.1:9")])
    app = FormHost(confirm_form(client, "JBSWY3DPEHPK3PXP", "otpauth://totp/x?secret=JBSW"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await mark_on(pilot, "Code from the authenticator app *")


async def test_a_confirmation_without_fields_shows_no_mark() -> None:
    """A form that only asks to confirm (no field) has no label to mark."""
    app = FormHost(FormModal("Log out every session?", [], note="Enter: yes   Esc: no"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "Log out every session?" in drawn(app.screen))
        await pilot.press("tab", "shift+tab")
        await until(pilot, lambda: "Enter: yes" in drawn(app.screen))
        assert marked(app) == []


async def test_a_checklist_box_is_empty_until_ticked_without_colour() -> None:
    """Newcomer pass 11: every checklist box read "▐X▌", ticked or not, on a terminal
    without colour (an unticked X was drawn in the background colour). The drawn text
    now has no X in an unticked box; Space ticks the row and its X appears."""
    app = FormHost(FormModal("New role", new_role_fields()))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("tab", "tab")
        await mark_on(pilot, "Permissions")
        boxes = [line for line in drawn(app.screen).splitlines() if "▐" in line and "▌" in line]
        assert boxes and not any("X" in line.split("▌")[0] for line in boxes), boxes
        await pilot.press("space")  # ticks the highlighted (first) permission
        await until(
            pilot,
            lambda: sum("▐X▌" in line for line in drawn(app.screen).splitlines()) == 1,
            what="(one box ticked)",
        )
