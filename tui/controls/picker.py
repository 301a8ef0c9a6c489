"""A picker: a Select that is searched by typing and never loses keys typed quickly."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Select, Static
from textual.widgets._select import SelectCurrent, SelectOverlay
from textual.widgets.option_list import Option

from tui.controls.hints import as_hint
from tui.controls.table import with_mark

LIST_ROWS = 12  # the most rows the open list takes (its border aside)
_WORD_BREAKS = re.compile(r"[\s_]+")


def words(text: str) -> list[str]:
    """The words of a search or a choice: lower case, split at spaces and underscores
    ('org_imported' → ['org', 'imported'])."""
    return [w for w in _WORD_BREAKS.split(text.lower()) if w]


def _rank(wanted: list[str], label: str, index: int) -> tuple[int, int, int, int] | None:
    """How well ``label`` answers the typed words (smaller is better), None when it does
    not hold them all: first the labels where every typed word starts a word of theirs
    ('pass rev' → 'password revealed'), then the shorter names, then where the first word
    starts, then list order (newcomer pass 10: 'password revealed' before 'password
    history revealed')."""
    own = words(label)
    flat = " ".join(own)
    if not all(w in flat for w in wanted):
        return None
    prefixes = all(any(word.startswith(w) for word in own) for w in wanted)
    return (0 if prefixes else 1, len(flat), flat.find(wanted[0]), index)


def matches(query: str, labels: list[str]) -> list[int]:
    """The indexes of the labels that hold every word of ``query`` (any order; spaces and
    underscores alike), the best first (``_rank``); every index for an empty query
    (issue 35)."""
    wanted = words(query)
    if not wanted:
        return list(range(len(labels)))
    ranked = [_rank(wanted, label, index) for index, label in enumerate(labels)]
    return [rank[3] for rank in sorted(r for r in ranked if r is not None)]


def best_match(query: str, labels: list[str]) -> int | None:
    """The index of the label that holds every word of ``query`` (any order; spaces and
    underscores alike: 'org imp' finds 'org_imported'), the best by ``_rank``; None when
    none does (issue 35)."""
    if not words(query):
        return None
    found = matches(query, labels)
    return found[0] if found else None


# Before the highlighted choice of an open list or a focused checklist: an arrow, not the
# focus mark ('▶ ' before the focused field's label), so a form shows one mark per kind.
HIGHLIGHT_MARK = "\u2192 "  # →


def highlighted_line(options: Any, y: int) -> bool:
    """Is the line ``y`` of an option list (a picker's list, a checklist) the first line
    of its highlighted option?"""
    if options.highlighted is None:
        return False
    try:
        index, line = options._lines[options.scroll_offset.y + y]
    except IndexError:
        return False
    return bool(index == options.highlighted and line == 0)


class MarkedList(SelectOverlay):
    """A picker's open list: its highlighted choice starts with ``HIGHLIGHT_MARK`` (in the
    choices' left padding), and is reversed under NO_COLOR, so it is seen without colour
    too (NO_COLOR, a monochrome terminal, a screen reader of the text; newcomer pass,
    session 11). The reverse is drawn here: a ``text-style: reverse`` in CSS does not reach
    an option list's lines."""

    SCOPED_CSS = False  # the rules below name the picker: they beat Select's own
    DEFAULT_CSS = """
    Select > MarkedList > .option-list--option,
    Select > MarkedList.-textual-compact > .option-list--option { padding: 0 0 0 2; }
    """

    def render_line(self, y: int) -> Strip:
        """The option list's line, the highlighted choice's marked."""
        strip = super().render_line(y)
        if not highlighted_line(self, y):
            return strip
        return with_mark(strip, HIGHLIGHT_MARK, reverse=self.app.no_color)


class Picker(Select[str]):
    """A form's picker. Typing opens it and jumps to the first match; Space or Down opens
    it; Up/Down move, Enter chooses, Esc closes the list; Tab chooses nothing and moves on.
    Enter on the closed picker opens it until a choice is made in it (or when it is the
    form's only field: the choice on show is the answer); after that Enter submits the
    form, as in a text field (with ``enter_submits=False`` it always opens:
    a newcomer pressed Enter on a Role picker to change the role and saved the form).

    The picker keeps the focus while its list is open (the list never takes it), so keys
    typed quickly, before a focus change could land, all reach the same place.

    Its list is mounted after the first frame (or at once when a key needs it): a form
    with pickers is drawn without waiting for their lists (issue 35, item 8).
    """

    BINDINGS = [Binding("space,down", "show_overlay", "Open the list", show=False)]

    def __init__(self, *args: Any, enter_submits: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._enter_submits = enter_submits
        self._query = ""  # what was typed to search since the list opened
        self.chosen_here = False  # a choice was made in this picker (Enter then submits)
        self.lone = False  # the form's only field (Enter submits what it shows)
        self._overlay: SelectOverlay | None = None  # the list, once its mount has begun
        self._mounting: Any = None  # that mount, awaited by whoever needs the list
        self._grown: Widget | None = None  # the dialog made taller while the list is open
        self._shown: list[int] | None = None  # the choices the list shows (None: all)

    def compose(self) -> ComposeResult:
        """The choice on show; the list comes after the first frame (``_list``)."""
        yield SelectCurrent(as_hint(self.prompt))

    def _on_mount(self, _event: events.Mount) -> None:
        """Mount the list once the first frame is drawn (Select's own handler, called
        after this one, shows the initial choice)."""
        self.call_after_refresh(self._list_after_first_frame)

    async def _list_after_first_frame(self) -> None:
        """The list, unless the picker left the screen before its first frame came (the
        app quitting: Ctrl+Q pressed as the vault appeared ended the TUI with a MountError
        traceback and exit status 1, session 11). A key that needs the list later mounts
        it then (``_list``)."""
        if self.is_attached:
            await self._list()

    def _ready_list(self) -> SelectOverlay | None:
        """The list if it is mounted, else None."""
        overlay = self._overlay
        return overlay if overlay is not None and overlay.is_mounted else None

    async def _list(self) -> SelectOverlay:
        """The picker's list, mounted now if it is not yet (filled with the choices)."""
        if self._overlay is None:
            self._overlay = MarkedList(type_to_search=self._type_to_search).data_bind(
                compact=Select.compact
            )
            self._mounting = self.mount(self._overlay)
            await self._mounting
            self._setup_options_renderables()
        elif not self._overlay.is_mounted:
            await self._mounting
        return self._overlay

    @property
    def enter_submits(self) -> bool:
        """Does Enter on the closed picker submit the form (rather than open the list)?"""
        return self._enter_submits and (
            self.chosen_here or (self.lone and self.value != Select.NULL)
        )

    def _choices(self) -> list[tuple[Any, Any]]:
        """The options the list shows: the blank one (the prompt, a hint) is not one."""
        return [(prompt, value) for prompt, value in self._options if value is not Select.NULL]

    def _setup_options_renderables(self) -> None:
        """The list holds the choices only, never the prompt (a list not mounted yet is
        filled when it is)."""
        overlay = self._ready_list()
        if overlay is None:
            return
        self._shown = None
        overlay.clear_options()
        overlay.add_options([Option(prompt) for prompt, _value in self._choices()])

    def _show_only(self, overlay: SelectOverlay, shown: list[int] | None) -> None:
        """The list holds the choices at ``shown`` (None: every choice), in that order."""
        if shown == self._shown or (shown is None and self._shown is None):
            return
        choices = self._choices()
        self._shown = shown
        overlay.clear_options()
        overlay.add_options(
            [Option(choices[i][0]) for i in (range(len(choices)) if shown is None else shown)]
        )
        if self.expanded:
            self._fit(overlay)  # a shorter list sits next to the picker all the same

    def _choice_at(self, row: int | None) -> int | None:
        """The choice shown at the list's ``row`` (the list may show only the matches)."""
        if row is None:
            return None
        if self._shown is None:
            return row
        return self._shown[row] if 0 <= row < len(self._shown) else None

    def _watch_value(self, value: Any) -> None:
        """Show the choice (the list's highlight follows it when the list opens)."""
        self._value = value
        try:
            current = self.query_one(SelectCurrent)
        except NoMatches:
            return
        if value == Select.NULL:
            current.update(Select.NULL)
        else:
            prompt = next((p for p, v in self._choices() if v == value), None)
            if prompt is not None:
                current.update(prompt)
        self.post_message(Select.Changed(self, value))

    def _labels(self) -> list[str]:
        return [p.plain if isinstance(p, Text) else str(p) for p, _value in self._choices()]

    def _show_query(self, overlay: SelectOverlay, found: bool = True) -> None:
        """What was typed, on the list's top border and on the picker's own line (which
        kept the old choice: newcomer pass 10), and when nothing matches."""
        if not self._query:
            overlay.border_title = "type to search"
            self._show_current()
            return
        said = Text(f"search: {self._query}" + ("" if found else " (no match)"))
        overlay.border_title = said
        try:
            self.query_one(SelectCurrent).update(said)
        except NoMatches:
            pass

    def _show_current(self) -> None:
        """The picker's line shows the current choice again (the search is over)."""
        try:
            current = self.query_one(SelectCurrent)
        except NoMatches:
            return
        prompt = next((p for p, v in self._choices() if v == self.value), None)
        current.update(Select.NULL if prompt is None else prompt)

    def _say_keys(self, expanded: bool) -> None:
        """The dialog's key line says the open list's keys, never 'Enter: open the list'
        while it is open (the form's own line again once it closes)."""
        form = self.screen
        for line in form.query("#form-keys").results(Static):
            if expanded:
                line.update("Type: search   ↑↓: move   Enter: choose   Esc: close the list")
            elif hasattr(form, "_keys_line"):
                line.update(form._keys_line(self if self.has_focus else form.focused))

    def _fit(self, overlay: SelectOverlay) -> None:
        """Keep the open list inside the dialog (or above the key bar): below the picker
        when it fits there, else above it, its height cut to the room there is."""
        box = next((a for a in self.ancestors if a.has_class("dialog")), None)
        if box is not None:
            top, bottom = box.region.y + 1, box.region.bottom - 1
        else:
            top, bottom = self.screen.region.y, self.screen.region.bottom - 1  # the key bar
        listed = len(self._choices()) if self._shown is None else len(self._shown)
        want = min(listed, LIST_ROWS) + 2  # the border's two rows
        below = bottom - self.region.bottom
        above = self.region.y - top
        if box is not None and max(below, above) < want and self._grown is None:
            # A small dialog (one picker and little else): it grows for the list, up to
            # the screen's height less two rows, and shrinks back when the list closes.
            grow = min(want - max(below, above), self.screen.size.height - 2 - box.region.height)
            if grow > 0:
                self._grown = box
                box.styles.min_height = box.region.height + grow
                self.call_after_refresh(self._refit)
        if below >= want or below >= above:
            height, shift = max(min(want, below), 3), 0
        else:
            height = max(min(want, above), 3)
            shift = -(height + self.region.height)
        overlay.styles.max_height = height
        overlay.styles.offset = (0, shift)

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        """Printable keys are searches, not shortcuts."""
        return character is not None and character.isprintable()

    def _watch_expanded(self, expanded: bool) -> None:
        """Show the list without giving it the focus; highlight the current choice."""
        if not expanded and self._grown is not None:  # the dialog grown for the list
            self._grown.styles.min_height = None
            self._grown = None
        overlay = self._ready_list()
        if overlay is None:
            if expanded and self.is_mounted:
                self.call_next(self._expand_when_ready)
            return
        self.set_class(expanded, "-expanded")
        self._say_keys(expanded)
        if not expanded and self._query:
            self._query = ""
            self._show_current()
        if expanded:
            self._query = ""
            self._show_only(overlay, None)
            self._show_query(overlay)
            self._fit(overlay)
            values = [value for _prompt, value in self._choices()]
            overlay.select(values.index(self.value) if self.value in values else None)

    def refilled(self) -> None:
        """New choices came while the list is open (a picker filled from the server after
        the form opened): fit the list to them and search what was typed among them, so
        keys typed before they came choose what they name."""
        overlay = self._ready_list()
        if overlay is None or not self.expanded:
            return
        self._fit(overlay)
        if self._query:
            self._search(overlay)
        else:
            values = [value for _prompt, value in self._choices()]
            overlay.select(values.index(self.value) if self.value in values else None)

    def _refit(self) -> None:
        """Fit the open list again once its grown dialog is laid out."""
        overlay = self._ready_list()
        if overlay is not None and self.expanded:
            self._fit(overlay)

    async def _expand_when_ready(self) -> None:
        """Opened before its list was mounted: open it once it is."""
        await self._list()
        if self.expanded:
            self._watch_expanded(True)

    async def action_show_overlay(self) -> None:
        """Open the list (mounted first if need be)."""
        await self._list()
        super().action_show_overlay()

    def _watch_prompt(self, prompt: str) -> None:
        """A new prompt shows on the closed picker (the list never holds it)."""
        if self.is_mounted:
            self.query_one(SelectCurrent).placeholder = as_hint(prompt)
            if self.value == Select.NULL:
                self.query_one(SelectCurrent).update(Select.NULL)

    def _on_blur(self, _event: events.Blur) -> None:
        """Leaving the picker (Tab) closes its list without choosing."""
        self.expanded = False

    def _choose(self, index: int | None) -> None:
        """Take the highlighted choice (nothing highlighted: the current choice stays
        rather than silently becoming a default)."""
        choices = self._choices()
        if index is not None and 0 <= index < len(choices):
            self.chosen_here = True
            self.value = choices[index][1]
        self.expanded = False

    async def _on_key(self, event: events.Key) -> None:
        """Search, move and choose while the list is open; typing opens it."""
        overlay = await self._list()
        printable = self.check_consume_key(event.key, event.character)
        if not self.expanded:
            if event.key == "enter":
                event.stop()
                event.prevent_default()
                if self.enter_submits:
                    await self.run_action("screen.submit")
                else:
                    await self.action_show_overlay()
                return
            if not printable or event.key == "space":
                return  # bindings: Space/Down open
            self.expanded = True
        event.stop()
        event.prevent_default()
        moves = {
            "down": overlay.action_cursor_down,
            "up": overlay.action_cursor_up,
            "pagedown": overlay.action_page_down,
            "pageup": overlay.action_page_up,
            "home": overlay.action_first,
            "end": overlay.action_last,
        }
        if event.key == "enter":
            self._choose(self._choice_at(overlay.highlighted))
        elif event.key == "escape":
            self.expanded = False
        elif event.key in moves:
            moves[event.key]()
        elif event.key == "backspace":
            self._query = self._query[:-1]
            self._search(overlay)
        elif printable:
            self._query += event.character or ""
            self._search(overlay)

    def _search(self, overlay: SelectOverlay) -> None:
        """Show only the choices holding every typed word, the best first and highlighted
        (it jumped to a match among all of them: newcomer pass, session 9); say what was
        typed. Nothing matches: the list stays as it was, and says so."""
        found = matches(self._query, self._labels())
        if not self._query.strip():
            self._show_only(overlay, None)
            values = [value for _prompt, value in self._choices()]
            overlay.select(values.index(self.value) if self.value in values else None)
        elif found:
            self._show_only(overlay, found)
            overlay.select(0)
        self._show_query(overlay, found=bool(found) or not self._query.strip())

    @on(SelectOverlay.UpdateSelection)
    def _picked(self, event: SelectOverlay.UpdateSelection) -> None:
        """A choice by mouse: take it, keep the focus here."""
        event.stop()
        event.prevent_default()
        self._choose(self._choice_at(event.option_index))
        self.screen.set_focus(self)
