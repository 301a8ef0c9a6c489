"""A thin layer over the pydantic models for code that still declares fields as a dict of
``Field`` (the enrollment request): the dict becomes a ``Body`` model once, and
``validate`` answers the fields given, like ``Body.given()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field as PydanticField
from pydantic import create_model

from server.web.models.common import Body, JsonObject, Text, integer, text, validate_body


@dataclass(frozen=True)
class Field:
    """One accepted body field, as services declared them before the models; it becomes a
    pydantic field (``annotation``) with the same rule (``server.web.models.common.Text``)."""

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

    def annotation(self) -> Any:
        """The field's type for a pydantic model."""
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        options = [self._one(kind) for kind in kinds]
        out: Any = options[0]
        for option in options[1:]:
            out = out | option
        return out | None if self.nullable else out

    def _one(self, kind: type) -> Any:
        if kind is str:
            if self.choices:
                return Literal[self.choices]  # type: ignore[valid-type]
            return Annotated[
                str,
                Text(
                    self.max_len,
                    non_empty=self.required or bool(self.min_len),
                    strip=self.strip,
                    free=self.allow_control,
                    multiline=self.multiline,
                    identifier=self.identifier,
                    pattern=self.pattern,
                    pattern_message=self.pattern_message,
                ),
            ]
        if kind is int:
            return integer()
        if kind is list:
            item = text(None) if self.item_kind in (None, str) else self.item_kind
            return Annotated[list[item], PydanticField(max_length=self.max_len)]
        if kind is dict:
            return JsonObject
        return kind


_MODELS: dict[int, type[Body]] = {}


def model_for(spec: dict[str, Field], name: str = "Fields") -> type[Body]:
    """The ``Body`` model that ``spec`` describes (made once per spec)."""
    model = _MODELS.get(id(spec))
    if model is None:
        fields: dict[str, Any] = {
            key: (f.annotation(), ... if f.required else None) for key, f in spec.items()
        }
        model = create_model(name, __base__=Body, **fields)
        _MODELS[id(spec)] = model
    return model


def validate(data: dict[str, Any], spec: dict[str, Field]) -> dict[str, Any]:
    """Check ``data`` against ``spec``; return only the fields present, or raise
    ValidationFailed (422)."""
    return validate_body(model_for(spec), data).given()
