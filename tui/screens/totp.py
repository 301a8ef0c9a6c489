"""Two-factor enrolment: the otpauth URI, a QR code drawn in the terminal, the first code.

At 80x24 the whole code is on screen: it is drawn two modules per character row (half
blocks) with a one-module quiet zone, on the left of the dialog; the secret, the URI and
the code field are on its right.
"""

from __future__ import annotations

import segno
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Static

from tui.client import Client
from tui.screens.form import Field, FormModal, focus_label
from tui.text import inert, inert_lines

QUIET_ZONE = 1  # modules of light border round the code (enough for phone scanners)


def qr_text(data: str, border: int = QUIET_ZONE) -> str:
    """A QR code as text: two modules per character cell, using half blocks; a symbol of
    n modules takes ceil((n + 2 * border) / 2) lines and n + 2 * border columns."""
    rows = [
        [bool(m) for m in row]
        for row in segno.make(data, error="l", micro=False).matrix_iter(border=border)
    ]
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


class TotpModal(FormModal):
    """The enrolment form laid out side by side: the QR code on the left, the title, the
    secret, the URI and the code field on the right (so nothing needs scrolling)."""

    DEFAULT_CSS = """
    TotpModal #figure { width: auto; height: auto; }
    TotpModal #totp-side { width: 1fr; height: auto; }
    TotpModal #totp-secret { text-style: bold; }
    TotpModal #totp-uri { color: $text-muted; }
    """

    def __init__(self, client: Client, secret: str, uri: str, required: bool = False) -> None:
        super().__init__(
            "Two-factor authentication",
            [Field("code", "Code from the authenticator app", required=True, api_names=("otp",))],
            lambda v: client.confirm_totp(v["code"]),
            note=f"Secret: {secret}\n{uri}",
            figure=qr_text(uri),
            action="turn it on",
        )
        self._secret, self._uri = secret, uri
        self._required = required

    def on_mount(self) -> None:
        """The dialog takes the screen's width (up to 90 columns), not the forms' 72 (inline
        styles: the app's dialog rules outrank this screen's default CSS)."""
        super().on_mount()
        dialog = self.query_one(".dialog")
        dialog.styles.width = "100%"
        dialog.styles.max_width = 90
        self.query_one("#figure").styles.margin = (0, 1, 0, 0)  # no blank line under it

    def compose(self) -> ComposeResult:
        """The code, then a column: title, secret, URI, the code field, its error, keys."""
        with Horizontal(classes="dialog totp"):
            yield Static(inert_lines(self._figure), id="figure")
            with Vertical(id="totp-side"):
                yield Static(inert(self._title), classes="dialog-title")
                yield Static(
                    "Your organization requires it: scan the code, or type the secret:"
                    if self._required
                    else "Scan the code, or type the secret:",
                    id="totp-how",
                )
                yield Static(inert(self._secret), id="totp-secret")
                yield Static(inert(self._uri), id="totp-uri", classes="dialog-note")
                yield Static("", id="form-error", classes="field-error")
                field = self._fields[0]
                marked = field.name == self._marked  # has the focus from the first frame on
                yield Label(
                    focus_label(self._label_text(field), marked),
                    id=f"l-{field.name}",
                    classes="field-label",
                )
                yield Input(id=f"f-{field.name}", compact=True)
                yield Static("", id=f"e-{field.name}", classes="field-error")
                yield Static("Enter: turn it on   Esc: cancel", classes="dialog-keys")


def confirm_form(client: Client, secret: str, uri: str, required: bool = False) -> FormModal:
    """The enrolment dialog: scan the code (or type the secret), confirm with a first code
    (``required``: it says that the organization requires it).

    A wrong code is shown under the field and the dialog stays open.
    """
    return TotpModal(client, secret, uri, required)
