"""The audit trail of an org: its events and the check of its hash chain."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from server.core.operations import Category
from server.web.models.common import Answer, Body, JsonObject, Query, integer, text

Time = text(64)  # ISO 8601; the service parses it (422 naming the parameter otherwise)


class AuditQuery(Query):
    """``GET /orgs/{org}/audit``: filters (times in ISO 8601; a time without zone is UTC)."""

    since: Time = ""
    until: Time = ""
    operation: text(64) = ""
    actor: text(64) = ""


class AuditEvent(Answer):
    """One event (``seq`` is its link in the chain, null until chained)."""

    id: int
    seq: int | None
    at: str
    actor: str
    actor_org: str
    ip: str | None
    operation: str
    target_type: str | None
    target: str | None
    outcome: str
    reason: str | None
    details: dict[str, Any]
    node: str | None


class ChainCheck(Answer):
    """``GET /orgs/{org}/audit/verify``: whether the chain holds, and where it breaks."""

    model_config = ConfigDict(extra="allow")  # the anchor check adds what it found

    ok: bool
    events: int
    head: str | None
    first_bad_seq: int | None
    problem: str | None = None
    pending: int = 0


# ``PUT /orgs/{org}/audit/settings``: retention in days (null: keep every event) and
# {operation: {"recorded"?, "alert"?}}; the service checks the bounds and the operations
# (server.services.audit_settings). Request bodies carry no docstring: it would become the
# schema's description, and the OpenAPI document states only the fields.
class AuditSettingsBody(Body):
    retention_days: integer() | None = None
    operations: JsonObject = None  # type: ignore[assignment]


class AuditAlert(Answer):
    """An event of an operation marked as an alert."""

    id: str
    at: str
    actor: str
    actor_org: str
    operation: str
    target: str | None
    outcome: str
    created_at: str


class AuditSettings(Answer):
    """The org's audit retention and per-operation settings (recorded, alert)."""

    model_config = ConfigDict(extra="allow")

    retention_days: int | None


class PurgeResult(Answer):
    """What a purge removed and the checkpoint it left."""

    model_config = ConfigDict(extra="allow")


class AuditOperation(Answer):
    """One operation the audit trail records (server/core/operations.py)."""

    name: str
    category: Category  # routine (an org may stop recording it), security, secret_access
    description: str


class AuditOperations(Answer):
    """``GET /audit/operations``: the catalogue of audited operations, by name."""

    operations: list[AuditOperation]


class DeletedOrg(Answer):
    """A deleted org whose audit trail is kept: ``retained_until`` is when its last event
    is purged (its retention after the deletion; null: kept for ever)."""

    id: str
    display_name: str
    name: str
    deleted_at: str
    deleted_by: str
    retention_days: int | None
    retained_until: str | None
