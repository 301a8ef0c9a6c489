"""The one shape of every background job in the TUI: a worker that calls the client and
shows a refusal through the app's one error path (``StrongroomApp.show_error``).

A pane's ``load``, an action that opens forms, a refresh: each is an ``api_worker``. Its
body just awaits the client and fills the screen; an ``ApiError`` it does not handle
itself becomes one notification titled ``failure`` (an ended session brings the login
screen instead), and the job ends. Any other error (but a widget gone meanwhile,
``NoMatches``) is the TUI's own fault: it is said in one notification with the same title,
naming the error's kind only (never its text, which could hold what was typed). Before,
such a job ended silently: `D` on a resource did nothing at all (newcomer pass 11). Jobs
never stop the app on an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from textual import work
from textual.css.query import NoMatches
from textual.dom import DOMNode

from tui.api_types import ApiError

Node = TypeVar("Node", bound=DOMNode)
Job = Callable[..., Coroutine[Any, Any, Any]]

REQUEST_FAILED = "Request failed"  # the title of a refusal no job names


def api_worker(
    failure: str = REQUEST_FAILED, *, group: str = "default", exclusive: bool = False
) -> Callable[[Job], Callable[..., Any]]:
    """Decorate an async method of a widget or screen as a Textual worker (started when
    called, never exiting the app on error) whose ``ApiError`` is shown with the title
    ``failure``. ``group`` and ``exclusive``: as Textual's ``work`` (a new ``load`` in an
    exclusive group cancels the one still running, so the newest answer wins)."""

    def decorate(method: Job) -> Callable[..., Any]:
        @functools.wraps(method)
        async def job(self: DOMNode, *args: Any, _key_hold: object = None, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, **kwargs)
            except ApiError as error:
                self.app.show_error(error, failure)
                return None
            except NoMatches:  # the screen it filled went away meanwhile: nothing to say
                return None
            except Exception as error:  # a fault of the TUI's own: said, never silent
                if getattr(self, "is_attached", True):
                    self.app.notify(
                        f"The TUI met an error of its own ({type(error).__name__}) and "
                        "stopped this step; please report it.",
                        title=failure,
                        severity="error",
                    )
                return None
            finally:
                if _key_hold is not None:
                    self.app.release_keys(_key_hold)

        started = work(job, group=group, exclusive=exclusive, exit_on_error=False)
        if not method.__name__.startswith("action_"):
            return started

        @functools.wraps(method)
        def start(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            """A key's action that fetches before it opens a dialog: the keys typed
            meanwhile wait for the dialog, in order (``tui.keyboard``), not for the list."""
            holding = getattr(self.app, "hold_keys", None)
            if holding is not None:
                kwargs["_key_hold"] = holding()
            return started(self, *args, **kwargs)

        return start

    return decorate
