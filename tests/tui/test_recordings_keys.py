"""The session recordings' player and export (issue 30, item 5), by keys: space pauses and
resumes, + and - change the speed, Esc closes; an export is a new file readable by its
owner only, never overwriting one."""

from __future__ import annotations

import json
import stat

import pytest
from textual.app import App

from tui.screens.recordings import PlayerScreen, frames, write_cast

CAST = "\n".join(
    [
        json.dumps({"version": 2, "width": 80, "height": 24, "timestamp": 0}),
        json.dumps([0.1, "o", "$ "]),
        json.dumps([0.2, "i", "typed"]),
        json.dumps([0.3, "o", "echo played\r\nplayed\r\n"]),
        json.dumps([0.4, "o", "\x1b[31mred\x1b[0m done\r\n"]),
    ]
)


def test_frames_keep_output_only():
    header, out = frames(CAST)
    assert header["version"] == 2
    assert [text for _, text in out] == [
        "$ ",
        "echo played\r\nplayed\r\n",
        "\x1b[31mred\x1b[0m done\r\n",
    ]


def test_export_is_owner_only_and_never_overwrites(tmp_path):
    path = tmp_path / "s.cast"
    write_cast(str(path), CAST)
    assert path.read_text() == CAST
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_cast(str(path), "other")
    assert path.read_text() == CAST


async def test_player_by_keys():
    app = App()
    async with app.run_test(size=(80, 24)) as pilot:
        player = PlayerScreen("web01/root", CAST)
        await app.push_screen(player)
        await pilot.press("space")
        assert player.paused
        await pilot.press("plus")
        assert player.speed_index == 3  # x2
        await pilot.press("minus", "minus")
        assert player.speed_index == 1  # x0.5
        await pilot.press("space")
        assert not player.paused
        for _ in range(100):
            if player.position == len(player.frames):
                break
            await pilot.pause(0.05)
        assert "played" in player.output and "done" in player.output
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert app.screen is not player
