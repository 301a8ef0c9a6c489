"""Name rules: the display-name rule for organizations, and what an identifier may hold.

Shared by the server (which enforces it) and the TUI (which checks as the user types),
so the two can never disagree. Comparing names (one Unicode fold) is the database's
``name_fold`` (sql/012), so every lookup and unique index uses the same one.
"""

from __future__ import annotations

import re
import unicodedata

DISPLAY_NAME = re.compile(r"^[A-Za-z0-9]{1,64}$")

# Words that would shadow a server path at https://host:7272/<display_name> (or, for
# "deleted", /api/v1/orgs/deleted: issue 27's list of deleted orgs).
RESERVED = frozenset(
    "api auth login logout health static assets orgs org me admin tui docs openapi cluster "
    "witness system root null undefined www msp settings audit help deleted".split()
)


def display_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be an org's display name, or None."""
    if not DISPLAY_NAME.match(value):
        return "must be one word of letters and digits (A-Z, a-z, 0-9), at most 64"
    if value.lower() in RESERVED:
        return f"'{value}' is a reserved word"
    return None


def identifier_problem(value: str) -> str | None:
    """Why ``value`` cannot name a user group, resource group, resource or resource type, or
    None.

    Control characters (Unicode category Cc: C0 and C1 controls, tab and line breaks
    included) split or hide a name where it is shown; invisible format characters (Cf:
    zero-width spaces and joiners, the bidirectional controls U+202A-202E and U+2066-2069,
    marks such as U+200E) and line or paragraph separators (Zl, Zp) make two names look
    alike or reorder what an administrator reads (Unicode TR36 §3.4, UAX #31 §2.3; issue
    26, item 11); identifiers refuse them all.
    """
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"must not contain control characters (U+{ord(char):04X})"
        if category in ("Cf", "Zl", "Zp"):
            return (
                f"must not contain invisible or direction-changing characters (U+{ord(char):04X})"
            )
    return None
