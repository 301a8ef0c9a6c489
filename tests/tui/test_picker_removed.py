"""A picker that leaves the screen before its first frame (the app quitting at once)
does not crash the TUI: its list, mounted after the first frame (tui/controls/picker.py),
is then not mounted at all. Found in session 11: Ctrl+Q right after the vault came back
from a brokered session sometimes ended the TUI with a MountError traceback on the user's
terminal and exit status 1 (tests/server/test_gateway_connect.py met it about once in
eight runs)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from tui.controls.picker import Picker


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("host")


async def test_the_list_is_not_mounted_for_a_picker_no_longer_on_screen() -> None:
    app = Host()
    async with app.run_test() as pilot:
        gone = Picker([("Acme", "acme"), ("Beta", "beta")], id="org-select")
        await app.mount(gone)
        await pilot.pause()
        await gone.remove()
        late = Picker([("Acme", "acme")], id="late")
        # Its first frame's step, run once it is off the screen (as at quitting).
        await late._list_after_first_frame()
        assert late._overlay is None
        kept = Picker([("Acme", "acme"), ("Beta", "beta")], id="kept")
        await app.mount(kept)
        await pilot.pause()
        await pilot.pause()
        assert kept._ready_list() is not None  # on screen: its list is there
        assert app.is_running
    assert app.return_code in (None, 0)
