"""Users and user groups inside an org."""

from __future__ import annotations

from urllib.parse import quote

from tui.api_types import Group, User
from tui.client.transport import Transport


class UsersApi(Transport):
    """The user and group requests (a part of ``Client``)."""

    async def users(self, org: str) -> list[User]:
        """An org's users."""
        return await self._every(f"/orgs/{quote(org)}/users")

    async def create_user(self, org: str, fields: dict) -> User:
        """Add a user to an org."""
        return await self._request("POST", f"/orgs/{quote(org)}/users", fields)

    async def update_user(self, org: str, username: str, fields: dict) -> User:
        """Change a user's status, role or profile."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/users/{quote(username)}", fields)

    async def groups(self, org: str) -> list[Group]:
        """An org's user groups."""
        return await self._every(f"/orgs/{quote(org)}/groups")

    async def delete_user(self, org: str, username: str, new_owner: str = "") -> dict:
        """Remove a user; ``new_owner`` receives what it owns. Answers
        ``{"transferred": {"resources", "accounts"}}`` ({} when it owned nothing);
        ``409 user_owns_resources`` when it owns something and no new owner is named."""
        query = f"?new_owner={quote(new_owner)}" if new_owner else ""
        answer = await self._request("DELETE", f"/orgs/{quote(org)}/users/{quote(username)}{query}")
        return answer or {}

    async def confirm_user(self, org: str, username: str) -> User:
        """A confirmed administrator of a client org confirms an MSP-made user; the user."""
        return await self._request("POST", f"/orgs/{quote(org)}/users/{quote(username)}/confirm")

    async def activate_user(self, org: str, username: str, current_password: str) -> dict:
        """Activate an MSPOrg administrator as an independent person: its one-time
        activation code and expiry (``POST …/users/{username}/activation``)."""
        return await self._request(
            "POST",
            f"/orgs/{quote(org, safe='')}/users/{quote(username, safe='')}/activation",
            {"current_password": current_password},
        )

    async def create_group(self, org: str, fields: dict) -> Group:
        """Create a user group from ``{"name", "description"?, "members"?,
        "default_permission"?}``; the group."""
        return await self._request("POST", f"/orgs/{quote(org)}/groups", fields)

    async def update_group(self, org: str, name: str, fields: dict) -> Group:
        """Change a group's name, description, default permission or (replace) members;
        the group."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/groups/{quote(name)}", fields)

    async def delete_group(self, org: str, name: str) -> None:
        """Delete a user group."""
        await self._request("DELETE", f"/orgs/{quote(org)}/groups/{quote(name)}")

    async def reset_user_totp(self, org: str, username: str) -> User:
        """Turn another user's two-factor authentication off (the password reset's person
        rules: ``409 dual_control_required``, ``403 outranks_you``/``client_confirms``,
        ``409 totp_not_enabled``); the user."""
        return await self._request(
            "DELETE", f"/orgs/{quote(org, safe='')}/users/{quote(username, safe='')}/totp"
        )
