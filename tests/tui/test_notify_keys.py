"""The Settings tab's Notify section (issue 31) by keys only: a SIEM destination added,
its test event refused by a receiver that is not there (said), its delivery state FAILING;
my mutes ticked in a checklist. Each step is checked against what the server then holds."""

from __future__ import annotations

import re

from textual.widgets import DataTable, Select, Static

from tests.tui.conftest import ADMIN, ADMIN_PASSWORD, log_in, type_text, until
from tests.tui.keys import (
    cursor_to,
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    rows,
    screen_text,
    show_tab,
    submit,
    text_of,
)
from tests.tui.test_story_keys import pick_org
from tui.api_types import ApiError
from tui.client.transport import Transport
from tui.screens.me import OnceModal
from tui.widgets.settings import SettingsPane


async def test_notify_section_by_keys(tui_server, make_app, monkeypatch):
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    status, body = tui_server.api(
        "POST",
        "/orgs",
        {"name": "Notify Co", "display_name": "notifyco", "account_manager": ADMIN},
        admin,
    )
    assert status == 201, body
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f7", "settings")
        screen = app.screen
        await pilot.press("6")
        table = screen.query_one("#notify-table", DataTable)
        await until(pilot, lambda: screen.focused is table, what="(notify section)")
        note = screen.query_one("#notify-note", Static)
        await until(pilot, lambda: "I muted: nothing" in text_of(note), what="(mutes said)")

        await pilot.press("n")
        form = await form_open(pilot, "New SIEM destination of MSPOrg")
        await fill(pilot, "siem1", "127.0.0.1", "9", ">TCP")
        await submit(pilot, form)
        await notified(pilot, "Destination siem1 added")
        # Its verification key is shown once in a dialog (not a toast that goes away).
        once = await until_once(pilot, "Verification key of siem1")
        assert "Shown only now" in screen_text(app) and "verify-stream" in screen_text(app)
        assert len(once._secret) >= 32 and once._secret in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen, what="(key dialog closed)")
        await until(pilot, lambda: "siem1" in rows(table, 1), what="(destination listed)")
        status, page = tui_server.api("GET", "/orgs/MSPOrg/siem-destinations", token=admin)
        assert status == 200
        (dest,) = page["items"]
        assert (dest["port"], dest["transport"], dest["format"]) == (9, "tcp", "json")

        await cursor_to(pilot, table, "siem1", 1)
        await pilot.press("t")
        await notified(pilot, "siem1: could not connect to 127.0.0.1:9 (refused): check")

        # Changed in place (c): the port only; the cursor and the rest stay.
        await pilot.press("c")
        form = await form_open(pilot, "Change SIEM destination siem1")
        await pilot.press("tab", "end", "ctrl+u")
        await type_text(pilot, "10")
        await submit(pilot, form)
        await notified(pilot, "siem1 changed")
        status, page = tui_server.api("GET", "/orgs/MSPOrg/siem-destinations", token=admin)
        (moved,) = page["items"]
        assert (moved["port"], moved["transport"], moved["host"]) == (10, "tcp", "127.0.0.1")
        assert moved["sent_seq"] >= dest["sent_seq"]
        await until(pilot, lambda: "127.0.0.1:10 tcp/json" in rows(table, 2), what="(shown)")

        await pilot.press("u")
        form = await form_open(pilot, "Mute notifications")
        await pilot.press("c", "space")
        await submit(pilot, form)
        await notified(pilot, "Mutes saved")
        status, mutes = tui_server.api("GET", "/me/notification-mutes", token=admin)
        assert mutes["muted"] == ["checkout_ending"]
        # The Delivery column follows the forwarder by itself while the section is on
        # show (no Ctrl+R: newcomer pass, session 10), in place.
        assert table.row_count == 1
        await until(
            pilot, lambda: "FAILING" in " ".join(rows(table, 3)), limit=30, what="(by itself)"
        )
        await until(pilot, lambda: "check-out ending soon" in text_of(note), what="(mute said)")
        # The column says what is left to send in words that read right when cut ('sent
        # 24 of 240' was cut to 'sent 24 of 2'); the reason is said in full under it.
        (cell,) = [r for r in rows(table, 3) if "FAILING" in r]
        assert re.fullmatch(r"FAILING \d+x · \d+ to send", cell), cell
        assert "to send" in drawn(table)  # on screen at 80 columns, not cut
        assert "SIEM siem1 is failing: " in text_of(note), text_of(note)

        # A template: the kinds in words (no codes, no "(issue 29)"); the form's title in
        # words and every placeholder of the kind listed whole, each once (newcomer pass,
        # session 10: "Template of request_waiting ($org $what $by ...)" hid $requester).
        await pilot.press("e")
        form = await form_open(pilot, "Which notification's template?")
        labels = [str(label) for label, _value in form.query_one("#f-kind", Select)._options]
        assert "Request waiting for your decision" in labels, labels
        assert not [x for x in labels if "_" in x or "issue" in x], labels
        await fill(pilot, ">waiting")
        await submit(pilot, form)
        form = await form_open(pilot, "Template: Request waiting for your decision")
        said = screen_text(app)
        for name in ("$org (the org)", "$requester (who asks)", "$what", "$reason"):
            assert said.count(name) == 1, (name, said)
        assert "request_waiting" not in said and "..." not in said, said
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="(template form closed)")

        # A webhook's signing secret: shown once in the same dialog; Esc closes it.
        await pilot.press("w")
        form = await form_open(pilot, "New webhook of MSPOrg")
        await fill(pilot, "hook1", "https://127.0.0.1:9/hook")
        await submit(pilot, form)
        once = await until_once(pilot, "Signing secret of hook1")
        assert once._secret in screen_text(app) and "Shown only now" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="(secret dialog closed)")
        await until(pilot, lambda: "hook1" in rows(table, 1), what="(webhook listed)")
        # Its Delivery cell is filled as a SIEM destination's is.
        assert rows(table, 3)[rows(table, 1).index("hook1")] == "none yet", rows(table, 3)
        # A change made elsewhere (another administrator pauses siem1) shows by itself
        # while the section is on show, the cursor kept (a light refresh every 5 s).
        cursor = table.cursor_row
        status, _ = tui_server.api(
            "PATCH", f"/orgs/MSPOrg/siem-destinations/{dest['id']}", {"enabled": False}, admin
        )
        assert status == 200
        await until(pilot, lambda: "paused" in rows(table, 3), limit=15, what="(refreshed)")
        assert table.cursor_row == cursor and "SIEM siem1 is failing" not in text_of(note)
        await cursor_to(pilot, table, "hook1", 1)
        await pilot.press("c")
        form = await form_open(pilot, "Change webhook hook1")
        await pilot.press("end", "ctrl+u")
        await type_text(pilot, "https://127.0.0.1:9/moved")
        await submit(pilot, form)
        await notified(pilot, "hook1 changed")
        status, page = tui_server.api("GET", "/orgs/MSPOrg/notifications/webhooks", token=admin)
        assert [h["url"] for h in page["items"]] == ["https://127.0.0.1:9/moved"]

        # A client org's Notify section, seen by an MSPOrg administrator: who sets it is
        # said once, and nothing the server would refuse (and record as denied) is asked
        # (newcomer pass, session 10: GET siem-destinations, webhooks, smtp were refused).
        refused: list[str] = []
        asked = Transport._request

        async def spy(self, method, path, *args, **kwargs):
            try:
                return await asked(self, method, path, *args, **kwargs)
            except ApiError as error:
                if error.status == 403:
                    refused.append(f"{method} {path}")
                raise

        monkeypatch.setattr(Transport, "_request", spy)
        await pick_org(pilot, "notifyco")
        await until(pilot, lambda: "notifyco's own" in text_of(note), what="(client refusal)")
        said = text_of(note)
        assert said.count("own administrators") == 1 and said.startswith("Only"), said
        assert "webhooks and templates" in said, said
        # Nor are keys offered that would be refused after a filled form (session 9).
        pane = app.screen.query_one(SettingsPane)
        for action in ("new_destination", "new_webhook", "template", "smtp", "test_destination"):
            assert not pane.check_action(action, ()), action
        assert pane.check_action("mutes", ())
        assert not rows(table, 1)
        await pilot.pause(0.3)
        assert refused == [], refused
        await pilot.press("n")
        await pilot.pause(0.3)
        assert app.screen is screen  # no form opened


async def until_once(pilot, title: str) -> OnceModal:
    """Wait for the shown-once dialog titled ``title``."""
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, OnceModal) and app.screen._title == title,
        what=f"(shown-once {title!r})",
    )
    await until(pilot, lambda: "Shown only now" in screen_text(app), what="(drawn)")
    return app.screen
