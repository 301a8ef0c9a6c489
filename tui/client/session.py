"""Health, the cluster view, log in and out, and the logged-in user's own things
(password, two-factor authentication, API keys)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from tui.api_types import ApiError, ApiKey, LoginAnswer, Me, ServerState
from tui.client.transport import Transport


class SessionApi(Transport):
    """The session and self-service requests (a part of ``Client``)."""

    async def health(self) -> ServerState:
        """The node's role and whether it is read-only."""
        data = await self._request("GET", "/health")
        self.state = ServerState(
            self.base,
            data.get("role", "unknown"),
            bool(data.get("read_only")),
            bool(data.get("degraded")),
            int(data.get("term", 0)),
            data.get("initial_admin_password"),
        )
        backup = data.get("last_backup") or {}
        self.state.last_backup_at = backup.get("at")
        self.state.last_backup_failed = bool(backup.get("failure"))
        self.state.forwarding = data.get("forwarding")
        return self.state

    async def cluster(self) -> dict:
        """The cluster view (MSPOrg administrators)."""
        return await self._request("GET", "/cluster")

    async def login(
        self,
        username: str,
        password: str,
        org: str | None,
        otp: str | None = None,
        activation_code: str | None = None,
    ) -> LoginAnswer:
        """Log in; keeps the token. ``activation_code``: an account being activated as an
        independent person needs it with its temporary password (issue 27)."""
        body = {"username": username, "password": password}
        if org:
            body["org"] = org
        if otp:
            body["otp"] = otp
        if activation_code:
            body["activation_code"] = activation_code
        data = await self._request("POST", "/auth/login", body)
        self.token = data["token"]
        return data

    async def logout(self) -> None:
        """End the session."""
        if self.token:
            try:
                await self._request("POST", "/auth/logout")
            finally:
                self.token = None

    async def me(self) -> Me:
        """The logged-in user."""
        return await self._request("GET", "/me")

    async def change_password(self, current: str, new: str) -> None:
        """Change one's own password."""
        await self._request(
            "POST", "/me/password", {"current_password": current, "new_password": new}
        )

    async def begin_totp(self, current: str) -> dict[str, Any]:
        """Start TOTP enrolment."""
        return await self._request("POST", "/me/totp", {"current_password": current})

    async def confirm_totp(self, otp: str) -> dict[str, Any]:
        """Confirm TOTP enrolment: {recovery_codes: [ten one-time codes, shown once]}."""
        return await self._request("POST", "/me/totp/confirm", {"otp": otp})

    async def disable_totp(self, current_password: str, otp: str) -> None:
        """Turn my two-factor authentication off with my password and a current code
        (``400 invalid_otp``, ``422`` for a wrong password, ``409 totp_required`` when an
        administrator requires it, ``429`` after too many tries)."""
        await self._request(
            "POST", "/me/totp/disable", {"current_password": current_password, "otp": otp}
        )

    async def api_keys(self) -> list[ApiKey]:
        """My API keys: ``[{"id", "name", "ends_with", "created_at", "last_used_at",
        "expires_at", "expired"}]`` (never the keys)."""
        return await self._every("/me/api-keys")

    async def create_api_key(self, name: str, days: int | None = None) -> ApiKey:
        """Make an API key living ``days`` days (the server's default if None); answers
        ``{"id", "name", "key", "created_at", "expires_at"}`` — the key only this once."""
        body: dict = {"name": name} | ({"expires_in_days": days} if days else {})
        return await self._request("POST", "/me/api-keys", body)

    async def delete_api_key(self, key_id: str) -> None:
        """Revoke one of my API keys."""
        await self._request("DELETE", f"/me/api-keys/{quote(key_id)}")

    async def ssh_keys(self) -> list[dict[str, Any]]:
        """My SSH public keys (issue 30): ``[{"id", "name", "algorithm", "bits",
        "fingerprint", "created_at", "expires_at", "last_used_at", "expired"}]``."""
        return await self._every("/me/ssh-keys")

    async def add_ssh_key(
        self, public_key: str, name: str | None = None, days: int | None = None
    ) -> dict[str, Any]:
        """Register one of my SSH public keys (OpenSSH form); ``days``: None never expires."""
        body: dict = {"public_key": public_key}
        body |= ({"name": name} if name else {}) | ({"expires_in_days": days} if days else {})
        return await self._request("POST", "/me/ssh-keys", body)

    async def delete_ssh_key(self, key_id: str) -> None:
        """Revoke one of my SSH public keys."""
        await self._request("DELETE", f"/me/ssh-keys/{quote(key_id)}")

    async def regenerate_recovery_codes(self, current_password: str, otp: str) -> dict[str, Any]:
        """Ten new recovery codes in place of the old ones: ``{"recovery_codes": [...]}``
        (my password and a current TOTP code; ``400 invalid_otp``, ``422``, ``429``)."""
        return await self._request(
            "POST", "/me/totp/recovery-codes", {"current_password": current_password, "otp": otp}
        )

    async def acknowledge_notices(self, ids: list[str]) -> dict[str, Any]:
        """I have read these notices of ``GET /me`` (``notice_items``' ids): they stop
        showing to me. ``{"acknowledged": [...], "notices": [what remains]}``."""
        return await self._request("POST", "/me/notices/acknowledge", {"ids": ids})

    async def primary_backup(self) -> dict[str, Any] | None:
        """The last backup as the primary reports it (its health's ``last_backup``),
        asked of this TUI's other servers when the one in use is a secondary (a secondary
        keeps no backups of its own: issue 35). None when no other server answers as
        the primary."""
        if self._session is None:
            return None
        for endpoint in self.endpoints:
            if endpoint.base == self.base:
                continue
            try:
                check = await self._ssl_for(endpoint.base)
                _status, data = await self._send("GET", endpoint.base + "/api/v1/health", check, {})
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError, ApiError):
                continue
            if isinstance(data, dict) and data.get("role") == "primary":
                return data.get("last_backup") or {}
        return None
