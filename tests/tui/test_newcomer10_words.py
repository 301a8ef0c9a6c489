"""What newcomer pass 10 met, by keys at 80x24: the login screen marks the field being
typed in without colour (a password went into Organization, shown in clear), and the F1
Keys panel says how to close it."""

from __future__ import annotations

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, until
from tests.tui.keys import drawn, main_ready, screen_text
from tui.screens.login import LoginScreen
from tui.screens.modals import KeysModal


async def test_login_marks_the_focused_field_and_f1_says_esc(tui_server, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(login)")
        screen = app.screen
        await until(pilot, lambda: "▶ Username" in drawn(screen), what="(username marked)")
        assert "▶ Organization" not in drawn(screen) and "▶ Password" not in drawn(screen)
        await pilot.press("shift+tab")  # back to Organization: the mark follows
        await until(pilot, lambda: "▶ Organization" in drawn(screen), what="(org marked)")
        assert "▶ Username" not in drawn(screen)
        await pilot.press("tab", "tab")
        await until(pilot, lambda: "▶ Password" in drawn(screen), what="(password marked)")
        await pilot.press("shift+tab")  # log_in starts from Username
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys)")
        await until(pilot, lambda: "Esc: close" in screen_text(app), what="(Esc line)")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, KeysModal), what="(closed)")
