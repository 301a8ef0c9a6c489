"""Roles and what each may do: the one place role rules live.

Five built-in roles (PMP semantics) and, per org, custom roles built from the same
permissions (``CAPABILITIES``). A check takes a role name (built-in roles only) or
anything with a ``capabilities`` set (an ``Actor``, whose custom role was resolved when
it authenticated). Custom roles never make an administrator in the dual-control sense:
approving org access, managing orgs and being an account manager stay with the built-in
administrator roles.
"""

from __future__ import annotations

from typing import Any

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

MANAGE_USERS = "manage_users"  # users and user groups of the org
READ_AUDIT = "read_audit"  # the audit trail and reports
ADD_RESOURCES = "add_resources"  # add resources (then owned)
MANAGE_VAULT = "manage_vault"  # resource groups, password policies, types, fields
CAPABILITIES = (MANAGE_USERS, READ_AUDIT, ADD_RESOURCES, MANAGE_VAULT)
BUILTIN_CAPABILITIES: dict[str, frozenset[str]] = {
    PRIVILEGED_ADMINISTRATOR: frozenset(CAPABILITIES),
    ADMINISTRATOR: frozenset(CAPABILITIES),
    PASSWORD_ADMINISTRATOR: frozenset({ADD_RESOURCES, MANAGE_VAULT}),
    PASSWORD_AUDITOR: frozenset({READ_AUDIT}),
    PASSWORD_USER: frozenset(),
}


def capabilities_of(who: Any) -> frozenset[str]:
    """The permissions of a built-in role name, or of an actor (custom roles included)."""
    if isinstance(who, str):
        return BUILTIN_CAPABILITIES.get(who, frozenset())
    capabilities: frozenset[str] = who.capabilities
    return capabilities


def is_builtin(role: str) -> bool:
    """Whether ``role`` is one of the five built-in roles."""
    return role in BUILTIN_CAPABILITIES


def can_manage_users(who: Any) -> bool:
    """Administrators (and custom roles with manage_users) manage users and groups."""
    return MANAGE_USERS in capabilities_of(who)


def can_add_resources(who: Any) -> bool:
    """Administrators and password administrators (or custom roles so made) add resources."""
    return ADD_RESOURCES in capabilities_of(who)


def can_manage_vault(who: Any) -> bool:
    """Resource groups, password policies, resource types and field definitions."""
    return MANAGE_VAULT in capabilities_of(who)


def can_assign_role(actor: Any, role: str) -> bool:
    """Only a privileged administrator may make another privileged administrator, only a
    built-in administrator another administrator; any user manager gives the others."""
    actor_role: str = getattr(actor, "role", actor)
    if role == PRIVILEGED_ADMINISTRATOR:
        return actor_role == PRIVILEGED_ADMINISTRATOR
    if role in ADMIN_ROLES:  # a custom role never makes an administrator
        return actor_role in ADMIN_ROLES
    return can_manage_users(actor)


def can_grant_scope_all(actor_role: str) -> bool:
    """Only a privileged administrator may give the super-administrator scope."""
    return actor_role == PRIVILEGED_ADMINISTRATOR


def can_read_audit(who: Any) -> bool:
    """Administrators and auditors (or custom roles so made) read the audit trail."""
    return READ_AUDIT in capabilities_of(who)
