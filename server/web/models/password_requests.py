"""Password access control (check-out): controls on accounts and resources, requests,
decisions, check-in, holds: request bodies and answers.

Request bodies carry no docstring (a comment says what they are): pydantic would make it
the schema's description, and the OpenAPI document states only their fields. The service
(server.services.password_requests) checks the bounds that depend on the org's data.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.web.models.common import Answer, Body, Query, integer, text

Names = Annotated[list[text()], Field(max_length=100)]


# ``PUT …/access-control`` of an account or resource: on or off, who approves (users and
# groups), how many approvals, the longest window, exclusive check-out, rotate on check-in.
class AccessControlBody(Body):
    enabled: bool
    approvers: Names = None  # type: ignore[assignment]
    approver_groups: Names = None  # type: ignore[assignment]
    approvals_needed: integer() = None  # type: ignore[assignment]
    max_window_minutes: integer() = None  # type: ignore[assignment]
    exclusive: bool = None  # type: ignore[assignment]
    rotate_on_checkin: bool = None  # type: ignore[assignment]


# ``POST /orgs/{org}/password-requests``: the account (by name), why, and for how long.
class PasswordRequestBody(Body):
    account: text(64, non_empty=True)
    reason: text(2000, non_empty=True, free=True)
    window_minutes: integer()


# ``POST …/password-requests/{id}/approve|reject``: the decision's reason (free text).
class PasswordDecisionBody(Body):
    reason: text(2000, free=True) = None  # type: ignore[assignment]


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
    # Only in a check-in's answer: whether a new password was generated, and the secret
    # additional fields the holder could read, which a check-in cannot rotate.
    rotated: bool | None = None
    secret_fields_to_change: list[str] | None = None
    # Only when the resource has a connection (issue 29): whether the new password was set
    # on the target (false: the old one stays current and the change is retried).
    rotated_on_target: bool | None = None


class PasswordRequestsQuery(Query):
    """``GET /orgs/{org}/password-requests?role=&status=`` (absent: no filter)."""

    role: Literal["approver", "requester"] = None  # type: ignore[assignment]
    status: RequestState = None  # type: ignore[assignment]


ChangeState = Literal["pending", "approved", "rejected", "withdrawn", "expired"]
Weakening = Literal[
    "enabled",
    "approvers",
    "approvals_needed",
    "max_window_minutes",
    "exclusive",
    "rotate_on_checkin",
]


class AccessControlChangeRequest(Answer):
    """A change that weakens an access control, waiting for (or decided by) the control's
    approvers: ``PUT …/access-control`` answers it with 202 instead of applying the change.
    It applies, as ``proposed``, once ``approvals_needed`` approvers of the control in
    force, independent of the requester, approve; it is refused (``control_changed``) if
    the control in force is no longer ``current``."""

    id: str
    target_type: Literal["account", "resource"]
    target_id: str
    target: str
    requester: str
    requester_org: str
    weakens: list[Weakening]
    current: AccessControl
    proposed: AccessControl
    status: ChangeState
    approvals_needed: int
    approved_by: list[str]
    decided_by: str | None
    decision_reason: str
    created_at: str | None
    expires_at: str | None
    decided_at: str | None


class ControlRequestsQuery(Query):
    """``GET /orgs/{org}/access-control-requests?role=&status=`` (absent: no filter)."""

    role: Literal["approver", "requester"] = None  # type: ignore[assignment]
    status: ChangeState = None  # type: ignore[assignment]


class CheckoutApproversQuery(Query):
    """``GET /orgs/{org}/password-requests/eligible-approvers?account=`` (the account id)."""

    account: text(64, non_empty=True)


class CheckoutApprover(Answer):
    """An approver of a controlled password: whether it could approve my check-out, and
    if not why (disabled, unconfirmed, not independent of me)."""

    username: str
    full_name: str
    eligible: bool
    reason: str | None


class CheckoutApprovers(Answer):
    """Who could approve my check-out of an account (issue 27, item 2)."""

    approvals_needed: int
    candidates: list[CheckoutApprover]
    empty_groups: list[str]
