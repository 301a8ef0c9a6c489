"""What a request's service call needs: the shared environment and the acting user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg

from server.core.config import Config
from server.core.permissions import BUILTIN_CAPABILITIES
from server.node.local_state import LocalState
from server.node.mode import Node
from server.node.spool import AuditSpool
from server.security.passwords import PasswordHasher
from server.security.ratelimit import LoginThrottle
from server.store.anchors import AnchorLog
from server.store.audit import Who
from server.store.keyring import KeyRing

if TYPE_CHECKING:
    from server.store.db import Batcher


@dataclass
class Env:
    """Long-lived collaborators shared by every service call."""

    config: Config
    pool: asyncpg.Pool
    ring: KeyRing
    hasher: PasswordHasher
    throttle: LoginThrottle
    node_state: Node
    spool: AuditSpool
    reveals: Batcher  # concurrent reveals, one statement (server/services/entitlement.py)
    authentications: Batcher  # concurrent token checks, one statement (services/auth.py)
    orgs_by_name: Batcher  # concurrent org lookups, one statement (services/access.py)
    token_reveals: Batcher  # concurrent reveals with their token checks (services/vault.py)
    anchors: AnchorLog  # the audit chain heads, outside the database (server/store/anchors.py)
    local: LocalState = field(default_factory=LocalState)

    @property
    def node(self) -> str:
        """This node's name, recorded in audit events."""
        return self.config.node.name


@dataclass(frozen=True)
class Actor:
    """The authenticated user behind a request."""

    user_id: uuid.UUID
    username: str
    org_id: uuid.UUID
    org: str
    org_is_msp: bool
    role: str
    access_scope: str
    ip: str
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    must_change_password: bool = False
    totp_setup_required: bool = False
    custom_capabilities: frozenset[str] | None = None  # a custom role's permissions
    local_session: bool = False  # a session this node keeps in memory (node/local_state.py)

    @property
    def capabilities(self) -> frozenset[str]:
        """What this actor's role permits (server/core/permissions.py)."""
        if self.custom_capabilities is not None:
            return self.custom_capabilities
        return BUILTIN_CAPABILITIES.get(self.role, frozenset())

    @property
    def who(self) -> Who:
        """How this actor appears in the audit trail."""
        return Who(self.username, self.org, self.ip)
