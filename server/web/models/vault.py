"""The vault of an org: resources, accounts, reveal, passwords, shares, resource groups and
password policies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from server.web.models.common import SAFE_INT, Answer, Body, Patch, Query, Text, integer, text
from server.web.models.rotation import RotationState, Schedule

Permission = Literal["owner", "full", "modify", "view"]
ShareLevel = Literal["view", "modify", "full"]
_KEY = Text(100, non_empty=True)
_VALUE = Text(2000, free=True)
FieldValue = Annotated[str, _VALUE] | integer() | bool | None
# Additional fields of a resource: a flat map of names to scalar values. Its schema names
# the key rule with propertyNames (pydantic's patternProperties would let other keys pass).
ExtraFields = Annotated[
    dict[Annotated[str, _KEY], FieldValue],
    Field(max_length=100),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": 100,
            "propertyNames": {
                "type": "string",
                "minLength": 1,
                "maxLength": 100,
                "pattern": _KEY.schema_pattern(),
            },
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": 2000, "pattern": _VALUE.schema_pattern()},
                    {"type": "integer", "minimum": -SAFE_INT, "maximum": SAFE_INT},
                    {"type": "boolean"},
                    {"type": "null"},
                ]
            },
        }
    ),
]
PolicyName = text(64)
# A resource's name is shown in every list and approval: told apart by eye (issue 26).
ResourceName = text(200, non_empty=True, identifier=True)
AccountName = text(200, non_empty=True, identifier=True)
Password = text(1024, strip=False)
Notes = text(10000, multiline=True, strip=False)


class ResourceCreate(Body):
    """``POST /orgs/{org}/resources``: the caller owns what it adds."""

    name: ResourceName
    type: text(64, non_empty=True)
    url: text(2000) = ""
    description: text(2000, free=True) = ""
    department: text(200, free=True) = ""
    location: text(200, free=True) = ""
    fields: ExtraFields = {}


class ResourceUpdate(Patch):
    """``PATCH /orgs/{org}/resources/{id}``: only the fields given change."""

    name: ResourceName = ""
    type: text(64, non_empty=True) = ""
    url: text(2000) = ""
    description: text(2000, free=True) = ""
    department: text(200, free=True) = ""
    location: text(200, free=True) = ""
    fields: ExtraFields = {}


class ResourcesQuery(Query):
    """``GET /orgs/{org}/resources?q=``: search name, URL, type and description."""

    q: text(200) = ""


class Resource(Answer):
    """A resource, with the caller's permission on it."""

    id: str
    name: str
    type: str
    url: str
    description: str
    department: str
    location: str
    fields: dict[str, str | int | float | bool | None]
    permission: Permission


class ResourceListed(Resource):
    """A resource in a list, with how many of its accounts the caller may use."""

    accounts: int


class Account(Answer):
    """An account's metadata (never its password or notes)."""

    id: str
    username: str
    policy: str
    password_changed_at: str
    # The last change + its policy's max_age_days; null when the policy sets no maximum
    # age (issue 31).
    expires_at: str | None = None
    permission: Permission
    fields: dict[str, str | int | float | bool | None]
    # Connect only: used through the SSH gateway's brokered sessions, never revealed
    # (reveal: 403 connect_only; issue 30).
    connect_only: bool = False


class AccessState(Answer):
    """An account's check-out state: ``controlled``, ``state`` (``free``, ``mine``,
    ``held``) and, when held, ``holder`` and ``until``."""

    controlled: bool
    state: Literal["free", "mine", "held"]
    holder: str | None = None
    until: str | None = None


class AccountInResource(Account):
    """An account in its resource's view, with its check-out state and its password's
    state on its target (issue 29)."""

    access: AccessState
    rotation: RotationState | None = None


class AccountCreated(Account):
    """A new account, or one just edited."""

    resource_id: str


class AccountDetail(AccountCreated):
    """An account with its resource's name, whether its password is past its age, and
    its check-out state."""

    resource: str
    password_expired: bool
    access: AccessState
    # Secret additional fields a check-in with rotation left as the holder saw them
    # (names only), until someone holding a check-out changes them.
    secret_fields_to_change: list[str] = []
    # The password on its target: last change, last verification, next runs (issue 29).
    rotation: RotationState | None = None


class ResourceDetail(Resource):
    """A resource with the accounts in it the caller may use."""

    accounts: list[AccountInResource]


class AccountCreate(Body):
    """``POST /orgs/{org}/resources/{id}/accounts``: a password, or ``generate``."""

    username: AccountName
    password: Password = ""
    generate: bool = False
    notes: Notes = ""
    policy: PolicyName = ""
    fields: ExtraFields = {}


class AccountUpdate(Patch):
    """``PATCH /orgs/{org}/accounts/{id}``: rename, notes (null clears) or policy."""

    username: AccountName = ""
    notes: Notes | None = None
    policy: text(64, non_empty=True) = ""
    fields: ExtraFields = {}
    connect_only: bool = False  # issue 30: never revealed, used through the SSH gateway


class RevealBody(Body):
    """``POST /orgs/{org}/accounts/{id}/reveal``: a reason when the org asks for one."""

    reason: text(500, free=True) = ""


class Revealed(Answer):
    """The password (and notes and secret additional fields, when the account has some)."""

    password: str
    notes: str | None = None
    fields: dict[str, str] | None = None


class PasswordBody(Body):
    """``PUT /orgs/{org}/accounts/{id}/password``: a password, or ``generate``."""

    password: Password = ""
    generate: bool = False


class ShareCreate(Body):
    """A share with a user or group; ``user_org`` "MSPOrg" names an MSP user."""

    user: text(64) = ""
    group: text(100) = ""
    user_org: text(64) = ""
    # absent: the group's default permission (required for a share to a user)
    permission: ShareLevel = None  # type: ignore[assignment]


class Share(Answer):
    """A share."""

    id: str
    permission: ShareLevel
    user: str | None
    user_org: str | None
    group: str | None
    created_at: str
    note: str | None = Field(
        default=None,
        description="a new share that reaches nobody yet, and why (issue 27: a group whose "
        "members are all unconfirmed client users)",
    )


class ShareTargetUser(Answer):
    """A user a share can name."""

    username: str
    full_name: str
    confirmed: bool


class ShareTargetGroup(Answer):
    """A group a share can name."""

    name: str
    members: int
    reaches_nobody: bool


class ShareTargetMspUser(Answer):
    """An MSPOrg user who acts in the org (a share to it needs ``user_org: MSPOrg``)."""

    username: str
    full_name: str


class ShareTargets(Answer):
    """``GET /orgs/{org}/share-targets``: who a share in the org can reach."""

    users: list[ShareTargetUser]
    groups: list[ShareTargetGroup]
    msp_users: list[ShareTargetMspUser]


ResourceIds = Annotated[list[text(64)], Field(max_length=10000)]
ExtendShares = Annotated[
    bool,
    Field(
        description="true: the group's shares reach the resources added too (the adder "
        "knows it). Without it, adding resources to a group that has shares is refused "
        "with 409 shares_would_extend, which names who would gain what on which resources."
    ),
]


class ResourceGroupCreate(Body):
    """``POST /orgs/{org}/resource-groups``: a name and resource ids."""

    name: text(100, non_empty=True, identifier=True)
    resources: ResourceIds = []
    extend_shares: ExtendShares = False


class ResourceGroupUpdate(Patch):
    """``PATCH /orgs/{org}/resource-groups/{name}``: rename or replace the resources.
    Resources added to a group that has shares are refused with 409
    ``shares_would_extend`` unless ``extend_shares`` is true."""

    name: text(100, non_empty=True, identifier=True) = ""
    resources: ResourceIds = []
    extend_shares: ExtendShares = False


class GroupedResource(Answer):
    """A resource in a group."""

    id: str
    name: str


class ResourceGroup(Answer):
    """A resource group."""

    name: str
    resources: list[GroupedResource]
    # Its own rotation schedule (issue 29), which its resources' accounts inherit; null: none.
    rotation_schedule: Schedule | None = None


Length = integer(1, 1024)


class PolicyCreate(Body):
    """``POST /orgs/{org}/password-policies``: 1 <= min_length <= max_length <= 1024."""

    name: text(64, non_empty=True)
    min_length: Length
    max_length: Length
    require_upper: bool = False
    require_lower: bool = False
    require_digit: bool = False
    require_special: bool = False
    max_age_days: integer(1, 36500) | None = None


class Policy(Answer):
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
    replicated: bool = False  # in the list: copied from MSPOrg by replicated settings


class GeneratedPassword(Answer):
    """A generated password."""

    password: str


class PasswordExpiryQuery(Query):
    """``GET /orgs/{org}/password-expiry``: passwords expired or expiring within this many
    days (default 7)."""

    within_days: int = 7


class PasswordExpiring(Answer):
    """An account whose password has expired or expires soon (never the password):
    ``state`` is what the vault shows ("expired", "expires in 3 d")."""

    id: str
    resource_id: str
    resource: str
    username: str
    policy: str
    password_changed_at: str
    expires_at: str
    expired: bool
    state: str
