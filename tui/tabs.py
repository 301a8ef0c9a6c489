"""What the user may do in the org being worked in, as the server says (``GET /me``'s
``capabilities``: org display name → capability names), and which main-screen tabs that
leaves.

The server decides every request; the TUI only hides what could only answer
"forbidden", from the capabilities the server lists for the org (server/core/
permissions.py ``ORG_CAPABILITIES``), never from role names, so a custom role sees
exactly what its permissions allow. Client users never see the MSP's Organizations tab.
Everyone keeps Access: their check-outs and the ones they approve are there (its org
access keys need ``manage_orgs``). The Audit tab needs ``read_audit``, the Users tab
``manage_users``, the Settings tab (roles, types, fields, audit settings) one that changes
them: ``manage_users``, ``manage_vault`` or ``administer``. Tabs not named here are shown to
everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.core.permissions import (  # shared plain data
    ADMINISTER,
    MANAGE_USERS,
    MANAGE_VAULT,
    READ_AUDIT,
)

MSP_ORG = "msporg"
SETTINGS_CAPABILITIES = frozenset({MANAGE_USERS, MANAGE_VAULT, ADMINISTER})


def capabilities_in(me: Mapping[str, Any], org: str | None) -> frozenset[str]:
    """The capability names the user ``me`` (the answer of ``GET /me``) has in ``org`` (a
    display name; None or '': the user's home org). Display names are matched as the
    server matches them, case aside; an org the answer does not list gives none."""
    by_org: dict[str, list[str]] = me.get("capabilities") or {}
    name = org or me.get("org") or ""
    if name in by_org:
        return frozenset(by_org[name])
    for listed, capabilities in by_org.items():
        if listed.lower() == name.lower():
            return frozenset(capabilities)
    return frozenset()


def hidden_tabs(me: Mapping[str, Any], org: str | None = None) -> dict[str, str]:
    """Tab id → why it is hidden, for the user ``me`` (the answer of ``GET /me``) working
    in ``org`` (default: its home org)."""
    capabilities = capabilities_in(me, org)
    hidden: dict[str, str] = {}
    if str(me.get("org", "")).lower() != MSP_ORG:
        hidden["orgs"] = "Organizations are managed by the MSP's staff."
    if READ_AUDIT not in capabilities:
        hidden["audit"] = "Reading the audit trail needs a role that reads it."
    if MANAGE_USERS not in capabilities:
        hidden["users"] = "Managing users needs a role that manages them."
    if not capabilities & SETTINGS_CAPABILITIES:
        hidden["settings"] = "Org settings need an administrator role."
    return hidden
