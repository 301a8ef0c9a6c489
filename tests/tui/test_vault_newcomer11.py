"""Vault fixes from newcomer pass 11, by keys at 80x24: D deletes the highlighted resource
(it did nothing at all, no dialog, no notice, although F1 and the palette list it); keys
typed right after a new resource go to it."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.tui.conftest import log_in, type_text
from tests.tui.keys import (
    cursor_to,
    drawn,
    fill,
    form_open,
    main_ready,
    notified,
    rows,
    submit,
    type_burst,
)
from tests.tui.test_vault_keys import vault_data  # noqa: F401 - fixture


async def new_generic_resource(pilot, vault_data: dict, name: str) -> DataTable:  # noqa: F811 - the fixture's value
    """Log in as the vault's owner, open the new resource form and fill it with ``name``
    of type Generic (not sent yet); return the resources list."""
    await log_in(pilot, "vown", vault_data["people"]["vown"])
    await main_ready(pilot)
    resources = pilot.app.screen.query_one("#resources", DataTable)
    await pilot.press("n")
    await form_open(pilot, "New resource in MSPOrg")
    await fill(pilot, name, ">Generic")
    return resources


async def test_d_deletes_the_resource_once_its_name_is_typed(tui_server, make_app, vault_data):  # noqa: F811
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        resources = await new_generic_resource(pilot, vault_data, "gone01")
        await submit(pilot, app.screen)
        await notified(pilot, "Resource gone01 added")
        await cursor_to(pilot, resources, "gone01")
        await pilot.press("D")
        form = await form_open(pilot, "Delete resource gone01?")
        assert "It holds no account." in drawn(app.screen)
        await type_text(pilot, "gone01")
        await submit(pilot, form)
        await notified(pilot, "Resource gone01 deleted")
        assert not any("gone01" in str(r) for r in rows(resources))


async def test_keys_typed_after_a_new_resource_go_to_it(tui_server, make_app, vault_data):  # noqa: F811
    """Newcomer pass 11: `n web02 … Enter a admin2 Enter` typed at once put the account on
    the resource highlighted before (row 1). The new resource is now the highlighted one
    before the keys typed meanwhile go on."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        resources = await new_generic_resource(pilot, vault_data, "zz-late")
        await pilot.press("enter")
        await type_burst(pilot, "a")  # at once, before the list has reloaded
        await form_open(pilot, "New account on zz-late")
        assert "zz-late" in str(resources.get_row_at(resources.cursor_row)[0])
