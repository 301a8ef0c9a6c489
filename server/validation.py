"""Request body validation: declared fields, types, lengths, patterns; unknown fields refused."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from server.errors import NotFound, ValidationFailed
from server.names import identifier_problem

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Field:
    """One accepted body field."""

    kind: type | tuple[type, ...] = str
    required: bool = False
    max_len: int | None = None
    min_len: int | None = None
    pattern: str | None = None
    pattern_message: str = "has an invalid format"
    choices: tuple[str, ...] | None = None
    item_kind: type | None = None
    nullable: bool = False
    multiline: bool = False
    strip: bool = True  # False for passwords: every character counts
    allow_control: bool = False  # free text stored verbatim (the TUI renders it inert)
    identifier: bool = False  # a name people tell apart by eye (names.identifier_problem)


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        bool: "true or false",
        int: "an integer",
        list: "a list",
        dict: "an object",
    }
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


def validate(data: dict[str, Any], spec: dict[str, Field]) -> dict[str, Any]:
    """Check ``data`` against ``spec``; return only the fields present, or raise."""
    errors: list[dict[str, str]] = []
    for name in data:
        if name not in spec:
            errors.append({"field": name, "message": "is not a known field"})
    out: dict[str, Any] = {}
    for name, field in spec.items():
        if name not in data:
            if field.required:
                errors.append({"field": name, "message": "is required"})
            continue
        value = data[name]
        message = _check(value, field)
        if message:
            errors.append({"field": name, "message": message})
        else:
            out[name] = value.strip() if isinstance(value, str) and field.strip else value
    if errors:
        raise ValidationFailed(errors)
    return out


def _check(value: Any, field: Field) -> str | None:
    if value is None:
        return None if field.nullable else "must not be null"
    kinds = field.kind if isinstance(field.kind, tuple) else (field.kind,)
    if isinstance(value, bool) and bool not in kinds:
        return f"must be {_type_name(field.kind)}"
    if not isinstance(value, kinds):
        return f"must be {_type_name(field.kind)}"
    if isinstance(value, str):
        text = value.strip() if field.strip else value
        if field.required and not text:
            return "must not be empty"
        if field.min_len is not None and len(text) < field.min_len:
            return f"must be at least {field.min_len} characters"
        if field.max_len is not None and len(text) > field.max_len:
            return f"must be at most {field.max_len} characters"
        if "\x00" in text:
            return "must not contain NUL characters"
        if not (field.multiline or field.allow_control) and _CONTROL.search(text):
            return "must not contain control characters"
        if field.identifier and (problem := identifier_problem(text)):
            return problem
        if field.pattern and text and not re.fullmatch(field.pattern, text):
            return field.pattern_message
        if field.choices and text not in field.choices:
            return "must be one of " + ", ".join(field.choices)
    if isinstance(value, list):
        if field.max_len is not None and len(value) > field.max_len:
            return f"must have at most {field.max_len} items"
        if field.item_kind and not all(isinstance(v, field.item_kind) for v in value):
            return f"must be a list of {_type_name(field.item_kind)}s"
    return None


def parse_id(value: str, what: str) -> uuid.UUID:
    """An id from a URL; a malformed one is simply not found (404), like an unknown one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
