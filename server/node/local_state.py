"""What a node that cannot write its database keeps in memory instead.

On a read-only secondary (or a fenced primary) a login's session, the TOTP time step
it used and its last-seen time live here, never in the database. Sessions made on
the primary replicate and are checked in the database as usual.

A session made here moves to the primary once the primary answers again
(``server/services/session_moves.py``): until the primary has stored it (and the
stored row has replicated back), it is checked here; after that, the replicated row
decides, so whatever ends it on the primary ends it here too. Logouts of sessions
the database knows are kept in ``ended_hashes`` until the primary has ended them.
"""

from __future__ import annotations

import datetime
import time
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
    token_hash: bytes = b""
    binding: str = ""  # the user's credentials at login (session_moves.binding)
    created_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )
    ip: str = ""
    moved_at: float | None = None  # monotonic time the primary stored it, once it has


@dataclass
class LocalState:
    """Sessions and used TOTP steps of this node's read-only period."""

    sessions: dict[bytes, LocalSession] = field(default_factory=dict)
    totp_steps: dict[uuid.UUID, int] = field(default_factory=dict)
    ended: set[uuid.UUID] = field(default_factory=set)  # replicated sessions logged out here
    # token hash -> org of every session logged out here that the primary may hold
    ended_hashes: dict[bytes, uuid.UUID] = field(default_factory=dict)

    def start(
        self,
        token_hash: bytes,
        user_id: uuid.UUID,
        org_id: uuid.UUID,
        expires_at: datetime.datetime,
        binding: str = "",
        ip: str = "",
    ) -> None:
        """Keep a new session (``binding``: the user's credentials, checked when it moves)."""
        now = datetime.datetime.now(datetime.UTC)
        self.sessions[token_hash] = LocalSession(
            uuid.uuid4(), user_id, org_id, expires_at, now, token_hash, binding, now, ip
        )

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
        """End one of this node's own sessions; False if it is not one of them.

        Its token hash is kept to be ended on the primary too: it may have moved there
        already, or be on its way.
        """
        for token_hash, session in list(self.sessions.items()):
            if session.id == session_id:
                del self.sessions[token_hash]
                self.ended_hashes[token_hash] = session.org_id
                return True
        return False

    def unmoved(self) -> list[LocalSession]:
        """The live sessions the primary has not stored yet."""
        return [s for s in self.sessions.values() if s.moved_at is None]

    def moved(self, token_hashes: set[bytes]) -> None:
        """The primary stored these sessions: from now on its replicated rows decide."""
        now = time.monotonic()
        for token_hash in token_hashes:
            if token_hash in self.sessions:
                self.sessions[token_hash].moved_at = now

    def drop(self, token_hashes: set[bytes]) -> None:
        """Forget sessions for good (refused by the primary, or found in the database)."""
        for token_hash in token_hashes:
            self.sessions.pop(token_hash, None)

    def use_step(self, user_id: uuid.UUID, step: int, replicated_last: int | None) -> bool:
        """Consume a TOTP step once (after the last one used on either node)."""
        last = max(self.totp_steps.get(user_id, -1), replicated_last or -1)
        if step <= last:
            return False
        self.totp_steps[user_id] = step
        return True
