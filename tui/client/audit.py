"""The audit trail: events, verification, settings, purge and alerts."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from tui.api_types import AuditEvent, AuditOperation, AuditSettings
from tui.client.transport import Transport


class AuditApi(Transport):
    """The audit requests (a part of ``Client``)."""

    # The catalogue of audited operations, with the session token it was read under:
    # read once per session (it only changes with the server's version).
    _audit_catalogue: tuple[str | None, list[AuditOperation]] | None = None

    async def audit_operations(self) -> list[AuditOperation]:
        """Every operation the audit trail records, by name: ``[{name, category,
        description}]`` (``GET /audit/operations``; category ``routine`` is what an org may
        stop recording). Read once per session; ``ApiError`` ``forbidden`` for a user who
        may not read the audit trail (nothing is kept then)."""
        cached = self._audit_catalogue
        if cached is not None and cached[0] == self.token:
            return cached[1]
        token = self.token
        operations: list[AuditOperation] = (await self._request("GET", "/audit/operations"))[
            "operations"
        ]
        self._audit_catalogue = (token, operations)
        return operations

    async def audit_settings(self, org: str) -> AuditSettings:
        """``{retention_days, operations: [{operation, recorded, alert, switchable}]}``."""
        return await self._request("GET", f"/orgs/{quote(org)}/audit/settings")

    async def put_audit_settings(self, org: str, fields: dict) -> AuditSettings:
        """Change ``{retention_days?: int|None, operations?: {op: {recorded?, alert?}}}``;
        the settings as ``audit_settings`` returns them."""
        return await self._request("PUT", f"/orgs/{quote(org)}/audit/settings", fields)

    async def purge_audit(self, org: str) -> dict:
        """Purge events older than the retention now: ``{purged, checkpoint_seq}``."""
        return await self._request("POST", f"/orgs/{quote(org)}/audit/purge")

    async def audit_alerts(self, org: str) -> list[AuditEvent]:
        """The newest events (at most 100) of the operations the org marked as alerts,
        newest first: ``{id, at, actor, actor_org, operation, target, outcome}``."""
        return await self._every(f"/orgs/{quote(org)}/audit/alerts")

    async def audit(self, org: str, operation: str = "", actor: str = "") -> list[AuditEvent]:
        """Recent audit events."""
        query = "&".join(
            f"{k}={quote(v)}" for k, v in (("operation", operation), ("actor", actor)) if v
        )
        return (
            await self._request(
                "GET", f"/orgs/{quote(org)}/audit?limit=200" + (f"&{query}" if query else "")
            )
        )["items"]

    async def verify_audit(self, org: str) -> dict:
        """Verify an org's chain."""
        return await self._request("GET", f"/orgs/{quote(org)}/audit/verify")

    async def audit_events(
        self, org: str, filters: dict, limit: int | None = None
    ) -> list[AuditEvent]:
        """An org's audit events, newest first, that match ``filters`` (the API's query:
        operation, actor, since, until as ISO 8601): the first ``limit``, or every one."""
        query = {k: v for k, v in filters.items() if v}
        if limit is not None:
            query["limit"] = str(limit)
            return (await self._request("GET", f"/orgs/{quote(org)}/audit?{urlencode(query)}"))[
                "items"
            ]
        return await self._every(f"/orgs/{quote(org)}/audit", **query)

    async def session_recordings(self, org: str, limit: int = 200) -> list[dict]:
        """The org's recordings of brokered SSH sessions, newest first, without content
        (administrators and auditors; issue 30)."""
        return (await self._request("GET", f"/orgs/{quote(org)}/session-recordings?limit={limit}"))[
            "items"
        ]

    async def session_recording(self, org: str, recording_id: str) -> dict:
        """One recording, decrypted: its fields and ``cast`` (asciicast v2); audited."""
        return await self._request(
            "GET", f"/orgs/{quote(org)}/session-recordings/{quote(recording_id, safe='')}"
        )
