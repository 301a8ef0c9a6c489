"""Typing that is never lost: keys go out one at a time, in order, to a screen that is ready.

Textual hands a key to the focused widget through that widget's message queue and checks
the pane's bindings only when the key has bubbled back up to the app, so a burst of keys
(a fast typist, a paste, a slow SSH link sending what was typed ahead) is handed out
before the first key's action has opened its dialog: the rest land in the list under it,
or on a screen still mounting, where nothing has the focus and they are dropped.

``KeyQueue`` keeps the keys in arrival order and hands out the next one only when

- the key before it has been handled all the way (it followed its own path up the DOM:
  a widget that took it, or the app's bindings and the action they ran);
- no action started by a key is still fetching what its dialog needs (``hold``: an
  ``api_worker`` named ``action_*`` holds the keys until it opens its screen or ends);
- the screen on top is mounted and its first field has the focus;
- the queues of that screen and its widgets are empty: what the key set off there (a
  field's ``Submitted``, the action it runs, a new screen's mount handlers) is done.

- no form is waiting for the server after its Enter (``hold_while``: the keys typed
  meanwhile go, in order, to the form again when it shows a refusal, or to what comes
  after it when it closes: the list, or the next dialog its flow opens).

Ctrl+Q is never queued. A hold lasts at most ``HOLD_LIMIT`` seconds, so a server that
does not answer never leaves the keyboard dead. (Issue 35, item 1.)

Fields: moving into a text field puts the cursor at the end of what is there instead of
selecting it all (Textual selects on focus, so Shift+Tab and a letter replaced a name).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.widgets import Input

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

HOLD_LIMIT = 8.0  # seconds a dialog may take to open before the keys go on without it
READY_LIMIT = 2.0  # seconds a new screen may take to mount and focus its first field
QUIET_LIMIT = 1.0  # seconds the screen's queues may stay busy before the next key goes
NEVER_QUEUED = ("ctrl+q",)


class KeyQueue:
    """The app's keys in arrival order, handed out one at a time (see the module)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._keys: deque[events.Key] = deque()
        self._busy = False  # a key is on its way through the DOM
        self._holds: dict[object, float] = {}  # hold token → when it lapses
        self._while: dict[object, Callable[[], bool]] = {}  # hold token → lasts while true
        self._screen_wait_since: float | None = None
        self._noisy_since: float | None = None
        self._unfocused: object = None  # the screen that kept no focus past READY_LIMIT
        self._poll: Any = None
        self.last_key = time.monotonic()  # when the last key came (tui.collector)

    def accept(self, event: events.Key) -> bool:
        """Take a key from the terminal; False when the app should handle it at once."""
        self.last_key = time.monotonic()
        if event.key in NEVER_QUEUED:
            return False
        self._keys.append(event)
        self.pump()
        return True

    def hold(self) -> object:
        """Keep the keys until ``release(token)`` (or ``HOLD_LIMIT``): an action is
        fetching what its dialog shows."""
        token = object()
        self._holds[token] = time.monotonic() + HOLD_LIMIT
        return token

    def hold_while(self, condition: Callable[[], bool]) -> object:
        """Keep the keys while ``condition()`` holds (at most ``HOLD_LIMIT``), or until
        ``release``: a closed form's flow is still running and may open its next dialog."""
        token = self.hold()
        self._while[token] = condition
        return token

    def release(self, token: object | None = None) -> None:
        """End one hold (``None``: every hold, a screen was opened) and hand out keys."""
        if token is None:
            self._holds.clear()
            self._while.clear()
        else:
            self._holds.pop(token, None)
            self._while.pop(token, None)
        self._app.call_later(self.pump)

    def pending(self) -> int:
        """How many keys wait (for tests)."""
        return len(self._keys) + (1 if self._busy else 0)

    def _held(self) -> bool:
        now = time.monotonic()
        for token, until in list(self._holds.items()):
            condition = self._while.get(token)
            if until <= now or (condition is not None and not condition()):
                del self._holds[token]
                self._while.pop(token, None)
        return bool(self._holds)

    def _screen_ready(self) -> bool:
        """The screen on top is mounted and, if it can take the focus, has it."""
        app = self._app
        try:
            screen = app.screen
        except Exception:  # no screen yet (starting) or any more (closing)
            return False
        ready = screen.is_mounted and (
            screen.focused is not None or not screen.focus_chain or screen is self._unfocused
        )
        if ready:
            self._screen_wait_since = None
            return True
        now = time.monotonic()
        if self._screen_wait_since is None:
            self._screen_wait_since = now
        if now - self._screen_wait_since > READY_LIMIT:
            # A screen that keeps nothing focused: its own bindings take the keys, and
            # later keys on it do not wait again.
            self._screen_wait_since = None
            self._unfocused = screen
            return True
        return False

    def _quiet(self) -> bool:
        """Nothing waits in the queues of the screen on top and its widgets (a key's
        consequences, such as a field's Submitted message and the action it runs, and a
        new screen's mount handlers, are done); after ``QUIET_LIMIT`` go on anyway."""
        try:
            nodes = list(self._app.screen.walk_children(with_self=True))
        except Exception:  # no screen
            return False
        if all(node._message_queue.empty() for node in nodes):
            self._noisy_since = None
            return True
        now = time.monotonic()
        if self._noisy_since is None:
            self._noisy_since = now
        if now - self._noisy_since > QUIET_LIMIT:
            self._noisy_since = None
            return True
        return False

    def pump(self) -> None:
        """Hand out the next key if everything before it is done; else look again soon."""
        if self._busy or not self._keys:
            return
        if self._held() or not self._screen_ready() or not self._quiet():
            if self._poll is None:
                self._poll = self._app.set_timer(0.01, self._again)
            return
        event = self._keys.popleft()
        self._busy = True
        self._app.call_later(self._deliver, event)

    def _again(self) -> None:
        self._poll = None
        self.pump()

    async def _deliver(self, event: events.Key) -> None:
        app = self._app
        try:
            target = await app._deliver_key(event)  # type: ignore[attr-defined]
        except Exception:
            self._done()
            raise
        if target is None:
            self._done()
        else:
            self._follow(target)

    def _follow(self, node: MessagePump) -> None:
        """Step up the DOM behind the key: each node's queue runs this after the key (or
        its bubbled copy) was handled there; at the app, the key is done."""
        if node is self._app:  # behind the key's bubbled copy and the bindings it ran
            if not node.call_later(self._done):
                self._done()
            return
        parent = node._parent
        if not node.call_later(self._next_up, parent):
            self._done()

    def _next_up(self, parent: MessagePump | None) -> None:
        if parent is None:
            self._done()
        else:
            self._follow(parent)

    def _done(self) -> None:
        self._busy = False
        self.pump()


def cursor_at_end_on_focus() -> None:
    """Every text field, app-wide: entering it puts the cursor after its text and
    selects nothing (Textual's default selects it all, so the next letter replaced it).
    Idempotent."""
    if getattr(Input, "_strongroom_cursor_at_end", False):
        return
    defaults = Input.__init__.__kwdefaults__
    if defaults is not None and "select_on_focus" in defaults:
        defaults["select_on_focus"] = False
    focus = Input._on_focus

    def _on_focus(self: Input, event: events.Focus) -> None:
        focus(self, event)
        if not self.select_on_focus:
            self.cursor_position = len(self.value)

    Input._on_focus = _on_focus  # type: ignore[method-assign]
    Input._strongroom_cursor_at_end = True  # type: ignore[attr-defined]
