"""Notices told at login (``GET /me``'s ``notice_items``: a person recovered on the
server's console, issue 27): shown over the main screen after login until read; ``a``
acknowledges them (``POST /me/notices/acknowledge``, audited) so they stop showing to me,
Esc keeps them for the next login."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.client import ApiError
from tui.logic.times import minute
from tui.text import inert

NOTE = (
    "Whoever holds the server's shell and master key can recover a person: check that it "
    "was meant. Other administrators are told too."
)


class NoticesModal(ModalScreen[bool]):
    """The unread notices; ``a`` marks them read (True), Esc closes them unread (False)."""

    BINDINGS = [
        Binding("a", "acknowledge", "Read", tooltip="Mark the notices read", id="notices-read"),
        Binding("escape", "later", "Later", tooltip="Show them again next login", id="close"),
    ]

    def __init__(self, notices: list[dict]) -> None:
        super().__init__()
        self._notices = notices

    def compose(self) -> ComposeResult:
        """Title, one line per notice (when, what), the note and the keys."""
        with Vertical(classes="dialog wide"):
            count = len(self._notices)
            yield Static(
                f"{count} notice{'s' if count != 1 else ''} for you", classes="dialog-title"
            )
            with VerticalScroll(id="notice-lines"):
                for notice in self._notices:
                    yield Static(
                        inert(f"{minute(notice.get('at'))} UTC  {notice.get('text', '')}"),
                        classes="notice",
                    )
            yield Static(NOTE, classes="dialog-note")
            yield Static(
                "a: read, do not show again   Esc: show again next login", classes="dialog-keys"
            )

    async def action_acknowledge(self) -> None:
        """Acknowledge every notice shown (by id: one that arrived since stays unread)."""
        try:
            await self.app.client.acknowledge_notices([n["id"] for n in self._notices])
        except ApiError as error:
            self.app.show_error(error, "Notices not marked read")
            return
        self.app.notify("Notices marked read; they are not shown to you again.")
        self.dismiss(True)

    def action_later(self) -> None:
        """Close; the notices show again at the next login."""
        self.dismiss(False)


def show_notices(app: App) -> None:
    """After login: the unread notices of ``GET /me`` (as ``app.me`` holds it), if any."""
    notices = (getattr(app, "me", None) or {}).get("notice_items") or []
    if notices:
        app.push_screen(NoticesModal(list(notices)))
