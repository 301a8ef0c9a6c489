"""Directory login (issue 32): an org's users authenticate against the org's own LDAP
directory or Active Directory, are created from it and follow it.

- Configuration (``get_config``, ``put_config``, ``delete_config``): per org, by its
  administrators. The URL is ``ldaps://`` or ``ldap://`` with StartTLS (plain LDAP is
  refused), the server certificate is checked against the CA the administrator gives,
  the service account's bind password is sealed with the org's data key and never
  answered nor audited. MSPOrg's configuration, and any change of it, waits as *pending*
  until a second MSPOrg administrator approves a ``directory_config`` org access request
  (``org_access``; dual control: whoever controls these settings could point them at a
  directory it owns). The request names the pending revision, so a configuration changed
  after filing is not what gets approved (``apply_approved``).
- Login (``check_login``, called by ``auth.login``): the server looks the user up with
  the service account (the name escaped per RFC 4515) and binds as the entry with the
  password given; no password is stored. 2FA, lockout and throttling are the local
  login's. An unreachable directory refuses directory users with ``503
  directory_unavailable``; local users still log in with their own password (a wrong one
  gets the same 503). Every login of the org asks the directory alike, so that neither the
  answer nor its time tells local users, directory users and unknown names apart.
- Provisioning and sync (``sync``, ``sync_due``): a directory user is created at its first
  login or by a sync, with its name, e-mail and role from the first mapped group it is in
  (``group_roles`` in order; ``default_role`` for none, or no access when that is null).
  A user no longer found by the filter, disabled in Active Directory
  (userAccountControl bit 2) or in no mapped group is disabled here and its sessions and
  API keys end; one that comes back is enabled again (only if the sync disabled it).
  A local user of the same name is never taken over (skipped, said in the answer).
- Persons: a directory user's password was set by no administrator here, so it is its own
  person (``dual_control.directory_provenance``) and nobody sets its password here
  (``dual_control.refuse_password_of_directory_user``).
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from server.core import permissions
from server.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    coded,
    field_error,
)
from server.security import tls
from server.services import directory_ldap as ldap
from server.services import dual_control, recording, users
from server.services.access import OrgArg, OrgRef, acting_org, org_ref
from server.services.context import Actor, Env
from server.services.directory_ldap import (
    DirectoryRefused,
    DirectoryUnavailable,
    Endpoint,
    Entry,
    ca_problem,
    endpoint_problem,
    escape_filter_value,
)
from server.store import db
from server.store.audit import Who

REQUEST_KIND = "directory_config"  # the org access request that activates MSPOrg's config
NO_PASSWORD = "!directory"  # noqa: S105 - users.password_hash of a directory user: no password matches
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_AD_DISABLED = 2  # userAccountControl: ACCOUNTDISABLE
_COLUMNS = (
    "id, org_id, state, revision, url, start_tls, ca_pem, bind_dn, bind_password, "
    "search_base, user_filter, username_attribute, group_roles, default_role, sync_minutes, "
    "configured_by, configured_by_confirmed, updated_at, last_sync_at"
)


def unavailable(why: str) -> ServiceUnavailable:
    """The 503 a directory user gets when its directory cannot be used."""
    return coded(
        ServiceUnavailable,
        "directory_unavailable",
        f"the organization's directory cannot be used ({why}); directory users cannot log "
        "in now (local users can)",
    )


@dataclass
class Config:
    """One stored configuration (active or pending), the bind password unsealed."""

    row: asyncpg.Record
    bind_password: str

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.row["url"], self.row["start_tls"], self.row["ca_pem"])

    @property
    def group_roles(self) -> list[dict[str, str]]:
        value = self.row["group_roles"]
        return list(json.loads(value) if isinstance(value, str) else value)

    def role_of(self, entry: Entry) -> str | None:
        """The role ``entry``'s groups give (first mapping wins), else default_role."""
        groups = {g.lower() for g in entry.all("memberOf")}
        for mapping in self.group_roles:
            if mapping["group"].lower() in groups:
                return mapping["role"]
        role: str | None = self.row["default_role"]
        return role

    def user_filter(self, username: str | None = None) -> str:
        """The configured filter, narrowed to one user name (escaped) when given."""
        base: str = self.row["user_filter"]
        if not base.startswith("("):
            base = f"({base})"
        if username is None:
            return base
        attr = self.row["username_attribute"]
        return f"(&{base}({attr}={escape_filter_value(username)}))"

    @property
    def attributes(self) -> list[str]:
        return [
            self.row["username_attribute"],
            "cn",
            "displayName",
            "mail",
            "memberOf",
            "userAccountControl",
        ]


def config_json(row: asyncpg.Record | None) -> dict[str, Any] | None:
    """A configuration as the API shows it: never the bind password (only that one is set)."""
    if row is None:
        return None
    roles = row["group_roles"]
    return {
        "url": row["url"],
        "start_tls": row["start_tls"],
        "ca_certificate": row["ca_pem"],
        "bind_dn": row["bind_dn"],
        "bind_password_set": True,
        "search_base": row["search_base"],
        "user_filter": row["user_filter"],
        "username_attribute": row["username_attribute"],
        "group_roles": json.loads(roles) if isinstance(roles, str) else roles,
        "default_role": row["default_role"],
        "sync_minutes": row["sync_minutes"],
        "revision": str(row["revision"]),
        "configured_by": row["configured_by"],
        "updated_at": row["updated_at"].isoformat(),
        "last_sync_at": row["last_sync_at"].isoformat() if row["last_sync_at"] else None,
    }


def _summary(row: asyncpg.Record) -> str:
    """What a directory_config request approves (its subject): the pending revision and
    the whole configuration the approver decides on (issue 32; attacker finding: an
    approver must see e.g. that every entry becomes an administrator) — never the bind
    password. ``apply_approved`` refuses when any of it differs at approval."""
    roles = row["group_roles"]
    return json.dumps(
        {
            "revision": str(row["revision"]),
            "url": row["url"],
            "start_tls": row["start_tls"],
            "ca_sha256": tls.pem_fingerprints(row["ca_pem"]),
            "bind_dn": row["bind_dn"],
            "search_base": row["search_base"],
            "user_filter": row["user_filter"],
            "username_attribute": row["username_attribute"],
            "group_roles": json.loads(roles) if isinstance(roles, str) else roles,
            "default_role": row["default_role"],
            "sync_minutes": row["sync_minutes"],
        },
        sort_keys=True,
    )


def _require_admin(actor: Actor) -> None:
    if not permissions.is_administrator(actor):
        raise Forbidden("only administrators configure the org's directory")


async def _row(conn: asyncpg.Connection, org_id: uuid.UUID, state: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM org_directories WHERE org_id = $1 AND state = $2",
        org_id,
        state,
    )


async def _unseal(env: Env, conn: asyncpg.Connection, row: asyncpg.Record) -> Config:
    password = await env.ring.decrypt(
        conn, row["org_id"], "org_directories", row["id"], "bind_password", row["bind_password"]
    )
    return Config(row, password)


async def get_config(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """``GET /orgs/{org}/directory``: ``{"active": config|null, "pending": config|null}``
    (administrators of the org; the bind password is never answered)."""
    _require_admin(actor)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await acting_org(conn, actor, org_name)
        await db.set_org(conn, org.id)
        active = await _row(conn, org.id, "active")
        pending = await _row(conn, org.id, "pending")
    return {
        "org": org.display_name,
        "active": config_json(active),
        "pending": config_json(pending),
        "approval_required": org.is_msp,
    }


async def _validate(
    conn: db.Tx, actor: Actor, org: OrgRef, data: dict[str, Any], previous: asyncpg.Record | None
) -> None:
    problem = endpoint_problem(data["url"], bool(data.get("start_tls")))
    if problem:
        raise field_error("url", problem, code="directory_insecure")
    problem = ca_problem(data["ca_certificate"])
    if problem:
        raise field_error("ca_certificate", problem)
    if not data.get("bind_password") and previous is None:
        raise field_error("bind_password", "give the service account's password")
    if (
        not data.get("bind_password")
        and previous is not None
        and (previous["url"] != data["url"] or previous["ca_pem"] != data["ca_certificate"])
    ):
        # The stored password is never sent to another server, nor over a connection
        # another CA vouches for: whoever changes where it goes must know it.
        raise field_error(
            "bind_password",
            "give the service account's password again: the URL or the CA changed",
            code="bind_password_required",
        )
    roles = [m["role"] for m in data.get("group_roles", [])]
    if data.get("default_role"):
        roles.append(data["default_role"])
    for role in roles:
        await users._check_role_assignable(conn, actor, org, role)


async def put_config(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """``PUT /orgs/{org}/directory``: set the org's directory configuration.

    ``bind_password`` may be left out to keep the one stored (of the pending, else the
    active configuration). For MSPOrg the configuration becomes *pending* (answered with
    ``pending`` set and True for "waits for approval"): it takes effect only when a
    ``directory_config`` org access request is approved (issue 32, item 1; dual control).

    Returns:
        (``get_config``'s answer, whether it waits for approval)
    Raises:
        Forbidden (not an administrator; a role the actor may not give), ValidationFailed
        (``directory_insecure`` for plain LDAP, a bad CA, unknown roles).
    """
    _require_admin(actor)
    data = dict(data, default_role=data.get("default_role") or None)  # "" means none
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        await db.set_org(conn, org.id)
        state = "pending" if org.is_msp else "active"
        previous = await _row(conn, org.id, state) or await _row(conn, org.id, "active")
        await _validate(conn, actor, org, data, previous)
        if data.get("bind_password"):
            password = data["bind_password"]
        else:
            assert previous is not None  # _validate refuses otherwise
            password = (await _unseal(env, conn, previous)).bind_password
        confirmed = org.is_msp or await conn.fetchval(
            "SELECT client_confirmed FROM users WHERE id = $1", actor.user_id
        )
        row_id = uuid.uuid4()
        sealed = await env.ring.encrypt(
            conn, org.id, "org_directories", row_id, "bind_password", password
        )
        await conn.execute(
            "DELETE FROM org_directories WHERE org_id = $1 AND state = $2", org.id, state
        )
        row = await conn.fetchrow(
            "INSERT INTO org_directories (id, org_id, state, url, start_tls, ca_pem, bind_dn, "
            "bind_password, search_base, user_filter, username_attribute, group_roles, "
            "default_role, sync_minutes, configured_by, configured_by_id, "
            "configured_by_confirmed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
            f"$12::jsonb, $13, $14, $15, $16, $17) RETURNING {_COLUMNS}",
            row_id,
            org.id,
            state,
            data["url"],
            bool(data.get("start_tls")),
            data["ca_certificate"],
            data["bind_dn"],
            sealed,
            data["search_base"],
            data.get("user_filter") or "(objectClass=inetOrgPerson)",
            data.get("username_attribute") or "uid",
            json.dumps(data.get("group_roles", [])),
            data.get("default_role"),
            data.get("sync_minutes", 60),
            f"{actor.username}@{actor.org}",
            actor.user_id,
            bool(confirmed) and actor.org_id == org.id,
        )
        details = json.loads(_summary(row)) | {
            "state": state,
            "group_roles": data.get("group_roles", []),
            "default_role": data.get("default_role"),
            "service_account_changed": bool(data.get("bind_password")),
        }
        await recording.writer(conn, env, org.id, actor.who).record(
            "directory_configured", target_type="org", target=org.display_name, details=details
        )
    answer = await get_config(env, actor, org_name)
    return answer, org.is_msp


async def delete_config(env: Env, actor: Actor, org_name: OrgArg) -> None:
    """``DELETE /orgs/{org}/directory``: remove the org's directory (active and pending).
    Its directory users stay, disabled for login until a directory is configured again
    (they have no password here). Removing takes no access from anyone but directory
    users, so it needs no second person."""
    _require_admin(actor)
    async with db.transaction(env.pool) as conn:
        org = await acting_org(conn, actor, org_name)
        await db.set_org(conn, org.id)
        gone = await conn.execute("DELETE FROM org_directories WHERE org_id = $1", org.id)
        if gone == "DELETE 0":
            raise NotFound(f"{org.display_name} has no directory configured")
        await recording.writer(conn, env, org.id, actor.who).record(
            "directory_configured",
            target_type="org",
            target=org.display_name,
            details={"state": "removed"},
        )


async def _config_for(
    env: Env, actor: Actor, org_name: OrgArg, which: str | None
) -> tuple[OrgRef, Config]:
    _require_admin(actor)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await acting_org(conn, actor, org_name)
        await db.set_org(conn, org.id)
        row = None
        if which in (None, "pending"):
            row = await _row(conn, org.id, "pending")
        if row is None and which in (None, "active"):
            row = await _row(conn, org.id, "active")
        if row is None:
            raise coded(
                NotFound, "directory_not_configured", f"{org.display_name} has no directory"
            )
        return org, await _unseal(env, conn, row)


async def test_connection(
    env: Env, actor: Actor, org_name: OrgArg, which: str | None = None
) -> dict[str, Any]:
    """``POST /orgs/{org}/directory/test``: connect with the pending configuration (else the
    active one, or the one ``which`` names), bind as the service account and search.

    Returns:
        ``{"ok", "configuration": active|pending, "problem": sentence|null, "users_found",
        "sample": [up to 5 user names], "groups": [{"group", "role", "members"}],
        "without_role"}``: what it found. A failure is an answer (ok false), not an error.
    """
    _org, config = await _config_for(env, actor, org_name, which)
    answer: dict[str, Any] = {
        "ok": False,
        "configuration": config.row["state"],
        "problem": None,
        "users_found": 0,
        "sample": [],
        "groups": [],
        "without_role": 0,
    }
    try:
        entries = await ldap.search(
            config.endpoint,
            config.row["bind_dn"],
            config.bind_password,
            config.row["search_base"],
            config.user_filter(),
            config.attributes,
        )
    except (DirectoryUnavailable, DirectoryRefused) as exc:
        answer["problem"] = str(exc)
        return answer
    attr = config.row["username_attribute"]
    names = sorted(e.first(attr) for e in entries if e.first(attr))
    answer.update(ok=True, users_found=len(entries), sample=names[:5])
    for mapping in config.group_roles:
        members = sum(
            1 for e in entries if mapping["group"].lower() in {g.lower() for g in e.all("memberOf")}
        )
        answer["groups"].append({**mapping, "members": members})
    answer["without_role"] = sum(1 for e in entries if config.role_of(e) is None)
    return answer


# -- login -------------------------------------------------------------------------------


@dataclass
class LoginCheck:
    """What the directory says of a login: the password bound, and the user here."""

    ok: bool
    user_id: uuid.UUID | None = None
    # A local user of an org with a directory: its password is checked here (the
    # directory was asked all the same, its answer unused); ``unavailable``: the
    # directory's 503, which a wrong password then gets, as every other name does.
    local: bool = False
    unavailable: ServiceUnavailable | None = None


NO_ENTRY = "strongroom-no-entry-" + secrets.token_hex(8)  # the cn no directory entry has


async def check_login(
    env: Env,
    org: asyncpg.Record,
    user_id: uuid.UUID | None,
    username: str,
    password: str,
    ip: str,
) -> LoginCheck | None:
    """The directory's part of ``auth.login``: None when the login is not the directory's
    (a local user, or no user and no directory), else whether the password bound.

    A directory user (or an unknown name in an org with an active directory) is looked up
    with the service account (``username`` escaped per RFC 4515, so ``*)(uid=*`` matches
    nothing), the server binds as its entry with ``password`` (no password is stored) and
    the user is created or brought up to date here (name, e-mail, role; disabled when it
    has no role). A name the directory does not have is bound all the same, as an entry
    that cannot exist (``NO_ENTRY``), so it takes the directory as long to refuse as a
    wrong password. Issue 32, item 2; OWASP LDAP Injection Prevention Cheat Sheet; OWASP
    Authentication Cheat Sheet ("Authentication Responses": no telling names apart).

    Raises:
        ServiceUnavailable ``directory_unavailable`` when the directory cannot be reached,
        its certificate is not trusted or it refuses the service account.
    """
    async with db.transaction(env.pool, org["id"]) as conn:
        dn = None
        if user_id is not None:
            dn = await conn.fetchval("SELECT directory_dn FROM users WHERE id = $1", user_id)
        local = user_id is not None and dn is None
        row = await _row(conn, org["id"], "active")
        if row is None:
            return None if user_id is None or local else LoginCheck(False, user_id)
        config = await _unseal(env, conn, row)
    if local:
        return LoginCheck(
            False, user_id, local=True, unavailable=await _ask_for_nothing(config, row, username)
        )
    if not _USERNAME.match(username):
        return LoginCheck(False, user_id)
    try:
        entries = await _search_user(config, row, username)
        entry = entries[0] if len(entries) == 1 else None
        if entry is None or (dn is not None and dn.lower() != entry.dn.lower()):
            # No such name (or another entry took it: a sync decides). Bind all the same,
            # as an entry that cannot exist, so that the answer takes as long as for a
            # name that exists and a wrong password (OWASP Authentication Cheat Sheet).
            await ldap.bind(config.endpoint, f"cn={NO_ENTRY},{row['search_base']}", password)
            return LoginCheck(False, user_id)
        if not await ldap.bind(config.endpoint, entry.dn, password):
            return LoginCheck(False, user_id)
    except (DirectoryUnavailable, DirectoryRefused) as exc:
        raise unavailable(str(exc)) from exc
    if not env.node_state.records_in_database():
        # A node that cannot write lets in only a directory user that exists, active, as
        # the primary last saw it (it creates and updates nobody).
        async with db.transaction(env.pool, org["id"], readonly=True) as conn:
            known = await conn.fetchval(
                "SELECT id FROM users WHERE org_id = $1 AND lower(directory_dn) = lower($2)",
                org["id"],
                entry.dn,
            )
        return LoginCheck(known is not None, known)
    who = Who(username[:64], org["display_name"], ip)
    async with db.transaction(env.pool, org["id"]) as conn:
        await _serialise(conn, row["id"])
        found = await _apply_entry(env, conn, org["id"], config, entry, _Outcome(), who)
    return LoginCheck(True, found)


async def _ask_for_nothing(
    config: Config, row: asyncpg.Record, username: str
) -> ServiceUnavailable | None:
    """For a local user of an org with a directory: the same search and a bind (as an
    entry that cannot exist) as for a directory user, their answers unused, so that the
    time of the answer does not single local names out (attack pass, session 12). The
    directory's 503 when it cannot be used, else None."""
    try:
        if _USERNAME.match(username):
            await _search_user(config, row, username)
        await ldap.bind(config.endpoint, f"cn={NO_ENTRY},{row['search_base']}", NO_ENTRY)
    except (DirectoryUnavailable, DirectoryRefused) as exc:
        return unavailable(str(exc))
    return None


async def _search_user(config: Config, row: asyncpg.Record, username: str) -> list[Entry]:
    """The directory's entries for ``username`` (escaped per RFC 4515), found with the
    service account under the org's search base."""
    return await ldap.search(
        config.endpoint,
        row["bind_dn"],
        config.bind_password,
        row["search_base"],
        config.user_filter(username),
        config.attributes,
    )


async def _serialise(conn: db.Tx, directory_id: uuid.UUID) -> None:
    """Take the org's directory row for this transaction: syncs and first logins that
    create or update its users take turns (two cannot both create one user)."""
    await conn.execute("SELECT id FROM org_directories WHERE id = $1 FOR UPDATE", directory_id)


# -- provisioning and sync ---------------------------------------------------------------


@dataclass
class _Outcome:
    created: list[str]
    updated: list[dict[str, Any]]
    disabled: list[str]
    enabled: list[str]
    skipped: list[dict[str, str]]
    unchanged: int

    def __init__(self) -> None:
        self.created, self.updated, self.disabled, self.enabled, self.skipped = [], [], [], [], []
        self.unchanged = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "disabled": self.disabled,
            "enabled": self.enabled,
            "skipped": self.skipped,
            "unchanged": self.unchanged,
        }


async def _hold_back(
    conn: db.Tx,
    org_id: uuid.UUID,
    current: asyncpg.Record,
    changes: dict[str, Any],
    outcome: _Outcome,
) -> None:
    """Drop the changes a sync may not make, saying why under ``skipped``: a role with more
    authority for an MSPOrg user who reaches a client org (approvers approved it as it was:
    ``dual_control.refuse_raise_of_reaching_user``, the one home of that rule), and a new
    user name another user of the org has."""
    if "role" in changes:
        try:
            await dual_control.refuse_raise_of_reaching_user(
                conn, org_id, current["role"], changes["role"], user_id=current["id"]
            )
        except Conflict as refusal:
            del changes["role"]
            outcome.skipped.append({"username": current["username"], "reason": str(refusal)})
    if "username" in changes and await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND lower(username) = "
        "lower($2) AND id <> $3)",
        org_id,
        changes["username"],
        current["id"],
    ):
        outcome.skipped.append(
            {"username": current["username"], "reason": f"{changes['username']} is taken here"}
        )
        del changes["username"]


def _disabled_in_directory(entry: Entry) -> bool:
    flags = entry.first("userAccountControl")
    return flags.isdigit() and bool(int(flags) & _AD_DISABLED)


async def _end_access(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM api_keys WHERE user_id = $1", user_id)


async def _apply_entry(
    env: Env,
    conn: db.Tx,
    org_id: uuid.UUID,
    config: Config,
    entry: Entry,
    outcome: _Outcome,
    who: Who,
) -> uuid.UUID | None:
    """Create or update the user of one directory entry (in the org's RLS context);
    its id, or None when it was skipped."""
    username = entry.first(config.row["username_attribute"])
    if not _USERNAME.match(username):
        outcome.skipped.append({"username": username[:64], "reason": "not a valid user name"})
        return None
    role = config.role_of(entry)
    active = role is not None and not _disabled_in_directory(entry)
    full_name = (entry.first("displayName") or entry.first("cn"))[:200]
    email = entry.first("mail")[:254]
    current = await conn.fetchrow(
        "SELECT id, username, directory_dn, role, status, full_name, email, "
        "directory_disabled FROM users WHERE org_id = $1 AND (lower(directory_dn) = lower($2) "
        "OR lower(username) = lower($3)) ORDER BY directory_dn IS NULL LIMIT 1 FOR UPDATE",
        org_id,
        entry.dn,
        username,
    )
    writer = recording.writer(conn, env, org_id, who)
    if current is not None and current["directory_dn"] is None:
        outcome.skipped.append({"username": username, "reason": "a local user has this name"})
        return None
    if current is None:
        if not active:
            return None  # nobody to create: no role here, or disabled there
        made = dual_control.directory_provenance(config.row["configured_by_confirmed"])
        user_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO users (org_id, username, full_name, email, role, password_hash, "
            "must_change_password, directory_dn, principal_id, client_confirmed, "
            "credential_chain) VALUES ($1, $2, $3, $4, $5, $6, false, $7, $8, $9, $10) "
            "RETURNING id",
            org_id,
            username,
            full_name,
            email,
            role,
            NO_PASSWORD,
            entry.dn,
            made.principal_id,
            made.client_confirmed,
            made.credential_chain,
        )
        outcome.created.append(username)
        await writer.record(
            "user_created",
            target_type="user",
            target=username,
            details={"role": role, "directory": True, "independent": True},
        )
        return user_id
    changes: dict[str, Any] = {}
    if current["role"] != role and role is not None:
        changes["role"] = role
    if current["full_name"] != full_name:
        changes["full_name"] = full_name
    if current["email"] != email:
        changes["email"] = email
    if current["username"] != username:
        changes["username"] = username
    if current["directory_dn"] != entry.dn:
        changes["directory_dn"] = entry.dn
    if not active and current["status"] == "active":
        changes["status"] = "disabled"
    if active and current["status"] == "disabled" and current["directory_disabled"]:
        changes["status"] = "active"
    await _hold_back(conn, org_id, current, changes, outcome)
    if not changes:
        outcome.unchanged += 1
        return current["id"]  # type: ignore[no-any-return]
    await _write_changes(conn, writer, current, changes)
    if changes.get("status") == "disabled":
        outcome.disabled.append(current["username"])
    elif changes.get("status") == "active":
        outcome.enabled.append(current["username"])
    else:
        outcome.updated.append({"username": current["username"], **changes})
    return current["id"]  # type: ignore[no-any-return]


async def _write_changes(
    conn: db.Tx, writer: Any, current: asyncpg.Record, changes: dict[str, Any]
) -> None:
    sets, args = [], [current["id"]]
    for column in ("role", "full_name", "email", "username", "directory_dn", "status"):
        if column in changes:
            args.append(changes[column])
            sets.append(f"{column} = ${len(args)}")
    if "status" in changes:
        sets.append(
            f"directory_disabled = {'true' if changes['status'] == 'disabled' else 'false'}"
        )
    await conn.execute(
        f"UPDATE users SET {', '.join(sets)}, updated_at = now() WHERE id = $1", *args
    )
    if changes.get("status") == "disabled" or "role" in changes:
        await _end_access(conn, current["id"])
    await writer.record(
        "user_updated",
        target_type="user",
        target=current["username"],
        details={k: v for k, v in changes.items() if k != "directory_dn"} | {"directory": True},
    )


async def _sync_org(env: Env, org: OrgRef, who: Who) -> dict[str, Any]:
    async with db.transaction(env.pool, org.id, readonly=True) as conn:
        row = await _row(conn, org.id, "active")
        if row is None:
            raise coded(
                NotFound,
                "directory_not_configured",
                f"{org.display_name} has no active directory",
            )
        config = await _unseal(env, conn, row)
    try:
        entries = await ldap.search(
            config.endpoint,
            row["bind_dn"],
            config.bind_password,
            row["search_base"],
            config.user_filter(),
            config.attributes,
        )
    except (DirectoryUnavailable, DirectoryRefused) as exc:
        raise unavailable(str(exc)) from exc
    outcome = _Outcome()
    async with db.transaction(env.pool, org.id) as conn:
        await _serialise(conn, row["id"])
        seen: set[uuid.UUID] = set()
        for entry in entries:
            found = await _apply_entry(env, conn, org.id, config, entry, outcome, who)
            if found is not None:
                seen.add(found)
        writer = recording.writer(conn, env, org.id, who)
        gone = await conn.fetch(
            "SELECT id, username, role, status, full_name, email, directory_dn, "
            "directory_disabled FROM users WHERE org_id = $1 AND directory_dn IS NOT NULL "
            "AND status = 'active' AND NOT (id = ANY($2::uuid[])) FOR UPDATE",
            org.id,
            list(seen),
        )
        for user in gone:
            await _write_changes(conn, writer, user, {"status": "disabled"})
            outcome.disabled.append(user["username"])
        await conn.execute(
            "UPDATE org_directories SET last_sync_at = now() WHERE id = $1", row["id"]
        )
        answer = outcome.as_dict()
        await writer.record(
            "directory_synced",
            target_type="org",
            target=org.display_name,
            details={k: v if isinstance(v, int) else len(v) for k, v in answer.items()},
        )
    return answer


async def sync(env: Env, actor: Actor, org_name: OrgArg) -> dict[str, Any]:
    """``POST /orgs/{org}/directory/sync``: bring the org's directory users in step now.

    Returns:
        What changed: ``{"created": [names], "updated": [{"username", changed fields}],
        "disabled": [names], "enabled": [names], "skipped": [{"username", "reason"}],
        "unchanged": n}``.
    Raises:
        NotFound ``directory_not_configured``; ServiceUnavailable ``directory_unavailable``.
    """
    _require_admin(actor)
    async with db.transaction(env.pool, readonly=True) as conn:
        org = await acting_org(conn, actor, org_name)
    return await _sync_org(env, org, actor.who)


async def sync_due(env: Env) -> int:
    """Sync every org whose active directory's ``sync_minutes`` (0: never) have passed
    since its last sync (the sweeper's round); how many orgs were synced. An org whose
    directory fails is skipped until the next round."""
    async with db.transaction(env.pool, readonly=True) as conn:
        orgs = await conn.fetch("SELECT * FROM orgs WHERE deleted_at IS NULL ORDER BY display_name")
    done = 0
    for org in orgs:
        async with db.transaction(env.pool, org["id"], readonly=True) as conn:
            due = await conn.fetchval(
                "SELECT sync_minutes > 0 AND (last_sync_at IS NULL OR last_sync_at < now() - "
                "make_interval(mins => sync_minutes)) FROM org_directories "
                "WHERE org_id = $1 AND state = 'active'",
                org["id"],
            )
        if not due:
            continue
        try:
            await _sync_org(env, org_ref(org, "home"), Who("directory sync", org["display_name"]))
            done += 1
        except (ServiceUnavailable, Conflict, NotFound):
            continue
    return done


async def apply_approved(conn: db.Tx, org_id: uuid.UUID, subject: str) -> None:
    """Activate MSPOrg's pending configuration named by an approved ``directory_config``
    request (``subject`` = ``_summary`` at filing): the pending revision and every setting
    the approver saw must still be the ones filed (a new bind password makes a new
    revision), else ``409 directory_changed`` and nothing changes."""
    filed = json.loads(subject)
    async with db.in_org(conn, org_id):
        pending = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM org_directories WHERE org_id = $1 AND state = 'pending' "
            "FOR UPDATE",
            org_id,
        )
        if (
            pending is None
            or str(pending["revision"]) != filed.get("revision")
            or json.loads(_summary(pending)) != filed
        ):
            raise coded(
                Conflict,
                "directory_changed",
                "the directory configuration changed after the request was filed: file a "
                "new request for the configuration as it is now",
            )
        await conn.execute(
            "DELETE FROM org_directories WHERE org_id = $1 AND state = 'active'", org_id
        )
        await conn.execute(
            "UPDATE org_directories SET state = 'active' WHERE id = $1", pending["id"]
        )


async def pending_summary(conn: db.Tx, org_id: uuid.UUID) -> str:
    """The subject of a ``directory_config`` request for MSPOrg's pending configuration.

    Raises:
        Conflict ``nothing_to_approve`` when none is pending.
    """
    async with db.in_org(conn, org_id):
        pending = await _row(conn, org_id, "pending")
    if pending is None:
        raise coded(
            Conflict,
            "nothing_to_approve",
            "MSPOrg has no pending directory configuration: set it first (PUT "
            "/orgs/MSPOrg/directory)",
        )
    return _summary(pending)


async def directory_password_ok(
    env: Env, org_id: uuid.UUID, user_id: uuid.UUID, password: str
) -> bool | None:
    """For a directory user, whether ``password`` binds as its entry now (re-entering
    one's password before a sensitive operation); None for a local user.

    Raises:
        ServiceUnavailable ``directory_unavailable``.
    """
    async with db.transaction(env.pool, org_id) as conn:
        dn = await conn.fetchval("SELECT directory_dn FROM users WHERE id = $1", user_id)
        if dn is None:
            return None
        row = await _row(conn, org_id, "active")
        if row is None:
            return False
        config = await _unseal(env, conn, row)
    try:
        return await ldap.bind(config.endpoint, dn, password)
    except DirectoryUnavailable as exc:
        raise unavailable(str(exc)) from exc
