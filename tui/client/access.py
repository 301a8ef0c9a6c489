"""MSP access to client orgs (grants, org access requests) and password check-out
(requests, holds, access control)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from tui.api_types import AccessControl, AccessRequest, ApiError, PasswordRequest
from tui.client.session import SessionApi
from tui.client.users import UsersApi


class AccessApi(SessionApi, UsersApi):
    """The access and check-out requests (a part of ``Client``)."""

    async def access(self, org: str) -> dict:
        """An org's current MSP grants: {"users": [...], "groups": [...]}."""
        return await self._request("GET", f"/orgs/{quote(org)}/access")

    async def eligible_approvers(self, org: str, user: str | None, group: str | None) -> list:
        """MSPOrg administrators the server would accept as approver of such a request.

        Falls back, on a server without the endpoint, to the active MSPOrg administrators
        other than me and the designee (the server still decides when the request is filed).
        """
        query = {"org": org} | ({"user": user} if user else {"group": group or ""})
        try:
            page = await self._request(
                "GET", f"/org-access-requests/eligible-approvers?{urlencode(query)}"
            )
            return page["items"]
        except ApiError as error:
            if error.status not in (400, 404, 405):
                raise
        me = (await self.me())["username"]
        return [
            u
            for u in await self.users("MSPOrg")
            if u["role"] in ("privileged_administrator", "administrator")
            and u["status"] == "active"
            and u["username"] not in (me, user)
        ]

    async def revoke_access(self, org: str, kind: str, name: str) -> None:
        """Revoke a user's or group's grant (kind: users or groups)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/access/{kind}/{quote(name)}")

    async def access_requests(self, status: str | None = None, role: str | None = None):
        """Org access requests involving me."""
        return await self._every("/org-access-requests", status=status or "", role=role or "")

    async def request_access(self, fields: dict) -> AccessRequest:
        """File an org access request."""
        return await self._request("POST", "/org-access-requests", fields)

    async def decide(self, request_id: str, action: str, body: dict) -> AccessRequest:
        """approve / reject / cancel a request."""
        return await self._request("POST", f"/org-access-requests/{request_id}/{action}", body)

    async def eligible_approvers_of(self, kind: str, names: dict[str, str]) -> list[dict]:
        """Who the server would accept as approver of a request of ``kind`` naming
        ``names`` (``org``, ``user`` and/or ``group``, as the kind needs them).

        Returns ``[{"username", "full_name"}]``; raises the refusals of filing it
        (``proposer_is_designee``, unknown names) as an ``ApiError``.
        """
        return (await self.approver_candidates_of(kind, names))["items"]

    async def approver_candidates_of(self, kind: str, names: dict[str, str]) -> dict:
        """The eligible approvers (``items``) and every MSPOrg administrator with its state
        (``candidates``: ``{"username", "full_name", "eligible", "reason"}``; absent on an
        older server) for a request of ``kind`` naming ``names``."""
        query = {"kind": kind} | {k: v for k, v in names.items() if v}
        return await self._request(
            "GET", f"/org-access-requests/eligible-approvers?{urlencode(query)}"
        )

    async def decide_password_request(
        self, org: str, request_id: str, action: str, reason: str = ""
    ) -> PasswordRequest:
        """``action`` is approve, reject, withdraw or check-in; approve and reject carry
        an optional ``reason``. Returns the request as it now stands."""
        body = {"reason": reason} if reason and action in ("approve", "reject") else {}
        return await self._request(
            "POST", f"/orgs/{quote(org)}/password-requests/{request_id}/{action}", body
        )

    async def password_holds(self, org: str) -> list[PasswordRequest]:
        """The org's open check-outs (who holds which password until when; administrators)."""
        return await self._every(f"/orgs/{quote(org)}/password-holds")

    async def request_password(self, org: str, fields: dict) -> PasswordRequest:
        """Ask to check out a controlled password: {account, reason, window_minutes}; the
        request (status 'pending')."""
        return await self._request("POST", f"/orgs/{quote(org)}/password-requests", fields)

    async def password_requests(
        self, org: str, role: str = "", status: str = ""
    ) -> list[PasswordRequest]:
        """Password requests of an org I filed (role 'requester') or may decide ('approver'),
        optionally of one status: [{id, account_id, account, status, ends_at, …}]."""
        return await self._every(f"/orgs/{quote(org)}/password-requests", role=role, status=status)

    async def check_in(self, org: str, request_id: str) -> PasswordRequest:
        """Give a checked-out password back; the request (status 'checked_in')."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/password-requests/{request_id}/check-in"
        )

    @staticmethod
    def _control_path(org: str, kind: str, ref: str) -> str:
        """kind: 'account' or 'resource'."""
        return f"/orgs/{quote(org)}/{kind}s/{quote(ref)}/access-control"

    async def access_control(self, org: str, kind: str, ref: str) -> AccessControl:
        """The access control in force on an account or resource (``kind``): {enabled,
        approvers, approver_groups, approvals_needed, max_window_minutes, exclusive,
        rotate_on_checkin, inherited_from ('resource' or None)}."""
        return await self._request("GET", self._control_path(org, kind, ref))

    async def set_access_control(self, org: str, kind: str, ref: str, body: dict) -> AccessControl:
        """Put an account or resource under access control, change it or take it off
        (full permission): ``body`` as ``access_control`` answers it; the new control —
        or, for a change that weakens it, the change request filed (it has ``weakens``)."""
        return await self._request("PUT", self._control_path(org, kind, ref), body)

    async def checkout_approvers(self, org: str, account: str) -> dict:
        """Who could approve my check-out of ``account`` (its id): ``{"approvals_needed",
        "candidates": [{"username", "full_name", "eligible", "reason"}], "empty_groups"}``."""
        return await self._request(
            "GET",
            f"/orgs/{quote(org, safe='')}/password-requests/eligible-approvers?"
            + urlencode({"account": account}),
        )
