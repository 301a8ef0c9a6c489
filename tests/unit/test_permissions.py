"""The pure role rules of server/core/permissions.py that issue #26 added: who acts on
whom, who gives which role, and role names that read as a built-in's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from server.core import permissions as p


def _custom(*capabilities: str) -> SimpleNamespace:
    """An actor holding a custom role with ``capabilities``."""
    return SimpleNamespace(role="Desk", capabilities=frozenset(capabilities), org_is_msp=True)


def _builtin(role: str) -> SimpleNamespace:
    return SimpleNamespace(role=role, capabilities=p.BUILTIN_CAPABILITIES[role], org_is_msp=True)


DESK = _custom(p.MANAGE_USERS)
FULL_WIDTH = "".join(chr(ord(c) + 0xFEE0) for c in "Administrator")  # full-width letters


@pytest.mark.parametrize("role", sorted(p.ADMIN_ROLES))
def test_a_custom_role_never_acts_on_a_builtin_administrator(role):
    everything = _custom(*p.CAPABILITIES)
    reason = p.act_on_refusal(everything, role, p.capabilities_of(role))
    assert reason and role in reason
    assert not p.may_act_on(everything, role, p.capabilities_of(role))


def test_acting_on_needs_every_capability_of_the_target():
    assert p.may_act_on(DESK, p.PASSWORD_USER, frozenset())
    assert p.may_act_on(DESK, "Desk", frozenset({p.MANAGE_USERS}))
    reason = p.act_on_refusal(DESK, p.PASSWORD_AUDITOR, frozenset({p.READ_AUDIT}))
    assert reason and "read_audit" in reason
    assert not p.may_act_on(DESK, "Readers", frozenset({p.READ_AUDIT, p.MANAGE_USERS}))


@pytest.mark.parametrize("role", sorted(p.ADMIN_ROLES))
def test_builtin_administrators_act_on_anyone(role):
    actor = _builtin(role)
    for target in p.ROLES:
        assert p.may_act_on(actor, target, p.capabilities_of(target))


@pytest.mark.parametrize(
    ("actor", "role", "capabilities", "code", "says"),
    [
        (_builtin(p.PASSWORD_USER), p.PASSWORD_USER, frozenset(), "forbidden", "manage users"),
        (_builtin(p.PASSWORD_AUDITOR), p.ADMINISTRATOR, None, "forbidden", "manage users"),
        (DESK, p.ADMINISTRATOR, None, "forbidden", "built-in administrator"),
        (DESK, p.PRIVILEGED_ADMINISTRATOR, None, "forbidden", "privileged administrator"),
        (_builtin(p.ADMINISTRATOR), p.PRIVILEGED_ADMINISTRATOR, None, "forbidden", "privileged"),
        (DESK, p.PASSWORD_AUDITOR, None, "permission_not_held", "read_audit"),
        (DESK, "Vaulters", frozenset({p.MANAGE_VAULT}), "permission_not_held", "manage_vault"),
    ],
)
def test_role_assignment_refusals_name_the_real_reason(actor, role, capabilities, code, says):
    caps = p.capabilities_of(role) if capabilities is None else capabilities
    refusal = p.role_assignment_refusal(actor, role, caps)
    assert refusal is not None
    assert refusal[0] == code and says in refusal[1]
    if code == "forbidden" and actor.role == p.PASSWORD_USER:
        assert "privileged" not in refusal[1]


def test_role_assignments_allowed():
    assert p.role_assignment_refusal(DESK, p.PASSWORD_USER, frozenset()) is None
    assert p.role_assignment_refusal(DESK, "Desk", frozenset({p.MANAGE_USERS})) is None
    admin = _builtin(p.ADMINISTRATOR)
    for role in (p.ADMINISTRATOR, p.PASSWORD_AUDITOR, p.PASSWORD_ADMINISTRATOR):
        assert p.role_assignment_refusal(admin, role, p.capabilities_of(role)) is None
    top = _builtin(p.PRIVILEGED_ADMINISTRATOR)
    assert p.role_assignment_refusal(top, p.PRIVILEGED_ADMINISTRATOR, frozenset()) is None


@pytest.mark.parametrize(
    "name",
    [
        "administrator",
        "Administrator",
        "ADM1NISTRATOR",
        "adm1nistrator",
        "admlnistrator",
        "privileged-administrator",
        "Privileged_Administrator",
        "password user",
        "Password_Auditors",
        "passw0rd_adm1n1strator",
        FULL_WIDTH,
        "admin\u200bistrator",  # a zero-width space
        "Admin",
        "administrator2",
        "privileged_admin",
        "PrivAdmin",
        "superadmin",
        "ops-admin",
        "SuperUser",
    ],
)
def test_names_that_read_as_builtin(name):
    assert p.imitates_builtin(name)


@pytest.mark.parametrize(
    "name", ["Desk", "Operators", "auditor", "password", "Helpdesk", "Night shift", "Vault keeper"]
)
def test_names_of_their_own(name):
    assert not p.imitates_builtin(name)
