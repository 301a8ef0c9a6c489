"""Roles and what each may do: the one place role rules live."""

from __future__ import annotations

PRIVILEGED_ADMINISTRATOR = "privileged_administrator"
ADMINISTRATOR = "administrator"
PASSWORD_ADMINISTRATOR = "password_administrator"  # noqa: S105 - a role name
PASSWORD_AUDITOR = "password_auditor"  # noqa: S105 - a role name
PASSWORD_USER = "password_user"  # noqa: S105 - a role name

ROLES = (
    PRIVILEGED_ADMINISTRATOR,
    ADMINISTRATOR,
    PASSWORD_ADMINISTRATOR,
    PASSWORD_AUDITOR,
    PASSWORD_USER,
)
ADMIN_ROLES = frozenset({PRIVILEGED_ADMINISTRATOR, ADMINISTRATOR})
ACCOUNT_MANAGER_ROLES = frozenset({PRIVILEGED_ADMINISTRATOR, ADMINISTRATOR, PASSWORD_ADMINISTRATOR})
AUDIT_READER_ROLES = frozenset({PRIVILEGED_ADMINISTRATOR, ADMINISTRATOR, PASSWORD_AUDITOR})
RESOURCE_CREATOR_ROLES = frozenset(
    {PRIVILEGED_ADMINISTRATOR, ADMINISTRATOR, PASSWORD_ADMINISTRATOR}
)
VAULT_MANAGER_ROLES = RESOURCE_CREATOR_ROLES  # resource groups and password policies
SCOPES = ("owned_and_shared", "all")


def can_manage_users(role: str) -> bool:
    """Administrators manage users and groups."""
    return role in ADMIN_ROLES


def can_assign_role(actor_role: str, role: str) -> bool:
    """Only a privileged administrator may make another privileged administrator."""
    if role == PRIVILEGED_ADMINISTRATOR:
        return actor_role == PRIVILEGED_ADMINISTRATOR
    return actor_role in ADMIN_ROLES


def can_grant_scope_all(actor_role: str) -> bool:
    """Only a privileged administrator may give the super-administrator scope."""
    return actor_role == PRIVILEGED_ADMINISTRATOR


def can_read_audit(role: str) -> bool:
    """Administrators and auditors read the audit trail."""
    return role in AUDIT_READER_ROLES
