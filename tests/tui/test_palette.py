"""Every command palette entry of the main screen, run from the palette by keys: each
changes the screen (a dialog, a tab, the focus, a message, the login screen, the exit)."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import TabbedContent

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, until
from tests.tui.keys import main_ready, type_burst
from tui.main_screen import MainScreen
from tui.screens.login import LoginScreen


def state(app) -> tuple:
    """What 'the screen changed' compares: screen, tab, focus, messages shown."""
    screen = app.screen
    tab = screen.query_one(TabbedContent).active if isinstance(screen, MainScreen) else None
    return type(screen), tab, screen.focused, len(app._notifications)


async def run_entry(pilot, title: str) -> None:
    """Ctrl+P, type the title, make sure it is the highlighted entry, Enter."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="(palette)")
    await type_burst(pilot, title)
    commands = app.screen.query_one(CommandList)

    def highlighted() -> str | None:
        if commands.highlighted is None or commands.option_count == 0:
            return None
        return commands.get_option_at_index(commands.highlighted).hit.text

    def hits() -> list[str]:
        return [commands.get_option_at_index(i).hit.text for i in range(commands.option_count)]

    await until(
        pilot,
        lambda: title in hits() and highlighted() is not None,
        what=f"(hits for {title!r})",
    )
    for _ in range(commands.option_count):
        if highlighted() == title:
            break
        await pilot.press("down")
    assert highlighted() == title
    await pilot.press("enter")


async def back_to_main(pilot) -> None:
    """Esc until the main screen is on top again and stays there for 0.3 s (an entry may
    open its dialog only once its data arrives: on a loaded machine after the first Esc)."""
    app = pilot.app
    calm = 0
    while calm < 3:
        if isinstance(app.screen, MainScreen):
            calm += 1
        else:
            calm = 0
            await pilot.press("escape")
        await pilot.pause(0.1)


async def test_every_palette_entry_changes_the_screen(tui_server, make_app):
    """Each entry, started from another tab than its own, visibly does something."""
    status, resource = tui_server.api(
        "POST",
        "/orgs/MSPOrg/resources",
        {"name": "pal-res", "type": "Linux"},
        tui_server.login(ADMIN, ADMIN_PASSWORD),
    )
    assert status == 201, resource
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Vault: Reveal the password", "Organizations: New org"} <= set(titles)
        assert titles[-2:] == ["Keys", "Quit"]
        last = ("Log out", "Quit")
        for title in [t for t in titles if t not in last]:
            neutral = "f3" if title.startswith(("Vault", "Go to Vault")) else "f2"
            await pilot.press(neutral)
            await main_ready(pilot)
            before = state(app)
            await run_entry(pilot, title)
            await until(
                pilot,
                lambda before=before: (
                    not isinstance(app.screen, CommandPalette) and state(app) != before
                ),
                what=f"(after {title!r})",
            )
            await back_to_main(pilot)
        await run_entry(pilot, "Log out")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(logged out)")
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await run_entry(pilot, "Quit")
        await until(pilot, lambda: app._exit, what="(quit)")
