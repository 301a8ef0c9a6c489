"""Two-factor enrolment: the otpauth URI, a QR code drawn in the terminal, the first code."""

from __future__ import annotations

import segno
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.client import ApiError


def qr_text(data: str) -> str:
    """A QR code as text: two modules per character cell, using half blocks."""
    rows = [[bool(m) for m in row] for row in segno.make(data, error="l").matrix_iter(border=2)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    glyphs = {
        (False, False): "\u2588",
        (True, True): " ",
        (True, False): "\u2584",
        (False, True): "\u2580",
    }  # light background, dark modules
    return "\n".join(
        "".join(glyphs[(top, bottom)] for top, bottom in zip(a, b, strict=True))
        for a, b in zip(rows[::2], rows[1::2], strict=True)
    )


class TotpModal(ModalScreen[bool]):
    """Scan the code (or type the secret), then confirm with the first code."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]
    AUTO_FOCUS = "#code"

    def __init__(self, secret: str, uri: str) -> None:
        super().__init__()
        self._secret, self._uri = secret, uri

    def compose(self) -> ComposeResult:
        """QR, secret, URI, code field."""
        with VerticalScroll(classes="dialog wide"):
            yield Static("Two-factor authentication", classes="dialog-title")
            yield Static(qr_text(self._uri), id="qr")
            yield Static(f"Secret: {self._secret}")
            yield Static(self._uri, classes="dialog-note")
            yield Label("Code from the authenticator app")
            yield Input(id="code", max_length=6, compact=True)
            yield Static("Enter: confirm   Esc: cancel", classes="dialog-keys")

    @on(Input.Submitted)
    @work(exclusive=True, exit_on_error=False)
    async def confirm(self) -> None:
        """Activate 2FA with the code."""
        try:
            await self.app.client.confirm_totp(self.query_one("#code", Input).value)
        except ApiError as error:
            self.app.show_error(error, "Code not accepted")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        """Leave 2FA off."""
        self.dismiss(False)
