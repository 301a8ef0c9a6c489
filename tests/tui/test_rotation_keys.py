"""Passwords changed on the systems they open, by keys at 80x24 (issue 29): C sets a
resource's connection and pins the host key shown for confirmation, R changes an
account's password on a real sshd, V verifies it, H reveals the earlier one; a changed
host key is refused and said in words. Each step is checked on the target itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.widgets import DataTable

from tests.targets.sshd import Sshd
from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import cursor_to, form_open, main_ready, notified, pick, submit
from tests.tui.test_vault_keys import focus_accounts, focus_resources
from tui.screens.modals import RevealModal

pytestmark = pytest.mark.skipif(
    not Sshd.available(), reason="openssh-server is not installed (./setup/test.sh installs it)"
)
P0 = "Start-Pass-0001x"
R0 = "Recon-Pass-0001x"


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    """An sshd of the test's own (its users are removed when it stops)."""
    with Sshd.started() as daemon:
        yield daemon


async def test_connection_change_verify_history_by_keys(tui_server, make_app, sshd):
    """The whole story by keys, checked by logging in to the target."""
    user = sshd.add_user(P0)
    root = sshd.add_user(R0, root=True)
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, res = tui_server.api(
        "POST", "/orgs/MSPOrg/resources", {"name": "tgt-01", "type": "Linux"}, admin
    )
    assert status == 201, res
    ids = {}
    for name, password in ((user, P0), (root, R0)):
        status, acct = tui_server.api(
            "POST",
            f"/orgs/MSPOrg/resources/{res['id']}/accounts",
            {"username": name, "password": password},
            admin,
        )
        assert status == 201, acct
        ids[name] = acct["id"]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        resources = app.screen.query_one("#resources", DataTable)
        await cursor_to(pilot, resources, "tgt-01")
        # V before the resource has a connection: the refusal alone, no "Logging in…".
        accounts = await focus_accounts(pilot)
        await cursor_to(pilot, accounts, root)
        await pilot.press("V")
        await notified(pilot, f"{root} was not verified: its resource has no connection")
        assert not [n for n in app._notifications if "Logging in" in n.message]
        await focus_resources(pilot)
        await pilot.press("C")
        form = await form_open(pilot, "Connection of tgt-01 to its target")
        await pilot.press("tab")  # the connector: ssh, the one that serves Linux
        await type_text(pilot, sshd.host)
        await pilot.press("tab")
        await type_text(pilot, str(sshd.port))
        await pilot.press("tab")
        await pick(pilot, root)
        await submit(pilot, form)
        form = await form_open(pilot, f"Pin the host key of {sshd.host}:{sshd.port}?")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, f"Host key {sshd.fingerprint} pinned for tgt-01.")
        _, conn = tui_server.api(
            "GET", f"/orgs/MSPOrg/resources/{res['id']}/connection", token=admin
        )
        assert (conn["host_key"], conn["reconciliation_username"]) == (sshd.fingerprint, root)

        accounts = await focus_accounts(pilot)
        await cursor_to(pilot, accounts, user)
        await pilot.press("R")
        form = await form_open(pilot, f"Change the password of {user} on its target?")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, f"The password of {user} was changed on its target and verified")
        _, shown = tui_server.api("POST", f"/orgs/MSPOrg/accounts/{ids[user]}/reveal", {}, admin)
        new = shown["password"]
        assert await sshd.can_login(user, new) and not await sshd.can_login(user, P0)
        # The accounts' title says the highlighted password's state on its target.
        title = app.screen.query_one("#accounts-title")
        await until(
            pilot, lambda: "target: changed" in str(title.render()), what="(state in the title)"
        )
        assert "verified" in str(title.render())

        await pilot.press("V")
        await notified(pilot, f"{user} logs in to its target with the vault's password.")

        await pilot.press("H")
        form = await form_open(pilot, f"Earlier passwords of {user} (1)")
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, RevealModal), what="(reveal)")
        assert app.screen._password == P0
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RevealModal), what="(closed)")

        # The target now presents another key: nothing is sent, and it is said in words.
        sshd.replace_host_key()
        await cursor_to(pilot, accounts, user)
        await pilot.press("R")
        form = await form_open(pilot, f"Change the password of {user} on its target?")
        await type_text(pilot, "yes")
        await submit(pilot, form)
        await notified(pilot, "the target presented another host key than the pinned one")
        assert await sshd.can_login(user, new)
