"""Brokered sessions through the SSH gateway, and their recordings (issue 30, items 4-5).

``ssh -t -p 2222 alice@vault connect web01/root`` opens an SSH session to the account's
target with the stored password (or a stored private key), without ever showing it. The
rules, in one place (server/gateway only calls these):

- Who may connect, and when: exactly a reveal's decision. ``open_session`` calls
  ``entitlement.connect`` (``use_account('connect', ...)``, the statement a reveal runs):
  reach, the org's reason, entitlement, check-out; its refusals are the reveal's
  (``vault.refuse_use``), and its event is ``session_started``. An account set
  "connect only" is refused to a reveal (403 ``connect_only``) and allowed here.
- While a session runs, ``ended_by`` asks the same rule again, with no side effect
  (``account_use_allowed``): the session is cut when the user is disabled or its session
  ends, the org goes out of reach, the entitlement is withdrawn (a share revoked, the user
  removed from a group), or a controlled account's window ends or is checked in or ended
  by force; and when the rule cannot be asked (fail closed).
- The target: the resource's connection (``resource_connections``, issue 29) with an SSH
  connector and a pinned host key; an unknown or changed key is refused (nothing is sent)
  and audited (``target_host_key_refused``).
- Recording: asciicast v2, sealed with the org's data key (``session_recordings.sealed``),
  its SHA-256 and size in ``session_ended``; auditors list and fetch them (fetching is
  audited, ``session_recording_read``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from server.core import permissions
from server.core.errors import Conflict, Forbidden, NotFound, StrongroomError, coded
from server.core.ids import parse_id
from server.services import denials, entitlement, recording, vault
from server.services.access import OrgArg, enter_org
from server.services.connectors.base import Target
from server.services.context import Actor, Env
from server.store import audit, db, paging
from server.store.paging import Key, Page

log = logging.getLogger("strongroom.gateway")

VIA = "ssh_gateway"
_CONNECT = re.compile(r"^\s*connect\s+(\S+)(?:\s+(.*\S))?\s*$")
PRIVATE_KEY_FIELDS = ("private_key", "ssh_private_key")


def parse_connect(command: str) -> tuple[str | None, str, str, str | None] | None:
    """The one exec request the gateway accepts: ``connect [ORG/]RESOURCE/ACCOUNT [REASON]``
    as (org or None, resource, account, reason); None for any other command."""
    match = _CONNECT.match(command)
    if match is None:
        return None
    parts = match.group(1).split("/")
    if len(parts) == 2 and all(parts):
        return None, parts[0], parts[1], match.group(2)
    if len(parts) == 3 and all(parts):
        return parts[0], parts[1], parts[2], match.group(2)
    return None


@dataclass
class Brokered:
    """An opened brokered session: where to connect and with what (kept in the gateway's
    memory only; ``password`` and ``private_key`` never show in ``repr``)."""

    id: uuid.UUID
    org_id: uuid.UUID
    org: str
    account_id: uuid.UUID
    resource_id: uuid.UUID
    target_name: str  # '<resource>/<account>', as the audit names it
    username: str
    target: Target
    password: str = field(repr=False)
    private_key: str | None = field(default=None, repr=False)
    started_at: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )


async def open_session(
    env: Env,
    actor: Actor,
    org_name: str,
    resource: str,
    account: str,
    reason: str | None,
) -> Brokered:
    """Decide and open a brokered session to ``resource``/``account`` of org ``org_name``.

    Raises:
        NotFound: no such org, resource or account, or not entitled (answered alike).
        Forbidden ``checkout_required`` / Conflict ``checked_out``: the check-out rule;
        ValidationFailed ``reason_required``; Unauthenticated: the session ended.
        Conflict ``no_connection``: the resource has no SSH connection;
        Conflict ``host_key_unknown``: no host key pinned yet.
    """
    async with db.transaction(env.pool, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await tx.fetchrow(
            "SELECT a.id, a.resource_id, a.username, r.name AS resource FROM accounts a "
            "JOIN resources r ON r.id = a.resource_id "
            "WHERE name_fold(r.name) = name_fold($1) AND name_fold(a.username) = name_fold($2)",
            resource,
            account,
        )
        conn_row = None
        if row is not None:
            conn_row = await tx.fetchrow(
                "SELECT connector, host, port, host_key FROM resource_connections "
                "WHERE resource_id = $1",
                row["resource_id"],
            )
    if row is None:
        raise NotFound("no such account")
    session_id = uuid.uuid4()
    details = {"via": VIA, "session_id": str(session_id)}
    blocked = _no_target(conn_row)
    if blocked is not None:
        # Nothing to connect to: refused before use_account commits session_started and
        # hands out the password (F4 of issue 30's attack pass), and told only to a user
        # the rule lets use the account (anyone else hears what a reveal would say, below).
        async with db.transaction(env.pool, org.id, readonly=True) as tx:
            refusal = await entitlement.use_refusal(
                tx, actor, org.id, row["id"], "connect", scope_now=False, reason=reason
            )
        if refusal is None:
            await _refused(
                env,
                actor,
                org.id,
                f"{row['resource']}/{row['username']}",
                blocked.code or "",
                details,
            )
            raise blocked
    readonly = not env.node_state.records_in_database()
    used = await entitlement.connect(
        env.pool, actor, org.display_name, row["id"], reason, env.node, details, readonly
    )
    target_name = f"{row['resource']}/{used['username'] if used else account}"
    try:
        vault.refuse_use(used, org.display_name)
    except StrongroomError as exc:
        if used is not None and used["org_id"] is not None and exc.status != 401:
            # Refused by entitlement's rule (check-out, reason): audited in the org; "no
            # such account" (not entitled) is answered alike and recorded nowhere, as a
            # reveal's.
            await _refused(env, actor, org.id, target_name, exc.code or "refused", details)
        raise
    assert used is not None
    if not used["audited"]:
        event = audit.Event(
            actor.who,
            "session_started",
            "account",
            target_name,
            reason=reason,
            details={"account_id": str(row["id"]), "permission": used["permission"], **details},
        )
        await env.spool.append(org.id, event, env.node)
    if blocked is not None:  # the rule refused a moment ago and allows now: refused still
        await _refused(env, actor, org.id, target_name, blocked.code or "", details)
        raise blocked
    assert conn_row is not None
    org_id: uuid.UUID = used["org_id"]
    await env.ring.ensure_loaded(env.pool, org_id, used["password"])
    password = env.ring.decrypt_cached(org_id, "accounts", row["id"], "password", used["password"])
    private_key = None
    if used["secret_fields"] is not None:
        await env.ring.ensure_loaded(env.pool, org_id, used["secret_fields"])
        fields = json.loads(
            env.ring.decrypt_cached(
                org_id, "accounts", row["id"], "secret_fields", used["secret_fields"]
            )
        )
        for name, value in fields.items():
            if name.lower() in PRIVATE_KEY_FIELDS and value:
                private_key = str(value)
    return Brokered(
        id=session_id,
        org_id=org_id,
        org=org.display_name,
        account_id=row["id"],
        resource_id=row["resource_id"],
        target_name=target_name,
        username=used["username"],
        target=Target(
            conn_row["host"],
            conn_row["port"],
            conn_row["host_key"],
            timeout=env.config.gateway.connect_timeout_seconds,
        ),
        password=password,
        private_key=private_key,
    )


def _no_target(conn_row: Any) -> StrongroomError | None:
    """The refusal for a resource a session cannot be opened to: no SSH connection
    (``no_connection``), or no host key pinned (``host_key_unknown``); None when it can."""
    if conn_row is None or conn_row["connector"] != "ssh":
        return coded(
            Conflict, "no_connection", "this resource has no SSH connection to open sessions to"
        )
    if not conn_row["host_key"]:
        return coded(
            Conflict,
            "host_key_unknown",
            "no host key is pinned for this resource's target yet (confirm one first)",
        )
    return None


async def _refused(
    env: Env, actor: Actor, org_id: uuid.UUID, target: str, reason: str, details: dict[str, Any]
) -> None:
    event = audit.Event(
        actor.who,
        "session_refused",
        "account",
        target,
        outcome="failure",
        reason=reason,
        details=details,
    )
    await recording.record(env, org_id, event)


async def refused(env: Env, actor: Actor, session: Brokered, reason: str, **extra: Any) -> None:
    """Audit a brokered session that did not reach the target (``session_refused``;
    ``target_host_key_refused`` for a key other than the pinned one, as rotation does)."""
    details: dict[str, Any] = {"via": VIA, "session_id": str(session.id), **extra}
    if reason == "host_key_changed":
        event = audit.Event(
            actor.who,
            "target_host_key_refused",
            "resource",
            session.target_name.split("/", 1)[0],
            outcome="failure",
            reason=reason,
            details={"pinned_fingerprint": session.target.host_key, **details},
        )
        await recording.record(env, session.org_id, event)
    await _refused(env, actor, session.org_id, session.target_name, reason, details)


# Why a session under way is cut, by the refusal the rule answers (``session_ended``'s
# ``ended_by``): the check-out rule keeps its historical name, window_ended.
ENDED_BY = {
    "not_entitled": "not_entitled",  # a share, group membership or resource group withdrawn
    "no_org": "no_org",  # the org is out of the user's reach now (grant revoked, org deleted)
    "user_disabled": "user_disabled",
    "credential_ended": "credential_ended",  # logged out, password reset, session expired
    "held": "window_ended",
    "request_required": "window_ended",
}
CHECK_FAILED = "check_failed"  # the rule could not be asked: the session ends (fail closed)


async def ended_by(env: Env, actor: Actor, session: Brokered) -> str | None:
    """Must a session under way end, and why: None while the user may still use the
    account, else its ``ended_by`` (``ENDED_BY``; ``check_failed`` when the rule could not
    be asked). The rule is the reveal's and the session's start's, asked again with no side
    effect (``entitlement.use_refusal``, sql/functions/account_use_rule.sql): the
    credential (user disabled, session ended), the org's reach, entitlement (shares,
    group membership, resource groups) and check-out (the window ended, checked in).
    Source: issue 30 item 4 ("the session is cut when ... "), its attack pass F1; fail
    closed on an error, OWASP ASVS 4.0 V7.4.1 / V4.1.5."""
    try:
        async with db.transaction(env.pool, session.org_id, readonly=True) as tx:
            refusal = await entitlement.use_refusal(tx, actor, session.org_id, session.account_id)
    except Exception:  # the database away, a timeout: the session is not allowed to go on
        log.warning("gateway: could not check a brokered session's right to go on; ending it")
        return CHECK_FAILED
    if refusal is None:
        return None
    return ENDED_BY.get(refusal, "not_allowed")


@dataclass
class Ended:
    """How a brokered session ended, for ``session_ended`` and its recording."""

    reason: str  # target_closed, client_closed, window_ended, idle, max_length, ...
    bytes_out: int  # target -> user
    bytes_in: int  # user -> target
    cast: bytes  # the asciicast v2 recording


async def close_session(env: Env, actor: Actor, session: Brokered, ended: Ended) -> uuid.UUID:
    """Seal and store the recording and audit ``session_ended`` (duration, bytes, the
    recording's id, SHA-256 and size). Returns the recording's id. On a node that cannot
    write, the event is spooled (``recording_stored: false``) and the recording dropped."""
    now = datetime.datetime.now(datetime.UTC)
    digest = hashlib.sha256(ended.cast).hexdigest()
    rec_id = session.id
    details = {
        "via": VIA,
        "session_id": str(session.id),
        "recording_id": str(rec_id),
        "duration_seconds": round((now - session.started_at).total_seconds(), 3),
        "bytes_out": ended.bytes_out,
        "bytes_in": ended.bytes_in,
        "recording_sha256": digest,
        "recording_size": len(ended.cast),
        "ended_by": ended.reason,
    }
    if not env.node_state.records_in_database():
        # A node that cannot write (a secondary): the event is spooled as a reveal's is;
        # the recording cannot be stored here, and the event says so.
        details["recording_stored"] = False
        event = audit.Event(
            actor.who, "session_ended", "account", session.target_name, details=details
        )
        await env.spool.append(session.org_id, event, env.node)
        return rec_id
    async with db.transaction(env.pool, session.org_id) as tx:
        sealed = await env.ring.encrypt(
            tx.conn,
            session.org_id,
            "session_recordings",
            rec_id,
            "sealed",
            ended.cast.decode("utf-8"),
        )
        await tx.execute(
            "INSERT INTO session_recordings (id, org_id, account_id, target, actor, actor_org, "
            "ip, started_at, ended_at, end_reason, bytes_out, bytes_in, size, sha256, sealed) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            rec_id,
            session.org_id,
            session.account_id,
            session.target_name,
            actor.username,
            actor.org,
            actor.ip,
            session.started_at,
            now,
            ended.reason,
            ended.bytes_out,
            ended.bytes_in,
            len(ended.cast),
            digest,
            sealed,
        )
        await recording.writer(tx, env, session.org_id, actor.who).record(
            "session_ended", target_type="account", target=session.target_name, details=details
        )
    return rec_id


def _require_reader(actor: Actor) -> None:
    if not permissions.can_read_audit(actor):
        raise coded(
            Forbidden,
            "not_audit_reader",
            "only administrators and auditors read session recordings",
        )


_LIST = (
    "SELECT id, account_id, target, actor, actor_org, ip, started_at, ended_at, end_reason, "
    "bytes_out, bytes_in, size, sha256 FROM session_recordings "
)


def _json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "account_id": str(row["account_id"]) if row["account_id"] else None,
        "target": row["target"],
        "actor": row["actor"],
        "actor_org": row["actor_org"],
        "ip": row["ip"],
        "started_at": row["started_at"].isoformat(),
        "ended_at": row["ended_at"].isoformat(),
        "end_reason": row["end_reason"],
        "bytes_out": row["bytes_out"],
        "bytes_in": row["bytes_in"],
        "size": row["size"],
        "sha256": row["sha256"],
    }


async def list_recordings(env: Env, actor: Actor, org_name: OrgArg, page: Page) -> dict[str, Any]:
    """A page of the org's session recordings, newest first (no content), for readers of
    its audit trail (``permissions.can_read_audit``). Paged by (started_at, id).

    Raises: NotFound for an org out of reach; Forbidden ``not_audit_reader``.
    """
    _require_reader(actor)
    after_at, after_id = page.after_as(str, str) or (None, None)
    async with db.transaction(env.pool, readonly=True) as tx:
        await enter_org(tx, actor, org_name)
        rows = await tx.fetch(
            _LIST + "WHERE ($1::timestamptz IS NULL OR (started_at, id::text) < ($1, $2)) "
            "ORDER BY started_at DESC, id::text DESC LIMIT $3",
            datetime.datetime.fromisoformat(after_at) if after_at else None,
            after_id,
            page.limit + 1,
        )
    return paging.cut([_json(r) for r in rows], page, _order)


def _order(item: dict[str, Any]) -> Key:
    return (item["started_at"], item["id"])


async def get_recording(
    env: Env, actor: Actor, org_name: OrgArg, recording_id: str
) -> dict[str, Any]:
    """One recording, decrypted (``cast``: the asciicast v2 text), audited as
    ``session_recording_read``. On a node that cannot write (a secondary: reading is
    allowed there, DESIGN.md's read-only rules) the recording is read from its replica
    and the event goes to the audit spool, fsync'd before the recording is returned, as
    a reveal's event does there; on the primary it is written in the reading transaction.

    Raises: NotFound (no such recording, or an org out of reach); Forbidden
    ``not_audit_reader``; 500 ``secret_integrity_failed`` when the sealed recording fails
    its integrity check (nothing is returned); 503 ``audit_unavailable`` when the read
    could not be recorded (nothing is returned).
    """
    _require_reader(actor)
    rid = parse_id(recording_id, "recording")
    writes = env.node_state.records_in_database()
    async with db.transaction(env.pool, readonly=not writes, prompt=True) as tx:
        org = await enter_org(tx, actor, org_name)
        row = await tx.fetchrow(_LIST.replace(" FROM", ", sealed FROM") + "WHERE id = $1", rid)
        if row is None:
            raise NotFound("no such recording")
        event = audit.Event(
            actor.who,
            "session_recording_read",
            "account",
            row["target"],
            details={"recording_id": str(rid), "sha256": row["sha256"]},
        )
        if writes:
            await recording.writer(tx, env, org.id, actor.who).record_many([event])
        cast = await env.ring.decrypt(
            tx.conn, org.id, "session_recordings", rid, "sealed", row["sealed"]
        )
    if not writes:
        await env.spool.append(org.id, event, env.node)
    return {**_json(row), "cast": cast}


CONNECT_ROUTE = "ssh connect {org}/{resource}/{account}"  # a refusal's "route" (denials)


def connect_refusal(
    exc: StrongroomError,
    actor: Actor,
    ip: str,
    target: tuple[str | None, str, str, str | None],
) -> denials.Refusal:
    """A refused ``connect [ORG/]RESOURCE/ACCOUNT`` as a refusal for the audit's count of
    refusals (``denials.DenialLog.note``, which records the security-relevant ones as
    ``access_denied`` in the actor's org): not entitled or an org out of reach (404), a
    403, the check-out rule's codes. The event names the target as the user typed it
    (org, resource and account names; never the reason typed, never a secret), as a
    reveal's refusal names its path. Source: issue 30 (connect refusals audited like a
    reveal's), issue 26 item 9, OWASP ASVS 4.0 V7.1.3."""
    org, resource, account, _reason = target
    return denials.Refusal(
        exc.status,
        exc.code or "refused",
        "SSH",
        CONNECT_ROUTE,
        f"connect {org or actor.org}/{resource}/{account}",
        actor,
        ip,
    )
