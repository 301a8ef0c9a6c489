"""The TUI's only way to the server: a small typed client over the REST API.

It wraps an aiohttp session, pins the server's certificate (trust on first use, or
a CA bundle), follows a primary/secondary pair, and turns every failure into an
``ApiError`` with the server's stable code and one human sentence.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from tui.api_types import ApiError, Endpoint, ServerState

__all__ = ["ApiError", "Client", "Endpoint", "ServerState"]

KNOWN_HOSTS = Path(
    os.environ.get(
        "STRONGROOM_KNOWN_HOSTS", Path.home() / ".config" / "strongroom" / "known_hosts.json"
    )
)
LIST_PAGE = 1000  # the API's largest page
LIST_PAGES = 50  # a list longer than 50,000 items is shown cut
SESSION_ENDED = "session_ended"  # ApiError.code when a logged-in request answers 401
MOVE_WAIT = 20.0  # s to stay on the secondary while a session made there moves over


def reason(exc: BaseException) -> str:
    """A short human reason for a failed connection: 'connection refused', 'timed out'."""
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return "its certificate changed"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "TLS handshake failed"
    cause = getattr(exc, "os_error", None) or exc
    while not isinstance(cause, OSError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror[0].lower() + cause.strerror[1:]
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return "no answer"


def read_only_sentence(error: ApiError) -> str:
    """What a ``read_only`` refusal means to the user: nothing saved, where changes go."""
    primary = error.body.get("primary")
    where = f"the primary, {primary}" if primary else "the primary"
    return (
        f"Nothing was saved: this server is read-only ({error.detail}). "
        f"Changes go to {where}; try again when it answers."
    )


async def _peer_fingerprint(base: str) -> str:
    """SHA-256 of the certificate ``base`` presents (first contact; nothing is sent)."""
    parts = urlsplit(base)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # learning the pin: nothing secret goes over this link
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 7272, ssl=ctx), 5
        )
    except (OSError, TimeoutError) as exc:
        raise aiohttp.ClientConnectionError(reason(exc)) from exc
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return hashlib.sha256(der).hexdigest()


@dataclass
class Client:
    """REST client for one Strongroom pair (primary first, then the secondary)."""

    endpoints: list[Endpoint]
    ca_file: str | None = None
    trust_on_first_use: bool = True
    known_hosts: Path = KNOWN_HOSTS
    token: str | None = None
    state: ServerState | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)
    _active: int = 0
    _primary_back: float | None = None  # when the primary first answered again (monotonic)

    @property
    def org(self) -> str | None:
        """The org named in the first URL, if any."""
        return self.endpoints[0].org

    @property
    def base(self) -> str:
        """The server currently in use."""
        return self.endpoints[self._active].base

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _pins(self) -> dict[str, str]:
        try:
            return json.loads(self.known_hosts.read_text())
        except (OSError, ValueError):
            return {}

    async def _ssl_for(self, base: str) -> ssl.SSLContext | aiohttp.Fingerprint:
        """How to check the server at ``base`` before any credential is sent.

        With a CA bundle: ordinary verification. Otherwise the certificate's SHA-256 is
        pinned: learnt on first contact (no credentials are sent then) and required on
        every connection after, so a changed certificate is refused.
        """
        if self.ca_file:
            return ssl.create_default_context(cafile=self.ca_file)
        pins = self._pins()
        if base not in pins:
            if not self.trust_on_first_use:
                raise ApiError("untrusted_certificate", f"{base} is not a known server")
            pins[base] = await _peer_fingerprint(base)
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            self.known_hosts.write_text(json.dumps(pins, indent=2))
        return aiohttp.Fingerprint(bytes.fromhex(pins[base]))

    async def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30, connect=5)
            )
        order = [self._active] + [i for i in range(len(self.endpoints)) if i != self._active]
        last = ""
        tried: list[str] = []
        for index in order:
            base = self.endpoints[index].base
            headers = {}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            if content_type:
                headers["Content-Type"] = content_type
            try:
                check = await self._ssl_for(base)
                status, data = await self._send(
                    method,
                    base + "/api/v1" + path,
                    check,
                    headers,
                    json=body if raw is None else None,
                    data=raw,
                )
            except aiohttp.ServerFingerprintMismatch:
                raise ApiError(
                    "certificate_changed",
                    f"{base} presents a different certificate than before; "
                    "refusing to connect (see the known_hosts file)",
                ) from None
            except (aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as exc:
                last = reason(exc)
                tried.append(f"{base} ({last})")
                continue
            if index != self._active:
                self._active = index
                self.state = None
            if status >= 400:
                data = data if isinstance(data, dict) else {}
                code = data.get("code", "http_error")
                sent = headers.get("Authorization", "").removeprefix("Bearer ")
                if status == 401 and path != "/auth/login" and self.token in (None, sent):
                    # The token stopped working: logged out elsewhere, expired, the
                    # password changed, the user disabled. Nothing shown is current now.
                    # The answers to the other requests sent with it (or after it was
                    # dropped) say the same, so they take the one session-ended path too.
                    # (A late answer to a token already replaced by a new login is not.)
                    self.token = None
                    code = SESSION_ENDED
                raise ApiError(
                    code,
                    data.get("detail", f"the server answered {status}"),
                    status,
                    data,
                )
            return data
        raise ApiError("unreachable", "cannot reach " + " nor ".join(tried))

    async def _send(
        self, method: str, url: str, check: Any, headers: dict[str, str], **payload: Any
    ) -> tuple[int, Any]:
        """One HTTP exchange: (status, parsed JSON or None). A kept-alive connection that
        the server closed meanwhile (it restarted) is retried once on a fresh one, so a
        node that comes back is not taken for one that is down."""
        assert self._session is not None
        for attempt in (1, 2):
            try:
                async with self._session.request(
                    method, url, headers=headers, ssl=check, **payload
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if attempt == 2 or isinstance(exc, aiohttp.ClientConnectorError):
                    raise
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    async def prefer_primary(self) -> bool:
        """If we are on a later endpoint and the first (primary) answers as a writable
        primary again, switch back to it; True when we switched.

        A session made on the secondary moves to the primary a moment after the primary
        is back (the secondary sends it): while the primary does not know the session
        yet, and for at most ``MOVE_WAIT`` seconds, we stay where the session works.
        """
        if self._active == 0 or self._session is None:
            return False
        base = self.endpoints[0].base
        try:
            check = await self._ssl_for(base)
            _status, data = await self._send("GET", base + "/api/v1/health", check, {})
            data = data if isinstance(data, dict) else {}
            if data.get("role") != "primary" or data.get("read_only"):
                self._primary_back = None
                return False
            if self.token and not await self._session_known(base, check):
                now = asyncio.get_running_loop().time()
                self._primary_back = self._primary_back or now
                if now - self._primary_back < MOVE_WAIT:
                    return False
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, AttributeError):
            return False
        self._active = 0
        self.state = None
        self._primary_back = None
        return True

    async def _session_known(self, base: str, check: Any) -> bool:
        """True when the server at ``base`` accepts our session token."""
        status, _ = await self._send(
            "GET", base + "/api/v1/me", check, {"Authorization": f"Bearer {self.token}"}
        )
        return status != 401

    # -- resource groups ----------------------------------------------------------------

    async def _every(self, path: str, **params: str) -> list[dict]:
        """Every item of a list, following ``next_cursor`` a page of 1,000 at a time."""
        items: list[dict] = []
        query = {k: v for k, v in params.items() if v} | {"limit": str(LIST_PAGE)}
        for _ in range(LIST_PAGES):
            page = await self._request("GET", f"{path}?{urlencode(query)}")
            items += page["items"]
            if not page.get("next_cursor"):
                break
            query["cursor"] = page["next_cursor"]
        return items

    async def resource_groups(self, org: str) -> list[dict]:
        """An org's resource groups."""
        return await self._every(f"/orgs/{quote(org)}/resource-groups")

    async def save_resource_group(
        self, org: str, name: str, resources: list[str], exists: bool
    ) -> dict:
        """Create a resource group or replace its resources."""
        if exists:
            return await self._request(
                "PATCH",
                f"/orgs/{quote(org)}/resource-groups/{quote(name)}",
                {"resources": resources},
            )
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resource-groups", {"name": name, "resources": resources}
        )

    async def share_resource_group(self, org: str, name: str, fields: dict) -> dict:
        """Share a resource group."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resource-groups/{quote(name)}/shares", fields
        )

    # -- session --------------------------------------------------------------------

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
        return self.state

    async def cluster(self) -> dict:
        """The cluster view (MSPOrg administrators)."""
        return await self._request("GET", "/cluster")

    async def login(
        self, username: str, password: str, org: str | None, otp: str | None = None
    ) -> dict:
        """Log in; keeps the token."""
        body = {"username": username, "password": password}
        if org:
            body["org"] = org
        if otp:
            body["otp"] = otp
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

    async def me(self) -> dict:
        """The logged-in user."""
        return await self._request("GET", "/me")

    async def change_password(self, current: str, new: str) -> None:
        """Change one's own password."""
        await self._request(
            "POST", "/me/password", {"current_password": current, "new_password": new}
        )

    async def begin_totp(self, current: str) -> dict:
        """Start TOTP enrolment."""
        return await self._request("POST", "/me/totp", {"current_password": current})

    async def confirm_totp(self, otp: str) -> None:
        """Confirm TOTP enrolment."""
        await self._request("POST", "/me/totp/confirm", {"otp": otp})

    # -- organizations ----------------------------------------------------------------

    async def orgs(self) -> list[dict]:
        """Organizations visible to me."""
        return await self._every("/orgs")

    async def create_org(self, fields: dict) -> dict:
        """Create a client org."""
        return await self._request("POST", "/orgs", fields)

    async def delete_org(self, org: str, confirm: str) -> dict:
        """Delete a client org."""
        return await self._request("DELETE", f"/orgs/{quote(org)}?confirm={quote(confirm)}")

    async def import_orgs(self, filename: str, data: bytes) -> dict:
        """Import orgs from a CSV/TXT file's bytes."""
        return await self._request(
            "POST", f"/orgs/import?filename={quote(filename)}", raw=data, content_type="text/csv"
        )

    async def update_org(self, org: str, fields: dict) -> dict:
        """Edit a client org."""
        return await self._request("PATCH", f"/orgs/{quote(org)}", fields)

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

    async def resource_types(self, org: str) -> list[dict]:
        """An org's resource types (the built-ins and its own)."""
        return await self._every(f"/orgs/{quote(org)}/resource-types")

    async def password_policies(self, org: str) -> list[dict]:
        """An org's password policies."""
        return await self._every(f"/orgs/{quote(org)}/password-policies")

    # -- org settings (custom roles, types, field definitions, audit, replication) ------

    async def roles(self, org: str) -> list[dict]:
        """An org's roles: the five built-ins (``builtin: true``), then its custom ones
        (``{name, description, permissions, builtin, replicated}``)."""
        return await self._every(f"/orgs/{quote(org)}/roles")

    async def create_role(self, org: str, fields: dict) -> dict:
        """Add a custom role ``{name, description?, permissions: [...]}``; the role."""
        return await self._request("POST", f"/orgs/{quote(org)}/roles", fields)

    async def update_role(self, org: str, name: str, fields: dict) -> dict:
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

    async def field_definitions(self, org: str) -> list[dict]:
        """An org's additional field definitions: ``{id, applies_to, resource_type, name,
        kind, required, default, choices, replicated}``."""
        return await self._every(f"/orgs/{quote(org)}/field-definitions")

    async def create_field_definition(self, org: str, fields: dict) -> dict:
        """Define a field ``{applies_to, resource_type?, name, kind, required?, default?,
        choices?}``; the definition."""
        return await self._request("POST", f"/orgs/{quote(org)}/field-definitions", fields)

    async def delete_field_definition(self, org: str, definition_id: str) -> None:
        """Remove a field definition by its id."""
        await self._request("DELETE", f"/orgs/{quote(org)}/field-definitions/{definition_id}")

    async def audit_settings(self, org: str) -> dict:
        """``{retention_days, operations: [{operation, recorded, alert, switchable}]}``."""
        return await self._request("GET", f"/orgs/{quote(org)}/audit/settings")

    async def put_audit_settings(self, org: str, fields: dict) -> dict:
        """Change ``{retention_days?: int|None, operations?: {op: {recorded?, alert?}}}``;
        the settings as ``audit_settings`` returns them."""
        return await self._request("PUT", f"/orgs/{quote(org)}/audit/settings", fields)

    async def purge_audit(self, org: str) -> dict:
        """Purge events older than the retention now: ``{purged, checkpoint_seq}``."""
        return await self._request("POST", f"/orgs/{quote(org)}/audit/purge")

    async def audit_alerts(self, org: str) -> list[dict]:
        """The newest events (at most 100) of the operations the org marked as alerts,
        newest first: ``{id, at, actor, actor_org, operation, target, outcome}``."""
        return await self._every(f"/orgs/{quote(org)}/audit/alerts")

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

    async def revoke_access(self, org: str, kind: str, name: str) -> None:
        """Revoke a user's or group's grant (kind: users or groups)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/access/{kind}/{quote(name)}")

    async def update_resource(self, org: str, resource_id: str, fields: dict) -> dict:
        """Edit a resource."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/resources/{resource_id}", fields)

    async def org_report(self, org: str) -> dict:
        """The org report."""
        return await self._request("GET", f"/orgs/{quote(org)}/report")

    async def access_requests(self, status: str | None = None, role: str | None = None):
        """Org access requests involving me."""
        return await self._every("/org-access-requests", status=status or "", role=role or "")

    async def request_access(self, fields: dict) -> dict:
        """File an org access request."""
        return await self._request("POST", "/org-access-requests", fields)

    async def decide(self, request_id: str, action: str, body: dict) -> dict:
        """approve / reject / cancel a request."""
        return await self._request("POST", f"/org-access-requests/{request_id}/{action}", body)

    async def eligible_approvers_of(self, kind: str, names: dict[str, str]) -> list[dict]:
        """Who the server would accept as approver of a request of ``kind`` naming
        ``names`` (``org``, ``user`` and/or ``group``, as the kind needs them).

        Returns ``[{"username", "full_name"}]``; raises the refusals of filing it
        (``proposer_is_designee``, unknown names) as an ``ApiError``.
        """
        query = {"kind": kind} | {k: v for k, v in names.items() if v}
        page = await self._request(
            "GET", f"/org-access-requests/eligible-approvers?{urlencode(query)}"
        )
        return page["items"]

    async def decide_password_request(
        self, org: str, request_id: str, action: str, reason: str = ""
    ) -> dict:
        """``action`` is approve, reject, withdraw or check-in; approve and reject carry
        an optional ``reason``. Returns the request as it now stands."""
        body = {"reason": reason} if reason and action in ("approve", "reject") else {}
        return await self._request(
            "POST", f"/orgs/{quote(org)}/password-requests/{request_id}/{action}", body
        )

    async def password_holds(self, org: str) -> list[dict]:
        """The org's open check-outs (who holds which password until when; administrators)."""
        return await self._every(f"/orgs/{quote(org)}/password-holds")

    async def users(self, org: str) -> list[dict]:
        """An org's users."""
        return await self._every(f"/orgs/{quote(org)}/users")

    async def create_user(self, org: str, fields: dict) -> dict:
        """Add a user to an org."""
        return await self._request("POST", f"/orgs/{quote(org)}/users", fields)

    async def update_user(self, org: str, username: str, fields: dict) -> dict:
        """Change a user's status, role or profile."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/users/{quote(username)}", fields)

    async def groups(self, org: str) -> list[dict]:
        """An org's user groups."""
        return await self._every(f"/orgs/{quote(org)}/groups")

    async def delete_user(self, org: str, username: str, new_owner: str = "") -> dict:
        """Remove a user; ``new_owner`` receives what it owns. Answers
        ``{"transferred": {"resources", "accounts"}}`` ({} when it owned nothing);
        ``409 user_owns_resources`` when it owns something and no new owner is named."""
        query = f"?new_owner={quote(new_owner)}" if new_owner else ""
        answer = await self._request("DELETE", f"/orgs/{quote(org)}/users/{quote(username)}{query}")
        return answer or {}

    async def confirm_user(self, org: str, username: str) -> dict:
        """A confirmed administrator of a client org confirms an MSP-made user; the user."""
        return await self._request("POST", f"/orgs/{quote(org)}/users/{quote(username)}/confirm")

    async def create_group(self, org: str, fields: dict) -> dict:
        """Create a user group from ``{"name", "description"?, "members"?,
        "default_permission"?}``; the group."""
        return await self._request("POST", f"/orgs/{quote(org)}/groups", fields)

    async def update_group(self, org: str, name: str, fields: dict) -> dict:
        """Change a group's name, description, default permission or (replace) members;
        the group."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/groups/{quote(name)}", fields)

    async def delete_group(self, org: str, name: str) -> None:
        """Delete a user group."""
        await self._request("DELETE", f"/orgs/{quote(org)}/groups/{quote(name)}")

    async def disable_totp(self, current_password: str, otp: str) -> None:
        """Turn my two-factor authentication off with my password and a current code
        (``400 invalid_otp``, ``422`` for a wrong password, ``409 totp_required`` when an
        administrator requires it, ``429`` after too many tries)."""
        await self._request(
            "POST", "/me/totp/disable", {"current_password": current_password, "otp": otp}
        )

    async def api_keys(self) -> list[dict]:
        """My API keys: ``[{"id", "name", "ends_with", "created_at", "last_used_at",
        "expires_at", "expired"}]`` (never the keys)."""
        return await self._every("/me/api-keys")

    async def create_api_key(self, name: str, days: int | None = None) -> dict:
        """Make an API key living ``days`` days (the server's default if None); answers
        ``{"id", "name", "key", "created_at", "expires_at"}`` — the key only this once."""
        body: dict = {"name": name} | ({"expires_in_days": days} if days else {})
        return await self._request("POST", "/me/api-keys", body)

    async def delete_api_key(self, key_id: str) -> None:
        """Revoke one of my API keys."""
        await self._request("DELETE", f"/me/api-keys/{quote(key_id)}")

    # -- vault ------------------------------------------------------------------------

    async def resources(self, org: str, q: str = "") -> list[dict]:
        """Resources I may see in an org."""
        return await self._every(f"/orgs/{quote(org)}/resources", q=q)

    async def resource(self, org: str, resource_id: str) -> dict:
        """One resource with its accounts."""
        return await self._request("GET", f"/orgs/{quote(org)}/resources/{resource_id}")

    async def create_resource(self, org: str, fields: dict) -> dict:
        """Add a resource."""
        return await self._request("POST", f"/orgs/{quote(org)}/resources", fields)

    async def create_account(self, org: str, resource_id: str, fields: dict) -> dict:
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

    async def share(self, org: str, resource_id: str, fields: dict) -> dict:
        """Share a resource."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/resources/{resource_id}/shares", fields
        )

    # -- vault: accounts, additional fields, shares, policies, check-out -----------------

    async def account(self, org: str, account_id: str) -> dict:
        """One account's metadata (no password): username, policy, fields, access."""
        return await self._request("GET", f"/orgs/{quote(org)}/accounts/{account_id}")

    async def update_account(self, org: str, account_id: str, fields: dict) -> dict:
        """Rename an account or change its policy or additional fields; the account."""
        return await self._request("PATCH", f"/orgs/{quote(org)}/accounts/{account_id}", fields)

    async def delete_account(self, org: str, account_id: str) -> None:
        """Delete an account (full permission)."""
        await self._request("DELETE", f"/orgs/{quote(org)}/accounts/{account_id}")

    @staticmethod
    def _shares_path(org: str, kind: str, ref: str) -> str:
        """kind: 'account', 'resource' or 'resource_group' (``ref`` is then its name)."""
        collection = {
            "account": "accounts",
            "resource": "resources",
            "resource_group": "resource-groups",
        }[kind]
        return f"/orgs/{quote(org)}/{collection}/{quote(ref)}/shares"

    async def shares(self, org: str, kind: str, ref: str) -> list[dict]:
        """Who an account, resource or resource group (``kind``) is shared with:
        [{id, permission, user, user_org, group, created_at}]."""
        return await self._every(self._shares_path(org, kind, ref))

    async def add_share(self, org: str, kind: str, ref: str, fields: dict) -> dict:
        """Share with {user (and user_org) | group, permission}; sharing again with the same
        user or group changes its level. The share."""
        return await self._request("POST", self._shares_path(org, kind, ref), fields)

    async def remove_share(self, org: str, kind: str, ref: str, share_id: str) -> None:
        """Withdraw a share."""
        await self._request("DELETE", f"{self._shares_path(org, kind, ref)}/{share_id}")

    async def create_policy(self, org: str, fields: dict) -> dict:
        """Add a password policy {name, min_length, max_length, require_upper, require_lower,
        require_digit, require_special, max_age_days}; the policy."""
        return await self._request("POST", f"/orgs/{quote(org)}/password-policies", fields)

    async def generate_password(self, org: str, policy: str) -> str:
        """A random password satisfying the named policy."""
        answer = await self._request(
            "POST", f"/orgs/{quote(org)}/password-policies/{quote(policy)}/generate"
        )
        return answer["password"]

    async def request_password(self, org: str, fields: dict) -> dict:
        """Ask to check out a controlled password: {account, reason, window_minutes}; the
        request (status 'pending')."""
        return await self._request("POST", f"/orgs/{quote(org)}/password-requests", fields)

    async def password_requests(self, org: str, role: str = "", status: str = "") -> list[dict]:
        """Password requests of an org I filed (role 'requester') or may decide ('approver'),
        optionally of one status: [{id, account_id, account, status, ends_at, …}]."""
        return await self._every(f"/orgs/{quote(org)}/password-requests", role=role, status=status)

    async def check_in(self, org: str, request_id: str) -> dict:
        """Give a checked-out password back; the request (status 'checked_in')."""
        return await self._request(
            "POST", f"/orgs/{quote(org)}/password-requests/{request_id}/check-in"
        )

    @staticmethod
    def _control_path(org: str, kind: str, ref: str) -> str:
        """kind: 'account' or 'resource'."""
        return f"/orgs/{quote(org)}/{kind}s/{quote(ref)}/access-control"

    async def access_control(self, org: str, kind: str, ref: str) -> dict:
        """The access control in force on an account or resource (``kind``): {enabled,
        approvers, approver_groups, approvals_needed, max_window_minutes, exclusive,
        rotate_on_checkin, inherited_from ('resource' or None)}."""
        return await self._request("GET", self._control_path(org, kind, ref))

    async def set_access_control(self, org: str, kind: str, ref: str, body: dict) -> dict:
        """Put an account or resource under access control, change it or take it off
        (full permission): ``body`` as ``access_control`` answers it; the new control."""
        return await self._request("PUT", self._control_path(org, kind, ref), body)

    # -- audit ------------------------------------------------------------------------

    async def audit(self, org: str, operation: str = "", actor: str = "") -> list[dict]:
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

    async def audit_events(self, org: str, filters: dict, limit: int | None = None) -> list[dict]:
        """An org's audit events, newest first, that match ``filters`` (the API's query:
        operation, actor, since, until as ISO 8601): the first ``limit``, or every one."""
        query = {k: v for k, v in filters.items() if v}
        if limit is not None:
            query["limit"] = str(limit)
            return (await self._request("GET", f"/orgs/{quote(org)}/audit?{urlencode(query)}"))[
                "items"
            ]
        return await self._every(f"/orgs/{quote(org)}/audit", **query)
