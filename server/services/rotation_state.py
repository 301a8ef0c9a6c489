"""An account's remote-password state as the vault shows it (issue 29): its connector,
last change, last verification, effective schedule and next runs. Its own module so that
the vault (server/services/vault.py) can show it without importing the rotation engine
(server/services/rotation.py), which builds on the vault."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from server.store import db

STATE_COLUMNS = (
    "ar.busy, ar.busy_since, ar.pending_since, ar.last_change_at, ar.last_change_ok, "
    "ar.last_change_reason, ar.last_verify_at, ar.last_verify_ok, ar.last_verify_reason, "
    "ar.change_due, ar.failures, ar.retry_at"
)
# Each account's effective schedule: its own, else its resource's, else the shortest of
# its resource's groups' (field by field), with its rotation state and connector.
STATE_SELECT = f"""
SELECT a.id AS account_id, a.resource_id, a.password_changed_at, c.connector,
       coalesce(sa.rotate_every_days, sr.rotate_every_days, g.rotate_every_days)
           AS rotate_every_days,
       coalesce(sa.verify_every_hours, sr.verify_every_hours, g.verify_every_hours)
           AS verify_every_hours,
       {STATE_COLUMNS}
  FROM accounts a
  LEFT JOIN resource_connections c ON c.resource_id = a.resource_id
  LEFT JOIN rotation_schedules sa ON sa.account_id = a.id
  LEFT JOIN rotation_schedules sr ON sr.resource_id = a.resource_id
  LEFT JOIN LATERAL (
      SELECT min(s.rotate_every_days) AS rotate_every_days,
             min(s.verify_every_hours) AS verify_every_hours
        FROM rotation_schedules s
        JOIN resource_group_members m ON m.resource_group_id = s.resource_group_id
       WHERE m.resource_id = a.resource_id) g ON true
  LEFT JOIN account_rotation ar ON ar.account_id = a.id
"""


def state_json(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """An account's remote-password state as the API shows it: its connector, the last
    change and the last verification (``ok`` / ``failed`` with why / ``never``), the
    effective schedule and the next runs."""
    if row is None:
        return {"connector": None, "last_change": {"state": "never"}}

    def stamp(value: datetime.datetime | None) -> str | None:
        return value.isoformat() if value else None

    def outcome(at: Any, ok: Any, reason: Any) -> dict[str, Any]:
        if at is None:
            return {"state": "never"}
        out = {"state": "ok" if ok else "failed", "at": at.isoformat()}
        if not ok and reason:
            out["reason"] = reason
        return out

    next_rotation = next_verification = None
    if row["connector"] and row["rotate_every_days"]:
        base = row["last_change_at"] if row["last_change_ok"] else None
        base = max(filter(None, (base, row["password_changed_at"])))
        next_rotation = base + datetime.timedelta(days=row["rotate_every_days"])
        if row["change_due"] or (row["retry_at"] and row["last_change_ok"] is False):
            next_rotation = row["retry_at"] or next_rotation
    elif row["connector"] and row["change_due"]:
        next_rotation = row["retry_at"]
    if row["connector"] and row["verify_every_hours"]:
        last = row["last_verify_at"] or row["password_changed_at"]
        next_verification = last + datetime.timedelta(hours=row["verify_every_hours"])
    return {
        "connector": row["connector"],
        "in_progress": row["busy"] or None,
        "pending_since": stamp(row["pending_since"]),
        "last_change": outcome(
            row["last_change_at"], row["last_change_ok"], row["last_change_reason"]
        ),
        "last_verification": outcome(
            row["last_verify_at"], row["last_verify_ok"], row["last_verify_reason"]
        ),
        "rotate_every_days": row["rotate_every_days"],
        "verify_every_hours": row["verify_every_hours"],
        "next_rotation": stamp(next_rotation),
        "next_verification": stamp(next_verification),
        "change_due": bool(row["change_due"]),
    }


async def states(tx: db.Tx, account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The rotation state (``state_json``) of each account, in the org's RLS context."""
    ids = list(account_ids)
    if not ids:
        return {}
    rows = await tx.fetch(STATE_SELECT + " WHERE a.id = ANY($1::uuid[])", ids)
    return {r["account_id"]: state_json(r) for r in rows}
