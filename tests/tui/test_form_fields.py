"""The form's checklist and pickers filled from the server, driven by keys (no server
needed: a host app opens one form)."""

from __future__ import annotations

import asyncio

from textual.app import App

from tests.tui.conftest import until
from tests.tui.keys import drawn
from tui.screens.form import Field, FormModal

MEMBERS = [("Alice Archer", "alice"), ("Bob Baker", "bob"), ("Carol Clark", "carol")]


class FormHost(App):
    """An app that opens one form and keeps what it returned."""

    def __init__(self, fields: list[Field]) -> None:
        super().__init__()
        self.fields = fields
        self.result: object = "not yet"

    def on_mount(self) -> None:
        self.push_screen(FormModal("Members", self.fields), self.keep)

    def keep(self, result: object) -> None:
        self.result = result


async def test_ticking_members_by_keys_returns_them_in_list_order() -> None:
    app = FormHost(
        [
            Field("name", "Group name", value="ops"),
            Field("members", "Members", choices=MEMBERS, multiple=True, chosen=("bob",)),
        ]
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("tab")  # to the checklist
        await pilot.press("c", "space")  # jump to Carol, tick her
        await pilot.press("b", "space")  # 'cb' matches nothing: a new search, Bob, untick
        await pilot.press("a", "l", "space")  # 'ba' matches nothing: 'a', then 'al': Alice
        await pilot.press("enter")
        await until(pilot, lambda: app.result != "not yet")
    assert app.result == {"name": "ops", "members": ["alice", "carol"]}


async def test_space_ticks_the_highlighted_row_and_ctrl_a_ticks_all() -> None:
    app = FormHost([Field("members", "Members", choices=MEMBERS, multiple=True, required=True)])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("enter")  # nothing ticked: required
        await until(
            pilot, lambda: "is required" in str(app.screen.query_one("#e-members").render())
        )
        assert isinstance(app.screen, FormModal)
        await pilot.press("ctrl+a")
        await pilot.press("down", "space")  # untick Bob
        await pilot.press("enter")
        await until(pilot, lambda: app.result != "not yet")
    assert app.result == {"members": ["alice", "carol"]}


async def test_escape_cancels() -> None:
    app = FormHost([Field("members", "Members", choices=MEMBERS, multiple=True)])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press("space", "escape")
        await until(pilot, lambda: app.result != "not yet")
    assert app.result is None


async def test_a_choice_clears_the_problem_shown_under_it() -> None:
    app = FormHost([Field("members", "Members", choices=MEMBERS, multiple=True, required=True)])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        error = app.screen.query_one("#e-members")
        await pilot.press("enter")
        await until(pilot, lambda: "is required" in str(error.render()))
        await pilot.press("space")
        await until(pilot, lambda: "is required" not in str(error.render()))
        assert isinstance(app.screen, FormModal)  # still open: nothing was sent


async def test_a_picker_filled_from_the_server_after_the_form_opens() -> None:
    """The form is up at once (its first field takes keys); the picker's choices arrive
    later, keep the preset value, and are chosen by typing."""
    arrived = asyncio.Event()

    async def managers() -> list[tuple[str, str]]:
        await arrived.wait()
        return MEMBERS

    app = FormHost(
        [
            Field("name", "Org name", required=True),
            Field("manager", "Account manager", value="bob", load=managers, required=True),
        ]
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        await pilot.press(*"acme", "tab")
        arrived.set()
        picker = app.screen.query_one("#f-manager")
        await until(pilot, lambda: len(picker._options) > 2)
        assert "Bob Baker" in drawn(picker)  # the preset value stays
        await pilot.press("c", "enter")  # type to search: Carol; Enter chooses
        await pilot.press("enter")  # Enter on the closed picker submits
        await until(pilot, lambda: app.result != "not yet")
    assert app.result == {"name": "acme", "manager": "carol"}


async def test_keys_typed_before_the_choices_came_choose_what_they_name() -> None:
    """A picker opened (by typing) before its choices came from the server: when they
    come, what was typed is searched among them, so Enter chooses what it names (keys
    typed ahead over SSH, issue 35)."""
    arrived = asyncio.Event()

    async def roles() -> list[tuple[str, str]]:
        await arrived.wait()
        return [("password user", "password_user"), ("auditor", "auditor"), ("ops (custom)", "ops")]

    app = FormHost(
        [
            Field(
                "role",
                "Role",
                value="password_user",
                choices=[("password user", "password_user"), ("auditor", "auditor")],
                load=roles,
                required=True,
            ),
            Field("note", "Note"),
        ]
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FormModal) and app.screen.focused)
        picker = app.screen.query_one("#f-role")
        await pilot.press("o", "p", "s")  # typing opens the list; nothing matches yet
        await until(pilot, lambda: picker.expanded)
        arrived.set()
        await until(pilot, lambda: len(picker._options) == 4)  # the org's roles came
        assert picker.expanded  # the list stays open, on what was typed
        await pilot.press("enter")  # chooses ops, closes the list
        await until(pilot, lambda: not picker.expanded)
        assert "ops" in drawn(picker)
        await pilot.press("tab", "enter")
        await until(pilot, lambda: app.result != "not yet")
    assert app.result == {"role": "ops", "note": ""}
