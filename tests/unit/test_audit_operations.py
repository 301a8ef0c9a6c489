"""The catalogue of audited operations (server/core/operations.py) is the only source of
operation names: every name the server's code or SQL records is in it, and an event of any
other operation cannot be made."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from server.core import operations
from server.services.audit_settings import OPERATION_NAME, SWITCHABLE
from server.store import audit

SERVER = Path(audit.__file__).resolve().parents[1]  # server/
SQL = SERVER.parent / "sql"


def _forwarders() -> dict[str, int]:
    """Where each audit call takes its operation: every function of server/ with a
    parameter named ``operation`` (the writer's record and event, the services' helpers
    that forward one), at that parameter's place, and an Event (second, after who)."""
    found: dict[str, int] = {"Event": 1}
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            if "operation" not in names:
                continue
            at = names.index("operation") - (names[:1] in (["self"], ["cls"]))
            assert found.setdefault(node.name, at) == at, (path, node.name)
    return found


OPERATION_AT = _forwarders()


def operation_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of each constant operation name passed to an audit call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        at = OPERATION_AT.get(called)
        if at is None:
            continue
        if len(node.args) > at:
            arg = node.args[at]
        else:
            arg = next((k.value for k in node.keywords if k.arg == "operation"), None)
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.append((node.lineno, arg.value))
    return found


def _server_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for path in sorted(SERVER.rglob("*.py")):
        for line, name in operation_names(path.read_text()):
            names.setdefault(name, []).append(f"{path.relative_to(SERVER.parent)}:{line}")
    return names


def _sql_names() -> set[str]:
    """Operation literals the SQL functions record: an operation followed by its target
    type (``'password_revealed'::text, 'account'``, ``'org_created', 'org'``)."""
    pattern = re.compile(r"'([a-z]+_[a-z0-9_]+)'(?:::text)?,\s*'(?:account|org|user|resource)'")
    names: set[str] = set()
    for path in SQL.rglob("*.sql"):
        names |= set(pattern.findall(path.read_text()))
    return names


def test_the_catalogue_is_well_formed():
    """Names are operation names, categories known, every operation described."""
    assert len(operations.OPERATIONS) >= 60
    for name, op in operations.OPERATIONS.items():
        assert op.name == name and OPERATION_NAME.fullmatch(name), name
        assert op.category in operations.CATEGORIES, name
        assert op.description.strip(), name


def test_routine_operations_are_the_ones_that_were_switchable():
    """Behaviour unchanged: exactly these may be switched off."""
    assert SWITCHABLE == {
        "resource_updated",
        "resource_type_created",
        "resource_type_deleted",
        "session_refreshed",
    }


def test_the_scan_finds_the_recorded_operations():
    """The scan sees the call shapes it is meant to check (so the next test can fail)."""
    names = _server_names()
    assert sum(len(places) for places in names.values()) >= 55
    assert {"login", "logout", "password_reveal_failed", "org_imported", "user_created"} <= set(
        names
    )
    assert {"role_created", "password_access_rejected", "org_access_approved"} <= set(names)
    assert {"totp_disable_failed", "org_access_cancelled", "backup_created"} <= set(names)
    assert {"record": 0, "event": 0, "Event": 1, "wrong_second_factor": 2}.items() <= (
        OPERATION_AT.items()
    )
    assert {"password_revealed", "org_created"} <= _sql_names()


def test_every_recorded_operation_is_in_the_catalogue():
    """Each constant operation name in server/ and sql/ is one of the catalogue's."""
    unknown = {
        name: places for name, places in _server_names().items() if operations.get(name) is None
    }
    unknown.update({name: ["sql/"] for name in _sql_names() if operations.get(name) is None})
    assert unknown == {}


def test_the_scan_refuses_a_name_outside_the_catalogue():
    """A call site naming an unknown operation is found by the scan."""
    source = (
        "async def f(trail, env, org, actor, row):\n"
        "    await trail.record('resource_exploded', target_type='resource')\n"
        "    await _audit(tx, env, org, actor, 'role_vanished', 'role', 'x')\n"
    )
    names = [name for _line, name in operation_names(source)]
    assert names == ["resource_exploded", "role_vanished"]
    assert all(operations.get(name) is None for name in names)


def test_an_event_outside_the_catalogue_cannot_be_made():
    """The writer refuses it before anything is written."""
    who = audit.Who("admin", "MSPOrg")
    with pytest.raises(audit.AuditError):
        audit.Event(who, "resource_exploded")
    assert audit.Event(who, "login").operation == "login"
