"""Telling people (issue 31): SIEM destinations of the audit trail, the SMTP relay,
webhooks, templates, my mutes, and the deliveries."""

from __future__ import annotations

from urllib.parse import quote

from tui.client.transport import Transport


class NotifyApi(Transport):
    """The forwarding and notification requests (a part of ``Client``)."""

    async def siem_destinations(self, org: str) -> list[dict]:
        """The org's SIEM destinations with their delivery state (``sent_seq``,
        ``head_seq``, ``lag``, ``last_error``, ``failures``)."""
        return await self._every(f"/orgs/{quote(org)}/siem-destinations")

    async def create_siem_destination(self, org: str, fields: dict) -> dict:
        """Add a destination; the answer holds its ``verify_key`` (shown once)."""
        return await self._request("POST", f"/orgs/{quote(org)}/siem-destinations", fields)

    async def update_siem_destination(self, org: str, dest_id: str, fields: dict) -> dict:
        """Edit a destination (host, port, transport, format, CAs, client certificate,
        enabled); its cursor stays."""
        return await self._request(
            "PATCH", f"/orgs/{quote(org)}/siem-destinations/{dest_id}", fields
        )

    async def delete_siem_destination(self, org: str, dest_id: str) -> None:
        """Remove a destination."""
        await self._request("DELETE", f"/orgs/{quote(org)}/siem-destinations/{dest_id}")

    async def test_siem_destination(self, org: str, dest_id: str) -> dict:
        """Send a test event now: ``{delivered, error}``."""
        return await self._request("POST", f"/orgs/{quote(org)}/siem-destinations/{dest_id}/test")

    async def smtp(self, org: str) -> dict:
        """The SMTP relay (MSPOrg): ``{configured, host, port, security, ...}``."""
        return await self._request("GET", f"/orgs/{quote(org)}/notifications/smtp")

    async def put_smtp(self, org: str, fields: dict) -> dict:
        """Set the SMTP relay."""
        return await self._request("PUT", f"/orgs/{quote(org)}/notifications/smtp", fields)

    async def webhooks(self, org: str) -> list[dict]:
        """The org's webhooks."""
        return await self._every(f"/orgs/{quote(org)}/notifications/webhooks")

    async def create_webhook(self, org: str, fields: dict) -> dict:
        """Add a webhook; the answer holds its signing ``secret`` (shown once)."""
        return await self._request("POST", f"/orgs/{quote(org)}/notifications/webhooks", fields)

    async def update_webhook(self, org: str, hook_id: str, fields: dict) -> dict:
        """Edit a webhook's URL, CAs or enabled (its secret stays)."""
        return await self._request(
            "PATCH", f"/orgs/{quote(org)}/notifications/webhooks/{hook_id}", fields
        )

    async def delete_webhook(self, org: str, hook_id: str) -> None:
        """Remove a webhook."""
        await self._request("DELETE", f"/orgs/{quote(org)}/notifications/webhooks/{hook_id}")

    async def templates(self, org: str) -> list[dict]:
        """Every notification kind's template as the org uses it."""
        answer = await self._request("GET", f"/orgs/{quote(org)}/notifications/templates")
        return answer["items"]

    async def put_template(self, org: str, kind: str, value: dict | None) -> list[dict]:
        """Set one kind's ``{subject, body}`` (None: back to the default)."""
        answer = await self._request(
            "PUT", f"/orgs/{quote(org)}/notifications/templates", {"templates": {kind: value}}
        )
        return answer["items"]

    async def mutes(self) -> dict:
        """``{muted, mutable}``: the kinds I muted, the ones I may."""
        return await self._request("GET", "/me/notification-mutes")

    async def put_mutes(self, muted: list[str]) -> dict:
        """Mute exactly these kinds."""
        return await self._request("PUT", "/me/notification-mutes", {"muted": muted})

    async def deliveries(self, org: str) -> list[dict]:
        """The org's latest messages (500 at most), newest first: ``channel`` (email,
        webhook), ``recipient`` (a webhook's name), ``status`` (pending, sent, failed: given
        up after every retry), ``attempts``, ``last_error``."""
        answer = await self._request(
            "GET", f"/orgs/{quote(org)}/notifications/deliveries?limit=1000"
        )
        return answer["items"]
