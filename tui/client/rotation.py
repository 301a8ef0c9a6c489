"""Passwords changed on the systems they open (issue 29): a resource's connection to its
target, reset / verify / history of an account, schedules."""

from __future__ import annotations

from urllib.parse import quote

from tui.client.transport import Transport


class RotationApi(Transport):
    """The remote password change requests (a part of ``Client``)."""

    async def connectors(self) -> list[dict]:
        """The connectors the server offers."""
        return await self._every("/connectors")

    async def connection(self, org: str, resource_id: str) -> dict:
        """A resource's connection (``configured`` false when none)."""
        return await self._request("GET", f"/orgs/{quote(org)}/resources/{resource_id}/connection")

    async def set_connection(self, org: str, resource_id: str, body: dict) -> dict:
        """Set a resource's connection (a ``host_key`` given pins it)."""
        return await self._request(
            "PUT", f"/orgs/{quote(org)}/resources/{resource_id}/connection", body
        )

    async def scan_host_key(self, org: str, resource_id: str) -> dict:
        """The key the target presents now: ``presented``, ``pinned``, ``matches``."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resources/{resource_id}/connection/scan"
        )

    async def reset_on_target(self, org: str, account_id: str) -> dict:
        """Change the password on the target now (generated under the account's policy)."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/accounts/{account_id}/rotation/reset", {}
        )

    async def verify_on_target(self, org: str, account_id: str) -> dict:
        """Log in to the target with the current password now."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/accounts/{account_id}/rotation/verify"
        )

    async def password_history(self, org: str, account_id: str) -> list[dict]:
        """An account's earlier passwords (no secret), newest first."""
        return await self._every(f"/orgs/{quote(org)}/accounts/{account_id}/password-history")

    async def reveal_history(
        self, org: str, account_id: str, history_id: str, reason: str | None = None
    ) -> dict:
        """One earlier password (audited; a reason when the org asks for one)."""
        return await self._request(
            "POST",
            f"/orgs/{quote(org)}/accounts/{account_id}/password-history/{history_id}/reveal",
            {"reason": reason} if reason else {},
        )

    async def set_rotation_schedule(self, org: str, kind: str, ref: str, body: dict) -> dict:
        """The schedule of an account, a resource or a resource group (``ref``: its name)
        (null fields: inherit / none)."""
        plural = {"account": "accounts", "resource": "resources"}.get(kind, "resource-groups")
        return await self._request(
            "PUT", f"/orgs/{quote(org)}/{plural}/{quote(ref, safe='')}/rotation-schedule", body
        )

    async def rotation_report(self, org: str) -> dict:
        """Accounts whose verification or change on the target failed, or whose password
        is past its policy's maximum age: ``failed_verifications``, ``failed_changes``,
        ``over_age``."""
        return await self._request("GET", f"/orgs/{quote(org)}/rotation-report")
