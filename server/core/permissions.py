"""Roles and what each may do: the one place role rules live.

Five built-in roles (PMP semantics) and, per org, custom roles built from the same
permissions (``CAPABILITIES``). A check takes a role name (built-in roles only) or
anything with a ``capabilities`` set (an ``Actor``, whose custom role was resolved when
it authenticated). Custom roles never make an administrator in the dual-control sense:
approving org access, managing orgs and being an account manager stay with the built-in
administrator roles.
"""

from __future__ import annotations

import unicodedata
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
# Authority a custom role never gives (built-in roles only), named so that answers such as
# GET /me can list it next to the capabilities above.
ADMINISTER = "administer"  # a built-in administrator of the org (audit settings, holds, ...)
MANAGE_ORGS = "manage_orgs"  # an MSPOrg administrator: orgs, org access, cluster, replication
ORG_CAPABILITIES = (*CAPABILITIES, ADMINISTER, MANAGE_ORGS)  # what GET /me may list
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


def is_administrator(who: Any) -> bool:
    """Whether ``who`` (a role name, or an actor by its role) is a built-in administrator,
    privileged or not. A custom role never is, whatever its capabilities (DESIGN.md §3:
    approving org access, managing orgs and account management stay with built-in roles)."""
    return getattr(who, "role", who) in ADMIN_ROLES


def is_privileged_administrator(who: Any) -> bool:
    """Whether ``who`` (a role name, or an actor by its role) is a privileged administrator."""
    role: str = getattr(who, "role", who)
    return role == PRIVILEGED_ADMINISTRATOR


def can_administer_msp(actor: Any) -> bool:
    """MSPOrg's built-in administrators manage orgs, org access, the cluster and the
    settings replicated to client orgs (``actor``: anything with ``org_is_msp`` and ``role``)."""
    return bool(actor.org_is_msp) and is_administrator(actor)


def capabilities_in(actor: Any, org_is_msp: bool, via: str) -> frozenset[str]:
    """What ``actor`` may do in an org it reaches ``via`` (home, account_manager, grant):
    inside an org it acts with its own role, so its role's capabilities (a custom role's
    included), plus ``administer`` for a built-in administrator and ``manage_orgs`` for an
    MSPOrg administrator. ``org_is_msp`` and ``via`` are the org's, for rules that differ
    by org (none yet)."""
    caps = set(capabilities_of(actor))
    if is_administrator(actor):
        caps.add(ADMINISTER)
    if can_administer_msp(actor):
        caps.add(MANAGE_ORGS)
    return frozenset(caps)


def can_assign_role(actor: Any, role: str, role_capabilities: frozenset[str] | None = None) -> bool:
    """Only a privileged administrator may make another privileged administrator, only a
    built-in administrator another administrator; a user manager gives the others when it
    holds every permission they give (``role_capabilities``, a custom role's; a built-in
    role's by default). The rule is ``role_assignment_refusal``'s."""
    if role_capabilities is None:
        role_capabilities = capabilities_of(role)
    return role_assignment_refusal(actor, role, role_capabilities) is None


def can_grant_scope_all(actor: Any) -> bool:
    """Only a privileged administrator may give the super-administrator scope (``actor``:
    a role name or an actor)."""
    return is_privileged_administrator(actor)


def can_read_audit(who: Any) -> bool:
    """Administrators and auditors (or custom roles so made) read the audit trail."""
    return READ_AUDIT in capabilities_of(who)


# Look-alikes an administrator would read as a built-in role's name (a small skeleton in
# the spirit of Unicode TS #39 §4: NFKC, case fold, digits that pass for letters).
_LOOKALIKE = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "|": "l"})


def _skeleton(name: str) -> str:
    folded = unicodedata.normalize("NFKC", name).casefold().translate(_LOOKALIKE)
    letters = "".join(c for c in folded if c.isalnum())
    return letters.replace("i", "l")  # "admin1strator", "admlnistrator"


_BUILTIN_SKELETONS = frozenset(_skeleton(r) for r in ROLES)


# Words that claim an administrator's authority, which a custom role never has
# (skeletons: "admin", "privileged", "superuser").
_AUTHORITY_WORDS = tuple(_skeleton(w) for w in ("admin", "privileged", "superuser"))


def imitates_builtin(name: str) -> bool:
    """Whether a custom role's ``name`` would read as a built-in role's or as an
    administrator's: once case, width, separators, invisible characters and digit
    look-alikes are set aside, it contains a built-in role's name ("Administrator",
    "privileged-administrator", "ADM1NISTRATOR", "password users") or a word that claims
    an administrator's authority ("Admin", "administrator2", "PrivAdmin", "superadmin",
    "privileged_ops", "SuperUser"). Custom roles and replicated roles refuse such names:
    a custom role is never an administrator (DESIGN.md §3), and one that reads like one
    would pass for it in every list an approver reads (issue 26, item 11 and its attack
    pass)."""
    skeleton = _skeleton(name)
    return any(word in skeleton for word in (*_BUILTIN_SKELETONS, *_AUTHORITY_WORDS))


# -- who may act on whom (#26: a custom role with manage_users is no administrator) ----


def missing_capabilities(actor: Any, capabilities: frozenset[str] | set[str]) -> frozenset[str]:
    """The permissions in ``capabilities`` that ``actor`` (an actor or a built-in role
    name) does not hold itself: what it would give away if it granted them."""
    return frozenset(capabilities) - capabilities_of(actor)


def act_on_refusal(actor: Any, target_role: str, target_capabilities: frozenset[str]) -> str | None:
    """Why ``actor`` may not act on a user holding ``target_role`` with
    ``target_capabilities`` (its role's permissions, a custom role's from its org), or
    None when it may. Acting is any change to another user: its profile, role, scope,
    status, password, two-factor rule, confirmation or deletion.

    A built-in administrator may (its own rules, e.g. for privileged administrators, still
    apply); anyone else never acts on a built-in administrator, and acts on a user only if
    that user can do nothing the actor cannot (issue #26 item 3: a custom role with
    manage_users demoted a founder and reset an administrator's password; OWASP ASVS
    V4.1.3, least privilege)."""
    if is_administrator(actor):
        return None
    if is_administrator(target_role):
        return f"it holds the built-in role {target_role}, which only administrators manage"
    missing = missing_capabilities(actor, target_capabilities)
    if missing:
        return f"its role {target_role} gives {', '.join(sorted(missing))}, which you do not hold"
    return None


def may_act_on(actor: Any, target_role: str, target_capabilities: frozenset[str]) -> bool:
    """Whether ``actor`` may change or delete a user holding ``target_role`` (with
    ``target_capabilities``); see ``act_on_refusal`` for the rule."""
    return act_on_refusal(actor, target_role, target_capabilities) is None


def role_assignment_refusal(
    actor: Any, role: str, role_capabilities: frozenset[str]
) -> tuple[str, str] | None:
    """Why ``actor`` may not give a user ``role`` (whose permissions are
    ``role_capabilities``; a custom role's from the org's roles), as ``(code, message)``,
    or None when it may.

    The first reason that holds, in this order: ``forbidden`` when the actor manages no
    users at all; ``forbidden`` for a privileged administrator role (only a privileged
    administrator gives it) or an administrator role (only a built-in administrator);
    ``permission_not_held`` when the role gives permissions the actor lacks (nobody grants
    a permission it does not have; issue #26 items 3 and 11)."""
    if not can_manage_users(actor):
        return "forbidden", "only administrators manage users and groups"
    if is_privileged_administrator(role) and not is_privileged_administrator(actor):
        return "forbidden", f"only a privileged administrator may assign the role {role}"
    if is_administrator(role) and not is_administrator(actor):
        return "forbidden", f"only a built-in administrator may assign the role {role}"
    missing = missing_capabilities(actor, role_capabilities)
    if missing:
        return (
            "permission_not_held",
            f"you may not assign the role {role}: it gives {', '.join(sorted(missing))}, "
            "which you do not hold",
        )
    return None
