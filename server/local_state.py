"""What a node that cannot write its database keeps in memory instead.

On a read-only secondary (or a fenced primary) a login's session, the TOTP time step
it used and its last-seen time live here, never in the database. Sessions made on
the primary replicate and are checked in the database as usual.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field


@dataclass
class LocalSession:
    """A session started on this node while it could not write."""

    id: uuid.UUID
    user_id: uuid.UUID
    org_id: uuid.UUID
    expires_at: datetime.datetime
    last_seen_at: datetime.datetime


@dataclass
class LocalState:
    """Sessions and used TOTP steps of this node's read-only period."""

    sessions: dict[bytes, LocalSession] = field(default_factory=dict)
    totp_steps: dict[uuid.UUID, int] = field(default_factory=dict)
    ended: set[uuid.UUID] = field(default_factory=set)  # replicated sessions logged out here

    def start(
        self,
        token_hash: bytes,
        user_id: uuid.UUID,
        org_id: uuid.UUID,
        expires_at: datetime.datetime,
    ) -> None:
        """Keep a new session."""
        now = datetime.datetime.now(datetime.UTC)
        self.sessions[token_hash] = LocalSession(uuid.uuid4(), user_id, org_id, expires_at, now)

    def find(self, token_hash: bytes, idle: datetime.timedelta) -> LocalSession | str | None:
        """The live session for a token, "expired" (and forgotten), or None if unknown."""
        session = self.sessions.get(token_hash)
        if session is None:
            return None
        now = datetime.datetime.now(datetime.UTC)
        if session.expires_at <= now or session.last_seen_at + idle <= now:
            del self.sessions[token_hash]
            return "expired"
        session.last_seen_at = now
        return session

    def forget(self, session_id: uuid.UUID) -> bool:
        """End one of this node's own sessions; False if it is not one of them."""
        for token_hash, session in list(self.sessions.items()):
            if session.id == session_id:
                del self.sessions[token_hash]
                return True
        return False

    def use_step(self, user_id: uuid.UUID, step: int, replicated_last: int | None) -> bool:
        """Consume a TOTP step once (after the last one used on either node)."""
        last = max(self.totp_steps.get(user_id, -1), replicated_last or -1)
        if step <= last:
            return False
        self.totp_steps[user_id] = step
        return True
