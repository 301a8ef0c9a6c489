"""Per-org settings (custom roles, resource types, additional field definitions) and the
MSP's replication of settings to client orgs: request bodies and answers.

Request bodies carry no docstring (a comment says what they are): pydantic would make it
the schema's description, and the OpenAPI document states only their fields. An optional
field absent from the body is left out of ``body.given()``, so the service sees only what
the client sent.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from server.core import permissions
from server.services.org_settings import FIELD_KINDS, FIELD_NAME, ROLE_NAME, TEXT_LIMIT
from server.services.replication_settings import CATEGORIES
from server.web.models.common import Answer, Body, text

RoleName = text(
    64,
    non_empty=True,
    pattern=ROLE_NAME,
    pattern_message="must be letters, digits, - and _ (starting with a letter)",
)
Capabilities = Annotated[list[text()], Field(max_length=len(permissions.CAPABILITIES))]


# ``POST /orgs/{org}/roles``: a custom role, its description and its capabilities.
class RoleBody(Body):
    name: RoleName
    description: text(2000) = None  # type: ignore[assignment]
    permissions: Capabilities


# ``PATCH /orgs/{org}/roles/{name}``: only the fields given change.
class RoleUpdateBody(Body):
    description: text(2000) = None  # type: ignore[assignment]
    permissions: Capabilities = None  # type: ignore[assignment]


# ``POST /orgs/{org}/resource-types``: a name people tell apart by eye.
class ResourceTypeBody(Body):
    name: text(64, non_empty=True, identifier=True)


# ``POST /orgs/{org}/field-definitions``: an additional field of resources or accounts
# (of one resource type, or of all), its kind, and for a choice its choices.
class FieldDefinitionBody(Body):
    applies_to: Literal["resource", "account"]
    resource_type: text(64) = None  # type: ignore[assignment]
    name: text(
        64,
        non_empty=True,
        pattern=FIELD_NAME,
        pattern_message="must be letters, digits and _ (starting with a letter)",
    )
    kind: Literal[FIELD_KINDS]  # type: ignore[valid-type]
    required: bool = None  # type: ignore[assignment]
    default: text(TEXT_LIMIT) | None = None
    choices: Annotated[list[text()], Field(max_length=100)] = None  # type: ignore[assignment]


# ``PUT /msp/replicate-settings``: the categories MSPOrg replicates to every client org
# (server.services.replication_settings.CATEGORIES) and what a clashing role name does.
class ReplicateSettingsBody(Body):
    categories: Annotated[list[text()], Field(max_length=len(CATEGORIES))]
    role_conflict: Literal["overwrite", "rename"] = None  # type: ignore[assignment]


class Setting(Answer):
    """A setting as the API shows it (roles, types, definitions, replication)."""

    model_config = ConfigDict(extra="allow")


class RoleAnswer(Setting):
    """A role: built-in or the org's own, with its permissions."""

    name: str


class ResourceType(Setting):
    """A resource type: built-in or the org's own."""

    name: str


class FieldDefinition(Setting):
    """An additional field definition."""

    id: str
    name: str
    applies_to: str
    kind: str


class ReplicateSettings(Setting):
    """The categories MSPOrg replicates and the name-clash rule (and, after a PUT, each
    client org's result)."""

    categories: list[str]
