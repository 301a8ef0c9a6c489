"""Plain data the API client hands out: errors, the server's state, an endpoint, and the
shapes of the server's answers (typed dicts, so widgets read them as the JSON they are)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import urlsplit


class ApiError(Exception):
    """A request failed: ``code`` is the server's stable code (or a client-side one)."""

    def __init__(self, code: str, detail: str, status: int = 0, body: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.body = body or {}


@dataclass
class ServerState:
    """What the client knows about the node it talks to."""

    url: str
    role: str = "unknown"
    read_only: bool = False
    degraded: bool = False
    term: int = 0
    first_login_hint: str | None = None  # where a fresh node's first password is kept
    last_backup_at: str | None = None  # the newest good backup (ISO 8601), if any
    last_backup_failed: bool = False  # the latest scheduled attempt failed
    # A primary's SIEM forwarding: {destinations, lag, failing} (issue 31), when any.
    forwarding: dict | None = None


@dataclass
class Endpoint:
    """A server address and the org named in it (https://host:7272/abc → org abc)."""

    base: str
    org: str | None = None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Split a URL that may carry an org display name as its path."""
        parts = urlsplit(url if "://" in url else f"https://{url}")
        if parts.scheme != "https":
            raise ApiError("bad_url", f"{url}: Strongroom speaks HTTPS only")
        org = parts.path.strip("/") or None
        port = f":{parts.port}" if parts.port else ":7272"
        return cls(f"https://{parts.hostname}{port}", org)


# -- the answers' shapes ------------------------------------------------------------------
# What the server answers, as typed plain data (JSON objects stay dicts at run time; these
# name their keys for readers and type checkers). ``total=False``: a key the server leaves
# out of some answers may be missing.


class Page(TypedDict):
    """One page of a list: ``items`` and the cursor of the next page (None at the end)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class LoginAnswer(TypedDict, total=False):
    """``POST /auth/login``: the session token and what the user must do first."""

    token: str
    must_change_password: bool
    totp_required: bool
    must_enrol_totp: bool  # the session can only enrol TOTP first (issue 27)
    recovery_codes_remaining: int | None  # after a login with a recovery code


class Me(TypedDict, total=False):
    """``GET /me``: the logged-in user."""

    username: str
    full_name: str
    email: str
    org: str
    role: str
    totp_enabled: bool
    totp_required: bool  # by an administrator or the org's policy
    recovery_codes_remaining: int
    msp_group_access: list[dict[str, Any]]
    managed_orgs: list[str]
    # org display name -> the capability names the user has there (server/core/
    # permissions.py ORG_CAPABILITIES): its home org and every org it reaches.
    capabilities: dict[str, list[str]]
    notices: list[str]  # what the user is told at login, until acknowledged (issue 27)
    # the same, with ids to acknowledge: [{"id", "kind", "text", "at"}]
    notice_items: list[dict[str, str]]


class ApiKey(TypedDict, total=False):
    """One of my API keys (never the key itself, except once in ``create_api_key``)."""

    id: str
    name: str
    key: str
    ends_with: str
    created_at: str
    last_used_at: str | None
    expires_at: str
    expired: bool


class Org(TypedDict, total=False):
    """An organization as ``GET /orgs`` lists it."""

    name: str
    display_name: str
    description: str
    is_msp: bool
    account_manager: str | None
    department: str
    location: str
    managed: bool


class User(TypedDict, total=False):
    """A user of an org."""

    username: str
    full_name: str
    email: str
    role: str
    status: str
    totp_enabled: bool
    confirmed: bool
    access_scope: str


class Group(TypedDict, total=False):
    """A user group of an org."""

    name: str
    description: str
    members: list[str]
    default_permission: str


class Account(TypedDict, total=False):
    """An account of a resource (metadata; never the password)."""

    id: str
    username: str
    policy: str
    fields: dict[str, Any]
    permission: str
    access: dict[str, Any]
    password_changed_at: str
    expires_at: str | None


class Resource(TypedDict, total=False):
    """A vault resource (with its accounts when fetched alone)."""

    id: str
    name: str
    type: str
    url: str
    description: str
    fields: dict[str, Any]
    permission: str
    accounts: list[Account]


class ResourceGroup(TypedDict, total=False):
    """A named set of resources."""

    name: str
    resources: list[dict[str, Any]]


class Share(TypedDict, total=False):
    """Who an account, resource or resource group is shared with, at which level."""

    id: str
    permission: str
    user: str | None
    user_org: str | None
    group: str | None
    created_at: str


class AccessControl(TypedDict, total=False):
    """The check-out rules on an account or resource."""

    enabled: bool
    approvers: list[str]
    approver_groups: list[str]
    approvals_needed: int
    max_window_minutes: int
    exclusive: bool
    rotate_on_checkin: bool
    inherited_from: str | None


class PasswordRequest(TypedDict, total=False):
    """A request to check out a controlled password (and, when approved, the hold)."""

    id: str
    account_id: str
    account: str
    resource: str
    requester: str
    reason: str
    status: str
    window_minutes: int
    expires_at: str | None
    ends_at: str | None
    approved_by: list[str]
    decision_reason: str | None
    rotated: bool  # in a check-in's answer
    secret_fields_to_change: list[str]  # in a check-in's answer


class AccessRequest(TypedDict, total=False):
    """An org access request (a grant, an account manager, a group member, ...)."""

    id: str
    kind: str
    org: str
    user: str | None
    group: str | None
    proposer: str
    approver: str
    reason: str
    status: str
    expires_at: str | None


class AuditEvent(TypedDict, total=False):
    """One audit event."""

    id: int
    at: str
    actor: str
    actor_org: str
    operation: str
    target: str
    target_type: str
    outcome: str
    details: dict[str, Any]


class AuditOperationSetting(TypedDict):
    """Whether one operation is recorded and alerts, and whether that may change."""

    operation: str
    recorded: bool
    alert: bool
    switchable: bool


class AuditOperation(TypedDict):
    """One operation the audit trail records (``GET /audit/operations``)."""

    name: str
    category: str  # routine (an org may stop recording it), security, secret_access
    description: str


class AuditSettings(TypedDict, total=False):
    """An org's audit settings."""

    retention_days: int | None
    operations: list[AuditOperationSetting]


class Role(TypedDict, total=False):
    """A built-in or custom role."""

    name: str
    description: str
    permissions: list[str]
    builtin: bool
    replicated: bool


class FieldDefinition(TypedDict, total=False):
    """An additional field definition."""

    id: str
    applies_to: str
    resource_type: str | None
    name: str
    kind: str
    required: bool
    default: str | None
    choices: list[str]
    replicated: bool


class PasswordPolicy(TypedDict, total=False):
    """A password policy."""

    name: str
    min_length: int
    max_length: int
    require_upper: bool
    require_lower: bool
    require_digit: bool
    require_special: bool
    max_age_days: int | None
    builtin: bool
