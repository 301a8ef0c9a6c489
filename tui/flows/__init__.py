"""Dialog flows a pane runs (a series of forms and requests), with no widget of their own:
org access requests and the check-out queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from tui.logic.fields import Field


class Pane(Protocol):
    """What a flow needs of the pane that runs it (``tui.widgets.pane.Pane`` is one): the
    app, the org in the top band, a form, and saying what changed. Named here so that the
    flows, below the panes, never import them."""

    @property
    def app(self) -> Any:
        """The running app (its client, notify, show_error)."""

    org: str | None

    async def form(
        self,
        title: str,
        fields: list[Field],
        submit: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
        **options: Any,
    ) -> Any:
        """Open a form; its result (None when cancelled)."""

    def changed(self, what: str, message: str = "") -> None:
        """Say what happened and let every view that shows it reload."""
