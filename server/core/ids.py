"""Ids in URLs: a malformed one is answered like an unknown one."""

from __future__ import annotations

import uuid

from server.core.errors import NotFound


def parse_id(value: str, what: str) -> uuid.UUID:
    """The UUID in ``value`` (a path segment).

    Raises:
        NotFound: ``value`` is not a UUID; it reads "no such <what>", exactly as for an
            id that names nothing, so a probe learns nothing from the difference.
    """
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
