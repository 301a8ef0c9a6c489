"""Organizations, their import, report and MSP access, and dual-control requests."""

from __future__ import annotations

from typing import Literal

from server.services import dual_control
from server.web.models.auth import Role
from server.web.models.common import (
    Answer,
    Body,
    Name64,
    Password,
    Patch,
    Query,
    Reason,
    integer,
    text,
)
from server.web.models.directory import DirectoryRequestConfig

VaultControl = Literal["msp", "client", "both"]
RequestKind = Literal[dual_control.KINDS]  # type: ignore[valid-type]
RequestStatus = Literal["pending", "approved", "rejected", "cancelled", "expired"]
RetentionDays = integer(30, 36500)  # an audit_retention request's shorter retention
FreeName = text(200, free=True, non_empty=True)
FreeText = text(200, free=True)
Description = text(2000, free=True)


class OrgCreate(Body):
    """``POST /orgs``: a client organization and its first account manager."""

    name: FreeName
    display_name: text(200, non_empty=True)
    account_manager: text(64, non_empty=True)
    description: Description = ""
    department: FreeText = ""
    location: FreeText = ""
    vault_control: VaultControl = "both"
    require_reveal_reason: bool = False  # set in the same transaction as the org


class OrgUpdate(Patch):
    """``PATCH /orgs/{org}``: only the fields given change."""

    name: FreeName = ""
    display_name: text(200, non_empty=True) = ""
    account_manager: text(64, non_empty=True) = ""
    description: Description = ""
    department: FreeText = ""
    location: FreeText = ""
    vault_control: VaultControl = "both"
    require_reveal_reason: bool = False


class Org(Answer):
    """An organization as the caller may see it: an org the caller neither manages nor
    belongs to shows its names and flags only."""

    display_name: str
    name: str
    description: str | None = None
    department: str | None = None
    location: str | None = None
    account_manager: str | None = None
    vault_control: VaultControl | None = None
    require_reveal_reason: bool | None = None
    is_msp: bool
    managed: bool


class OrgLogin(Answer):
    """``GET /{display_name}``: where the org's users log in."""

    org: str
    login: str


class DeleteOrgQuery(Query):
    """``DELETE /orgs/{org}?confirm=``: the display name again, as confirmation."""

    confirm: text(64) = ""


class DeletedCounts(Answer):
    """What goes with a deleted org, counted whole (not only what the deleter sees)."""

    resources: int
    accounts: int
    users: int
    groups: int
    resource_groups: int
    policies: int
    roles: int
    fields: int


class OrgDeleted(Answer):
    """The answer to deleting an org: what goes with it, and when it is purged unless an
    MSPOrg administrator restores it first (issue 27)."""

    deleted: DeletedCounts
    purge_at: str


class DeletePreview(Answer):
    """``GET /orgs/{org}/delete-preview``: what deleting the org would take with it."""

    org: str
    counts: DeletedCounts
    recovery_days: int


class DeletedOrg(Answer):
    """A client org in its recovery window (``GET /orgs/deleted``)."""

    id: str
    display_name: str
    name: str
    deleted_at: str
    deleted_by: str
    purge_at: str


class ImportQuery(Query):
    """``POST /orgs/import?filename=``: the file's name (.csv or .txt)."""

    filename: text(255) = ""


class ImportRow(Answer):
    """One line's outcome."""

    line: int
    display_name: str
    status: Literal["created", "failed"]
    code: str | None = None
    detail: str | None = None


class ImportResult(Answer):
    """Every line's outcome."""

    created: int
    failed: int
    results: list[ImportRow]


class ReportUser(Answer):
    """A user of the org, in its report."""

    username: str
    full_name: str
    role: Role
    status: str
    confirmed: bool


class GroupMembers(Answer):
    """A group and its members."""

    name: str
    members: list[str]


class MspAccess(Answer):
    """An MSP user who reaches the org, and through what."""

    username: str
    role: Role | None = None  # absent when the access comes through a group
    via: str
    approved_role: Role | None = None  # its role when the grant was approved (issue 26)


class AccessRequest(Answer):
    """A dual-control request."""

    id: str
    kind: RequestKind
    org: str | None
    user: str | None = None
    group: str | None = None
    retention_days: int | None = None  # audit_retention: the shorter retention (None: kept)
    purge: bool | None = None  # audit_retention: purge the trail when approved
    members: list[str] | None = None  # a group grant: the group's members as filed
    role: str | None = None  # a grant or account managership for a user: its role now
    display_name: str | None = None  # an org_rename: the new display name
    # a directory_config: the whole pending configuration approved (never the bind
    # password); a change of any of it after filing is refused at approval
    directory: DirectoryRequestConfig | None = None
    proposer: str
    approver: str
    reason: str
    status: RequestStatus
    decision_reason: str
    created_at: str
    expires_at: str
    decided_at: str | None


class Report(Answer):
    """``GET /orgs/{org}/report``."""

    org: str
    account_manager: str | None
    users: list[ReportUser]
    groups: list[GroupMembers]
    msp_access: list[MspAccess]
    msp_group_access: list[GroupMembers]
    pending_requests: list[AccessRequest]
    generated_at: str


class UserGrant(Answer):
    """An MSP user's grant: its role now, and when the grant was approved (null for a
    grant approved before this was recorded)."""

    username: str
    role: Role
    approved_role: Role | None = None
    granted_at: str


class ApprovedMember(Answer):
    """A member of a granted group when the grant was approved, with its role then."""

    username: str
    role: Role


class GroupGrant(Answer):
    """An MSP group's grant: its members now, and as approved (null for a grant approved
    before they were recorded)."""

    name: str
    members: list[str]
    approved_members: list[ApprovedMember] | None = None
    granted_at: str


class Access(Answer):
    """``GET /orgs/{org}/access``: the MSP grants in force."""

    users: list[UserGrant]
    groups: list[GroupGrant]


class RequestBody(Body):
    """``POST /org-access-requests``: ``kind`` (default grant), org, user or group, approver;
    an ``org_rename`` names the org and its new ``display_name``."""

    kind: RequestKind = "grant"
    org: Name64 = ""
    user: Name64 = ""
    group: text(100) = ""
    retention_days: RetentionDays = None  # type: ignore[assignment]
    purge: bool = False
    display_name: text(200) = ""
    approver: text(64, non_empty=True)
    reason: Reason = ""


class DecisionBody(Body):
    """Reject or cancel, with an optional reason."""

    reason: Reason = ""


class ApproveBody(Body):
    """Approve: the approver's current password."""

    current_password: Password


class RequestsQuery(Query):
    """``GET /org-access-requests?status=&role=``."""

    # absent: no filter (a query string has no null)
    status: RequestStatus = None  # type: ignore[assignment]
    role: Literal["approver", "proposer"] = None  # type: ignore[assignment]


class EligibilityQuery(Query):
    """``GET /org-access-requests/eligible-approvers?kind=&org=&user=|group=|display_name=``."""

    kind: RequestKind = "grant"
    org: Name64 = ""
    user: Name64 = ""
    group: text(100) = ""
    retention_days: RetentionDays = None  # type: ignore[assignment]
    purge: bool = False
    display_name: text(200) = ""


class Approver(Answer):
    """Someone who could approve."""

    username: str
    full_name: str


class ApproverCandidate(Answer):
    """An administrator a picker shows: whether it could approve, and if not why."""

    username: str
    full_name: str
    eligible: bool
    reason: str | None


class EligibleApprovers(Answer):
    """``items``: who could approve (as before); ``candidates``: every MSPOrg administrator
    with its state and the reason it cannot (issue 27, item 2)."""

    items: list[Approver]
    next_cursor: str | None
    candidates: list[ApproverCandidate]
