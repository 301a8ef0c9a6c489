"""Recordings of brokered SSH sessions (issue 30, item 5)."""

from __future__ import annotations

from server.web.models.common import Answer


class SessionRecording(Answer):
    """A brokered session's recording, without its content (``GET
    /orgs/{org}/session-recordings``)."""

    id: str
    account_id: str | None
    target: str  # '<resource>/<account>'
    actor: str
    actor_org: str
    ip: str
    started_at: str
    ended_at: str
    end_reason: str  # target_closed, client_closed, window_ended, idle, max_length
    bytes_out: int  # target -> user
    bytes_in: int  # user -> target
    size: int  # of the asciicast text, in bytes
    sha256: str  # of the asciicast text (as session_ended names it)


class SessionRecordingCast(SessionRecording):
    """One recording, decrypted: ``cast`` is the asciicast v2 text (a header line, then
    ``[seconds, "o", text]`` lines). Fetching it is audited (session_recording_read)."""

    cast: str
