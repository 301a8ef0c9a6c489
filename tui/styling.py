"""Styling only what is on screen (issue 35, item 8: quick at every key).

Textual restyles a widget (and all below it) each time one of its CSS classes changes,
even before the widget is mounted. Widgets set such classes in their constructors (an
Input or a Select made ``compact``), and a form builds some forty of them: each was
styled once in its constructor and again as it mounted, where every widget is styled
anyway. A widget without a parent is not styled here: mounting styles it with the
classes it has by then.
"""

from __future__ import annotations

from textual.app import App
from textual.dom import DOMNode


def style_only_attached() -> None:
    """App-wide: a class change on a widget not yet mounted (or already removed) does
    not restyle it; mounting does. Idempotent."""
    if getattr(DOMNode, "_strongroom_style_only_attached", False):
        return
    update = DOMNode.update_node_styles

    def update_node_styles(self: DOMNode, animate: bool = True) -> None:
        if self.parent is None and not isinstance(self, App):
            return  # not in the app's tree: mounting applies the styles
        update(self, animate)

    DOMNode.update_node_styles = update_node_styles  # type: ignore[method-assign]
    DOMNode._strongroom_style_only_attached = True  # type: ignore[attr-defined]
