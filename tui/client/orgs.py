"""Organizations: list, create, edit, delete, import, report."""

from __future__ import annotations

from urllib.parse import quote

from tui.api_types import Org
from tui.client.transport import Transport


class OrgsApi(Transport):
    """The organization requests (a part of ``Client``)."""

    async def orgs(self) -> list[Org]:
        """Organizations visible to me."""
        return await self._every("/orgs")

    async def create_org(self, fields: dict) -> Org:
        """Create a client org."""
        return await self._request("POST", "/orgs", fields)

    async def delete_org(self, org: str, confirm: str) -> dict:
        """Delete a client org."""
        return await self._request("DELETE", f"/orgs/{quote(org)}?confirm={quote(confirm)}")

    async def delete_preview(self, org: str) -> dict:
        """What deleting a client org takes with it, all of it counted: {org, counts: {users,
        groups, resources, accounts, resource_groups, policies, roles, fields},
        recovery_days}."""
        return await self._request("GET", f"/orgs/{quote(org)}/delete-preview")

    async def import_orgs(self, filename: str, data: bytes) -> dict:
        """Import orgs from a CSV/TXT file's bytes."""
        return await self._request(
            "POST", f"/orgs/import?filename={quote(filename)}", raw=data, content_type="text/csv"
        )

    async def update_org(self, org: str, fields: dict) -> Org:
        """Edit a client org."""
        return await self._request("PATCH", f"/orgs/{quote(org)}", fields)

    async def org_report(self, org: str) -> dict:
        """The org report."""
        return await self._request("GET", f"/orgs/{quote(org)}/report")

    async def deleted_orgs(self) -> list[dict]:
        """Client orgs in their recovery window: ``[{"id", "display_name", "name",
        "deleted_at", "deleted_by", "purge_at"}]`` (MSPOrg administrators; issue 27)."""
        return await self._every("/orgs/deleted")

    async def restore_org(self, org_id: str) -> Org:
        """Restore a deleted org (any MSPOrg administrator); the org."""
        return await self._request("POST", f"/orgs/deleted/{quote(org_id, safe='')}/restore")

    async def security_settings(self, org: str) -> dict:
        """The org's security settings: ``{"org", "totp_policy"}``."""
        return await self._request("GET", f"/orgs/{quote(org, safe='')}/security-settings")

    async def set_security_settings(self, org: str, totp_policy: str) -> dict:
        """Set who must use two-factor authentication: none, administrators or everyone
        (``403 client_confirms`` when the MSP lowers a client's policy)."""
        return await self._request(
            "PUT", f"/orgs/{quote(org, safe='')}/security-settings", {"totp_policy": totp_policy}
        )
