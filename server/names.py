"""The display-name rule for organizations: plain data and one pure check.

Shared by the server (which enforces it) and the TUI (which checks as the user types),
so the two can never disagree.
"""

from __future__ import annotations

import re

DISPLAY_NAME = re.compile(r"^[A-Za-z0-9]{1,64}$")

# Words that would shadow a server path at https://host:7272/<display_name>.
RESERVED = frozenset(
    "api auth login logout health static assets orgs org me admin tui docs openapi cluster "
    "witness system root null undefined www msp settings audit help".split()
)


def display_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be an org's display name, or None."""
    if not DISPLAY_NAME.match(value):
        return "must be one word of letters and digits (A-Z, a-z, 0-9), at most 64"
    if value.lower() in RESERVED:
        return f"'{value}' is a reserved word"
    return None
