"""Which main-screen tabs a user can use, decided from ``GET /me`` (org and role).

A tab that could only answer "forbidden" is hidden: client users never see the MSP's
Organizations tab. Everyone keeps Access: their check-outs and the ones they approve are
there (its org access keys are the MSP administrators' only). The Audit tab needs a role
that reads the audit trail, the Users tab one that manages users, the Settings tab (roles,
types, fields, audit settings) one that manages users or resources. A custom role's
permissions are the server's to check, so its users see those tabs. Tabs not named here
are shown to everyone.
"""

from __future__ import annotations

from server.core.permissions import (  # shared plain data
    ADMIN_ROLES,
    AUDIT_READER_ROLES,
    RESOURCE_CREATOR_ROLES,
    ROLES,
)

MSP_ORG = "msporg"


def hidden_tabs(me: dict) -> dict[str, str]:
    """Tab id → why it is hidden, for the user ``me`` (the answer of ``GET /me``)."""
    role = me.get("role", "")
    custom = role not in ROLES
    hidden: dict[str, str] = {}
    if str(me.get("org", "")).lower() != MSP_ORG:
        hidden["orgs"] = "Organizations are managed by the MSP's staff."
    if not custom and role not in AUDIT_READER_ROLES:
        hidden["audit"] = "Reading the audit trail needs an administrator or auditor role."
    if not custom and role not in ADMIN_ROLES:
        hidden["users"] = "Managing users needs an administrator role."
    if not custom and role not in ADMIN_ROLES | RESOURCE_CREATOR_ROLES:
        hidden["settings"] = "Org settings need an administrator role."
    return hidden
