"""The vault: resources, accounts, resource groups, shares, resource types and
password policies."""

from __future__ import annotations

from urllib.parse import quote

from tui.api_types import Account, PasswordPolicy, Resource, ResourceGroup, Share
from tui.client.transport import Transport


class VaultApi(Transport):
    """The vault requests (a part of ``Client``)."""

    async def resource_groups(self, org: str) -> list[ResourceGroup]:
        """An org's resource groups."""
        return await self._every(f"/orgs/{quote(org)}/resource-groups")

    async def save_resource_group(
        self, org: str, name: str, resources: list[str], exists: bool, extend_shares: bool = False
    ) -> ResourceGroup:
        """Create a resource group or replace its resources. Adding to a group that has
        shares is refused (``shares_would_extend``) unless ``extend_shares``."""
        body: dict = {"resources": resources}
        if extend_shares:
            body["extend_shares"] = True
        if exists:
            return await self._request(
                "PATCH", f"/orgs/{quote(org)}/resource-groups/{quote(name)}", body
            )
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resource-groups", {"name": name, **body}
        )

    async def share_resource_group(self, org: str, name: str, fields: dict) -> Share:
        """Share a resource group."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resource-groups/{quote(name)}/shares", fields
        )

    async def resource_types(self, org: str) -> list[dict]:
        """An org's resource types (the built-ins and its own)."""
        return await self._every(f"/orgs/{quote(org)}/resource-types")

    async def password_policies(self, org: str) -> list[PasswordPolicy]:
        """An org's password policies."""
        return await self._every(f"/orgs/{quote(org)}/password-policies")

    async def update_resource(self, org: str, resource_id: str, fields: dict) -> Resource:
        """Edit a resource."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/resources/{resource_id}", fields)

    async def resources(self, org: str, q: str = "") -> list[Resource]:
        """Resources I may see in an org."""
        return await self._every(f"/orgs/{quote(org)}/resources", q=q)

    async def resource(self, org: str, resource_id: str) -> Resource:
        """One resource with its accounts."""
        return await self._request("GET", f"/orgs/{quote(org)}/resources/{resource_id}")

    async def create_resource(self, org: str, fields: dict) -> Resource:
        """Add a resource."""
        return await self._request("POST", f"/orgs/{quote(org)}/resources", fields)

    async def create_account(self, org: str, resource_id: str, fields: dict) -> Account:
        """Add an account."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resources/{resource_id}/accounts", fields
        )

    async def reveal(self, org: str, account_id: str, reason: str | None = None) -> dict:
        """Reveal a password."""
        body = {"reason": reason} if reason else {}
        return await self._request("POST", f"/orgs/{quote(org)}/accounts/{account_id}/reveal", body)

    async def change_account_password(
        self, org: str, account_id: str, password: str | None
    ) -> None:
        """Set (or, with None, generate) an account's password."""
        body = {"password": password} if password else {"generate": True}
        await self._request("PUT", f"/orgs/{quote(org)}/accounts/{account_id}/password", body)

    async def share(self, org: str, resource_id: str, fields: dict) -> Share:
        """Share a resource."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resources/{resource_id}/shares", fields
        )

    async def account(self, org: str, account_id: str) -> Account:
        """One account's metadata (no password): username, policy, fields, access."""
        return await self._request("GET", f"/orgs/{quote(org)}/accounts/{account_id}")

    async def update_account(self, org: str, account_id: str, fields: dict) -> Account:
        """Rename an account or change its policy or additional fields; the account."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/accounts/{account_id}", fields)

    async def delete_account(self, org: str, account_id: str) -> None:
        """Delete an account (full permission)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/accounts/{account_id}")

    async def delete_resource(self, org: str, resource_id: str) -> None:
        """Delete a resource and its accounts (full permission)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/resources/{resource_id}")

    async def delete_resource_group(self, org: str, name: str) -> None:
        """Delete a resource group (its resources stay; needs ``manage_vault``)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/resource-groups/{quote(name)}")

    @staticmethod
    def _shares_path(org: str, kind: str, ref: str) -> str:
        """kind: 'account', 'resource' or 'resource_group' (``ref`` is then its name)."""
        collection = {
            "account": "accounts",
            "resource": "resources",
            "resource_group": "resource-groups",
        }[kind]
        return f"/orgs/{quote(org)}/{collection}/{quote(ref)}/shares"

    async def shares(self, org: str, kind: str, ref: str) -> list[Share]:
        """Who an account, resource or resource group (``kind``) is shared with:
        [{id, permission, user, user_org, group, created_at}]."""
        return await self._every(self._shares_path(org, kind, ref))

    async def add_share(self, org: str, kind: str, ref: str, fields: dict) -> Share:
        """Share with {user (and user_org) | group, permission}; sharing again with the same
        user or group changes its level. The share."""
        return await self._request("POST", self._shares_path(org, kind, ref), fields)

    async def share_targets(self, org: str) -> dict:
        """Who a share in ``org`` can reach: {users: [{username, full_name, confirmed}],
        groups: [{name, members, reaches_nobody}], msp_users: [{username, full_name}]}."""
        return await self._request("GET", f"/orgs/{quote(org)}/share-targets")

    async def remove_share(self, org: str, kind: str, ref: str, share_id: str) -> None:
        """Withdraw a share."""
        await self._request("DELETE", f"{self._shares_path(org, kind, ref)}/{share_id}")

    async def create_policy(self, org: str, fields: dict) -> PasswordPolicy:
        """Add a password policy {name, min_length, max_length, require_upper, require_lower,
        require_digit, require_special, max_age_days}; the policy."""
        return await self._request("POST", f"/orgs/{quote(org)}/password-policies", fields)

    async def generate_password(self, org: str, policy: str) -> str:
        """A random password satisfying the named policy."""
        answer = await self._request(
            "POST", f"/orgs/{quote(org)}/password-policies/{quote(policy)}/generate"
        )
        return answer["password"]
