"""Refused attempts in the audit trail (issue #26 item 9; OWASP ASVS 4.0 V7.1.3/V7.2.2,
V4.1: failed access-control decisions are logged).

The one home of "which refusal is security-relevant" (``is_security_relevant``, with the
rule codes in ``RULE_CODES``) and of how refusals are recorded: as ``access_denied``
events in the actor's org (MSPOrg for an unauthenticated caller), aggregated so a flood
cannot fill the trail.

Aggregation: a refusal is keyed by (org, actor, status, code, method, route pattern).
The first refusal of a key is recorded at once (count 1) and opens a window
(``security.denials_window_seconds``); the key's later refusals in that window are only
counted, and recorded as one event with their count when the window closes (``flush``,
run by ``run_flusher`` and once more when the server stops). A key whose window closed
with refusals opens a new window at once, so a steady flood costs one event per window.
The table holds at most ``security.denials_max_keys`` keys; a refusal of a new key past
that bound is counted under one ``access_denied_overflow`` key instead (recorded in
MSPOrg). So the number of events is bounded by keys x windows, never by requests.

An event names the refusal's code, status, method, route pattern and path (which names
orgs and objects, never a secret); never a query string, a body or a header. An org may
mark ``access_denied`` as an alert (audit operation settings, ``GET …/audit/alerts``).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from server.core.errors import StrongroomError
from server.services import recording
from server.services.access import MSP_ORG, msp_org_id
from server.services.context import Actor, Env
from server.store import audit, db
from server.store.audit import Who

log = logging.getLogger(__name__)

# Codes whose meaning is "refused by a rule" (dual control, the client's consent, check-out,
# approver independence, protected accounts and orgs), whatever their status (403, 409 or
# 422). Any 403 counts anyway; list here a 409/422 code that refuses by a rule, never one
# that reports the caller's own typing (validation_failed, password_policy_violation, ...).
RULE_CODES = frozenset(
    {
        "dual_control_required",
        "approver_not_eligible",
        "proposer_is_designee",
        "no_eligible_approver",
        "account_manager_not_eligible",
        "client_confirms",
        "checkout_required",
        "checked_out",
        "vault_control_locked",
        "chain_too_deep",
        "last_privileged_administrator",
        "msp_org_protected",
        "builtin_role",
        "current_password_required",
        "session_required",
    }
)

UNAUTHENTICATED = "(unauthenticated)"  # the actor of a refusal before anyone was known
SYSTEM = "system"
MAX_PATHS = 5  # distinct paths kept per aggregated event
MAX_PATH_CHARS = 256


@dataclass(frozen=True)
class Refusal:
    """One refused request, as the web layer saw it.

    Attributes:
        status, code: the answer's HTTP status and stable code.
        method: the HTTP method; route: the matched route's pattern
            (``/api/v1/orgs/{org}/accounts/{id}``), "" when no route matched.
        path: the request's path (no query string).
        actor: the authenticated caller, or None.
        ip: the caller's address.
        node_route: the route is node-to-node (only the peer node, with the cluster
            secret, may call it).
    """

    status: int
    code: str
    method: str
    route: str
    path: str
    actor: Actor | None
    ip: str
    node_route: bool = False


def is_security_relevant(refusal: Refusal) -> bool:
    """Whether a refusal is a failed access-control decision worth an audit event.

    Yes: every 403; any answer whose code is a rule's refusal (``RULE_CODES``); a 404
    on a route that names an org or an object (a path parameter) to an authenticated
    caller (someone else's, or hidden from it); a 401 on a node-to-node route.
    No: validation errors of the caller's own input, a 404 of a path no route matches,
    an ordinary 401 (failed logins are recorded as ``login_failed`` by services/auth.py).
    Source: issue #26 item 9; OWASP ASVS 4.0 V7.1.3, V7.2.2.
    """
    if refusal.code in RULE_CODES or refusal.status == 403:
        return True
    if refusal.status == 404:
        return refusal.actor is not None and "{" in refusal.route
    if refusal.status == 401:
        return refusal.node_route
    return False


_Key = tuple[uuid.UUID | None, str, str, int, str, str, str]


@dataclass
class _Tally:
    """What one key saw in its open window that is not yet recorded."""

    who: Who
    org_id: uuid.UUID | None  # None: MSPOrg (looked up when recorded)
    status: int
    code: str
    method: str
    route: str
    window_ends: float
    count: int = 0
    first_at: datetime.datetime | None = None
    last_at: datetime.datetime | None = None
    paths: list[str] = field(default_factory=list)

    def add(self, path: str, now: datetime.datetime) -> None:
        self.count += 1
        self.first_at = self.first_at or now
        self.last_at = now
        if path not in self.paths and len(self.paths) < MAX_PATHS:
            self.paths.append(path)


class DenialLog:
    """The in-memory table of open windows (one per server process); see the module
    docstring. ``clock`` is monotonic seconds (replaceable in tests)."""

    def __init__(
        self, window_seconds: float, max_keys: int, clock: Callable[[], float] | None = None
    ) -> None:
        self.window = window_seconds
        self.max_keys = max_keys
        self._clock = clock or time.monotonic
        self._open: dict[_Key, _Tally] = {}
        self._overflow: _Tally | None = None
        self._msp_id: uuid.UUID | None = None
        self._lock = asyncio.Lock()  # flushes one at a time

    def __len__(self) -> int:
        return len(self._open)

    async def note(self, env: Env, refusal: Refusal) -> None:
        """Count a refusal; record it at once when it opens its key's window (and it is
        security-relevant: ``is_security_relevant``). Never raises: a refusal is answered
        whether or not its event could be written (a failure is logged)."""
        if not is_security_relevant(refusal):
            return
        actor = refusal.actor
        if actor is not None:
            who, org_id = actor.who, actor.org_id
        else:
            who, org_id = Who(UNAUTHENTICATED, MSP_ORG, refusal.ip[:64]), None
        key: _Key = (
            org_id,
            who.actor if actor is not None else who.ip,
            who.actor_org,
            refusal.status,
            refusal.code,
            refusal.method,
            refusal.route,
        )
        now = _now()
        path = refusal.path[:MAX_PATH_CHARS]
        tally = self._open.get(key)
        if tally is not None:
            tally.add(path, now)
            return
        if len(self._open) >= self.max_keys:
            await self._note_overflow(env, now)
            return
        # Opened before any await, so concurrent refusals of the same key are counted.
        self._open[key] = _Tally(
            who,
            org_id,
            refusal.status,
            refusal.code,
            refusal.method,
            refusal.route,
            self._clock() + self.window,
        )
        first = _Tally(who, org_id, refusal.status, refusal.code, refusal.method, refusal.route, 0)
        first.add(path, now)
        await self._record(env, first)

    async def _note_overflow(self, env: Env, now: datetime.datetime) -> None:
        if self._overflow is not None:
            self._overflow.count += 1
            self._overflow.last_at = now
            return
        self._overflow = _Tally(
            Who(SYSTEM, MSP_ORG), None, 0, "", "", "", self._clock() + self.window
        )
        first = _Tally(Who(SYSTEM, MSP_ORG), None, 0, "", "", "", 0)
        first.add("", now)
        await self._record(env, first, overflow=True)

    async def flush(self, env: Env, everything: bool = False) -> int:
        """Record the counted refusals of every window that has closed (of every window
        with ``everything``: the server is stopping), one event per key; keys whose
        window closed with nothing counted are dropped. Returns the events recorded.
        Never raises (a failure is logged; those counts are lost)."""
        async with self._lock:
            now = self._clock()
            due = [
                (key, tally)
                for key, tally in self._open.items()
                if everything or tally.window_ends <= now
            ]
            written = 0
            for key, tally in due:
                if tally.count == 0 or everything:
                    del self._open[key]
                else:  # still refused: a new window opens, counted from zero
                    self._open[key] = _Tally(
                        tally.who,
                        tally.org_id,
                        tally.status,
                        tally.code,
                        tally.method,
                        tally.route,
                        now + self.window,
                    )
                if tally.count:
                    written += await self._record(env, tally)
            overflow = self._overflow
            if overflow is not None and (everything or overflow.window_ends <= now):
                self._overflow = None
                if overflow.count:
                    written += await self._record(env, overflow, overflow=True)
            return written

    async def _record(self, env: Env, tally: _Tally, overflow: bool = False) -> int:
        try:
            org_id = tally.org_id or await self._msp(env)
            event = _event(tally, self, overflow)
            await recording.record(env, org_id, event)
            return 1
        except (StrongroomError, audit.AuditError, asyncpg.PostgresError, OSError) as exc:
            log.error("a refused request could not be recorded in the audit trail: %s", exc)
            return 0

    async def _msp(self, env: Env) -> uuid.UUID:
        if self._msp_id is None:
            async with db.transaction(env.pool, readonly=True) as conn:
                self._msp_id = await msp_org_id(conn)
        return self._msp_id


def _event(tally: _Tally, denials: DenialLog, overflow: bool) -> audit.Event:
    """The audit event of a tally (``access_denied`` or ``access_denied_overflow``)."""
    times = {
        "count": tally.count,
        "first_at": tally.first_at.isoformat() if tally.first_at else None,
        "last_at": tally.last_at.isoformat() if tally.last_at else None,
        "window_seconds": denials.window,
    }
    if overflow:
        return audit.Event(
            tally.who,
            "access_denied_overflow",
            outcome="failure",
            reason="too_many_denials",
            details={**times, "max_keys": denials.max_keys},
        )
    return audit.Event(
        tally.who,
        "access_denied",
        "route",
        f"{tally.method} {tally.route}"[:300],
        outcome="failure",
        reason=tally.code,
        details={
            **times,
            "code": tally.code,
            "status": tally.status,
            "method": tally.method,
            "route": tally.route,
            "paths": list(tally.paths),
        },
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def run_flusher(env: Env, denials: DenialLog) -> None:
    """Flush closed windows forever (a few times per window, at most once a second)."""
    interval = min(max(denials.window / 4, 0.05), 1.0)
    while True:
        await asyncio.sleep(interval)
        try:
            await denials.flush(env)
        except Exception:  # flush logs its own failures; never let the task die
            log.exception("flushing refused-request counts failed (will retry)")
