"""Domain errors with stable machine codes; the error middleware turns them into problem+json."""

from __future__ import annotations

from typing import Any, TypeVar


class StrongroomError(Exception):
    """A failure the caller can understand: HTTP status, stable code, one human sentence."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(StrongroomError):
    """The request cannot be understood (bad JSON, wrong shape)."""


class ValidationFailed(StrongroomError):
    """One or more fields are invalid; ``errors`` lists them."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"

    def __init__(self, errors: list[dict[str, str]], detail: str | None = None) -> None:
        if detail is None:
            first = errors[0] if errors else {"field": "", "message": "invalid input"}
            detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        super().__init__(detail, errors=errors)


class Unauthenticated(StrongroomError):
    """No valid credentials."""

    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(StrongroomError):
    """Authenticated but not allowed."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(StrongroomError):
    """No such thing, or the caller may not know it exists."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(StrongroomError):
    """The change clashes with existing state."""

    status = 409
    code = "conflict"
    title = "Conflict"


class ServiceUnavailable(StrongroomError):
    """The server cannot do this right now (database down, audit not writable)."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"


E = TypeVar("E", bound=StrongroomError)


def coded(base: type[E], code: str, detail: str, **extra: Any) -> E:
    """Make an error of ``base``'s status with a more specific stable ``code``.

    Returns: an instance of ``base`` (so callers keep its type), not yet raised.
    """
    err = base(detail, **extra)
    err.code = code
    return err


def field_error(field: str, message: str, code: str = "validation_failed") -> ValidationFailed:
    """A 422 about one field, optionally with a more specific stable code."""
    err = ValidationFailed([{"field": field, "message": message}], message)
    err.code = code
    return err
