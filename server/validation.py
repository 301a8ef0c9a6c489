"""A thin layer over the pydantic models for code that still declares fields as a dict of
``Field`` (the enrollment request): the dict becomes a ``Body`` model once, and
``validate`` answers the fields given, like ``Body.given()``. Also ``parse_id``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import create_model

from server.errors import NotFound
from server.models.common import Body, Text, integer, validate_body


@dataclass(frozen=True)
class Field:
    """One accepted body field (see ``server.models.common.Text`` for the string rule)."""

    kind: type = str
    required: bool = False
    max_len: int | None = None
    nullable: bool = False
    strip: bool = True
    allow_control: bool = False
    identifier: bool = False

    def annotation(self) -> Any:
        """The field's type for a pydantic model."""
        if self.kind is str:
            kind: Any = Annotated[
                str,
                Text(
                    self.max_len,
                    non_empty=self.required,
                    strip=self.strip,
                    free=self.allow_control,
                    identifier=self.identifier,
                ),
            ]
        elif self.kind is int:
            kind = integer()
        else:
            kind = self.kind
        return kind | None if self.nullable else kind


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


def parse_id(value: str, what: str) -> uuid.UUID:
    """An id from a URL; a malformed one is simply not found (404), like an unknown one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no such {what}") from None
