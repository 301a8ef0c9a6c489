"""The erasing of a cooked terminal's echo of keys typed before the TUI (server/core/
typeahead.py): as many lines up as the echo took, none above it."""

from __future__ import annotations

from server.core.typeahead import erase_echo

CLEAR, UP = "\r\x1b[K", "\x1b[A\x1b[K"


def test_one_line_and_its_enter():
    assert erase_echo("admin", 80) == CLEAR  # the cursor is still on the echo's line
    assert erase_echo("admin\tSecret-pw-1\n", 80) == CLEAR + UP  # Enter moved it down one


def test_long_echo_wraps_and_control_keys_show_as_two_columns():
    assert erase_echo("x" * 81, 80) == CLEAR + UP  # 81 columns: two rows
    assert erase_echo("\x1b[A" * 20, 80) == CLEAR  # ^[[A is 4 columns: 80 in all, one row
    assert erase_echo("\t" * 10 + "y", 80) == CLEAR + UP  # tab stops of 8: column 81
