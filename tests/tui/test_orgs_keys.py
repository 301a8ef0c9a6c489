"""The Organizations pane by keys at 80x24: add and edit with every field, import a file
(preview, progress, per-row results), the report, delete with what it takes."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, ProgressBar

from server.core.errors import StrongroomError
from server.core.org_file import parse as server_parse
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
from tests.tui.test_stories import make_user
from tui.main_screen import MainScreen
from tui.screens.modals import TextModal
from tui.screens.org_import import FileProblem, ImportScreen, parse

EXCEL_FILE = (
    "\ufeffName,Display_Name,Description,Account_Manager,Department,Location,,\r\n"
    'Imp One,imp1,"two\r\nlines",admin,Ops,Paris,,\r\n'
    "Bad Name,imp 2,,admin,,,,\r\n"
    "Taken,orgbeta,,admin,,,,\r\n"
    "Nobody,imp4,,nobody,,,,\r\n"
)


async def test_orgs_by_keys(tui_server, make_app, tmp_path):
    """n with every field, e (an account manager change is refused and the form kept),
    i with a preview and results, p, d showing counts before the typed confirmation."""
    admin = tui_server.login(ADMIN, ADMIN_PASSWORD)
    make_user(tui_server, admin, "orgadm2", "administrator")
    (tmp_path / "orgs.csv").write_bytes(EXCEL_FILE.encode())
    bulk = "name,display_name,account_manager\n" + "".join(
        f"Bulk {i},bulk{i},admin\n" for i in range(118)
    )
    (tmp_path / "bulk.csv").write_text(bulk + "Again,bulk0,admin\nNope,bulk x,admin\n")
    (tmp_path / "ragged.csv").write_text("Ragged,ragged1,admin\nRagged Two,ragged2\n")
    (tmp_path / "nomanager.csv").write_text("name,display_name\nNo Manager,nomgr1\n")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await log_in(pilot, ADMIN, ADMIN_PASSWORD)
        await main_ready(pilot)
        await show_tab(pilot, "f3", "orgs")
        table = app.screen.query_one("#orgs-table", DataTable)

        # New, every field; the display name's rule is checked as it is typed.
        await pilot.press("n")
        form = await form_open(pilot, "New organization")
        await fill(pilot, "Beta Ltd", "or gbeta")
        error = form.query_one("#e-display_name")
        await until(pilot, lambda: error.has_class("shown"), what="(live check)")
        # The rule reads whole and fits the form's width at 80 columns.
        assert text_of(error) == "one word of letters and digits, at most 64 characters"
        assert error.size.width >= len(text_of(error)), error.size
        await pilot.press("home", "right", "right", "delete")
        await until(pilot, lambda: not error.has_class("shown"), what="(rule met)")
        await pilot.press("tab")
        await fill(pilot, "", ">client", ">yes", "Our beta client", "Operations", "Paris")
        await submit(pilot, form)
        await notified(pilot, "Organization orgbeta created")
        await until(pilot, lambda: "orgbeta" in rows(table))
        _, org = tui_server.api("GET", "/orgs/orgbeta", token=admin)
        assert {k: org[k] for k in ("name", "account_manager", "vault_control")} == {
            "name": "Beta Ltd",
            "account_manager": ADMIN,
            "vault_control": "client",
        }
        assert org["require_reveal_reason"] is True
        assert (org["description"], org["department"], org["location"]) == (
            "Our beta client",
            "Operations",
            "Paris",
        )

        # A display name in use is refused under its field.
        await pilot.press("n")
        form = await form_open(pilot, "New organization")
        await fill(pilot, "Beta Again", "ORGBETA")
        await pilot.press("enter")
        error = form.query_one("#e-display_name")
        await until(pilot, lambda: error.has_class("shown"), what="(taken)")
        assert "already exists" in text_of(error)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))

        # Edit: another account manager is refused in place, the input kept; then the
        # other fields are saved.
        await cursor_to(pilot, table, "orgbeta")
        await pilot.press("e")
        form = await form_open(pilot, "Edit orgbeta")
        await pilot.press("tab", "tab")
        await fill(pilot, ">orgadm2", "", ">no")
        await pilot.press("tab", "end", "ctrl+u")
        await type_text(pilot, "Edited in the TUI")
        await pilot.press("enter")
        manager_error = form.query_one("#e-account_manager")
        await until(pilot, lambda: manager_error.has_class("shown"), what="(refusal)")
        assert "needs a second administrator: file it from Access (F4), m" in text_of(manager_error)
        assert app.screen is form
        assert drawn(form.query_one("#f-description")).strip() == "Edited in the TUI"
        await fill(pilot, ">admin")  # the focus is on the refused field
        await submit(pilot, form)
        await notified(pilot, "orgbeta saved")
        _, org = tui_server.api("GET", "/orgs/orgbeta", token=admin)
        assert (org["description"], org["account_manager"]) == ("Edited in the TUI", ADMIN)
        assert org["require_reveal_reason"] is False

        # Import a file as Excel writes it: preview, then each row's outcome.
        await pilot.press("i")
        form = await form_open(pilot, "Import organizations")
        await type_text(pilot, str(tmp_path / "ragged.csv"))
        await pilot.press("enter")
        path_error = form.query_one("#e-path")
        await until(pilot, lambda: path_error.has_class("shown"), what="(bad file)")
        assert "line 2 has 2 fields but line 1 has 3" in text_of(path_error)
        # A header row without account_manager: the header is what lacks it.
        await pilot.press("end", "ctrl+u")
        await type_text(pilot, str(tmp_path / "nomanager.csv"))
        await pilot.press("enter")
        await until(pilot, lambda: "account_manager" in text_of(path_error), what="(header)")
        assert "the header row lacks the column(s) account_manager" in text_of(path_error)
        assert "add a header row" not in text_of(path_error)
        await pilot.press("end", "ctrl+u")
        await type_text(pilot, str(tmp_path / "orgs.csv"))
        await submit(pilot, form)
        form = await form_open(pilot, "Import orgs.csv?")
        shown = screen_text(app)
        assert "4 organizations, fields separated by commas, with a header row" in shown
        for words in ("imp1", "Imp One", "imp 2", "orgbeta", "nobody"):
            assert words in shown, words
        await type_text(pilot, "import")
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, ImportScreen), what="(importing)")
        screen = app.screen
        await until(pilot, lambda: "Created 1, refused 3" in screen_text(app), what="(done)")
        results = screen.query_one("#import-results", DataTable)
        assert rows(results) == ["2", "4", "5", "6"]
        assert rows(results, 2) == ["created", "refused", "refused", "refused"]
        reasons = rows(results, 3)
        assert "one word" in reasons[1] and "named 'orgbeta' already" in reasons[2]
        assert "not an active MSPOrg user" in reasons[3]
        await pilot.press("down")
        assert "line 4: imp 2 refused: display_name: must be one word" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        _, imp1 = tui_server.api("GET", "/orgs/imp1", token=admin)
        assert imp1["description"].splitlines() == ["two", "lines"]
        assert (imp1["department"], imp1["location"]) == ("Ops", "Paris")
        assert tui_server.api("GET", "/orgs/imp4", token=admin)[0] == 404

        # A larger file goes in chunks; the bar reaches the end.
        await pilot.press("i")
        form = await form_open(pilot, "Import organizations")
        await type_text(pilot, str(tmp_path / "bulk.csv"))
        await submit(pilot, form)
        form = await form_open(pilot, "Import bulk.csv?")
        await type_text(pilot, "import")
        await submit(pilot, form)
        await until(pilot, lambda: isinstance(app.screen, ImportScreen))
        screen = app.screen
        await until(pilot, lambda: "Created 118, refused 2" in screen_text(app), 60, "(bulk)")
        bar = screen.query_one(ProgressBar)
        assert bar.progress == bar.total == 120
        results = screen.query_one("#import-results", DataTable)
        assert results.row_count == 120 and rows(results)[-2:] == ["120", "121"]
        await pilot.press("escape")
        await until(pilot, lambda: "bulk117" in rows(table), what="(imported orgs listed)")
        _, listed = tui_server.api("GET", "/orgs?limit=1000", token=admin)
        assert sum(o["display_name"].startswith("bulk") for o in listed["items"]) == 118

        # Report and delete of an org with a user, a group, a resource and an account.
        status, _ = tui_server.api(
            "POST",
            "/orgs/imp1/users",
            {"username": "ivy", "role": "password_user", "password": "ivy-initial-pw-1"},
            admin,
        )
        assert status == 201
        tui_server.api("POST", "/orgs/imp1/groups", {"name": "staff", "members": ["ivy"]}, admin)
        status, res = tui_server.api(
            "POST", "/orgs/imp1/resources", {"name": "fw1", "type": "Linux"}, admin
        )
        assert status == 201, res
        tui_server.api(
            "POST",
            f"/orgs/imp1/resources/{res['id']}/accounts",
            {"username": "root", "password": "Fw1-root-Secret!"},
            admin,
        )
        await pilot.press("ctrl+r")
        await cursor_to(pilot, table, "imp1")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, TextModal), what="(report)")
        report = screen_text(app)
        for words in (
            "imp1 — Imp One",
            "Account manager: admin",
            "Location: Paris",
            "Users (1):",
            "ivy (password user, active",
            "staff: ivy",
            "admin (PRIVILEGED admin) via account manager",
        ):
            assert words in report, words
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("d")
        form = await form_open(pilot, "Delete imp1")
        preview = screen_text(app)
        assert "1 users: ivy" in preview and "1 groups" in preview
        assert "1 resources and 1 accounts" in preview
        await type_text(pilot, "imp1")
        await submit(pilot, form)
        await notified(pilot, "Deleted imp1: 1 users, 1 groups, 1 resources, 1 accounts")
        await until(pilot, lambda: "imp1" not in rows(table))
    assert tui_server.api("GET", "/orgs/imp1", token=admin)[0] == 404


SHAPES = {
    "excel.csv": EXCEL_FILE.encode(),
    "semicolons.csv": b"Acme;acme;;admin\r\nBeta;beta;x;admin\r\n",
    "tabs.txt": b"name\tdisplay_name\taccount_manager\nA\ta1\tadmin\n\nB\tb1\tadmin\n",
    "quoted.csv": b'"Multi\nline, name",m1,"said ""hi""",admin\n',
    "ragged.csv": b"A,a1,admin\nB,b1\n",
    "orphan.csv": b"name,display_name,account_manager,\nA,a1,admin,stray\n",
    "twice.csv": b"name,name,display_name,account_manager\nA,B,a1,admin\n",
    "missing.csv": b"name,display_name\nA,a1\n",
    "wide.csv": b"a,b,c,d,e,f,g\n",
    "empty.csv": b"\n \n",
    "latin1.csv": "Café,cafe,admin\n".encode("latin-1"),
    "orgs.xlsx": b"A,a1,admin\n",
    "many.csv": "".join(f"O{i},o{i},admin\n" for i in range(101)).encode(),
}


def test_the_preview_reads_files_as_the_server_does():
    """The TUI's preview reads an import file into the server's rows, or refuses the
    files the server refuses with its reason (what is previewed and sent is what the
    server sees)."""
    for name, raw in SHAPES.items():
        try:
            expected = [
                (o.line, o.name, o.display_name, o.account_manager, o.description)
                for o in server_parse(name, raw, 100)
            ]
        except StrongroomError:
            expected = None
        try:
            found = parse(Path(name), raw, 100)
        except FileProblem:
            assert expected is None, name
            continue
        rows = [
            (line, r["name"], r["display_name"], r["account_manager"], r.get("description", ""))
            for line, r in found.rows
        ]
        assert rows == expected, name
