"""Key lines that fit 80 columns (newcomer passes, sessions 8 and 9): every line of F1's
keys panel on one line, on each tab; the settings bar's hints two spaces apart; My
account's key bar holding `s SSH keys`. Driven by keys at 80x24 as an administrator."""

from __future__ import annotations

from textual.widgets import Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, until
from tests.tui.keys import main_ready, show_tab, text_of
from tests.tui.test_me_keys import open_me
from tui.controls.keybar import KeyBar
from tui.screens.modals import KeysModal

TABS = (("f2", "vault"), ("f3", "orgs"), ("f4", "access"), ("f5", "audit"), ("f6", "users"))


async def f1_lines(pilot) -> list[Static]:
    """Open F1 and return its lines (after the title); Esc is left to the caller."""
    app = pilot.app
    await pilot.press("f1")
    await until(pilot, lambda: isinstance(app.screen, KeysModal), what="(keys panel)")
    await pilot.pause()
    return [s for s in app.screen.query(Static) if text_of(s).startswith("  ")]


async def test_key_lines_fit_80_columns(tui_server, make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        for key, tab in (*TABS, ("f7", "settings")):
            await show_tab(pilot, key, tab)
            lines = await f1_lines(pilot)
            assert lines, tab
            wrapped = [text_of(s).strip() for s in lines if s.region.height != 1]
            assert not wrapped, (tab, wrapped)  # each key's line on one line, not two
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, KeysModal), what="(closed)")

        # Settings: 'R Replicate' and 'f 2FA' two spaces apart, as the sections are.
        bar = text_of(app.screen.query_one("#settings-sections"))
        assert "R Replicate  f 2FA" in bar, bar

        # My account: `s` (my SSH keys, for the gateway) comes before the rarely used keys,
        # so the key bar holds it at 80 columns also with 2FA on (o 2FA off, r Codes).
        await open_me(pilot)
        await until(
            pilot,
            lambda: "s SSH keys" in str(app.screen.query_one(KeyBar).render()),
            what="(s on the key bar)",
        )
        line = str(app.screen.query_one(KeyBar).render())
        assert line.index("s SSH keys") < line.index("n New"), line
