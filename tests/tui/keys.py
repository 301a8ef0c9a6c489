"""Driving the app as a person does: keys and typed text only. The helpers read the screen
to know when to go on; they never set a widget's value or call an action."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.widgets import DataTable, Select, Static, TabbedContent

from tests.tui.conftest import type_text, until
from tui.main_screen import MainScreen
from tui.screens.form import FormModal


def text_of(widget) -> str:
    """What a Static or a cell shows, as plain text."""
    if isinstance(widget, Text | str):
        return str(widget)
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def drawn(widget) -> str:
    """The text on screen inside ``widget``'s region, line by line: what a person reads
    there (an input's or a picker's text is not a Static)."""
    region = widget.region
    strips = widget.screen._compositor.render_strips()
    return "\n".join(
        strip.crop(region.x, region.right).text for strip in strips[region.y : region.bottom]
    )


def ticked(checklist) -> list[str]:
    """The rows of a checklist drawn with a ticked box (a bold X; an unticked box is drawn
    empty), by their text as drawn, top to bottom (only the rows on screen)."""
    region = checklist.region
    strips = checklist.screen._compositor.render_strips()
    rows = []
    for strip in strips[region.y : region.bottom]:
        row = strip.crop(region.x, region.right)
        segments = list(row)
        box = next((i for i, seg in enumerate(segments) if seg.text.strip() == "X"), None)
        if box is None:
            continue
        style = segments[box].style
        if style is not None and style.bold:
            text = "".join(seg.text for seg in segments[box + 1 :]).strip(" ▌▐")
            rows.append(text.split("  ")[0])  # the label, not the scroll bar after it
    return rows


def screen_text(app) -> str:
    """Every Static on the screen, joined (for 'does the screen say X')."""
    return "\n".join(text_of(s) for s in app.screen.query(Static))


async def type_burst(pilot, text: str) -> None:
    """Type ``text`` as one burst of key events (as a fast typist or a paste over SSH
    sends it), without waiting for the screen between keys."""
    for character in text:
        key = "space" if character == " " else character
        pilot.app.post_message(events.Key(key, character))
    await pilot.pause()


async def form_open(pilot, title: str) -> FormModal:
    """Wait for the form titled ``title`` (a prefix) and for its first field's focus."""
    app = pilot.app

    def shown() -> bool:
        screen = app.screen
        return (
            isinstance(screen, FormModal)
            and screen._title.startswith(title)
            and screen.focused is not None
        )

    await until(pilot, shown, what=f"(form {title!r})")
    return app.screen


async def submit(pilot, form: FormModal) -> None:
    """Press Enter and wait for the form to close."""
    await pilot.press("enter")
    await until(pilot, lambda: pilot.app.screen is not form, what=f"(form {form._title!r} closed)")


async def pick(pilot, search: str) -> None:
    """On a focused picker: open it, type to search, choose."""
    select = pilot.app.screen.focused
    if not isinstance(select, Select):
        select = select.parent
    assert isinstance(select, Select), f"focus is on {pilot.app.screen.focused!r}"
    await type_text(pilot, search)  # typing opens the picker and searches
    await until(pilot, lambda: select.expanded, what="(picker open)")
    await pilot.press("enter")
    await until(pilot, lambda: not select.expanded, what="(picker closed)")


def picker_options(form: FormModal, name: str) -> list[str]:
    """The values a form's picker offers."""
    select = form.query_one(f"#f-{name}", Select)
    return [str(value) for _label, value in select._options if value is not Select.NULL]


async def fill(pilot, *steps: str) -> None:
    """Fill a form field by field: a string is typed, '>x' picks by typing x; Tab between."""
    for index, step in enumerate(steps):
        if index:
            await pilot.press("tab")
        if step.startswith(">"):
            await pick(pilot, step[1:])
        elif step:
            await type_text(pilot, step)


async def show_tab(pilot, key: str, tab: str) -> None:
    """Press a tab key and wait until the tab's list has the focus."""
    await pilot.press(key)
    app = pilot.app
    await until(
        pilot,
        lambda: (
            app.screen.query_one(TabbedContent).active == tab
            and isinstance(app.screen.focused, DataTable)
        ),
        what=f"(tab {tab})",
    )


def rows(table: DataTable, column: int = 0) -> list[str]:
    """A table's texts in ``column``."""
    return [text_of(table.get_row_at(i)[column]) for i in range(table.row_count)]


async def cursor_to(pilot, table: DataTable, text: str, column: int = 0) -> None:
    """Move a table's cursor with the arrow keys to the row showing ``text``."""
    await until(pilot, lambda: text in rows(table, column), what=f"(row {text!r})")
    target = rows(table, column).index(text)
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")


async def notified(pilot, words: str, limit: float = 20.0) -> None:
    """Wait for a notification containing ``words``."""
    app = pilot.app
    await until(
        pilot,
        lambda: any(words in n.message for n in app._notifications),
        limit,
        what=f"(notification {words!r})",
    )


async def main_ready(pilot) -> None:
    """The main screen is up and its list has the focus."""
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, MainScreen) and isinstance(app.screen.focused, DataTable),
        what="(main screen ready)",
    )


def typed(field) -> str:
    """The text drawn inside an input as a person reads it, without its grey placeholder:
    the cells drawn in the placeholder's colour are left out (so an empty field whose
    placeholder is 'MSPOrg' reads '', never 'MSPOrg')."""
    hint = field.get_component_rich_style("input--placeholder").color
    region = field.region
    strips = field.screen._compositor.render_strips()
    cells = [
        segment.text
        for strip in strips[region.y : region.bottom]
        for segment in strip.crop(region.x, region.right)
        if segment.style is None or segment.style.color != hint
    ]
    return "".join(cells).strip()
