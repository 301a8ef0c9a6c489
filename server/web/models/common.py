"""What every domain's models share: the base classes, the text rule, errors, pages, problems.

Request bodies are ``Body`` models (unknown fields refused, JSON types taken as they are,
no coercion); query strings are ``Query`` models (values arrive as text, so numbers are
converted). Answers are ``Answer`` models, used to document the API and, in the tests, to
check every real answer; services keep returning plain dicts.

``Text(...)`` is the one rule for strings: it strips (unless told not to), bounds the
length, refuses control characters (unless the field is free text), refuses invisible and
direction-changing characters in identifiers (``server.core.names.identifier_problem``), checks a
pattern and says so in words. Its JSON schema states the same rule as a pattern, so a
client (or the fuzzer) that follows the schema is never refused.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GetJsonSchemaHandler, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from server.core.errors import ValidationFailed
from server.core.names import identifier_problem

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _char_class(chars: Iterable[int]) -> str:
    """A regex character-class body (no brackets) for the given code points, as ranges."""
    points = sorted(set(chars))
    parts: list[str] = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        lo, hi = points[i], points[j]
        parts.append(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}")
        i = j + 1
    return "".join(parts)


def _esc(point: int) -> str:
    return (
        f"\\x{point:02x}"
        if point < 0x100
        else f"\\u{point:04x}"
        if point < 0x10000
        else (f"\\U{point:08x}")
    )


# What str.strip() removes, what identifiers refuse, what short text refuses: as classes.
_SPACE = _char_class(p for p in range(sys.maxunicode + 1) if chr(p).isspace())
_INVISIBLE = _char_class(
    p for p in range(sys.maxunicode + 1) if unicodedata.category(chr(p)) in ("Cc", "Cf", "Zl", "Zp")
)
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"


class Text:
    """``Annotated[str, Text(...)]``: the string rule of one field (see the module docstring).

    Args:
        max_len: the most characters allowed (counted before stripping).
        non_empty: refuse a value that is empty once stripped (required names).
        strip: strip surrounding white space (False for passwords: every character counts).
        free: free text (names, descriptions) stored verbatim; control characters allowed
            (the TUI renders them inert); NUL never.
        multiline: notes, stored as typed: control characters allowed like ``free``.
        identifier: a name people tell apart by eye: no control, invisible or bidi
            characters (``server.core.names.identifier_problem``).
        pattern: a regex the stripped value must match in full; ``pattern_message`` says why.
    """

    __slots__ = (
        "free",
        "identifier",
        "max_len",
        "multiline",
        "non_empty",
        "pattern",
        "pattern_message",
        "strip",
    )

    def __init__(
        self,
        max_len: int | None = None,
        *,
        non_empty: bool = False,
        strip: bool = True,
        free: bool = False,
        multiline: bool = False,
        identifier: bool = False,
        pattern: str | None = None,
        pattern_message: str = "has an invalid format",
    ) -> None:
        self.max_len = max_len
        self.non_empty = non_empty
        self.strip = strip
        self.free = free
        self.multiline = multiline
        self.identifier = identifier
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_message = pattern_message

    def check(self, value: str) -> str:
        """The value to keep (stripped unless ``strip`` is off), or a PydanticCustomError."""
        if self.max_len is not None and len(value) > self.max_len:
            raise PydanticCustomError("text", f"must be at most {self.max_len} characters")
        if "\x00" in value:
            raise PydanticCustomError("text", "must not contain NUL characters")
        text = value.strip() if self.strip else value
        if self.non_empty and not text:
            raise PydanticCustomError("text", "must not be empty")
        if not (self.free or self.multiline) and _CONTROL.search(text):
            raise PydanticCustomError("text", "must not contain control characters")
        if self.identifier and (problem := identifier_problem(text)):
            raise PydanticCustomError("text", problem)
        if self.pattern is not None and text and not self.pattern.fullmatch(text):
            raise PydanticCustomError("text", self.pattern_message)
        return text

    def schema_pattern(self) -> str:
        """The same rule as one JSON-schema pattern (Python ``re`` syntax, anchored)."""
        refused = "\\x00" if (self.free or self.multiline) else _CONTROLS
        if self.identifier:
            refused += _INVISIBLE
        char = f"[^{refused}]"
        space = f"[{_SPACE}]*" if self.strip else ""
        if self.pattern is not None:
            core = f"(?:{self.pattern.pattern})"
            if not self.non_empty:
                core += "?"
            return f"^{space}{core}{space}$" if self.strip else f"^{core}$"
        if self.non_empty:
            solid = f"[^{refused}{_SPACE if self.strip else ''}]"
            return f"^{char}*{solid}{char}*$"
        return f"^{char}*$"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        if self.max_len is not None:
            out["maxLength"] = self.max_len
        if self.non_empty:
            out["minLength"] = 1
        out["pattern"] = self.schema_pattern()
        return out


def text(max_len: int | None = None, **rule: Any) -> Any:
    """``Annotated[str, Text(max_len, **rule)]``, the usual way to declare a string field."""
    return Annotated[str, Text(max_len, **rule)]


Name64 = text(64)
Password = text(1024, strip=False)
NewPassword = text(1024, strip=False, non_empty=True)
Otp = text(24)  # a 6-digit TOTP code or a recovery code (xxxx-xxxx-xxxx-xxxx)
Reason = text(2000, free=True)

# JSON numbers the API takes: the same bound the strict JSON reader keeps at the edge.
SAFE_INT = 2**53


def _integral(value: Any) -> Any:
    # JSON Schema's "integer" includes 5.0; strict mode would refuse it as a float.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def integer(low: int = -SAFE_INT, high: int = SAFE_INT) -> Any:
    """A JSON integer between ``low`` and ``high`` (5.0 counts; true does not)."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_integral)]


def _json_schema(depth: int) -> dict[str, Any]:
    """JSON as the strict reader takes it, ``depth`` containers deep: no NUL in strings or
    keys, integers within ±2**53."""
    no_nul = {"type": "string", "pattern": "^[^\\x00]*$"}
    options: list[dict[str, Any]] = [
        no_nul,
        {"type": "integer", "minimum": -SAFE_INT, "maximum": SAFE_INT},
        {"type": "number", "minimum": -1e300, "maximum": 1e300},
        {"type": "boolean"},
        {"type": "null"},
    ]
    if depth > 0:
        inner = _json_schema(depth - 1)
        options.append({"type": "array", "items": inner})
        options.append({"type": "object", "propertyNames": no_nul, "additionalProperties": inner})
    return {"anyOf": options}


_Scalar = Annotated[str, Text(None, free=True)] | integer() | float | bool | None
_Json2 = _Scalar | list[_Scalar] | dict[str, _Scalar]
_Json1 = _Scalar | list[_Json2] | dict[str, _Json2]

# A free-form JSON object (settings maps, spooled events): three levels, as documented.
JsonObject = Annotated[
    dict[str, _Json1],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"type": "string", "pattern": "^[^\\x00]*$"},
            "additionalProperties": _json_schema(2),
        }
    ),
]


class Body(BaseModel):
    """A request body: unknown fields refused, JSON types as they are (no coercion)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def given(self) -> dict[str, Any]:
        """The fields the client sent (PATCH semantics: absent means unchanged)."""
        return self.model_dump(exclude_unset=True)


class Patch(Body):
    """A PATCH body: a field left out is unchanged, so the schema shows no
    defaults."""

    model_config = ConfigDict(json_schema_extra=lambda schema: _drop_defaults(schema))


def _drop_defaults(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class Query(BaseModel):
    """A query string: values are text, so numbers convert; unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def given(self) -> dict[str, Any]:
        """The parameters the client sent."""
        return self.model_dump(exclude_unset=True)


class Answer(BaseModel):
    """An answer body: exactly these fields (documentation, and the tests' check)."""

    model_config = ConfigDict(extra="forbid", strict=False)


T = TypeVar("T")


class Page(Answer, Generic[T]):
    """One page of a list: ``{"items": [...], "next_cursor": null | "..."}``."""

    items: list[T]
    next_cursor: str | None


class FieldError(Answer):
    """One invalid field: its dotted path and what is wrong with it."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem+json answer with a stable machine ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class OpenApiDocument(Answer):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "none_required": "must be null",
}


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "literal_error":
        return "must be one of " + ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} items"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as the contract's ``[{"field", "message"}]`` (dotted paths).

    A union's alternatives each report the same field; only the first report of a field
    is kept, so the client reads one sentence per field.
    """
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False, include_input=False):
        parts = [str(p) for p in error["loc"] if not _is_union_tag(p)]
        field = ".".join(parts)
        if field in seen:
            continue
        seen.add(field)
        out.append({"field": field, "message": _message(error)})
    return out


def _is_union_tag(part: Any) -> bool:
    # pydantic names a union member in the location ("str", "int", "function-after[...]")
    return isinstance(part, str) and (
        part in ("str", "int", "float", "bool", "none")
        or part.startswith(("function-", "constrained-", "list[", "dict["))
    )


M = TypeVar("M", bound=BaseModel)


def validate_body(model: type[M], data: Any) -> M:
    """``data`` (a parsed JSON object) as ``model``, or ValidationFailed (422)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


def validate_query(model: type[M], data: dict[str, str]) -> M:
    """A query string as ``model``, or ValidationFailed (422)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


__all__ = [
    "SAFE_INT",
    "Answer",
    "Body",
    "Field",
    "FieldError",
    "Page",
    "Problem",
    "Query",
    "Text",
    "field_errors",
    "text",
    "validate_body",
    "validate_query",
]
