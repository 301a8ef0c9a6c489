"""The OpenAPI 3.1 document, assembled from the route table and each handler's models.

Every operation states its path and query parameters (types, bounds), its JSON body, each
success answer's schema (204s without a body), the problem+json answers it may give with
their stable codes, and whether it needs the bearer token. Component schemas are the
pydantic models' own JSON schemas, so the document cannot drift from what is enforced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from pydantic.json_schema import models_json_schema

from server.store import paging
from server.web.api import Spec
from server.web.models.common import Problem
from server.web.models.users import USERNAME

REF = "#/components/schemas/{model}"

# Path parameters, by name: what a valid value looks like (anything else answers 404).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "org": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"},
    "display_name": {"type": "string", "pattern": "^[A-Za-z0-9]{1,64}$"},
    "id": {"type": "string", "format": "uuid"},
    "key_id": {"type": "string", "format": "uuid"},
    "share_id": {"type": "string", "format": "uuid"},
    "username": {"type": "string", "pattern": f"^{USERNAME}$"},
    "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^/\\x00-\\x1f]+$"},
}

# The problem answers every operation of a kind may give, with their codes.
COMMON_ERRORS = {
    400: "bad_request, invalid_json, duplicate_key, too_deep, number_too_large, "
    "invalid_string, repeated_parameter, invalid_characters (NUL in the path or query)",
    401: "unauthenticated",
    403: "forbidden, password_change_required, totp_setup_required",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type, unsupported_charset",
    422: "validation_failed (errors: [{field, message}], field a dotted path)",
    429: "rate_limited (Retry-After)",
    500: "internal_error (the server log has the reference), secret_integrity_failed",
    503: "read_only (with primary), unavailable",
}
_READS = ("GET", "HEAD")


def responses_of(method: str, path: str, handler: Any) -> dict[int, Any]:
    """Every status the operation may answer -> its answer model (None: no body; errors:
    the Problem model). The tests check each real answer against this."""
    spec: Spec = handler.spec
    out: dict[int, Any] = dict(spec.answers)
    for status in _errors_for(method, path, handler, spec):
        out.setdefault(status, Problem)
    return out


def _errors_for(method: str, path: str, handler: Any, spec: Spec) -> dict[int, str]:
    public = getattr(handler, "public", False)
    statuses = {400, 414, 500}
    if not public:
        statuses |= {401, 403, 429}
    if not public or "{" in path:  # an unknown org, user, group... named anywhere
        statuses.add(404)
    if spec.body is not None or spec.raw_body:
        statuses |= {413, 415, 422}
    if spec.query is not None or getattr(handler, "paged", False):
        statuses.add(422)
    if method not in _READS:
        statuses |= {409, 503}
    out = {status: COMMON_ERRORS[status] for status in statuses}
    for status, codes in spec.errors.items():
        out[status] = f"{out[status]}, {codes}" if status in out else codes
    return dict(sorted(out.items()))


def _query_parameters(spec: Spec, handler: Any, schemas: dict[str, Any]) -> list[dict]:
    params: list[dict] = []
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=REF)
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title" and (k, v) != ("default", None)}
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", []),
                    "schema": prop,
                }
            )
    if getattr(handler, "paged", False):
        params += [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": paging.MAX_LIMIT,
                    "default": paging.DEFAULT_LIMIT,
                },
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": 2000, "pattern": "^[A-Za-z0-9_-]*$"},
                "description": "next_cursor of the page before (opaque)",
            },
        ]
    return params


def _content(model: Any, names: dict[Any, str], media: str = "application/json") -> dict:
    return {media: {"schema": {"$ref": REF.format(model=names[model])}}}


def build(routes: Iterable[tuple[str, str, Callable]], prefix: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes`` ((method, path, handler); paths under
    ``prefix`` unless they start with ``/{``, like the org login address)."""
    routes = list(routes)
    models: set[Any] = {Problem}
    for _, _, handler in routes:
        spec: Spec = handler.spec
        models.update(m for m in (spec.body, spec.query) if m is not None)
        models.update(m for m in spec.answers.values() if m is not None)
    ordered = sorted(models, key=lambda m: getattr(m, "__name__", str(m)))
    keys, defs = models_json_schema([(m, "validation") for m in ordered], ref_template=REF)
    schemas = defs.get("$defs", {})
    names = {m: keys[(m, "validation")]["$ref"].rsplit("/", 1)[-1] for m in ordered}

    paths: dict[str, dict] = {}
    for method, path, handler in routes:
        spec = handler.spec
        full = path if path.startswith("/{") else prefix + path
        doc = (handler.__doc__ or "").strip()
        op: dict[str, Any] = {
            "operationId": f"{handler.__module__.rsplit('.', 1)[-1]}_{handler.__name__}",
            "summary": doc.splitlines()[0] if doc else "",
            "parameters": [
                {
                    "name": part[1:-1].split(":")[0],
                    "in": "path",
                    "required": True,
                    "schema": PATH_PARAMETERS.get(part[1:-1].split(":")[0], {"type": "string"}),
                }
                for part in full.split("/")
                if part.startswith("{")
            ]
            + _query_parameters(spec, handler, schemas),
            "responses": {},
        }
        if spec.body is not None:
            required = any(f.is_required() for f in spec.body.model_fields.values())
            op["requestBody"] = {"required": required, "content": _content(spec.body, names)}
        elif spec.raw_body:
            op["requestBody"] = {
                "required": True,
                "content": {media: {"schema": {"type": "string"}} for media in spec.raw_body},
            }
        for status, model in sorted(spec.answers.items()):
            answer: dict[str, Any] = {"description": _status_text(status)}
            if model is not None:
                answer["content"] = _content(model, names)
            op["responses"][str(status)] = answer
        for status, codes in _errors_for(method, path, handler, spec).items():
            op["responses"][str(status)] = {
                "description": f"{_status_text(status)}: {codes}",
                "content": _content(Problem, names, "application/problem+json"),
            }
        if getattr(handler, "public", False):
            op["security"] = []
        paths.setdefault(full, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Strongroom REST API",
            "version": "1",
            "description": "Every error is application/problem+json with a stable `code`.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _status_text(status: int) -> str:
    return HTTPStatus(status).phrase
