"""Logging in and the caller's own account: /auth/*, /me, /me/password, /me/totp, API keys."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.core import permissions
from server.services.account import API_KEY_MAX_DAYS
from server.web.models.common import (
    Answer,
    Body,
    Name64,
    NewPassword,
    Otp,
    Password,
    integer,
    text,
)

Role = str  # a built-in role (permissions.ROLES) or one of the org's custom roles
Scope = Literal[permissions.SCOPES]  # type: ignore[valid-type]
Capability = Literal[permissions.ORG_CAPABILITIES]  # type: ignore[valid-type]
OrgCapabilities = Annotated[
    dict[str, list[Capability]],
    Field(
        description=(
            "Per org the caller may act in (its home org and every org it reaches as "
            "account manager or through an org access grant), keyed by display name: "
            "what it may do there, sorted by name. manage_users, read_audit, add_resources "
            "and manage_vault come from its role (a custom role's included); administer "
            "marks a built-in administrator, manage_orgs an MSPOrg administrator."
        ),
        examples=[{"MSPOrg": ["read_audit"], "acme": ["read_audit"]}],
    ),
]


class LoginBody(Body):
    """``POST /auth/login``: the org defaults to MSPOrg; ``otp`` when 2FA is on."""

    username: text(64, non_empty=True)
    password: text(1024, strip=False, non_empty=True)
    org: Name64 = "MSPOrg"
    otp: Otp = ""
    activation_code: text(64) = ""


class SessionUser(Answer):
    """Who logged in."""

    username: str
    org: str
    role: Role


class LoginAnswer(Answer):
    """A new session."""

    token: str
    expires_at: str
    must_change_password: bool
    must_enrol_totp: bool = Field(
        description="the session is limited to TOTP enrolment (/me, /me/totp, "
        "/me/totp/confirm, /auth/logout) until a TOTP is confirmed: the org's policy or an "
        "administrator requires one"
    )
    recovery_codes_remaining: int | None = Field(
        description="after a login with a recovery code: how many unused codes remain"
    )
    user: SessionUser


class RefreshAnswer(Answer):
    """A new token for the same session."""

    token: str
    expires_at: str


class NoticeItem(Answer):
    """A notice of ``GET /me`` with its id, to acknowledge it (issue 27)."""

    id: str = Field(description='"<kind>:<id>", e.g. "person_recovered:<uuid>"')
    kind: Literal["person_recovered"]
    text: str
    at: str = Field(description="when what it tells happened (ISO 8601)")


class Me(Answer):
    """The caller."""

    username: str
    org: str
    role: Role
    access_scope: Scope
    full_name: str
    email: str
    totp_enabled: bool
    totp_required: bool
    must_change_password: bool
    recovery_codes_remaining: int
    managed_orgs: list[str]
    capabilities: OrgCapabilities
    notices: list[str] = Field(
        default_factory=list,
        description="What every MSPOrg administrator is told at login for 7 days: persons "
        "recovered on the server's console (strongroom recover-person). A notice the caller "
        "acknowledged (POST /me/notices/acknowledge) is no longer listed.",
    )
    notice_items: list[NoticeItem] = Field(
        default_factory=list,
        description="The same notices with their ids (to acknowledge them) and times.",
    )


class ChangePasswordBody(Body):
    """``POST /me/password``."""

    current_password: Password
    new_password: NewPassword


class CurrentPasswordBody(Body):
    """A re-authentication: the caller's current password."""

    current_password: Password


class TotpSecret(Answer):
    """The TOTP secret, shown once, not yet active."""

    secret: str
    otpauth_uri: str


class OtpBody(Body):
    """A TOTP code."""

    otp: text(12, non_empty=True)


class TotpDisableBody(Body):
    """``POST /me/totp/disable``: the current password and a current code."""

    current_password: text(1024, non_empty=True)
    otp: text(12, non_empty=True)


class ApiKeyBody(Body):
    """``POST /me/api-keys``: a name, and a lifetime in days (the server's default if
    left out)."""

    name: text(100, non_empty=True)
    expires_in_days: integer(1, API_KEY_MAX_DAYS) = None  # type: ignore[assignment]


class ApiKeyCreated(Answer):
    """A new API key: ``key`` is shown here and never again."""

    id: str
    name: str
    key: str
    created_at: str
    expires_at: str


class ApiKey(Answer):
    """An API key as listed (never the key)."""

    id: str
    name: str
    ends_with: str
    created_at: str
    last_used_at: str | None
    expires_at: str
    expired: bool


class RecoveryCodes(Answer):
    """Ten one-time two-factor recovery codes, shown this once (issue 27)."""

    recovery_codes: list[str]


class RecoveryCodesBody(Body):
    """``POST /me/totp/recovery-codes``: the current password and a current TOTP code."""

    current_password: text(1024, non_empty=True)
    otp: text(12, non_empty=True)


TotpPolicy = Literal["none", "administrators", "everyone"]


class SecuritySettings(Answer):
    """An org's security settings."""

    org: str
    totp_policy: TotpPolicy


class SecuritySettingsBody(Body):
    """``PUT /orgs/{org}/security-settings``: who must use two-factor authentication."""

    totp_policy: TotpPolicy


NoticeId = text(200, non_empty=True)


class AcknowledgeNoticesBody(Body):
    """``POST /me/notices/acknowledge``: the ids of notices read (``GET /me``'s
    ``notice_items``)."""

    ids: list[NoticeId] = Field(min_length=1, max_length=100)


class NoticesAcknowledged(Answer):
    """What was acknowledged now, and the notices still shown."""

    acknowledged: list[str]
    notices: list[NoticeItem]
