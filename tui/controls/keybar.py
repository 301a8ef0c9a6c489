"""The key bar: the focused pane's keys first, then the global keys that fit.

Textual's Footer lists bindings in focus-chain order and cuts the line at the right edge,
which at 80 columns hid Log out and Quit. This bar reserves room for the ``essential``
global keys, fills the rest with the focused pane's keys, then with other global keys.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

ESSENTIAL = ("help", "logout", "quit")  # binding ids that are always shown


def split_bindings(screen: Screen) -> tuple[list[Binding], list[Binding]]:
    """(the focused pane's shown bindings, the screen's and app's shown bindings)."""
    local: list[Binding] = []
    everywhere: list[Binding] = []
    for namespace, binding, enabled, _tooltip in screen.active_bindings.values():
        if not binding.show or not enabled or not binding.description:
            continue
        (everywhere if isinstance(namespace, Screen | App) else local).append(binding)
    return local, everywhere


def focused_order(screen: Screen, local: list[Binding]) -> list[Binding]:
    """The focused list's keys in the order its pane gives (``bar_actions`` of the nearest
    pane around the focus: the keys of that list, most used first); all of ``local`` when
    no pane gives one."""
    focused = screen.focused
    node = focused
    while node is not None and not hasattr(node, "bar_actions"):
        node = node.parent
    order = node.bar_actions(focused) if node is not None else None  # type: ignore[attr-defined]
    if order is None:
        return local
    by_action = {b.action: b for b in local}
    return [by_action[action] for action in order if action in by_action]


class KeyBar(Widget):
    """One line of ``key description`` pairs that never hides the essential keys."""

    DEFAULT_CSS = """
    KeyBar { height: 1; dock: bottom; background: $panel; color: $text; padding: 0 1; }
    """

    def on_mount(self) -> None:
        """Redraw whenever the bindings change (focus moved, screen changed)."""
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def on_unmount(self) -> None:
        """Stop listening."""
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _item(self, binding: Binding, gap: int = 2) -> Text:
        key = self.app.get_key_display(binding)
        return Text.assemble((key, "bold"), f" {binding.description}" + " " * gap)

    def _fit(
        self, local: list[Binding], others: list[Binding], room: int, gap: int
    ) -> tuple[list[Text], int]:
        """The items that fit ``room`` cells with ``gap`` spaces after each, and the room
        left: pane keys in order (one too long is skipped for a shorter one), then other
        global keys while they fit."""
        head: list[Text] = []
        for binding in local + others:
            item = self._item(binding, gap)
            if item.cell_len > room:
                if binding in local:
                    continue  # a shorter pane key may still fit; F1 lists them all
                break
            head.append(item)
            room -= item.cell_len
        return head, room

    def render(self) -> Text:
        """Pane keys, then other global keys while they fit, then the essential ones. When
        the pane's keys do not all fit two spaces apart they are set one space apart, which
        holds two or three more (at 80 columns C R V H on the accounts list, I T on the
        users list were left out: newcomer pass, session 8)."""
        local, everywhere = split_bindings(self.screen)
        local = focused_order(self.screen, local)
        essential = sorted(
            (b for b in everywhere if b.id in ESSENTIAL), key=lambda b: ESSENTIAL.index(b.id)
        )
        others = [b for b in everywhere if b.id not in ESSENTIAL]
        best: tuple[tuple[int, int], list[Text], int, list[Text]] | None = None
        for gap in (2, 1):  # one space apart only when two spaces leave keys out
            tail = [self._item(b, gap) for b in essential]
            room = self.size.width - sum(t.cell_len for t in tail)
            head, left = self._fit(local, others, room, gap)
            # Better: more of the pane's keys in their order before the first one left
            # out (the most used), then more keys.
            shown = {item.plain.split(" ", 1)[0] for item in head}
            keys = [self.app.get_key_display(b) for b in local]
            leading = next((i for i, k in enumerate(keys) if k not in shown), len(keys))
            score = (leading, len(head))
            if best is None or score > best[0]:
                best = (score, head, left, tail)
            if len(head) == len(local) + len(others):
                break
        _score, head, left, tail = best
        line = Text.assemble(*head)
        line.append(" " * max(left, 0))
        line.append_text(Text.assemble(*tail))
        return line
