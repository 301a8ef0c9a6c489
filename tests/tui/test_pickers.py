"""Pickers that fit (issue 35): at 80x24 the open list stays inside its dialog (above the
picker when there is no room below), shows what was typed, finds words in any order with
spaces or underscores, moves with PageDown/End/Home, and never offers its hint as a
choice. No server: a dialog with a picker, driven by keys."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.widgets._select import SelectOverlay

from tests.tui.keys import drawn
from tui.controls.picker import Picker, best_match
from tui.screens.org_import import flagged, parse

STYLES = Path(__file__).resolve().parents[2] / "tui" / "styles"
NAMES = ["org_imported", "alpha", "beta", "import_two", *(f"x{i:02d}" for i in range(30))]


def test_words_in_any_order():
    """'org imp' and 'imp org' find org_imported; underscores are spaces; no match: None."""
    labels = ["alpha", "org_imported", "import two"]
    assert best_match("org imp", labels) == 1
    assert best_match("imp org", labels) == 1
    assert best_match("import_two", labels) == 2
    assert best_match("al", labels) == 0
    assert best_match("zzz", labels) is None


def test_import_preview_flags_rows():
    """The import preview names the rows the server will refuse before 'Type import'."""
    file = parse(
        Path("orgs.csv"),
        b"name,display_name,account_manager\nAcme,acme,admin\nBad,bad name,admin\n"
        b"Again,acme,admin\nOld,old,admin\n",
    )
    found = dict(flagged(file, {"old"}))
    assert set(found) == {3, 4, 5}
    assert "line 2" in found[4] and "exists already" in found[5]


class Dialog(App):
    """A dialog whose picker sits low: the list has no room below it."""

    CSS_PATH = [str(STYLES / "app.tcss"), str(STYLES / "dialogs.tcss")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static("A form", classes="dialog-title")
            for i in range(8):
                yield Static(f"field {i}")
            yield Picker(
                [(n, n) for n in NAMES],
                prompt="type to search, or Space for the list",
                allow_blank=True,
                compact=True,
                id="pick",
            )
            yield Static("Enter: save   Esc: cancel")


async def test_picker_fits_and_searches():
    app = Dialog()
    async with app.run_test(size=(80, 24)) as pilot:
        picker = app.query_one("#pick", Picker)
        picker.focus()
        await pilot.pause()
        overlay = picker.query_one(SelectOverlay)
        assert overlay.option_count == len(NAMES)  # the hint is not an option
        await pilot.press("i", "m", "p", "space", "o", "r", "g")
        await pilot.pause()
        assert picker.expanded and overlay.highlighted == 0
        assert "search: imp org" in str(overlay.border_title)
        # Only what matches is listed (the list jumped to a match among all of them:
        # newcomer pass, session 9); one word less lists both of its matches.
        assert overlay.option_count == 1, overlay.option_count
        assert "org_imported" in drawn(overlay) and "alpha" not in drawn(overlay)
        dialog = app.query_one(".dialog").region
        assert dialog.y <= overlay.region.y and overlay.region.bottom <= dialog.bottom
        await pilot.press(*["backspace"] * 4)
        await pilot.pause()
        listed = drawn(overlay)
        assert overlay.option_count == 2 and listed.index("import_two") < listed.index("org_imp")
        await pilot.press("down", "up", "enter")  # the best match first: 'imp' starts it
        await pilot.pause()
        assert not picker.expanded and "import_two" in drawn(picker)
        await pilot.press("space")
        await pilot.pause()
        assert overlay.option_count == len(NAMES)  # opened again: every choice
        await pilot.press("end")
        assert overlay.highlighted == len(NAMES) - 1
        await pilot.press("home", "pagedown")
        assert overlay.highlighted and overlay.highlighted > 1
        await pilot.press("escape")
        await pilot.press("z", "z", "z")
        await pilot.pause()
        assert "(no match)" in str(overlay.border_title)
        await pilot.press("backspace", "backspace", "backspace", "b", "e", "t", "enter")
        await pilot.pause()
        await pilot.pause()
        # What the screen shows: the picker reads 'beta', and its list is gone.
        assert drawn(picker).split() == ["beta", "▼"], drawn(picker)
        assert "search:" not in drawn(app.screen) and "import_two" not in drawn(app.screen)


class Host(App):
    """An app that opens one form, as Settings, Notify's t does (no server)."""

    CSS_PATH = [str(STYLES / "app.tcss"), str(STYLES / "dialogs.tcss")]


async def test_template_picker_stays_inside_its_dialog():
    """Notify's 'Which notification?' form has one picker and little room around it: its
    list opens inside the dialog's border (the dialog grows for it), at 80x24, and the
    dialog is its size again once the list is closed."""
    from server.core.notifications import KINDS  # shared plain data
    from tui.screens.form import Field, FormModal

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        choices = [(f"{k}: {kind.description}", k) for k, kind in KINDS.items()]
        form = FormModal(
            "Which notification?",
            [Field("kind", "Kind", choices=choices, required=True)],
            action="choose",
        )
        app.push_screen(form)
        await pilot.pause()
        dialog = form.query_one(".dialog")
        closed = dialog.region
        await pilot.press("space")
        await pilot.pause()
        await pilot.pause()
        picker = form.query_one("#f-kind", Picker)
        overlay = picker.query_one(SelectOverlay)
        assert picker.expanded
        inside = dialog.region.shrink((1, 1, 1, 1))  # within the round border
        assert inside.y <= overlay.region.y and overlay.region.bottom <= inside.bottom, (
            overlay.region,
            dialog.region,
        )
        assert inside.x <= overlay.region.x and overlay.region.right <= inside.right
        assert overlay.region.height >= 3 + 2  # some choices show, not just a sliver
        assert dialog.region.bottom <= 24 - 1  # above the key bar's row
        await pilot.press("down", "enter")
        await pilot.pause()
        await pilot.pause()
        assert not picker.expanded and choices[1][0][:20] in drawn(picker)
        assert dialog.region.height == closed.height


async def test_typed_text_shown_closest_first_and_key_line():
    """Newcomer pass 10: in a form's picker (the Audit operation filter's kind), what was
    typed shows on the picker's own line (it kept the old choice); 'pass rev' lists
    'password revealed' before 'password history revealed'; the key line never says
    'Enter: open the list' while the list is open; Esc shows the choice again."""
    from tui.screens.form import Field, FormModal

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        choices = [
            ("any operation", "any"),
            ("password history revealed", "password_history_revealed"),
            ("password revealed", "password_revealed"),
        ]
        form = FormModal(
            "Filter events",
            [Field("operation", "Operation", value="any", choices=choices), Field("a", "Actor")],
            action="filter",
        )
        app.push_screen(form)
        await pilot.pause()
        picker = form.query_one("#f-operation", Picker)
        keys = form.query_one("#form-keys")
        assert "Enter: open the list" in drawn(keys)
        await pilot.press(*"pass rev")
        await pilot.pause()
        overlay = picker.query_one(SelectOverlay)
        assert picker.expanded and "search: pass rev" in drawn(picker), drawn(picker)
        listed = drawn(overlay)
        assert listed.index("password revealed") < listed.index("password history"), listed
        assert "open the list" not in drawn(keys) and "Esc: close the list" in drawn(keys)
        await pilot.press("escape")
        await pilot.pause()
        assert not picker.expanded and "any operation" in drawn(picker)
        assert "search:" not in drawn(picker) and "Enter: open the list" in drawn(keys)
        await pilot.press(*"pass rev", "enter")
        await pilot.pause()
        assert "password revealed" in drawn(picker) and "history" not in drawn(picker)
