"""Two-factor enrolment: the otpauth URI, a QR code drawn in the terminal, the first code."""

from __future__ import annotations

import segno

from tui.client import Client
from tui.screens.form import Field, FormModal


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


def confirm_form(client: Client, secret: str, uri: str) -> FormModal:
    """The enrolment dialog: scan the code (or type the secret), confirm with a first code.

    It is the one form dialog with the QR code as its figure; a wrong code is shown under
    the field and the dialog stays open.
    """
    return FormModal(
        "Two-factor authentication",
        [Field("code", "Code from the authenticator app", required=True, api_names=("otp",))],
        lambda v: client.confirm_totp(v["code"]),
        note=f"Secret: {secret}\n{uri}",
        figure=qr_text(uri),
        action="turn it on",
        wide=True,
    )
