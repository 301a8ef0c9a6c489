"""Words, not the API (issue 35): every refusal the server can give reaches a TUI user as
words. The test walks the server's source for its refusals (``coded(...)`` with their
stable codes, ``field_error``, the error classes, and field errors built as dicts), turns
each into the problem+json answer the TUI would get, and checks the text the TUI shows
(the notification's sentence, a form's line for a field it does not show) for JSON, a
header name, "null", an API path or a field path."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tui.client import problem_error
from tui.wording import field_label, field_refusal, readable

SERVER = Path(__file__).resolve().parents[2] / "server"
ERROR_CALLS = {
    "coded",
    "field_error",
    "Unauthenticated",
    "Forbidden",
    "NotFound",
    "Conflict",
    "ValidationFailed",
}
API_TEXT = {
    "JSON": re.compile(r'[{}]|":|\b(true|false)\b'),
    "a header name": re.compile(r"\b(Authorization|Bearer|Content-Type|X-[A-Z][\w-]+)"),
    '"null"': re.compile(r"\bnull\b"),
    "an API path": re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) /"),
    "a field path": re.compile(r"\b[a-z_]+\.(?!(toml|jsonl|json|csv|txt|key|crt)\b)[a-z_]+\b"),
}


def _text(node: ast.AST) -> str | None:
    """A string literal, or an f-string with each placeholder as 'X'."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    return None


def server_refusals() -> list[tuple[str, str, str]]:
    """(where, code or field, message) of every refusal written in the server's source."""
    found: list[tuple[str, str, str]] = []
    for path in sorted(SERVER.rglob("*.py")):
        where = str(path.relative_to(SERVER.parent))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name not in ERROR_CALLS:
                    continue
                texts = [t for t in map(_text, node.args) if t is not None]
                if name == "coded" and len(texts) >= 2:
                    found.append((where, texts[0], texts[1]))
                elif name == "field_error" and len(texts) >= 2:
                    found.append((where, f"field {texts[0]}", texts[1]))
                elif texts:
                    found.append((where, name, texts[0]))
            elif isinstance(node, ast.Dict):  # {"field": ..., "message": ...}
                keys = [_text(k) if k is not None else None for k in node.keys]
                if "message" in keys:
                    message = _text(node.values[keys.index("message")])
                    if message:
                        found.append((where, "field error", message))
    return found


REFUSALS = server_refusals()


def api_text(text: str) -> list[str]:
    """What in ``text`` is the API's rather than words."""
    return [what for what, pattern in API_TEXT.items() if pattern.search(text)]


def test_the_walk_finds_the_refusals():
    """The walk sees the server's refusals, the stable codes among them."""
    codes = {code for _where, code, _message in REFUSALS}
    assert len(REFUSALS) > 200
    assert {"dual_control_required", "validation_failed", "user_owns_resources"} & codes


@pytest.mark.parametrize(("where", "code", "message"), REFUSALS)
def test_every_refusal_reads_as_words(where, code, message):
    """The TUI's text for each refusal: the notification (``problem_error``'s detail) and,
    for a field error, the form's sentence (``field_refusal``)."""
    problem = {"code": code, "detail": message, "status": 422}
    if code.startswith("field"):
        problem["errors"] = [{"field": "fields.serial", "message": message}]
    error = problem_error(422, problem)
    shown = [error.detail]
    for item in error.body.get("errors") or ():
        shown.append(field_refusal(item["field"], item["message"]))
    for text in shown:
        assert not api_text(text), f"{where} ({code}): {text!r} shows {api_text(text)}"


def test_known_phrases():
    """The phrases users met (issue 35), as the TUI now says them."""
    assert readable("send 'Authorization: Bearer <token>' (log in first)").startswith(
        "the session has ended"
    )
    assert readable("must be between 30 and 36500, or null") == (
        "must be between 30 and 36500, or empty"
    )
    assert field_label("fields.serial") == "Serial" and field_label("approvers[0]") == "Approvers"
    assert readable("no resource db01.example.net") == "no resource db01.example.net"


def test_a_field_the_form_does_not_show_reads_as_a_sentence():
    assert field_refusal("username", "carol is already its own person") == (
        "carol is already its own person."
    )
    assert field_refusal("username", "the activator must be an administrator.") == (
        "The activator must be an administrator."
    )
    assert field_refusal("port", "must be a whole number") == "Port must be a whole number."
