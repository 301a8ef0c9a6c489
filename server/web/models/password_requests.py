"""Password access control (check-out): controls on accounts and resources, requests,
decisions, check-in, holds. Request bodies come from the service's field declarations
(``server.web.validation.model_for``), answers are modelled here."""

from __future__ import annotations

from typing import Literal

from server.services import password_requests as pr
from server.web.models.common import Answer, Query
from server.web.validation import model_for

ControlBody = model_for(pr.CONTROL_FIELDS, "AccessControlBody")
PasswordRequestBody = model_for(pr.REQUEST_FIELDS, "PasswordRequestBody")
PasswordDecisionBody = model_for(pr.DECISION_FIELDS, "PasswordDecisionBody")

RequestState = Literal[
    "pending", "approved", "ended", "checked_in", "rejected", "withdrawn", "expired"
]


class AccessControl(Answer):
    """The access control in force (``enabled: false`` when there is none)."""

    enabled: bool
    approvers: list[str] = []
    approver_groups: list[str] = []
    approvals_needed: int | None = None
    max_window_minutes: int | None = None
    exclusive: bool | None = None
    rotate_on_checkin: bool | None = None
    inherited_from: Literal["resource"] | None


class PasswordRequest(Answer):
    """A request to check a controlled password out."""

    id: str
    account_id: str
    account: str
    resource_id: str
    resource: str
    requester: str
    requester_org: str
    reason: str
    window_minutes: int
    status: RequestState
    decision_reason: str | None
    approved_by: list[str]
    checked_in_by: str | None
    created_at: str | None
    expires_at: str | None
    decided_at: str | None
    starts_at: str | None
    ends_at: str | None
    checked_in_at: str | None
    approvals_needed: int | None = None


class PasswordRequestsQuery(Query):
    """``GET /orgs/{org}/password-requests?role=&status=`` (absent: no filter)."""

    role: Literal["approver", "requester"] = None  # type: ignore[assignment]
    status: RequestState = None  # type: ignore[assignment]
