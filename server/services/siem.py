"""SIEM forwarding of the audit trail (issue 31, item 1): destinations per org and the
forwarder that delivers each org's chained events to them.

A destination belongs to one org: MSPOrg's administrators configure MSPOrg's, a client
org's own administrators configure the client's (``require_own_administrator``; an MSP
administrator entering a client org does not choose where its trail goes). It receives
syslog (RFC 5424) over TLS (RFC 5425, the receiver's certificate verified against the
destination's CAs or the system's, an optional client certificate), plain TCP (RFC 6587
octet counting) or UDP (RFC 5426), with a JSON or CEF body (server/core/siem_stream.py).

Delivery is at least once from a durable cursor per destination (``siem_cursors``, on
the primary, replicated with everything else): the forwarder sends the links after the
cursor and moves the cursor only once the connection that carried them is seen still
open a round later, so an event sent into a connection the receiver had closed is sent
again. A receiver away, a restart or a failover loses nothing; an event may arrive twice,
with the same sequence number (the receiver's check counts it as a duplicate). Over UDP
nothing confirms delivery: the cursor moves as soon as a datagram left.

The forwarder is a background task on the primary: it never runs inside a request, so a
receiver that is slow or away never delays nor fails one; its lag shows in health,
``strongroom status`` and the destinations' list.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import json
import logging
import re
import secrets
import ssl
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from server.core import permissions, siem_stream
from server.core.errors import Conflict, Forbidden, NotFound, StrongroomError, coded, field_error
from server.services import outbound, recording
from server.services.access import OrgArg, OrgRef, enter_org
from server.services.context import Actor, Env
from server.store import db

log = logging.getLogger(__name__)

INTERVAL = 0.5  # seconds between rounds of one destination
BATCH = 500  # events per read
CONNECT_TIMEOUT = 10.0
MAX_BACKOFF = 60.0
HOST = re.compile(r"[A-Za-z0-9.:\-\[\]]{1,253}")
TABLE = "siem_destinations"
VERSION = "1"


def require_own_administrator(actor: Actor, org: OrgRef) -> None:
    """Only an administrator (built-in role) of the org itself configures where its audit
    trail goes: MSPOrg's administrators for MSPOrg, a client's own for the client (issue
    31, item 1).

    Raises:
        Forbidden ``siem_own_administrators``.
    """
    if not permissions.is_administrator(actor) or actor.org_id != org.id:
        raise coded(
            Forbidden,
            "siem_own_administrators",
            "only the org's own administrators configure where its audit trail is forwarded",
        )


# --- configuration --------------------------------------------------------------------


def _check(data: dict[str, Any]) -> None:
    """Refuse (422) a malformed destination: host, transport and certificates."""
    if not HOST.fullmatch(data["host"]):
        raise field_error("host", "a host name or IP address")
    transport = data["transport"]
    ca_pem = data.get("ca_pem") or ""
    cert_pem = data.get("client_cert_pem") or ""
    key_pem = data.get("client_key_pem") or ""
    if transport != "tls" and (ca_pem or cert_pem or key_pem):
        raise field_error("transport", "certificates need the tls transport")
    if ca_pem:
        try:
            x509.load_pem_x509_certificates(ca_pem.encode())
        except ValueError as exc:
            raise field_error("ca_pem", "not PEM certificates") from exc
    if bool(cert_pem) != bool(key_pem):
        raise field_error("client_key_pem", "a client certificate needs its key, and the key it")
    if cert_pem:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise field_error(
                "client_cert_pem", "not a PEM certificate and unencrypted key"
            ) from exc
        if cert.public_key() != key.public_key():
            raise field_error("client_key_pem", "the key is not the certificate's")


async def create_destination(
    env: Env, actor: Actor, org_name: OrgArg, data: dict[str, Any]
) -> dict[str, Any]:
    """Add a destination; answer it with its ``verify_key`` (hex), shown this once: the
    receiver's check needs it to prove each message came unaltered from this server.

    Args:
        data: name, host, port, transport (tls|tcp|udp), format (json|cef), ca_pem?,
            client_cert_pem?, client_key_pem?, enabled?, start ("now" | "beginning":
            whether the chain's existing events are sent too; default beginning).
    Raises:
        Forbidden ``siem_own_administrators``; ValidationFailed for a malformed host or
        certificate; Conflict ``siem_destination_exists`` for a name the org uses.
    """
    _check(data)
    await outbound.refuse_forbidden(
        "host", data["host"], data["port"], env.config.outbound.allow_loopback
    )
    dest_id = uuid.uuid4()
    verify_key = secrets.token_bytes(32)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_administrator(actor, org)
        if await tx.fetchval(
            "SELECT 1 FROM siem_destinations WHERE org_id = $1 AND name = $2", org.id, data["name"]
        ):
            raise coded(
                Conflict,
                "siem_destination_exists",
                f"the org already has a destination named {data['name']!r}",
            )
        sealed_verify = await env.ring.encrypt(
            tx, org.id, TABLE, dest_id, "verify_key", verify_key.hex()
        )
        sealed_client = None
        if data.get("client_key_pem"):
            sealed_client = await env.ring.encrypt(
                tx, org.id, TABLE, dest_id, "client_key", data["client_key_pem"]
            )
        await tx.execute(
            "INSERT INTO siem_destinations (id, org_id, name, host, port, transport, "
            "body_format, ca_pem, client_cert_pem, client_key, verify_key, enabled, created_by) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            dest_id,
            org.id,
            data["name"],
            data["host"],
            data["port"],
            data["transport"],
            data["format"],
            data.get("ca_pem") or "",
            data.get("client_cert_pem") or "",
            sealed_client,
            sealed_verify,
            data.get("enabled", True),
            actor.username,
        )
        start = 0
        if data.get("start") == "now":
            start = await tx.fetchval("SELECT seq FROM audit_heads WHERE org_id = $1", org.id) or 0
        await tx.execute(
            "INSERT INTO siem_cursors (destination_id, org_id, sent_seq) VALUES ($1, $2, $3)",
            dest_id,
            org.id,
            start,
        )
        await recording.writer(tx, env, org.id, actor.who).record(
            "siem_destination_added",
            "siem_destination",
            data["name"],
            details={
                "host": data["host"],
                "port": data["port"],
                "transport": data["transport"],
                "format": data["format"],
                "client_certificate": bool(data.get("client_cert_pem")),
            },
        )
        answer = await _describe(tx, org, dest_id)
    answer["verify_key"] = verify_key.hex()
    return answer


_DESCRIBE = (
    "SELECT d.id, d.name, d.host, d.port, d.transport, d.body_format, d.enabled, "
    "d.created_at, d.created_by, d.ca_pem <> '' AS own_ca, d.client_cert_pem <> '' AS client_cert, "
    "c.sent_seq, c.sent_at, c.last_error, c.last_error_at, c.failures, "
    "coalesce((SELECT seq FROM audit_heads h WHERE h.org_id = d.org_id), 0) AS head_seq "
    "FROM siem_destinations d JOIN siem_cursors c ON c.destination_id = d.id "
    "WHERE d.org_id = $1"
)


def _row(row: asyncpg.Record) -> dict[str, Any]:
    def when(v: datetime.datetime | None) -> str | None:
        return v.isoformat() if v is not None else None

    return {
        "id": str(row["id"]),
        "name": row["name"],
        "host": row["host"],
        "port": row["port"],
        "transport": row["transport"],
        "format": row["body_format"],
        "enabled": row["enabled"],
        "own_ca": row["own_ca"],
        "client_certificate": row["client_cert"],
        "created_at": when(row["created_at"]),
        "created_by": row["created_by"],
        "sent_seq": row["sent_seq"],
        "head_seq": row["head_seq"],
        "lag": max(0, row["head_seq"] - row["sent_seq"]),
        "sent_at": when(row["sent_at"]),
        "last_error": row["last_error"],
        "last_error_at": when(row["last_error_at"]),
        "failures": row["failures"],
    }


async def _describe(tx: db.Tx, org: OrgRef, dest_id: uuid.UUID) -> dict[str, Any]:
    row = await tx.fetchrow(_DESCRIBE + " AND d.id = $2", org.id, dest_id)
    if row is None:
        raise NotFound("no such SIEM destination")
    item = _row(row)
    if item["last_error"]:
        item["last_error"] = coarse_error(org, item["last_error"])
    return item


def _dest_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise NotFound("no such SIEM destination") from exc


async def list_destinations(env: Env, actor: Actor, org_name: OrgArg) -> list[dict[str, Any]]:
    """The org's destinations with their delivery state: the cursor (``sent_seq``), the
    chain's head, the lag between them, the last error and consecutive failures.

    Raises:
        Forbidden ``siem_own_administrators``.
    """
    async with db.transaction(env.pool, actor.org_id, readonly=True) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_administrator(actor, org)
        rows = await tx.fetch(_DESCRIBE + " ORDER BY d.name", org.id)
    items = [_row(r) for r in rows]
    for item in items:  # the delivery's last error is the test call's oracle too
        if item["last_error"]:
            item["last_error"] = coarse_error(org, item["last_error"])
    return items


async def delete_destination(env: Env, actor: Actor, org_name: OrgArg, dest: str) -> None:
    """Remove a destination and its cursor (audited).

    Raises:
        Forbidden ``siem_own_administrators``; NotFound.
    """
    dest_id = _dest_id(dest)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_administrator(actor, org)
        name = await tx.fetchval(
            "DELETE FROM siem_destinations WHERE org_id = $1 AND id = $2 RETURNING name",
            org.id,
            dest_id,
        )
        if name is None:
            raise NotFound("no such SIEM destination")
        await recording.writer(tx, env, org.id, actor.who).record(
            "siem_destination_removed", "siem_destination", name
        )


async def set_enabled(
    env: Env, actor: Actor, org_name: OrgArg, dest: str, enabled: bool
) -> dict[str, Any]:
    """Pause or resume a destination (its cursor stays: a resumed one catches up).

    Raises:
        Forbidden ``siem_own_administrators``; NotFound.
    """
    dest_id = _dest_id(dest)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_administrator(actor, org)
        name = await tx.fetchval(
            "UPDATE siem_destinations SET enabled = $3 WHERE org_id = $1 AND id = $2 "
            "RETURNING name",
            org.id,
            dest_id,
            enabled,
        )
        if name is None:
            raise NotFound("no such SIEM destination")
        await recording.writer(tx, env, org.id, actor.who).record(
            "siem_destination_changed",
            "siem_destination",
            name,
            details={"enabled": enabled},
        )
        return await _describe(tx, org, dest_id)


async def send_test(env: Env, actor: Actor, org_name: OrgArg, dest: str) -> dict[str, Any]:
    """Send one test message (MSGID ``test``, sequence number 0: outside the chain, the
    receiver's check skips it) now; answer ``{"delivered", "error"}``: a receiver away
    or a certificate refused is said in ``error``, not raised.

    Raises:
        Forbidden ``siem_own_administrators``; NotFound.
    """
    dest_id = _dest_id(dest)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_administrator(actor, org)
        target = await _load(tx, env, org.id, dest_id)
        if target is None:
            raise NotFound("no such SIEM destination")
    answer = await _send_test(env, actor, org, target)
    # Recorded with what happened (a newcomer read "succeeded" for a test that reached
    # no receiver).
    async with db.transaction(env.pool, actor.org_id) as tx:
        await enter_org(tx, actor, org_name)
        await recording.writer(tx, env, org.id, actor.who).record(
            "siem_test_sent",
            "siem_destination",
            target.name,
            outcome="success" if answer["delivered"] else "failure",
            details={} if answer["delivered"] else {"error": answer["error"]},
        )
    return answer


async def _send_test(env: Env, actor: Actor, org: OrgRef, target: Target) -> dict[str, Any]:
    """Send the test message to ``target``: ``{"delivered", "error"}``."""
    now = datetime.datetime.now(datetime.UTC).isoformat()
    event = {
        "org_id": str(org.id),
        "org": org.display_name,
        "seq": 0,
        "event_id": 0,
        "at": now,
        "actor": actor.username,
        "actor_org": actor.org,
        "ip": actor.ip,
        "operation": "siem_test_sent",
        "target_type": "siem_destination",
        "target": target.name,
        "outcome": "success",
        "reason": None,
        "details": {},
        "node": env.node,
        "hash": "0" * 64,
        "prev_hash": "0" * 64,
    }
    message = siem_stream.syslog_message(
        key=target.verify_key,
        event=event,
        body_format=target.body_format,
        hostname=env.node or "strongroom",
        msgid=siem_stream.TEST_MSGID,
    )
    link = None
    try:
        link = await open_link(target, env.config.outbound.allow_loopback)
        await link.send([message])
        await asyncio.sleep(0.2)
        if not link.healthy():
            return {
                "delivered": False,
                "error": coarse_error(org, "the receiver closed the connection"),
            }
        return {"delivered": True, "error": None}
    except DeliveryError as exc:
        return {"delivered": False, "error": coarse_error(org, str(exc))}
    finally:
        if link is not None:
            await link.close()


# --- delivery -------------------------------------------------------------------------


class DeliveryError(Exception):
    """A receiver could not be reached or refused us; the text says why, in words."""


@dataclass(frozen=True)
class Target:
    """One destination as the forwarder needs it (keys decrypted)."""

    id: uuid.UUID
    org_id: uuid.UUID
    org_name: str
    name: str
    host: str
    port: int
    transport: str
    body_format: str
    ca_pem: str
    client_cert_pem: str
    client_key_pem: str
    verify_key: bytes
    sent_seq: int


async def _load(tx: db.Tx, env: Env, org_id: uuid.UUID, dest_id: uuid.UUID) -> Target | None:
    row = await tx.fetchrow(
        "SELECT d.*, c.sent_seq, o.display_name FROM siem_destinations d "
        "JOIN siem_cursors c ON c.destination_id = d.id JOIN orgs o ON o.id = d.org_id "
        "WHERE d.org_id = $1 AND d.id = $2",
        org_id,
        dest_id,
    )
    if row is None:
        return None
    verify = await env.ring.decrypt(tx, org_id, TABLE, dest_id, "verify_key", row["verify_key"])
    client_key = ""
    if row["client_key"] is not None:
        client_key = await env.ring.decrypt(
            tx, org_id, TABLE, dest_id, "client_key", row["client_key"]
        )
    return Target(
        id=dest_id,
        org_id=org_id,
        org_name=row["display_name"],
        name=row["name"],
        host=row["host"],
        port=row["port"],
        transport=row["transport"],
        body_format=row["body_format"],
        ca_pem=row["ca_pem"],
        client_cert_pem=row["client_cert_pem"],
        client_key_pem=client_key,
        verify_key=bytes.fromhex(verify),
        sent_seq=row["sent_seq"],
    )


def _tls_context(target: Target) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=target.ca_pem or None)
    if not target.ca_pem:
        ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if target.client_cert_pem:
        # load_cert_chain reads files only: a private directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="strongroom-siem-") as folder:
            cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert.write_text(target.client_cert_pem)
            key.touch(mode=0o600)
            key.write_text(target.client_key_pem)
            ctx.load_cert_chain(cert, key)
    return ctx


def _said(exc: BaseException, target: Target) -> str:
    where = f"{target.host}:{target.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the receiver's certificate at {where} is not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed: {exc.reason or exc}"
    if isinstance(exc, OSError | TimeoutError):  # refused, timed out, no route: words
        return outbound.connect_failure(target.host, target.port, exc, "the collector")
    return f"{where}: {exc}"


class Link:
    """An open connection to a receiver (TCP, TLS) or a UDP socket."""

    def __init__(
        self,
        reader: asyncio.StreamReader | None,
        writer: asyncio.StreamWriter | None,
        datagrams: asyncio.DatagramTransport | None,
    ) -> None:
        self.reader, self.writer, self.datagrams = reader, writer, datagrams

    async def send(self, messages: list[bytes]) -> None:
        """Send messages in order: octet-counted frames on a stream (RFC 5425/6587), one
        datagram each over UDP (RFC 5426). Raises DeliveryError when the link broke."""
        if self.datagrams is not None:
            for message in messages:
                self.datagrams.sendto(message)
            return
        assert self.writer is not None
        if not self.healthy():
            raise DeliveryError("the receiver closed the connection")
        self.writer.write(b"".join(str(len(m)).encode() + b" " + m for m in messages))
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.writer.drain()
        except (OSError, TimeoutError) as exc:
            raise DeliveryError(
                "the collector broke off the connection while events were sent: they are sent again"
            ) from exc

    def healthy(self) -> bool:
        """Still open: a syslog receiver never writes back, so anything read (end of
        stream included) means it closed or broke the connection."""
        if self.datagrams is not None:
            return not self.datagrams.is_closing()
        assert self.reader is not None and self.writer is not None
        return not (
            self.writer.is_closing() or self.reader.at_eof() or self.reader.exception() is not None
        )

    async def close(self) -> None:
        """Close without waiting long for the receiver."""
        if self.datagrams is not None:
            self.datagrams.close()
            return
        assert self.writer is not None
        self.writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.writer.wait_closed()


async def open_link(target: Target, allow_loopback: bool = False) -> Link:
    """Connect to a destination (TLS: certificate and host name verified) at an address
    its host name resolved to and ``outbound.resolve`` allowed (attacker finding 3: never
    this host, link-local, unspecified or multicast; loopback only if ``allow_loopback``).

    Raises:
        DeliveryError: refused by the outbound rule, not reachable, or the certificate
            refused (the text says which).
    """
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            try:
                addresses = await outbound.resolve(target.host, target.port, allow_loopback)
            except outbound.OutboundRefused as exc:
                raise DeliveryError(f"not sent: {exc}") from None
            except outbound.OutboundUnresolved as exc:
                raise DeliveryError(str(exc)) from None
            if target.transport == "udp":
                loop = asyncio.get_running_loop()
                transport, _ = await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, remote_addr=(addresses[0], target.port)
                )
                return Link(None, None, transport)
            ctx = _tls_context(target) if target.transport == "tls" else None
            reader, writer = await asyncio.open_connection(
                addresses[0],
                target.port,
                ssl=ctx,
                server_hostname=target.host if ctx is not None else None,
            )
            return Link(reader, writer, None)
    except (OSError, TimeoutError, ssl.SSLError, ValueError) as exc:
        raise DeliveryError(_said(exc, target)) from exc


def _event(target: Target, row: asyncpg.Record, org_id: str | None = None) -> dict[str, Any]:
    details = row["details"]
    return {
        "org_id": org_id or str(target.org_id),
        "org": target.org_name,
        "seq": row["seq"],
        "event_id": row["id"],
        "at": row["at"].astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "actor_org": row["actor_org"],
        "ip": row["ip"],
        "operation": row["operation"],
        "target_type": row["target_type"],
        "target": row["target"],
        "outcome": row["outcome"],
        "reason": row["reason"],
        "details": _json(details),
        "node": row["node"],
        "hash": row["hash"].hex(),
        "prev_hash": row["prev_hash"].hex(),
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass
class DestinationState:
    """What this node's forwarder knows of one destination (for health)."""

    org: str
    name: str
    sent_seq: int = 0
    head_seq: int = 0
    error: str | None = None

    @property
    def lag(self) -> int:
        """Chained events not yet delivered."""
        return max(0, self.head_seq - self.sent_seq)


@dataclass
class Forwarder:
    """The forwarding task of a primary: one delivery loop per enabled destination."""

    env: Env
    interval: float = INTERVAL
    states: dict[uuid.UUID, DestinationState] = field(default_factory=dict)
    _tasks: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """For health: destinations, the largest lag, the failing ones by org/name."""
        return {
            "destinations": len(self.states),
            "lag": max((s.lag for s in self.states.values()), default=0),
            "failing": sorted(f"{s.org}/{s.name}" for s in self.states.values() if s.error),
        }

    async def run(self) -> None:
        """Start and stop delivery loops as destinations come and go, while this node
        records in its database (a primary); forever, until cancelled."""
        try:
            while True:
                wanted: dict[uuid.UUID, uuid.UUID] = {}
                if self.env.node_state.records_in_database():
                    try:
                        rows = await self.env.pool.fetch(
                            "SELECT * FROM siem_destinations_enabled()"
                        )
                        wanted = {r["id"]: r["org_id"] for r in rows}
                    except (asyncpg.PostgresError, OSError) as exc:
                        log.warning("SIEM forwarding: cannot list destinations: %s", exc)
                        await asyncio.sleep(self.interval * 4)
                        continue
                for dest_id in list(self._tasks):
                    if dest_id not in wanted or self._tasks[dest_id].done():
                        await _stop(self._tasks.pop(dest_id))
                        if dest_id not in wanted:
                            self.states.pop(dest_id, None)
                for dest_id, org_id in wanted.items():
                    if dest_id not in self._tasks:
                        self._tasks[dest_id] = asyncio.create_task(
                            self._deliver(dest_id, org_id), name=f"siem-{dest_id}"
                        )
                await asyncio.sleep(self.interval * 2)
        finally:
            for task in self._tasks.values():
                await _stop(task)

    async def _deliver(self, dest_id: uuid.UUID, org_id: uuid.UUID) -> None:
        link: Link | None = None
        linked: tuple[Any, ...] = ()  # where the open link goes (an edit moves it)
        confirmed = sent = -1
        failures = 0
        # Batches sent on the open link and not yet confirmed: (last seq, when sent). A
        # batch is confirmed once the link still stands ``interval`` after it was sent.
        inflight: collections.deque[tuple[int, float]] = collections.deque()
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    async with db.transaction(self.env.pool, org_id, readonly=True) as tx:
                        target = await _load(tx, self.env, org_id, dest_id)
                        if target is None:
                            return
                        if confirmed < 0:
                            confirmed = sent = target.sent_seq
                        moved = link is not None and _where(target) != linked
                        if moved:  # edited: the unconfirmed go again, to the new place
                            sent = confirmed
                        rows, head = await _pending(tx, org_id, sent)
                    if moved and link is not None:
                        await link.close()
                        link = None
                        inflight.clear()
                    state = self.states.setdefault(
                        dest_id, DestinationState(target.org_name, target.name)
                    )
                    state.sent_seq, state.head_seq = confirmed, head
                    if link is not None and not link.healthy():
                        raise DeliveryError("the receiver closed the connection")
                    settled = confirmed
                    while inflight and loop.time() - inflight[0][1] >= self.interval:
                        settled = inflight.popleft()[0]  # the link still stands since
                    if settled > confirmed:
                        confirmed = settled
                        await self._save(org_id, dest_id, confirmed, None)
                    if rows:
                        if link is None:
                            link = await open_link(target, self.env.config.outbound.allow_loopback)
                            linked = _where(target)
                        messages = await _messages(target, rows, self.env.node or "strongroom")
                        await link.send(messages)
                        sent = rows[-1]["seq"]
                        if target.transport == "udp":
                            confirmed = sent
                            await self._save(org_id, dest_id, confirmed, None)
                        else:
                            inflight.append((sent, loop.time()))
                    if failures:
                        await self._save(org_id, dest_id, confirmed, None)
                        log.info("SIEM destination %s delivers again", target.name)
                    failures = 0
                    state.sent_seq, state.head_seq, state.error = confirmed, head, None
                    # A full batch: more wait, go on at once (the confirmation follows
                    # the sending by ``interval``); otherwise wait for new events.
                    await asyncio.sleep(0 if len(rows) == BATCH else self.interval)
                except DeliveryError as exc:
                    if link is not None:
                        await link.close()
                    link, sent = None, confirmed  # the unconfirmed go again
                    inflight.clear()
                    failures += 1
                    if dest_id in self.states:
                        self.states[dest_id].error = str(exc)
                    if failures == 1:
                        log.warning("SIEM destination %s: %s (will retry)", dest_id, exc)
                    with contextlib.suppress(asyncpg.PostgresError, OSError, StrongroomError):
                        await self._save(org_id, dest_id, confirmed, str(exc))
                    await asyncio.sleep(min(MAX_BACKOFF, self.interval * 2**failures))
                except (asyncpg.PostgresError, OSError, StrongroomError) as exc:
                    log.warning("SIEM forwarding of %s paused: %s", dest_id, exc)
                    await asyncio.sleep(self.interval * 4)
        finally:
            if link is not None:
                await link.close()

    async def _save(
        self, org_id: uuid.UUID, dest_id: uuid.UUID, sent_seq: int, error: str | None
    ) -> None:
        async with db.transaction(self.env.pool, org_id) as tx:
            if error is None:
                await tx.execute(
                    "UPDATE siem_cursors SET sent_seq = greatest(sent_seq, $2), "
                    "sent_at = CASE WHEN sent_seq < $2 THEN now() ELSE sent_at END, "
                    "failures = 0, last_error = NULL WHERE destination_id = $1",
                    dest_id,
                    sent_seq,
                )
            else:
                await tx.execute(
                    "UPDATE siem_cursors SET failures = failures + 1, last_error = $2, "
                    "last_error_at = now() WHERE destination_id = $1",
                    dest_id,
                    error,
                )


YIELD_EVERY = 50  # messages built between two yields to the requests' event loop


async def _messages(target: Target, rows: list[asyncpg.Record], hostname: str) -> list[bytes]:
    """The syslog messages of a batch, built a slice at a time: the event loop serves the
    requests waiting between two slices (a batch of 500 is some 20 ms of work), so
    forwarding never holds a request up for a whole batch (issue 31: forwarding never
    delays a request)."""
    org_id = str(target.org_id)
    messages: list[bytes] = []
    for start in range(0, len(rows), YIELD_EVERY):
        if start:
            await asyncio.sleep(0)
        messages.extend(
            siem_stream.syslog_message(
                key=target.verify_key,
                event=_event(target, row, org_id),
                body_format=target.body_format,
                hostname=hostname,
                version=VERSION,
            )
            for row in rows[start : start + YIELD_EVERY]
        )
    return messages


def _where(target: Target) -> tuple[Any, ...]:
    """What a link depends on: an edit of any of these reconnects."""
    return (
        target.host,
        target.port,
        target.transport,
        target.ca_pem,
        target.client_cert_pem,
        target.client_key_pem,
    )


async def _pending(tx: db.Tx, org_id: uuid.UUID, after: int) -> tuple[list[asyncpg.Record], int]:
    rows = await tx.fetch(
        "SELECT l.seq, l.prev_hash, l.hash, e.* FROM audit_links l "
        "JOIN audit_events e ON e.id = l.event_id WHERE l.org_id = $1 AND l.seq > $2 "
        "ORDER BY l.seq LIMIT $3",
        org_id,
        after,
        BATCH,
    )
    head = await tx.fetchval("SELECT seq FROM audit_heads WHERE org_id = $1", org_id)
    return rows, int(head or 0)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


TEST_NOT_DELIVERED = "the test message was not delivered: check the destination and the receiver"


def coarse_error(org: OrgRef, detail: str) -> str:
    """A delivery error as the actor may read it (the test call's answer, a destination's
    ``last_error``): MSPOrg's administrators get the detail (connection refused, timeout,
    certificate); a client org's a generic reason, so a destination cannot map the MSP's
    network port by port (attacker finding 3)."""
    return detail if org.is_msp else TEST_NOT_DELIVERED


async def update_destination(
    env: Env, actor: Actor, org_name: OrgArg, dest: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Edit a destination: host, port, transport, format, its CAs, its client certificate
    (with its key), enabled. Absent fields are kept. Issue 31, item 1.

    The cursor is kept: the edited destination continues the chain where the old one was
    (the receiver behind the new address gets the events after ``sent_seq``; to send the
    whole chain to a new receiver, add a destination with ``start`` "beginning"). The last
    error and the failure count are cleared when the connection changed (they were the old
    connection's); the forwarder reconnects at once and sends the unconfirmed events
    again. A transport other than tls drops the stored CAs and client certificate. The new
    host passes the outbound rule (``outbound.refuse_forbidden``). Audited as
    ``siem_destination_changed`` with the fields changed and their new values (never the
    client key).

    Args:
        changes: a subset of host, port, transport, format, ca_pem, client_cert_pem,
            client_key_pem (a new certificate comes with its key; "" for both removes
            them), enabled.
    Raises:
        Forbidden ``siem_own_administrators``; NotFound; ValidationFailed for a malformed
        host or certificate, a key without its certificate, or ``destination_not_allowed``.
    """
    dest_id = _dest_id(dest)
    async with db.transaction(env.pool, actor.org_id) as tx:
        org = await enter_org(tx, actor, org_name)
        require_own_administrator(actor, org)
        row = await tx.fetchrow(
            "SELECT * FROM siem_destinations WHERE org_id = $1 AND id = $2 FOR UPDATE",
            org.id,
            dest_id,
        )
        if row is None:
            raise NotFound("no such SIEM destination")
        new = _edited(row, changes)
        if (new["host"], new["port"]) != (row["host"], row["port"]):
            await outbound.refuse_forbidden(
                "host", new["host"], new["port"], env.config.outbound.allow_loopback
            )
        sealed_client = row["client_key"]
        if new["client_key_pem"] is not None:
            sealed_client = None
            if new["client_key_pem"]:
                sealed_client = await env.ring.encrypt(
                    tx, org.id, TABLE, dest_id, "client_key", new["client_key_pem"]
                )
        changed = sorted(
            name
            for name, column in _EDITABLE.items()
            if column != "client_key" and new[name] != row[column]
        )
        if new["client_key_pem"] is not None and (
            new["client_key_pem"] or row["client_key"] is not None
        ):
            changed = sorted({*changed, "client_key_pem"})
        if not changed:
            return await _describe(tx, org, dest_id)
        await tx.execute(
            "UPDATE siem_destinations SET host = $3, port = $4, transport = $5, "
            "body_format = $6, ca_pem = $7, client_cert_pem = $8, client_key = $9, "
            "enabled = $10 WHERE org_id = $1 AND id = $2",
            org.id,
            dest_id,
            new["host"],
            new["port"],
            new["transport"],
            new["format"],
            new["ca_pem"],
            new["client_cert_pem"],
            sealed_client,
            new["enabled"],
        )
        if set(changed) - {"enabled", "format"}:
            await tx.execute(
                "UPDATE siem_cursors SET failures = 0, last_error = NULL, last_error_at = NULL "
                "WHERE destination_id = $1",
                dest_id,
            )
        await recording.writer(tx, env, org.id, actor.who).record(
            "siem_destination_changed",
            "siem_destination",
            row["name"],
            details={
                "changed": [c.removesuffix("_pem") for c in changed],
                "host": new["host"],
                "port": new["port"],
                "transport": new["transport"],
                "format": new["format"],
                "enabled": new["enabled"],
                "own_ca": bool(new["ca_pem"]),
                "client_certificate": bool(new["client_cert_pem"]),
            },
        )
        return await _describe(tx, org, dest_id)


# An edit's field -> its column in siem_destinations.
_EDITABLE = {
    "host": "host",
    "port": "port",
    "transport": "transport",
    "format": "body_format",
    "ca_pem": "ca_pem",
    "client_cert_pem": "client_cert_pem",
    "client_key_pem": "client_key",
    "enabled": "enabled",
}


def _edited(row: asyncpg.Record, changes: dict[str, Any]) -> dict[str, Any]:
    """The destination after ``changes``, checked as a new one is (``_check``);
    ``client_key_pem`` is None when the stored key stays."""
    new: dict[str, Any] = {
        name: changes.get(name, row[column])
        for name, column in _EDITABLE.items()
        if column != "client_key"
    }
    new["client_key_pem"] = changes.get("client_key_pem")
    cert_given = "client_cert_pem" in changes
    if new["client_key_pem"] is not None and not cert_given:
        raise field_error("client_cert_pem", "a new client key needs its certificate: give both")
    if cert_given and not new["client_cert_pem"]:
        if new["client_key_pem"]:
            raise field_error("client_key_pem", "a key needs its certificate")
        new["client_key_pem"] = ""  # the certificate removed: its key too
    if new["transport"] != "tls":
        if "ca_pem" not in changes:
            new["ca_pem"] = ""
        if not cert_given:
            new["client_cert_pem"], new["client_key_pem"] = "", ""
    check = {
        "host": new["host"],
        "transport": new["transport"],
        "ca_pem": new["ca_pem"],
        "client_cert_pem": new["client_cert_pem"] if cert_given else "",
        "client_key_pem": new["client_key_pem"] if cert_given else "",
    }
    _check(check)
    return new
