"""Directory login (issue 32): an org's directory configuration, its test and its sync.

Request bodies carry no docstring (a comment says what they are): pydantic would make it
the schema's description.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.web.models.common import Answer, Body, Password, Query, integer, text

DN = text(1000, non_empty=True, free=True)


# One group → role mapping: members of the group (its DN, as in memberOf) get the role.
class GroupRole(Body):
    group: DN
    role: text(64, non_empty=True)


# ``PUT /orgs/{org}/directory``: the whole configuration. ``bind_password`` may be left
# out to keep the stored one. ``group_roles`` in order: the first group a user is in
# decides its role; ``default_role`` for users in none (null: they get no access).
class DirectoryBody(Body):
    url: text(500, non_empty=True)
    start_tls: bool = False
    ca_certificate: text(65536, non_empty=True, free=True, multiline=True, strip=False)
    bind_dn: DN
    bind_password: Password = ""
    search_base: DN
    user_filter: text(1000, free=True) = "(objectClass=inetOrgPerson)"
    username_attribute: text(64, non_empty=True, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$") = "uid"
    group_roles: Annotated[list[GroupRole], Field(max_length=100)] = []
    default_role: text(64) = None  # type: ignore[assignment]
    sync_minutes: integer(0, 10080) = 60


class GroupRoleAnswer(Answer):
    """A group → role mapping."""

    group: str
    role: str


class DirectoryConfig(Answer):
    """A stored directory configuration (never the bind password)."""

    url: str
    start_tls: bool
    ca_certificate: str
    bind_dn: str
    bind_password_set: bool
    search_base: str
    user_filter: str
    username_attribute: str
    group_roles: list[GroupRoleAnswer]
    default_role: str | None
    sync_minutes: int
    revision: str
    configured_by: str
    updated_at: str
    last_sync_at: str | None


class Directory(Answer):
    """``GET /orgs/{org}/directory``: the active configuration, and MSPOrg's pending one
    (active only once a second administrator approves a ``directory_config`` request)."""

    org: str
    active: DirectoryConfig | None
    pending: DirectoryConfig | None
    approval_required: bool


class DirectoryTestQuery(Query):
    """``POST /orgs/{org}/directory/test?configuration=active|pending`` (default: the
    pending one if there is one, else the active one)."""

    configuration: Literal["", "active", "pending"] = ""


class TestGroup(Answer):
    """How many users found are in one mapped group."""

    group: str
    role: str
    members: int


class DirectoryTest(Answer):
    """What a test connection found (a failure is ``ok: false`` with ``problem``)."""

    ok: bool
    configuration: str
    problem: str | None
    users_found: int
    sample: list[str]
    groups: list[TestGroup]
    without_role: int


class SkippedUser(Answer):
    """A directory entry the sync did not apply, and why."""

    username: str
    reason: str


class DirectorySync(Answer):
    """What a sync changed."""

    created: list[str]
    updated: list[dict[str, str]]
    disabled: list[str]
    enabled: list[str]
    skipped: list[SkippedUser]
    unchanged: int


class DirectoryRequestConfig(Answer):
    """The configuration a ``directory_config`` request approves, whole (never the bind
    password): ``ca_sha256`` holds the SHA-256 fingerprints of the CA certificates. Any
    change after filing is refused at approval (``409 directory_changed``). Requests filed
    before this field set existed show only the first five (the others null)."""

    revision: str
    url: str
    start_tls: bool | None = None
    ca_sha256: list[str] | None = None
    bind_dn: str
    search_base: str
    user_filter: str
    username_attribute: str | None = None
    group_roles: list[GroupRoleAnswer] | None = None
    default_role: str | None = None
    sync_minutes: int | None = None
