"""Org settings: custom roles, resource types, additional field definitions, and
MSPOrg's replication of settings."""

from __future__ import annotations

from urllib.parse import quote

from tui.api_types import FieldDefinition, Role
from tui.client.transport import Transport


class SettingsApi(Transport):
    """The org settings requests (a part of ``Client``)."""

    async def roles(self, org: str) -> list[Role]:
        """An org's roles: the five built-ins (``builtin: true``), then its custom ones
        (``{name, description, permissions, builtin, replicated}``)."""
        return await self._every(f"/orgs/{quote(org)}/roles")

    async def create_role(self, org: str, fields: dict) -> Role:
        """Add a custom role ``{name, description?, permissions: [...]}``; the role."""
        return await self._request("POST", f"/orgs/{quote(org)}/roles", fields)

    async def update_role(self, org: str, name: str, fields: dict) -> Role:
        """Change a custom role's ``description`` and/or ``permissions``; the role."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/roles/{quote(name)}", fields)

    async def delete_role(self, org: str, name: str) -> None:
        """Delete a custom role nobody holds (``409 role_in_use`` otherwise)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/roles/{quote(name)}")

    async def create_resource_type(self, org: str, name: str) -> dict:
        """Add a type to the org's catalogue; ``{name, builtin: false, replicated}``."""
        return await self._request("POST", f"/orgs/{quote(org)}/resource-types", {"name": name})

    async def delete_resource_type(self, org: str, name: str) -> None:
        """Delete a custom type no resource uses (``409 type_in_use`` otherwise)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/resource-types/{quote(name, safe='')}")

    async def field_definitions(self, org: str) -> list[FieldDefinition]:
        """An org's additional field definitions: ``{id, applies_to, resource_type, name,
        kind, required, default, choices, replicated}``."""
        return await self._every(f"/orgs/{quote(org)}/field-definitions")

    async def create_field_definition(self, org: str, fields: dict) -> FieldDefinition:
        """Define a field ``{applies_to, resource_type?, name, kind, required?, default?,
        choices?}``; the definition."""
        return await self._request("POST", f"/orgs/{quote(org)}/field-definitions", fields)

    async def delete_field_definition(self, org: str, definition_id: str) -> None:
        """Remove a field definition by its id."""
        await self._request("DELETE", f"/orgs/{quote(org)}/field-definitions/{definition_id}")

    async def replicate_settings(self) -> dict:
        """MSPOrg's replication choice: ``{categories, role_conflict, applied_at,
        available}``."""
        return await self._request("GET", "/msp/replicate-settings")

    async def apply_replicate_settings(self, categories: list[str], role_conflict: str) -> dict:
        """Save the choice and apply it to every client org, in one call that answers when
        all orgs are done: the settings plus ``{applied, failed, results: [{org, status,
        created, updated, detail?}]}``."""
        return await self._request(
            "PUT",
            "/msp/replicate-settings",
            {"categories": categories, "role_conflict": role_conflict},
        )

    # -- directory login (issue 32) -------------------------------------------------

    async def directory(self, org: str) -> dict:
        """The org's directory: ``{org, active, pending, approval_required}`` (each
        configuration without its bind password)."""
        return await self._request("GET", f"/orgs/{quote(org)}/directory")

    async def put_directory(self, org: str, fields: dict) -> dict:
        """Set the org's directory (MSPOrg's waits for a ``directory_config`` approval);
        the directory as ``directory`` answers it."""
        return await self._request("PUT", f"/orgs/{quote(org)}/directory", fields)

    async def test_directory(self, org: str) -> dict:
        """Connect with the pending (else active) configuration: what it found."""
        return await self._request("POST", f"/orgs/{quote(org)}/directory/test")

    async def sync_directory(self, org: str) -> dict:
        """Bring the org's directory users in step now: what changed."""
        return await self._request("POST", f"/orgs/{quote(org)}/directory/sync")
