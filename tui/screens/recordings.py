"""Recordings of brokered SSH sessions (issue 30, item 5): the org's list under the audit
view (administrators and auditors), a player (space pauses, + and - change the speed) and
an export of the decrypted recording to a new file readable by its owner only (asciicast
v2: ``asciinema play FILE`` plays it). Fetching a recording is audited by the server.

Reached from the Audit tab (s); Esc goes back.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from tui.controls.keybar import KeyBar
from tui.controls.table import fill_table
from tui.logic.audit_export import full_path
from tui.logic.times import month_minute
from tui.screens.form import Field, FormModal, refusal
from tui.text import inert
from tui.workers import api_worker

HEADER = "Session recordings   (Enter: play · x: export · Esc: back)"
SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
MAX_PAUSE = 2.0  # a long silence in the recording plays as at most this (at speed 1)


def frames(cast: str) -> tuple[dict, list[tuple[float, str]]]:
    """An asciicast v2 text as (header, [(seconds, output text)]); input events skipped."""
    lines = cast.splitlines()
    header = json.loads(lines[0]) if lines else {}
    out: list[tuple[float, str]] = []
    for line in lines[1:]:
        try:
            at, kind, text = json.loads(line)
        except (ValueError, TypeError):
            continue
        if kind == "o":
            out.append((float(at), str(text)))
    return header, out


def write_cast(path: str, cast: str) -> None:
    """Write a recording to a new file at ``path`` (``~`` allowed), readable by its owner
    only; an existing file is never overwritten (FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    descriptor = os.open(os.path.expanduser(path), flags, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(cast)


def recording_row(rec: dict) -> tuple[str, tuple[str, ...]]:
    """A recording's row: its id (the key) and the cells."""
    size = rec["size"]
    shown = f"{size / 1024:.1f} KiB" if size >= 1024 else f"{size} B"
    return (
        rec["id"],
        (
            month_minute(rec["started_at"]),
            inert(f"{rec['actor']}@{rec['actor_org']}"),
            inert(rec["target"]),
            inert(rec["end_reason"]),
            shown,
        ),
    )


class Recordings(Vertical):
    """The org's recordings and their keys (F1 lists them)."""

    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the audit trail", id="rec-back"),
        Binding("enter", "play", "Play", tooltip="Play the recording", id="rec-play"),
        Binding("x", "export", "Export", tooltip="Export it to a file", id="rec-export"),
        Binding("r", "reload", "Refresh", tooltip="Refresh the list", id="rec-refresh"),
    ]

    def __init__(self, org: str) -> None:
        super().__init__()
        self.org = org
        self._recs: dict[str, dict] = {}

    def compose(self) -> ComposeResult:
        """Header, the table, a line for the empty case."""
        yield Static(HEADER, classes="section")
        table = DataTable(id="recordings", cursor_type="row", zebra_stripes=True)
        table.add_columns("Started (UTC)", "User", "Target", "Ended by", "Size")
        yield table
        yield Static("", id="recordings-empty")

    def on_mount(self) -> None:
        """Fill in from the server."""
        self.action_reload()

    @api_worker(exclusive=True, group="recordings")
    async def action_reload(self) -> None:
        """Fetch the recordings."""
        recs = await self.app.client.session_recordings(self.org)
        self._recs = {r["id"]: r for r in recs}
        fill_table(self.query_one("#recordings", DataTable), (recording_row(r) for r in recs))
        self.query_one("#recordings-empty", Static).update(
            "" if recs else "No brokered session has been recorded in this org."
        )

    def _current(self) -> dict | None:
        table = self.query_one("#recordings", DataTable)
        if table.row_count == 0:
            self.app.notify("There is no recording.", severity="warning")
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self._recs.get(key or "")

    @api_worker("Not played")
    async def action_play(self) -> None:
        """Play the highlighted recording (fetched decrypted; audited)."""
        rec = self._current()
        if rec is None:
            return
        got = await self.app.client.session_recording(self.org, rec["id"])
        self.app.push_screen(PlayerScreen(rec["target"], got["cast"]))

    @api_worker("Not exported")
    async def action_export(self) -> None:
        """Write the highlighted recording, decrypted, to a new owner-only file."""
        rec = self._current()
        if rec is None:
            return
        org, client = self.org, self.app.client

        async def export(values: dict[str, str]) -> str:
            path = full_path(values["path"])
            got = await client.session_recording(org, rec["id"])
            try:
                await asyncio.to_thread(write_cast, path, got["cast"])
            except FileExistsError:
                raise refusal("path", "exists already: choose a new file name") from None
            except OSError as exc:
                raise refusal("path", f"cannot write it: {exc.strerror or exc}") from None
            return path

        default = f"~/session-{rec['id'][:8]}.cast"
        path = await self.app.push_screen_wait(
            FormModal(
                "Export the recording",
                [Field("path", "File to write (a new file)", value=default, required=True)],
                export,
                note=f"{rec['target']} by {rec['actor']}: written decrypted, readable by you "
                "only (asciinema play FILE plays it).",
                action="export",
            )
        )
        if path:
            self.app.notify(f"Recording written to {path}.")

    def action_back(self) -> None:
        """Back to the audit trail."""
        self.screen.dismiss(None)


class RecordingsScreen(Screen[None]):
    """Session recordings over the main screen."""

    AUTO_FOCUS = "#recordings"

    def __init__(self, org: str) -> None:
        super().__init__()
        self.org = org

    def compose(self) -> ComposeResult:
        """The list and the key bar."""
        yield Recordings(self.org)
        yield KeyBar()

    def pane_title(self) -> str:
        """For the keys panel (F1)."""
        return "Session recordings"

    def palette_commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette: this screen's actions."""
        pane = self.query_one(Recordings)
        for binding in Recordings.BINDINGS:
            yield (
                f"Recordings: {binding.tooltip}",
                f"key {binding.key}",
                getattr(pane, f"action_{binding.action}"),
            )


class PlayerScreen(Screen[None]):
    """Plays a recording's output as it came (colours kept; the screen shows the latest
    lines). Space pauses and resumes, + and - change the speed, Esc closes."""

    BINDINGS = [
        Binding("escape", "close", "Close", tooltip="Close the player", id="play-close"),
        Binding("space", "pause", "Pause", tooltip="Pause or resume", id="play-pause"),
        Binding("plus", "faster", "Faster", tooltip="Play faster", id="play-faster"),
        Binding("minus", "slower", "Slower", tooltip="Play slower", id="play-slower"),
    ]

    def __init__(self, title: str, cast: str) -> None:
        super().__init__()
        self.title_text = title
        self.header, self.frames = frames(cast)
        self.position = 0
        self.speed_index = SPEEDS.index(1.0)
        self.paused = False
        self.output = ""

    def compose(self) -> ComposeResult:
        """Status line, the replayed output, the key bar."""
        yield Static("", id="player-status", classes="section")
        yield Static("", id="player-screen")
        yield KeyBar()

    def on_mount(self) -> None:
        """Start playing."""
        self._status()
        self.run_worker(self._play(), exclusive=True)

    async def _play(self) -> None:
        previous = 0.0
        while self.position < len(self.frames):
            if self.paused:
                await asyncio.sleep(0.1)
                continue
            at, text = self.frames[self.position]
            await asyncio.sleep(min(max(at - previous, 0.0), MAX_PAUSE) / SPEEDS[self.speed_index])
            previous = at
            self.output += text
            self.position += 1
            self._show()
        self._status(done=True)

    def _show(self) -> None:
        rows = max(self.size.height - 3, 1)
        lines = self.output.replace("\r\n", "\n").split("\n")[-rows:]
        self.query_one("#player-screen", Static).update(Text.from_ansi("\n".join(lines)))
        self._status()

    def _status(self, done: bool = False) -> None:
        state = "ended" if done else ("paused" if self.paused else "playing")
        self.query_one("#player-status", Static).update(
            inert(
                f"{self.title_text} · {state} · speed x{SPEEDS[self.speed_index]:g} · "
                f"{self.position}/{len(self.frames)}"
            )
        )

    def pane_title(self) -> str:
        """For the keys panel (F1)."""
        return "Recording player"

    def action_pause(self) -> None:
        """Pause or resume."""
        self.paused = not self.paused
        self._status()

    def action_faster(self) -> None:
        """Play faster."""
        self.speed_index = min(self.speed_index + 1, len(SPEEDS) - 1)
        self._status()

    def action_slower(self) -> None:
        """Play slower."""
        self.speed_index = max(self.speed_index - 1, 0)
        self._status()

    def action_close(self) -> None:
        """Back to the list."""
        self.dismiss(None)
