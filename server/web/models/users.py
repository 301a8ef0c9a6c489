"""Users and user groups inside an org."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.web.models.auth import Role, Scope
from server.web.models.common import Answer, Body, Password, Patch, Query, text

USERNAME = r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}"
_ADDRESS = r"[^@\s\x00-\x1f\x7f]+"  # no white space, no control characters
EMAIL = rf"{_ADDRESS}@{_ADDRESS}\.{_ADDRESS}"

Username = text(
    64,
    non_empty=True,
    pattern=USERNAME,
    pattern_message="may hold letters, digits and . _ @ - (max 64)",
)
Email = text(254, pattern=EMAIL, pattern_message="is not an e-mail address")
FullName = text(200)
ShareLevel = Literal["view", "modify", "full"]
Members = Annotated[list[text(64)], Field(max_length=10000)]


class UserCreate(Body):
    """``POST /orgs/{org}/users``: the password is a first one the user must change."""

    username: Username
    full_name: FullName = ""
    email: Email = ""
    role: text(64, non_empty=True)
    password: text(1024, strip=False, non_empty=True)
    access_scope: Scope = "owned_and_shared"
    totp_required: bool = False


class UserUpdate(Patch):
    """``PATCH /orgs/{org}/users/{username}``: only the fields given change."""

    full_name: FullName = ""
    email: Email = ""
    role: text(64, non_empty=True) = ""
    status: Literal["active", "disabled"] = "active"
    access_scope: Scope = "owned_and_shared"
    totp_required: bool = False
    password: text(1024, strip=False, non_empty=True) = ""


class User(Answer):
    """A user (never a hash or a secret)."""

    username: str
    org: str
    full_name: str
    email: str
    role: Role
    access_scope: Scope
    status: str
    must_change_password: bool
    totp_required: bool
    totp_enabled: bool
    confirmed: bool
    created_at: str
    directory: bool = False  # logs in with its org's directory (issue 32)


class DeleteUserQuery(Query):
    """``DELETE /orgs/{org}/users/{username}?new_owner=``: who receives what it owns."""

    new_owner: text(64) = ""


class Transferred(Answer):
    """What the deleted user owned, now the new owner's."""

    resources: int
    accounts: int


class UserDeleted(Answer):
    """The answer to deleting a user who owned something."""

    transferred: Transferred


class GroupCreate(Body):
    """``POST /orgs/{org}/groups``."""

    name: text(100, non_empty=True, identifier=True)
    description: text(2000) = ""
    members: Members = []
    default_permission: ShareLevel = "view"


class GroupUpdate(Patch):
    """``PATCH /orgs/{org}/groups/{name}``: rename, describe or replace the members."""

    name: text(100, non_empty=True, identifier=True) = ""
    description: text(2000) = ""
    members: Members = []
    default_permission: ShareLevel = "view"


class Group(Answer):
    """A user group with its members."""

    name: str
    description: str
    members: list[str]
    default_permission: ShareLevel
    replicated: bool


class ActivationBody(Body):
    """``POST /orgs/MSPOrg/users/{username}/activation``: the activator's current password."""

    current_password: Password


class Activation(Answer):
    """An activation code, shown once to the activating administrator (only its SHA-256 is
    kept): the user's first login needs it with the temporary password its maker set."""

    username: str
    activation_code: str
    expires_at: str
