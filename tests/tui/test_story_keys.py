"""The seed's whole story in ONE app session at 80x24, from the login screen of a fresh
node, by key presses and typed text only."""

from __future__ import annotations

from textual.widgets import DataTable, Select, Static

from tests.tui.conftest import log_in, type_text, until
from tests.tui.keys import (
    cursor_to,
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    picker_options,
    rows,
    screen_text,
    show_tab,
    submit,
    text_of,
)
from tests.tui.story import (
    ADMIN,
    APPROVER,
    CLIENT,
    DESIGNEE,
    ORG,
    PROPOSER,
    SECRET,
    Person,
    fresh_node,  # noqa: F401 - fixture
    initial_password,
)
from tui.app import StrongroomApp
from tui.client import Client, Endpoint
from tui.main_screen import MainScreen
from tui.screens.login import LoginScreen
from tui.screens.modals import RevealModal


async def first_login(pilot, person: Person, org: str = "") -> None:
    """Log in with the initial password and choose one's own at the form that follows."""
    await log_in(pilot, person.username, person.initial, org)
    form = await form_open(pilot, "Choose a new password")
    await fill(pilot, person.final, person.final)
    await submit(pilot, form)
    await main_ready(pilot)


async def log_out(pilot) -> None:
    """Ctrl+X, back at the login screen."""
    await pilot.press("ctrl+x")
    await until(pilot, lambda: isinstance(pilot.app.screen, LoginScreen), what="(login)")


async def pick_org(pilot, org: str) -> None:
    """Ctrl+O, type to find the org, Enter; the panes now show it."""
    band = pilot.app.screen.query_one("#org-select", Select)
    await until(pilot, lambda: org in [str(v) for _l, v in band._options], what="(org in band)")
    await pilot.press("ctrl+o")
    await until(pilot, lambda: band.expanded)
    await type_text(pilot, org)
    await pilot.press("enter")
    await until(pilot, lambda: drawn(band).startswith(org), what=f"(org {org})")


async def add_user(pilot, person: Person, full_name: str, role: str) -> None:
    """n in the users pane: username, name, e-mail, role picker, initial password."""
    await pilot.press("n")
    form = await form_open(pilot, "New user")
    await fill(pilot, person.username, full_name, "", f">{role}", person.initial)
    await submit(pilot, form)
    table = pilot.app.screen.query_one("#users-table", DataTable)
    await until(pilot, lambda: person.username in rows(table), what=f"({person.username})")


async def test_the_whole_story_by_keys(fresh_node, tmp_path):  # noqa: F811
    """First login, three MSP administrators, an org, dual-control access, the vault,
    a reveal that hides itself, the client user at its org, and deleting the org."""
    client = Client([Endpoint.parse(fresh_node.url)], known_hosts=tmp_path / "known_hosts.json")
    app = StrongroomApp(client, reveal_seconds=2)
    async with app.run_test(size=(80, 24)) as pilot:
        # A fresh node: the login screen says where the first password is.
        hint = app.screen.query_one("#first-run", Static)
        await until(pilot, lambda: not hint.has_class("hidden"), what="(first-run hint)")
        assert "conf/initial-admin-password" in text_of(hint)
        assert initial_password(fresh_node.home) == ADMIN.initial
        await first_login(pilot, ADMIN)
        assert not (fresh_node.home / "conf" / "initial-admin-password").exists()

        # The first administrator adds three more: adm2 and adm3 administrators, adm4 too.
        await show_tab(pilot, "f6", "users")
        for person, name in ((PROPOSER, "Pat Proposer"), (APPROVER, "Ann Approver")):
            await add_user(pilot, person, name, "adm")
        await add_user(pilot, DESIGNEE, "Dee Designee", "adm")

        # A server refusal keeps the form open with what was typed, errors at their fields.
        await pilot.press("n")
        form = await form_open(pilot, "New user")
        await fill(pilot, "bad name", "", "not-mail")
        await pilot.press("tab", "tab", "enter")
        await until(pilot, lambda: "Please correct" in text_of(form.query_one("#form-error")))
        for name in ("username", "email", "password"):  # all at once, each at its field
            assert form.query_one(f"#e-{name}").has_class("shown"), name
        assert not form.query_one("#e-full_name").has_class("shown")
        assert drawn(form.query_one("#f-username")).strip() == "bad name"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # An org with an account manager picked from a list; the vault is the MSP's.
        await show_tab(pilot, "f3", "orgs")
        await pilot.press("n")
        form = await form_open(pilot, "New organization")
        assert "admin" in picker_options(form, "account_manager")
        await fill(pilot, "Acme Ltd", ORG, "", ">msp")
        await submit(pilot, form)
        await notified(pilot, f"Organization {ORG} created")
        await until(pilot, lambda: ORG in rows(app.screen.query_one("#orgs-table", DataTable)))
        await log_out(pilot)

        # adm2 asks access for adm4 to acme; neither may approve, adm3 may.
        await first_login(pilot, PROPOSER)
        await show_tab(pilot, "f4", "access")
        await pilot.press("q")
        form = await form_open(pilot, "Request org access (1 of 2)")
        await fill(pilot, f">{ORG}", f">user {DESIGNEE.username}")
        await submit(pilot, form)
        form = await form_open(pilot, "Request org access (2 of 2)")
        eligible = picker_options(form, "approver")
        assert APPROVER.username in eligible
        assert PROPOSER.username not in eligible and DESIGNEE.username not in eligible
        await fill(pilot, f">{APPROVER.username}", "on call this week")
        await submit(pilot, form)
        await notified(pilot, f"{APPROVER.username} has been asked")
        mine = app.screen.query_one("#mine", DataTable)
        await until(pilot, lambda: rows(mine, 3) == ["pending"])
        await pilot.press("y")  # the proposer's own queue is empty: refused
        await notified(pilot, "Nothing is waiting for your approval")
        await log_out(pilot)

        await first_login(pilot, DESIGNEE)
        await show_tab(pilot, "f4", "access")
        await pilot.press("y")  # the designee cannot approve either
        await notified(pilot, "Nothing is waiting for your approval")
        await log_out(pilot)

        await first_login(pilot, APPROVER)
        await show_tab(pilot, "f4", "access")
        queue = app.screen.query_one("#queue", DataTable)
        await until(pilot, lambda: rows(queue) == [ORG], what="(request in queue)")
        await pilot.press("y")
        form = await form_open(pilot, "Approve org access")
        note = screen_text(app)
        for words in (ORG, f"user {DESIGNEE.username}", PROPOSER.username, "on call", "Expires"):
            assert words in note, words
        await type_text(pilot, APPROVER.final)
        await submit(pilot, form)
        await notified(pilot, f"may act in {ORG}")
        await until(pilot, lambda: queue.row_count == 0)
        await log_out(pilot)

        # adm4, now granted, works in acme: a client user, a resource, an account, a share.
        await log_in(pilot, DESIGNEE.username, DESIGNEE.final)
        await main_ready(pilot)
        await pick_org(pilot, ORG)
        await show_tab(pilot, "f6", "users")
        await add_user(pilot, CLIENT, "Carol Client", "password user")
        await show_tab(pilot, "f2", "vault")
        await pilot.press("n")
        form = await form_open(pilot, "New resource")
        await fill(pilot, "web01", ">Linux", "web01.acme.example")
        await submit(pilot, form)
        resources = app.screen.query_one("#resources", DataTable)
        await until(pilot, lambda: rows(resources) == ["web01"])
        await pilot.press("a")
        form = await form_open(pilot, "New account")
        await fill(pilot, "root", SECRET)
        await submit(pilot, form)
        await until(pilot, lambda: rows(resources, 3) == ["1"], what="(account count)")
        await pilot.press("s")
        form = await form_open(pilot, "Share web01")
        await fill(pilot, f">user {CLIENT.username}", ">view")
        await submit(pilot, form)
        await notified(pilot, "Shared.")

        # Reveal: the password shows, then hides itself; the audit names the resource.
        await pilot.press("tab")
        accounts = app.screen.query_one("#accounts", DataTable)
        await until(pilot, lambda: app.screen.focused is accounts)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, RevealModal), what="(revealed)")
        assert SECRET in text_of(app.screen.query_one("#secret"))
        await until(pilot, lambda: isinstance(app.screen, MainScreen), what="(auto-hide)")
        await show_tab(pilot, "f5", "audit")
        audit = app.screen.query_one("#audit-table", DataTable)
        await until(pilot, lambda: "password revealed" in rows(audit, 2), what="(audited)")
        assert "web01/root" in rows(audit, 3)
        await log_out(pilot)

        # The client user at its org sees what was shared.
        await first_login(pilot, CLIENT, org=ORG)
        resources = app.screen.query_one("#resources", DataTable)
        await until(pilot, lambda: rows(resources) == ["web01"], what="(client sees web01)")
        await log_out(pilot)

        # adm4 deletes the org; it leaves the list and the org selector.
        await log_in(pilot, DESIGNEE.username, DESIGNEE.final)
        await main_ready(pilot)
        await show_tab(pilot, "f3", "orgs")
        orgs = app.screen.query_one("#orgs-table", DataTable)
        await cursor_to(pilot, orgs, ORG)
        await pilot.press("d")
        form = await form_open(pilot, f"Delete {ORG}")
        await type_text(pilot, ORG)
        await submit(pilot, form)
        await notified(pilot, f"Deleted {ORG}")
        band = app.screen.query_one("#org-select", Select)
        await until(pilot, lambda: ORG not in rows(orgs), what="(org gone)")
        await until(pilot, lambda: ORG not in [str(v) for _l, v in band._options])
