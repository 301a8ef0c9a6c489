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
