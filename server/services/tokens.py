"""Session tokens and API keys: random, carrying their org, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import uuid

SESSION_PREFIX = "srs"
API_KEY_PREFIX = "srk"


def new_token(kind: str, org_id: uuid.UUID) -> str:
    """A token of 256 random bits; the org id lets the server set RLS before the lookup."""
    return f"{kind}_{org_id.hex}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> bytes:
    """What is stored and looked up: the SHA-256 of the whole token."""
    return hashlib.sha256(token.encode()).digest()


def parse(token: str) -> tuple[str, uuid.UUID] | None:
    """(kind, org id) of a well-formed token, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] not in (SESSION_PREFIX, API_KEY_PREFIX) or len(parts[2]) < 40:
        return None
    try:
        return parts[0], uuid.UUID(hex=parts[1])
    except ValueError:
        return None
