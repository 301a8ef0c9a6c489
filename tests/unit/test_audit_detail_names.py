"""Every detail name the server audits passes the audit's secret-name guard, so an audited
operation can never fail on its own detail (the kind of the `password_reset` 500)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from server.store import audit
from server.web.models.orgs import OrgUpdate
from server.web.models.users import GroupUpdate, UserUpdate

SERVER = Path(audit.__file__).resolve().parents[1]  # server/
# audit.Writer's record/record_many/event, an Event, and a services helper.
AUDIT_CALLS = {"record", "record_many", "event", "Event", "_audit_request"}


def _detail_names() -> set[str]:
    """Constant keys of details dicts passed to the audit, built by ``*_details``
    helpers, and set by ``details[...] =``."""
    names: set[str] = set()
    for path in SERVER.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called not in AUDIT_CALLS:
                    continue
                for kw in node.keywords:
                    if kw.arg == "details" and isinstance(kw.value, ast.Dict):
                        names |= {k.value for k in kw.value.keys if isinstance(k, ast.Constant)}
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.endswith(
                "_details"
            ):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Dict):
                        names |= {k.value for k in inner.keys if isinstance(k, ast.Constant)}
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "details"
                        and isinstance(target.slice, ast.Constant)
                    ):
                        names.add(target.slice.value)
    return names


def test_the_scan_finds_the_audited_names():
    """The scan sees the names it is meant to check (so the next test can fail)."""
    found = _detail_names()
    assert {"credentials_reset", "account_manager", "request_id", "permission"} <= found


@pytest.mark.parametrize("name", sorted(_detail_names()))
def test_audited_detail_name_passes_the_guard(name):
    """Each constant detail name is accepted by the guard."""
    audit.check_details({name: 1})


@pytest.mark.parametrize(
    "name",
    sorted(
        set(OrgUpdate.model_fields)
        | (set(UserUpdate.model_fields) - {"password"})
        | set(GroupUpdate.model_fields)
    ),
)
def test_edited_field_names_pass_the_guard(name):
    """Fields that updates copy into their audit details pass the guard too."""
    audit.check_details({name: 1})


def test_the_guard_still_refuses_secret_names():
    """The guard itself: a name that may hold a secret is refused."""
    for name in ("password", "new_password", "totp_secret", "api_token"):
        with pytest.raises(audit.AuditError):
            audit.check_details({name: "x"})
