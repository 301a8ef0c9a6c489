"""The TUI's server view shows a silent install's registration details (issue 34)."""

from tui.screens.server_view import _registration


def test_registration_lines():
    assert _registration(None) == []
    lines = _registration({"name": "Jane", "mail": "j@example.com", "country": "Norway"})
    assert lines == [
        "",
        "Registration:",
        "  Name: Jane",
        "  MailId: j@example.com",
        "  Phone: -",
        "  Company: -",
        "  Country: Norway",
    ]
