"""What a handler takes and answers, declared once: ``@operation(body=..., query=...,
answers=...)`` validates the request into the models before the handler runs and leaves
the declaration on the handler, where ``server.web.openapi`` reads it to document the route.

A handler stays thin: it receives the validated models as ``body=`` and ``query=``
keyword arguments, passes plain values (``body.given()``) to one service and answers.
For an ``/orgs/{org}`` route the org is resolved before the handler runs
(``server.web.org_scope``); the handler passes ``org_of(request)`` to its service.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from server.core.errors import StrongroomError
from server.web import org_scope
from server.web.keys import REFUSED_BY
from server.web.models.common import validate_body, validate_query
from server.web.problem import read_json


@dataclass(frozen=True)
class Spec:
    """One operation's contract.

    Attributes:
        body: the JSON body model, or None when the operation takes no body.
        query: the query-string model, or None.
        answers: success status -> answer model (None: no body, e.g. 204).
        errors: status -> the stable codes this operation answers beyond the usual ones.
        raw_body: content types of a raw (non-JSON) body, e.g. the org import file.
    """

    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    answers: Mapping[int, type[BaseModel] | Any | None] = field(default_factory=dict)
    errors: Mapping[int, str] = field(default_factory=dict)
    raw_body: tuple[str, ...] = ()


Handler = Callable[..., Awaitable[web.StreamResponse]]


def operation(
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    answers: Mapping[int, Any],
    errors: Mapping[int, str] | None = None,
    raw_body: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Declare a handler's request and answer models; validate the request into them.

    Args:
        body: model of the JSON body; the handler receives ``body=`` (an empty body is {}).
        query: model of the query string; the handler receives ``query=``.
        answers: success status -> answer model or None (no body).
        errors: extra status -> codes to document (the usual ones are added by OpenAPI).
        raw_body: content types of a raw body the handler reads itself.

    Returns:
        The wrapped handler, carrying ``spec``. Invalid input raises ValidationFailed (422)
        or the strict JSON reader's 4xx before the handler runs.
    """
    spec = Spec(body, query, dict(answers), dict(errors or {}), raw_body)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request, *args: Any) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            try:
                if query is not None:
                    kwargs["query"] = validate_query(query, dict(request.query))
                if body is not None:
                    kwargs["body"] = validate_body(body, await read_json(request))
            except StrongroomError:
                request[REFUSED_BY] = "request"
                raise
            await org_scope.resolve(request)  # the org of /orgs/{org}, once
            return await handler(request, *args, **kwargs)

        run.spec = spec  # type: ignore[attr-defined]
        return run

    return wrap
