"""Per-org settings (custom roles, resource types, additional field definitions) and the
MSP's replication of settings to client orgs. Request bodies come from the services' field
declarations (``server.web.validation.model_for``); answers are modelled here."""

from __future__ import annotations

from pydantic import ConfigDict

from server.services import org_settings, replication_settings
from server.web.models.common import Answer
from server.web.validation import model_for

RoleBody = model_for(org_settings.ROLE_FIELDS, "RoleBody")
RoleUpdateBody = model_for(org_settings.ROLE_UPDATE, "RoleUpdateBody")
TypeBody = model_for(org_settings.TYPE_FIELDS, "ResourceTypeBody")
DefinitionBody = model_for(org_settings.DEFINITION_FIELDS, "FieldDefinitionBody")
ReplicateBody = model_for(replication_settings.SETTINGS_FIELDS, "ReplicateSettingsBody")


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
