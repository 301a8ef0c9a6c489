"""Connectors: one module per kind of target behind one interface (base.py). ``CONNECTORS``
lists the ones the server offers, by the name a resource's connection stores (issue 29)."""

from __future__ import annotations

from server.services.connectors.base import Connector, Login, Target, TargetError
from server.services.connectors.ldap import LdapConnector
from server.services.connectors.mysql import MySqlConnector
from server.services.connectors.postgres import PostgresConnector
from server.services.connectors.ssh import SshConnector

CONNECTORS: dict[str, Connector] = {
    c.name: c for c in (SshConnector(), PostgresConnector(), MySqlConnector(), LdapConnector())
}

__all__ = ["CONNECTORS", "Connector", "Login", "Target", "TargetError", "get"]


def get(name: str) -> Connector | None:
    """The connector named ``name`` (as a resource's connection stores it), or None."""
    return CONNECTORS.get(name)
