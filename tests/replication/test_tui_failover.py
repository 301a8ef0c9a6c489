"""The TUI through a failover and back, by keys only, against a real pair without a witness
(issue 21): log in on the primary, stop it, reveal on the secondary, a refused write keeps
its form and names the primary, log out and in on the secondary, start the primary, keep
working there with the session made on the secondary; a session that ends brings the
login screen with the user name filled in."""

from __future__ import annotations

import asyncio
import datetime
import json

import asyncpg
import pytest
from textual.widgets import DataTable, Input, Static

from server.core.config import load_config
from server.services import session_moves, tokens
from tests.replication.harness import NEW_PASSWORD, call, make_account, make_pair, new_api_key
from tests.tui.conftest import log_in, type_text, until
from tests.tui.keys import cursor_to, fill, form_open, main_ready, screen_text, text_of
from tui.app import StrongroomApp
from tui.client import Client, Endpoint
from tui.main_screen import MainScreen
from tui.screens.login import LoginScreen
from tui.screens.modals import RevealModal

pytestmark = pytest.mark.timeout(300)

SECRET = "Failover-Secret-1!"
LATER_PASSWORD = "Later-Passw0rd-22!"


@pytest.fixture(scope="module")
def pair():
    pair = make_pair(witness=False)
    make_account(pair.primary.url, pair.api_key, "db01", SECRET)
    yield pair
    pair.close()


def audit(pair, operation: str) -> list[dict]:
    """The primary's MSPOrg audit events of one kind."""
    status, trail = call(
        f"{pair.primary.url}/api/v1/orgs/MSPOrg/audit?operation={operation}", token=pair.api_key
    )
    assert status == 200, trail
    return trail["items"]


async def server_says(pilot, words: str) -> None:
    """Ctrl+R until the band's server field says ``words`` (the TUI checks the server every
    10 s by itself; Ctrl+R is the user asking now)."""
    server = pilot.app.screen.query_one("#server", Static)
    for _ in range(30):
        await pilot.press("ctrl+r")
        try:
            await until(pilot, lambda: text_of(server).startswith(words), 2.0)
            return
        except AssertionError:
            continue
    notes = [(n.title, n.message) for n in pilot.app._notifications]
    raise AssertionError(f"the server field never said {words!r}: {text_of(server)!r} {notes}")


async def reveal(pilot) -> None:
    """Tab to the accounts list, r: the password shows; Esc hides it."""
    app = pilot.app
    resources = app.screen.query_one("#resources", DataTable)
    await cursor_to(pilot, resources, "db01")
    accounts = app.screen.query_one("#accounts", DataTable)
    await until(pilot, lambda: accounts.row_count == 1, what="(account listed)")
    await pilot.press("tab")
    await until(pilot, lambda: app.screen.focused is accounts)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(app.screen, RevealModal), what="(revealed)")
    assert SECRET in text_of(app.screen.query_one("#secret"))
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), what="(hidden)")
    await pilot.press("shift+tab")


async def test_round_trip_by_keys(pair, tmp_path):
    p, s = pair.primary, pair.secondary
    client = Client(
        [Endpoint.parse(p.url), Endpoint.parse(s.url)], known_hosts=tmp_path / "known_hosts.json"
    )
    app = StrongroomApp(client, reveal_seconds=30)
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, "admin", NEW_PASSWORD)
        await main_ready(pilot)
        await server_says(pilot, "PRIMARY")

        # The primary stops: the TUI moves to the secondary and says so.
        await asyncio.to_thread(p.stop)
        await server_says(pilot, "SECONDARY")
        banner = app.screen.query_one("#banner", Static)
        assert "READ-ONLY SECONDARY" in text_of(banner)
        await reveal(pilot)

        # A write is refused: the form stays, says nothing was saved, names the primary.
        _, refused = call(
            f"{s.url}/api/v1/orgs/MSPOrg/resources", "POST", {"name": "x"}, token=pair.api_key
        )
        primary_address = refused["primary"]
        await pilot.press("n")
        form = await form_open(pilot, "New resource")
        await fill(pilot, "never-saved", ">Linux")
        await pilot.press("ctrl+s")
        error = form.query_one("#form-error", Static)
        await until(pilot, lambda: "Nothing was saved" in text_of(error), what="(refused)")
        assert primary_address in text_of(error)
        assert app.screen is form and form.query_one("#f-name", Input).value == "never-saved"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Log out and in on the secondary: a session the primary has never seen.
        await pilot.press("ctrl+x")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(login)")
        await log_in(pilot, "admin", NEW_PASSWORD)
        await main_ready(pilot)
        await reveal(pilot)

        # The primary returns: the session moves with the spool, the TUI switches back
        # and goes on working without asking anyone to log in.
        await asyncio.to_thread(p.start)
        await asyncio.to_thread(p.wait, lambda h: h["read_only"] is False, 90, "writable")
        await server_says(pilot, "PRIMARY")
        assert client.base == p.url
        assert app.screen.query_one("#banner", Static).has_class("hidden")
        await reveal(pilot)
        assert isinstance(app.screen, MainScreen)
        assert not [n for n in app._notifications if n.title == "Session ended"]
        moved = [e for e in audit(pair, "session_moved") if e["actor"] == "admin"]
        assert moved and moved[0]["details"]["from_node"] == "node2"
        revealed = audit(pair, "password_revealed")
        assert {e["node"] for e in revealed} >= {"node1", "node2"}
        assert not any(r["name"] == "never-saved" for r in resources_on(pair))

        # The password changes elsewhere: the session ends; the TUI says so at once and
        # brings the login screen with the user name filled in.
        status, other = call(
            f"{p.url}/api/v1/auth/login",
            "POST",
            {"username": "admin", "password": NEW_PASSWORD},
        )
        assert status == 200, other  # only a session changes a password (issue 26)
        status, _ = call(
            f"{p.url}/api/v1/me/password",
            "POST",
            {"current_password": NEW_PASSWORD, "new_password": LATER_PASSWORD},
            token=other["token"],
        )
        assert status in (200, 204)
        pair.api_key = new_api_key(p.url, LATER_PASSWORD)  # the change ended the old key
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), what="(session ended)")
        assert app.screen.query_one("#username", Input).value == "admin"
        assert "Your session has ended" in "\n".join(n.message for n in app._notifications)
        await type_text(pilot, LATER_PASSWORD)
        await pilot.press("enter")
        await main_ready(pilot)
        assert "admin" in screen_text(app)


def resources_on(pair) -> list[dict]:
    """The primary's MSPOrg resources."""
    status, page = call(f"{pair.primary.url}/api/v1/orgs/MSPOrg/resources", token=pair.api_key)
    assert status == 200, page
    return page["items"]


async def test_sessions_move_only_with_unchanged_credentials(pair):
    """A session made on the secondary while the primary answers moves within a moment,
    works there, and a logout on the secondary ends it there too. A moved session whose
    binding (the user's password hash at login) no longer matches, or whose user is
    unknown, is refused and audited."""
    p, s = pair.primary, pair.secondary
    creds = {"username": "admin", "password": LATER_PASSWORD}
    status, login = call(f"{s.url}/api/v1/auth/login", "POST", creds)
    assert status == 200, login
    token = login["token"]
    assert call(f"{s.url}/api/v1/me", token=token)[0] == 200
    await wait_for(lambda: call(f"{p.url}/api/v1/me", token=token)[0] == 200, "moved")
    assert call(f"{s.url}/api/v1/me", token=token)[0] == 200  # the replicated row now
    assert call(f"{s.url}/api/v1/auth/logout", "POST", {}, token=token)[0] == 204
    await wait_for(lambda: call(f"{p.url}/api/v1/me", token=token)[0] == 401, "ended there")

    secret = json.loads((p.home / "conf" / "ha-state.json").read_text())["cluster_secret"]
    status, made = call(
        f"{p.url}/api/v1/orgs/MSPOrg/users",
        "POST",
        {"username": "ops1", "full_name": "Ops One", "role": "password_user",
         "password": "ops1-initial-pass-1"},
        token=pair.api_key,
    )  # fmt: skip
    assert status == 201, made
    status, _ = call(
        f"{p.url}/api/v1/orgs/MSPOrg/users/ops1", "PATCH", {"status": "disabled"},
        token=pair.api_key,
    )  # fmt: skip
    assert status == 200
    config = load_config(p.config)
    conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
    try:
        users = {
            r["username"]: r
            for r in await conn.fetch(
                "SELECT id, org_id, username, password_hash FROM users "
                "WHERE username IN ('admin', 'ops1')"
            )
        }
    finally:
        await conn.close()
    now = datetime.datetime.now(datetime.UTC)
    hour = datetime.timedelta(hours=1)

    def record(user: str, token: str, **changes) -> dict:
        row = users[user]
        return {
            "token_hash": tokens.token_hash(token).hex(),
            "org_id": str(row["org_id"]),
            "user_id": str(row["id"]),
            "binding": session_moves.binding(row["password_hash"]),
            "created_at": now.isoformat(),
            "last_seen_at": now.isoformat(),
            "expires_at": (now + hour).isoformat(),
            "ip": "127.0.0.1",
        } | changes

    org = users["admin"]["org_id"]
    good, changed, disabled, idle, ended = (
        tokens.new_token(tokens.SESSION_PREFIX, org) for _ in range(5)
    )
    sent = [
        record("admin", good),
        record("admin", changed, binding="00" * 32),  # the password changed since
        record("ops1", disabled),
        record("admin", idle, last_seen_at=(now - hour).isoformat()),
        record("admin", ended),
    ]
    body = {
        "sessions": sent,
        "ended": [{"token_hash": sent[4]["token_hash"], "org_id": str(org)}],
    }
    status, answer = call(f"{p.url}/api/v1/cluster/sessions", "POST", body, token=secret)
    assert status == 200, answer
    assert answer["accepted"] == [sent[0]["token_hash"]]
    assert answer["refused"] == [r["token_hash"] for r in sent[1:]]
    assert call(f"{p.url}/api/v1/me", token=good)[0] == 200
    for refused in (changed, disabled, idle, ended):
        assert call(f"{p.url}/api/v1/me", token=refused)[0] == 401
    reasons = sorted(e["reason"] for e in audit(pair, "session_move_refused"))
    assert reasons == ["credentials_changed", "expired", "logged_out", "user_disabled"]
    # Only the peer may send sessions.
    status, _ = call(f"{p.url}/api/v1/cluster/sessions", "POST", body, token=pair.api_key)
    assert status == 401

    # The attacker's replays: a move sent again after a logout on the primary (its answer
    # was lost, say) does not bring the session back; a session made before the user was
    # disabled does not move once the user is enabled again; unreadable times are refused,
    # not a 500; a session from a clock far ahead is taken on this clock (capped to now).
    assert call(f"{p.url}/api/v1/auth/logout", "POST", {}, token=good)[0] == 204
    status, _ = call(
        f"{p.url}/api/v1/orgs/MSPOrg/users/ops1", "PATCH", {"status": "active"},
        token=pair.api_key,
    )  # fmt: skip
    assert status == 200
    ahead, future = (tokens.new_token(tokens.SESSION_PREFIX, org) for _ in range(2))
    before = (now - datetime.timedelta(minutes=10)).isoformat()
    again = [
        record("admin", good),
        record("ops1", disabled, created_at=before, last_seen_at=before),
        record("admin", ahead, created_at="yesterday", expires_at="9999-12-31T23:59:59"),
        record("admin", future, created_at=(now + 30 * 24 * hour).isoformat(),
               expires_at=(now + 31 * 24 * hour).isoformat()),
    ]  # fmt: skip
    status, answer = call(
        f"{p.url}/api/v1/cluster/sessions", "POST", {"sessions": again, "ended": []}, token=secret
    )
    assert status == 200, answer
    assert answer["refused"] == [r["token_hash"] for r in again[:3]]
    assert call(f"{p.url}/api/v1/me", token=good)[0] == 401  # still logged out
    assert call(f"{p.url}/api/v1/me", token=disabled)[0] == 401
    assert call(f"{p.url}/api/v1/me", token=future)[0] == 200
    conn = await asyncpg.connect(**config.superuser_dsn(config.database.name))
    try:
        expires = await conn.fetchval(
            "SELECT expires_at FROM sessions WHERE token_hash = $1", tokens.token_hash(future)
        )
    finally:
        await conn.close()
    limit = datetime.timedelta(hours=config.security.session_max_hours)
    assert expires <= datetime.datetime.now(datetime.UTC) + limit
    reasons = sorted(e["reason"] for e in audit(pair, "session_move_refused"))
    assert reasons.count("logged_out") == 2 and "sessions_ended" in reasons
    assert "bad_times" in reasons


async def wait_for(check, what: str, seconds: float = 15.0) -> None:
    """Poll ``check`` until it holds (bounded)."""
    for _ in range(int(seconds / 0.25)):
        if check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not {what} within {seconds:.0f} s")
