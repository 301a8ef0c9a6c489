"""The vault's Policy cell names a password's expiry once it is near (issue 31, item 3)."""

from __future__ import annotations

import datetime

from tui.widgets.vault import policy_cell


def test_policy_cell_says_expired_or_days_left_only_when_near():
    now = datetime.datetime.now(datetime.UTC)

    def at(days: float) -> dict:
        when = now + datetime.timedelta(days=days)
        return {"policy": "Strong", "expires_at": when.isoformat()}

    assert policy_cell({"policy": "Low", "expires_at": None}) == "Low"
    assert policy_cell(at(89.9)) == "Strong"
    assert policy_cell(at(3.5)) == "Strong · expires in 3 d"
    assert policy_cell(at(0.2)) == "Strong · expires today"
    assert policy_cell(at(-1)) == "Strong · expired"


def test_server_view_says_the_forwarding_lag():
    """The server view's line for SIEM forwarding (issue 31): the lag, the failing ones."""
    from tui.screens.server_view import forwarding_lines

    assert forwarding_lines(None) == []
    assert forwarding_lines({"destinations": 0, "lag": 0, "failing": []}) == []
    assert forwarding_lines({"destinations": 2, "lag": 7, "failing": ["MSPOrg/siem"]}) == [
        "SIEM forwarding: 2 destinations, 7 events behind · FAILING: MSPOrg/siem"
    ]
